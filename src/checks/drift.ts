/**
 * The drift check as a scheduled Check: drift/drift-check.ts over the store, with each model
 * version's reference from the registry, exporting PSI, KS and the dataset drift share as gauges.
 */
import type { DriftCheckConfig } from '../config/schema.js';
import { runDriftCheck } from '../drift/drift-check.js';
import type { ModelRegistry } from '../registry/types.js';
import type { ReferenceProfile } from '../stats/types.js';
import type { StatsStore } from '../store/types.js';
import type { CheckMetrics } from '../telemetry/metrics.js';
import type { Check } from './check.js';
import type { WindowReader } from './window-reader.js';

/** A model version's reference from the registry; a model the registry does not know (a foreign upstream's name) has none, which is not an error. */
export function referenceLookup(registry: ModelRegistry): (model: string, version: string) => Promise<ReferenceProfile | null> {
  return async (model, version) => {
    try {
      return await registry.getReference(model, version);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'DW_ERR_REGISTRY_MODEL_NOT_FOUND' || code === 'DW_ERR_REGISTRY_VERSION_NOT_FOUND') return null;
      throw e;
    }
  };
}

export interface WindowCheckDeps {
  store: StatsStore;
  registry: ModelRegistry;
  metrics?: CheckMetrics;
  /** The models this analyzer checks (analyzer.shard); absent: every model. */
  owns?: (model: string) => boolean;
  /** The current-window read shared with the other window check (window-reader.ts); absent: its own. */
  windows?: WindowReader;
}

export function createDriftCheck(config: DriftCheckConfig, deps: WindowCheckDeps): Check {
  const referenceFor = referenceLookup(deps.registry);
  const m = deps.metrics;
  return {
    name: 'drift',
    enabled: config.enabled,
    schedule: config.schedule,
    run: (nowMs) =>
      runDriftCheck(
        { store: deps.store, referenceFor, ...(deps.owns ? { owns: deps.owns } : {}), ...(deps.windows ? { currentWindow: deps.windows } : {}) },
        config,
        nowMs,
      ),
    exportGauges(findings) {
      if (!m) return;
      m.psi.reset();
      m.ksStatistic.reset();
      m.driftShare.reset();
      m.driftEffect.reset();
      for (const f of findings) {
        // version as on the request histograms; "" for a finding about the model as a whole.
        const version = f.subject.version ?? '';
        const d = f.detail as { psi?: { value: number } | null; ks?: { statistic: number } | null } | undefined;
        if (f.subject.name === '__dataset__') {
          if (f.value !== null) m.driftShare.set({ model: f.subject.model, version }, f.value);
          continue;
        }
        if (d?.psi) m.psi.set({ model: f.subject.model, version, feature: f.subject.name }, d.psi.value);
        if (d?.ks) m.ksStatistic.set({ model: f.subject.model, version, feature: f.subject.name }, d.ks.statistic);
        const effect = (f.detail?.decision as { effect?: { stat: string; value: number } | null } | null | undefined)?.effect;
        if (effect && Number.isFinite(effect.value))
          m.driftEffect.set({ model: f.subject.model, version, feature: f.subject.name, statistic: effect.stat }, effect.value);
      }
    },
  };
}
