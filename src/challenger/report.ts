/**
 * GET /api/challenger's body (what `driftwatch challenger report` prints and the status page
 * draws) and the challenger gauges' rows, built in one place for both shadowing processes: the
 * scoring server's shadow and the sidecar's shadow upstream differ in where their models,
 * versions and counts come from, not in how a comparison is summarized and judged, so the two
 * reports cannot drift apart. Pure: the caller passes the spans and the range.
 */
import type { ComparisonSpan } from './comparison-windows.js';
import { type ComparisonSummary, summarizeComparison } from './comparison.js';
import { judge, type Verdict, type VerdictRules } from './verdict.js';

/** The challenger check's rules as the report shows them (checks.challenger). */
export interface ReportRules extends VerdictRules {
  notReadyStatus: 'warn' | 'fail';
}

/** A shadow's counts since start (docs/challenger.md, "In the report"), and what waits now. */
export interface ShadowCounts {
  sampled: number;
  scored: number;
  failed: number;
  dropped: number;
  notLoaded: number;
  lost: number;
  pending: number;
}

/** One shadowed model as its process knows it, with the spans of the asked range. */
export interface ShadowedModel {
  model: string;
  champion: { uri: string; version: string | null };
  challenger: { uri: string; version: string | null; lastError: string | null };
  sampleRate: number;
  shadow: ShadowCounts;
  spans: readonly ComparisonSpan[];
}

export type ComparisonReport = Omit<ComparisonSpan, 'comparison' | 'fromMs' | 'toMs'> & { from: string; to: string } & ComparisonSummary & {
    verdict: Verdict;
    /** As the challenger check would file it: ok when ready (or too few pairs yet), else rules.notReadyStatus. */
    status: 'ok' | 'warn' | 'fail';
  };

/** GET /api/challenger: what `driftwatch challenger report` prints. */
export interface ChallengerReport {
  from: string;
  to: string;
  rules: ReportRules;
  models: Array<Omit<ShadowedModel, 'spans'> & { comparisons: ComparisonReport[] }>;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function challengerReport(q: { fromMs: number; toMs: number }, rules: ReportRules, models: readonly ShadowedModel[]): ChallengerReport {
  return {
    from: iso(q.fromMs),
    to: iso(q.toMs),
    rules: {
      minPairs: rules.minPairs,
      maxDisagreement: rules.maxDisagreement,
      maxLatencyRatio: rules.maxLatencyRatio,
      maxErrorRate: rules.maxErrorRate,
      notReadyStatus: rules.notReadyStatus,
    },
    models: models.map(({ spans, ...m }) => ({
      ...m,
      comparisons: spans.map(({ comparison, fromMs, toMs, ...key }) => {
        const summary = summarizeComparison(comparison);
        const verdict = judge(summary, rules);
        const status = verdict.ready || verdict.insufficient ? ('ok' as const) : rules.notReadyStatus;
        return { ...key, from: iso(fromMs), to: iso(toMs), ...summary, verdict, status };
      }),
    })),
  };
}

/** The challenger gauges' rows (telemetry createChallengerMetrics) for these spans: one per version pair. */
export function challengerGaugeRows(spans: readonly ComparisonSpan[]) {
  return spans.map((span) => {
    const s = summarizeComparison(span.comparison);
    return {
      model: span.model,
      championVersion: span.championVersion,
      challengerVersion: span.challengerVersion,
      agreement: s.agreement,
      championP99Ms: s.champion.p99Ms,
      challengerP99Ms: s.challenger.p99Ms,
      errorRate: s.challenger.errorRate,
      requests: s.requests,
    };
  });
}
