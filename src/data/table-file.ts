/**
 * Reads a data file (CSV with a header row, or JSON lines) into rows of cells, streaming line by
 * line so a large training set is read without holding its text twice, with progress reported to
 * the caller. Used by `driftwatch reference build` (and the offline drift command).
 *
 * Typing follows pandas.read_csv's defaults, as the scoring server's CSV decoding does: a decimal
 * number is a number, pandas' NA words are missing, everything else is a string. JSON lines keep
 * JSON's types (nested values become their JSON text: a profile counts them as categories).
 */
import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { DriftwatchError, messageOf } from '../errors.js';
import type { Cell } from '../stats/feature-profile.js';
import { CSV_NA } from '../protocol/mlflow.js';

export type TableRow = Record<string, Cell>;

export interface Table {
  format: 'csv' | 'jsonl';
  columns: string[];
  rows: TableRow[];
}

export interface ReadTableOptions {
  /** Called every progressEvery rows (and at the end) with rows read and bytes read so far. */
  onProgress?: (rows: number, bytes: number, totalBytes: number) => void;
  progressEvery?: number;
  /** Stop with a clear error beyond this many rows (memory guard). */
  maxRows?: number;
}

/** pandas' missing-value words, as the scoring server's CSV decoding uses them. */
const NA = CSV_NA;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function bad(path: string, message: string, cause?: unknown): never {
  throw new DriftwatchError('DW_ERR_REFERENCE_DATA', `${path}: ${message}`, cause === undefined ? {} : { cause });
}

export function csvCell(raw: string): Cell {
  // Fast path for the common case, a plain number (millions of cells in a training set).
  const c = raw.charCodeAt(0);
  if ((c >= 48 && c <= 57) || c === 45 || c === 46 || c === 43) {
    if (DECIMAL.test(raw)) return Number(raw);
  }
  if (NA.has(raw)) return null;
  const t = raw.trim();
  return DECIMAL.test(t) ? Number(t) : raw;
}

function jsonCell(v: unknown): Cell {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  return JSON.stringify(v);
}

/**
 * Splits CSV records out of lines (RFC 4180: quoted fields may hold commas, quotes as "" and
 * newlines). Returns null while a quoted field is still open, so the caller joins the next line.
 */
export function splitCsvRecord(text: string): string[] | null {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      out.push(field);
      field = '';
    } else field += c;
  }
  if (quoted) return null;
  out.push(field);
  return out;
}

function detectFormat(path: string, firstLine: string): 'csv' | 'jsonl' {
  if (/\.(jsonl|ndjson)$/i.test(path)) return 'jsonl';
  if (/\.csv$/i.test(path)) return 'csv';
  return firstLine.trimStart().startsWith('{') ? 'jsonl' : 'csv';
}

/** The file's size, or a clear error when it is missing or not a file. */
function fileSize(path: string): number {
  try {
    const st = statSync(path);
    if (!st.isFile()) bad(path, 'is not a file');
    return st.size;
  } catch (e) {
    if (e instanceof DriftwatchError) throw e;
    bad(path, `cannot read: ${messageOf(e)}`, e);
  }
}

/** One JSON-lines record, or an error naming the line. */
function jsonObject(path: string, line: string, lineNo: number): Record<string, unknown> {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch (e) {
    bad(path, `line ${lineNo} is not valid JSON (${messageOf(e)}); JSON lines files hold one object per line`);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) bad(path, `line ${lineNo} is not a JSON object`);
  return obj as Record<string, unknown>;
}

export async function readTable(path: string, opts: ReadTableOptions = {}): Promise<Table> {
  const totalBytes = fileSize(path);
  const stream = createReadStream(path, { encoding: 'utf8' });
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  const every = opts.progressEvery ?? 100_000;
  const maxRows = opts.maxRows ?? Infinity;
  let format: 'csv' | 'jsonl' | null = null;
  let columns: string[] | null = null;
  const seen = new Set<string>();
  const rows: TableRow[] = [];
  let lineNo = 0;
  let pending = '';
  let pendingStart = 0;
  let bytes = 0;
  try {
    for await (const rawLine of lines) {
      lineNo++;
      bytes += Buffer.byteLength(rawLine) + 1;
      let line = lineNo === 1 && rawLine.charCodeAt(0) === 0xfeff ? rawLine.slice(1) : rawLine;
      format ??= detectFormat(path, line);
      if (format === 'jsonl') {
        if (line.trim() === '') continue;
        const obj = jsonObject(path, line, lineNo);
        const row: TableRow = {};
        for (const [k, v] of Object.entries(obj)) {
          row[k] = jsonCell(v);
          if (!seen.has(k)) {
            if (seen.size >= 10_000) bad(path, 'has more than 10000 distinct keys');
            seen.add(k);
          }
        }
        rows.push(row);
      } else {
        if (pending) {
          line = `${pending}\n${line}`;
          pending = '';
        } else pendingStart = lineNo;
        const fields = splitCsvRecord(line);
        if (fields === null) {
          pending = line;
          continue;
        }
        if (columns === null) {
          if (fields.length === 1 && fields[0] === '') continue;
          columns = fields.map((f) => f.trim());
          if (new Set(columns).size !== columns.length) bad(path, `the header has duplicate column names: ${columns.join(', ')}`);
          continue;
        }
        if (fields.length === 1 && fields[0] === '') continue;
        if (fields.length !== columns.length) bad(path, `line ${pendingStart} has ${fields.length} fields, the header has ${columns.length}`);
        const row: TableRow = {};
        for (let j = 0; j < columns.length; j++) row[columns[j]!] = csvCell(fields[j]!);
        rows.push(row);
      }
      if (rows.length > maxRows) bad(path, `has more than ${maxRows} rows; sample it first or raise the limit`);
      if (rows.length % every === 0 && rows.length > 0) opts.onProgress?.(rows.length, bytes, totalBytes);
    }
  } finally {
    lines.close();
    stream.destroy();
  }
  if (pending) bad(path, `line ${pendingStart} opens a quoted field that never closes`);
  if (format === null) bad(path, 'is empty');
  if (format === 'csv' && columns === null) bad(path, 'is empty: expected a header row of column names');
  opts.onProgress?.(rows.length, bytes, totalBytes);
  return { format, columns: format === 'csv' ? columns! : [...seen], rows };
}

/**
 * One column of a table, kept compact: numbers in a Float64Array while every non-missing value is
 * a number (the common case: 8 bytes a value instead of a boxed cell in a row object), otherwise
 * the cells. Missing values are counted, not stored.
 */
export interface Column {
  name: string;
  numbers: Float64Array | null;
  cells: Cell[] | null;
  length: number;
  missing: number;
}

class ColumnBuilder {
  numbers: Float64Array | null = new Float64Array(1024);
  cells: Cell[] | null = null;
  length = 0;
  missing = 0;
  constructor(readonly name: string) {}

  push(v: Cell): void {
    if (v === null || (typeof v === 'number' && Number.isNaN(v))) {
      this.missing++;
      return;
    }
    if (this.numbers) {
      if (typeof v === 'number') {
        if (this.length === this.numbers.length) {
          const grown = new Float64Array(this.numbers.length * 2);
          grown.set(this.numbers);
          this.numbers = grown;
        }
        this.numbers[this.length++] = v;
        return;
      }
      // The first non-number turns the column into cells (numbers kept as they were).
      this.cells = Array.from(this.numbers.subarray(0, this.length));
      this.numbers = null;
    }
    this.cells!.push(v);
    this.length++;
  }

  build(): Column {
    return {
      name: this.name,
      numbers: this.numbers ? this.numbers.slice(0, this.length) : null,
      cells: this.cells,
      length: this.length,
      missing: this.missing,
    };
  }
}

/**
 * Reads a data file straight into columns (no row objects), for the offline drift command on
 * millions of rows: the same formats and typing rules as readTable, parsed from raw chunks with
 * a fast path for lines without quotes.
 */
export async function readColumns(path: string, opts: ReadTableOptions = {}): Promise<{ format: 'csv' | 'jsonl'; columns: Column[]; rows: number }> {
  const totalBytes = fileSize(path);
  const every = opts.progressEvery ?? 100_000;
  const maxRows = opts.maxRows ?? Infinity;
  let format: 'csv' | 'jsonl' | null = null;
  let header: string[] | null = null;
  let builders: ColumnBuilder[] = [];
  const byName = new Map<string, ColumnBuilder>();
  let rows = 0;
  let lineNo = 0;
  let bytes = 0;
  let carry = '';
  let pending = '';
  let pendingStart = 0;

  const onLine = (raw: string): void => {
    lineNo++;
    let line = lineNo === 1 && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    format ??= detectFormat(path, line);
    if (format === 'jsonl') {
      if (line.trim() === '') return;
      const obj = jsonObject(path, line, lineNo);
      const seenHere = new Set<string>();
      for (const [k, v] of Object.entries(obj)) {
        let b = byName.get(k);
        if (!b) {
          if (byName.size >= 10_000) bad(path, 'has more than 10000 distinct keys');
          b = new ColumnBuilder(k);
          // A key first seen on row N was missing on the rows before it.
          b.missing = rows;
          byName.set(k, b);
          builders.push(b);
        }
        b.push(jsonCell(v));
        seenHere.add(k);
      }
      if (seenHere.size !== builders.length) for (const b of builders) if (!seenHere.has(b.name)) b.missing++;
      rows++;
    } else {
      if (pending) {
        line = `${pending}\n${line}`;
        pending = '';
      } else pendingStart = lineNo;
      const fields = line.includes('"') ? splitCsvRecord(line) : line.split(',');
      if (fields === null) {
        pending = line;
        return;
      }
      if (header === null) {
        if (fields.length === 1 && fields[0] === '') return;
        header = fields.map((f) => f.trim());
        if (new Set(header).size !== header.length) bad(path, `the header has duplicate column names: ${header.join(', ')}`);
        builders = header.map((h) => new ColumnBuilder(h));
        return;
      }
      if (fields.length === 1 && fields[0] === '') return;
      if (fields.length !== header.length) bad(path, `line ${pendingStart} has ${fields.length} fields, the header has ${header.length}`);
      for (let j = 0; j < fields.length; j++) builders[j]!.push(csvCell(fields[j]!));
      rows++;
    }
    if (rows > maxRows) bad(path, `has more than ${maxRows} rows; sample it first or raise the limit`);
    if (rows % every === 0 && rows > 0) opts.onProgress?.(rows, bytes, totalBytes);
  };

  const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 });
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      bytes += Buffer.byteLength(chunk);
      const text = carry + chunk;
      let start = 0;
      for (let nl = text.indexOf('\n', start); nl !== -1; nl = text.indexOf('\n', start)) {
        onLine(text.slice(start, nl));
        start = nl + 1;
      }
      carry = text.slice(start);
    }
    if (carry) onLine(carry);
  } finally {
    stream.destroy();
  }
  if (pending) bad(path, `line ${pendingStart} opens a quoted field that never closes`);
  if (format === null) bad(path, 'is empty');
  if (format === 'csv' && header === null) bad(path, 'is empty: expected a header row of column names');
  opts.onProgress?.(rows, bytes, totalBytes);
  return { format, columns: builders.map((b) => b.build()), rows };
}
