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
 */
import type { QualityCheckConfig } from '../config/schema.js';
import type { Finding, FindingStatus, FindingThreshold } from '../findings/finding.js';
import { statusFor } from '../findings/finding.js';
import { classificationMetrics, emptyClassification, observeClassification } from '../quality/classification.js';
import { emptyEstimate, estimatedAccuracy, observeEstimate } from '../quality/estimate.js';
import { emptyRegression, observeRegression, regressionMetrics } from '../quality/regression.js';
import { emptyKll, kllQuantile, kllUpdate } from '../stats/kll-sketch.js';
import type { LoggedRow, PredictionLog } from './prediction-log.js';

/** Higher is better for these (a value under the limit is bad); lower is better for the others. */
const HIGHER_IS_BETTER = new Set(['accuracy', 'estimated_accuracy', 'macro_f1', 'macro_precision', 'macro_recall', 'r2']);

export interface QualityCheckDeps {
  log: PredictionLog;
}

function fmt(v: number | null): string {
  return v === null ? 'n/a' : Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(3);
}

export async function runQualityCheck(deps: QualityCheckDeps, config: QualityCheckConfig, nowMs: number): Promise<Finding[]> {
  const fromMs = nowMs - config.windowMs;
  const findings: Finding[] = [];
  for (const s of await deps.log.series(fromMs, nowMs)) {
    const acc = new QualityAccumulator();
    for await (const page of deps.log.scan(s.model, s.version, fromMs, nowMs)) for (const r of page) acc.observe(r);
    findings.push(...acc.findings(s.model, s.version, config, fromMs, nowMs));
  }
  return findings;
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

  observe(r: LoggedRow): void {
    this.predictions++;
    if (r.predicted !== null) {
      this.sawClass = true;
      // The estimate is over every prediction with probabilities, labelled or not (NannyML does
      // the same): it is the number to read before the labels come.
      if (r.probabilities !== null) observeEstimate(this.estimate, r.predicted, r.probabilities);
    }
    if (r.label === null) return;
    this.labelled++;
    kllUpdate(this.delays, r.labelAtMs! - r.atMs);
    if (r.predicted !== null) observeClassification(this.classes, String(r.label), r.predicted, r.probabilities);
    else if (r.value !== null && typeof r.label === 'number') observeRegression(this.regression, r.label, r.value);
  }

  findings(model: string, version: string, config: QualityCheckConfig, fromMs: number, nowMs: number): Finding[] {
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
        extra.estimate = { n: est.n, standard_error: est.standardError, calibrated: false };
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
      const insufficient = sample < config.minLabelled;
      let status: FindingStatus = value === null ? 'ok' : statusFor(value, threshold);
      if (insufficient) status = 'ok';
      const limit = status === 'fail' ? threshold.fail : status === 'warn' ? threshold.warn : null;
      const cmp = limit === null ? '' : ` ${threshold.direction === 'below' ? '<' : '>='} ${limit}`;
      const of = metric === 'estimated_accuracy' ? `n=${rows} predictions` : `n=${labelled} labelled of ${rows}`;
      const message = insufficient
        ? `${model} v${version} ${metric}: too few ${metric === 'estimated_accuracy' ? 'predictions' : 'labelled predictions'} (${sample} < ${config.minLabelled}) over the last ${config.window}`
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
    return out;
  }
}
