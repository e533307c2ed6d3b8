/**
 * Special functions the drift statistics need and simple-statistics does not provide with the
 * precision a p-value needs (its chi-square support is a table of critical values; its error
 * function is a ~1e-7 approximation). Pure: no I/O, no clock.
 */

const LOG_SQRT_2PI = 0.91893853320467274178032973640561764;

/**
 * Stirling-series coefficients B_2j / (2j (2j-1)), j = 1..8 (Abramowitz & Stegun 6.1.40).
 */
const STIRLING = [1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156, -3617 / 122400];

/**
 * ln Gamma(x) for x > 0: the Stirling series for x >= 15 (truncation error below 1e-17 there),
 * shifted up with Gamma(x) = Gamma(x + k) / (x (x+1) ... (x+k-1)) below. Relative accuracy about
 * 1e-15, which is what the incomplete-gamma prefactor needs.
 */
export function lnGamma(x: number): number {
  if (!(x > 0)) throw new RangeError(`lnGamma needs x > 0, got ${x}`);
  let shift = 0;
  let prod = 1;
  while (x < 15) {
    prod *= x;
    x += 1;
    shift++;
  }
  const inv = 1 / x;
  const inv2 = inv * inv;
  let series = 0;
  for (let j = STIRLING.length - 1; j >= 0; j--) series = series * inv2 + STIRLING[j]!;
  series *= inv;
  const lg = (x - 0.5) * Math.log(x) - x + LOG_SQRT_2PI + series;
  return shift === 0 ? lg : lg - Math.log(prod);
}

const GAMMA_EPS = 1e-16;
const GAMMA_MAX_ITER = 100000;
/** Lentz's "tiny" (Numerical Recipes' FPMIN). */
const FPMIN = 1e-300;

/** exp(a ln x - x - lnGamma(a)): the common prefactor of P(a, x) and Q(a, x). */
function gammaPrefactor(a: number, x: number): number {
  return Math.exp(a * Math.log(x) - x - lnGamma(a));
}

/** Series for P(a, x), good for x < a + 1 (Numerical Recipes 3rd ed., 6.2.5, `gser`). */
function gammaPSeries(a: number, x: number): number {
  let ap = a;
  let del = 1 / a;
  let sum = del;
  for (let i = 0; i < GAMMA_MAX_ITER; i++) {
    ap += 1;
    del *= x / ap;
    sum += del;
    if (Math.abs(del) < Math.abs(sum) * GAMMA_EPS) break;
  }
  return sum * gammaPrefactor(a, x);
}

/**
 * Continued fraction for Q(a, x), good for x >= a + 1, evaluated with the modified Lentz method
 * (Numerical Recipes 3rd ed., 6.2.7, `gcf`). Computes Q directly, so tiny upper tails keep their
 * relative precision (no 1 - P cancellation).
 */
function gammaQContinuedFraction(a: number, x: number): number {
  let b = x + 1 - a;
  let c = 1 / FPMIN;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < GAMMA_MAX_ITER; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < FPMIN) d = FPMIN;
    c = b + an / c;
    if (Math.abs(c) < FPMIN) c = FPMIN;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < GAMMA_EPS) break;
  }
  return h * gammaPrefactor(a, x);
}

/** Regularized upper incomplete gamma Q(a, x) = Gamma(a, x) / Gamma(a) (cephes `igamc`). */
export function gammaQ(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) throw new RangeError(`gammaQ needs a > 0 and x >= 0, got a=${a}, x=${x}`);
  if (x === 0) return 1;
  if (x === Infinity) return 0;
  if (x < a + 1) return 1 - gammaPSeries(a, x);
  return gammaQContinuedFraction(a, x);
}

/** Regularized lower incomplete gamma P(a, x) = 1 - Q(a, x). */
export function gammaP(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) throw new RangeError(`gammaP needs a > 0 and x >= 0, got a=${a}, x=${x}`);
  if (x === 0) return 0;
  if (x === Infinity) return 1;
  if (x < a + 1) return gammaPSeries(a, x);
  return 1 - gammaQContinuedFraction(a, x);
}

/** Chi-square survival function P(X >= x) for `dof` degrees of freedom: Q(dof / 2, x / 2). */
export function chiSquareSf(x: number, dof: number): number {
  if (!(dof > 0)) throw new RangeError(`chi-square needs dof > 0, got ${dof}`);
  if (Number.isNaN(x)) return NaN;
  if (x <= 0) return 1;
  return gammaQ(dof / 2, x / 2);
}

/** numpy's np.round: round half to even (banker's rounding). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // rounds .5 up
  if (Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0) return r - 1;
  return r;
}

/** Greatest common divisor of two non-negative integers. */
export function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}
