import { quantileOfSorted } from './descriptive.js';
import { fnv1a32 } from './own-keys.js';
import type { BinEdges, BinnedCounts } from './types.js';

/**
 * Fixed, reference-derived bins (the layout is documented on BinEdges in types.ts):
 *   [0] x < lo | [1] lo <= x < c1 | ... | [m+1] c_m <= x <= hi | [m+2] x > hi
 * Counting over fixed edges is what makes PSI an exact sum of integer counts across windows and
 * replicas (see docs/statistics.md).
 */

/**
 * Cut points at the quantiles i/nBins (i = 1..nBins-1) of the finite values, using linear
 * interpolation between order statistics (Hyndman & Fan 1996 type 7, numpy.quantile's default,
 * so edges can be compared with a numpy/pandas pipeline): simple-statistics' quantileSorted via
 * descriptive.ts, which computes the position as numpy does, (n - 1) * (i / nBins), so a cut point
 * equals numpy.quantile's bit for bit or within 1 ulp (it interpolates as a + f * (b - a): no
 * overshoot when a === b). Ties collapse cut points: duplicates and cut points equal to lo (which
 * would leave the bin [lo, c1) empty forever) are dropped, so edges strictly increase and there
 * are at most nBins value bins. null when there is no finite value.
 */
export function binEdgesFromValues(values: readonly number[], nBins: number): BinEdges | null {
  if (!Number.isInteger(nBins) || nBins < 1) throw new Error(`nBins must be a positive integer, got ${nBins}`);
  const finite: number[] = [];
  for (const v of values) if (typeof v === 'number' && Number.isFinite(v)) finite.push(v);
  if (finite.length === 0) return null;
  return binEdgesFromSorted(Float64Array.from(finite).sort(), nBins);
}

/** The same from values already sorted ascending and all finite (no copy: for millions of rows). */
export function binEdgesFromSorted(sorted: Float64Array, nBins: number): BinEdges | null {
  if (!Number.isInteger(nBins) || nBins < 1) throw new Error(`nBins must be a positive integer, got ${nBins}`);
  const n = sorted.length;
  if (n === 0) return null;
  const lo = sorted[0]!;
  const hi = sorted[n - 1]!;
  const edges: number[] = [];
  for (let i = 1; i < nBins; i++) {
    const c = quantileOfSorted(sorted, i / nBins);
    const prev = edges.length > 0 ? edges[edges.length - 1]! : lo;
    if (c > prev) edges.push(c);
  }
  return { lo, hi, edges };
}

/** Short stable id of a layout: FNV-1a (32 bit, hex) of its JSON. Equal layouts, equal ids. */
export function binLayoutId(e: BinEdges): string {
  return fnv1a32(JSON.stringify([e.lo, e.hi, e.edges]))
    .toString(16)
    .padStart(8, '0');
}

export function binCount(e: BinEdges): number {
  return e.edges.length + 3;
}

/** Bin of x (x must not be NaN: missing values are counted apart). Binary search over edges. */
export function binIndex(e: BinEdges, x: number): number {
  if (x < e.lo) return 0;
  const edges = e.edges;
  if (x > e.hi) return edges.length + 2;
  // number of edges <= x (upper bound)
  let a = 0;
  let b = edges.length;
  while (a < b) {
    const mid = (a + b) >>> 1;
    if (edges[mid]! <= x) a = mid + 1;
    else b = mid;
  }
  return a + 1;
}

export function emptyBinned(e: BinEdges): BinnedCounts {
  return { layout: binLayoutId(e), counts: new Array<number>(binCount(e)).fill(0) };
}

export function observeBin(b: BinnedCounts, e: BinEdges, x: number): void {
  b.counts[binIndex(e, x)]! += 1;
}

/** Exact sum. Counts over different layouts are not comparable: a plain Error, callers decide. */
export function mergeBinned(a: BinnedCounts, b: BinnedCounts): BinnedCounts {
  if (a.layout !== b.layout || a.counts.length !== b.counts.length) {
    throw new Error(`cannot merge bins over different layouts (${a.layout} vs ${b.layout})`);
  }
  const counts = new Array<number>(a.counts.length);
  for (let i = 0; i < counts.length; i++) counts[i] = a.counts[i]! + b.counts[i]!;
  return { layout: a.layout, counts };
}
