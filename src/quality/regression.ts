/**
 * Regression quality on labelled predictions, as mergeable sums. Pure: no I/O, no clock.
 *
 * As for classification (classification.ts), windows and sidecars combine by adding the parts:
 *  - the actuals' moments (n, mean, M2: Chan's parallel merge, stats/moments.ts) give R-squared's
 *    total sum of squares without the cancellation of sum(y^2) - sum(y)^2 / n;
 *  - sums of the error, its absolute value, its square and the absolute percentage error give the
 *    bias, MAE, RMSE and MAPE;
 *  - a KLL sketch (stats/kll-sketch.ts) of the absolute error gives its quantiles within the
 *    sketch's stated rank error.
 *
 * Definitions (scikit-learn's): error = predicted - actual; MAE = mean |e|; RMSE = sqrt(mean e^2);
 * MAPE = mean |e| / max(|actual|, eps) with eps = 2.220446049250313e-16 (sklearn's
 * `mean_absolute_percentage_error`, so a zero actual makes it enormous: that is what sklearn
 * reports too, and docs/quality.md says so), as a fraction, not a percentage; R-squared = 1 -
 * SS_res / SS_tot, null when SS_tot is 0 (sklearn returns 0.0 or 1.0 there, which says nothing).
 */

import { emptyKll, kllMerge, kllQuantile, kllUpdate } from '../stats/kll-sketch.js';
import { emptyMoments, mergeMoments, observeMoment } from '../stats/moments.js';
import type { RegressionCounts } from '../stats/types.js';

/** The shape lives in stats/types.ts, beside the reference profile that carries it. */
export type { RegressionCounts };

export interface RegressionMetrics {
  n: number;
  mae: number | null;
  rmse: number | null;
  mape: number | null;
  r2: number | null;
  /** Mean of predicted - actual: positive means the model over-predicts. */
  bias: number | null;
  absErrorP50: number | null;
  absErrorP90: number | null;
  absErrorP99: number | null;
}

const MAPE_EPS = 2.220446049250313e-16;

export function emptyRegression(k = 200): RegressionCounts {
  return { actual: emptyMoments(), sumError: 0, sumAbsError: 0, sumSqError: 0, sumAbsPctError: 0, absErrors: emptyKll(k) };
}

/** Count one labelled prediction; non-finite values are the caller's to refuse (they are ignored here). */
export function observeRegression(r: RegressionCounts, actual: number, predicted: number): boolean {
  if (!Number.isFinite(actual) || !Number.isFinite(predicted)) return false;
  const e = predicted - actual;
  observeMoment(r.actual, actual);
  r.sumError += e;
  r.sumAbsError += Math.abs(e);
  r.sumSqError += e * e;
  r.sumAbsPctError += Math.abs(e) / Math.max(Math.abs(actual), MAPE_EPS);
  kllUpdate(r.absErrors, Math.abs(e));
  return true;
}

export function mergeRegression(a: RegressionCounts, b: RegressionCounts): RegressionCounts {
  return {
    actual: mergeMoments(a.actual, b.actual),
    sumError: a.sumError + b.sumError,
    sumAbsError: a.sumAbsError + b.sumAbsError,
    sumSqError: a.sumSqError + b.sumSqError,
    sumAbsPctError: a.sumAbsPctError + b.sumAbsPctError,
    absErrors: kllMerge(a.absErrors, b.absErrors),
  };
}

export function regressionMetrics(r: RegressionCounts): RegressionMetrics {
  const n = r.actual.n;
  if (n === 0) {
    return { n, mae: null, rmse: null, mape: null, r2: null, bias: null, absErrorP50: null, absErrorP90: null, absErrorP99: null };
  }
  const ssTot = r.actual.m2;
  return {
    n,
    mae: r.sumAbsError / n,
    rmse: Math.sqrt(r.sumSqError / n),
    mape: r.sumAbsPctError / n,
    r2: ssTot > 0 ? 1 - r.sumSqError / ssTot : null,
    bias: r.sumError / n,
    absErrorP50: kllQuantile(r.absErrors, 0.5),
    absErrorP90: kllQuantile(r.absErrors, 0.9),
    absErrorP99: kllQuantile(r.absErrors, 0.99),
  };
}
