/**
 * The staleness check: every Production version in the registry against the staleness rules,
 * as Findings, and the verdict written back where the team looks, as tags on the model version:
 * `driftwatch.stale` = "true", `driftwatch.stale_reason`, `driftwatch.stale_since` (kept from the
 * first run that found it stale). Tags are removed when the condition ends, and from versions
 * that left Production (a newer version was promoted), so the registry never shows a stale flag
 * that no longer holds.
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
}

const tag = (v: ModelVersion, key: string) => v.tags.find((t) => t.key === key)?.value;

async function clearTags(registry: ModelRegistry, v: ModelVersion): Promise<void> {
  for (const key of [STALE_TAG, STALE_REASON_TAG, STALE_SINCE_TAG]) {
    if (tag(v, key) !== undefined) await registry.deleteModelVersionTag(v.name, v.version, key);
  }
}

export async function runStalenessCheck(deps: StalenessCheckDeps, config: StalenessCheckConfig, nowMs: number): Promise<Finding[]> {
  const noTrafficMs = config.noTrafficMs;
  const lastTraffic = new Map((await deps.store.listSeries()).map((s) => [`${s.model}\u0000${s.version}`, s.lastMs]));
  const findings: Finding[] = [];
  for (const model of await deps.registry.listRegisteredModels()) {
    const versions = await deps.registry.listModelVersions(model.name);
    // Archived versions do not count as "newer": after a rollback the restored version is not stale for it.
    const newest = versions.filter((v) => v.current_stage !== 'Archived').reduce<ModelVersion | null>((a, v) => (!a || Number(v.version) > Number(a.version) ? v : a), null);
    for (const v of versions) {
      if (v.current_stage !== 'Production') {
        if (config.writeTags) await clearTags(deps.registry, v);
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
        if (tag(v, STALE_TAG) !== 'true') await deps.registry.setModelVersionTag(v.name, v.version, STALE_TAG, 'true');
        if (tag(v, STALE_REASON_TAG) !== reason) await deps.registry.setModelVersionTag(v.name, v.version, STALE_REASON_TAG, reason);
        if (!tag(v, STALE_SINCE_TAG)) await deps.registry.setModelVersionTag(v.name, v.version, STALE_SINCE_TAG, new Date(nowMs).toISOString());
      } else await clearTags(deps.registry, v);
    }
  }
  return findings;
}

/** The key of the drift check's dataset-level finding, for the streak lookup. */
export function driftDatasetKey(model: string, version: string): string {
  return findingKey({ check: 'drift', subject: { model, version, name: '__dataset__' } });
}
