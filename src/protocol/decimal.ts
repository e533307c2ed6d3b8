/**
 * Decimal text to the nearest double, without a string per number: the one number reader of the
 * lean codecs (issue 24; lean-mlflow-json.ts, lean-csv.ts, lean-predictions.ts). Each of them must
 * give exactly the double the generic path gives (JSON.parse, or Number() on a CSV cell), and
 * both of those round correctly: the nearest double to the decimal value, ties to even. So every
 * path here either is correctly rounded by construction or says it cannot be sure (NaN), and the
 * caller then converts the token's text with Number().
 *
 * The paths, cheapest first:
 *  - exactDecimal: Clinger's fast path (W. D. Clinger, "How to Read Floating Point Numbers
 *    Accurately", PLDI 1990). An integer mantissa m < 2^53 and 10^|p| with |p| <= 22 are both
 *    exact doubles (5^22 < 2^53, and the powers of two are exact), so m * 10^p or m / 10^-p is ONE
 *    IEEE operation on exact operands, which rounds the exact result correctly: the nearest double.
 *    Readers keep the mantissa exact by never letting it reach 2^53 (MANTISSA_LIMIT), which in
 *    practice is 15 or 16 significant digits.
 *  - longDecimal: 16 to 20 significant digits (the 17 a float64 prints with), by error-free
 *    transformations, with a rounding-error bound that detects the rare quotients too near a
 *    midpoint (NaN then).
 *  - anything else (more digits, far exponents): NaN, for Number() on the text.
 *
 * scanJsonNumber reads a JSON number's bytes (RFC 8259 grammar) through these paths; the CSV
 * reader has its own grammar (Python's float(): signs, ".5", "5.", white space) and uses
 * exactDecimal directly. Pure: bytes in, numbers out (BITS_* below are scratch space of one call).
 */
// Local, not imported: V8 folds a module's own constants into the digit loops, not imported ones.
const DOT = 0x2e;
const MINUS = 0x2d;
const NINE = 0x39;
const PLUS = 0x2b;
const ZERO = 0x30;

/** 10^0 to 10^22: every one an exact double (10^22 = 2^22 * 5^22 and 5^22 < 2^53); 10^23 is not. */
export const POW10: readonly number[] = Array.from({ length: 23 }, (_, i) => 10 ** i);

/** The largest |p| for which 10^p is exact (POW10's last index). */
export const MAX_EXACT_POW10 = 22;

/**
 * While a mantissa is below this, mantissa * 10 + digit stays below 2^53 and so an exact integer
 * (floor((2^53 - 1 - 9) / 10) rounded down to stay clear).
 */
export const MANTISSA_LIMIT = 900719925474099;

/** Significant digits that always make an exact integer mantissa (10^15 < 2^53). */
export const MAX_EXACT_DIGITS = 15;

/**
 * m * 10^p as the nearest double, by Clinger's fast path: exact for an integer 0 <= m < 2^53 and
 * |p| <= MAX_EXACT_POW10 (one correctly rounded multiplication or division of exact operands).
 * NaN when p is out of that range; the caller guarantees m is such an integer.
 */
export function exactDecimal(m: number, p: number): number {
  if (p === 0) return m;
  if (p > 0) return p <= MAX_EXACT_POW10 ? m * POW10[p]! : Number.NaN;
  return p >= -MAX_EXACT_POW10 ? m / POW10[-p]! : Number.NaN;
}

/** The rounding error of p = fl(a * b), exactly (Dekker's product; no FMA in JS; a, b far from overflow). */
function productError(a: number, b: number, p: number): number {
  let c = 134217729 * a; // 2^27 + 1: Veltkamp's split
  const ah = c - (c - a);
  const al = a - ah;
  c = 134217729 * b;
  const bh = c - (c - b);
  const bl = b - bh;
  return ah * bh - p + ah * bl + al * bh + al * bl;
}

/**
 * (hi * 10^r + lo) / 10^k rounded to the nearest double, for the 16 to 20 digit mantissas
 * Clinger's fast path cannot take (the 17 digits a float64 prints with); NaN when it cannot be
 * sure, and the caller takes the exact slow path. hi < 2^53, 0 < r <= 4, lo < 10^r, 0 <= k <= 22.
 *
 * The mantissa M is held exactly as a sum mh + ml of two doubles (every step is an error-free
 * transformation on integers). The quotient is q1 + q2 with q1 = fl(mh / 10^k) and q2 the
 * remainder (M - q1 * 10^k, computed from an exact product) over 10^k, good to about 2^-100
 * relative. f = fl(q1 + q2) with e the exact residual (q1 + q2 = f + e) is the nearest double
 * to M / 10^k unless M / 10^k may lie on the other side of a midpoint between doubles, i.e.
 * unless |e| is within the error of half an ulp of f (about one case in 2^30), or f is a power of
 * two (the gap below it is half the gap above): those return NaN.
 */
export function longDecimal(hi: number, r: number, lo: number, k: number): number {
  const p = hi * POW10[r]!;
  const pe = productError(hi, POW10[r]!, p);
  const s = p + lo;
  const bb = s - p;
  const se = p - (s - bb) + (lo - bb);
  const low = se + pe; // integers below 2^15: exact
  const mh = s + low; // |s| >= |low|: ml is the exact residual
  const ml = low - (mh - s);
  if (k === 0) return mh; // fl(M) itself: M = mh + ml exactly and mh is its rounding
  const d = POW10[k]!;
  const q1 = mh / d;
  const t = q1 * d;
  const te = productError(q1, d, t);
  const q2 = (mh - t - te + ml) / d; // mh - t is exact (Sterbenz)
  const f = q1 + q2;
  const e = q2 - (f - q1);
  // The ulp of f from its bits (Math.log2 and ** cost more than the rest of this function).
  BITS_F64[0] = f;
  const high = BITS_U32[HIGH]!;
  if ((high & 0xfffff) === 0 && BITS_U32[1 - HIGH] === 0) return Number.NaN; // a power of two
  BITS_U32[HIGH] = (((high >>> 20) & 0x7ff) - 52) << 20; // f >= 2^-30 here: the ulp is a normal double
  BITS_U32[1 - HIGH] = 0;
  return Math.abs(e) < BITS_F64[0]! * (0.5 - 2 ** -30) ? f : Number.NaN;
}

/** A double's bits, for longDecimal's ulp: scratch space of this pure function, never shared across a call. */
const BITS_F64 = new Float64Array(1);
const BITS_U32 = new Uint32Array(BITS_F64.buffer);
/** Index of the high word (sign, exponent, top of the mantissa) in BITS_U32: the platform's byte order. */
const HIGH = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

/** Digits read past the exact mantissa for longDecimal: 20 significant digits in all. */
const LOW_DIGITS = 4;

/** What scanJsonNumber read: where the token ends, and its value. */
export interface NumberScan {
  /** The index after the token's last byte. */
  end: number;
  /** The token's double; NaN when the fast paths cannot be sure: Number() on the token's text is then exact. */
  value: number;
}

/**
 * The JSON number (RFC 8259: -?(0|[1-9]digits)(.digits)?([eE][+-]?digits)?) starting at b[start],
 * into out; false when the bytes there are not one (the reader then gives up on the body). The
 * token ends at the first byte that cannot continue it, as in JSON.parse: the caller judges what
 * follows.
 */
export function scanJsonNumber(b: Uint8Array, start: number, out: NumberScan): boolean {
  let i = start;
  let neg = false;
  if (b[i] === MINUS) {
    neg = true;
    i++;
  }
  let c = b[i] ?? -1;
  // The significant digits as mant * 10^r + lo: mant an exact integer (below MANTISSA_LIMIT
  // before its last digit), up to LOW_DIGITS more in lo; beyond those too long for the fast paths.
  let mant = 0;
  let lo = 0;
  let r = 0;
  let tooLong = false;
  let exp = 0;
  if (c === ZERO) {
    c = b[++i] ?? -1;
    if (c >= ZERO && c <= NINE) return false; // a leading zero: not JSON
  } else if (c > ZERO && c <= NINE) {
    do {
      if (mant < MANTISSA_LIMIT && r === 0) mant = mant * 10 + (c - ZERO);
      else if (r < LOW_DIGITS) {
        lo = lo * 10 + (c - ZERO);
        r++;
      } else tooLong = true;
      c = b[++i] ?? -1;
    } while (c >= ZERO && c <= NINE);
  } else return false;
  if (c === DOT) {
    c = b[++i] ?? -1;
    if (!(c >= ZERO && c <= NINE)) return false;
    do {
      if (mant < MANTISSA_LIMIT && r === 0) {
        mant = mant * 10 + (c - ZERO);
        exp--;
      } else if (r < LOW_DIGITS) {
        lo = lo * 10 + (c - ZERO);
        r++;
        exp--;
      } else tooLong = true;
      c = b[++i] ?? -1;
    } while (c >= ZERO && c <= NINE);
  }
  if (c === 0x65 || c === 0x45) {
    c = b[++i] ?? -1;
    let eneg = false;
    if (c === MINUS || c === PLUS) {
      eneg = c === MINUS;
      c = b[++i] ?? -1;
    }
    if (!(c >= ZERO && c <= NINE)) return false;
    let e = 0;
    do {
      if (e < 100000) e = e * 10 + (c - ZERO); // beyond that Number() gives 0 or Infinity either way
      c = b[++i] ?? -1;
    } while (c >= ZERO && c <= NINE);
    exp += eneg ? -e : e;
  }
  out.end = i;
  let v = Number.NaN;
  if (r === 0) v = exactDecimal(mant, exp);
  else if (!tooLong && exp >= -MAX_EXACT_POW10 && exp <= 0) v = longDecimal(mant, r, lo, -exp);
  out.value = neg ? -v : v;
  return true;
}
