/**
 * JSON for model outputs. Two reasons not to use JSON.stringify on the tensors:
 *  - float32 values printed as doubles take 17 digits (0.8999999761581421 for 0.9f) and most of the
 *    response time at 100 rows; the shortest decimal that reads back to the same float32 is both
 *    exact and cheaper to print and to parse;
 *  - int64 outputs arrive as BigInt, which JSON.stringify refuses.
 * NaN and infinities have no JSON form; they are written as null (MLflow's Python encoder writes a
 * bare NaN, which strict JSON parsers reject).
 */
import type { HostTensor } from './tensor.js';

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i); // exact doubles up to 1e22
/** 10 ** e for e = -15..23 at index e + 15, as formatFloat32 computes them (`10 ** e` at run time). */
const POW10_FROM_M15 = Array.from({ length: 39 }, (_, i) => 10 ** (i - 15));

/** Reference path: shortest precision whose decimal reads back to the same float32 (slow, general). */
function formatFloat32Slow(v: number): string {
  for (let p = 1; p < 9; p++) {
    const s = v.toPrecision(p);
    if (Math.fround(Number(s)) === v) return String(Number(s));
  }
  return String(Number(v.toPrecision(9)));
}

/**
 * Shortest decimal string that parses back to the same float32 value.
 *
 * For k = 1..9 significant digits, the k-digit decimal nearest to v is q / 10^n with integers q and
 * n; while 10^|n| is an exact double (|n| <= 22) that division is the correctly rounded double of
 * the decimal, i.e. exactly what a JSON parser reads, so `fround(q / 10^n) === v` is the round-trip
 * test itself. The first k that passes is the shortest, and V8's String() of that double prints
 * those digits (any shorter string would have passed at a smaller k). Plain arithmetic, no
 * toPrecision: about 10x faster than trying precisions with toPrecision (measured in
 * test/unit/json-out.test.ts's neighbour, bench/RESULTS.md). Outside 1e-14..1e22 the slow general
 * path runs.
 */
export function formatFloat32(v: number): string {
  if (Number.isNaN(v) || v === Infinity || v === -Infinity) return 'null';
  if (v === 0) return '0';
  const a = v < 0 ? -v : v;
  let e = Math.floor(Math.log10(a));
  if (e < -14 || e > 22) return formatFloat32Slow(v);
  // log10 can be off by one next to exact powers of ten.
  if (a >= 10 ** (e + 1)) e++;
  else if (a < 10 ** e) e--;
  for (let k = 1; k <= 9; k++) {
    const n = k - 1 - e;
    let c: number;
    if (n >= 0) {
      const p = POW10[n]!;
      c = Math.round(a * p) / p;
    } else {
      const p = POW10[-n]!;
      c = Math.round(a / p) * p;
    }
    if (Math.fround(c) === a) return String(v < 0 ? -c : c);
  }
  return formatFloat32Slow(v);
}

/** IEEE 754 binary16 bits to a number. */
export function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? Number.NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

export function formatNumber(v: number): string {
  return Number.isFinite(v) ? String(v) : 'null';
}

/** The writer for one element of a tensor of this type. */
export function elementWriter(t: HostTensor): (i: number) => string {
  const d = t.data as ArrayLike<unknown>;
  switch (t.type) {
    case 'float32':
      return (i) => formatFloat32((d as Float32Array)[i]!);
    case 'float64':
      return (i) => formatNumber(d[i] as number);
    case 'float16':
      // onnxruntime-node hands half floats over as their raw 16-bit patterns.
      return (i) => formatNumber(halfToNumber(d[i] as number));
    case 'string':
      return (i) => JSON.stringify(d[i]);
    case 'bool':
      return (i) => (d[i] ? 'true' : 'false');
    case 'int64':
    case 'uint64':
      return (i) => String(d[i]);
    default:
      return (i) => String(d[i]);
  }
}

/** Writes elements [start, start+count) of a tensor as nested JSON arrays of the given dims. */
export function writeNested(t: HostTensor, dims: readonly number[], start: number, out: string[]): number {
  const w = elementWriter(t);
  const rec = (level: number, offset: number): number => {
    if (level === dims.length) {
      out.push(w(offset));
      return offset + 1;
    }
    out.push('[');
    const n = dims[level]!;
    for (let i = 0; i < n; i++) {
      if (i > 0) out.push(',');
      offset = rec(level + 1, offset);
    }
    out.push(']');
    return offset;
  };
  return rec(0, start);
}

/** A whole tensor as a nested JSON array (a scalar for rank 0). */
export function tensorToJson(t: HostTensor): string {
  const out: string[] = [];
  writeNested(t, t.dims, 0, out);
  return out.join('');
}

/** A whole tensor's data as one flat JSON array (Open Inference Protocol, row-major). */
export function tensorToFlatJson(t: HostTensor): string {
  const w = elementWriter(t);
  const n = (t.data as ArrayLike<unknown>).length;
  const parts = new Array<string>(n);
  for (let i = 0; i < n; i++) parts[i] = w(i);
  return '[' + parts.join(',') + ']';
}

/** A float32's bits: written and read back within one call, so it holds nothing between calls. */
const F32_BITS = new Float32Array(1);
const U32_BITS = new Uint32Array(F32_BITS.buffer);

/**
 * JSON written straight into bytes (issue 24): a 100-row answer is about 10 KB of numbers, and
 * building it as strings cost a string per value, the concatenation, and then the UTF-8 copy of
 * the whole text when it was written to the socket. The writer grows its buffer as needed;
 * `bytes()` is the text so far.
 */
export class JsonBytes {
  private buf: Buffer;
  private at = 0;

  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafe(Math.max(64, capacity));
  }

  private reserve(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(grown, 0, 0, this.at);
    this.buf = grown;
  }

  byte(c: number): void {
    this.reserve(1);
    this.buf[this.at++] = c;
  }

  /** Any text, as UTF-8. */
  text(s: string): void {
    this.reserve(s.length * 3);
    this.at += this.buf.write(s, this.at, 'utf8');
  }

  /** Bytes already encoded (a key, a repeated label). */
  raw(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
  }

  /** Exactly formatFloat32(v)'s text. */
  float32(v: number): void {
    this.reserve(24);
    const end = this.shortFloat32(v);
    if (end >= 0) this.at = end;
    else this.at += this.buf.write(formatFloat32(v), this.at, 'latin1');
  }

  /** `[v,v,...]` for d[from .. from + count), each as float32() writes it, with one room check. */
  float32List(d: Float32Array, from: number, count: number): void {
    this.reserve(2 + count * 25);
    this.buf[this.at++] = 0x5b;
    for (let j = 0; j < count; j++) {
      if (j > 0) this.buf[this.at++] = 0x2c;
      const v = d[from + j]!;
      const end = this.shortFloat32(v);
      if (end >= 0) this.at = end;
      else this.at += this.buf.write(formatFloat32(v), this.at, 'latin1');
    }
    this.buf[this.at++] = 0x5d;
  }

  /**
   * formatFloat32's digits, written without making a string: the same search for the shortest
   * k-digit decimal q / 10^n that reads back to v, then q's digits placed as Number's toString
   * places them (exponent notation below 1e-6). -1 for what is left to formatFloat32: non-finite
   * values, magnitudes outside 1e-13..1e22 (its slow path, and the edges of its fast one).
   *
   * The search starts at 7 digits and walks down while the shorter one still reads back, or up
   * until one does: reading back is monotone in k (a nearer decimal stays inside v's rounding
   * interval, which is symmetric around v) except when v is a power of two (the interval below is
   * half the one above), where it tries k = 1, 2, ... as formatFloat32 does. The differential test
   * compares the two on millions of values.
   */
  private shortFloat32(v: number): number {
    const out = this.buf;
    let at = this.at;
    if (v === 0) {
      out[at] = 0x30;
      return at + 1;
    }
    if (!Number.isFinite(v)) return -1;
    const a = v < 0 ? -v : v;
    F32_BITS[0] = a;
    const bits = U32_BITS[0]!;
    // formatFloat32's e is the one with 10 ** e <= a < 10 ** (e + 1) (log10, then a step either
    // way); found here from the binary exponent and the same powers, without log10 or pow.
    let e = Math.floor(((bits >>> 23) - 127) * 0.30103);
    if (e < -13 || e > 21) return -1;
    while (a >= POW10_FROM_M15[e + 16]!) e++;
    while (a < POW10_FROM_M15[e + 15]!) e--;
    // Inside formatFloat32's fast range (-14..22) with a margin: its log10 may be off by one there.
    if (e < -13 || e > 21) return -1;
    const linear = (bits & 0x7fffff) === 0;
    let k = linear ? 1 : 7;
    let dir = linear ? 1 : 0;
    let q = -1;
    let n = 0;
    for (;;) {
      const nn = k - 1 - e;
      let c: number;
      let qq: number;
      if (nn >= 0) {
        const p = POW10[nn]!;
        qq = Math.round(a * p);
        c = qq / p;
      } else {
        const p = POW10[-nn]!;
        qq = Math.round(a / p);
        c = qq * p;
      }
      if (Math.fround(c) === a) {
        q = qq;
        n = nn;
        if (dir > 0 || k === 1) break;
        dir = -1;
        k--;
      } else {
        if (dir < 0 || k === 9) break;
        dir = 1;
        k++;
      }
    }
    if (q < 0) return -1;
    // q < 10^9 + 1: int32 arithmetic from here (a double's % is a slow call).
    let d = q | 0;
    while (d % 10 === 0) {
      d = (d / 10) | 0;
      n--;
    }
    let len = 1;
    while (len < 10 && d >= POW10[len]!) len++;
    // Number's toString: the decimal point after `point` digits; fixed notation for -6 < point <= 21,
    // below that d.ddde-x.
    const point = len - n;
    if (point > 21) return -1;
    if (v < 0) out[at++] = 0x2d;
    if (point <= -6) {
      const lead = (d / POW10[len - 1]!) | 0;
      out[at++] = 0x30 + lead;
      if (len > 1) {
        out[at++] = 0x2e;
        at = writeDigits(out, at, d - lead * POW10[len - 1]!, len - 1);
      }
      out[at++] = 0x65;
      out[at++] = 0x2d;
      const x = 1 - point;
      at = writeDigits(out, at, x, x >= 10 ? 2 : 1);
    } else if (point >= len) {
      at = writeDigits(out, at, d, len);
      for (let i = len; i < point; i++) out[at++] = 0x30;
    } else if (point > 0) {
      const m = POW10[len - point]!;
      const hi = (d / m) | 0;
      at = writeDigits(out, at, hi, point);
      out[at++] = 0x2e;
      at = writeDigits(out, at, d - hi * m, len - point);
    } else {
      out[at++] = 0x30;
      out[at++] = 0x2e;
      for (let i = 0; i < -point; i++) out[at++] = 0x30;
      at = writeDigits(out, at, d, len);
    }
    return at;
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.at);
  }
}

/** "00" to "99" as ASCII: two digits per division. */
const DIGIT_PAIRS = Uint8Array.from({ length: 200 }, (_, i) => 0x30 + (i % 2 === 0 ? Math.floor(i / 20) : (i >> 1) % 10));

/** d as exactly `len` decimal digits (leading zeros kept) at `at`; the position after them. */
function writeDigits(out: Buffer, at: number, d: number, len: number): number {
  let x = d | 0;
  let i = at + len - 1;
  while (i > at) {
    const t = (x / 100) | 0;
    const r = (x - t * 100) << 1;
    out[i] = DIGIT_PAIRS[r + 1]!;
    out[i - 1] = DIGIT_PAIRS[r]!;
    x = t;
    i -= 2;
  }
  if (i === at) out[i] = 0x30 + (x % 10);
  return at + len;
}
