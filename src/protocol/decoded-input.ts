/**
 * What a codec (mlflow.ts, oip.ts) makes of a request body before it meets a model: the shape the
 * scoring server's input plan and the capture side's extraction both read.
 */
/** A decoded request before it meets the model. */
export type DecodedInput =
  /** dataframe_split, dataframe_records and CSV: rows of cells, named or positional columns. */
  | { kind: 'frame'; columns: string[] | null; rows: unknown[][] }
  /** dataframe_records: one object per row (kept as sent; the plan reads the columns it needs). */
  | { kind: 'records'; records: unknown[] }
  /** instances / inputs: whatever JSON value was sent. */
  | { kind: 'raw'; value: unknown };
