/**
 * The data-quality check as a scheduled Check: quality/data-quality-check.ts over the store, with
 * each model version's reference from the registry (as the drift check), exporting each feature's
 * share per rule as driftwatch_data_quality_share{model,version,feature,rule}.
 */
import type { DataQualityCheckConfig } from '../config/schema.js';
import { runDataQualityCheck } from '../quality/data-quality-check.js';
import type { Check } from './check.js';
import { referenceLookup, type WindowCheckDeps } from './drift.js';

export function createDataQualityCheck(config: DataQualityCheckConfig, deps: WindowCheckDeps): Check {
  const m = deps.metrics;
  return {
    name: 'data_quality',
    enabled: config.enabled,
    schedule: config.schedule,
    run: (nowMs) =>
      runDataQualityCheck(
        {
          store: deps.store,
          referenceFor: referenceLookup(deps.registry),
          ...(deps.owns ? { owns: deps.owns } : {}),
          ...(deps.windows ? { currentWindow: deps.windows } : {}),
        },
        config,
        nowMs,
      ),
    exportGauges(findings) {
      if (!m) return;
      m.dataQualityShare.reset();
      for (const f of findings) {
        const feature = f.detail?.feature;
        if (f.value === null || f.insufficientData || typeof feature !== 'string') continue;
        m.dataQualityShare.set({ model: f.subject.model, version: f.subject.version ?? '', feature, rule: f.metric }, f.value);
      }
    },
  };
}
