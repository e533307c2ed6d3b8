/**
 * The SLO check as a scheduled Check: slo/slo-check.ts over the store, exporting burn rates,
 * latency quantiles (in seconds, Prometheus' base unit) and error rates as gauges.
 */
import type { SloCheckConfig } from '../config/schema.js';
import { createSloCache, runSloCheck } from '../slo/slo-check.js';
import type { StatsStore } from '../store/types.js';
import type { CheckMetrics } from '../telemetry/metrics.js';
import type { Check } from './check.js';

const QUANTILE_OF: Record<string, string> = { p50_ms: '0.5', p95_ms: '0.95', p99_ms: '0.99' };

export function createSloCheck(
  config: SloCheckConfig,
  deps: {
    store: StatsStore;
    metrics?: CheckMetrics;
    owns?: (model: string) => boolean;
    /** Keep settled hours' sums between runs (slo-check.ts; default true; false: read every window every run). */
    cache?: boolean;
  },
): Check {
  const m = deps.metrics;
  const cache = deps.cache === false ? {} : { cache: createSloCache() };
  return {
    name: 'slo',
    enabled: config.enabled,
    schedule: config.schedule,
    run: (nowMs) => runSloCheck({ store: deps.store, ...(deps.owns ? { owns: deps.owns } : {}), ...cache }, config, nowMs),
    exportGauges(findings) {
      if (!m) return;
      m.burnRate.reset();
      m.latency.reset();
      m.errorRate.reset();
      for (const f of findings) {
        if (f.value === null) continue;
        // version as on the request histograms; "" for a finding about the model as a whole.
        const version = f.subject.version ?? '';
        if (f.metric === 'burn_rate') m.burnRate.set({ model: f.subject.model, version, rule: f.subject.name }, f.value);
        else if (f.metric === 'error_rate') m.errorRate.set({ model: f.subject.model, version }, f.value);
        else if (f.metric.endsWith('_ms')) m.latency.set({ model: f.subject.model, version, quantile: QUANTILE_OF[f.metric] ?? f.metric }, f.value / 1000);
      }
    },
  };
}
