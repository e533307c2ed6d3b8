/**
 * JSON for model outputs. Two reasons not to use JSON.stringify on the tensors:
 *  - float32 values printed as doubles take 17 digits (0.8999999761581421 for 0.9f) and most of the
 *    response time at 100 rows; the shortest decimal that reads back to the same float32 is both
 *    exact and cheaper to print and to parse;
 *  - int64 outputs arrive as BigInt, which JSON.stringify refuses.
 * NaN and infinities have no JSON form; they are written as null (MLflow's Python encoder writes a
 * bare NaN, which strict JSON parsers reject).
 */
import type { HostTensor } from '../runtime.js';

/** Shortest decimal string that parses back to the same float32 value. */
export function formatFloat32(v: number): string {
  if (!Number.isFinite(v)) return 'null';
  if (v === 0) return '0';
  for (let p = 6; p < 9; p++) {
    const s = v.toPrecision(p);
    if (Math.fround(Number(s)) === v) return String(Number(s));
  }
  return String(Number(v.toPrecision(9)));
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
    case 'float16':
      return (i) => formatNumber(d[i] as number);
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
