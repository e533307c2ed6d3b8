/**
 * MLflow's scoring protocol, as `mlflow models serve` (MLflow 2.x, pyfunc/scoring_server) reads it:
 * POST /invocations with
 *  - application/json: a dict with exactly one of dataframe_split, dataframe_records, instances,
 *    inputs (any other top-level key is ignored, "params" is popped), or, when it has a
 *    "messages", "prompt" or "input" key, the unified LLM format (the whole dict is the input and
 *    the answer is not wrapped);
 *  - text/csv: a header row and data rows (pandas.read_csv);
 *  - a Content-Type whose only parameter may be charset=utf-8.
 * Answers {"predictions": ...}: a list of records for data frames, a dict of arrays otherwise.
 * Where a request fails is where MLflow fails it: the shape of the body here (BAD_REQUEST, as
 * proto_json_utils.dataframe_from_parsed_json and pandas' DataFrame constructor refuse it), the
 * signature in serve/input-plan.ts. docs/mlflow.md lists each case with its MLflow source.
 * Pure: bytes in, DecodedInput out; tensors in, JSON text out.
 */
import { DriftwatchError } from '../errors.js';
import type { DecodedInput } from './decoded-input.js';
import type { HostTensor } from './tensor.js';
import { elementWriter, formatFloat32, JsonBytes, tensorToJson, writeNested } from './json-out.js';

export const INPUT_KEYS = ['dataframe_split', 'dataframe_records', 'instances', 'inputs'] as const;
/** pyfunc/utils/serving_data_parser.SUPPORTED_LLM_FORMATS: any of these at the top level selects the unified LLM format. */
const LLM_KEYS = ['messages', 'prompt', 'input'] as const;

/**
 * Cells the codec may build that the body did not send (pandas' padding of short rows, a row
 * repeated over a long index, scalars repeated over many rows): a short body must not become a
 * table of any size (MLflow would build it, and run out of memory).
 */
const MAX_BUILT_CELLS = 16 * 1024 * 1024;

function badRequest(message: string): never {
  throw new DriftwatchError('DW_ERR_SERVE_BAD_REQUEST', message);
}

/** The media type the capture side reads a body as; no Content-Type is JSON, as the scoring server reads it. */
export function mediaTypeOf(contentType: string | undefined): string {
  // The common exact value needs no split/trim/lowercase (this runs per request and per capture).
  if (contentType === 'application/json') return contentType;
  const media = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return media === '' ? 'application/json' : media;
}

/** What scoring_server.invocations makes of a Content-Type: a format, or its 415 message. */
export type MlflowContentType = { ok: true; media: 'application/json' | 'text/csv' } | { ok: false; message: string };

const shown = (s: string) => (s.length > 200 ? `${s.slice(0, 200)}...` : s);

/**
 * MLflow splits the header on ";", refuses a charset other than utf-8 ("The scoring server only
 * supports UTF-8"), then any other parameter ("Unrecognized content type parameters"), then any
 * media type but text/csv and application/json, each with 415. Beyond MLflow (README, differences):
 * the media type and parameter names are compared case-insensitively and values may be quoted
 * (RFC 9110 §8.3.1; MLflow compares them as written), an empty parameter (a trailing ";") is no
 * parameter, and a request without Content-Type is read as JSON (MLflow fails on None.split: 500).
 */
export function checkMlflowContentType(header: string | undefined): MlflowContentType {
  if (header === 'application/json') return { ok: true, media: header };
  if (header === undefined || header.trim() === '') return { ok: true, media: 'application/json' };
  const parts = header.split(';');
  const unknown: string[] = [];
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i]!.trim();
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    let value = eq < 0 ? '' : part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (name === 'charset') {
      if (value.toLowerCase() !== 'utf-8') return { ok: false, message: 'The scoring server only supports UTF-8' };
    } else unknown.push(name);
  }
  if (unknown.length) {
    return { ok: false, message: shown(`Unrecognized content type parameters: ${unknown.join(', ')}. Only charset=utf-8 is accepted.`) };
  }
  const media = parts[0]!.trim().toLowerCase();
  if (media === 'application/json' || media === 'text/csv') return { ok: true, media };
  return {
    ok: false,
    message: shown(`This predictor only supports the following content types: Types: ['text/csv', 'application/json']. Got '${header}'.`),
  };
}

export interface MlflowRequest {
  input: DecodedInput;
  format: (typeof INPUT_KEYS)[number] | 'csv' | 'llm';
  params: Record<string, unknown> | null;
  /** The unified LLM format: MLflow answers the predictions themselves, not {"predictions": ...}. */
  unwrapped: boolean;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Python's name for a JSON value's type, as MLflow's messages say it. */
const pyType = (v: unknown) => (v === null ? "<class 'NoneType'>" : Array.isArray(v) ? 'list' : typeof v === 'object' ? 'dictionary' : `type ${typeof v}`);

/** The body's top-level keys for a message: at most 20, each cut to 64 characters (a hostile body cannot make a huge error). */
function fieldList(obj: Record<string, unknown>): string {
  const shown: string[] = [];
  let total = 0;
  for (const k in obj) if (++total <= 20) shown.push(`'${k.length > 64 ? `${k.slice(0, 64)}...` : k}'`);
  if (total > 20) shown.push(`... ${total - 20} more`);
  return shown.join(', ');
}

const REQUIRED_INPUT_FORMAT = `The input must be a JSON dictionary with exactly one of the input fields {${INPUT_KEYS.map((k) => `'${k}'`).join(', ')}}`;

/**
 * scoring_server._decode_json_input, _split_data_and_params and infer_and_parse_data: invalid JSON
 * and anything but a dict are BAD_REQUEST; the input keys are kept, "params" is popped (and, as
 * the ONNX flavor has no params schema, ignored whatever it holds), every other key is ignored;
 * not exactly one input key is BAD_REQUEST.
 */
export function decodeMlflowJson(text: string): MlflowRequest {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    // Python's json.loads also reads the bare tokens NaN, Infinity and -Infinity; only a body
    // that JSON.parse refused pays for the second look.
    const python = pythonJsonTokens(text);
    try {
      if (python === null) throw e;
      body = JSON.parse(python);
    } catch {
      badRequest(`Invalid input. Ensure that input is a valid JSON formatted string. Error: ${(e as Error).message}`);
    }
  }
  if (!isPlainObject(body)) {
    badRequest(`Invalid input. ${REQUIRED_INPUT_FORMAT}. ${Array.isArray(body) ? 'Received a list' : `Received unexpected input type '${pyType(body)}'`}.`);
  }
  const obj = body;
  // One pass over the keys (this runs per request on the scoring server and per capture).
  let format: (typeof INPUT_KEYS)[number] | null = null;
  let inputs = 0;
  let llm = false;
  for (const k in obj) {
    if (k === 'dataframe_split' || k === 'dataframe_records' || k === 'instances' || k === 'inputs') {
      format = k;
      inputs++;
    } else if (k === LLM_KEYS[0] || k === LLM_KEYS[1] || k === LLM_KEYS[2]) llm = true;
  }
  if (llm) {
    // _parse_json_data: the unified LLM format wins over the input keys; with no params schema
    // every key, "params" included, is data, and the dict goes to the model as it is.
    return { input: { kind: 'raw', value: obj }, format: 'llm', params: null, unwrapped: true };
  }
  if (inputs !== 1 || format === null) {
    badRequest(`Invalid input. ${REQUIRED_INPUT_FORMAT}. Received dictionary with input fields: [${fieldList(obj)}].`);
  }
  const params = isPlainObject(obj.params) ? obj.params : null;
  const value = obj[format];
  switch (format) {
    case 'dataframe_split':
      return { input: decodeSplit(value), format, params, unwrapped: false };
    case 'dataframe_records':
      return { input: decodeRecords(value), format, params, unwrapped: false };
    case 'instances':
    case 'inputs':
      // parse_tf_serving_input takes any JSON value here (null included); the signature decides.
      return { input: { kind: 'raw', value }, format, params, unwrapped: false };
  }
}

/**
 * The text with Python's non-standard JSON numbers made standard, or null when it has none: NaN
 * becomes null (what pandas holds for a missing number), Infinity and -Infinity become 1e999 and
 * -1e999 (which JSON.parse reads as the infinities, so the signature check sees them as it sees
 * any out-of-range number). Tokens inside strings are left alone.
 */
function pythonJsonTokens(text: string): string | null {
  let out = '';
  let last = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x4e && text.startsWith('NaN', i)) {
      out += text.slice(last, i) + 'null';
      last = i += 3;
      i--;
    } else if (c === 0x49 && text.startsWith('Infinity', i)) {
      out += text.slice(last, i) + '1e999';
      last = i += 8;
      i--;
    }
  }
  return last === 0 ? null : out + text.slice(last);
}

/** Column names as pandas takes them (numbers and null are names too); anything else is not an index. */
function columnNames(columns: unknown): string[] | null {
  if (columns === undefined || columns === null) return null;
  if (!Array.isArray(columns) || !columns.every((c) => c === null || typeof c === 'string' || typeof c === 'number' || typeof c === 'boolean')) {
    badRequest(
      "Invalid input. Provided dataframe_split field is not a valid dataframe representation in 'split' format. Error: 'columns' must be a list of column names",
    );
  }
  return columns.map(String);
}

/**
 * Rows of a list-of-lists frame as pandas builds them: as wide as the longest row, shorter rows
 * padded with missing values; with column names, the width must be their count (pandas: "4
 * columns passed, passed data had 3 columns"). Copies only when a row needs padding.
 */
function paddedRows(rows: unknown[][], columns: string[] | null, field: string): unknown[][] {
  let width = 0;
  let ragged = false;
  for (let i = 0; i < rows.length; i++) {
    const n = rows[i]!.length;
    if (i > 0 && n !== width) ragged = true;
    if (n > width) width = n;
  }
  if (columns !== null && rows.length > 0 && width !== columns.length) {
    badRequest(
      `Invalid input. Provided ${field} field is not a valid dataframe representation. Error: '${columns.length} columns passed, passed data had ${width} columns'`,
    );
  }
  if (!ragged) return rows;
  if (width * rows.length > MAX_BUILT_CELLS) {
    badRequest(`Invalid input. Padding ${rows.length} ragged rows to ${width} values would make more than ${MAX_BUILT_CELLS} cells`);
  }
  return rows.map((r) => (r.length === width ? r : [...r, ...new Array<unknown>(width - r.length).fill(null)]));
}

/**
 * proto_json_utils.dataframe_from_parsed_json, orient "split": a dict with "data" and optionally
 * "columns" and "index", then pd.DataFrame(index=, columns=, data=); what pandas refuses is
 * BAD_REQUEST. Duplicate column names are allowed, as in pandas.
 */
function decodeSplit(value: unknown): DecodedInput {
  if (!isPlainObject(value)) {
    badRequest(`Invalid input. Dataframe split format must be a dictionary. Got ${Array.isArray(value) ? 'list' : pyType(value)}.`);
  }
  let extra = false;
  for (const k in value) if (k !== 'columns' && k !== 'data' && k !== 'index') extra = true;
  if (extra || !('data' in value)) {
    badRequest(`Invalid input. Dataframe split format must have 'data' field and optionally 'columns' and 'index' fields. Got {${fieldList(value)}}.`);
  }
  const columns = columnNames(value.columns);
  const index = value.index;
  if (index !== undefined && index !== null && typeof index !== 'object') {
    badRequest(
      `Invalid input. Provided dataframe_split field is not a valid dataframe representation in 'split' format. Error: 'Index(...) must be called with a collection of some kind, ${JSON.stringify(index).slice(0, 40)} was passed'`,
    );
  }
  const data = value.data;
  // pandas: data=None is an empty frame (with the columns, if any).
  if (data === null) return withIndex({ kind: 'frame', columns, rows: [] }, index);
  if (isPlainObject(data)) return frameFromColumnMap(data, columns, index);
  return withIndex(splitRows(data, columns), index);
}

/**
 * The frame's rows against an "index" list (or dict: its keys) of another length, as pandas takes
 * them: one row is repeated on every index entry, no rows are missing values, any other count is
 * refused ("Length of values (2) does not match length of index (3)").
 */
function withIndex(frame: DecodedInput, index: unknown): DecodedInput {
  if (frame.kind !== 'frame') return frame;
  const length = Array.isArray(index) ? index.length : isPlainObject(index) ? Object.keys(index).length : -1;
  const n = frame.rows.length;
  if (length < 0 || length === n) return frame;
  if (n <= 1) {
    const width = n === 1 ? frame.rows[0]!.length : (frame.columns?.length ?? 0);
    if (length * Math.max(width, 1) > MAX_BUILT_CELLS) {
      badRequest(`Invalid input. An index of ${length} entries over ${n} row(s) would make more than ${MAX_BUILT_CELLS} cells`);
    }
    // One shared row: the rows are only read from here on.
    return { ...frame, rows: new Array<unknown[]>(length).fill(n === 1 ? frame.rows[0]! : new Array<unknown>(width).fill(null)) };
  }
  return badRequest(
    `Invalid input. Provided dataframe_split field is not a valid dataframe representation in 'split' format. Error: 'Length of values (${n}) does not match length of index (${length})'`,
  );
}

/** dataframe_split "data" given as a list: rows, records or one column. */
function splitRows(data: unknown, columns: string[] | null): DecodedInput {
  if (!Array.isArray(data)) {
    badRequest(
      "Invalid input. Provided dataframe_split field is not a valid dataframe representation in 'split' format. Error: 'DataFrame constructor not properly called!'",
    );
  }
  if (data.every(Array.isArray)) return { kind: 'frame', columns, rows: paddedRows(data as unknown[][], columns, 'dataframe_split') };
  if (data.every(isPlainObject)) {
    // A list of dicts under "data" is read as records, restricted to the columns when given (kept
    // as records otherwise: the input plan builds only the columns the model needs).
    if (columns === null) return { kind: 'records', records: data };
    return { kind: 'frame', columns, rows: data.map((r) => columns.map((c) => (Object.hasOwn(r, c) ? r[c] : null))) };
  }
  if (data.some((r) => Array.isArray(r) || isPlainObject(r))) {
    badRequest(
      "Invalid input. Provided dataframe_split field is not a valid dataframe representation in 'split' format. Error: 'mixed rows and values in data'",
    );
  }
  // A flat list is one column (pandas: "Shape of passed values is (n, 1), indices imply (n, k)" otherwise).
  if (columns !== null && data.length > 0 && columns.length !== 1) {
    badRequest(
      `Invalid input. Provided dataframe_split field is not a valid dataframe representation in 'split' format. Error: 'Shape of passed values is (${data.length}, 1), indices imply (${data.length}, ${columns.length})'`,
    );
  }
  return { kind: 'frame', columns, rows: data.map((v) => [v]) };
}

/**
 * pd.DataFrame(data=dict, columns=...): each key a column (restricted to the columns when given,
 * a named column that is absent is all missing), lists of one length, scalars broadcast to it;
 * all scalars need an index.
 */
function frameFromColumnMap(data: Record<string, unknown>, columns: string[] | null, index: unknown): DecodedInput {
  const names = columns ?? Object.keys(data);
  let n = -1;
  for (const name of names) {
    const v = Object.hasOwn(data, name) ? data[name] : undefined;
    if (Array.isArray(v)) {
      if (n >= 0 && v.length !== n)
        badRequest("Invalid input. Provided dataframe_split field is not a valid dataframe representation. Error: 'All arrays must be of the same length'");
      n = v.length;
    }
  }
  if (n < 0) {
    if (!Array.isArray(index) && !isPlainObject(index)) {
      if (names.length > 0)
        badRequest(
          "Invalid input. Provided dataframe_split field is not a valid dataframe representation. Error: 'If using all scalar values, you must pass an index'",
        );
    }
    n = Array.isArray(index) ? index.length : isPlainObject(index) ? Object.keys(index).length : 0;
  }
  if (n * Math.max(names.length, 1) > MAX_BUILT_CELLS) {
    badRequest(`Invalid input. ${names.length} columns over ${n} rows would make more than ${MAX_BUILT_CELLS} cells`);
  }
  const rows: unknown[][] = Array.from({ length: n }, () => new Array<unknown>(names.length));
  names.forEach((name, j) => {
    const v = Object.hasOwn(data, name) ? data[name] : null;
    for (let i = 0; i < n; i++) rows[i]![j] = Array.isArray(v) ? v[i] : v;
  });
  return { kind: 'frame', columns: names, rows };
}

/**
 * proto_json_utils.dataframe_from_parsed_json, orient "records": a list (else BAD_REQUEST), then
 * pd.DataFrame(data=list): dicts are records (a non-dict among them fails: BAD_REQUEST), lists are
 * rows, anything else one column named 0.
 */
function decodeRecords(value: unknown): DecodedInput {
  if (!Array.isArray(value)) badRequest(`Invalid input. Dataframe records format must be a list of records. Got ${pyType(value)}.`);
  if (value.length === 0 || isPlainObject(value[0])) {
    // Kept as records: the input plan reads only the columns the model needs, so a body of
    // records with thousands of distinct keys cannot blow up into a keys x rows table.
    if (!value.every(isPlainObject)) {
      badRequest(
        "Invalid input. Provided dataframe_records field is not a valid dataframe representation in 'records' format. Error: 'every record must be a dict'",
      );
    }
    return { kind: 'records', records: value };
  }
  if (Array.isArray(value[0])) {
    if (!value.every(Array.isArray)) {
      badRequest("Invalid input. Provided dataframe_records field is not a valid dataframe representation in 'records' format. Error: 'mixed rows and values'");
    }
    return { kind: 'frame', columns: null, rows: paddedRows(value as unknown[][], null, 'dataframe_records') };
  }
  return { kind: 'frame', columns: null, rows: value.map((v) => [v]) };
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

/**
 * Header names as pandas.read_csv makes them: an empty name is "Unnamed: i", a repeated one gets
 * ".1", ".2", ... (mangle_dupe_cols). Names are trimmed (pandas keeps the spaces, so " wind" would
 * miss the column "wind" there: a difference that only accepts more).
 */
function csvHeader(header: string[]): string[] {
  const names: string[] = [];
  const taken = new Set<string>();
  header.forEach((h, i) => {
    const base = h.trim() === '' ? `Unnamed: ${i}` : h.trim();
    let name = base;
    for (let k = 1; taken.has(name); k++) name = `${base}.${k}`;
    taken.add(name);
    names.push(name);
  });
  return names;
}

/**
 * RFC 4180 CSV with a header row, read as scoring_server.parse_csv_input (pandas.read_csv) reads
 * it: blank lines skipped, no columns at all is BAD_REQUEST, a short row padded with missing
 * values, a row longer than the first data row BAD_REQUEST; when the first data row is longer than
 * the header, its leading fields are the index (pandas' implicit index_col) and are dropped.
 * Numbers stay strings and are cast by the signature (as pandas does with the signature's dtypes).
 */
export function decodeMlflowCsv(text: string): MlflowRequest {
  // Fields are cut as slices of runs of ordinary characters, not built a character at a time, and
  // rows are turned into cells in place: a large body of small rows is most of its cost here.
  const records: string[][] = [];
  let field = '';
  // Rows after the header are made as wide as it, so each holds no spare capacity once kept.
  let width = 0;
  let row: string[] = [];
  let fields = 0;
  let quoted = false;
  let wasQuoted = false;
  let i = 0;
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const len = src.length;
  const put = (f: string) => {
    if (fields === 0 && width > 0) row = new Array<string>(width);
    row[fields++] = f;
  };
  const endRow = () => {
    // A line with nothing but spaces is blank to pandas, unless a quote made it a value; no row
    // is made for it (a wide header over many blank lines must not cost width x lines).
    if (fields === 0 && !wasQuoted && field.trim() === '') {
      field = '';
      return;
    }
    put(field);
    if (row.length !== fields) row.length = fields;
    records.push(row);
    if (records.length === 1) width = fields;
    row = [];
    fields = 0;
    field = '';
    wasQuoted = false;
  };
  while (i < len) {
    if (quoted) {
      const q = src.indexOf('"', i);
      if (q < 0) {
        field += src.slice(i);
        i = len;
        break;
      }
      field += src.slice(i, q);
      if (src.charCodeAt(q + 1) === 34) {
        field += '"';
        i = q + 2;
      } else {
        quoted = false;
        i = q + 1;
      }
      continue;
    }
    const c = src.charCodeAt(i);
    if (c === 34 && field === '') {
      quoted = true;
      wasQuoted = true;
      i++;
    } else if (c === 44) {
      put(field);
      field = '';
      i++;
    } else if (c === 10 || c === 13) {
      endRow();
      i += c === 13 && src.charCodeAt(i + 1) === 10 ? 2 : 1;
    } else {
      // A quote past a field's first character is an ordinary character, as here.
      let j = i + 1;
      for (let d = src.charCodeAt(j); j < len && d !== 44 && d !== 10 && d !== 13; d = src.charCodeAt(++j));
      field += src.slice(i, j);
      i = j;
    }
  }
  if (quoted)
    badRequest(`Failed to parse input as a Pandas DataFrame: an unterminated quoted field. Error: 'EOF inside string starting at row ${records.length}'`);
  if (field !== '' || fields > 0 || wasQuoted) endRow();
  if (records.length === 0) badRequest("Failed to parse input as a Pandas DataFrame: the CSV input is empty. Error: 'No columns to parse from file'");
  const columns = csvHeader(records[0]!);
  const n = records.length - 1;
  const indexFields = n > 0 ? Math.max(0, records[1]!.length - width) : 0;
  // records becomes the cells, row n at n - 1: no second array of rows.
  const cells = records as unknown as Array<Array<string | null>>;
  for (let k = 0; k < n; k++) {
    const r = records[k + 1]!;
    if (r.length > width + indexFields) {
      badRequest(`Failed to parse input as a Pandas DataFrame. Error: 'Expected ${width + indexFields} fields in line ${k + 2}, saw ${r.length}'`);
    }
    // Missing values as pandas.read_csv reads them by default (its na_values list).
    if (indexFields === 0 && r.length === width) {
      const out = r as Array<string | null>;
      for (let j = 0; j < width; j++) if (CSV_NA.has(r[j]!)) out[j] = null;
      cells[k] = out;
    } else {
      const out = new Array<string | null>(width).fill(null);
      for (let j = indexFields; j < r.length; j++) out[j - indexFields] = CSV_NA.has(r[j]!) ? null : r[j]!;
      cells[k] = out;
    }
  }
  cells.length = n;
  return { input: { kind: 'frame', columns, rows: cells }, format: 'csv', params: null, unwrapped: false };
}

const PREFIX = '{"predictions":';

/** {"predictions": ...} for a scored request; the predictions alone for the unified LLM format. */
export function encodeMlflowPredictions(outputs: Record<string, HostTensor>, style: 'records' | 'dict', rows: number, unwrapped = false): string {
  const body = encodeWrapped(outputs, style, rows);
  return unwrapped ? body.slice(PREFIX.length, -1) : body;
}

function encodeWrapped(outputs: Record<string, HostTensor>, style: 'records' | 'dict', rows: number): string {
  const names = Object.keys(outputs);
  const tensors = names.map((n) => outputs[n]!);
  const perRow = style === 'records' && tensors.every((t) => t.dims.length >= 1 && t.dims[0] === rows);
  if (!perRow) {
    return PREFIX + '{' + names.map((n, k) => `${JSON.stringify(n)}:${tensorToJson(tensors[k]!)}`).join(',') + '}}';
  }
  // A list of records: one object per row; a per-row value of one element is a scalar (MLflow's
  // reshape(-1)), a wider one an array (where MLflow itself would fail to build the DataFrame).
  // Built by string concatenation with one specialised writer per output: this loop is most of
  // the cost of a 100-row answer.
  const writers = tensors.map((t, k) => rowWriter(JSON.stringify(names[k]) + ':', t));
  let out = PREFIX + '[';
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

/**
 * encodeMlflowPredictions's text as the bytes sent, written straight into a buffer for the common
 * answer (a list of records; issue 24): no string per value, no UTF-8 copy of the whole text.
 * Other answers (a dict of arrays, the unwrapped LLM format, a few rows) are the text, encoded.
 */
export function encodeMlflowPredictionsBytes(outputs: Record<string, HostTensor>, style: 'records' | 'dict', rows: number, unwrapped = false): Buffer {
  const names = Object.keys(outputs);
  const tensors = names.map((n) => outputs[n]!);
  // A few rows: the writers' set-up costs more than the strings (bench/codec-bench.ts, 1 row).
  if (rows < 8 || unwrapped || style !== 'records' || !tensors.every((t) => t.dims.length >= 1 && t.dims[0] === rows)) {
    return Buffer.from(encodeMlflowPredictions(outputs, style, rows, unwrapped), 'utf8');
  }
  let perRow = 2;
  const writers = tensors.map((t, k) => {
    const w = rowBytesWriter(Buffer.from((k === 0 ? '' : ',') + JSON.stringify(names[k]) + ':', 'utf8'), t);
    perRow += w.estimate;
    return w.write;
  });
  const out = new JsonBytes(PREFIX.length + 3 + rows * perRow);
  out.text(PREFIX);
  out.byte(0x5b);
  for (let i = 0; i < rows; i++) {
    if (i > 0) out.byte(0x2c);
    out.byte(0x7b);
    for (let k = 0; k < writers.length; k++) writers[k]!(out, i);
    out.byte(0x7d);
  }
  out.byte(0x5d);
  out.byte(0x7d);
  return out.bytes();
}

/** rowWriter's `"name":value` for row i, into bytes; `estimate` is a likely size per row, for the first allocation. */
function rowBytesWriter(key: Buffer, t: HostTensor): { write: (out: JsonBytes, i: number) => void; estimate: number } {
  const inner = t.dims.slice(1);
  const width = inner.reduce((a, b) => a * b, 1);
  if (t.type === 'float32' && inner.length <= 1) {
    const d = t.data as Float32Array;
    if (width === 1) {
      return {
        estimate: key.length + 12,
        write: (out, i) => {
          out.raw(key);
          out.float32(d[i]!);
        },
      };
    }
    return {
      estimate: key.length + 2 + width * 12,
      write: (out, i) => {
        out.raw(key);
        out.float32List(d, i * width, width);
      },
    };
  }
  if (t.type === 'string' && width === 1) {
    // Labels repeat (a handful of classes): each distinct one is encoded once per answer.
    const d = t.data as string[];
    const seen = new Map<string, Buffer>();
    return {
      estimate: key.length + 12,
      write: (out, i) => {
        out.raw(key);
        const s = d[i]!;
        let b = seen.get(s);
        if (b === undefined) {
          b = Buffer.from(JSON.stringify(s), 'utf8');
          if (seen.size < 256) seen.set(s, b);
        }
        out.raw(b);
      },
    };
  }
  const text = rowWriter('', t);
  return {
    estimate: key.length + 16 * width,
    write: (out, i) => {
      out.raw(key);
      out.text(text(i));
    },
  };
}
