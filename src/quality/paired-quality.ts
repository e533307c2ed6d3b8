/**
 * Both models' quality on the same labelled requests: for each labelled id the prediction log holds
 * a champion's and a challenger's prediction for (outcomes/prediction-log.ts `scanPairs`), each
 * model's prediction is counted against the one label, with the quality loop's own mergeable counts
 * (classification.ts, regression.ts). Pure: no I/O, no clock; pages are observed as they are read,
 * so a window of any size costs the counts' memory only. The summary's shape is the challenger
 * verdict's (challenger/paired-quality.ts).
 *
 * Why only rows both models can be scored on: the comparison is "on the same requests". A row one
 * model answered with a class and the other with nothing usable (or a class for one and a value for
 * the other) is counted as `skipped`, never as one model's error.
 */
import type { LabelledPair, ModelQuality, PairedQualitySummary, PairSide } from '../challenger/paired-quality.js';
import { type ClassificationCounts, classificationMetrics, emptyClassification, mergeClassification, observeClassification } from './classification.js';
import { emptyRegression, mergeRegression, observeRegression, type RegressionCounts, regressionMetrics } from './regression.js';

/** Mergeable: counts add (merge), metrics are derived at read time. */
export interface PairedQualityCounts {
  /** Labelled pairs scored (both models' predictions usable for the same task). */
  pairs: number;
  /** Labelled pairs not scored: one side had no usable prediction, or the sides disagree on the task. */
  skipped: number;
  champion: { classification: ClassificationCounts; regression: RegressionCounts };
  challenger: { classification: ClassificationCounts; regression: RegressionCounts };
}

export function emptyPairedQuality(): PairedQualityCounts {
  return {
    pairs: 0,
    skipped: 0,
    champion: { classification: emptyClassification(), regression: emptyRegression() },
    challenger: { classification: emptyClassification(), regression: emptyRegression() },
  };
}

/**
 * Probabilities keyed by something other than class names say nothing about the classes (the
 * quality check ignores them for the same reason, outcomes/quality-check.ts): used only when the
 * predicted class is one of their keys.
 */
function usableProbabilities(s: PairSide): Readonly<Record<string, number>> | null {
  return s.predicted !== null && s.probabilities !== null && Object.hasOwn(s.probabilities, s.predicted) ? s.probabilities : null;
}

export function observePair(q: PairedQualityCounts, p: LabelledPair): void {
  const a = p.champion;
  const b = p.challenger;
  if (a.predicted !== null && b.predicted !== null) {
    const actual = String(p.label);
    observeClassification(q.champion.classification, actual, a.predicted, usableProbabilities(a));
    observeClassification(q.challenger.classification, actual, b.predicted, usableProbabilities(b));
    q.pairs++;
    return;
  }
  if (
    a.predicted === null &&
    b.predicted === null &&
    a.value !== null &&
    b.value !== null &&
    typeof p.label === 'number' &&
    Number.isFinite(p.label) &&
    Number.isFinite(a.value) &&
    Number.isFinite(b.value)
  ) {
    observeRegression(q.champion.regression, p.label, a.value);
    observeRegression(q.challenger.regression, p.label, b.value);
    q.pairs++;
    return;
  }
  q.skipped++;
}

export function mergePairedQuality(x: PairedQualityCounts, y: PairedQualityCounts): PairedQualityCounts {
  return {
    pairs: x.pairs + y.pairs,
    skipped: x.skipped + y.skipped,
    champion: {
      classification: mergeClassification(x.champion.classification, y.champion.classification),
      regression: mergeRegression(x.champion.regression, y.champion.regression),
    },
    challenger: {
      classification: mergeClassification(x.challenger.classification, y.challenger.classification),
      regression: mergeRegression(x.challenger.regression, y.challenger.regression),
    },
  };
}

function modelQuality(c: ClassificationCounts, r: RegressionCounts): ModelQuality {
  const cm = classificationMetrics(c);
  const rm = regressionMetrics(r);
  return { accuracy: cm.accuracy, macroF1: cm.macroF1, logLoss: cm.logLoss, rmse: rm.rmse, mae: rm.mae };
}

export function summarizePairedQuality(q: PairedQualityCounts): PairedQualitySummary {
  const task = q.champion.classification.n > 0 ? 'classification' : q.champion.regression.actual.n > 0 ? 'regression' : null;
  return {
    labelledPairs: q.pairs,
    skipped: q.skipped,
    task,
    champion: modelQuality(q.champion.classification, q.champion.regression),
    challenger: modelQuality(q.challenger.classification, q.challenger.regression),
  };
}
