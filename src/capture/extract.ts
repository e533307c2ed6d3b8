/**
 * Extraction, on the analysis side: a captured request/response pair -> feature rows and the
 * matching predictions. MLflow payloads (the four JSON formats and CSV) and Open Inference v2
 * requests and responses are understood; anything else is reported with a reason, never thrown.
 * Decoding reuses the scoring server's pure codecs, so both sides read payloads identically.
 */
import { gunzipSync, inflateSync } from 'node:zlib';
import type { InferenceEvent, TappedBody } from './inference-event.js';
import { decodeMlflowCsv, decodeMlflowJson, mediaTypeOf } from '../protocol/mlflow.js';
import type { OipRequest } from '../protocol/oip.js';
import { decodeOipRequestBytes, decodeOipResponseBytes } from '../protocol/oip-binary.js';
import { decodeLeanCsv } from '../protocol/lean-csv.js';
import { decodeLeanMlflowJson } from '../protocol/lean-mlflow-json.js';
import { type LeanPredictions, readLeanPredictions } from '../protocol/lean-predictions.js';
import type { NumericFrame } from '../protocol/numeric-frame.js';
import type { Column, NumberColumn } from '../stats/columns.js';
import { setOwn } from '../stats/own-keys.js';

export type Cell = number | string | boolean | null;
export type Row = Record<string, Cell>;

export interface Extracted {
  model: string;
  version: string;
  features: Row[];
  /** One per feature row when the response could be matched row by row; else empty. */
  predictions: Row[];
}

export type ExtractFailure =
  | 'decompress_failed'
  | 'unsupported_content_type'
  | 'unparseable_request'
  | 'unparseable_response'
  | 'unsupported_shape'
  | 'too_many_columns';

export type ExtractResult = { ok: true; value: Extracted } | { ok: false; reason: ExtractFailure };

export interface ExtractOptions {
  /** Column names for unnamed (positional) inputs, e.g. from the model's signature. */
  columnNames?: readonly string[] | null;
  /** Decompressed bodies above this are refused (a zip bomb must not exhaust the analysis side). */
  maxDecompressedBytes: number;
  maxColumns?: number;
}

class Fail extends Error {
  constructor(readonly reason: ExtractFailure) {
    super(reason);
  }
}

function text(body: TappedBody, max: number): string {
  const enc = body.contentEncoding.toLowerCase();
  try {
    if (enc === 'gzip' || enc === 'x-gzip') return gunzipSync(body.bytes, { maxOutputLength: max }).toString('utf8');
    if (enc === 'deflate') return inflateSync(body.bytes, { maxOutputLength: max }).toString('utf8');
  } catch {
    throw new Fail('decompress_failed');
  }
  if (enc !== 'identity' && enc !== '') throw new Fail('decompress_failed');
  return body.bytes.toString('utf8');
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const cell = (v: unknown): Cell =>
  v === null || typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean' ? v : v === undefined ? null : nestedCell(v);

/** Deepest nesting a non-scalar cell may have to be kept (as its JSON text, a category). */
const MAX_CELL_DEPTH = 32;

/**
 * A nested cell (a list or object in a feature) as its JSON text. Deeper than MAX_CELL_DEPTH the
 * event is unparseable: JSON.stringify recurses, so a value thousands of levels deep would
 * overflow the stack (or not, depending on the thread's stack size); the check is iterative.
 */
function nestedCell(v: unknown): string {
  const stack: Array<[unknown, number]> = [[v, 1]];
  while (stack.length > 0) {
    const [x, depth] = stack.pop()!;
    if (depth > MAX_CELL_DEPTH) throw new Fail('unparseable_request');
    if (Array.isArray(x)) {
      for (const y of x) if (typeof y === 'object' && y !== null) stack.push([y, depth + 1]);
    } else if (typeof x === 'object' && x !== null) {
      for (const k in x) {
        const y = (x as Record<string, unknown>)[k];
        if (typeof y === 'object' && y !== null) stack.push([y, depth + 1]);
      }
    }
  }
  return JSON.stringify(v);
}

/**
 * Names that never become features: the members of Object.prototype ("__proto__", "constructor",
 * "toString", ...) and "prototype". Column names come from clients; as keys of the plain objects
 * the stats keep, such names invite prototype confusion downstream, and no model has them.
 */
const PROTOTYPE_NAMES: ReadonlySet<string> = new Set(['prototype', ...Object.getOwnPropertyNames(Object.prototype)]);

/** Known feature names as a set, built once per list (the drains pass the same array per model). */
const knownSets = new WeakMap<readonly string[], ReadonlySet<string>>();
function knownSet(names: readonly string[] | null | undefined): ReadonlySet<string> | null {
  if (!names) return null;
  let set = knownSets.get(names);
  if (set === undefined) knownSets.set(names, (set = new Set(names)));
  return set;
}

/**
 * Whether a client-chosen column name may become a feature: never a prototype name, and, when the
 * model's columns are known (its signature, or proxy.columns), only one of them: a client cannot
 * make up features (or series of them) by naming columns the model does not have.
 */
const isFeature = (name: string, known: ReadonlySet<string> | null) => !PROTOTYPE_NAMES.has(name) && (known === null || known.has(name));

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const csvCell = (v: unknown): Cell => (typeof v === 'string' && DECIMAL.test(v.trim()) ? Number(v) : cell(v));

function positional(width: number, names: readonly string[] | null | undefined): string[] {
  return Array.from({ length: width }, (_, j) => names?.[j] ?? `f${j}`);
}

function rowsFromMatrix(m: unknown[], names: readonly string[] | null | undefined): Row[] {
  return m.map((r) => {
    const arr = Array.isArray(r) ? r : [r];
    const cols = positional(arr.length, names);
    return Object.fromEntries(arr.map((v, j) => [cols[j]!, cell(v)]));
  });
}

/** Columns as rows; `known` (feature names) filters client-chosen names, absent for output names. */
function rowsFromColumns(obj: Record<string, unknown>, known?: ReadonlySet<string> | null): Row[] {
  const all = Object.keys(obj);
  const names = known === undefined ? all : all.filter((n) => isFeature(n, known));
  const values = names.map((n) => obj[n]);
  if (values.every((v) => !Array.isArray(v))) return [Object.fromEntries(names.map((n, j) => [n, cell(values[j])]))];
  const n = Math.max(...values.map((v) => (Array.isArray(v) ? v.length : 1)));
  return Array.from({ length: n }, (_, i) =>
    Object.fromEntries(names.map((name, j) => [name, cell(Array.isArray(values[j]) ? (values[j] as unknown[])[i] : values[j])])),
  );
}

function mlflowFeatures(body: string, mediaType: string, names: readonly string[] | null | undefined): Row[] {
  let decoded: ReturnType<typeof decodeMlflowJson>;
  try {
    decoded = mediaType === 'text/csv' ? decodeMlflowCsv(body) : decodeMlflowJson(body);
  } catch {
    throw new Fail('unparseable_request');
  }
  const input = decoded.input;
  const known = knownSet(names);
  if (input.kind === 'frame') {
    const cols = input.columns ?? positional(input.rows[0]?.length ?? 0, names);
    // Which columns become features, decided once per request (client-chosen names only).
    const keep = input.columns === null ? null : cols.map((c) => isFeature(c, known));
    // CSV cells are text: numbers are inferred as pandas.read_csv does, so they count as numeric.
    const conv = decoded.format === 'csv' ? csvCell : cell;
    // Plain loops and setOwn, not Object.fromEntries: this runs per row of every captured request.
    return input.rows.map((r) => {
      const row: Row = {};
      for (let j = 0; j < cols.length; j++) if (keep === null || keep[j]) setOwn(row, cols[j]!, conv(r[j]));
      return row;
    });
  }
  if (input.kind === 'records') return input.records.map((r) => (isObj(r) ? cellsOf(r, known) : {}));
  const v = input.value;
  if (isObj(v)) return rowsFromColumns(v, known);
  if (Array.isArray(v)) return v.every(isObj) ? (v as Array<Record<string, unknown>>).map((r) => cellsOf(r, known)) : rowsFromMatrix(v, names);
  throw new Fail('unsupported_shape');
}

/** Widest numeric output vector that is split into one column per element (class probabilities). */
const MAX_VECTOR_COLUMNS = 64;

/**
 * A prediction that is a short numeric vector (class probabilities, embeddings' first dims) becomes
 * one numeric column per element (name_0, name_1, ...), so each is profiled and can drift on its
 * own; anything else is kept as its JSON text, a category.
 */
function putPrediction(out: Row, name: string, v: unknown[]): void {
  if (v.length > 0 && v.length <= MAX_VECTOR_COLUMNS && v.every((x) => typeof x === 'number' || x === null)) {
    for (let i = 0; i < v.length; i++) setOwn<Cell>(out, vectorColumn(name, i), v[i] as number | null);
  } else setOwn<Cell>(out, name, JSON.stringify(v));
}

function predictionRow(name: string, v: unknown[]): Row {
  const out: Row = {};
  putPrediction(out, name, v);
  return out;
}

/** name_0, name_1, ...: built once per output name, not per row (a 100-row answer names them 100 times). */
const vectorColumns = new Map<string, string[]>();
function vectorColumn(name: string, i: number): string {
  let names = vectorColumns.get(name);
  if (names === undefined) {
    if (vectorColumns.size >= 1024) vectorColumns.clear(); // output names come from traffic: bounded
    vectorColumns.set(name, (names = []));
  }
  return (names[i] ??= `${name}_${i}`);
}

/** A JSON object's own entries as cells, those whose names may be features. */
function cellsOf(r: Record<string, unknown>, known: ReadonlySet<string> | null): Row {
  const row: Row = {};
  for (const k of Object.keys(r)) if (isFeature(k, known)) setOwn(row, k, cell(r[k]));
  return row;
}

function mlflowPredictions(body: string, rows: number): Row[] {
  return predictionRowsOf(parseResponse(body), rows);
}

function parseResponse(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    throw new Fail('unparseable_response');
  }
}

/** An MLflow answer (parsed) as prediction rows, one per feature row, or none when they do not match. */
function predictionRowsOf(json: unknown, rows: number): Row[] {
  const p = isObj(json) ? json.predictions : json;
  if (Array.isArray(p)) {
    if (p.length !== rows) return [];
    return p.map((r) => {
      if (!isObj(r)) return Array.isArray(r) ? predictionRow('prediction', r) : { prediction: cell(r) };
      const out: Row = {};
      for (const k of Object.keys(r)) {
        const v = r[k];
        if (Array.isArray(v)) putPrediction(out, k, v);
        else setOwn(out, k, cell(v));
      }
      return out;
    });
  }
  if (isObj(p)) {
    const out = rowsFromColumns(p);
    return out.length === rows ? out : [];
  }
  return [];
}

/**
 * A body's bytes, decompressed: an Open Inference body may carry binary tensors after its JSON
 * (oip-binary.ts), which a text decoding would mangle.
 */
function bytesOf(body: TappedBody, max: number): Buffer {
  const enc = body.contentEncoding.toLowerCase();
  try {
    if (enc === 'gzip' || enc === 'x-gzip') return gunzipSync(body.bytes, { maxOutputLength: max });
    if (enc === 'deflate') return inflateSync(body.bytes, { maxOutputLength: max });
  } catch {
    throw new Fail('decompress_failed');
  }
  if (enc !== 'identity' && enc !== '') throw new Fail('decompress_failed');
  return body.bytes;
}

/**
 * The event does not carry the Inference-Header-Content-Length header: the JSON is the body's
 * first value and the binary tensors what its binary_data_size parameters declare (a binary input
 * reads as the values its JSON form would have).
 */
function oipFeatures(body: Buffer, names: readonly string[] | null | undefined): Row[] {
  let req: OipRequest;
  try {
    req = decodeOipRequestBytes(body, null, { infer: true });
  } catch {
    throw new Fail('unparseable_request');
  }
  const n = req.inputs[0]!.shape[0] ?? 1;
  const known = knownSet(names);
  const rows: Row[] = Array.from({ length: n }, () => ({}));
  for (const input of req.inputs) {
    if ((input.shape[0] ?? 1) !== n) throw new Fail('unsupported_shape');
    const width = input.shape.slice(1).reduce((a, b) => a * b, 1);
    // One input per feature ([N] or [N, 1]), or one matrix [N, k] whose columns are features.
    const cols = width === 1 ? [input.name] : positional(width, names).map((c) => (names?.length === width ? c : `${input.name}_${c.slice(1)}`));
    for (let j = 0; j < width; j++) {
      if (!isFeature(cols[j]!, known)) continue;
      for (let i = 0; i < n; i++) setOwn(rows[i]!, cols[j]!, cell(input.flat[i * width + j]));
    }
  }
  return rows;
}

function oipPredictions(body: Buffer, rows: number): Row[] {
  const outputs = decodeOipResponseBytes(body, null);
  if (!outputs) throw new Fail('unparseable_response');
  const out: Row[] = Array.from({ length: rows }, () => ({}));
  for (const o of outputs) {
    if (o.shape[0] !== rows) return [];
    const width = (o.shape as number[]).slice(1).reduce((a, b) => a * b, 1);
    for (let i = 0; i < rows; i++) {
      if (width === 1) out[i]![o.name] = cell(o.data[i]);
      else putPrediction(out[i]!, o.name, o.data.slice(i * width, (i + 1) * width));
    }
  }
  return out;
}

/**
 * `columnNames` and `version`, when given, override opts.columnNames and event.version (the
 * capture drains pass them per event instead of copying the options or the event).
 */
export function extract(event: InferenceEvent, opts: ExtractOptions, columnNames?: readonly string[] | null, version?: string | null): ExtractResult {
  try {
    if (!event.request || !event.response) throw new Fail('unsupported_shape');
    const ct = mediaTypeOf(event.request.contentType);
    const names = columnNames ?? opts.columnNames ?? null;
    let features: Row[];
    let predictions: Row[] = [];
    const ok = event.status >= 200 && event.status < 300;
    if (event.route === 'infer') {
      features = oipFeatures(bytesOf(event.request, opts.maxDecompressedBytes), names);
      if (ok) predictions = oipPredictions(bytesOf(event.response, opts.maxDecompressedBytes), features.length);
    } else {
      const reqText = text(event.request, opts.maxDecompressedBytes);
      if (ct !== 'application/json' && ct !== 'text/csv') throw new Fail('unsupported_content_type');
      features = mlflowFeatures(reqText, ct, names);
      if (ok) predictions = mlflowPredictions(text(event.response, opts.maxDecompressedBytes), features.length);
    }
    const maxColumns = opts.maxColumns ?? 512;
    for (let i = 0; i < features.length; i++) if (wider(features[i]!, maxColumns)) throw new Fail('too_many_columns');
    return {
      ok: true,
      value: { model: event.model ?? 'unknown', version: (version === undefined ? event.version : version) ?? 'unknown', features, predictions },
    };
  } catch (e) {
    if (e instanceof Fail) return { ok: false, reason: e.reason };
    return { ok: false, reason: 'unparseable_request' };
  }
}

/**
 * Another answer to a request extract() already read (the sidecar shadow's challenger answered the
 * champion's request): its prediction rows for `rows` request rows, read as extract() reads an
 * answer, without parsing the request again.
 */
export function extractAnswer(
  route: InferenceEvent['route'],
  response: TappedBody,
  opts: ExtractOptions,
  rows: number,
): { ok: true; value: Row[] } | { ok: false; reason: ExtractFailure } {
  try {
    const value =
      route === 'infer'
        ? oipPredictions(bytesOf(response, opts.maxDecompressedBytes), rows)
        : mlflowPredictions(text(response, opts.maxDecompressedBytes), rows);
    return { ok: true, value };
  } catch (e) {
    if (e instanceof Fail) return { ok: false, reason: e.reason };
    return { ok: false, reason: 'unparseable_request' };
  }
}

/** Whether a row has more than max own keys, counted without building the key list. */
function wider(row: Row, max: number): boolean {
  let n = 0;
  for (const _ in row) if (++n > max) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// The lean path (issue 24): MLflow request bodies the lean codecs read as a NumericFrame are
// profiled from columns, without a Row per row and without the generic codec's second parse.
// It gives what extract() gives for the same event (test/unit/capture-frame.test.ts holds it to
// that); anything the lean codecs refuse is extract()'s.

/**
 * Request bodies shorter than this (a few rows) take the generic path: per body the lean path
 * pays for typed arrays and column objects, which only rows enough pay back (at one row it cost
 * more than JSON.parse and the rows did, bench/capture-bench.ts). Either path gives the same results.
 */
const LEAN_MIN_BYTES = 256;

/** What extractColumns makes of an event: the features as columns, the predictions as columns when they form a table. */
export interface ExtractedColumns {
  model: string;
  version: string;
  rows: number;
  features: Column[];
  /** One value per feature row in each column; null when the answer is not such a table (then `predictions` holds the rows). */
  predictionColumns: Column[] | null;
  /** The answer's rows as extract() reads them, when predictionColumns is null; else empty. */
  predictions: Row[];
}

export type ExtractColumnsResult = { ok: true; value: ExtractedColumns } | { ok: false; reason: ExtractFailure };

/**
 * The lean reading of an MLflow event, or null when it does not apply (an Open Inference route,
 * a compressed or non-numeric body, a shape the lean codecs leave to the generic one): then
 * extract() reads the event. Same arguments as extract().
 */
export function extractColumns(
  event: InferenceEvent,
  opts: ExtractOptions,
  columnNames?: readonly string[] | null,
  version?: string | null,
): ExtractColumnsResult | null {
  const req = event.request;
  if (!req || !event.response || event.route === 'infer' || req.bytes.length < LEAN_MIN_BYTES) return null;
  const enc = req.contentEncoding;
  if (enc !== '' && enc !== 'identity' && enc.toLowerCase() !== 'identity') return null;
  const ct = mediaTypeOf(req.contentType);
  let frame: NumericFrame | null = null;
  let byColumn = false;
  if (ct === 'application/json') {
    const json = decodeLeanMlflowJson(req.bytes);
    frame = json?.frame ?? null;
    byColumn = json?.byColumn ?? false;
  } else if (ct === 'text/csv') frame = decodeLeanCsv(req.bytes);
  if (frame === null) return null;
  try {
    const features = frame.rows === 0 ? [] : frameColumns(frame, columnNames ?? opts.columnNames ?? null);
    // A mapping of columns none of which is a feature is one empty row to extract() (rowsFromColumns
    // keeps only feature names, then finds no list among them), not one row per value.
    const rows = byColumn && features.length === 0 ? 1 : frame.rows;
    let predictionColumns: Column[] | null = null;
    let predictions: Row[] = [];
    if (event.status >= 200 && event.status < 300) {
      // In extract()'s order: the answer is read (and may fail) before the column count is judged.
      const res = event.response;
      const lean = res.contentEncoding === 'identity' || res.contentEncoding === '' ? readLeanPredictions(res.bytes) : null;
      // A lean table is valid JSON: of another row count, extract() would find no predictions in it.
      if (lean === null || lean.rows === rows) {
        predictionColumns = lean === null ? null : leanColumns(lean);
        if (predictionColumns === null) {
          const json = parseResponse(text(res, opts.maxDecompressedBytes));
          predictionColumns = predictionColumnsOf(json, rows);
          if (predictionColumns === null) predictions = predictionRowsOf(json, rows);
        }
      }
    }
    if (features.length > (opts.maxColumns ?? 512)) throw new Fail('too_many_columns');
    return {
      ok: true,
      value: {
        model: event.model ?? 'unknown',
        version: (version === undefined ? event.version : version) ?? 'unknown',
        rows,
        features,
        predictionColumns,
        predictions,
      },
    };
  } catch (e) {
    if (e instanceof Fail) return { ok: false, reason: e.reason };
    return { ok: false, reason: 'unparseable_request' };
  }
}

/**
 * A frame's columns under the names extract() would give its rows' cells: named columns filtered
 * as client-chosen names are, positional ones named from the model's columns. A name that repeats
 * keeps its first place and its last column (a row object's key keeps its place; the last set wins).
 */
function frameColumns(frame: NumericFrame, names: readonly string[] | null): NumberColumn[] {
  const { width, values } = frame;
  const named = frame.names;
  const known = named === null ? null : knownSet(names);
  const index = new Map<string, number>();
  for (let j = 0; j < width; j++) {
    const name = named === null ? (names?.[j] ?? `f${j}`) : named[j]!;
    if (named !== null && !isFeature(name, known)) continue;
    index.set(name, j);
  }
  const out: NumberColumn[] = [];
  for (const [name, j] of index) out.push({ kind: 'number', name, values, offset: j, stride: width });
  return out;
}

/**
 * The answer's predictions as columns, for the shapes most answers have: a list of numbers, of
 * strings, or of records with the same keys in the same order whose values are numbers, strings,
 * booleans or short numeric vectors (split into name_0, name_1, ... as putPrediction does). Null
 * for anything else (nulls, nesting, keys that differ between rows, a row count that does not
 * match): predictionRowsOf reads those.
 */
function predictionColumnsOf(json: unknown, rows: number): Column[] | null {
  const p = isObj(json) ? json.predictions : json;
  if (!Array.isArray(p) || p.length !== rows || rows === 0) return null;
  const first = p[0] as unknown;
  if (typeof first === 'number') {
    const values = new Float64Array(rows);
    for (let i = 0; i < rows; i++) {
      const v = p[i] as unknown;
      if (typeof v !== 'number') return null;
      values[i] = v;
    }
    return [{ kind: 'number', name: 'prediction', values, offset: 0, stride: 1 }];
  }
  if (typeof first === 'string' || typeof first === 'boolean') {
    for (let i = 0; i < rows; i++) if (typeof p[i] !== 'string' && typeof p[i] !== 'boolean') return null;
    return [{ kind: 'cells', name: 'prediction', cells: p as Cell[] }];
  }
  if (!isObj(first)) return null;
  const keys = Object.keys(first);
  // Per key: -1 a scalar cell, 0 a number, L > 0 a numeric vector of L elements.
  const plan: number[] = [];
  let width = 0;
  const names = new Set<string>();
  for (const k of keys) {
    const v = first[k];
    let kind: number;
    if (typeof v === 'number') kind = 0;
    else if (typeof v === 'string' || typeof v === 'boolean') kind = -1;
    else if (Array.isArray(v) && v.length > 0 && v.length <= MAX_VECTOR_COLUMNS) kind = v.length;
    else return null;
    plan.push(kind);
    if (kind > 0) for (let e = 0; e < kind; e++) names.add(vectorColumn(k, e));
    else names.add(k);
    width += kind >= 0 ? Math.max(kind, 1) : 0;
  }
  // A generated name equal to another key (a "p_0" beside a vector "p") overwrites within a row.
  let expected = 0;
  for (const kind of plan) expected += kind > 0 ? kind : 1;
  if (names.size !== expected) return null;
  const values = new Float64Array(rows * width);
  const cells: Cell[][] = plan.map((kind) => (kind < 0 ? new Array<Cell>(rows) : []));
  for (let i = 0; i < rows; i++) {
    const r = p[i] as unknown;
    if (!isObj(r)) return null;
    let c = 0;
    for (const k in r) if (k !== keys[c++]) return null;
    if (c !== keys.length) return null;
    let at = i * width;
    for (let j = 0; j < keys.length; j++) {
      const v = r[keys[j]!];
      const kind = plan[j]!;
      if (kind === 0) {
        if (typeof v !== 'number') return null;
        values[at++] = v;
      } else if (kind < 0) {
        if (typeof v !== 'string' && typeof v !== 'boolean') return null;
        cells[j]![i] = v;
      } else {
        if (!Array.isArray(v) || v.length !== kind) return null;
        for (let e = 0; e < kind; e++) {
          const x = v[e] as unknown;
          if (typeof x !== 'number') return null;
          values[at++] = x;
        }
      }
    }
  }
  const out: Column[] = [];
  let offset = 0;
  for (let j = 0; j < keys.length; j++) {
    const kind = plan[j]!;
    if (kind < 0) out.push({ kind: 'cells', name: keys[j]!, cells: cells[j]! });
    else if (kind === 0) out.push({ kind: 'number', name: keys[j]!, values, offset: offset++, stride: width });
    else for (let e = 0; e < kind; e++) out.push({ kind: 'number', name: vectorColumn(keys[j]!, e), values, offset: offset++, stride: width });
  }
  return out;
}

/**
 * A lean answer's outputs as the columns predictionRowsOf's rows would hold: bare values named
 * "prediction", lists split into name_0, name_1, ... Null when two columns would share a name (a
 * "p_0" beside a list "p": one overwrites the other within a row), left to the generic reading.
 */
function leanColumns(t: LeanPredictions): Column[] | null {
  const out: Column[] = [];
  const names = new Set<string>();
  for (const o of t.outputs) {
    if (o.kind === 'cells') out.push({ kind: 'cells', name: o.name, cells: o.cells });
    else if (!o.vector) out.push({ kind: 'number', name: o.name, values: t.values, offset: o.offset, stride: t.stride });
    else
      for (let e = 0; e < o.width; e++) out.push({ kind: 'number', name: vectorColumn(o.name, e), values: t.values, offset: o.offset + e, stride: t.stride });
  }
  for (const c of out) names.add(c.name);
  return names.size === out.length ? out : null;
}

/** Columns back as the rows extract() would have made (the prediction log reads rows). */
export function rowsOfColumns(rows: number, columns: readonly Column[]): Row[] {
  const out: Row[] = new Array(rows);
  for (let i = 0; i < rows; i++) {
    const row: Row = {};
    for (const col of columns) setOwn<Cell>(row, col.name, col.kind === 'number' ? col.values[col.offset + i * col.stride]! : col.cells[i]!);
    out[i] = row;
  }
  return out;
}
