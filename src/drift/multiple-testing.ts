/**
 * Multiple-testing corrections across features: with 20 features tested at 0.05, about one
 * "drifts" by chance in every run without a correction. Pure: no I/O, no clock.
 */

function check(pvalues: readonly number[]): void {
  for (let i = 0; i < pvalues.length; i++) {
    const p = pvalues[i]!;
    if (!(p >= 0 && p <= 1)) throw new RangeError(`p-value at index ${i} must be in [0, 1], got ${p}`);
  }
}

/** Bonferroni: min(1, m * p_i). Controls the family-wise error rate (any false alarm). */
export function bonferroni(pvalues: readonly number[]): number[] {
  check(pvalues);
  const m = pvalues.length;
  return pvalues.map((p) => Math.min(1, p * m));
}

/**
 * Benjamini-Hochberg step-up adjusted p-values (q-values), matching statsmodels'
 * multipletests(method="fdr_bh"): with p_(1) <= ... <= p_(m), q_(i) = min_{j >= i} m p_(j) / j,
 * capped at 1, returned in the input order. Controls the false discovery rate (Benjamini &
 * Hochberg 1995, JRSS B 57(1), 289-300) under independence or positive dependence.
 */
export function benjaminiHochberg(pvalues: readonly number[]): number[] {
  check(pvalues);
  const m = pvalues.length;
  const order = pvalues.map((_, i) => i).sort((a, b) => pvalues[a]! - pvalues[b]!);
  const out = new Array<number>(m);
  let running = Infinity;
  for (let r = m - 1; r >= 0; r--) {
    const idx = order[r]!;
    // statsmodels divides by the ecdf factor (r + 1) / m; same float expression.
    const raw = pvalues[idx]! / ((r + 1) / m);
    if (raw < running) running = raw;
    out[idx] = Math.min(running, 1);
  }
  return out;
}
