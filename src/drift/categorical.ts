/**
 * Drift statistics for categorical features: the chi-square test of homogeneity and the
 * Jensen-Shannon distance. Pure: no I/O, no clock.
 */

import { chiSquareSf } from './special.js';

export interface ChiSquareResult {
  statistic: number;
  dof: number;
  pvalue: number;
  /** Categories in the table (the union of both sides, categories with a zero total dropped). */
  categories: string[];
}

function checkCount(v: number, side: string, key: string): void {
  if (!(Number.isFinite(v) && v >= 0)) {
    throw new RangeError(`chiSquareHomogeneity: ${side} count for ${JSON.stringify(key)} must be a finite number >= 0, got ${v}`);
  }
}

/**
 * Pearson's chi-square test of homogeneity on the 2 x K table (reference row, current row) over
 * the union of both sides' categories, matching scipy.stats.chi2_contingency(table,
 * correction=False): expected E_ij = row_i * col_j / total, X^2 = sum (O - E)^2 / E,
 * dof = K - 1, p = Q((K - 1)/2, X^2/2) (regularized upper incomplete gamma).
 *
 *  - A category seen on one side only is an ordinary column (an unseen category is a bin, not a
 *    crash); a category whose total is 0 on both sides is dropped (scipy would refuse the table:
 *    a zero expected frequency).
 *  - Yates' continuity correction is NOT applied (scipy applies it only when dof == 1 and
 *    correction=True, its default); for K = 2 our p-value is therefore the uncorrected one.
 *  - K <= 1 after dropping (dof 0): statistic 0, p-value 1, as scipy.
 *  - Either side with total 0 throws RangeError (there is no distribution to compare).
 *
 * Categories are iterated in sorted order so the floating-point sum is reproducible.
 */
export function chiSquareHomogeneity(ref: Readonly<Record<string, number>>, cur: Readonly<Record<string, number>>): ChiSquareResult {
  const keys = new Set<string>();
  for (const k of Object.keys(ref)) keys.add(k);
  for (const k of Object.keys(cur)) keys.add(k);
  const categories: string[] = [];
  const o1: number[] = [];
  const o2: number[] = [];
  for (const k of [...keys].sort()) {
    const r = Object.hasOwn(ref, k) ? ref[k]! : 0;
    const c = Object.hasOwn(cur, k) ? cur[k]! : 0;
    checkCount(r, 'reference', k);
    checkCount(c, 'current', k);
    if (r + c === 0) continue;
    categories.push(k);
    o1.push(r);
    o2.push(c);
  }
  let n1 = 0;
  let n2 = 0;
  for (let i = 0; i < o1.length; i++) {
    n1 += o1[i]!;
    n2 += o2[i]!;
  }
  if (n1 === 0 || n2 === 0) {
    throw new RangeError(`chiSquareHomogeneity: both sides need a positive total (reference ${n1}, current ${n2})`);
  }
  const dof = categories.length - 1;
  if (dof === 0) return { statistic: 0, dof: 0, pvalue: 1, categories };
  const total = n1 + n2;
  let stat = 0;
  for (let i = 0; i < o1.length; i++) {
    const col = o1[i]! + o2[i]!;
    const e1 = (n1 * col) / total;
    const e2 = (n2 * col) / total;
    stat += (o1[i]! - e1) ** 2 / e1 + (o2[i]! - e2) ** 2 / e2;
  }
  return { statistic: stat, dof, pvalue: chiSquareSf(stat, dof), categories };
}

/** x log(x / y) with scipy.special.rel_entr's conventions: 0 when x = 0, +Infinity when y = 0 < x. */
function relEntr(x: number, y: number): number {
  if (x > 0 && y > 0) return x * Math.log(x / y);
  if (x === 0 && y >= 0) return 0;
  return Infinity;
}

/**
 * Jensen-Shannon distance (the square root of the JS divergence), matching
 * scipy.spatial.distance.jensenshannon(p, q, base): p and q are normalised to sum 1 (so raw
 * counts over the same bins are fine), m = (p + q)/2, JSD = (KL(p||m) + KL(q||m)) / 2 in nats,
 * divided by ln(base). With base 2 the distance lies in [0, 1].
 * Lin (1991), "Divergence measures based on the Shannon entropy", IEEE Trans. Inf. Theory 37(1);
 * Endres & Schindelin (2003) for the square root being a metric.
 */
export function jensenShannonDistance(p: readonly number[], q: readonly number[], base = 2): number {
  if (p.length !== q.length) throw new RangeError(`jensenShannonDistance: lengths differ (${p.length} vs ${q.length})`);
  if (p.length === 0) throw new RangeError('jensenShannonDistance: empty distributions');
  if (!(base > 0 && base !== 1)) throw new RangeError(`jensenShannonDistance: base must be > 0 and != 1, got ${base}`);
  let sp = 0;
  let sq = 0;
  for (let i = 0; i < p.length; i++) {
    if (!(Number.isFinite(p[i]!) && p[i]! >= 0) || !(Number.isFinite(q[i]!) && q[i]! >= 0)) {
      throw new RangeError(`jensenShannonDistance: entries must be finite and >= 0 (index ${i}: ${p[i]}, ${q[i]})`);
    }
    sp += p[i]!;
    sq += q[i]!;
  }
  if (sp === 0 || sq === 0) throw new RangeError('jensenShannonDistance: each distribution needs a positive total');
  let left = 0;
  let right = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = p[i]! / sp;
    const qi = q[i]! / sq;
    const mi = (pi + qi) / 2;
    left += relEntr(pi, mi);
    right += relEntr(qi, mi);
  }
  let js = left + right;
  js /= Math.log(base);
  // Rounding can leave a tiny negative value for identical inputs; sqrt of it would be NaN.
  return Math.sqrt(Math.max(js / 2, 0));
}
