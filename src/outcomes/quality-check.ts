/**
 * The model-quality check: for each model version with logged predictions in the window, the
 * realised performance on the predictions whose labels have arrived (quality/classification.ts,
 * quality/regression.ts) and, for classifiers with probabilities, the performance estimated on
 * every prediction of the window, labelled or not (quality/estimate.ts, CBPE). One finding per
 * metric, with the usual shape: threshold, window, sample size (labelled rows), the labelled share
 * and the label delay in its detail.
 *
 * Attribution: the window is of the *prediction's* time (a label that arrives today for last
 * week's prediction counts for last week), so a window's numbers keep changing while its labels
 * come in; the finding says how many of its predictions are labelled so far.
 *
 * With the version's reference (when it was built with a label column, `reference build
 * --label-column`): the estimate applies the isotonic calibration maps fitted on the reference's
 * labelled rows (quality/calibration.ts), and the headline metric gets a finding of its own for
 * how far it fell from the reference's value (`accuracy_drop`, `estimated_accuracy_drop`,
 * `rmse_increase`: positive is worse), judged by `checks.quality.maxDrop`.
 */
import type { QualityCheckConfig } from '../config/schema.js';
import type { Finding, FindingStatus, FindingThreshold } from '../findings/finding.js';
import { statusFor } from '../findings/finding.js';
import { calibrate } from '../quality/calibration.js';
import { classificationMetrics, emptyClassification, observeClassification } from '../quality/classification.js';
import { emptyEstimate, estimatedAccuracy, observeEstimate } from '../quality/estimate.js';
import { emptyRegression, observeRegression, regressionMetrics } from '../quality/regression.js';
import { messageOf } from '../errors.js';
import { emptyKll, kllQuantile, kllUpdate } from '../stats/kll-sketch.js';
import type { ReferencePerformance, ReferenceProfile } from '../stats/types.js';
import type { LoggedRow, PredictionLog } from './prediction-log.js';

/** Higher is better for these (a value under the limit is bad); lower is better for the others. */
const HIGHER_IS_BETTER = new Set(['accuracy', 'estimated_accuracy', 'macro_f1', 'macro_precision', 'macro_recall', 'r2']);

export interface QualityCheckDeps {
  log: PredictionLog;
  /** The model version's reference profile (its performance and calibration maps), when there is one. */
  referenceFor?(model: string, version: string): Promise<ReferenceProfile | null>;
}

/** What the reference says about one model version, for the accumulator. */
export interface QualityBaseline {
  performance: ReferencePerformance;
  /** Where the reference came from (its source), for the findings' detail. */
  source: string;
}

function fmt(v: number | null): string {
  return v === null ? 'n/a' : Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(3);
}

/**
 * A value against its limits, for every quality finding: too small a sample (labelled rows, or
 * predictions for the estimate) is insufficient data and never warns or fails.
 */
function judge(value: number | null, threshold: FindingThreshold, sample: number, ofPredictions: boolean, config: QualityCheckConfig) {
  const insufficient = sample < config.minLabelled;
  const status: FindingStatus = insufficient || value === null ? 'ok' : statusFor(value, threshold);
  const limit = status === 'fail' ? threshold.fail : status === 'warn' ? threshold.warn : null;
  const tooFew = `too few ${ofPredictions ? 'predictions' : 'labelled predictions'} (${sample} < ${config.minLabelled}) over the last ${config.window}`;
  return { insufficient, status, limit, tooFew };
}

export async function runQualityCheck(deps: QualityCheckDeps, config: QualityCheckConfig, nowMs: number): Promise<Finding[]> {
  const fromMs = nowMs - config.windowMs;
  const findings: Finding[] = [];
  for (const s of await deps.log.series(fromMs, nowMs)) {
    let baseline: QualityBaseline | null = null;
    let referenceError: string | null = null;
    if (deps.referenceFor) {
      // An unreadable reference costs the drop and the calibration, never the realised metrics.
      try {
        const ref = await deps.referenceFor(s.model, s.version);
        if (ref?.performance) baseline = { performance: ref.performance, source: ref.source };
      } catch (e) {
        referenceError = messageOf(e);
      }
    }
    const acc = new QualityAccumulator(baseline);
    for await (const page of deps.log.scan(s.model, s.version, fromMs, nowMs)) for (const r of page) acc.observe(r);
    findings.push(...acc.findings(s.model, s.version, config, fromMs, nowMs, referenceError));
  }
  return findings;
}

/** The reference's value of a metric the drop is measured on. */
function referenceValue(p: ReferencePerformance, metric: 'accuracy' | 'rmse'): number | null {
  if (metric === 'accuracy') return p.classification ? classificationMetrics(p.classification).accuracy : null;
  return p.regression ? regressionMetrics(p.regression).rmse : null;
}

/**
 * One model version's window, row by row, in mergeable counts (so the rows are read page by page
 * with bounded memory): realised classification or regression counts over the labelled rows, the
 * expected counts of the estimate over every row with probabilities, and the label delays.
 */
export class QualityAccumulator {
  private predictions = 0;
  private labelled = 0;
  private sawClass = false;
  private readonly classes = emptyClassification();
  private readonly regression = emptyRegression();
  private readonly estimate = emptyEstimate();
  /** Label delays for their median: a KLL sketch bounds them as the rows grow. */
  private readonly delays = emptyKll(200);
  private readonly calibration: ReferencePerformance['calibration'];

  /** `baseline`: the reference's performance (the drop and the calibration maps), when it has one. */
  constructor(private readonly baseline: QualityBaseline | null = null) {
    this.calibration = baseline?.performance.calibration ?? null;
  }

  observe(r: LoggedRow): void {
    this.predictions++;
    // Probabilities keyed by something other than class names (no labels.classes and no MLmodel
    // metadata.classes: the vector is keyed 0, 1, ...) say nothing about the predicted or the
    // actual class: used anyway, every row would look certainly wrong (estimate 0, log loss 34.5).
    const probabilities = r.predicted !== null && r.probabilities !== null && Object.hasOwn(r.probabilities, r.predicted) ? r.probabilities : null;
    if (r.predicted !== null) {
      this.sawClass = true;
      // The estimate is over every prediction with probabilities, labelled or not (NannyML does
      // the same): it is the number to read before the labels come. The probabilities are
      // calibrated first by the maps fitted on the reference, when it had labels.
      if (probabilities !== null)
        observeEstimate(this.estimate, r.predicted, this.calibration === null ? probabilities : calibrate(probabilities, this.calibration));
    }
    if (r.label === null) return;
    this.labelled++;
    kllUpdate(this.delays, r.labelAtMs! - r.atMs);
    if (r.predicted !== null) observeClassification(this.classes, String(r.label), r.predicted, probabilities);
    else if (r.value !== null && typeof r.label === 'number') observeRegression(this.regression, r.label, r.value);
  }

  findings(model: string, version: string, config: QualityCheckConfig, fromMs: number, nowMs: number, referenceError: string | null = null): Finding[] {
    const classification = this.sawClass;
    const values: Record<string, number | null> = {};
    const extra: Record<string, unknown> = {};
    if (classification) {
      const m = classificationMetrics(this.classes);
      values.accuracy = m.accuracy;
      values.macro_f1 = m.macroF1;
      values.macro_precision = m.macroPrecision;
      values.macro_recall = m.macroRecall;
      values.log_loss = m.logLoss;
      values.brier = m.brier;
      extra.per_class = m.perClass;
      const est = estimatedAccuracy(this.estimate);
      if (est.n > 0) {
        values.estimated_accuracy = est.accuracy;
        extra.estimate = { n: est.n, standard_error: est.standardError, calibrated: this.calibration !== null };
      }
    } else {
      const m = regressionMetrics(this.regression);
      values.mae = m.mae;
      values.rmse = m.rmse;
      values.mape = m.mape;
      values.r2 = m.r2;
      extra.bias = m.bias;
      extra.abs_error_quantiles = { p50: m.absErrorP50, p90: m.absErrorP90, p99: m.absErrorP99 };
    }
    const rows = this.predictions;
    const labelled = this.labelled;
    if (referenceError !== null) extra.reference_error = referenceError;
    const shared = {
      predictions: rows,
      labelled,
      labelled_share: rows === 0 ? null : labelled / rows,
      label_delay_p50_ms: kllQuantile(this.delays, 0.5),
      ...extra,
    };
    // Always reported: the headline metric of the task (and the estimate); the others when a threshold names them.
    const headline = classification ? ['accuracy', 'estimated_accuracy'] : ['rmse'];
    const metrics = new Set([...headline.filter((m) => m in values), ...Object.keys(config.thresholds).filter((m) => m in values)]);
    const out: Finding[] = [];
    for (const metric of metrics) {
      const value = values[metric] ?? null;
      const limits = config.thresholds[metric === 'estimated_accuracy' ? 'accuracy' : (metric as keyof typeof config.thresholds)];
      const threshold: FindingThreshold = {
        warn: limits?.warn ?? null,
        fail: limits?.fail ?? null,
        direction: HIGHER_IS_BETTER.has(metric) ? 'below' : 'above',
      };
      // The estimate needs predictions, not labels; every realised metric needs labelled rows.
      const sample = metric === 'estimated_accuracy' ? rows : labelled;
      const { insufficient, status, limit, tooFew } = judge(value, threshold, sample, metric === 'estimated_accuracy', config);
      const cmp = limit === null ? '' : ` ${threshold.direction === 'below' ? '<' : '>='} ${limit}`;
      const of = metric === 'estimated_accuracy' ? `n=${rows} predictions` : `n=${labelled} labelled of ${rows}`;
      const message = insufficient
        ? `${model} v${version} ${metric}: ${tooFew}`
        : `${model} v${version} ${metric} ${fmt(value)}${cmp} over predictions of the last ${config.window} (${of})`;
      out.push({
        check: 'quality',
        subject: { model, version, name: metric },
        status,
        metric,
        value,
        threshold,
        window: { fromMs, toMs: nowMs, label: config.window },
        sampleSize: sample,
        at: nowMs,
        message,
        ...(insufficient ? { insufficientData: true } : {}),
        detail: shared,
      });
    }
    if (this.baseline !== null) out.push(...this.dropFindings(model, version, config, values, shared, { fromMs, toMs: nowMs, label: config.window }, nowMs));
    return out;
  }

  /**
   * The headline metric's fall from the reference's value, in absolute points: for accuracy (and
   * its estimate) the reference minus the window, for RMSE the window minus the reference; positive
   * is worse either way, so one `maxDrop` judges both (direction 'above').
   */
  private dropFindings(
    model: string,
    version: string,
    config: QualityCheckConfig,
    values: Record<string, number | null>,
    shared: Record<string, unknown>,
    window: Finding['window'],
    nowMs: number,
  ): Finding[] {
    const perf = this.baseline!.performance;
    const pairs: Array<{ metric: string; of: 'accuracy' | 'estimated_accuracy' | 'rmse'; base: 'accuracy' | 'rmse' }> = perf.classification
      ? [
          { metric: 'accuracy_drop', of: 'accuracy', base: 'accuracy' },
          { metric: 'estimated_accuracy_drop', of: 'estimated_accuracy', base: 'accuracy' },
        ]
      : [{ metric: 'rmse_increase', of: 'rmse', base: 'rmse' }];
    const threshold: FindingThreshold = { warn: config.maxDrop.warn, fail: config.maxDrop.fail, direction: 'above' };
    const out: Finding[] = [];
    for (const { metric, of, base } of pairs) {
      // The task of the window must be the reference's (a classifier's reference, a regressor's window: nothing to compare).
      if (!(of in values)) continue;
      const current = values[of] ?? null;
      const reference = referenceValue(perf, base);
      const value = current === null || reference === null ? null : base === 'accuracy' ? reference - current : current - reference;
      const estimate = of === 'estimated_accuracy';
      const sample = estimate ? this.predictions : this.labelled;
      const { insufficient, status, limit, tooFew } = judge(value, threshold, sample, estimate, config);
      const what = `${estimate ? 'estimated accuracy' : base === 'accuracy' ? 'accuracy' : 'RMSE'} ${fmt(current)} against ${fmt(reference)} on the reference`;
      const message = insufficient
        ? `${model} v${version} ${metric}: ${tooFew}`
        : `${model} v${version} ${metric} ${fmt(value)}${limit === null ? '' : ` >= ${limit}`}: ${what}, over predictions of the last ${config.window}`;
      out.push({
        check: 'quality',
        subject: { model, version, name: metric },
        status,
        metric,
        value,
        threshold,
        window,
        sampleSize: sample,
        at: nowMs,
        message,
        ...(insufficient ? { insufficientData: true } : {}),
        detail: {
          ...shared,
          current: current,
          reference: {
            metric: base,
            value: reference,
            labelled: perf.labelled,
            label_column: perf.labelColumn,
            source: this.baseline!.source,
          },
        },
      });
    }
    return out;
  }
}
