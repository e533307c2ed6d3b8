/**
 * Is the challenger ready to promote? The rules of the challenger check over one comparison:
 * enough paired requests, labels that agree often enough, a p99 latency within a multiple of the
 * champion's on the same requests, few enough failures, and, where labels exist, no worse quality
 * than the champion's on the same labelled requests. Pure; the check (checks/challenger.ts)
 * and the admin API both call it, so the report and the finding cannot disagree.
 *
 * The quality rule is judged only on enough labelled pairs (`minLabelledPairs`): below that, or
 * without labels at all, it is reported as not evaluated. It then neither blocks a promotion
 * (labels may take weeks) nor passes silently: the message and the rule say so.
 */
import type { ComparisonSummary } from './comparison.js';
import type { PairedQualitySummary } from './paired-quality.js';

export interface VerdictRules {
  minPairs: number;
  maxDisagreement: number;
  maxLatencyRatio: number;
  maxErrorRate: number;
  /** Labelled pairs needed before the quality rule is evaluated. */
  minLabelledPairs: number;
  /** Accuracy points (classifiers) or relative RMSE increase (regressors) the challenger may lose. */
  maxQualityDrop: number;
}

export interface RuleResult {
  rule: 'min_pairs' | 'disagreement' | 'latency_p99_ratio' | 'error_rate' | 'quality';
  value: number | null;
  limit: number;
  ok: boolean;
  /** The quality rule only: false when it was not judged (too few labelled pairs, no labels); `note` says why. */
  evaluated?: boolean;
  note?: string;
}

export interface Verdict {
  ready: boolean;
  /** Too few pairs to judge: not ready, and no other rule was weighed as a reason. */
  insufficient: boolean;
  rules: RuleResult[];
  /** People's words: "ready to promote: ..." or "not ready: ...". */
  message: string;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/**
 * The quality rule on the labelled pairs: the challenger's accuracy may be at most `maxQualityDrop`
 * below the champion's (classifiers), its RMSE at most `maxQualityDrop` x the champion's above it
 * (regressors). `quality` null: no labelled pairs can exist (no prediction log); a string: why
 * they could not be read (the rule is then not evaluated either, and says why).
 */
export function qualityRule(quality: PairedQualitySummary | string | null, r: Pick<VerdictRules, 'minLabelledPairs' | 'maxQualityDrop'>): RuleResult {
  const base = { rule: 'quality' as const, limit: r.maxQualityDrop };
  if (quality === null) return { ...base, value: null, ok: true, evaluated: false, note: 'no labels: the prediction log is off (labels.enabled)' };
  if (typeof quality === 'string') return { ...base, value: null, ok: true, evaluated: false, note: quality };
  if (quality.labelledPairs < r.minLabelledPairs || quality.task === null)
    return { ...base, value: null, ok: true, evaluated: false, note: `${quality.labelledPairs} labelled pairs < ${r.minLabelledPairs} needed` };
  if (quality.task === 'classification') {
    const drop = quality.champion.accuracy! - quality.challenger.accuracy!;
    return { ...base, value: drop, ok: drop <= r.maxQualityDrop, evaluated: true };
  }
  const champion = quality.champion.rmse!;
  const challenger = quality.challenger.rmse!;
  // A champion with no error at all: any challenger error is an unbounded relative increase.
  if (champion === 0) return { ...base, value: null, ok: challenger === 0, evaluated: true, ...(challenger === 0 ? {} : { note: "the champion's RMSE is 0" }) };
  const increase = challenger / champion - 1;
  return { ...base, value: increase, ok: increase <= r.maxQualityDrop, evaluated: true };
}

export function judge(s: ComparisonSummary, r: VerdictRules, quality: PairedQualitySummary | string | null = null): Verdict {
  const rules: RuleResult[] = [];
  // Shadowed requests, failed ones included: a challenger failing every request is judged on its
  // error rate, not reported as "too few pairs".
  const pairs = s.requests;
  rules.push({ rule: 'min_pairs', value: pairs, limit: r.minPairs, ok: pairs >= r.minPairs });
  const disagreement = s.agreement === null ? null : 1 - s.agreement;
  // No labels (a regression model): the rule does not apply; the differences are in the report.
  rules.push({ rule: 'disagreement', value: disagreement, limit: r.maxDisagreement, ok: disagreement === null || disagreement <= r.maxDisagreement });
  const ratio = s.champion.p99Ms !== null && s.challenger.p99Ms !== null && s.champion.p99Ms > 0 ? s.challenger.p99Ms / s.champion.p99Ms : null;
  rules.push({ rule: 'latency_p99_ratio', value: ratio, limit: r.maxLatencyRatio, ok: ratio === null || ratio <= r.maxLatencyRatio });
  const errorRate = s.challenger.errorRate;
  rules.push({ rule: 'error_rate', value: errorRate, limit: r.maxErrorRate, ok: errorRate === null || errorRate <= r.maxErrorRate });
  const q = qualityRule(quality, r);
  rules.push(q);
  const insufficient = pairs < r.minPairs;
  const failed = rules.filter((x) => !x.ok && x.rule !== 'min_pairs');
  const ready = !insufficient && failed.length === 0;
  const words = (x: RuleResult): string => {
    switch (x.rule) {
      case 'disagreement':
        return `disagreement ${pct(x.value!)} ${x.ok ? '<=' : '>'} ${pct(x.limit)}`;
      case 'latency_p99_ratio':
        return `p99 ${x.value!.toFixed(2)}x the champion's ${x.ok ? '<=' : '>'} ${x.limit}x`;
      case 'error_rate':
        return `error rate ${pct(x.value!)} ${x.ok ? '<=' : '>'} ${pct(x.limit)}`;
      case 'quality':
        return qualityWords(x, typeof quality === 'string' ? null : quality);
      default:
        return `${x.value} paired requests`;
    }
  };
  const weighed = rules.filter((x) => x.rule !== 'min_pairs' && (x.value !== null || (x.rule === 'quality' && x.evaluated === true)));
  // Never silent: where labels exist, a quality rule not judged is named in every message (without
  // a prediction log at all the rule and its note are in the rules only, not in every message).
  const unjudged = q.evaluated === false && quality !== null ? `; quality not evaluated: ${q.note}` : '';
  const message = insufficient
    ? `not ready: ${pairs} paired requests < ${r.minPairs} needed${unjudged}`
    : ready
      ? `ready to promote: ${[`${pairs} paired requests`, ...weighed.map(words)].join(', ')}${unjudged}`
      : `not ready: ${failed.map(words).join('; ')} (n=${pairs})${unjudged}`;
  return { ready, insufficient, rules, message };
}

function qualityWords(x: RuleResult, q: PairedQualitySummary | null): string {
  const n = q?.labelledPairs ?? 0;
  if (q?.task === 'classification') {
    const a = q.champion.accuracy!;
    const b = q.challenger.accuracy!;
    return `accuracy ${pct(b)} vs the champion's ${pct(a)} (drop ${pct(x.value!)} ${x.ok ? '<=' : '>'} ${pct(x.limit)}, ${n} labelled pairs)`;
  }
  const a = q?.champion.rmse ?? null;
  const b = q?.challenger.rmse ?? null;
  const change = x.value === null ? (x.note ?? 'n/a') : `${x.value >= 0 ? '+' : ''}${pct(x.value)} ${x.ok ? '<=' : '>'} +${pct(x.limit)}`;
  return `RMSE ${b?.toPrecision(4)} vs the champion's ${a?.toPrecision(4)} (${change}, ${n} labelled pairs)`;
}
