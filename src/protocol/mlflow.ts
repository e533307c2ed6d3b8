/**
 * MLflow's scoring protocol (mlflow/pyfunc/scoring_server): POST /invocations with
 *  - application/json: a dict with exactly one of dataframe_split, dataframe_records, instances,
 *    inputs, and optionally params;
 *  - text/csv: a header row and data rows (pandas.read_csv).
 * Answers {"predictions": ...}: a list of records for data frames, a dict of arrays otherwise.
 * Pure: bytes in, DecodedInput out; tensors in, JSON text out.
 */
import { DriftwatchError } from '../errors.js';
import type { DecodedInput } from './decoded-input.js';
import type { HostTensor } from './tensor.js';
import { elementWriter, formatFloat32, tensorToJson, writeNested } from './json-out.js';

export const INPUT_KEYS = ['dataframe_split', 'dataframe_records', 'instances', 'inputs'] as const;

function badRequest(message: string): never {
  throw new DriftwatchError('DW_ERR_SERVE_BAD_REQUEST', message);
}

export function mediaTypeOf(contentType: string | undefined): string {
  // The common exact value needs no split/trim/lowercase (this runs per request and per capture).
  if (contentType === 'application/json') return contentType;
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

export interface MlflowRequest {
  input: DecodedInput;
  format: (typeof INPUT_KEYS)[number] | 'csv';
  params: Record<string, unknown> | null;
}

/** Pairwise for the few columns requests usually name (no Set per request); a Set beyond that. */
function hasDuplicates(names: readonly string[]): boolean {
  if (names.length > 16) return new Set(names).size !== names.length;
  for (let i = 1; i < names.length; i++) for (let j = 0; j < i; j++) if (names[i] === names[j]) return true;
  return false;
}

/** The body's top-level keys for a message: at most 20, each cut to 64 characters (a hostile body cannot make a huge error). */
function fieldList(obj: Record<string, unknown>): string {
  const shown: string[] = [];
  let total = 0;
  for (const k in obj) if (++total <= 20) shown.push(`'${k.length > 64 ? `${k.slice(0, 64)}...` : k}'`);
  if (total > 20) shown.push(`... ${total - 20} more`);
  return shown.join(', ');
}

export function decodeMlflowJson(text: string): MlflowRequest {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    badRequest(`Invalid input. Ensure that input is a valid JSON formatted string. Error: ${(e as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    badRequest(
      `Invalid input. The input must be a JSON dictionary with exactly one of the input fields {${INPUT_KEYS.map((k) => `'${k}'`).join(', ')}}; got a JSON ${Array.isArray(body) ? 'list' : body === null ? 'null' : typeof body}`,
    );
  }
  const obj = body as Record<string, unknown>;
  // One pass over the keys (this runs per request on the scoring server and per capture).
  let format: (typeof INPUT_KEYS)[number] | null = null;
  let inputs = 0;
  let unknown = 0;
  for (const k in obj) {
    if (k === 'dataframe_split' || k === 'dataframe_records' || k === 'instances' || k === 'inputs') {
      format = k;
      inputs++;
    } else if (k !== 'params') unknown++;
  }
  if (inputs !== 1 || unknown > 0 || format === null) {
    badRequest(
      `Invalid input. The input must be a JSON dictionary with exactly one of the input fields {${INPUT_KEYS.map((k) => `'${k}'`).join(', ')}}. ` +
        `Received dictionary with input fields: [${fieldList(obj)}].`,
    );
  }
  let params: Record<string, unknown> | null = null;
  if ('params' in obj && obj.params !== null) {
    if (typeof obj.params !== 'object' || Array.isArray(obj.params)) badRequest('"params" must be a JSON object');
    params = obj.params as Record<string, unknown>;
  }
  const value = obj[format];
  switch (format) {
    case 'dataframe_split': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        badRequest('"dataframe_split" must be an object with "columns" (optional), "data" and "index" (optional)');
      }
      const split = value as Record<string, unknown>;
      let extra: string[] | null = null;
      for (const k in split) if (k !== 'columns' && k !== 'data' && k !== 'index') (extra ??= []).push(k);
      if (extra !== null) badRequest(`"dataframe_split" has unknown fields ${extra.join(', ')}; expected columns, data, index`);
      const data = split.data;
      if (!Array.isArray(data)) badRequest('"dataframe_split.data" must be a list of rows');
      let columns: string[] | null = null;
      if (split.columns !== undefined && split.columns !== null) {
        if (!Array.isArray(split.columns) || !split.columns.every((c) => typeof c === 'string' || typeof c === 'number')) {
          badRequest('"dataframe_split.columns" must be a list of column names');
        }
        columns = split.columns.map(String);
        if (hasDuplicates(columns)) badRequest('"dataframe_split.columns" has duplicate names');
      }
      // pandas accepts a flat list as a single column; copy only in that (rare) case.
      const rows = data.every(Array.isArray)
        ? (data as unknown[][])
        : data.map((r, i) => {
            if (Array.isArray(r)) return r;
            if (r !== null && typeof r === 'object') badRequest(`"dataframe_split.data" row ${i} must be a list of values`);
            return [r];
          });
      return { input: { kind: 'frame', columns, rows }, format, params };
    }
    case 'dataframe_records': {
      if (!Array.isArray(value)) badRequest('"dataframe_records" must be a list of records (objects)');
      if (value.some((r) => typeof r !== 'object' || r === null || Array.isArray(r))) {
        badRequest('"dataframe_records" must be a list of JSON objects, one per row');
      }
      // Kept as records: the input plan reads only the columns the model needs, so a body of
      // records with thousands of distinct keys cannot blow up into a keys x rows table.
      return { input: { kind: 'records', records: value }, format, params };
    }
    case 'instances':
    case 'inputs':
      if (value === null || value === undefined) badRequest(`"${format}" must not be null`);
      return { input: { kind: 'raw', value }, format, params };
  }
}

/** The words pandas.read_csv reads as missing by default (its na_values list); data/table-file.ts reads files the same way. */
export const CSV_NA: ReadonlySet<string> = new Set([
  '',
  '#N/A',
  '#N/A N/A',
  '#NA',
  '-1.#IND',
  '-1.#QNAN',
  '-NaN',
  '-nan',
  '1.#IND',
  '1.#QNAN',
  '<NA>',
  'N/A',
  'NA',
  'NULL',
  'NaN',
  'None',
  'n/a',
  'nan',
  'null',
]);

/** RFC 4180 CSV with a header row; numbers stay strings and are cast by the schema (as pandas infers). */
export function decodeMlflowCsv(text: string): MlflowRequest {
  const records: string[][] = [];
  let field = '';
  let row: string[] = [];
  let quoted = false;
  let i = 0;
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  while (i < src.length) {
    const c = src[i]!;
    if (quoted) {
      if (c === '"') {
        if (src[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else field += c;
      i++;
      continue;
    }
    if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      row.push(field);
      field = '';
      if (!(row.length === 1 && row[0] === '')) records.push(row);
      row = [];
      if (c === '\r' && src[i + 1] === '\n') i++;
    } else field += c;
    i++;
  }
  if (quoted) badRequest('CSV input has an unterminated quoted field');
  if (field !== '' || row.length) {
    row.push(field);
    records.push(row);
  }
  if (records.length === 0) badRequest('CSV input is empty: expected a header row of column names');
  const [header, ...rows] = records as [string[], ...string[][]];
  const columns = header.map((h) => h.trim());
  if (new Set(columns).size !== columns.length) badRequest('CSV header has duplicate column names');
  rows.forEach((r, n) => {
    if (r.length !== columns.length) badRequest(`CSV line ${n + 2} has ${r.length} fields, the header has ${columns.length}`);
  });
  // Missing values as pandas.read_csv reads them by default (its na_values list).
  const cells = rows.map((r) => r.map((v) => (CSV_NA.has(v) ? null : v)));
  return { input: { kind: 'frame', columns, rows: cells }, format: 'csv', params: null };
}

/** {"predictions": ...} for a scored request. */
export function encodeMlflowPredictions(outputs: Record<string, HostTensor>, style: 'records' | 'dict', rows: number): string {
  const names = Object.keys(outputs);
  const tensors = names.map((n) => outputs[n]!);
  const perRow = style === 'records' && tensors.every((t) => t.dims.length >= 1 && t.dims[0] === rows);
  if (!perRow) {
    return '{"predictions":{' + names.map((n, k) => `${JSON.stringify(n)}:${tensorToJson(tensors[k]!)}`).join(',') + '}}';
  }
  // A list of records: one object per row; a per-row value of one element is a scalar (MLflow's
  // reshape(-1)), a wider one an array (where MLflow itself would fail to build the DataFrame).
  // Built by string concatenation with one specialised writer per output: this loop is most of
  // the cost of a 100-row answer.
  const writers = tensors.map((t, k) => rowWriter(JSON.stringify(names[k]) + ':', t));
  let out = '{"predictions":[';
  for (let i = 0; i < rows; i++) {
    out += i === 0 ? '{' : ',{';
    for (let k = 0; k < writers.length; k++) out += (k === 0 ? '' : ',') + writers[k]!(i);
    out += '}';
  }
  return out + ']}';
}

/** `"name":value` for row i of a tensor whose first dimension is the row. */
function rowWriter(key: string, t: HostTensor): (i: number) => string {
  const inner = t.dims.slice(1);
  const width = inner.reduce((a, b) => a * b, 1);
  if (t.type === 'float32' && inner.length <= 1) {
    const d = t.data as Float32Array;
    if (width === 1) return (i) => key + formatFloat32(d[i]!);
    return (i) => {
      let s = key + '[';
      const base = i * width;
      for (let j = 0; j < width; j++) s += (j === 0 ? '' : ',') + formatFloat32(d[base + j]!);
      return s + ']';
    };
  }
  if (width === 1) {
    const w = elementWriter(t);
    return (i) => key + w(i);
  }
  return (i) => {
    const parts: string[] = [key];
    writeNested(t, inner, i * width, parts);
    return parts.join('');
  };
}

export function mlflowErrorBody(e: DriftwatchError): string {
  return JSON.stringify({ error_code: e.mlflowCode, message: e.message });
}
