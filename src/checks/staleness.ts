/**
 * The staleness check as a scheduled Check: registry/staleness-check.ts (which also writes the
 * stale tags back to the registry), fed the drift check's failure streaks from the findings
 * history, exporting one stale gauge per Production version.
 */
import type { StalenessCheckConfig } from '../config/schema.js';
import type { FindingStore } from '../findings/history.js';
import { driftDatasetKey, runStalenessCheck } from '../registry/staleness-check.js';
import type { ModelRegistry } from '../registry/types.js';
import type { StatsStore } from '../store/types.js';
import type { CheckMetrics } from '../telemetry/metrics.js';
import type { Check } from './check.js';

export function createStalenessCheck(
  config: StalenessCheckConfig,
  deps: { store: StatsStore; registry: ModelRegistry; history: Pick<FindingStore, 'streak'>; metrics?: CheckMetrics },
): Check {
  const m = deps.metrics;
  return {
    name: 'staleness',
    enabled: config.enabled,
    schedule: config.schedule,
    run: (nowMs) =>
      runStalenessCheck({ registry: deps.registry, store: deps.store, driftFailStreak: (model, v) => deps.history.streak(driftDatasetKey(model, v), ['fail']) }, config, nowMs),
    exportGauges(findings) {
      if (!m) return;
      m.stale.reset();
      const stale = new Map<string, number>();
      for (const f of findings) {
        if (!f.subject.version) continue;
        const k = `${f.subject.model}\u0000${f.subject.version}`;
        stale.set(k, Math.max(stale.get(k) ?? 0, f.status === 'warn' ? 1 : 0));
      }
      for (const [k, v] of stale) {
        const [model, version] = k.split('\u0000');
        m.stale.set({ model: model!, version: version! }, v);
      }
    },
  };
}
