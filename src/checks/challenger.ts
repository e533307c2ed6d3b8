/**
 * The challenger check as a scheduled Check: for each served model a challenger shadows, the
 * comparison of the latest champion/challenger version pair over the window, judged by
 * challenger/verdict.ts: one finding per model, "ready to promote" (ok) or why not
 * (checks.challenger.notReadyStatus). Promotion itself stays a person's or a pipeline's act in
 * the registry. The subject is the model, not a version, so an alias move (a new challenger)
 * updates the same finding and its alert resolves or fires through the usual path.
 * The gauges are read at scrape time from the comparisons (telemetry createChallengerMetrics).
 * Where labels exist, both models' quality on the same labelled requests (over the longer
 * `qualityWindow`: labels come late) is one more rule; without enough labelled pairs the finding's
 * detail and message say it was not evaluated.
 */
import type { ComparisonSpan } from '../challenger/comparison-windows.js';
import { emptyComparison, summarizeComparison } from '../challenger/comparison.js';
import { judge, type RuleResult } from '../challenger/verdict.js';
import type { PairedQualitySummary } from '../challenger/paired-quality.js';
import type { ChallengerCheckConfig } from '../config/schema.js';
import { messageOf } from '../errors.js';
import type { Finding } from '../findings/finding.js';
import type { Check } from './check.js';

export interface ChallengerCheckDeps {
  /** The served models a challenger shadows (an analyzer: the models with comparisons in its store, hence a promise is allowed). */
  models(): readonly string[] | Promise<readonly string[]>;
  /**
   * Comparisons per version pair over [fromMs, toMs): from memory in the process that shadows, or
   * read from the statistics store by an analyzer (hence a promise is allowed).
   */
  spans(fromMs: number, toMs: number): readonly ComparisonSpan[] | Promise<readonly ComparisonSpan[]>;
  /**
   * Both models' quality on the labelled pairs of a version pair (outcomes/paired-quality-source.ts
   * over the prediction log); absent: no labels here, the quality rule is not evaluated.
   */
  pairedQuality?(q: { model: string; championVersion: string | null; challengerVersion: string; fromMs: number; toMs: number }): Promise<PairedQualitySummary>;
}

export function createChallengerCheck(config: ChallengerCheckConfig, deps: ChallengerCheckDeps): Check {
  return {
    name: 'challenger',
    enabled: config.enabled,
    schedule: config.schedule,
    run: async (nowMs) => {
      const fromMs = nowMs - config.windowMs;
      const spans = await deps.spans(fromMs, nowMs + 1);
      const out: Finding[] = [];
      for (const model of await deps.models()) {
        // After an alias move the window holds two version pairs: the latest one is judged.
        const mine = spans.filter((s) => s.model === model).sort((a, b) => a.toMs - b.toMs);
        const span = mine[mine.length - 1];
        const summary = summarizeComparison(span?.comparison ?? emptyComparison());
        const qualityFromMs = nowMs - config.qualityWindowMs;
        let quality: PairedQualitySummary | string | null = null;
        if (deps.pairedQuality && span) {
          const q = { model, championVersion: span.championVersion, challengerVersion: span.challengerVersion, fromMs: qualityFromMs, toMs: nowMs + 1 };
          // A log that cannot be read leaves the quality rule unjudged (and says why), not the other rules.
          quality = await deps.pairedQuality(q).catch((e: unknown) => `the prediction log could not be read: ${messageOf(e)}`);
        }
        const verdict = judge(summary, config, quality);
        const qualityRule = verdict.rules.find((r) => r.rule === 'quality')!;
        const failed: RuleResult | undefined = verdict.rules.find((r) => !r.ok && r.rule !== 'min_pairs');
        const shown = verdict.insufficient ? verdict.rules[0]! : (failed ?? verdict.rules.find((r) => r.rule === 'disagreement')!);
        const status = verdict.ready || verdict.insufficient ? 'ok' : config.notReadyStatus;
        out.push({
          check: 'challenger',
          subject: { model, version: null, name: 'promotion' },
          status,
          metric: shown.rule,
          value: shown.value,
          // min_pairs is a floor (below is bad); the others are ceilings.
          threshold:
            shown.rule === 'min_pairs'
              ? { warn: shown.limit, fail: null, direction: 'below' }
              : {
                  warn: config.notReadyStatus === 'warn' ? shown.limit : null,
                  fail: config.notReadyStatus === 'fail' ? shown.limit : null,
                  direction: 'above',
                },
          window: { fromMs, toMs: nowMs, label: config.window },
          sampleSize: summary.requests,
          at: nowMs,
          message: `${model}: challenger ${span?.challengerVersion ?? '(none)'} vs champion ${span?.championVersion ?? '(none)'}: ${verdict.message} over the last ${config.window}`,
          ...(verdict.insufficient ? { insufficientData: true } : {}),
          detail: {
            ready: verdict.ready,
            champion_version: span?.championVersion ?? null,
            challenger_version: span?.challengerVersion ?? null,
            rules: verdict.rules,
            agreement: summary.agreement,
            champion_p99_ms: summary.champion.p99Ms,
            challenger_p99_ms: summary.challenger.p99Ms,
            challenger_error_rate: summary.challenger.errorRate,
            rows: summary.rows,
            quality: {
              evaluated: qualityRule.evaluated === true,
              ...(qualityRule.note ? { note: qualityRule.note } : {}),
              from_ms: qualityFromMs,
              to_ms: nowMs,
              ...(quality !== null && typeof quality !== 'string' ? qualityDetail(quality) : {}),
            },
          },
        });
      }
      return out;
    },
  };
}

function qualityDetail(q: PairedQualitySummary) {
  const side = (m: PairedQualitySummary['champion']) => ({ accuracy: m.accuracy, macro_f1: m.macroF1, log_loss: m.logLoss, rmse: m.rmse, mae: m.mae });
  return { task: q.task, labelled_pairs: q.labelledPairs, skipped: q.skipped, champion: side(q.champion), challenger: side(q.challenger) };
}
