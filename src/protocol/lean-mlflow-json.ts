/**
 * The lean reader of MLflow JSON bodies (issue 24): the numeric shapes prediction traffic has, read
 * from the body's bytes into one Float64Array, with no JSON.parse and no JS value per row or cell.
 *
 *  - {"dataframe_split": {"columns": [names] | null, "data": [[numbers], ...], "index": [...] | null}}
 *  - {"dataframe_records": [{name: number, ...}, ...]}: every record the same keys in the same order
 *  - {"dataframe_records" | "instances" | "inputs": [[numbers], ...]}: positional rows
 *  - {"dataframe_records" | "instances" | "inputs": [numbers]}: one positional column
 *  - {"instances" | "inputs": [{name: number, ...}, ...]}: records, as above
 *  - {"instances" | "inputs": {name: [numbers], ...} | {name: number, ...}}: columns, or one row
 * plus any other top-level key ("params" included) holding any valid JSON, ignored as
 * protocol/mlflow.ts decodeMlflowJson ignores it.
 *
 * Anything else is null, and the caller takes the generic codec (the reference, with MLflow's
 * errors): invalid JSON, Python's NaN/Infinity, strings, nulls, booleans or nesting in cells, ragged
 * rows, a repeated key anywhere it could matter, a column count the data does not match, an index
 * of another length, no rows, several input keys, the LLM keys. So when this returns a frame, the
 * generic codec reads the same bytes as the same table of the same doubles
 * (test/unit/lean-mlflow-diff.test.ts holds it to that).
 * Pure: bytes in, a frame out.
 */
import { exactDecimal, MAX_EXACT_DIGITS, type NumberScan, scanJsonNumber } from './decimal.js';
import { GIVE_UP, giveUp, sameBytes } from './lean-bytes.js';
import type { NumericFrame } from './numeric-frame.js';

export type LeanMlflowFormat = 'dataframe_split' | 'dataframe_records' | 'instances' | 'inputs';

export interface LeanMlflowJson {
  /** The input key: what the generic codec would report as MlflowRequest.format (the answer is never unwrapped). */
  format: LeanMlflowFormat;
  frame: NumericFrame;
  /**
   * The body was a mapping of column name to values (instances / inputs as `{name: [numbers]}` or
   * `{name: number}`), not a list of rows. The capture side needs it: the generic reading of such a
   * body whose every column is filtered out is one empty row, not one per value.
   */
  byColumn: boolean;
}

// Bytes the scanner looks at: module constants, not imports, because V8 folds a module's own
// constants into the hot loops but loads an imported binding at every use (measured: a 100-row
// answer took 31 instead of 24 us with these imported from one shared module).
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

const isWs = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const isDigit = (c: number) => c >= ZERO && c <= NINE;

/** Nesting a skipped value may have: deeper is left to the generic codec. */
const MAX_SKIP_DEPTH = 64;

/** A hex digit of a \u escape. */
const isHex = (c: number) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

/** The table being read: a growing Float64Array and its shape. */
interface Table {
  values: Float64Array;
  count: number;
  rows: number;
  width: number;
  names: string[] | null;
}

class Scanner {
  i = 0;
  constructor(readonly b: Buffer) {}

  /**
   * Skips white space; the byte there (not consumed), -1 at the end. Each reader has its own copy
   * of these two moves on purpose: as one method of a shared base class they saw both readers'
   * objects (the capture side runs both) and went polymorphic, which cost a 100-row answer about
   * 40% (measured). One load per byte, the end found by the undefined past it.
   */
  ws(): number {
    const b = this.b;
    let i = this.i;
    for (;;) {
      const c = b[i];
      if (c === undefined) {
        this.i = i;
        return -1;
      }
      if (!isWs(c)) {
        this.i = i;
        return c;
      }
      i++;
    }
  }

  /** Skips white space and consumes c, or gives up. */
  expect(c: number): void {
    if (this.ws() !== c) giveUp();
    this.i++;
  }
  /**
   * A string token at the cursor (on its opening quote), decoded exactly as JSON.parse of the
   * body's UTF-8 text decodes it: plain runs straight from the bytes, anything with an escape
   * through JSON.parse of the token alone (rare: key names). Without `decode`, only validated.
   */
  str(decode = true): string {
    const b = this.b;
    const start = this.i + 1;
    let i = start;
    let escaped = false;
    let ascii = true;
    for (;;) {
      if (i >= b.length) giveUp();
      const c = b[i]!;
      if (c === QUOTE) break;
      if (c < 0x20) giveUp(); // a raw control character: JSON.parse refuses the body
      if (c >= 0x80) ascii = false;
      else if (c === BACKSLASH) {
        escaped = true;
        const e = b[i + 1];
        if (e === 0x75) {
          for (let k = 2; k < 6; k++) if (!isHex(b[i + k] ?? 0)) giveUp();
          i += 6;
          continue;
        }
        if (e !== QUOTE && e !== BACKSLASH && e !== 0x2f && e !== 0x62 && e !== 0x66 && e !== 0x6e && e !== 0x72 && e !== 0x74) giveUp();
        i += 2;
        continue;
      }
      i++;
    }
    this.i = i + 1;
    if (!decode) return '';
    if (escaped) return JSON.parse(b.toString('utf8', start - 1, i + 1)) as string;
    return ascii ? b.toString('latin1', start, i) : b.toString('utf8', start, i);
  }

  /** scanJsonNumber's answer, reused for every number. */
  readonly scan: NumberScan = { end: 0, value: Number.NaN };

  /** A JSON number at the cursor, as the exact double JSON.parse reads; anything else gives up. */
  num(): number {
    const out = this.scan;
    const start = this.i;
    if (!scanJsonNumber(this.b, start, out)) giveUp();
    this.i = out.end;
    // NaN: too many digits or a far exponent for the fast paths; Number() on the token's text is
    // the same correctly rounded conversion JSON.parse makes.
    return Number.isNaN(out.value) ? Number(this.b.toString('latin1', start, out.end)) : out.value;
  }

  /** Skips any valid JSON value (validating it); Python's NaN/Infinity and deep nesting give up. */
  skip(depth: number): void {
    const c = this.ws();
    if (c === QUOTE) {
      this.str(false);
      return;
    }
    if (c === MINUS || isDigit(c)) {
      this.num();
      return;
    }
    if (c === LBRACKET || c === LBRACE) {
      if (depth >= MAX_SKIP_DEPTH) giveUp();
      const close = c === LBRACKET ? RBRACKET : RBRACE;
      this.i++;
      if (this.ws() === close) {
        this.i++;
        return;
      }
      for (;;) {
        if (close === RBRACE) {
          if (this.ws() !== QUOTE) giveUp();
          this.str(false);
          this.expect(COLON);
        }
        this.skip(depth + 1);
        const d = this.ws();
        this.i++;
        if (d === close) return;
        if (d !== COMMA) giveUp();
      }
    }
    if (this.word('true') || this.word('false') || this.word('null')) return;
    giveUp();
  }

  /** A literal at the cursor (true, false, null), consumed when present. */
  word(w: string): boolean {
    const b = this.b;
    for (let k = 0; k < w.length; k++) if (b[this.i + k] !== w.charCodeAt(k)) return false;
    this.i += w.length;
    return true;
  }

  /** An array's elements counted, each skipped (a dataframe_split index). */
  countArray(): number {
    this.expect(LBRACKET);
    if (this.ws() === RBRACKET) {
      this.i++;
      return 0;
    }
    let n = 0;
    for (;;) {
      this.skip(1);
      n++;
      const d = this.ws();
      this.i++;
      if (d === RBRACKET) return n;
      if (d !== COMMA) giveUp();
    }
  }

  /** A list of column names (strings only: the generic codec turns other names into text its own way). */
  names(): string[] {
    this.expect(LBRACKET);
    const out: string[] = [];
    if (this.ws() === RBRACKET) {
      this.i++;
      return out;
    }
    for (;;) {
      if (this.ws() !== QUOTE) giveUp();
      out.push(this.str());
      const d = this.ws();
      this.i++;
      if (d === RBRACKET) return out;
      if (d !== COMMA) giveUp();
    }
  }

  push(t: Table, v: number): void {
    if (t.count === t.values.length) {
      const grown = new Float64Array(t.values.length * 2);
      grown.set(t.values);
      t.values = grown;
    }
    t.values[t.count++] = v;
  }

  /**
   * The common number read inline: [-](0|[1-9]digits)[.digits] with at most 15 digits (an exact
   * integer mantissa, one exact division), ending before a byte that cannot continue a number.
   * True when read (pushed, the cursor after it); false with the cursor unmoved for anything else
   * (an exponent, more digits, no number at all), which num() then reads or refuses.
   */
  quick(t: Table): boolean {
    const b = this.b;
    let i = this.i;
    let c = b[i] ?? -1;
    const neg = c === MINUS;
    if (neg) c = b[++i] ?? -1;
    let mant = 0;
    let exp = 0;
    let digits = 0;
    if (c === ZERO) {
      c = b[++i] ?? -1;
      digits = 1;
    } else
      while (isDigit(c)) {
        mant = mant * 10 + (c - ZERO);
        digits++;
        c = b[++i] ?? -1;
      }
    if (c === DOT && digits > 0) {
      c = b[++i] ?? -1;
      if (!isDigit(c)) return false; // "1." is no number
      do {
        mant = mant * 10 + (c - ZERO);
        exp--;
        digits++;
        c = b[++i] ?? -1;
      } while (isDigit(c));
    }
    if (digits === 0 || digits > MAX_EXACT_DIGITS || c === DOT || c === 0x65 || c === 0x45 || isDigit(c)) return false;
    // At most 15 digits: an exact mantissa and 10^-exp with -exp <= 15, Clinger's fast path.
    const v = exactDecimal(mant, exp);
    this.push(t, neg ? -v : v);
    this.i = i;
    return true;
  }

  /** A number cell at the cursor (after whitespace); strings, nulls, literals and nesting give up. */
  cell(t: Table): void {
    const c = this.ws();
    if (c !== MINUS && !isDigit(c)) giveUp();
    this.push(t, this.num());
  }

  /** One row `[n, n, ...]` at the cursor; the first row sets the width, the others must match it. */
  row(t: Table): void {
    this.i++; // the '['
    let n = 0;
    if (this.ws() === RBRACKET) this.i++;
    else {
      for (;;) {
        // The common cell inline (quick), anything else (white space first, an exponent, many
        // digits, not a number) through cell(), which reads it or gives up.
        if (!this.quick(t)) this.cell(t);
        n++;
        const d = this.ws();
        this.i++;
        if (d === RBRACKET) break;
        if (d !== COMMA) giveUp();
      }
    }
    if (t.rows === 0) t.width = n;
    else if (n !== t.width) giveUp();
    if (n === 0) giveUp();
    t.rows++;
  }

  /**
   * One record `{"k": n, ...}` at the cursor. The first sets the names; the others must have the
   * same keys in the same order (compared on the bytes first, decoded only when they differ).
   */
  record(t: Table, keys: Array<[number, number]>): void {
    this.i++; // the '{'
    const first = t.rows === 0;
    const names = t.names!;
    let j = 0;
    if (this.ws() === RBRACE) giveUp();
    for (;;) {
      if (this.ws() !== QUOTE) giveUp();
      const at = this.i;
      if (first) {
        const name = this.str();
        if (names.includes(name)) giveUp(); // JSON.parse keeps the last of a repeated key
        names.push(name);
        keys.push([at, this.i]);
      } else {
        if (j >= names.length) giveUp();
        const [s, e] = keys[j]!;
        if (!this.sameBytes(s, e)) {
          if (this.str() !== names[j]) giveUp();
        }
      }
      j++;
      this.expect(COLON);
      this.ws();
      if (!this.quick(t)) this.cell(t);
      const d = this.ws();
      this.i++;
      if (d === RBRACE) break;
      if (d !== COMMA) giveUp();
    }
    if (first) t.width = names.length;
    else if (j !== names.length) giveUp();
    t.rows++;
  }

  /** Whether the bytes at the cursor repeat b[s..e) (a key token); on a match the cursor moves past them. */
  sameBytes(s: number, e: number): boolean {
    if (!sameBytes(this.b, s, e, this.i)) return false;
    this.i += e - s;
    return true;
  }

  /**
   * A list of rows, of records (when allowed) or of numbers at the cursor. The kind is set by the
   * first element; a list that mixes kinds, or is empty, gives up.
   */
  table(records: boolean, scalars: boolean): Table {
    this.expect(LBRACKET);
    const t: Table = { values: new Float64Array(Math.max(16, Math.min(this.b.length >> 2, 1 << 20))), count: 0, rows: 0, width: 0, names: null };
    const first = this.ws();
    const kind = first === LBRACKET ? LBRACKET : first === LBRACE && records ? LBRACE : (first === MINUS || isDigit(first)) && scalars ? ZERO : -1;
    if (kind < 0) giveUp(); // empty, or a kind not read here
    const keys: Array<[number, number]> = [];
    if (kind === LBRACE) t.names = [];
    for (;;) {
      const c = this.ws();
      if (kind === LBRACKET) {
        if (c !== LBRACKET) giveUp();
        this.row(t);
      } else if (kind === LBRACE) {
        if (c !== LBRACE) giveUp();
        this.record(t, keys);
      } else {
        this.cell(t);
        t.rows++;
        t.width = 1;
      }
      const d = this.ws();
      this.i++;
      if (d === RBRACKET) return t;
      if (d !== COMMA) giveUp();
    }
  }

  /**
   * instances / inputs as a mapping of column name to values, as the input plan reads one
   * (tableFromColumns): every value a non-empty list of numbers, all of one length, or every value
   * a number (one row). Read column after column, then laid out row-major.
   */
  columnMap(): Table {
    this.expect(LBRACE);
    const t: Table = { values: new Float64Array(Math.max(16, Math.min(this.b.length >> 2, 1 << 20))), count: 0, rows: 0, width: 0, names: [] };
    const names = t.names!;
    let n = -1;
    let scalars = false;
    if (this.ws() === RBRACE) giveUp();
    for (;;) {
      if (this.ws() !== QUOTE) giveUp();
      const name = this.str();
      if (names.includes(name)) giveUp(); // JSON.parse keeps the last of a repeated key
      names.push(name);
      this.expect(COLON);
      if (this.ws() === LBRACKET) {
        if (scalars) giveUp(); // lists and scalars mixed: the scalars are repeated there
        const before = t.count;
        this.i++;
        if (this.ws() === RBRACKET) giveUp();
        for (;;) {
          this.cell(t);
          const d = this.ws();
          this.i++;
          if (d === RBRACKET) break;
          if (d !== COMMA) giveUp();
        }
        if (n >= 0 && t.count - before !== n) giveUp();
        n = t.count - before;
      } else {
        if (n >= 0) giveUp();
        scalars = true;
        this.cell(t);
      }
      const d = this.ws();
      this.i++;
      if (d === RBRACE) break;
      if (d !== COMMA) giveUp();
    }
    const w = names.length;
    t.width = w;
    if (scalars) {
      t.rows = 1;
      return t;
    }
    const columnMajor = t.values;
    const values = new Float64Array(n * w);
    for (let j = 0; j < w; j++) for (let i = 0; i < n; i++) values[i * w + j] = columnMajor[j * n + i]!;
    t.values = values;
    t.count = n * w;
    t.rows = n;
    return t;
  }

  /** The object under dataframe_split: "data" rows, optional "columns" (strings or null) and "index" (a list or null). */
  split(): Table {
    this.expect(LBRACE);
    let data: Table | null = null;
    let columns: string[] | null = null;
    let index = -1;
    const seen: string[] = [];
    if (this.ws() === RBRACE) giveUp();
    for (;;) {
      if (this.ws() !== QUOTE) giveUp();
      const key = this.str();
      if (seen.includes(key)) giveUp();
      seen.push(key);
      this.expect(COLON);
      const c = this.ws();
      const isNull = c === 0x6e && this.word('null');
      if (key === 'data') {
        if (isNull) giveUp();
        data = this.table(false, false);
      } else if (key === 'columns') {
        if (!isNull) columns = this.names();
      } else if (key === 'index') {
        if (!isNull) index = this.countArray();
      } else giveUp();
      const d = this.ws();
      this.i++;
      if (d === RBRACE) break;
      if (d !== COMMA) giveUp();
    }
    if (data === null) giveUp();
    if (columns !== null && columns.length !== data.width) giveUp();
    if (index >= 0 && index !== data.rows) giveUp();
    data.names = columns;
    return data;
  }
}

const LLM_KEYS: ReadonlySet<string> = new Set(['messages', 'prompt', 'input']);

/** The body as a frame when it has one of the lean shapes; null: take the generic codec. */
export function decodeLeanMlflowJson(body: Buffer): LeanMlflowJson | null {
  const s = new Scanner(body);
  try {
    s.expect(LBRACE);
    let format: LeanMlflowFormat | null = null;
    let table: Table | null = null;
    let byColumn = false;
    const seen: string[] = [];
    if (s.ws() === RBRACE) return null;
    for (;;) {
      if (s.ws() !== QUOTE) return null;
      const key = s.str();
      if (seen.includes(key) || LLM_KEYS.has(key)) return null;
      seen.push(key);
      s.expect(COLON);
      if (key === 'dataframe_split' || key === 'dataframe_records' || key === 'instances' || key === 'inputs') {
        if (format !== null) return null; // several input keys: the generic codec's error
        format = key;
        byColumn = key !== 'dataframe_split' && key !== 'dataframe_records' && s.ws() === LBRACE;
        table = key === 'dataframe_split' ? s.split() : byColumn ? s.columnMap() : s.table(true, true);
      } else s.skip(1);
      const d = s.ws();
      s.i++;
      if (d === RBRACE) break;
      if (d !== COMMA) return null;
    }
    if (s.ws() !== -1 || format === null || table === null) return null;
    const values = table.count * 2 < table.values.length ? table.values.slice(0, table.count) : table.values.subarray(0, table.count);
    return { format, frame: { names: table.names, rows: table.rows, width: table.width, values }, byColumn };
  } catch (e) {
    if (e === GIVE_UP) return null;
    // JSON.parse of an escaped key token the scanner already validated cannot fail; a RangeError
    // (a huge body's allocation) is the generic path's to meet.
    if (e instanceof SyntaxError || e instanceof RangeError) return null;
    throw e;
  }
}
