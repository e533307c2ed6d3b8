/**
 * The lean reader of MLflow answers (issue 24), for the capture side: the shapes most answers
 * have, read from the body's bytes into one Float64Array and a few arrays of strings, with no
 * JSON.parse and no JS object per row:
 *
 *  - {"predictions": [...]} (nothing else at the top level) or a bare [...];
 *  - whose rows are all numbers, or all strings/booleans, or all numeric lists of one length (1 to
 *    64), or all objects with the same keys in the same order whose values are numbers,
 *    strings/booleans or numeric lists of one length (1 to 64) each.
 *
 * Anything else is null and the caller reads the answer generically (JSON.parse): invalid JSON,
 * nulls, nesting, escapes in strings or keys, a key repeated in a row, a row that differs from the
 * first. So when this returns a table, JSON.parse reads the same bytes as the same values
 * (test/unit/lean-predictions.test.ts holds it to that). Pure: bytes in, a table out.
 */

import { type NumberScan, scanJsonNumber } from './decimal.js';
import { GIVE_UP, giveUp, sameBytes } from './lean-bytes.js';

/** Widest numeric list read as one output (the capture side splits it into name_0, name_1, ...). */
export const MAX_LEAN_VECTOR = 64;

/** One output of every row: a name, and where its values are. */
export type LeanOutput =
  /** `width` numbers per row at `offset` of the row's `stride` numbers; vector: the answer held a list. */
  | { kind: 'number'; name: string; offset: number; width: number; vector: boolean }
  /** One string or boolean per row. */
  | { kind: 'cells'; name: string; cells: Array<string | boolean> };

export interface LeanPredictions {
  rows: number;
  /** Outputs in the order of the first row's keys; a row that is not an object has one, named null. */
  outputs: LeanOutput[];
  /** rows x stride numbers, row-major. */
  values: readonly number[];
  stride: number;
  /** The rows were objects (keyed outputs), not bare values. */
  keyed: boolean;
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
const ZERO = 0x30;
const NINE = 0x39;

const isWs = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const isDigit = (c: number) => c >= ZERO && c <= NINE;

/** Node's Buffer has latin1Slice (the fast path of toString('latin1')); @types/node does not declare it. */
interface Latin1 {
  latin1Slice(start: number, end: number): string;
}

/** Bytes [a, z) as text: latin1Slice when they are ASCII (toString's argument checks cost more than short strings do). */
function decode(b: Buffer, a: number, z: number): string {
  for (let i = a; i < z; i++) if (b[i]! >= 0x80) return b.toString('utf8', a, z);
  return (b as unknown as Latin1).latin1Slice(a, z);
}

/** Distinct strings of one column remembered by their bytes. */
interface Interned {
  starts: number[];
  ends: number[];
  values: string[];
}
const MAX_INTERNED = 16;
const interned = (): Interned => ({ starts: [], ends: [], values: [] });

/** A value's kind in a row: -1 a string or boolean, 0 a number, L > 0 a numeric list of L. */
type Kind = number;

class Reader {
  i = 0;
  /**
   * Numbers read so far. A plain array of doubles, not a Float64Array: a typed array of more than
   * a few numbers lives outside the JS heap, and allocating and collecting one per answer cost
   * more than reading a one-row answer (measured).
   */
  values: number[] = [];
  /** Too many numbers needed the slow conversion: the answer is left to JSON.parse. */
  slow = false;
  /** Numbers read by Number() on their text, and all numbers read (for the share above). */
  slowCount = 0;
  numbers = 0;
  /** scanJsonNumber's answer, reused for every number. */
  readonly scan: NumberScan = { end: 0, value: Number.NaN };
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

  /** The string at the cursor (after its opening quote is seen), without escapes; [start, end) of its bytes. */
  strRange(): [number, number] {
    const b = this.b;
    const start = ++this.i;
    let i = start;
    for (;;) {
      const c = b[i];
      if (c === undefined || c === BACKSLASH || c < 0x20) giveUp();
      if (c === QUOTE) break;
      i++;
    }
    this.i = i + 1;
    return [start, i];
  }

  /**
   * The string at the cursor. `seen` holds a column's distinct values so far with where their
   * bytes are (at most MAX_INTERNED): a label repeated over rows is compared, not decoded again.
   */
  str(seen: Interned | null): string {
    const [a, z] = this.strRange();
    const b = this.b;
    if (seen !== null) {
      for (let k = 0; k < seen.values.length; k++) {
        const at = seen.starts[k]!;
        if (seen.ends[k]! - at === z - a && sameBytes(b, a, z, at)) return seen.values[k]!;
      }
    }
    const s = decode(b, a, z);
    if (seen !== null && seen.values.length < MAX_INTERNED) {
      seen.starts.push(a);
      seen.ends.push(z);
      seen.values.push(s);
    }
    return s;
  }

  /** true, false, or give up (null and anything else are the generic reading's). */
  bool(): boolean {
    const b = this.b;
    const i = this.i;
    if (b[i] === 0x74 && b[i + 1] === 0x72 && b[i + 2] === 0x75 && b[i + 3] === 0x65) {
      this.i = i + 4;
      return true;
    }
    if (b[i] === 0x66 && b[i + 1] === 0x61 && b[i + 2] === 0x6c && b[i + 3] === 0x73 && b[i + 4] === 0x65) {
      this.i = i + 5;
      return false;
    }
    return giveUp();
  }

  /** A JSON number at the cursor, as the exact double JSON.parse reads; anything else gives up. */
  num(): number {
    const out = this.scan;
    const start = this.i;
    this.numbers++;
    if (!scanJsonNumber(this.b, start, out)) giveUp();
    this.i = out.end;
    if (!Number.isNaN(out.value)) return out.value;
    // More than 20 digits, far exponents, a quotient too near a midpoint: Number() on the token's
    // text is exact (it is what JSON.parse does). A string per such number costs more than the fast
    // paths, but far exponents are common in real answers (a float32 softmax prints 2.039757e-18),
    // and leaving a whole answer to JSON.parse for one of them cost the sidecar the lean reading of
    // nearly every 100-row answer (measured in the proxy's capture worker: parseResponse was half
    // its time). Beyond a quarter of the numbers, the answer goes to JSON.parse after all.
    if (++this.slowCount > 16 && this.slowCount * 4 > this.numbers) this.slow = true;
    return Number((this.b as unknown as Latin1).latin1Slice(start, out.end));
  }

  /** A numeric list at the cursor ('[' seen): its numbers pushed, their count returned. */
  list(max: number): number {
    this.i++;
    let n = 0;
    if (this.ws() === RBRACKET) {
      this.i++;
      return 0;
    }
    for (;;) {
      const c = this.ws();
      if (c !== MINUS && !isDigit(c)) giveUp();
      if (++n > max) giveUp();
      this.values.push(this.num());
      const d = this.ws();
      this.i++;
      if (d === RBRACKET) return n;
      if (d !== COMMA) giveUp();
    }
  }

  /** A value of the given kind at the cursor: numbers pushed, a string or boolean returned. */
  value(kind: Kind, seen: Interned | null): string | boolean | null {
    const c = this.ws();
    if (kind === 0) {
      if (c !== MINUS && !isDigit(c)) giveUp();
      this.values.push(this.num());
      return null;
    }
    if (kind > 0) {
      if (c !== LBRACKET || this.list(kind) !== kind) giveUp();
      return null;
    }
    return c === QUOTE ? this.str(seen) : this.bool();
  }

  /** The kind of the value at the cursor, read as value() would read it (the first row decides). */
  kindAt(): Kind {
    const c = this.ws();
    if (c === MINUS || isDigit(c)) return 0;
    if (c === QUOTE || c === 0x74 || c === 0x66) return -1;
    if (c === LBRACKET) {
      // Look ahead without consuming: count the list's numbers on a copy of the cursor.
      const at = this.i;
      const count = this.values.length;
      const n = this.list(MAX_LEAN_VECTOR);
      this.i = at;
      this.values.length = count;
      if (n === 0) giveUp();
      return n;
    }
    return giveUp();
  }
}

function table(r: Reader): LeanPredictions | null {
  r.expect(LBRACKET);
  if (r.ws() === RBRACKET) giveUp(); // no rows: nothing to profile, the generic reading is as cheap
  const first = r.ws();
  if (first === LBRACE) return keyedRows(r);
  const kind = r.kindAt();
  const cells: Array<string | boolean> = [];
  const seen = kind < 0 ? interned() : null;
  let rows = 0;
  for (;;) {
    const v = r.value(kind, seen);
    if (kind < 0) cells.push(v!);
    rows++;
    if (r.slow) return null;
    const d = r.ws();
    r.i++;
    if (d === RBRACKET) break;
    if (d !== COMMA) giveUp();
  }
  const outputs: LeanOutput[] =
    kind < 0 ? [{ kind: 'cells', name: 'prediction', cells }] : [{ kind: 'number', name: 'prediction', offset: 0, width: Math.max(kind, 1), vector: kind > 0 }];
  return { rows, outputs, values: r.values, stride: kind < 0 ? 0 : Math.max(kind, 1), keyed: false };
}

/** Rows that are objects: the first row's keys, in order, and kinds; every other row the same. */
function keyedRows(r: Reader): LeanPredictions | null {
  const b = r.b;
  const keyRanges: Array<[number, number]> = [];
  const kinds: Kind[] = [];
  const cells: Array<Array<string | boolean>> = [];
  const seen: Array<Interned | null> = [];
  let stride = 0;
  let rows = 0;
  for (;;) {
    r.expect(LBRACE);
    let k = 0;
    if (r.ws() !== RBRACE) {
      for (;;) {
        if (r.ws() !== QUOTE) giveUp();
        const [a, z] = r.strRange();
        r.expect(COLON);
        if (rows === 0) {
          for (const [c, y] of keyRanges) if (y - c === z - a && sameBytes(b, a, z, c)) giveUp(); // a repeated key
          keyRanges.push([a, z]);
          const kind = r.kindAt();
          kinds.push(kind);
          cells.push([]);
          seen.push(kind < 0 ? interned() : null);
          stride += kind < 0 ? 0 : Math.max(kind, 1);
        } else {
          const want = keyRanges[k];
          if (want === undefined || want[1] - want[0] !== z - a || !sameBytes(b, a, z, want[0])) giveUp();
        }
        const v = r.value(kinds[k]!, seen[k] ?? null);
        if (kinds[k]! < 0) cells[k]!.push(v!);
        k++;
        const d = r.ws();
        r.i++;
        if (d === RBRACE) break;
        if (d !== COMMA) giveUp();
      }
    } else r.i++;
    if (k !== keyRanges.length || k === 0) giveUp();
    rows++;
    if (r.slow) return null;
    const d = r.ws();
    r.i++;
    if (d === RBRACKET) break;
    if (d !== COMMA || r.ws() !== LBRACE) giveUp();
  }
  const outputs: LeanOutput[] = [];
  let offset = 0;
  keyRanges.forEach(([a, z], j) => {
    const name = decode(r.b, a, z);
    const kind = kinds[j]!;
    if (kind < 0) outputs.push({ kind: 'cells', name, cells: cells[j]! });
    else {
      const width = Math.max(kind, 1);
      outputs.push({ kind: 'number', name, offset, width, vector: kind > 0 });
      offset += width;
    }
  });
  return { rows, outputs, values: r.values, stride, keyed: true };
}

/** The answer as a table when it has one of the lean shapes; null: read it generically. */
export function readLeanPredictions(body: Buffer): LeanPredictions | null {
  const r = new Reader(body);
  try {
    let out: LeanPredictions | null;
    const c = r.ws();
    if (c === LBRACKET) out = table(r);
    else {
      r.expect(LBRACE);
      if (r.ws() !== QUOTE) return null;
      const [a, z] = r.strRange();
      if (z - a !== 11 || decode(body, a, z) !== 'predictions') return null;
      r.expect(COLON);
      out = table(r);
      if (out === null) return null;
      r.expect(RBRACE);
    }
    if (out === null) return null;
    if (r.ws() !== -1) return null;
    return out;
  } catch (e) {
    if (e === GIVE_UP) return null;
    throw e;
  }
}
