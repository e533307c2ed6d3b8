/**
 * Two-sample Kolmogorov-Smirnov test, two-sided, agreeing with scipy.stats.ks_2samp (scipy 1.10
 * semantics: `method` = "auto" | "exact" | "asymp", the renamed `mode` of older releases).
 *
 *  - Statistic: D = max over the pooled sample of |F_a(x) - F_b(x)| with right-continuous ECDFs
 *    (scipy's searchsorted(side="right")), so ties are handled by evaluating after every copy of a
 *    value on both sides. Computed as cnt_a / n_a - cnt_b / n_b, the same floating-point
 *    expression as scipy, so D agrees bit for bit before rounding to h / lcm (below).
 *  - "exact": the proportion of lattice paths from (0,0) to (n_a, n_b) that leave the band
 *    |x/n_a - y/n_b| < D (Hodges 1958, "The significance probability of the Smirnov two-sample
 *    test", Ark. Mat. 3, 469-486). For n_a = n_b, the reflection-principle alternating sum
 *    evaluated Horner-style; otherwise the "inside" recursion computing 1 - p directly for
 *    numerical stability (Viehmann 2021, arXiv:2102.08037). The statistic is snapped to h / lcm
 *    with h = round(D * lcm(n_a, n_b)) first, as scipy does.
 *  - "asymp": kstwo.sf(D, round(n_a n_b / (n_a + n_b))): the exact one-sample distribution at the
 *    effective sample size (see kolmogorov-dist.ts), not the Kolmogorov limit.
 *  - "auto": exact when max(n_a, n_b) <= 10000, else asymp (scipy's MAX_AUTO_N).
 *  - "exact" falls back to asymp when lcm is too big (n_a/g >= INT32_MAX / (n_b/g)) or when the
 *    exact computation is not a probability; `method` in the result says which one ran.
 *
 * Sketch-based variants (ksFromSketches) give the statistic from two KLL sketches with the error
 * bound of the sketches, and ksPvalueAsymp attaches an approximate p-value to it.
 */

import type { KllSketch } from '../stats/types.js';
import { kllIsExact, kllRankErrorBound, kllSortedView } from '../stats/kll-sketch.js';
import { kolmogorovSmirnovSf } from './kolmogorov-dist.js';
import { gcd, roundHalfEven } from './special.js';

export type KsMethod = 'auto' | 'exact' | 'asymp';

export interface KsResult {
  statistic: number;
  pvalue: number;
  method: 'exact' | 'asymp';
}

/** scipy's MAX_AUTO_N: "auto" is exact when both samples have at most this many values. */
export const KS_MAX_AUTO_N = 10000;
const INT32_MAX = 2147483647;

function sortedCopy(xs: readonly number[], name: string): Float64Array {
  if (xs.length === 0) throw new RangeError(`ks2samp: sample ${name} is empty (two non-empty samples are needed)`);
  const out = Float64Array.from(xs);
  for (let i = 0; i < out.length; i++) {
    if (Number.isNaN(out[i]!)) throw new RangeError(`ks2samp: sample ${name} contains NaN at index ${i}`);
  }
  return out.sort();
}

/** Two-sided D of two sorted samples: sup |F_a - F_b| with right-continuous ECDFs. */
function ksStatisticSorted(a: Float64Array, b: Float64Array): number {
  const n1 = a.length;
  const n2 = b.length;
  let i = 0;
  let j = 0;
  let maxS = -Infinity;
  let minS = Infinity;
  while (i < n1 || j < n2) {
    // next distinct value of the pooled sample
    const v = j >= n2 || (i < n1 && a[i]! <= b[j]!) ? a[i]! : b[j]!;
    while (i < n1 && a[i]! <= v) i++;
    while (j < n2 && b[j]! <= v) j++;
    const diff = i / n1 - j / n2;
    if (diff > maxS) maxS = diff;
    if (diff < minS) minS = diff;
  }
  const minClipped = Math.min(Math.max(-minS, 0), 1);
  return minClipped > maxS ? minClipped : maxS;
}

/**
 * P(D_{n,n} >= h/n): 2 * (A0 - A0 A1 + A0 A1 A2 - ...) with each A_k a ratio of binomials,
 * evaluated Horner-style to avoid subtractive cancellation (scipy's _compute_prob_outside_square).
 */
function probOutsideSquare(n: number, h: number): number {
  let P = 0;
  let k = Math.floor(n / h);
  while (k >= 0) {
    let p1 = 1;
    for (let j = 0; j < h; j++) p1 = ((n - k * h - j) * p1) / (n + k * h + j + 1);
    P = p1 * (1 - P);
    k--;
  }
  return 2 * P;
}

/**
 * Proportion of lattice paths (0,0) -> (m,n) that do NOT stay strictly inside
 * |x/m - y/n| < h / lcm(m,n), computed as the complement directly (Viehmann's recursion on the
 * "inside" method of Hodges), one sliding column at a time. Symmetric in m, n.
 */
function probOutsideInsideMethod(m0: number, n0: number, g: number, h: number): number {
  const m = Math.max(m0, n0);
  const n = Math.min(m0, n0);
  const mg = m / g;
  const ng = n / g;
  let minj = 0;
  let maxj = Math.min(Math.ceil(h / mg), n + 1);
  let curlen = maxj - minj;
  const lenA = Math.min(2 * maxj + 2, n + 1);
  const A = new Float64Array(lenA).fill(1);
  for (let t = minj; t < maxj; t++) A[t] = 0;
  for (let i = 1; i <= m; i++) {
    const lastminj = minj;
    const lastlen = curlen;
    minj = Math.max(Math.floor((ng * i - h) / mg) + 1, 0);
    minj = Math.min(minj, n);
    maxj = Math.min(Math.ceil((ng * i + h) / mg), n + 1);
    if (maxj <= minj) return 1;
    let val = minj === 0 ? 0 : 1;
    const shift = minj - lastminj;
    for (let jj = 0; jj < maxj - minj; jj++) {
      const j = jj + minj;
      val = (A[jj + shift]! * i + val * j) / (i + j);
      A[jj] = val;
    }
    curlen = maxj - minj;
    if (lastlen > curlen) {
      // entries carried over from the longer previous column are "outside": probability 1
      for (let t = curlen; t < curlen + (lastlen - curlen) && t < lenA; t++) A[t] = 1;
    }
  }
  return A[maxj - minj - 1]!;
}

/** scipy's _attempt_exact_2kssamp, two-sided. */
function attemptExact(n1: number, n2: number, g: number, d: number): { ok: boolean; d: number; p: number } {
  const lcm = (n1 / g) * n2;
  const h = roundHalfEven(d * lcm);
  const dSnapped = h / lcm;
  if (h === 0) return { ok: true, d: dSnapped, p: 1 };
  const p = n1 === n2 ? probOutsideSquare(n1, h) : probOutsideInsideMethod(n1, n2, g, h);
  if (!Number.isFinite(p) || !(p >= 0 && p <= 1)) return { ok: false, d: dSnapped, p };
  return { ok: true, d: dSnapped, p };
}

/**
 * Asymptotic two-sided p-value of a two-sample KS statistic D for sample sizes n1, n2, as scipy's
 * ks_2samp(method="asymp"): kstwo.sf(D, round(n1 n2 / (n1 + n2))), round = half to even. For a
 * statistic from sketches (ksFromSketches) this p-value is approximate twice over: the statistic
 * is only known within its error bound, and the asymptotic law is itself an approximation of the
 * exact two-sample law. NaN when the effective size rounds to 0 (n1 = n2 = 1), as scipy.
 */
export function ksPvalueAsymp(statistic: number, n1: number, n2: number): number {
  if (!(n1 >= 1 && n2 >= 1)) throw new RangeError(`ksPvalueAsymp: sample sizes must be >= 1, got ${n1} and ${n2}`);
  const m = Math.max(n1, n2);
  const n = Math.min(n1, n2);
  const en = (m * n) / (m + n);
  const p = kolmogorovSmirnovSf(roundHalfEven(en), statistic);
  return Number.isNaN(p) ? NaN : Math.min(Math.max(p, 0), 1);
}

/**
 * Two-sided two-sample KS test, matching scipy.stats.ks_2samp(a, b, method=...).
 * Throws RangeError for an empty sample or a NaN value (scipy raises for empty input; NaN has no
 * place in an ECDF). +-Infinity are ordinary (extreme) values, as in scipy.
 */
export function ks2samp(a: readonly number[], b: readonly number[], opts: { method?: KsMethod } = {}): KsResult {
  const requested = opts.method ?? 'auto';
  if (requested !== 'auto' && requested !== 'exact' && requested !== 'asymp') {
    throw new RangeError(`ks2samp: method must be auto, exact or asymp, got ${String(requested)}`);
  }
  const sa = sortedCopy(a, 'a');
  const sb = sortedCopy(b, 'b');
  const n1 = sa.length;
  const n2 = sb.length;
  let d = ksStatisticSorted(sa, sb);
  const g = gcd(n1, n2);
  const n1g = n1 / g;
  const n2g = n2 / g;
  let mode: 'exact' | 'asymp';
  if (requested === 'auto') mode = Math.max(n1, n2) <= KS_MAX_AUTO_N ? 'exact' : 'asymp';
  else if (requested === 'exact') mode = n1g >= INT32_MAX / n2g ? 'asymp' : 'exact';
  else mode = 'asymp';

  let p = NaN;
  if (mode === 'exact') {
    const r = attemptExact(n1, n2, g, d);
    d = r.d;
    if (r.ok) p = r.p;
    else mode = 'asymp';
  }
  if (mode === 'asymp') p = ksPvalueAsymp(d, n1, n2);
  if (!Number.isNaN(p)) p = Math.min(Math.max(p, 0), 1);
  return { statistic: d, pvalue: p, method: mode };
}

export interface KsSketchResult {
  /** sup |F_ref - F_cur| of the two sketches' estimated CDFs. */
  statistic: number;
  /**
   * |statistic - true D| <= errorBound with ~99% confidence per sketch: the sum of each
   * non-exact sketch's normalised rank error (kllRankErrorBound(k), the single-sided / CDF
   * constant); an exact sketch (nothing compacted yet) contributes 0.
   */
  errorBound: number;
  /** Both sketches exact: the statistic is the sample KS statistic itself. */
  exact: boolean;
  nReference: number;
  nCurrent: number;
}

/**
 * KS statistic between two KLL sketches: the estimated CDFs are step functions that jump only at
 * retained items, so the sup is attained on the union of both sorted views. By the triangle
 * inequality |D_est - D| <= sup|F^_ref - F_ref| + sup|F^_cur - F_cur|, hence the bound.
 */
export function ksFromSketches(ref: KllSketch, cur: KllSketch): KsSketchResult {
  if (ref.n === 0 || cur.n === 0) {
    throw new RangeError(`ksFromSketches: empty sketch (reference n=${ref.n}, current n=${cur.n})`);
  }
  const r = kllSortedView(ref);
  const c = kllSortedView(cur);
  const rv = r.values;
  const cv = c.values;
  let i = 0;
  let j = 0;
  let wr = 0;
  let wc = 0;
  let sup = 0;
  while (i < rv.length || j < cv.length) {
    const v = j >= cv.length || (i < rv.length && rv[i]! <= cv[j]!) ? rv[i]! : cv[j]!;
    while (i < rv.length && rv[i]! <= v) wr = r.cumWeights[i++]!;
    while (j < cv.length && cv[j]! <= v) wc = c.cumWeights[j++]!;
    const diff = Math.abs(wr / ref.n - wc / cur.n);
    if (diff > sup) sup = diff;
  }
  const exactRef = kllIsExact(ref);
  const exactCur = kllIsExact(cur);
  const errorBound = (exactRef ? 0 : kllRankErrorBound(ref.k)) + (exactCur ? 0 : kllRankErrorBound(cur.k));
  return { statistic: sup, errorBound, exact: exactRef && exactCur, nReference: ref.n, nCurrent: cur.n };
}
