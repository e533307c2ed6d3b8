/**
 * Is the challenger ready to promote? The rules of the challenger check over one comparison:
 * enough paired requests, labels that agree often enough, a p99 latency within a multiple of the
 * champion's on the same requests, few enough failures. Pure; the check (checks/challenger.ts)
 * and the admin API both call it, so the report and the finding cannot disagree.
 */
import type { ComparisonSummary } from './comparison.js';

export interface VerdictRules {
  minPairs: number;
  maxDisagreement: number;
  maxLatencyRatio: number;
  maxErrorRate: number;
}

export interface RuleResult {
  rule: 'min_pairs' | 'disagreement' | 'latency_p99_ratio' | 'error_rate';
  value: number | null;
  limit: number;
  ok: boolean;
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

export function judge(s: ComparisonSummary, r: VerdictRules): Verdict {
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
      default:
        return `${x.value} paired requests`;
    }
  };
  const weighed = rules.filter((x) => x.rule !== 'min_pairs' && x.value !== null);
  const message = insufficient
    ? `not ready: ${pairs} paired requests < ${r.minPairs} needed`
    : ready
      ? `ready to promote: ${[`${pairs} paired requests`, ...weighed.map(words)].join(', ')}`
      : `not ready: ${failed.map(words).join('; ')} (n=${pairs})`;
  return { ready, insufficient, rules, message };
}
