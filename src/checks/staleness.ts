/**
 * The staleness check as a scheduled Check: registry/staleness-check.ts (which also writes the
 * stale tags back to the registry), fed the drift check's failure streaks from the findings
 * history, exporting one stale gauge per Production version.
 *
 * Tag writes the registry refuses (a read-only MLflow user) keep the run's findings; they are
 * counted on every run (driftwatch_registry_tag_write_errors_total) but logged once per version
 * and reason, since the same refusal repeats every run until someone changes the permissions.
 */
import type { StalenessCheckConfig } from '../config/schema.js';
import { DriftwatchError, messageOf } from '../errors.js';
import type { FindingStore } from '../findings/history.js';
import { driftDatasetKey, runStalenessCheck } from '../registry/staleness-check.js';
import type { ModelRegistry } from '../registry/types.js';
import type { StatsStore } from '../store/types.js';
import type { Logger } from '../telemetry/logger.js';
import type { CheckMetrics } from '../telemetry/metrics.js';
import type { Check } from './check.js';

export function createStalenessCheck(
  config: StalenessCheckConfig,
  deps: {
    store: StatsStore;
    registry: ModelRegistry;
    history: Pick<FindingStore, 'streak'>;
    metrics?: CheckMetrics;
    logger?: Logger;
    /** The models this analyzer checks and tags (analyzer.shard); absent: every model. */
    owns?: (model: string) => boolean;
  },
): Check {
  const m = deps.metrics;
  const logged = new Set<string>();
  const onTagWriteError = (v: { name: string; version: string }, key: string, e: unknown) => {
    const reason = tagWriteErrorReason(e);
    m?.registryTagWriteErrors.inc({ reason });
    const k = `${v.name}\u0000${v.version}\u0000${reason}`;
    if (logged.has(k)) return;
    if (logged.size >= 10_000) logged.clear(); // bounded: a registry with endless versions
    logged.add(k);
    deps.logger?.warn('could not write the stale tags to the registry; the findings are kept (logged once per version and reason)', {
      model: v.name,
      version: v.version,
      tag: key,
      reason,
      error: messageOf(e),
    });
  };
  return {
    name: 'staleness',
    enabled: config.enabled,
    schedule: config.schedule,
    run: (nowMs) =>
      runStalenessCheck(
        {
          registry: deps.registry,
          store: deps.store,
          driftFailStreak: (model, v) => deps.history.streak(driftDatasetKey(model, v), ['fail']),
          onTagWriteError,
          ...(deps.owns ? { owns: deps.owns } : {}),
        },
        config,
        nowMs,
      ),
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

/** A failed tag write as a metric label: a few fixed values, whatever the error. */
export function tagWriteErrorReason(e: unknown): string {
  switch (e instanceof DriftwatchError ? e.code : '') {
    case 'DW_ERR_REGISTRY_UNAUTHORIZED':
      return 'unauthorized';
    case 'DW_ERR_REGISTRY_UNAVAILABLE':
    case 'DW_ERR_REGISTRY_LOCKED':
      return 'unavailable';
    case 'DW_ERR_REGISTRY_INVALID':
    case 'DW_ERR_REGISTRY_UNSUPPORTED':
      return 'invalid';
    case 'DW_ERR_REGISTRY_MODEL_NOT_FOUND':
    case 'DW_ERR_REGISTRY_VERSION_NOT_FOUND':
      return 'not_found';
    default:
      return 'other';
  }
}
