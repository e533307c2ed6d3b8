/**
 * GET /api/challenger's body (what `driftwatch challenger report` prints and the status page
 * draws) and the challenger gauges' rows, built in one place for both shadowing processes: the
 * scoring server's shadow and the sidecar's shadow upstream differ in where their models,
 * versions and counts come from, not in how a comparison is summarized and judged, so the two
 * reports cannot drift apart. Pure: the caller passes the spans and the range.
 */
import type { ComparisonSpan } from './comparison-windows.js';
import { type ComparisonSummary, summarizeComparison } from './comparison.js';
import type { PairedQualitySummary } from './paired-quality.js';
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

/** Both models' quality on the same labelled requests of a version pair, over the quality window. */
export type QualityReport = PairedQualitySummary & { from: string; to: string };

/**
 * A version pair's labelled quality over [fromMs, toMs) (the caller read it from the prediction
 * log); null or absent: no labels here, a string: why it could not be read (either way the quality
 * rule is reported as not evaluated, with the reason).
 */
export interface PairQuality {
  fromMs: number;
  toMs: number;
  quality(key: { model: string; championVersion: string; challengerVersion: string }): PairedQualitySummary | string | null | undefined;
}

export type ComparisonReport = Omit<ComparisonSpan, 'comparison' | 'fromMs' | 'toMs'> & { from: string; to: string } & ComparisonSummary & {
    /** Both models' quality on the labelled pairs (null without labels). */
    quality: QualityReport | null;
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

export function challengerReport(
  q: { fromMs: number; toMs: number },
  rules: ReportRules,
  models: readonly ShadowedModel[],
  pairQuality: PairQuality | null = null,
): ChallengerReport {
  return {
    from: iso(q.fromMs),
    to: iso(q.toMs),
    rules: {
      minPairs: rules.minPairs,
      maxDisagreement: rules.maxDisagreement,
      maxLatencyRatio: rules.maxLatencyRatio,
      maxErrorRate: rules.maxErrorRate,
      minLabelledPairs: rules.minLabelledPairs,
      maxQualityDrop: rules.maxQualityDrop,
      notReadyStatus: rules.notReadyStatus,
    },
    models: models.map(({ spans, ...m }) => ({
      ...m,
      comparisons: spans.map(({ comparison, fromMs, toMs, ...key }) => {
        const summary = summarizeComparison(comparison);
        const quality = pairQuality?.quality(key) ?? null;
        const verdict = judge(summary, rules, quality);
        const status = verdict.ready || verdict.insufficient ? ('ok' as const) : rules.notReadyStatus;
        return {
          ...key,
          from: iso(fromMs),
          to: iso(toMs),
          ...summary,
          quality: quality === null || typeof quality === 'string' ? null : { ...quality, from: iso(pairQuality!.fromMs), to: iso(pairQuality!.toMs) },
          verdict,
          status,
        };
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
