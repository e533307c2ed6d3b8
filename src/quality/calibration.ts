/**
 * Probability calibration by isotonic regression (pool-adjacent-violators), fitted on the
 * reference's labelled rows and applied to live probabilities before performance is estimated
 * (estimate.ts). Pure: no I/O.
 *
 * Why: confidence-based estimation (NannyML's CBPE) is only as good as the probabilities are
 * calibrated; many classifiers (boosted trees, SVMs, over-fitted forests) are not. NannyML
 * calibrates on the reference with isotonic regression when the reference shows miscalibration;
 * we always fit it (with enough rows), because a monotone map fitted on well-calibrated scores is
 * close to the identity anyway. The fitted map is what scikit-learn's `IsotonicRegression(
 * out_of_bounds="clip")` predicts: piecewise linear between the block means, clipped at the ends.
 */

import { setOwn } from '../stats/own-keys.js';
import type { ClassCalibration, IsotonicMap } from '../stats/types.js';

/** The shapes live in stats/types.ts, beside the reference profile that carries the maps. */
export type { ClassCalibration, IsotonicMap };

/** Minimum labelled rows for a calibration map; below it the identity is used (and the docs say the estimate is uncalibrated). */
export const MIN_CALIBRATION_ROWS = 100;

/**
 * Fit a non-decreasing map from score to the frequency of the outcome (targets in [0, 1]).
 * Ties in the score are pooled first (their mean target), as scikit-learn does, so the map is a
 * function. Returns null with fewer than two distinct scores (nothing to interpolate).
 */
export function fitIsotonic(scores: ArrayLike<number>, targets: ArrayLike<number>): IsotonicMap | null {
  const n = Math.min(scores.length, targets.length);
  const order: number[] = [];
  for (let i = 0; i < n; i++) if (Number.isFinite(scores[i]!) && Number.isFinite(targets[i]!)) order.push(i);
  order.sort((a, b) => scores[a]! - scores[b]!);
  // Distinct scores with their summed targets and weights.
  const xs: number[] = [];
  const sums: number[] = [];
  const weights: number[] = [];
  for (const i of order) {
    const s = scores[i]!;
    if (xs.length > 0 && xs[xs.length - 1] === s) {
      sums[sums.length - 1]! += targets[i]!;
      weights[weights.length - 1]! += 1;
    } else {
      xs.push(s);
      sums.push(targets[i]!);
      weights.push(1);
    }
  }
  if (xs.length < 2) return null;
  // Pool adjacent violators over blocks [start, end) of the distinct scores.
  const blockStart: number[] = [];
  const blockSum: number[] = [];
  const blockWeight: number[] = [];
  for (let j = 0; j < xs.length; j++) {
    blockStart.push(j);
    blockSum.push(sums[j]!);
    blockWeight.push(weights[j]!);
    while (blockStart.length > 1) {
      const last = blockStart.length - 1;
      if (blockSum[last - 1]! / blockWeight[last - 1]! <= blockSum[last]! / blockWeight[last]!) break;
      blockSum[last - 1]! += blockSum[last]!;
      blockWeight[last - 1]! += blockWeight[last]!;
      blockStart.pop();
      blockSum.pop();
      blockWeight.pop();
    }
  }
  // Each block's value at both its first and last score, so interpolation is flat inside a
  // block and linear between blocks (sklearn keeps exactly these points).
  const outX: number[] = [];
  const outY: number[] = [];
  for (let b = 0; b < blockStart.length; b++) {
    const first = blockStart[b]!;
    const last = (b + 1 < blockStart.length ? blockStart[b + 1]! : xs.length) - 1;
    const value = blockSum[b]! / blockWeight[b]!;
    outX.push(xs[first]!);
    outY.push(value);
    if (last !== first) {
      outX.push(xs[last]!);
      outY.push(value);
    }
  }
  return { x: outX, y: outY };
}

/** The map's value at `s`: linear between the points, clipped outside them. */
export function applyIsotonic(map: IsotonicMap, s: number): number {
  const { x, y } = map;
  if (!(s > x[0]!)) return y[0]!;
  const last = x.length - 1;
  if (s >= x[last]!) return y[last]!;
  let lo = 0;
  let hi = last;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (x[mid]! <= s) lo = mid;
    else hi = mid;
  }
  const t = (s - x[lo]!) / (x[hi]! - x[lo]!);
  return y[lo]! + t * (y[hi]! - y[lo]!);
}

/**
 * Calibrate a probability vector class by class and renormalise it to sum 1 (the one-vs-rest maps
 * are fitted independently, so their outputs need not sum to 1; NannyML normalises the same way).
 * Classes without a map keep their probability. A vector that calibrates to all zeros is returned
 * unchanged rather than divided by zero.
 */
export function calibrate(probabilities: Readonly<Record<string, number>>, maps: Readonly<ClassCalibration> | null): Record<string, number> {
  const out: Record<string, number> = {};
  let total = 0;
  for (const cls of Object.keys(probabilities)) {
    const p = probabilities[cls]!;
    const map = maps !== null && Object.hasOwn(maps, cls) ? maps[cls]! : null;
    const q = map === null ? p : applyIsotonic(map, p);
    // setOwn, not defineProperty for every key: this runs per class per row of the quality window,
    // and with defineProperty for every key the calibrated check ran at 0.23x the raw one's rows/s,
    // with setOwn at 0.52x (bench/quality-calibration-bench.ts, two runs at load average 6-8).
    setOwn(out, cls, q);
    total += q;
  }
  if (!(total > 0)) return { ...probabilities };
  for (const cls of Object.keys(out)) out[cls] = out[cls]! / total;
  return out;
}

/**
 * Fit one-vs-rest maps from labelled rows (actual label and the model's probability vector).
 * Null below MIN_CALIBRATION_ROWS rows; classes with fewer than two distinct scores get no map.
 */
export function fitClassCalibration(rows: readonly { actual: string; probabilities: Readonly<Record<string, number>> }[]): ClassCalibration | null {
  if (rows.length < MIN_CALIBRATION_ROWS) return null;
  const classes = new Set<string>();
  for (const r of rows) for (const c of Object.keys(r.probabilities)) classes.add(c);
  const maps: ClassCalibration = {};
  for (const cls of [...classes].sort()) {
    const scores = new Float64Array(rows.length);
    const targets = new Float64Array(rows.length);
    rows.forEach((r, i) => {
      scores[i] = Object.hasOwn(r.probabilities, cls) ? r.probabilities[cls]! : 0;
      targets[i] = r.actual === cls ? 1 : 0;
    });
    const map = fitIsotonic(scores, targets);
    if (map !== null) Object.defineProperty(maps, cls, { value: map, writable: true, enumerable: true, configurable: true });
  }
  return maps;
}
