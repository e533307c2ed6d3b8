/**
 * Decisions on top of the statistics: per feature ok / warn / fail or insufficient_data, the
 * dataset's drift share, and whether the dataset drifted. Pure: no I/O, no clock.
 *
 * p-value tests (ks, chi2): drift when p < threshold; pass p-values already corrected across
 * features (multiple-testing.ts) when a correction is wanted. Distances (psi, jensenshannon,
 * wasserstein): drift when value >= threshold (Evidently's convention).
 */

export type DriftStat = 'psi' | 'ks' | 'chi2' | 'jensenshannon' | 'wasserstein';

export interface DriftThresholds {
  /** Crossing it gives status "warn". */
  warn: number;
  /** Crossing it gives status "fail"; a failed feature counts as drifted. */
  fail: number;
}

/** Which way a statistic points: p-values drift when small, distances when large. */
export const LOWER_IS_DRIFT: Readonly<Record<DriftStat, boolean>> = {
  psi: false,
  ks: true,
  chi2: true,
  jensenshannon: false,
  wasserstein: false,
};

/**
 * Defaults and why:
 *  - psi 0.1 / 0.25: the industry rule of thumb (Siddiqi 2006: < 0.1 stable, 0.1-0.25 moderate
 *    shift, > 0.25 significant shift); Evidently's PSI threshold is 0.1.
 *  - ks, chi2: p < 0.05 (warn and fail alike; scipy's and Evidently's conventional level).
 *  - jensenshannon 0.1, wasserstein (normalised by the reference std) 0.1: Evidently's defaults.
 */
export const DEFAULT_THRESHOLDS: Readonly<Record<DriftStat, DriftThresholds>> = {
  psi: { warn: 0.1, fail: 0.25 },
  ks: { warn: 0.05, fail: 0.05 },
  chi2: { warn: 0.05, fail: 0.05 },
  jensenshannon: { warn: 0.1, fail: 0.1 },
  wasserstein: { warn: 0.1, fail: 0.1 },
};

/**
 * Minimum rows on each side before a verdict is given. The distances (PSI, JS, Wasserstein) are
 * blind to sample size: under no drift E[PSI] ~ (B - 1)(1/n_ref + 1/n_cur), so with 10 bins and
 * 100 rows a side pure noise averages 0.18 and crosses 0.1 most of the time (docs/drift.md, the noise table);
 * at 1000 rows a side the mean is 0.018 and the 95th percentile ~ 0.034, safely below 0.1. The
 * p-value tests account for n themselves, so 100 rows only guards against tests with no power
 * and against the asymptotics being meaningless.
 */
export const DEFAULT_MIN_SAMPLE_SIZE: Readonly<Record<DriftStat, number>> = {
  psi: 1000,
  jensenshannon: 1000,
  wasserstein: 1000,
  ks: 100,
  chi2: 100,
};

export interface FeatureVerdictInput {
  stat: DriftStat;
  /** The statistic (psi, jensenshannon, wasserstein) or the p-value (ks, chi2). */
  value: number;
  nReference: number;
  nCurrent: number;
  thresholds?: DriftThresholds;
  minSampleSize?: number;
}

interface VerdictCommon {
  stat: DriftStat;
  value: number;
  nReference: number;
  nCurrent: number;
  thresholds: DriftThresholds;
  minSampleSize: number;
}

export type FeatureVerdict =
  | (VerdictCommon & { status: 'insufficient_data'; drifted: null })
  | (VerdictCommon & { status: 'ok' | 'warn' | 'fail'; drifted: boolean });

function crosses(stat: DriftStat, value: number, threshold: number): boolean {
  return LOWER_IS_DRIFT[stat] ? value < threshold : value >= threshold;
}

/**
 * The verdict for one feature. Below the minimum sample size on either side the answer is
 * insufficient_data (no drift claim either way). A non-finite value (e.g. the NaN p-value scipy's
 * asymptotic KS gives for n = 1 vs 1) is also insufficient_data rather than a guess.
 */
export function featureVerdict(input: FeatureVerdictInput): FeatureVerdict {
  const { stat, value, nReference, nCurrent } = input;
  if (!(stat in LOWER_IS_DRIFT)) throw new RangeError(`featureVerdict: unknown stat ${String(stat)}`);
  const thresholds = input.thresholds ?? DEFAULT_THRESHOLDS[stat];
  const minSampleSize = input.minSampleSize ?? DEFAULT_MIN_SAMPLE_SIZE[stat];
  const lower = LOWER_IS_DRIFT[stat];
  if (lower ? thresholds.fail > thresholds.warn : thresholds.fail < thresholds.warn) {
    throw new RangeError(`featureVerdict: ${stat} fail threshold ${thresholds.fail} is less strict than warn ${thresholds.warn}`);
  }
  const common: VerdictCommon = { stat, value, nReference, nCurrent, thresholds, minSampleSize };
  if (Math.min(nReference, nCurrent) < minSampleSize || !Number.isFinite(value)) {
    return { ...common, status: 'insufficient_data', drifted: null };
  }
  const status = crosses(stat, value, thresholds.fail) ? 'fail' : crosses(stat, value, thresholds.warn) ? 'warn' : 'ok';
  return { ...common, status, drifted: status === 'fail' };
}

export interface DriftShare {
  /** drifted / evaluated; 0 when nothing could be evaluated. */
  share: number;
  drifted: number;
  /** Features with a verdict (insufficient_data excluded). */
  evaluated: number;
  insufficient: number;
}

/** Share of drifted features among those with a verdict (Evidently's "share of drifted columns"). */
export function driftShare(verdicts: readonly FeatureVerdict[]): DriftShare {
  let drifted = 0;
  let evaluated = 0;
  let insufficient = 0;
  for (const v of verdicts) {
    if (v.status === 'insufficient_data') insufficient++;
    else {
      evaluated++;
      if (v.drifted) drifted++;
    }
  }
  return { share: evaluated === 0 ? 0 : drifted / evaluated, drifted, evaluated, insufficient };
}

/**
 * Dataset-level drift: share >= threshold (default 0.5, Evidently's drift_share default).
 * Accepts the DriftShare or a bare share.
 */
export function datasetDrifted(share: DriftShare | number, threshold = 0.5): boolean {
  const s = typeof share === 'number' ? share : share.share;
  if (typeof share !== 'number' && share.evaluated === 0) return false;
  return s >= threshold;
}
