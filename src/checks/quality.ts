/**
 * The quality check as a scheduled Check: outcomes/quality-check.ts over the prediction log,
 * exporting each metric as driftwatch_quality_<metric>{model,version} and the labelled share.
 * Enabled only where predictions are logged (labels.enabled): without them there is nothing to join.
 */
import type { QualityCheckConfig } from '../config/schema.js';
import type { PredictionLog } from '../outcomes/prediction-log.js';
import { runQualityCheck } from '../outcomes/quality-check.js';
import type { CheckMetrics } from '../telemetry/metrics.js';
import type { Check } from './check.js';

export function createQualityCheck(config: QualityCheckConfig, deps: { log: PredictionLog | null; metrics?: CheckMetrics }): Check {
  const m = deps.metrics;
  const log = deps.log;
  return {
    name: 'quality',
    enabled: config.enabled && log !== null,
    schedule: config.schedule,
    run: async (nowMs) => {
      if (log === null) throw new Error('the quality check needs the prediction log: set labels.enabled: true');
      return runQualityCheck({ log }, config, nowMs);
    },
    exportGauges(findings) {
      if (!m) return;
      for (const g of Object.values(m.quality)) g.reset();
      m.qualityLabelledShare.reset();
      for (const f of findings) {
        const labels = { model: f.subject.model, version: f.subject.version ?? '' };
        const share = f.detail?.labelled_share;
        if (typeof share === 'number') m.qualityLabelledShare.set(labels, share);
        // An insufficient sample's value is noise: no gauge rather than a misleading one.
        if (f.value === null || f.insufficientData) continue;
        m.quality[f.metric]?.set(labels, f.value);
      }
    },
  };
}
