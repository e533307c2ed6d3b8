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
import type { NumericFrame } from './numeric-frame.js';

export type LeanMlflowFormat = 'dataframe_split' | 'dataframe_records' | 'instances' | 'inputs';

export interface LeanMlflowJson {
  /** The input key: what the generic codec would report as MlflowRequest.format (the answer is never unwrapped). */
  format: LeanMlflowFormat;
  frame: NumericFrame;
}

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i); // exact doubles up to 1e22
/** Above this an integer mantissa times 10 plus a digit may leave the exact doubles (2^53). */
const MANTISSA_LIMIT = 900719925474099;
/** Nesting a skipped value may have: deeper is left to the generic codec. */
const MAX_SKIP_DEPTH = 64;

// Bytes the scanner looks at.
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

const isWs = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const isDigit = (c: number) => c >= ZERO && c <= NINE;
const isHex = (c: number) => (c >= ZERO && c <= NINE) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

/** Thrown inside the scanner to give up; never escapes decodeLeanMlflowJson. */
const GIVE_UP = Symbol('lean-mlflow-json: not a lean body');

function giveUp(): never {
  throw GIVE_UP;
}

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

  ws(): number {
    const b = this.b;
    let i = this.i;
    while (i < b.length && isWs(b[i]!)) i++;
    this.i = i;
    return i < b.length ? b[i]! : -1;
  }

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

  /** A JSON number at the cursor, as the exact double JSON.parse reads; anything else gives up. */
  num(): number {
    const b = this.b;
    const start = this.i;
    let i = start;
    let neg = false;
    if (b[i] === MINUS) {
      neg = true;
      i++;
    }
    let c = b[i] ?? -1;
    let mant = 0;
    let exp = 0;
    let exact = true;
    if (c === ZERO) {
      c = b[++i] ?? -1;
      if (isDigit(c)) giveUp(); // leading zero
    } else if (c > ZERO && c <= NINE) {
      do {
        // Past the limit digits are dropped: only the slow path reads such a number.
        if (mant < MANTISSA_LIMIT) mant = mant * 10 + (c - ZERO);
        else exact = false;
        c = b[++i] ?? -1;
      } while (isDigit(c));
    } else giveUp();
    if (c === DOT) {
      c = b[++i] ?? -1;
      if (!isDigit(c)) giveUp();
      do {
        if (mant < MANTISSA_LIMIT) {
          mant = mant * 10 + (c - ZERO);
          exp--;
        } else exact = false;
        c = b[++i] ?? -1;
      } while (isDigit(c));
    }
    if (c === 0x65 || c === 0x45) {
      c = b[++i] ?? -1;
      let eneg = false;
      if (c === MINUS || c === PLUS) {
        eneg = c === MINUS;
        c = b[++i] ?? -1;
      }
      if (!isDigit(c)) giveUp();
      let e = 0;
      do {
        if (e < 100000) e = e * 10 + (c - ZERO);
        c = b[++i] ?? -1;
      } while (isDigit(c));
      exp += eneg ? -e : e;
    }
    this.i = i;
    // Clinger's fast path: an integer mantissa below 2^53 and a power of ten that is an exact
    // double make one correctly rounded multiplication or division, which is the nearest double
    // to the decimal, i.e. what JSON.parse gives. Everything else is read by Number() (the same
    // correctly rounded conversion), on the token's text.
    if (exact && exp >= -22 && exp <= 22) {
      const v = exp < 0 ? mant / POW10[-exp]! : mant * POW10[exp]!;
      return neg ? -v : v;
    }
    return Number(b.toString('latin1', start, i));
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
      while (c >= ZERO && c <= NINE) {
        mant = mant * 10 + (c - ZERO);
        digits++;
        c = b[++i] ?? -1;
      }
    if (c === DOT && digits > 0) {
      c = b[++i] ?? -1;
      if (c < ZERO || c > NINE) return false; // "1." is no number
      do {
        mant = mant * 10 + (c - ZERO);
        exp--;
        digits++;
        c = b[++i] ?? -1;
      } while (c >= ZERO && c <= NINE);
    }
    if (digits === 0 || digits > 15 || c === DOT || c === 0x65 || c === 0x45 || (c >= ZERO && c <= NINE)) return false;
    const v = exp < 0 ? mant / POW10[-exp]! : mant;
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
      const b = this.b;
      for (;;) {
        // The common cell inline: [-]digits[.digits] with a short mantissa, then ',' or ']'.
        // Anything else (whitespace, an exponent, many digits, not a number) goes through
        // cell() from the cell's start, which reads it or gives up.
        const start = this.i;
        let i = start;
        let c = b[i]!;
        const neg = c === MINUS;
        if (neg) c = b[++i]!;
        let mant = 0;
        let exp = 0;
        let digits = 0;
        if (c === ZERO) {
          c = b[++i]!;
          digits = 1;
        } else
          while (c >= ZERO && c <= NINE) {
            mant = mant * 10 + (c - ZERO);
            digits++;
            c = b[++i]!;
          }
        let bareDot = false;
        if (c === DOT && digits > 0) {
          bareDot = true;
          c = b[++i]!;
          while (c >= ZERO && c <= NINE) {
            mant = mant * 10 + (c - ZERO);
            exp--;
            digits++;
            bareDot = false;
            c = b[++i]!;
          }
        }
        if (digits > 0 && digits <= 15 && !bareDot && (c === COMMA || c === RBRACKET)) {
          const v = exp < 0 ? mant / POW10[-exp]! : mant;
          this.push(t, neg ? -v : v);
          this.i = i + 1;
          n++;
          if (c === RBRACKET) break;
          continue;
        }
        this.i = start;
        this.cell(t);
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
    const b = this.b;
    const i = this.i;
    const n = e - s;
    if (i + n > b.length) return false;
    for (let k = 0; k < n; k++) if (b[i + k] !== b[s + k]) return false;
    this.i = i + n;
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
    const byColumn = t.values;
    const values = new Float64Array(n * w);
    for (let j = 0; j < w; j++) for (let i = 0; i < n; i++) values[i * w + j] = byColumn[j * n + i]!;
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
        table = key === 'dataframe_split' ? s.split() : key !== 'dataframe_records' && s.ws() === LBRACE ? s.columnMap() : s.table(true, true);
      } else s.skip(1);
      const d = s.ws();
      s.i++;
      if (d === RBRACE) break;
      if (d !== COMMA) return null;
    }
    if (s.ws() !== -1 || format === null || table === null) return null;
    const values = table.count * 2 < table.values.length ? table.values.slice(0, table.count) : table.values.subarray(0, table.count);
    return { format, frame: { names: table.names, rows: table.rows, width: table.width, values } };
  } catch (e) {
    if (e === GIVE_UP) return null;
    // JSON.parse of an escaped key token the scanner already validated cannot fail; a RangeError
    // (a huge body's allocation) is the generic path's to meet.
    if (e instanceof SyntaxError || e instanceof RangeError) return null;
    throw e;
  }
}
