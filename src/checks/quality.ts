/**
 * The quality check as a scheduled Check: outcomes/quality-check.ts over the prediction log,
 * exporting each metric as driftwatch_quality_<metric>{model,version} and the labelled share.
 * Enabled only where predictions are logged (labels.enabled): without them there is nothing to join.
 * With the registry, each version's reference gives the check its baseline (the drop relative to
 * the reference, and the calibration maps for the estimate) when it was built with a label column.
 */
import type { QualityCheckConfig } from '../config/schema.js';
import type { PredictionLog } from '../outcomes/prediction-log.js';
import { runQualityCheck } from '../outcomes/quality-check.js';
import type { ModelRegistry } from '../registry/types.js';
import type { CheckMetrics } from '../telemetry/metrics.js';
import type { Check } from './check.js';
import { referenceLookup } from './drift.js';

export function createQualityCheck(config: QualityCheckConfig, deps: { log: PredictionLog | null; metrics?: CheckMetrics; registry?: ModelRegistry }): Check {
  const m = deps.metrics;
  const log = deps.log;
  const referenceFor = deps.registry ? referenceLookup(deps.registry) : undefined;
  return {
    name: 'quality',
    enabled: config.enabled && log !== null,
    schedule: config.schedule,
    run: async (nowMs) => {
      if (log === null) throw new Error('the quality check needs the prediction log: set labels.enabled: true');
      return runQualityCheck({ log, ...(referenceFor ? { referenceFor } : {}) }, config, nowMs);
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
