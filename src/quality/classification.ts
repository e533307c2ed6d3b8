/**
 * Classification quality on labelled predictions, as mergeable counts. Pure: no I/O, no clock.
 *
 * Why counts and not metrics: a window's accuracy cannot be combined with another window's (or
 * another sidecar's) accuracy without knowing both denominators; the confusion counts, the row
 * count and the sums of per-row log loss and Brier score can. So every store keeps the counts
 * (`ClassificationCounts`), merges by adding, and the metrics are derived at read time
 * (`classificationMetrics`): fleet-wide numbers are sums, never averages of averages.
 *
 * Definitions (scikit-learn's, so users can check them against `sklearn.metrics`):
 *  - accuracy = correct / n;
 *  - per class c: precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2PR / (P + R); a class
 *    with a zero denominator gets 0 (sklearn's `zero_division=0`, without its warning);
 *  - macro precision / recall / F1 = unweighted mean over the classes seen as actual or predicted
 *    (sklearn's default label set: the union of y_true and y_pred); macro F1 averages the per-class
 *    F1 values (sklearn), not the F1 of the macro precision and recall;
 *  - log loss = -mean(ln p(actual)), with p clipped to [1e-15, 1 - 1e-15] (sklearn's eps before 1.5);
 *  - Brier score (multiclass) = mean over rows of sum over classes (p_c - [c = actual])^2 — the
 *    original definition (Brier 1950); for two classes it is twice sklearn's `brier_score_loss`,
 *    which scores the positive class only. docs/quality.md says so.
 */

import { getOwn, setOwn } from '../stats/own-keys.js';
import type { ClassificationCounts } from '../stats/types.js';

/** The shape lives in stats/types.ts, beside the reference profile that carries it. */
export type { ClassificationCounts };

export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  /** Rows whose actual label is this class. */
  support: number;
}

export interface ClassificationMetrics {
  n: number;
  accuracy: number | null;
  macroPrecision: number | null;
  macroRecall: number | null;
  macroF1: number | null;
  perClass: Record<string, ClassMetrics>;
  logLoss: number | null;
  brier: number | null;
  /** Rows the log loss and Brier score are over. */
  probRows: number;
  overflow: number;
}

/** Default bound on distinct classes: a classifier with more is rare, and a label column with more is probably not a class. */
export const DEFAULT_MAX_CLASSES = 256;

const EPS = 1e-15;

export function emptyClassification(maxClasses = DEFAULT_MAX_CLASSES): ClassificationCounts {
  if (!Number.isInteger(maxClasses) || maxClasses < 1) throw new Error(`maxClasses must be a positive integer, got ${maxClasses}`);
  return { n: 0, correct: 0, confusion: {}, overflow: 0, maxClasses, probRows: 0, logLossSum: 0, brierSum: 0 };
}

/** The classes present in the confusion counts (as actual or predicted), sorted by code units. */
export function classesOf(c: ClassificationCounts): string[] {
  const set = new Set<string>();
  for (const actual of Object.keys(c.confusion)) {
    set.add(actual);
    for (const predicted of Object.keys(c.confusion[actual]!)) set.add(predicted);
  }
  return [...set].sort();
}

/**
 * The classes kept so far, per confusion record: a cache only (records read back from JSON are
 * recomputed), so observing a row stays O(1) in the number of classes.
 */
const knownCache = new WeakMap<Record<string, Record<string, number>>, Set<string>>();

function knownClasses(c: ClassificationCounts): Set<string> {
  let known = knownCache.get(c.confusion);
  if (known === undefined) {
    known = new Set(classesOf(c));
    knownCache.set(c.confusion, known);
  }
  return known;
}

function addCell(c: ClassificationCounts, actual: string, predicted: string, rows: number, known: Set<string>): boolean {
  const newClasses = (known.has(actual) ? 0 : 1) + (known.has(predicted) || predicted === actual ? 0 : 1);
  if (known.size + newClasses > c.maxClasses) return false;
  known.add(actual);
  known.add(predicted);
  let row = getOwn(c.confusion, actual);
  if (row === undefined) {
    row = {};
    setOwn(c.confusion, actual, row);
  }
  setOwn(row, predicted, (getOwn(row, predicted) ?? 0) + rows);
  return true;
}

/**
 * Add `weight` rows (fractional for expected counts, estimate.ts) to one confusion cell; past the
 * class bound the weight goes to `overflow`. Does not touch `n` or `correct`: the caller counts rows.
 */
export function addConfusion(c: ClassificationCounts, actual: string, predicted: string, weight: number): void {
  if (!addCell(c, actual, predicted, weight, knownClasses(c))) c.overflow += weight;
}

/**
 * Count one labelled prediction. `probabilities`, when the model gave them, maps class -> p; rows
 * without them still count for the confusion-based metrics.
 */
export function observeClassification(
  c: ClassificationCounts,
  actual: string,
  predicted: string,
  probabilities?: Readonly<Record<string, number>> | null,
): void {
  c.n++;
  if (actual === predicted) c.correct++;
  if (!addCell(c, actual, predicted, 1, knownClasses(c))) c.overflow++;
  if (probabilities) {
    const pActual = getOwn(probabilities as Record<string, number>, actual) ?? 0;
    if (Number.isFinite(pActual)) {
      let brier = 0;
      let sawActual = false;
      for (const k of Object.keys(probabilities)) {
        const p = probabilities[k]!;
        if (!Number.isFinite(p)) continue;
        const y = k === actual ? 1 : 0;
        if (y === 1) sawActual = true;
        brier += (p - y) ** 2;
      }
      // The actual class may be missing from the probability map (a label the model never
      // predicts): its p is 0 and its term is (0 - 1)^2.
      if (!sawActual) brier += 1;
      c.probRows++;
      c.logLossSum += -Math.log(Math.min(1 - EPS, Math.max(EPS, pActual)));
      c.brierSum += brier;
    }
  }
}

/**
 * Sum of two counts (commutative; associative in everything but which classes survive past the
 * bound, as for category counts). The bound is the smaller of the two.
 */
export function mergeClassification(a: ClassificationCounts, b: ClassificationCounts): ClassificationCounts {
  const out = emptyClassification(Math.min(a.maxClasses, b.maxClasses));
  out.n = a.n + b.n;
  out.correct = a.correct + b.correct;
  out.overflow = a.overflow + b.overflow;
  out.probRows = a.probRows + b.probRows;
  out.logLossSum = a.logLossSum + b.logLossSum;
  out.brierSum = a.brierSum + b.brierSum;
  // Cells in a fixed order (largest first, ties by key) so the classes kept past the bound do
  // not depend on which argument came first.
  const cells: [string, string, number][] = [];
  for (const src of [a, b]) {
    for (const actual of Object.keys(src.confusion)) {
      const row = src.confusion[actual]!;
      for (const predicted of Object.keys(row)) cells.push([actual, predicted, row[predicted]!]);
    }
  }
  cells.sort((x, y) => y[2] - x[2] || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0));
  const known = knownClasses(out);
  for (const [actual, predicted, rows] of cells) {
    if (!addCell(out, actual, predicted, rows, known)) out.overflow += rows;
  }
  return out;
}

function ratio(num: number, den: number): number {
  return den === 0 ? 0 : num / den;
}

export function classificationMetrics(c: ClassificationCounts): ClassificationMetrics {
  const classes = classesOf(c);
  const perClass: Record<string, ClassMetrics> = {};
  let sumP = 0;
  let sumR = 0;
  let sumF = 0;
  for (const cls of classes) {
    const tp = getOwn(getOwn(c.confusion, cls) ?? {}, cls) ?? 0;
    let actualRows = 0;
    for (const v of Object.values(getOwn(c.confusion, cls) ?? {})) actualRows += v;
    let predictedRows = 0;
    for (const actual of Object.keys(c.confusion)) predictedRows += getOwn(c.confusion[actual]!, cls) ?? 0;
    const precision = ratio(tp, predictedRows);
    const recall = ratio(tp, actualRows);
    const f1 = ratio(2 * precision * recall, precision + recall);
    setOwn(perClass, cls, { precision, recall, f1, support: actualRows });
    sumP += precision;
    sumR += recall;
    sumF += f1;
  }
  const k = classes.length;
  return {
    n: c.n,
    accuracy: c.n === 0 ? null : c.correct / c.n,
    macroPrecision: k === 0 ? null : sumP / k,
    macroRecall: k === 0 ? null : sumR / k,
    macroF1: k === 0 ? null : sumF / k,
    perClass,
    logLoss: c.probRows === 0 ? null : c.logLossSum / c.probRows,
    brier: c.probRows === 0 ? null : c.brierSum / c.probRows,
    probRows: c.probRows,
    overflow: c.overflow,
  };
}
