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
