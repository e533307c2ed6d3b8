import type { LatencyHistogram } from './types.js';

/**
 * Fixed-bucket latency histogram (Prometheus histogram semantics: bucket i counts
 * bounds[i-1] < ms <= bounds[i], the last bucket is +Inf). Mergeable by adding counts; SLO
 * thresholds are bucket bounds, so "fraction slower than the SLO" is an exact count.
 */

/** Roughly log-spaced (1-2-3-5 / 1-2-5 style) from 0.25 ms to 60 s: 26 bounds. */
export const DEFAULT_LATENCY_BOUNDS_MS: number[] = [
  0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 3000, 5000, 10000, 30000, 60000,
];

/** Sorted union of the defaults and the SLO thresholds (each threshold present exactly once). */
export function latencyBounds(sloThresholdsMs: readonly number[]): number[] {
  const all = new Set<number>(DEFAULT_LATENCY_BOUNDS_MS);
  for (const t of sloThresholdsMs) {
    if (!(Number.isFinite(t) && t > 0)) throw new Error(`SLO threshold must be a positive finite number of ms, got ${t}`);
    all.add(t);
  }
  return [...all].sort((a, b) => a - b);
}

export function emptyLatency(boundsMs: readonly number[]): LatencyHistogram {
  for (let i = 0; i < boundsMs.length; i++) {
    const b = boundsMs[i]!;
    if (!Number.isFinite(b) || (i > 0 && !(b > boundsMs[i - 1]!))) {
      throw new Error(`latency bounds must be finite and strictly increasing (at index ${i}: ${b})`);
    }
  }
  return { boundsMs: [...boundsMs], counts: new Array<number>(boundsMs.length + 1).fill(0), sumMs: 0 };
}

/** First index i with bounds[i] >= ms (bounds.length when above all): the bucket of ms. */
function bucketOf(bounds: readonly number[], ms: number): number {
  let a = 0;
  let b = bounds.length;
  while (a < b) {
    const mid = (a + b) >>> 1;
    if (bounds[mid]! < ms) a = mid + 1;
    else b = mid;
  }
  return a;
}

/** NaN is ignored (not counted); negative values land in the first bucket. */
export function observeLatency(h: LatencyHistogram, ms: number): void {
  if (Number.isNaN(ms)) return;
  h.counts[bucketOf(h.boundsMs, ms)]! += 1;
  h.sumMs += ms;
}

export function latencyCount(h: LatencyHistogram): number {
  let n = 0;
  for (const c of h.counts) n += c;
  return n;
}

function sameBounds(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Re-buckets h onto `target`, a subset of h's bounds: every old bucket lies inside one new one. */
function rebucket(h: LatencyHistogram, target: readonly number[]): number[] {
  const out = new Array<number>(target.length + 1).fill(0);
  for (let i = 0; i < h.counts.length; i++) {
    const j = i < h.boundsMs.length ? bucketOf(target, h.boundsMs[i]!) : target.length;
    out[j]! += h.counts[i]!;
  }
  return out;
}

/**
 * Same bounds: add. Different bounds: both are re-bucketed onto the intersection of the two bound
 * sets, where each new bucket (b_prev, b] is a union of whole old buckets of either histogram, so
 * the merge is exact (no interpolation), totals and sums are preserved; resolution is lost only
 * where the two layouts disagree. SLO thresholds configured on both sides survive.
 */
export function mergeLatency(a: LatencyHistogram, b: LatencyHistogram): LatencyHistogram {
  if (sameBounds(a.boundsMs, b.boundsMs)) {
    const counts = a.counts.map((c, i) => c + b.counts[i]!);
    return { boundsMs: [...a.boundsMs], counts, sumMs: a.sumMs + b.sumMs };
  }
  const inB = new Set(b.boundsMs);
  const target = a.boundsMs.filter((x) => inB.has(x));
  const ca = rebucket(a, target);
  const cb = rebucket(b, target);
  return { boundsMs: target, counts: ca.map((c, i) => c + cb[i]!), sumMs: a.sumMs + b.sumMs };
}

/**
 * Quantile by linear interpolation inside the bucket holding rank q*N (Prometheus'
 * histogram_quantile): the true value lies in the same bucket, so the error is at most that
 * bucket's width. The first bucket's lower edge is taken as 0 ms; when the rank falls in the open
 * +Inf bucket the largest finite bound is returned (a lower bound of the truth, as Prometheus does).
 */
export function latencyQuantile(h: LatencyHistogram, q: number): number | null {
  if (!(q >= 0 && q <= 1)) throw new Error(`quantile must be in [0, 1], got ${q}`);
  const total = latencyCount(h);
  if (total === 0) return null;
  const rank = q * total;
  let cum = 0;
  for (let i = 0; i < h.counts.length; i++) {
    const c = h.counts[i]!;
    if (c > 0 && cum + c >= rank) {
      if (i === h.boundsMs.length) return h.boundsMs.length > 0 ? h.boundsMs[i - 1]! : null;
      const upper = h.boundsMs[i]!;
      const lower = i === 0 ? Math.min(0, upper) : h.boundsMs[i - 1]!;
      return lower + (upper - lower) * ((rank - cum) / c);
    }
    cum += c;
  }
  return h.boundsMs.length > 0 ? h.boundsMs[h.boundsMs.length - 1]! : null;
}

/**
 * Fraction of requests slower than thresholdMs. Exact when the threshold is a bound (which
 * latencyBounds guarantees for configured SLOs). Otherwise it is the fraction above the largest
 * bound <= threshold (all requests if there is none): an over-estimate, i.e. conservative for an
 * SLO. null when the histogram is empty.
 */
export function latencyFractionAbove(h: LatencyHistogram, thresholdMs: number): number | null {
  const total = latencyCount(h);
  if (total === 0) return null;
  // index of the largest bound <= threshold
  let a = 0;
  let b = h.boundsMs.length;
  while (a < b) {
    const mid = (a + b) >>> 1;
    if (h.boundsMs[mid]! <= thresholdMs) a = mid + 1;
    else b = mid;
  }
  const idx = a - 1;
  let above = 0;
  for (let i = idx + 1; i < h.counts.length; i++) above += h.counts[i]!;
  return above / total;
}

export function cloneLatency(h: LatencyHistogram): LatencyHistogram {
  return { boundsMs: [...h.boundsMs], counts: [...h.counts], sumMs: h.sumMs };
}
