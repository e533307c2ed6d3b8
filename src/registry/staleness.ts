/**
 * Staleness rules, pure: given what is known about a Production model version, which rules say
 * it is stale and why. Time is passed in. The check (staleness-check.ts) gathers the inputs and
 * writes the verdict back to the registry as tags.
 *
 * Age is counted from the version's registration (creation_timestamp): MLflow's REST API records
 * no stage-transition time, and last_updated_timestamp moves with every tag write (including ours).
 */
import type { StalenessCheckConfig } from '../config/schema.js';

export type StaleRule = 'age' | 'drift' | 'no_traffic' | 'newer_version';

export interface StalenessInput {
  nowMs: number;
  createdAtMs: number;
  /** Drift-check runs in a row whose dataset verdict failed, newest first. */
  driftFailStreak: number;
  /** Start of the newest stored window with requests for this version; null: never seen. */
  lastTrafficMs: number | null;
  /** The newest registered version, when it is newer than this one and not this one. */
  newerVersion: string | null;
}

export interface RuleResult {
  rule: StaleRule;
  stale: boolean;
  /** Measured value: days, runs, minutes, or 1/0. */
  value: number;
  threshold: number;
  /** With the measured numbers, for findings and people. */
  reason: string;
  /** Without numbers that move every run, for the registry tag (rewritten only when it changes). */
  tagReason: string;
}

const DAY_MS = 86_400_000;

export function evaluateStaleness(input: StalenessInput, config: StalenessCheckConfig, noTrafficMs: number | null): RuleResult[] {
  const out: RuleResult[] = [];
  if (config.maxProductionAgeDays > 0) {
    const days = (input.nowMs - input.createdAtMs) / DAY_MS;
    out.push({
      rule: 'age',
      stale: days > config.maxProductionAgeDays,
      value: days,
      threshold: config.maxProductionAgeDays,
      reason: `registered ${days.toFixed(1)} days ago (max ${config.maxProductionAgeDays})`,
      tagReason: `registered more than ${config.maxProductionAgeDays} days ago`,
    });
  }
  if (config.driftFailRuns > 0) {
    out.push({
      rule: 'drift',
      stale: input.driftFailStreak >= config.driftFailRuns,
      value: input.driftFailStreak,
      threshold: config.driftFailRuns,
      reason: `drift check failed ${input.driftFailStreak} run(s) in a row (stale at ${config.driftFailRuns})`,
      tagReason: `drift check failed ${config.driftFailRuns}+ runs in a row`,
    });
  }
  if (noTrafficMs !== null) {
    // A version never seen is judged from its registration: a fresh deployment is not stale yet.
    const since = input.lastTrafficMs ?? input.createdAtMs;
    const idleMs = input.nowMs - since;
    out.push({
      rule: 'no_traffic',
      stale: idleMs > noTrafficMs,
      value: idleMs / 60_000,
      threshold: noTrafficMs / 60_000,
      reason:
        input.lastTrafficMs === null
          ? `no traffic recorded since it was registered ${(idleMs / 3_600_000).toFixed(1)} h ago`
          : `no traffic for ${(idleMs / 3_600_000).toFixed(1)} h`,
      tagReason: `no traffic for more than ${(noTrafficMs / 3_600_000).toFixed(noTrafficMs % 3_600_000 ? 1 : 0)} h`,
    });
  }
  if (config.newerVersion) {
    out.push({
      rule: 'newer_version',
      stale: input.newerVersion !== null,
      value: input.newerVersion === null ? 0 : 1,
      threshold: 1,
      reason: input.newerVersion === null ? 'no newer version registered' : `version ${input.newerVersion} is newer and not in Production`,
      tagReason: `version ${input.newerVersion} is newer and not in Production`,
    });
  }
  return out;
}
