/**
 * First Wasserstein (earth mover's) distance between two 1-D samples, and its
 * Evidently-style normalisation. Pure: no I/O, no clock.
 */

import type { KllSketch } from '../stats/types.js';
import { kllIsExact, kllRankErrorBound, kllSortedView } from '../stats/kll-sketch.js';

function sortedFinite(xs: readonly number[], name: string): Float64Array {
  if (xs.length === 0) throw new RangeError(`wasserstein: sample ${name} is empty`);
  const out = Float64Array.from(xs);
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i]!)) throw new RangeError(`wasserstein: sample ${name} has a non-finite value at index ${i}`);
  }
  return out.sort();
}

/**
 * W1(u, v) = integral over x of |F_u(x) - F_v(x)| dx, matching scipy.stats.wasserstein_distance
 * (its _cdf_distance with p = 1): over the sorted pooled values, sum |F_u - F_v| * (x_{k+1} - x_k)
 * with right-continuous ECDFs (Ramdas, Garcia, Cuturi 2017, "On Wasserstein two sample testing").
 */
export function wasserstein1(a: readonly number[], b: readonly number[]): number {
  return wasserstein1Sorted(sortedFinite(a, 'a'), sortedFinite(b, 'b'));
}

/** wasserstein1 of two samples already sorted ascending, finite and non-empty (the offline report sorts each column once). */
export function wasserstein1Sorted(u: Float64Array, v: Float64Array): number {
  if (u.length === 0 || v.length === 0) throw new RangeError('wasserstein: both samples must be non-empty');
  const all = new Float64Array(u.length + v.length);
  all.set(u);
  all.set(v, u.length);
  all.sort();
  let i = 0;
  let j = 0;
  let sum = 0;
  for (let k = 0; k < all.length - 1; k++) {
    const x = all[k]!;
    while (i < u.length && u[i]! <= x) i++;
    while (j < v.length && v[j]! <= x) j++;
    const delta = all[k + 1]! - x;
    if (delta !== 0) sum += Math.abs(i / u.length - j / v.length) * delta;
  }
  return sum;
}

/** Population standard deviation (numpy's np.std, ddof = 0), two-pass for accuracy. */
export function populationStd(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError('populationStd: empty sample');
  let mean = 0;
  for (const x of xs) mean += x;
  mean /= xs.length;
  let ss = 0;
  for (const x of xs) ss += (x - mean) ** 2;
  return Math.sqrt(ss / xs.length);
}

/** Evidently's floor on the normaliser, so a constant reference does not divide by zero. */
export const WASSERSTEIN_MIN_NORM = 0.001;

/**
 * W1(reference, current) / max(std(reference), 0.001), the way Evidently's
 * "wasserstein" stat test normalises it (population std, numpy's default ddof = 0; Evidently
 * flags drift at >= 0.1 by default).
 */
export function wassersteinNormalized(reference: readonly number[], current: readonly number[]): number {
  const w = wasserstein1(reference, current);
  return w / Math.max(populationStd(reference), WASSERSTEIN_MIN_NORM);
}

export interface WassersteinSketchResult {
  /** W1 between the two sketches' estimated CDFs (step functions on their retained items). */
  distance: number;
  /**
   * |distance - W1 of the data| <= errorBound with ~99% confidence per sketch:
   * (eps_ref + eps_cur) * (max - min of both sketches), eps = kllRankErrorBound(k) for a compacted
   * sketch, 0 for an exact one. It follows from |∫|F^-G^| - ∫|F-G|| <= ∫|F^-F| + ∫|G^-G| over
   * the data range. Loose (the rank error is rarely at its maximum everywhere), but honest.
   */
  errorBound: number;
  exact: boolean;
}

/** W1 between two KLL sketches via their sorted views (weights = 2^level). */
export function wassersteinFromSketches(ref: KllSketch, cur: KllSketch): WassersteinSketchResult {
  if (ref.n === 0 || cur.n === 0) {
    throw new RangeError(`wassersteinFromSketches: empty sketch (reference n=${ref.n}, current n=${cur.n})`);
  }
  const r = kllSortedView(ref);
  const c = kllSortedView(cur);
  const all = new Float64Array(r.values.length + c.values.length);
  all.set(r.values);
  all.set(c.values, r.values.length);
  all.sort();
  let i = 0;
  let j = 0;
  let wr = 0;
  let wc = 0;
  let sum = 0;
  for (let k = 0; k < all.length - 1; k++) {
    const x = all[k]!;
    while (i < r.values.length && r.values[i]! <= x) wr = r.cumWeights[i++]!;
    while (j < c.values.length && c.values[j]! <= x) wc = c.cumWeights[j++]!;
    const delta = all[k + 1]! - x;
    if (delta !== 0) sum += Math.abs(wr / ref.n - wc / cur.n) * delta;
  }
  const exactRef = kllIsExact(ref);
  const exactCur = kllIsExact(cur);
  const lo = Math.min(ref.min!, cur.min!);
  const hi = Math.max(ref.max!, cur.max!);
  const eps = (exactRef ? 0 : kllRankErrorBound(ref.k)) + (exactCur ? 0 : kllRankErrorBound(cur.k));
  return { distance: sum, errorBound: eps * (hi - lo), exact: exactRef && exactCur };
}
