/**
 * The staleness check: every Production version in the registry against the staleness rules,
 * as Findings, and the verdict written back where the team looks, as tags on the model version:
 * `driftwatch.stale` = "true", `driftwatch.stale_reason`, `driftwatch.stale_since` (kept from the
 * first run that found it stale). Tags are removed when the condition ends, and from versions
 * that left Production (a newer version was promoted), so the registry never shows a stale flag
 * that no longer holds.
 *
 * A tag write the registry refuses (a read-only MLflow user: 403) or cannot take (unreachable)
 * does not fail the run: the findings are what the check is for, the tags only mirror them. The
 * failed write goes to `onTagWriteError` and the version's remaining writes are skipped this run.
 */
import type { Finding } from '../findings/finding.js';
import { findingKey } from '../findings/finding.js';
import type { StalenessCheckConfig } from '../config/schema.js';
import type { StatsStore } from '../store/types.js';
import { evaluateStaleness } from './staleness.js';
import type { ModelRegistry, ModelVersion } from './types.js';

export const STALE_TAG = 'driftwatch.stale';
export const STALE_REASON_TAG = 'driftwatch.stale_reason';
export const STALE_SINCE_TAG = 'driftwatch.stale_since';

export interface StalenessCheckDeps {
  registry: ModelRegistry;
  store: StatsStore;
  /** Drift-check runs in a row with a failed dataset verdict for this version. */
  driftFailStreak(model: string, version: string): number;
  /** A tag write that failed; without it, the error fails the run (the old behaviour). */
  onTagWriteError?: (v: ModelVersion, key: string, error: unknown) => void;
  /** The models this analyzer checks and tags (analyzer.shard); absent: every model. */
  owns?: (model: string) => boolean;
}

const tag = (v: ModelVersion, key: string) => v.tags.find((t) => t.key === key)?.value;

/** The version's tag writes, in order; the first failure is reported and ends them. */
async function writeTags(deps: StalenessCheckDeps, v: ModelVersion, writes: Array<[key: string, write: () => Promise<void>]>): Promise<void> {
  for (const [key, write] of writes) {
    try {
      await write();
    } catch (e) {
      if (!deps.onTagWriteError) throw e;
      deps.onTagWriteError(v, key, e);
      return;
    }
  }
}

function clearTags(deps: StalenessCheckDeps, v: ModelVersion): Promise<void> {
  const keys = [STALE_TAG, STALE_REASON_TAG, STALE_SINCE_TAG].filter((key) => tag(v, key) !== undefined);
  return writeTags(
    deps,
    v,
    keys.map((key) => [key, () => deps.registry.deleteModelVersionTag(v.name, v.version, key)]),
  );
}

export async function runStalenessCheck(deps: StalenessCheckDeps, config: StalenessCheckConfig, nowMs: number): Promise<Finding[]> {
  const noTrafficMs = config.noTrafficMs;
  const lastTraffic = new Map((await deps.store.listSeries()).map((s) => [`${s.model}\u0000${s.version}`, s.lastMs]));
  const findings: Finding[] = [];
  const owns = deps.owns ?? (() => true);
  for (const model of await deps.registry.listRegisteredModels()) {
    // Another analyzer's model: it checks it and writes its tags (no two writers of one tag).
    if (!owns(model.name)) continue;
    const versions = await deps.registry.listModelVersions(model.name);
    // Archived versions do not count as "newer": after a rollback the restored version is not stale for it.
    const newest = versions
      .filter((v) => v.current_stage !== 'Archived')
      .reduce<ModelVersion | null>((a, v) => (!a || Number(v.version) > Number(a.version) ? v : a), null);
    for (const v of versions) {
      if (v.current_stage !== 'Production') {
        if (config.writeTags) await clearTags(deps, v);
        continue;
      }
      const results = evaluateStaleness(
        {
          nowMs,
          createdAtMs: v.creation_timestamp,
          driftFailStreak: deps.driftFailStreak(v.name, v.version),
          lastTrafficMs: lastTraffic.get(`${v.name}\u0000${v.version}`) ?? null,
          newerVersion: newest && Number(newest.version) > Number(v.version) ? newest.version : null,
        },
        config,
        noTrafficMs,
      );
      for (const r of results) {
        findings.push({
          check: 'staleness',
          subject: { model: v.name, version: v.version, name: r.rule },
          status: r.stale ? 'warn' : 'ok',
          metric: r.rule === 'age' ? 'age_days' : r.rule === 'drift' ? 'drift_fail_runs' : r.rule === 'no_traffic' ? 'idle_minutes' : 'newer_version',
          value: r.value,
          threshold: { warn: r.threshold, fail: null, direction: 'above' },
          window: { fromMs: v.creation_timestamp, toMs: nowMs, label: 'since registration' },
          sampleSize: 0,
          at: nowMs,
          message: `${v.name} v${v.version} (Production): ${r.reason}${r.stale ? ': stale' : ''}`,
        });
      }
      if (!config.writeTags) continue;
      const reasons = results.filter((r) => r.stale).map((r) => r.tagReason);
      if (reasons.length) {
        const reason = reasons.join('; ');
        const writes: Array<[string, () => Promise<void>]> = [];
        const set = (key: string, value: string) => writes.push([key, () => deps.registry.setModelVersionTag(v.name, v.version, key, value)]);
        if (tag(v, STALE_TAG) !== 'true') set(STALE_TAG, 'true');
        if (tag(v, STALE_REASON_TAG) !== reason) set(STALE_REASON_TAG, reason);
        if (!tag(v, STALE_SINCE_TAG)) set(STALE_SINCE_TAG, new Date(nowMs).toISOString());
        await writeTags(deps, v, writes);
      } else await clearTags(deps, v);
    }
  }
  return findings;
}

/** The key of the drift check's dataset-level finding, for the streak lookup. */
export function driftDatasetKey(model: string, version: string): string {
  return findingKey({ check: 'drift', subject: { model, version, name: '__dataset__' } });
}
