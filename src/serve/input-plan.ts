/**
 * Schema enforcement: turns a decoded request (a data frame or raw JSON values) into onnxruntime
 * feeds, the way MLflow's pyfunc + onnx flavor does (mlflow/models/utils.py `_enforce_schema`,
 * mlflow/onnx `_OnnxModelWrapper.predict`):
 *  - column signatures: columns matched by name (reordered, extra columns dropped), a missing
 *    required column is an error naming it, values cast leniently ("1.5" -> 1.5) and then to the
 *    graph's element type (float64 -> float32 where the graph wants float);
 *    one graph input -> the columns as an [N, k] matrix in signature order; several graph inputs
 *    -> one column per input by name;
 *  - tensor signatures: named (or, for a single input, unnamed) nested arrays, checked against the
 *    spec's shape (-1 is free) and the graph's fixed dimensions.
 * Beyond MLflow: unnamed columns (dataframe_split without "columns", lists of lists) are taken
 * positionally when their count equals the signature's, and every error names what is wrong.
 * Pure: no I/O, no clock.
 */
import { DriftwatchError } from '../errors.js';
import type { ColumnSpec, ColumnType, Schema, Signature, TensorSpec } from '../model/signature.js';
import type { DecodedInput } from '../protocol/decoded-input.js';
import type { NumericFrame } from '../protocol/numeric-frame.js';
import { preview } from '../protocol/preview.js';
import type { ElementType, HostTensor, TensorMeta } from '../protocol/tensor.js';

export interface PreparedInput {
  feeds: Record<string, HostTensor>;
  rows: number;
  /** MLflow answers a data frame with a list of records, anything else with a dict of arrays. */
  outputStyle: 'records' | 'dict';
  /** The rows as named columns (after enforcement), when the input was tabular; for the tap. */
  columnNames: string[] | null;
}

const MAX_RANK = 32;

function schemaError(message: string): never {
  throw new DriftwatchError('DW_ERR_SERVE_SCHEMA', message);
}

/**
 * A value that cannot become its column's type, or rows numpy cannot stack (ragged, mixed). Still
 * DW_ERR_SERVE_SCHEMA (400), but MLflow meets these while parsing the request, before the
 * signature check: proto_json_utils.cast_df_types_according_to_schema (MlflowFailedTypeConversion),
 * convert_data_type and pandas.read_csv(dtype=...) all answer BAD_REQUEST, where a missing column
 * or a wrong shape found by models/utils._enforce_schema is INVALID_PARAMETER_VALUE. The MLflow
 * error_code follows MLflow; the driftwatch code and the status stay.
 */
export class CastError extends DriftwatchError {
  constructor(message: string) {
    super('DW_ERR_SERVE_SCHEMA', message);
  }
  override get mlflowCode(): string {
    return 'BAD_REQUEST';
  }
}

function castError(message: string): never {
  throw new CastError(message);
}

/** A Python-style list for messages, as MLflow words them; at most 20 names, so a hostile body cannot make a huge error. */
const pyList = (names: Iterable<string>) => {
  const all = [...names];
  const shown = all.slice(0, 20).map((n) => `'${n.length > 64 ? n.slice(0, 64) + '...' : n}'`);
  if (all.length > 20) shown.push(`... ${all.length - 20} more`);
  return '[' + shown.join(', ') + ']';
};

/* ----------------------------- tables ----------------------------- */

interface Table {
  names: string[] | null;
  cols: unknown[][];
  n: number;
  /** Keys that were sent but not built into columns (records against a signature), for errors. */
  extras?: string[];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isScalar(v: unknown): boolean {
  return v === null || (typeof v !== 'object' && typeof v !== 'function');
}

function tableFromRows(columns: string[] | null, rows: unknown[][]): Table {
  const width = columns ? columns.length : rows.length > 0 ? (rows[0] as unknown[]).length : 0;
  const cols: unknown[][] = Array.from({ length: width }, () => new Array<unknown>(rows.length));
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    if (row.length !== width) {
      castError(`row ${i} has ${row.length} values, expected ${width}${columns ? ' (one per column)' : ' (as in row 0)'}`);
    }
    for (let j = 0; j < width; j++) cols[j]![i] = row[j];
  }
  return { names: columns, cols, n: rows.length };
}

/** Distinct keys accepted across records when the model has no column signature to select by. */
const MAX_UNSELECTED_COLUMNS = 1024;
/** Cells a table of records may hold (rows x distinct keys) when nothing selects columns. */
const MAX_TABLE_CELLS = 16 * 1024 * 1024;

/**
 * Records (list of objects) as a table. With `wanted` (the signature's columns) only those
 * columns are built: work and memory are rows x wanted, whatever keys a client sends; other key
 * names are remembered (a few) for the error message. Without it, every key becomes a column,
 * up to MAX_UNSELECTED_COLUMNS.
 */
function tableFromRecords(records: unknown[], wanted: readonly string[] | null): Table {
  for (let i = 0; i < records.length; i++) if (!isPlainObject(records[i])) schemaError(`record ${i} is not a JSON object`);
  const recs = records as Array<Record<string, unknown>>;
  if (wanted) {
    const names: string[] = [];
    const cols: unknown[][] = [];
    for (const name of wanted) {
      let seen = false;
      const col = new Array<unknown>(recs.length);
      for (let i = 0; i < recs.length; i++) {
        const v = recs[i]![name];
        if (v !== undefined) seen = true;
        col[i] = v === undefined ? null : v;
      }
      // A column no record has is absent, as in pandas (so no records at all is no columns).
      if (seen) {
        names.push(name);
        cols.push(col);
      }
    }
    const wantedSet = new Set(wanted);
    const extras: string[] = [];
    for (let i = 0; i < recs.length && extras.length < 20; i++) {
      for (const k in recs[i]) if (!wantedSet.has(k) && !extras.includes(k) && extras.length < 20) extras.push(k);
    }
    return { names, cols, n: recs.length, extras };
  }
  const index = new Map<string, number>();
  const cols: unknown[][] = [];
  recs.forEach((rec, i) => {
    for (const [k, v] of Object.entries(rec)) {
      let j = index.get(k);
      if (j === undefined) {
        if (index.size >= MAX_UNSELECTED_COLUMNS) schemaError(`records carry more than ${MAX_UNSELECTED_COLUMNS} distinct keys`);
        if ((index.size + 1) * records.length > MAX_TABLE_CELLS) schemaError(`records x distinct keys exceeds ${MAX_TABLE_CELLS} cells`);
        j = cols.length;
        index.set(k, j);
        cols.push(new Array<unknown>(records.length).fill(null));
      }
      cols[j]![i] = v;
    }
  });
  return { names: [...index.keys()], cols, n: records.length };
}

function tableFromColumns(obj: Record<string, unknown>): Table {
  const names = Object.keys(obj);
  const values = Object.values(obj);
  // MLflow (models/utils._enforce_schema): a dict of scalars is one row, else pd.DataFrame(dict):
  // lists of one length, a scalar among them repeated on every row.
  if (values.every(isScalar)) return { names, cols: values.map((v) => [v]), n: 1 };
  let n = -1;
  let first = '';
  values.forEach((v, j) => {
    if (!Array.isArray(v)) {
      if (!isScalar(v)) schemaError(`input ${names[j]} must be a list of values (one per row)`);
      return;
    }
    if (n >= 0 && v.length !== n) schemaError(`input ${names[j]} has ${v.length} values, ${first} has ${n}: columns must have equal length`);
    if (n < 0) first = names[j]!;
    n = v.length;
  });
  // Repeated scalars are built here, not sent: bounded like a table of records.
  const repeated = values.reduce<number>((k, v) => k + (Array.isArray(v) ? 0 : 1), 0);
  if (repeated * n > MAX_TABLE_CELLS) schemaError(`${repeated} scalar inputs repeated over ${n} rows exceed ${MAX_TABLE_CELLS} cells`);
  const cols = values.map((v) => (Array.isArray(v) ? v : new Array<unknown>(n).fill(v)));
  return { names, cols, n };
}

/** Any decoded input as a table, for column signatures. */
function toTable(input: DecodedInput, wanted: readonly string[] | null = null): Table {
  if (input.kind === 'frame') return tableFromRows(input.columns, input.rows);
  if (input.kind === 'records') return tableFromRecords(input.records, wanted);
  const v = input.value;
  if (isPlainObject(v)) return tableFromColumns(v);
  if (!Array.isArray(v)) schemaError('expected a list of rows or a mapping of column name to values');
  if (v.length === 0) return { names: null, cols: [], n: 0 };
  if (v.every(isPlainObject)) return tableFromRecords(v, wanted);
  if (v.every(Array.isArray)) return tableFromRows(null, v as unknown[][]);
  if (v.every(isScalar)) return { names: null, cols: [v], n: v.length };
  return castError('rows must all be lists, all be objects, or all be scalar values');
}

/* ----------------------------- casting ----------------------------- */

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Value ranges of the integer element types: a value outside is an error, never a silent wrap. */
const INT_RANGE: Partial<Record<ElementType, [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
  int64: [-(2 ** 63), 2 ** 63 - 1024],
  uint64: [0, 2 ** 64 - 2048],
};

function toIntegerOf(type: ElementType, v: unknown, col: string, row: number): number {
  const n = toInteger(v, col, row);
  const range = INT_RANGE[type];
  if (range && (n < range[0] || n > range[1])) schemaError(`column ${col} row ${row}: ${n} is out of range for ${type}`);
  return n;
}

/** Python's float() words for the non-finite values, as MLflow's cast (numpy astype) reads them. */
const NON_FINITE: Readonly<Record<string, number>> = {
  nan: Number.NaN,
  '+nan': Number.NaN,
  '-nan': Number.NaN,
  inf: Number.POSITIVE_INFINITY,
  '+inf': Number.POSITIVE_INFINITY,
  infinity: Number.POSITIVE_INFINITY,
  '+infinity': Number.POSITIVE_INFINITY,
  '-inf': Number.NEGATIVE_INFINITY,
  '-infinity': Number.NEGATIVE_INFINITY,
};

/**
 * A cell as a number for a numeric column, as MLflow casts it (pandas/numpy `astype`, i.e.
 * Python's float()): decimal text of any length, and "NaN", "inf", "Infinity" (any case, signed,
 * padded) to the non-finite values, which the model then scores as it scores them under MLflow
 * (the example model answers null probabilities; docs/bad-input.md). null stays NaN, as pandas
 * holds a missing number. Issue 18 had these refused; issue 19 (a drop-in never refuses what
 * MLflow accepts) brought them back, documented instead.
 */
function toNumber(v: unknown, col: string, row: number): number {
  if (typeof v === 'number') return v; // 1e999 in JSON parses to Infinity, as in Python
  if (v === null || v === undefined) return Number.NaN; // pandas holds a missing number as NaN
  if (typeof v === 'string') {
    const t = v.trim();
    // Decimal notation only, as pandas reads numbers ("0x10" is not 16 there).
    if (DECIMAL.test(t)) return Number(t);
    const word = NON_FINITE[t.toLowerCase()];
    if (word !== undefined && Object.hasOwn(NON_FINITE, t.toLowerCase())) return word;
  }
  if (typeof v === 'boolean') return v ? 1 : 0;
  return castError(`column ${col} row ${row}: cannot convert ${preview(v)} to a number`);
}

function toInteger(v: unknown, col: string, row: number): number {
  const n = toNumber(v, col, row);
  if (!Number.isInteger(n)) {
    schemaError(`column ${col} row ${row}: ${preview(v)} is not an integer (no safe conversion to an integer type)`);
  }
  return n;
}

function toBool(v: unknown, col: string, row: number): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 0 || v === 1) return v === 1;
  if (v === 'true' || v === 'True') return true;
  if (v === 'false' || v === 'False') return false;
  return castError(`column ${col} row ${row}: cannot convert ${preview(v)} to a boolean`);
}

function toStr(v: unknown, col: string, row: number): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return castError(`column ${col} row ${row}: expected a string, got ${v === null ? 'null' : typeof v}`);
}

/** Validates one column against its MLflow column type (the signature's promise to clients). */
function checkColumnType(type: ColumnType, values: unknown[], col: string): void {
  switch (type) {
    case 'double':
    case 'float':
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (typeof v !== 'number') toNumber(v, col, i);
      }
      return;
    case 'long':
    case 'integer':
      for (let i = 0; i < values.length; i++) if (!Number.isInteger(values[i])) toInteger(values[i], col, i);
      return;
    case 'boolean':
      for (let i = 0; i < values.length; i++) toBool(values[i], col, i);
      return;
    case 'string':
      for (let i = 0; i < values.length; i++) toStr(values[i], col, i);
      return;
    default:
      return; // array/object/map/binary/datetime/any: left to the graph's element type
  }
}

function allocate(type: ElementType, n: number): HostTensor['data'] {
  switch (type) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'int64':
      return new BigInt64Array(n);
    case 'uint64':
      return new BigUint64Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'int16':
      return new Int16Array(n);
    case 'int8':
      return new Int8Array(n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(n);
    case 'uint16':
    case 'float16':
      return new Uint16Array(n);
    case 'uint32':
      return new Uint32Array(n);
    case 'string':
      return new Array<string>(n);
  }
}

/** Writes one value into a typed buffer slot, converting as the graph's element type demands. */
function store(type: ElementType, data: HostTensor['data'], at: number, v: unknown, col: string, row: number): void {
  switch (type) {
    case 'float32':
    case 'float64':
      (data as Float64Array)[at] = typeof v === 'number' ? v : toNumber(v, col, row);
      return;
    case 'int64':
      (data as BigInt64Array)[at] = BigInt(toIntegerOf(type, v, col, row));
      return;
    case 'uint64':
      (data as BigUint64Array)[at] = BigInt(toIntegerOf(type, v, col, row));
      return;
    case 'bool':
      (data as Uint8Array)[at] = toBool(v, col, row) ? 1 : 0;
      return;
    case 'string':
      (data as string[])[at] = toStr(v, col, row);
      return;
    case 'float16':
      return schemaError(`column ${col}: float16 inputs are not supported`);
    default:
      (data as Int32Array)[at] = toIntegerOf(type, v, col, row);
  }
}

/**
 * Feeds against the graph's fixed dimensions (e.g. a [1, 4] export fed 2 rows): a client's
 * mistake must be a 400 naming the input, not onnxruntime's 500.
 */
export function checkFeedShapes(feeds: Record<string, HostTensor>, graphInputs: readonly TensorMeta[]): void {
  for (const g of graphInputs) {
    const t = feeds[g.name];
    if (!t || g.shape.length === 0) continue;
    if (t.dims.length !== g.shape.length || g.shape.some((d, i) => d >= 0 && d !== t.dims[i])) {
      schemaError(`input ${g.name} has shape ${fmtShape(t.dims)}, the model takes ${fmtShape(g.shape)} (-1: any size)`);
    }
  }
}

/* ----------------------------- the plan ----------------------------- */

export interface InputPlan {
  prepare(input: DecodedInput): PreparedInput;
  /**
   * Feeds straight from a lean codec's table of numbers (issue 24), when prepare() would give the
   * very same feeds for the generic decoding of that body; null otherwise (the frame misses a
   * column, names one twice, has another width...): the caller then decodes generically and
   * calls prepare(), which gives the reference answer or error.
   */
  prepareFrame(frame: NumericFrame): PreparedInput | null;
  /** Whether prepareFrame can ever answer (one float graph input fed by double/float columns): otherwise a lean decode is wasted. */
  readonly takesFrames: boolean;
  /** Feeds named by the graph's own inputs, bypassing a column signature (Open Inference tensors). */
  prepareGraphTensors(named: Record<string, unknown>): PreparedInput;
  /** Model inputs for metadata endpoints. */
  describeInputs(): Array<{ name: string; datatypeOf: string; shape: number[] }>;
}

function graphType(meta: TensorMeta): ElementType {
  if (meta.type === 'unknown') throw new DriftwatchError('DW_ERR_MODEL_INVALID', `graph input ${meta.name} is not a tensor; only tensor inputs are supported`);
  return meta.type;
}

export function buildInputPlan(signature: Signature | null, graphInputs: readonly TensorMeta[]): InputPlan {
  const inputs = signature?.inputs ?? null;
  if (graphInputs.length === 0) throw new DriftwatchError('DW_ERR_MODEL_INVALID', 'the ONNX graph has no inputs');
  if (inputs?.kind === 'column') {
    const specs = inputs.specs as ColumnSpec[];
    if (graphInputs.length > 1) {
      const names = new Set(specs.map((s) => s.name));
      const unfed = graphInputs.filter((g) => !names.has(g.name));
      if (unfed.length) {
        throw new DriftwatchError('DW_ERR_MODEL_INVALID', `the graph has inputs ${pyList(unfed.map((g) => g.name))} that no signature column feeds`);
      }
    }
  }
  // The common case (one float graph input fed by double/float columns) has a fast path for
  // frames: no column table is built, cells go straight from the parsed rows into the matrix.
  const g0 = graphInputs[0]!;
  const specNames = inputs?.kind === 'column' ? inputs.specs.map((s, i) => s.name ?? String(i)) : null;
  const numericMatrix =
    inputs?.kind === 'column' &&
    graphInputs.length === 1 &&
    (g0.type === 'float32' || g0.type === 'float64') &&
    (inputs.specs as ColumnSpec[]).every((s) => s.type === 'double' || s.type === 'float') &&
    !(g0.shape.length === 2 && g0.shape[1]! >= 0 && g0.shape[1] !== inputs.specs.length);
  const frameSpecs = numericMatrix ? (inputs.specs as ColumnSpec[]).map((s, i) => s.name ?? String(i)) : [];
  return {
    takesFrames: numericMatrix,
    prepareFrame(frame) {
      return numericMatrix ? prepareFrameMatrix(frame, frameSpecs, g0) : null;
    },
    prepare(input) {
      if (input.kind === 'records' && inputs?.kind !== 'column') {
        // A data frame after all (MLflow builds one from records): as rows, named by the keys.
        const t = tableFromRecords(input.records, null);
        input = { kind: 'frame', columns: t.names, rows: Array.from({ length: t.n }, (_, i) => t.cols.map((c) => c[i])) };
      }
      if (inputs?.kind === 'tensor') return prepareTensors(input, inputs, graphInputs);
      if (inputs?.kind === 'column') {
        if (input.kind === 'frame' && numericMatrix) {
          const fast = prepareNumericFrame(input.columns, input.rows, inputs.specs as ColumnSpec[], graphInputs[0]!);
          if (fast) return fast;
        }
        return prepareColumns(toTable(input, specNames), inputs.specs as ColumnSpec[], graphInputs);
      }
      // No signature: tabular input is used as sent; raw values go to the graph as tensors.
      if (
        input.kind !== 'raw' ||
        (graphInputs.length > 1 &&
          isPlainObject(input.value) &&
          Object.keys(input.value).every((k) => graphInputs.some((g) => g.name === k)) &&
          Object.values(input.value).every((v) => Array.isArray(v) && v.every(isScalar)))
      ) {
        return prepareColumns(toTable(input), null, graphInputs);
      }
      return prepareTensors(input, null, graphInputs);
    },
    prepareGraphTensors(named) {
      return prepareTensors({ kind: 'raw', value: named }, inputs?.kind === 'tensor' ? inputs : null, graphInputs);
    },
    describeInputs() {
      if (inputs?.kind === 'column') {
        return (inputs.specs as ColumnSpec[]).map((s, i) => ({ name: s.name ?? String(i), datatypeOf: s.type, shape: [-1] }));
      }
      if (inputs?.kind === 'tensor') {
        return (inputs.specs as TensorSpec[]).map((s, i) => ({ name: s.name ?? graphInputs[i]?.name ?? String(i), datatypeOf: s.dtype, shape: s.shape }));
      }
      return graphInputs.map((g) => ({ name: g.name, datatypeOf: g.type, shape: g.shape }));
    },
  };
}

function prepareColumns(table: Table, specs: ColumnSpec[] | null, graphInputs: readonly TensorMeta[]): PreparedInput {
  let names = table.names;
  let cols = table.cols;
  if (specs) {
    const expected = specs.map((s, i) => s.name ?? String(i));
    if (names === null) {
      // Unnamed columns: positional, but only when the count leaves no doubt.
      if (cols.length !== specs.length && table.n > 0) {
        schemaError(
          `got ${cols.length} unnamed columns, the model expects ${specs.length}: ${pyList(expected)}; send column names or exactly that many values per row`,
        );
      }
      names = expected.slice(0, cols.length);
    }
    const index = new Map<string, number>();
    names.forEach((n, j) => {
      // pandas keeps repeated names; a repeated signature column cannot be one input.
      if (index.has(n) && expected.includes(n)) schemaError(`column ${n} appears more than once`);
      index.set(n, j);
    });
    // The cast comes first, as in MLflow (cast_df_types_according_to_schema while parsing, then
    // _enforce_schema): a bad value in a present column wins over a missing column.
    specs.forEach((s, i) => {
      const j = index.get(expected[i]!);
      if (j !== undefined) checkColumnType(s.type, table.cols[j]!, expected[i]!);
    });
    // Missing even when there are no rows: an empty frame without the columns is missing them
    // (pd.DataFrame([]) has none); an empty frame with them is an empty answer.
    const missing = specs.filter((s, i) => s.required && !index.has(expected[i]!)).map((s, i) => s.name ?? String(i));
    if (missing.length) {
      const extra = [...names.filter((n) => !expected.includes(n)), ...(table.extras ?? [])];
      schemaError(`Model is missing inputs ${pyList(missing)}.${extra.length ? ` Note that there were extra inputs: ${pyList(extra)}` : ''}`);
    }
    cols = specs.map((_, i) => {
      const j = index.get(expected[i]!);
      return j === undefined ? new Array<unknown>(table.n).fill(null) : table.cols[j]!;
    });
    names = expected;
  } else if (names === null) {
    names = cols.map((_, j) => String(j));
  }
  const n = table.n;
  const feeds: Record<string, HostTensor> = {};
  if (graphInputs.length === 1) {
    // MLflow feeds a one-input graph with the whole frame as a matrix (DataFrame.values).
    const g = graphInputs[0]!;
    const type = graphType(g);
    const k = cols.length;
    const data = allocate(type, n * k);
    for (let j = 0; j < k; j++) {
      const col = cols[j]!;
      const colName = names[j]!;
      if (type === 'float32' || type === 'float64') {
        const f = data as Float32Array;
        for (let i = 0; i < n; i++) {
          const v = col[i];
          f[i * k + j] = typeof v === 'number' ? v : toNumber(v, colName, i);
        }
      } else {
        for (let i = 0; i < n; i++) store(type, data, i * k + j, col[i], colName, i);
      }
    }
    if (g.shape.length === 2 && g.shape[1]! >= 0 && g.shape[1] !== k) {
      schemaError(`the model's input ${g.name} takes ${g.shape[1]} columns per row, got ${k}`);
    }
    feeds[g.name] = { type, data, dims: g.shape.length === 1 ? [n * k] : [n, k] };
  } else {
    const index = new Map(names.map((nm, j) => [nm, j]));
    for (const g of graphInputs) {
      const j = index.get(g.name);
      if (j === undefined) schemaError(`Model is missing inputs ${pyList([g.name])}.`);
      const type = graphType(g);
      const data = allocate(type, n);
      const col = cols[j]!;
      for (let i = 0; i < n; i++) store(type, data, i, col[i], g.name, i);
      feeds[g.name] = { type, data, dims: g.shape.length >= 2 ? [n, 1] : [n] };
    }
  }
  return { feeds, rows: n, outputStyle: 'records', columnNames: names };
}

/**
 * Named frame -> [N, k] float matrix, validating as it copies. Returns null to fall back to the
 * general path (unnamed or missing columns, ragged rows), which produces the precise error.
 */
function prepareNumericFrame(columns: string[] | null, rows: unknown[][], specs: ColumnSpec[], g: TensorMeta): PreparedInput | null {
  if (columns === null) return null;
  const k = specs.length;
  const src = new Int32Array(k);
  for (let j = 0; j < k; j++) {
    const idx = columns.indexOf(specs[j]!.name ?? String(j));
    if (idx < 0 || columns.lastIndexOf(specs[j]!.name ?? String(j)) !== idx) return null;
    src[j] = idx;
  }
  const n = rows.length;
  const width = columns.length;
  const data = g.type === 'float32' ? new Float32Array(n * k) : new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    const row = rows[i]!;
    if (row.length !== width) return null;
    for (let j = 0; j < k; j++) {
      const v = row[src[j]!];
      data[i * k + j] = typeof v === 'number' ? v : toNumber(v, specs[j]!.name ?? String(j), i);
    }
  }
  return {
    feeds: { [g.name]: { type: g.type as 'float32', data, dims: g.shape.length === 1 ? [n * k] : [n, k] } },
    rows: n,
    outputStyle: 'records',
    columnNames: specs.map((s, j) => s.name ?? String(j)),
  };
}

/**
 * A lean frame -> the [N, k] float matrix prepareNumericFrame (named columns) or prepareColumns
 * (positional columns, records) would build from the same cells: every cell is a number there,
 * so no cast can fail. Named: each signature column exactly once (others are dropped);
 * positional: exactly k columns and at least one row (no rows positionally is the missing-columns
 * error). Anything else is null, for the generic path to answer.
 */
function prepareFrameMatrix(frame: NumericFrame, expected: readonly string[], g: TensorMeta): PreparedInput | null {
  const k = expected.length;
  const { rows: n, width, values } = frame;
  let identity = width === k;
  const src = new Int32Array(k);
  if (frame.names === null) {
    if (width !== k || n === 0) return null;
    for (let j = 0; j < k; j++) src[j] = j;
  } else {
    if (frame.names.length !== width) return null;
    for (let j = 0; j < k; j++) {
      const idx = frame.names.indexOf(expected[j]!);
      if (idx < 0 || frame.names.lastIndexOf(expected[j]!) !== idx) return null;
      src[j] = idx;
      if (idx !== j) identity = false;
    }
  }
  if (values.length !== n * width) return null;
  const data = g.type === 'float32' ? new Float32Array(n * k) : new Float64Array(n * k);
  // TypedArray.set converts each double as an element assignment does (float32: round to nearest).
  if (identity) data.set(values);
  else {
    for (let i = 0; i < n; i++) {
      const base = i * width;
      const at = i * k;
      for (let j = 0; j < k; j++) data[at + j] = values[base + src[j]!]!;
    }
  }
  return {
    feeds: { [g.name]: { type: g.type as 'float32', data, dims: g.shape.length === 1 ? [n * k] : [n, k] } },
    rows: n,
    outputStyle: 'records',
    columnNames: [...expected],
  };
}

/** Shape of a nested array, following first elements; bounded depth, no recursion on user data. */
function shapeOf(value: unknown, name: string): number[] {
  const dims: number[] = [];
  let cur: unknown = value;
  while (Array.isArray(cur)) {
    if (dims.length >= MAX_RANK) schemaError(`input ${name} is nested deeper than ${MAX_RANK} levels`);
    dims.push(cur.length);
    if (cur.length === 0) break;
    cur = cur[0];
  }
  return dims;
}

/**
 * No body within the size limits holds more values than this (2 bytes per value at best, and
 * serve.maxBodyBytes tops out at 2 GiB); a larger shape, read off first elements, is a lie.
 */
const MAX_TENSOR_ELEMENTS = 2 ** 30;

function flattenInto(value: unknown, dims: number[], type: ElementType, name: string): HostTensor['data'] {
  const total = dims.reduce((a, b) => a * b, 1);
  // Checked against the bytes actually received before allocating: the shape comes from first
  // elements only, so `[[20000 values], [], [], ...]` would otherwise claim gigabytes.
  if (total > MAX_TENSOR_ELEMENTS || total > countLeavesUpTo(value, total)) {
    schemaError(`input ${name} is ragged or larger than its data: shape ${fmtShape(dims)} needs ${total} values`);
  }
  const data = allocate(type, total);
  let at = 0;
  // Iterative walk with an explicit stack: a ragged or hostile body cannot overflow the call stack.
  const stack: Array<{ arr: unknown[]; level: number; i: number }> = [];
  if (dims.length === 0) {
    store(type, data, 0, value, name, 0);
    return data;
  }
  stack.push({ arr: value as unknown[], level: 0, i: 0 });
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    if (top.i === 0 && top.arr.length !== dims[top.level]) {
      schemaError(`input ${name} is ragged: expected ${dims[top.level]} entries at depth ${top.level}, found ${top.arr.length}`);
    }
    if (top.i >= top.arr.length) {
      stack.pop();
      continue;
    }
    const v = top.arr[top.i++];
    if (top.level === dims.length - 1) {
      if (Array.isArray(v)) schemaError(`input ${name} is ragged: nested deeper than its first element at depth ${top.level + 1}`);
      store(type, data, at++, v, name, Math.floor((at - 1) / Math.max(1, total / (dims[0] || 1))));
    } else {
      if (!Array.isArray(v)) schemaError(`input ${name} is ragged: expected a list at depth ${top.level + 1}`);
      stack.push({ arr: v, level: top.level + 1, i: 0 });
    }
  }
  return data;
}

/** Leaf values in a nested array, counting stops once `limit` is reached (iterative). */
function countLeavesUpTo(value: unknown, limit: number): number {
  if (!Array.isArray(value)) return 1;
  let count = 0;
  // Depth travels with each entry: the stack's length counts pending siblings, not nesting.
  const stack: Array<{ arr: unknown[]; depth: number }> = [{ arr: value, depth: 1 }];
  while (stack.length && count < limit) {
    const { arr, depth } = stack.pop()!;
    for (const v of arr) {
      if (Array.isArray(v)) {
        if (depth < MAX_RANK) stack.push({ arr: v, depth: depth + 1 });
      } else if (++count >= limit) break;
    }
  }
  return count;
}

function shapeMatches(actual: number[], expected: readonly number[]): boolean {
  if (actual.length !== expected.length) return false;
  return expected.every((d, i) => d < 0 || d === actual[i]);
}

const fmtShape = (s: readonly number[]) => `(${s.join(', ')}${s.length === 1 ? ',' : ''})`;

function prepareTensors(input: DecodedInput, schema: Schema | null, graphInputs: readonly TensorMeta[]): PreparedInput {
  const specs = (schema?.specs ?? []) as TensorSpec[];
  let named: Record<string, unknown>;
  if (input.kind !== 'raw') {
    if (input.kind === 'records') return schemaError('records are read as a data frame'); // converted by prepare()
    if (graphInputs.length !== 1) schemaError('a data frame can only feed a model with one tensor input; send {"inputs": {name: tensor, ...}}');
    named = { [graphInputs[0]!.name]: input.rows };
  } else if (isPlainObject(input.value)) {
    named = input.value;
  } else if (Array.isArray(input.value) && input.value.length > 0 && input.value.every(isPlainObject)) {
    // TF-serving "instances" as a list of dicts: stack each key across instances.
    named = Object.create(null) as Record<string, unknown>; // keys like "__proto__" or "toString" are plain names here
    let keys = 0;
    for (const inst of input.value as Array<Record<string, unknown>>) {
      for (const [k, v] of Object.entries(inst)) {
        if (!(k in named) && ++keys > MAX_UNSELECTED_COLUMNS) schemaError(`records carry more than ${MAX_UNSELECTED_COLUMNS} distinct keys`);
        ((named[k] ??= []) as unknown[]).push(v);
      }
    }
  } else {
    if (graphInputs.length !== 1) {
      schemaError(`the model has ${graphInputs.length} inputs ${pyList(graphInputs.map((g) => g.name))}: send a mapping of input name to tensor`);
    }
    named = { [graphInputs[0]!.name]: input.value };
  }
  const feeds: Record<string, HostTensor> = {};
  let rows = 0;
  graphInputs.forEach((g, idx) => {
    const spec = specs.find((s) => s.name === g.name) ?? (specs.length === graphInputs.length ? specs[idx] : undefined);
    const value = named[g.name] ?? (graphInputs.length === 1 && spec?.name ? named[spec.name] : undefined);
    if (value === undefined) {
      schemaError(`Model is missing inputs ${pyList([g.name])}. Got ${pyList(Object.keys(named))}`);
    }
    const dims = shapeOf(value, g.name);
    if (spec && !shapeMatches(dims, spec.shape)) {
      schemaError(`Shape of input ${fmtShape(dims)} does not match expected shape ${fmtShape(spec.shape)} for input ${g.name}`);
    }
    if (g.shape.length > 0 && !shapeMatches(dims, g.shape)) {
      schemaError(`Shape of input ${fmtShape(dims)} does not match the graph's shape ${fmtShape(g.shape)} for input ${g.name}`);
    }
    const type = graphType(g);
    feeds[g.name] = { type, data: flattenInto(value, dims, type, g.name), dims };
    rows = Math.max(rows, dims[0] ?? 1);
  });
  // MLflow's ONNX flavor answers a dict of arrays whenever the signature is a tensor one, even
  // for a data frame (it becomes an ndarray on the way in).
  return { feeds, rows, outputStyle: 'dict', columnNames: null };
}
