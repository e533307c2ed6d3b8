/**
 * What the lean codecs make of the request shapes prediction traffic usually has (issue 24): a
 * table of numbers, read straight from the body's bytes into one typed array, without a JS array
 * per row or a JS value per cell. The scoring server feeds onnxruntime from it and the capture
 * side profiles from it, so both read the same bytes the same way.
 *
 * A lean decoder returns null for anything it does not read exactly as the generic codec
 * (protocol/mlflow.ts) does: strings in a numeric column, nulls, NaN/Infinity tokens, nesting,
 * ragged rows, repeated or missing keys. The caller then takes the generic path, so behaviour and
 * error messages stay MLflow's. The differential tests hold each lean decoder to that.
 */
export interface NumericFrame {
  /** Column names in body order (dataframe_split "columns", record keys, the CSV header); null when the body named none (positional). */
  names: string[] | null;
  rows: number;
  /** Values per row (the number of columns). */
  width: number;
  /** rows x width values, row-major; each exactly the double JSON.parse / pandas would read. */
  values: Float64Array;
}
