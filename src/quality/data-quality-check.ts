/**
 * The data-quality check: for every model version with recent traffic and a reference profile,
 * each input feature of the configured window (merged) against its reference: missing share
 * (above the reference's own), numeric values out of the reference's range, unseen categories,
 * values of the wrong type (data-quality.ts). One finding per feature and rule, with its limits,
 * the window and the sample size. Reads the StatsStore interface only.
 *
 * What it does not see: payloads the capture side could not read at all (a body that is not JSON,
 * a wrong content type); those are counted per reason in driftwatch_capture_unparseable_total, and
 * the shipped Prometheus rules alert on them (config/prometheus/driftwatch-rules.yaml).
 */
import type { DataQualityCheckConfig } from '../config/schema.js';
import type { Finding, FindingThreshold } from '../findings/finding.js';
import { statusFor } from '../findings/finding.js';
import type { ReferenceProfile, WindowProfile } from '../stats/types.js';
import { mergeWindows } from '../stats/window-profile.js';
import type { StatsStore } from '../store/types.js';
import { type DataQualityRule, featureDataQuality } from './data-quality.js';

export interface DataQualityCheckDeps {
  store: StatsStore;
  referenceFor(model: string, version: string): Promise<ReferenceProfile | null>;
  /** The models this analyzer checks (analyzer.shard); absent: every model. */
  owns?: (model: string) => boolean;
  /** Reads and merges a version's windows (a reader shared with the drift check); absent: the store's readWindows. */
  currentWindow?: (q: { model: string; version: string; fromMs: number; toMs: number }) => Promise<WindowProfile | null>;
}

const LIMITS: Record<DataQualityRule, keyof Pick<DataQualityCheckConfig, 'missing' | 'outOfRange' | 'unseenCategories' | 'typeMismatch'>> = {
  missing_share: 'missing',
  out_of_range_share: 'outOfRange',
  unseen_category_share: 'unseenCategories',
  type_mismatch_share: 'typeMismatch',
};

const WHAT: Record<DataQualityRule, string> = {
  missing_share: 'missing',
  out_of_range_share: 'outside the reference range',
  unseen_category_share: 'unseen categories',
  type_mismatch_share: 'of the wrong type',
};

const pct = (v: number | null) => (v === null ? 'n/a' : `${(100 * v).toFixed(v < 0.001 && v > 0 ? 3 : 1)}%`);

async function readMergedWindow(store: StatsStore, q: { model: string; version: string; fromMs: number; toMs: number }): Promise<WindowProfile | null> {
  const windows = await store.readWindows(q);
  return windows.length ? windows.reduce((a, b) => mergeWindows(a, b)) : null;
}

export async function runDataQualityCheck(deps: DataQualityCheckDeps, config: DataQualityCheckConfig, nowMs: number): Promise<Finding[]> {
  const fromMs = nowMs - config.windowMs;
  const window = { fromMs, toMs: nowMs, label: config.window };
  const findings: Finding[] = [];
  const owns = deps.owns ?? (() => true);
  for (const s of (await deps.store.listSeries()).filter((x) => x.lastMs >= fromMs && owns(x.model))) {
    let ref: ReferenceProfile | null;
    try {
      ref = await deps.referenceFor(s.model, s.version);
    } catch (e) {
      findings.push({
        check: 'data_quality',
        subject: { model: s.model, version: s.version, name: '__reference__' },
        status: 'error',
        metric: 'reference',
        value: null,
        threshold: { warn: null, fail: null, direction: 'above' },
        window,
        sampleSize: 0,
        at: nowMs,
        message: `reference of ${s.model} v${s.version} unreadable: ${(e as Error).message}`,
      });
      continue;
    }
    if (!ref) continue; // nothing to compare with; the drift check says the same
    const q = { model: s.model, version: s.version, fromMs, toMs: nowMs };
    const current = deps.currentWindow ? await deps.currentWindow(q) : await readMergedWindow(deps.store, q);
    if (!current) continue;
    for (const [name, refFeature] of Object.entries(ref.features)) {
      const cur = Object.hasOwn(current.features, name) ? current.features[name]! : null;
      // A feature absent from every row of the window is entirely missing.
      const q = cur
        ? featureDataQuality(refFeature, cur)
        : { kind: refFeature.kind, count: current.rows, shares: { missing_share: current.rows > 0 ? 1 : 0 }, referenceMissingShare: 0 };
      const insufficient = q.count < config.minRows;
      for (const [rule, value] of Object.entries(q.shares) as [DataQualityRule, number][]) {
        const limits = config[LIMITS[rule]];
        // The missing rule is relative to the reference's own missing share.
        const base = rule === 'missing_share' ? q.referenceMissingShare : 0;
        const threshold: FindingThreshold = {
          warn: limits.warn === null ? null : Math.min(1, base + limits.warn),
          fail: limits.fail === null ? null : Math.min(1, base + limits.fail),
          direction: 'above',
        };
        const status = insufficient ? 'ok' : statusFor(value, threshold);
        const limit = status === 'fail' ? threshold.fail : status === 'warn' ? threshold.warn : null;
        findings.push({
          check: 'data_quality',
          subject: { model: s.model, version: s.version, name: `${rule}:${name}`, role: 'input' },
          status,
          metric: rule,
          value,
          threshold,
          window,
          sampleSize: q.count,
          at: nowMs,
          message: insufficient
            ? `${s.model} v${s.version} ${name}: too few values (${q.count} < ${config.minRows}) over the last ${config.window}`
            : `${s.model} v${s.version} ${name}: ${pct(value)} ${WHAT[rule]}${limit === null ? '' : ` (>= ${pct(limit)})`} over the last ${config.window}, n=${q.count.toLocaleString('en-US')}${rule === 'missing_share' ? `, reference ${pct(base)}` : ''}`,
          ...(insufficient ? { insufficientData: true } : {}),
          detail: { feature: name, kind: q.kind, rule, reference_missing_share: q.referenceMissingShare },
        });
      }
    }
  }
  return findings;
}
