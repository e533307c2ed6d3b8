import type { Moments } from './types.js';

/**
 * Streaming moments. Welford's update (B. P. Welford 1962; Knuth, TAOCP vol. 2, 4.2.2, eq. 15-16)
 * avoids the catastrophic cancellation of the naive sum-of-squares formula; the merge is the
 * pairwise formula of Chan, Golub & LeVeque ("Algorithms for computing the sample variance",
 * 1979/1983), which is what makes per-replica / per-flush moments mergeable.
 */

export function emptyMoments(): Moments {
  return { n: 0, mean: 0, m2: 0, min: null, max: null };
}

/** Folds one finite value in (mutates). Callers filter NaN/Infinity: they would poison mean/m2. */
export function observeMoment(m: Moments, x: number): void {
  const n = m.n + 1;
  m.n = n;
  const d = x - m.mean;
  m.mean += d / n;
  m.m2 += d * (x - m.mean);
  if (m.min === null || x < m.min) m.min = x;
  if (m.max === null || x > m.max) m.max = x;
}

/**
 * Chan et al.: n = na + nb, delta = mean_b - mean_a, M2 = M2a + M2b + delta^2 * na * nb / n.
 * The mean is written as the weighted form mean_a*(na/n) + mean_b*(nb/n) rather than
 * mean_a + delta*nb/n: both are stable, and the weighted form is symmetric in a and b, so
 * merge(a, b) and merge(b, a) are bit-identical (commutativity holds exactly, not just to rounding).
 * An empty side returns a copy of the other, so the empty Moments is an exact identity.
 */
export function mergeMoments(a: Moments, b: Moments): Moments {
  if (a.n === 0) return { ...b };
  if (b.n === 0) return { ...a };
  const n = a.n + b.n;
  const delta = b.mean - a.mean;
  const mean = a.mean * (a.n / n) + b.mean * (b.n / n);
  const m2 = a.m2 + b.m2 + delta * delta * ((a.n * b.n) / n);
  return {
    n,
    mean,
    m2,
    min: minOf(a.min, b.min),
    max: maxOf(a.max, b.max),
  };
}

/** Sample variance (Bessel's n - 1); null below two values, where it is undefined. */
export function momentsVariance(m: Moments): number | null {
  if (m.n < 2) return null;
  // m2 can come out a hair below 0 after merges of near-constant data: clamp, variance is >= 0.
  return Math.max(0, m.m2) / (m.n - 1);
}

export function momentsStd(m: Moments): number | null {
  const v = momentsVariance(m);
  return v === null ? null : Math.sqrt(v);
}

function minOf(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return a < b ? a : b;
}

function maxOf(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return a > b ? a : b;
}
