/**
 * Error budgets and multiwindow, multi-burn-rate alerting, as the Google SRE workbook ("Alerting
 * on SLOs", chapter 5, approach 6) defines them. Pure: counts in, numbers out.
 *
 * With an SLO objective o (e.g. 0.999 of requests good), the error budget is 1 - o. Over a window
 * with `bad` of `total` requests bad, the burn rate is (bad / total) / (1 - o): 1 spends the
 * budget exactly over the SLO period, 14.4 spends 2% of a 30-day budget in one hour. A rule fires
 * when both its long window (the budget really is going) and its short window (it is still going
 * now, so the alert resets soon after a fix) burn faster than the rule's factor.
 */

export interface WindowCounts {
  total: number;
  bad: number;
}

export interface BurnRule {
  name: string;
  longSeconds: number;
  shortSeconds: number;
  factor: number;
  /** Page-worthy rules fail; ticket-worthy ones warn. */
  severity: 'fail' | 'warn';
}

/** The workbook's recommended rules for a 30-day SLO: two paging pairs and one ticket pair. */
export const SRE_BURN_RULES: readonly BurnRule[] = [
  { name: 'burn_1h_5m', longSeconds: 3600, shortSeconds: 300, factor: 14.4, severity: 'fail' },
  { name: 'burn_6h_30m', longSeconds: 6 * 3600, shortSeconds: 1800, factor: 6, severity: 'fail' },
  { name: 'burn_3d_6h', longSeconds: 3 * 86400, shortSeconds: 6 * 3600, factor: 1, severity: 'warn' },
];

/** Burn rate of one window; null without traffic (no traffic burns no budget, but says nothing either). */
export function burnRate(c: WindowCounts, objective: number): number | null {
  if (!(objective > 0 && objective < 1)) throw new RangeError(`SLO objective must be in (0, 1), got ${objective}`);
  if (c.total <= 0) return null;
  return c.bad / c.total / (1 - objective);
}

export interface BurnEvaluation {
  rule: BurnRule;
  burnLong: number | null;
  burnShort: number | null;
  firing: boolean;
}

export function evaluateBurnRule(rule: BurnRule, long: WindowCounts, short: WindowCounts, objective: number): BurnEvaluation {
  const burnLong = burnRate(long, objective);
  const burnShort = burnRate(short, objective);
  const firing = burnLong !== null && burnShort !== null && burnLong > rule.factor && burnShort > rule.factor;
  return { rule, burnLong, burnShort, firing };
}

/** Share of the error budget left after a window (1: untouched, 0: spent, negative: overspent). */
export function budgetRemaining(c: WindowCounts, objective: number): number | null {
  if (c.total <= 0) return null;
  return 1 - c.bad / c.total / (1 - objective);
}
