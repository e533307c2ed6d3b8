/**
 * The drift rule shared by `driftwatch drift` (offline.ts) and the scheduled check
 * (drift-check.ts): a feature drifts when the shift is significant (the KS or chi-square p-value,
 * after the correction across features, below alpha) AND large enough to matter (at least one
 * effect size at or above its floor). One function, so the two paths cannot disagree on the rule;
 * they differ only in where the numbers come from (raw values offline, sketches online). Pure.
 *
 * Why both: a test answers "is it real?", and at production volumes it answers yes for shifts
 * nobody cares about (a 0.03-sigma shift is significant at 200,000 rows, KS p = 4.5e-5, issue 23).
 * An effect size answers "is it big?", and at small volumes it is mostly noise (PSI averages
 * (bins - 1)(1/n_ref + 1/n_cur) under no drift, 0.18 at 100 rows a side). Together: below a few
 * thousand rows the test is the binding condition, above it the effect floor is.
 *
 * The default floors are the values each effect takes for a mean shift of 0.25 standard deviations
 * of a normal feature (normalised Wasserstein = the shift itself; KS D = 2 Phi(0.125) - 1 = 0.0995;
 * PSI over the reference's deciles = 0.060): above the shift issue 23 calls noise (PSI 0.038 at
 * 400,000 rows, which is a 0.2-sigma shift) and below the one it calls drift (0.3 sigma). The
 * calibration harness (bench/drift-calibration.ts, table in docs/drift.md) measures the result:
 * false alarms under no drift and the detection rate of 0.05 to 0.5 sigma shifts from 100 to
 * 1,000,000 rows. Jensen-Shannon (categorical): 0.1 (base 2), Evidently's threshold and this
 * check's before; a new category holding 2% of the rows is at about 0.1, one holding 5% at 0.16.
 */

export type DriftRule = 'test-and-effect' | 'test-only';

/** The effect sizes a floor applies to (the names findings use as their metric). */
export type EffectStat = 'ks_statistic' | 'psi' | 'wasserstein' | 'jensen_shannon';

/** Per-statistic floors, as in checks.drift.minEffect. */
export interface MinEffect {
  /** KS distance D (numeric features). */
  ks: number;
  /** PSI over the reference's fixed bins (numeric features). */
  psi: number;
  /** Wasserstein-1 divided by the reference's population std (numeric features). */
  wasserstein: number;
  /** Jensen-Shannon distance, base 2 (categorical features). */
  jensenShannon: number;
}

export const DEFAULT_MIN_EFFECT: Readonly<MinEffect> = Object.freeze({ ks: 0.1, psi: 0.06, wasserstein: 0.25, jensenShannon: 0.1 });

export const DEFAULT_DRIFT_RULE: DriftRule = 'test-and-effect';

/** The floor of one effect statistic. */
export function effectFloor(stat: EffectStat, min: Readonly<MinEffect>): number {
  return stat === 'ks_statistic' ? min.ks : stat === 'psi' ? min.psi : stat === 'wasserstein' ? min.wasserstein : min.jensenShannon;
}

export interface TestReading {
  stat: 'ks' | 'chi2';
  /** The p-value after the correction across features (the raw one without a correction). */
  pvalue: number;
  alpha: number;
}

export interface EffectReading {
  stat: EffectStat;
  value: number;
  floor: number;
}

export interface DriftDecision {
  rule: DriftRule;
  drifted: boolean;
  /**
   * What settled the verdict: 'test' (not significant; or the test-only rule), 'effect'
   * (significant, but no effect reached its floor), 'both' (significant and large: drifted).
   * The statistic to plot is the effect unless this is 'test'.
   */
  decided_by: 'test' | 'effect' | 'both';
  test: TestReading & { significant: boolean };
  /** The effect furthest above (or least below) its floor, relative to the floor; null when none was measured. */
  effect: (EffectReading & { large: boolean }) | null;
}

/**
 * The verdict of one feature from its test and its effects. Effects whose value is not finite are
 * ignored; when none is left under test-and-effect, the test decides alone (a feature is never
 * waved through for want of a number). Call it only when the test had enough rows and a finite
 * p-value: below that the feature is insufficient_data, not "not drifted".
 */
export function decideDrift(rule: DriftRule, test: TestReading, effects: readonly EffectReading[]): DriftDecision {
  const significant = test.pvalue < test.alpha;
  let best: EffectReading | null = null;
  for (const e of effects) {
    if (!Number.isFinite(e.value)) continue;
    // The ratio to the floor compares effects on different scales; a floor of 0 makes any value large.
    const ratio = (x: EffectReading) => (x.floor > 0 ? x.value / x.floor : Infinity);
    if (best === null || ratio(e) > ratio(best)) best = e;
  }
  const large = best !== null && best.value >= best.floor;
  const effect = best === null ? null : { ...best, large };
  const t = { ...test, significant };
  if (rule === 'test-only' || best === null) return { rule, drifted: significant, decided_by: 'test', test: t, effect };
  if (!significant) return { rule, drifted: false, decided_by: 'test', test: t, effect };
  return { rule, drifted: large, decided_by: large ? 'both' : 'effect', test: t, effect };
}
