/**
 * Classification performance estimated before labels arrive, from the model's own (calibrated)
 * probabilities: confidence-based performance estimation, CBPE (NannyML; "Estimating model
 * performance without labels", docs.nannyml.com, "How it works: CBPE"). Pure: no I/O.
 *
 * The idea: if the probabilities are calibrated, a row predicted as class k is in fact class a
 * with probability p_a. So the *expected* confusion matrix of a window is the sum over its rows of
 * the calibrated probability vector, placed in the predicted column; every confusion-based metric
 * of that expected matrix is the estimate. The expected matrix has the shape of the realised one
 * (classification.ts: `ClassificationCounts` with fractional counts), so it merges by adding and
 * the same `classificationMetrics` derives the estimated accuracy, precision, recall and F1.
 *
 * The estimated accuracy's uncertainty: given calibrated p, a row is correct with probability
 * p_yhat, independently, so the number correct is Poisson-binomial with variance
 * sum p_yhat (1 - p_yhat); the realised accuracy should fall within
 * estimate +- z * sqrt(variance) / n. That band holds only while the calibration learnt on the
 * reference still holds: under concept drift (P(y|x) changes) or a calibration shift the estimate
 * is wrong however many rows there are; docs/quality.md shows such a case.
 */

import { addConfusion, type ClassificationCounts, emptyClassification, mergeClassification } from './classification.js';

export interface EstimatedCounts {
  /** The expected confusion matrix (fractional counts); `correct` is the expected number correct. */
  expected: ClassificationCounts;
  /** Sum over rows of p_yhat (1 - p_yhat): the variance of the number correct. */
  correctVariance: number;
}

export function emptyEstimate(maxClasses?: number): EstimatedCounts {
  return { expected: emptyClassification(maxClasses), correctVariance: 0 };
}

/**
 * Add one unlabelled prediction: the predicted label and the calibrated probability vector (see
 * calibration.ts). Rows without probabilities cannot be estimated and are the caller's to count.
 */
export function observeEstimate(e: EstimatedCounts, predicted: string, calibrated: Readonly<Record<string, number>>): void {
  const c = e.expected;
  // The expected counts in the predicted column: one fractional row per possible actual class.
  let pCorrect = 0;
  for (const actual of Object.keys(calibrated)) {
    const p = calibrated[actual]!;
    if (!(p > 0)) continue;
    addConfusion(c, actual, predicted, p);
    if (actual === predicted) pCorrect = p;
  }
  c.n++;
  c.correct += pCorrect;
  e.correctVariance += pCorrect * (1 - pCorrect);
}

export function mergeEstimates(a: EstimatedCounts, b: EstimatedCounts): EstimatedCounts {
  return { expected: mergeClassification(a.expected, b.expected), correctVariance: a.correctVariance + b.correctVariance };
}

export interface AccuracyEstimate {
  n: number;
  accuracy: number | null;
  /** Standard error of the realised accuracy around the estimate (see the header). */
  standardError: number | null;
}

export function estimatedAccuracy(e: EstimatedCounts): AccuracyEstimate {
  const n = e.expected.n;
  if (n === 0) return { n, accuracy: null, standardError: null };
  return { n, accuracy: e.expected.correct / n, standardError: Math.sqrt(e.correctVariance) / n };
}
