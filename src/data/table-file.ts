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

const NA = new Set(['', '#N/A', '#N/A N/A', '#NA', '-1.#IND', '-1.#QNAN', '-NaN', '-nan', '1.#IND', '1.#QNAN', '<NA>', 'N/A', 'NA', 'NULL', 'NaN', 'None', 'n/a', 'nan', 'null']);
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function bad(path: string, message: string, cause?: unknown): never {
  throw new DriftwatchError('DW_ERR_REFERENCE_DATA', `${path}: ${message}`, cause === undefined ? {} : { cause });
}

export function csvCell(raw: string): Cell {
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

export async function readTable(path: string, opts: ReadTableOptions = {}): Promise<Table> {
  let totalBytes: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) bad(path, 'is not a file');
    totalBytes = st.size;
  } catch (e) {
    if (e instanceof DriftwatchError) throw e;
    bad(path, `cannot read: ${messageOf(e)}`, e);
  }
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
        let obj: unknown;
        try {
          obj = JSON.parse(line);
        } catch (e) {
          bad(path, `line ${lineNo} is not valid JSON (${messageOf(e)}); JSON lines files hold one object per line`);
        }
        if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) bad(path, `line ${lineNo} is not a JSON object`);
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
