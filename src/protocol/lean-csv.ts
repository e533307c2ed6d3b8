/**
 * The lean CSV path (issue 24): a text/csv body of numbers read straight from its bytes into one
 * Float64Array, without the generic codec's JS array per row and string per cell (which made a
 * 20 MB body cost seconds and gigabytes of heap).
 *
 * Exactly decodeMlflowCsv (protocol/mlflow.ts) followed by the input plan's cast (Python's float()
 * on decimal text), or null: the caller then takes the generic path, which gives the same answer
 * or MLflow's error. Null for anything that is not a rectangle of decimal numbers under one header:
 * missing-value words and empty cells (null there, not a number), "inf"/"nan" words, hex, non-ASCII
 * bytes in the data, rows shorter or longer than the header (pandas pads them, or reads an index),
 * quoted cells holding a quote or a line break, text after a closing quote, an unterminated quote.
 * The header itself is read by the generic codec (it is one line), so names are pandas'
 * (trimmed, "Unnamed: i", "a.1" for a repeated "a") by construction.
 *
 * Memory: the body, plus one Float64Array of min(width x (line feeds + 1), bytes / 2 + 1) numbers
 * (the line count bounds the rows, the size the numbers; a body whose lines end in a bare CR grows
 * it by doubling instead), plus the header. test/unit/lean-csv-diff.test.ts holds it to that and
 * to the generic path's answers.
 */
import { exactDecimal, MAX_EXACT_DIGITS } from './decimal.js';
import { decodeMlflowCsv } from './mlflow.js';
import type { NumericFrame } from './numeric-frame.js';

// Module constants, not imports from a shared module: V8 folds its own constants into the loops.
const LF = 10;
const CR = 13;
const QUOTE = 34;
const PLUS = 43;
const COMMA = 44;
const MINUS = 45;
const DOT = 46;
const ZERO = 48;
const isDigit = (c: number) => c >= ZERO && c <= 57;

/** The ASCII bytes String.prototype.trim removes that can sit inside an unquoted field (CR/LF end it). */
const isSpace = (c: number) => c === 32 || c === 9 || c === 11 || c === 12;

/**
 * The number the generic path makes of bytes [s, e) (trim, the input plan's DECIMAL pattern,
 * Number()), or NaN when that path would not read them as a decimal number. NaN cannot come out of
 * decimal text, so it is free to mean "no".
 */
export function leanDecimal(buf: Uint8Array, s: number, e: number): number {
  const stop = new Int32Array(1);
  const v = scanDecimal(buf, s, e, stop);
  return stop[0] === e ? v : Number.NaN;
}

/**
 * Reads white space, a decimal number and white space from s (up to limit), leaves where it
 * stopped in stop[0] and returns the number (NaN: no number there). One pass over the bytes: the
 * caller checks that it stopped at a field's end.
 */
function scanDecimal(buf: Uint8Array, s: number, limit: number, stop: Int32Array): number {
  let i = s;
  let c = 0;
  while (i < limit && isSpace(buf[i]!)) i++;
  const t0 = i;
  c = i < limit ? buf[i]! : 0;
  const neg = c === MINUS;
  if (c === PLUS || c === MINUS) i++;
  let m = 0;
  let nd = 0; // significant digits: up to MAX_EXACT_DIGITS of them make an exact integer mantissa
  let digits = 0;
  let frac = 0; // digits after the point
  let dot = false;
  // digits[.digits], either side possibly empty: one loop, the point at most once.
  for (; i < limit; i++) {
    c = buf[i]!;
    if (isDigit(c)) {
      if (nd > 0 || c !== ZERO) {
        m = m * 10 + (c - ZERO);
        nd++;
      }
      digits++;
      if (dot) frac++;
    } else if (c === DOT && !dot) dot = true;
    else break;
  }
  stop[0] = i;
  if (digits === 0) return Number.NaN;
  let exp = 0;
  if (i < limit && ((c = buf[i]!) === 0x65 || c === 0x45)) {
    i++;
    const eneg = i < limit && buf[i] === MINUS;
    if (i < limit && (buf[i] === PLUS || buf[i] === MINUS)) i++;
    const es = i;
    while (i < limit && isDigit((c = buf[i]!))) {
      if (exp < 1e6) exp = exp * 10 + (c - ZERO); // beyond that only the slow path's answer matters
      i++;
    }
    stop[0] = i;
    if (i === es) return Number.NaN;
    if (eneg) exp = -exp;
  }
  const t1 = i;
  while (i < limit && isSpace(buf[i]!)) i++;
  stop[0] = i;
  if (nd <= MAX_EXACT_DIGITS) {
    // An exact mantissa times or over an exact power of ten (Clinger's fast path) is the double
    // Number() gives for the text; a zero mantissa is a signed zero whatever the exponent.
    const v = m === 0 ? 0 : exactDecimal(m, exp - frac);
    if (!Number.isNaN(v)) return neg ? -v : v;
  }
  return Number(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('latin1', t0, t1));
}

/**
 * Where the record starting at s ends: the first CR or LF outside quotes, or the body's end; -1
 * for an unterminated quote. A quote opens a quoted section only as a field's first character, as
 * in the generic tokenizer.
 */
function recordEnd(body: Buffer, s: number): number {
  const n = body.length;
  let i = s;
  let fieldStart = true;
  while (i < n) {
    const c = body[i]!;
    if (c === QUOTE && fieldStart) {
      // Quoted: "" is a quote inside, so the section ends at a quote not followed by another.
      i++;
      for (;;) {
        const q = body.indexOf(QUOTE, i);
        if (q < 0) return -1;
        if (body[q + 1] === QUOTE) i = q + 2;
        else {
          i = q + 1;
          break;
        }
      }
      fieldStart = false;
      continue;
    }
    if (c === LF || c === CR) return i;
    fieldStart = c === COMMA;
    i++;
  }
  return n;
}

/** pandas' header names, read by the generic codec from the header record's text; null if it refuses it. */
function headerNames(text: string): string[] | null {
  if (text.charCodeAt(0) === 0xfeff) return null; // a second BOM: left to the generic path
  try {
    const d = decodeMlflowCsv(text);
    return d.input.kind === 'frame' && d.input.rows.length === 0 ? d.input.columns : null;
  } catch {
    return null;
  }
}

export function decodeLeanCsv(body: Buffer): NumericFrame | null {
  const n = body.length;
  let pos = n >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0;
  let names: string[] | null = null;
  while (pos < n && names === null) {
    if (body[pos] === LF || body[pos] === CR) {
      pos++; // an empty line, without a string made for it
      continue;
    }
    const end = recordEnd(body, pos);
    if (end < 0) return null;
    const text = body.toString('utf8', pos, end);
    pos = end + 1;
    // Blank to the generic tokenizer: one unquoted field of white space (a comma or a quote is not).
    if (text.trim() !== '') {
      names = headerNames(text);
      if (names === null) return null;
    }
  }
  if (names === null || names.length === 0) return null; // no columns: the generic path's 400
  const width = names.length;
  let lines = 1;
  for (let at = body.indexOf(LF, pos); at >= 0; at = body.indexOf(LF, at + 1)) lines++;
  // A number takes a byte and its separator another: the body's size bounds the count too (a wide
  // header over many blank lines must not size the array).
  const most = Math.floor(Math.max(0, n - pos + 1) / 2) + 1;
  let values = new Float64Array(Math.min(width * lines, most));
  const stop = new Int32Array(1);
  let count = 0;
  let rows = 0;
  while (pos < n) {
    let c = body[pos]!;
    if (c === LF || c === CR) {
      pos++;
      continue;
    }
    let col = 0;
    let blank = false;
    for (;;) {
      const s = pos;
      let v: number;
      if (body[pos] === QUOTE) {
        const q = body.indexOf(QUOTE, pos + 1);
        if (q < 0) return null;
        v = scanDecimal(body, pos + 1, q, stop);
        if (stop[0] !== q) return null;
        pos = q + 1;
        // An escaped quote or text after the closing quote: the generic path reads those.
        if (pos < n && (c = body[pos]!) !== COMMA && c !== LF && c !== CR) return null;
      } else {
        v = scanDecimal(body, pos, n, stop);
        pos = stop[0]!;
        if (pos < n && (c = body[pos]!) !== COMMA && c !== LF && c !== CR) v = Number.NaN;
        if (Number.isNaN(v)) {
          // A line of nothing but white space is skipped, as the generic tokenizer skips it.
          let k = s;
          while (k < n && isSpace(body[k]!)) k++;
          if (col === 0 && (k === n || body[k] === LF || body[k] === CR)) {
            pos = k;
            blank = true;
            break;
          }
        }
      }
      if (Number.isNaN(v)) return null;
      if (col === width) return null; // longer than the header: an index to pandas, or a 400
      if (count === values.length) {
        // Only for lines ending in a bare CR, which the line-feed count does not see.
        const grown = new Float64Array(Math.min(Math.max(values.length * 2, width * 16), most));
        grown.set(values);
        values = grown;
      }
      values[count++] = v;
      col++;
      if (pos >= n || body[pos] !== COMMA) break;
      pos++;
    }
    if (blank) continue;
    if (col !== width) return null; // short: padded with missing values by the generic path
    rows++;
  }
  return { names, rows, width, values: count === values.length ? values : values.subarray(0, count) };
}
