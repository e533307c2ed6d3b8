/**
 * Distributions of the Kolmogorov-Smirnov statistics, computed the way scipy computes them, so the
 * asymptotic two-sample p-value agrees with scipy.stats.ks_2samp(method="asymp"), which evaluates
 * scipy.stats.kstwo.sf(d, round(n1 n2 / (n1 + n2))): the *exact finite-n* one-sample two-sided
 * distribution at the effective sample size, not the n -> infinity Kolmogorov limit.
 *
 * Algorithm choice per (n, x) follows Simard & L'Ecuyer (2011), "Computing the Two-Sided
 * Kolmogorov-Smirnov Distribution", J. Stat. Software 39(11), exactly as scipy/stats/_ksstats.py
 * (scipy 1.10, BSD-3) implements it:
 *   - Ruben & Gambino closed forms for n x <= 1 and n x >= n - 1;
 *   - 2 * smirnov(n, x) (exact for x >= 0.5, "Miller's approximation" otherwise) where the upper
 *     tail is small;
 *   - the Durbin (1968) matrix algorithm in the Marsaglia-Tsang-Wang (2003) form for small n x^2;
 *   - the Pomeranz (1974) recursion for moderate n x^2 and n <= 140;
 *   - the Pelz & Good (1976) asymptotic series otherwise (an approximation: we reproduce it, we
 *     do not improve on it, because matching scipy is the contract).
 * smirnov(n, x) is the one-sided upper tail P(D+_n >= x) by the Smirnov (1944) / Birnbaum &
 * Tingey (1951) sum, as cephes/kolmogorov.c (van Mulbregt 2018) evaluates it, but in plain
 * doubles with the terms taken through logs (cephes uses double-double arithmetic; the sum has
 * only positive terms, so plain doubles lose at most ~1e-12 relative, far inside our 1e-9).
 */

import { lnGamma } from './special.js';

const E128 = 128;
const EP128 = 2 ** 128;
const EM128 = 2 ** -128;
const SQRT_2PI = Math.sqrt(2 * Math.PI);
const LOG_2PI = Math.log(2 * Math.PI);
const MIN_LOG = -708;
const PI2 = Math.PI ** 2;
const PI4 = Math.PI ** 4;
const PI6 = Math.PI ** 6;
/** cephes MINLOG = log(2^-1022). */
const CEPHES_MINLOG = -7.08396418532264106224e2;
const SMIRNOV_MAX_COMPUTE_N = 1000000;

function clip01(p: number): number {
  return p < 0 ? 0 : p > 1 ? 1 : p;
}

/** log(n! / n^n) by Stirling's series with n log n removed up front (no cancellation). */
const STIRLING_COEFFS = [
  -2.955065359477124183e-2, 6.4102564102564102564e-3, -1.9175269175269175269e-3, 8.4175084175084175084e-4, -5.952380952380952381e-4, 7.9365079365079365079e-4,
  -2.7777777777777777778e-3, 8.3333333333333333333e-2,
];
function logNFactorialDivNPowN(n: number): number {
  const rn = 1 / n;
  const x = rn / n;
  let poly = 0;
  for (const c of STIRLING_COEFFS) poly = poly * x + c;
  return Math.log(n) / 2 - n + LOG_2PI / 2 + rn * poly;
}

/**
 * Stirling's error log(n!) - log(sqrt(2 pi n) (n/e)^n) for integer n >= 1 (Loader 2000, "Fast and
 * Accurate Computation of Binomial Probabilities"; the series and cut-offs of R's stirlerr()).
 */
function stirlingError(n: number): number {
  if (n <= 15) return lnGamma(n + 1) - (n + 0.5) * Math.log(n) + n - LOG_2PI / 2;
  const S0 = 1 / 12;
  const S1 = 1 / 360;
  const S2 = 1 / 1260;
  const S3 = 1 / 1680;
  const S4 = 1 / 1188;
  const nn = n * n;
  if (n > 500) return (S0 - S1 / nn) / n;
  if (n > 80) return (S0 - (S1 - S2 / nn) / nn) / n;
  if (n > 35) return (S0 - (S1 - (S2 - S3 / nn) / nn) / nn) / n;
  return (S0 - (S1 - (S2 - (S3 - S4 / nn) / nn) / nn) / nn) / n;
}

/** Loader's deviance term bd0(x, np) = x log(x / np) + np - x, without cancellation near x = np. */
function bd0(x: number, np: number): number {
  if (Math.abs(x - np) < 0.1 * (x + np)) {
    let v = (x - np) / (x + np);
    let s = (x - np) * v;
    let ej = 2 * x * v;
    v = v * v;
    for (let j = 1; j < 1000; j++) {
      ej *= v;
      const s1 = s + ej / (2 * j + 1);
      if (s1 === s) return s1;
      s = s1;
    }
    return s;
  }
  return x * Math.log(x / np) + np - x;
}

/** Binomial density C(n, k) p^k q^(n-k) for 0 < k < n, q = 1 - p given separately (Loader 2000). */
function binomialDensity(k: number, n: number, p: number, q: number): number {
  const lc = stirlingError(n) - stirlingError(k) - stirlingError(n - k) - bd0(k, n * p) - bd0(n - k, n * q);
  const lf = LOG_2PI + Math.log(k) + Math.log1p(-k / n);
  return Math.exp(lc - 0.5 * lf);
}

/**
 * One-sided Smirnov upper tail P(D+_n >= x) (scipy.special.smirnov), for integer n >= 1.
 *   P = x * sum_{v=0}^{floor(n(1-x))} C(n, v) (x + v/n)^(v-1) (1 - x - v/n)^(n-v)
 */
export function smirnovSf(n: number, x: number): number {
  if (!(n > 0 && x >= 0 && x <= 1)) return NaN;
  if (n === 1) return 1 - x;
  if (x === 0) return 1;
  if (x === 1) return 0;
  const nx = n * x;
  const nxfl = Math.floor(nx);
  const alphaZero = nx === nxfl;
  // x <= 1/n: cdf = x (1 + x)^(n-1)
  if (nxfl === 0 || (nxfl === 1 && alphaZero)) {
    const cdf = x * Math.exp((n - 1) * Math.log1p(x));
    return clip01(1 - cdf);
  }
  if (-2 * n * x * x < CEPHES_MINLOG) return 0;
  if (nxfl >= n - 1) return clip01(Math.exp(n * Math.log1p(-x)));
  if (n > SMIRNOV_MAX_COMPUTE_N) {
    // cephes: p ~ exp(-(6nx + 1)^2 / 18n)
    const logp = -((6 * n * x + 1) ** 2) / 18 / n;
    return clip01(logp < -Math.LN2 ? Math.exp(logp) : 1 + Math.expm1(logp));
  }
  // Lower sum over v = 0 .. n1mxfl (the last term, where 1 - x - v/n vanishes, is dropped when
  // n(1-x) is an integer, as cephes does).
  let last = n - nxfl - (alphaZero ? 0 : 1);
  if (alphaZero) last -= 1;
  const nTerms = last + 1;
  // Term v is dbinom(v; n, a) / a with a = x + v/n. For large n the sum needs up to ~n terms (they
  // decay like v^-1.5), so each term is evaluated with Loader's saddle-point form of the binomial
  // density, whose relative error does not grow with n (an incremental log C(n, v) drifts by
  // ~1e-9 at n = 3e5).
  let sum = Math.exp(n * Math.log1p(-x)) / x; // v = 0: (1 - x)^n / x
  for (let v = 1; v < nTerms; v++) {
    const a = x + v / n;
    const b = 1 - x - v / n;
    let term = 0;
    if (b > 0) {
      term = binomialDensity(v, n, a, b) / a;
      sum += term;
    }
    // cephes' early exit: the remaining (decreasing) terms cannot change the sum.
    if (term !== 0) {
      if (4 * (nTerms - v) * term < Number.EPSILON * sum && v !== nTerms - 1) break;
    } else if (v > n / 2) break;
  }
  return clip01(x * sum);
}

/**
 * Durbin's matrix algorithm, Marsaglia-Tsang-Wang form: P(D_n <= d) = n!/n^n * (H^n)_{kk}
 * with d = (k - h)/n. Memory O(m^2), time O(m^3 log n), m = 2k - 1.
 */
function kolmognDMTW(n: number, d: number): number {
  if (d >= 1) return 1;
  const nd = n * d;
  if (nd <= 0.5) return 0;
  const k = Math.ceil(nd);
  const h = k - nd;
  const m = 2 * k - 1;
  const v = new Float64Array(m);
  const w = new Float64Array(m);
  let fac = 1;
  for (let j = 1; j <= m; j++) {
    v[j - 1] = 1 - h ** j;
    w[j - 1] = fac;
    fac /= j;
    v[j - 1]! *= fac;
  }
  const tt = Math.max(2 * h - 1, 0) ** m - 2 * h ** m;
  v[m - 1] = (1 + tt) * fac;
  let H = new Float64Array(m * m);
  for (let i = 1; i < m; i++) {
    for (let r = i - 1; r < m; r++) H[r * m + i] = w[r - (i - 1)]!;
  }
  for (let r = 0; r < m; r++) H[r * m] = v[r]!;
  for (let c = 0; c < m; c++) H[(m - 1) * m + c] = v[m - 1 - c]!;

  let Hpwr = new Float64Array(m * m);
  for (let i = 0; i < m; i++) Hpwr[i * m + i] = 1;
  let nn = n;
  let expnt = 0;
  let Hexpnt = 0;
  while (nn > 0) {
    if (nn % 2) {
      Hpwr = matmul(Hpwr, H, m);
      expnt += Hexpnt;
    }
    H = matmul(H, H, m);
    Hexpnt *= 2;
    if (Math.abs(H[(k - 1) * m + (k - 1)]!) > EP128) {
      for (let i = 0; i < H.length; i++) H[i]! /= EP128;
      Hexpnt += E128;
    }
    nn = Math.floor(nn / 2);
  }
  let p = Hpwr[(k - 1) * m + (k - 1)]!;
  for (let i = 1; i <= n; i++) {
    p = (i * p) / n;
    if (Math.abs(p) < EM128) {
      p *= EP128;
      expnt -= E128;
    }
  }
  if (expnt !== 0) p = p * 2 ** expnt;
  return clip01(p);
}

function matmul(a: Float64Array, b: Float64Array, m: number): Float64Array<ArrayBuffer> {
  const out = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let l = 0; l < m; l++) {
      const ail = a[i * m + l]!;
      if (ail === 0) continue;
      const rowB = l * m;
      const rowO = i * m;
      for (let j = 0; j < m; j++) out[rowO + j]! += ail * b[rowB + j]!;
    }
  }
  return out;
}

function pomeranzJ1J2(i: number, n: number, ll: number, ceilf: number, roundf: number): [number, number] {
  let j1: number;
  let j2: number;
  if (i === 0) {
    j1 = -ll - ceilf - 1;
    j2 = ll + ceilf - 1;
  } else {
    const ip1div2 = Math.floor((i + 1) / 2);
    const ip1mod2 = (i + 1) % 2;
    if (ip1mod2 === 0) {
      if (ip1div2 === n + 1) {
        j1 = n - ll - ceilf - 1;
        j2 = n + ll + ceilf - 1;
      } else {
        j1 = ip1div2 - 1 - ll - roundf - 1;
        j2 = ip1div2 + ll - 1 + ceilf - 1;
      }
    } else {
      j1 = ip1div2 - 1 - ll - 1;
      j2 = ip1div2 + ll + roundf - 1;
    }
  }
  return [Math.max(j1 + 2, 0), Math.min(j2, n)];
}

/** Pomeranz (1974) recursion (ACM Algorithm 487) for P(D_n <= x), with scaling against underflow. */
function kolmognPomeranz(n: number, x: number): number {
  const t = n * x;
  const ll = Math.floor(t);
  const f = t - ll;
  const g = Math.min(f, 1 - f);
  const ceilf = f > 0 ? 1 : 0;
  const roundf = f > 0.5 ? 1 : 0;
  const npwrs = 2 * (ll + 1);
  const gpower = new Float64Array(npwrs);
  const twogpower = new Float64Array(npwrs);
  const onem2gpower = new Float64Array(npwrs);
  gpower[0] = 1;
  twogpower[0] = 1;
  onem2gpower[0] = 1;
  let expnt = 0;
  const gOverN = g / n;
  const twoGOverN = (2 * g) / n;
  const oneMinusTwoGOverN = (1 - 2 * g) / n;
  for (let m = 1; m < npwrs; m++) {
    gpower[m] = (gpower[m - 1]! * gOverN) / m;
    twogpower[m] = (twogpower[m - 1]! * twoGOverN) / m;
    onem2gpower[m] = (onem2gpower[m - 1]! * oneMinusTwoGOverN) / m;
  }
  let V0 = new Float64Array(npwrs);
  let V1 = new Float64Array(npwrs);
  V1[0] = 1;
  let V0s = 0;
  let V1s = 0;
  let [j1, j2] = pomeranzJ1J2(0, n, ll, ceilf, roundf);
  for (let i = 1; i < 2 * n + 2; i++) {
    const k1 = j1;
    const tmp = V0;
    V0 = V1;
    V1 = tmp;
    const tmpS = V0s;
    V0s = V1s;
    V1s = tmpS;
    V1.fill(0);
    [j1, j2] = pomeranzJ1J2(i, n, ll, ceilf, roundf);
    const pwrs = i === 1 || i === 2 * n + 1 ? gpower : i % 2 ? twogpower : onem2gpower;
    const ln2 = j2 - k1 + 1;
    if (ln2 > 0) {
      // conv = np.convolve(V0[k1 - V0s : k1 - V0s + ln2], pwrs[:ln2]) (slices truncate at the end)
      const aStart = k1 - V0s;
      if (aStart < 0) throw new Error('kolmogorov: Pomeranz window out of range');
      const aLen = Math.max(0, Math.min(ln2, npwrs - aStart));
      const bLen = Math.min(ln2, npwrs);
      const convStart = j1 - k1;
      const convLen = j2 - j1 + 1;
      let maxV = 0;
      for (let o = 0; o < convLen; o++) {
        const idx = convStart + o; // index into the full convolution
        let s = 0;
        const lo = Math.max(0, idx - (bLen - 1));
        const hi = Math.min(aLen - 1, idx);
        for (let a = lo; a <= hi; a++) s += V0[aStart + a]! * pwrs[idx - a]!;
        V1[o] = s;
        if (s > maxV) maxV = s;
      }
      if (maxV > 0 && maxV < EM128) {
        for (let o = 0; o < V1.length; o++) V1[o]! *= EP128;
        expnt -= E128;
      }
      V1s = V0s + j1 - k1;
    }
  }
  let ans = V1[n - V1s]!;
  for (let m = 1; m <= n; m++) {
    if (Math.abs(ans) > EP128) {
      ans *= EM128;
      expnt += E128;
    }
    ans *= m;
  }
  if (expnt !== 0) ans = ans * 2 ** expnt;
  return clip01(ans);
}

/**
 * Pelz & Good (1976) approximation to P(D_n <= x): the Li-Chien / Korolyuk expansion
 * K0 + K1/sqrt(n) + K2/n + K3/n^1.5 rewritten with Jacobi theta identities for small z = x sqrt(n).
 */
function kolmognPelzGood(n: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const z = Math.sqrt(n) * x;
  const z2 = z * z;
  const z3 = z2 * z;
  const z4 = z2 * z2;
  const z6 = z4 * z2;
  const qlog = -PI2 / 8 / z2;
  if (qlog < MIN_LOG) return 0;
  let q = Math.exp(qlog);
  const k1a = -z2;
  const k1b = PI2 / 4;
  const k2a = 6 * z6 + 2 * z4;
  const k2b = ((2 * z4 - 5 * z2) * PI2) / 4;
  const k2c = (PI4 * (1 - 2 * z2)) / 16;
  const k3d = (PI6 * (5 - 30 * z2)) / 64;
  const k3c = (PI4 * (-60 * z2 + 212 * z4)) / 16;
  const k3b = (PI2 * (135 * z4 - 96 * z6)) / 4;
  const k3a = -30 * z6 - 90 * z ** 8;
  const K = [0, 0, 0, 0];
  const maxk = Math.ceil((16 * z) / Math.PI);
  for (let k = maxk; k > 0; k--) {
    const m = 2 * k - 1;
    const m2 = m * m;
    const m4 = m2 * m2;
    const m6 = m4 * m2;
    const qpower = q ** (8 * k);
    const coeffs = [1, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6];
    for (let i = 0; i < 4; i++) K[i] = K[i]! * qpower + coeffs[i]!;
  }
  const div = [z, 6 * z4, 72 * z ** 7, 6480 * z ** 10];
  for (let i = 0; i < 4; i++) K[i] = (K[i]! * q * SQRT_2PI) / div[i]!;
  q = Math.exp(-PI2 / 2 / z2);
  const sqrt3z = Math.sqrt(3) * z;
  let k2extra = 0;
  let k3extra = 0;
  for (let k = maxk; k > 0; k--) {
    const ks2 = k * k;
    const qp = q ** ks2;
    const kspi = Math.PI * k;
    k2extra += ks2 * qp;
    k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ks2 * qp;
  }
  k2extra *= (PI2 * SQRT_2PI) / (-36 * z3);
  k3extra *= (PI2 * SQRT_2PI) / (216 * z6);
  K[2] = K[2]! + k2extra;
  K[3] = K[3]! + k3extra;
  let sum = 0;
  for (let i = 0; i < 4; i++) sum += K[i]! / n ** (i / 2);
  return sum;
}

/**
 * Survival function of the two-sided one-sample KS statistic, P(D_n >= x) for integer n >= 1
 * (scipy.stats.kstwo.sf(x, n)). NaN for n < 1 (as scipy).
 */
export function kolmogorovSmirnovSf(n: number, x: number): number {
  if (Number.isNaN(n) || Number.isNaN(x)) return NaN;
  if (!Number.isInteger(n) || n <= 0) return NaN;
  if (x >= 1) return 0;
  if (x <= 0) return 1;
  const t = n * x;
  if (t <= 1) {
    // Ruben-Gambino: 1/2n <= x <= 1/n
    if (t <= 0.5) return 1;
    let prob: number;
    if (n <= 140) {
      prob = 1;
      const c = 2 * t - 1;
      for (let i = 1; i <= n; i++) prob *= i * (1 / n) * c;
    } else {
      prob = Math.exp(logNFactorialDivNPowN(n) + n * Math.log(2 * t - 1));
    }
    return clip01(1 - prob);
  }
  if (t >= n - 1) return clip01(2 * (1 - x) ** n);
  if (x >= 0.5) return clip01(2 * smirnovSf(n, x));
  const nxsquared = t * x;
  if (n <= 140) {
    if (nxsquared <= 0.754693) return clip01(1 - kolmognDMTW(n, x));
    if (nxsquared <= 4) return clip01(1 - kolmognPomeranz(n, x));
    return clip01(2 * smirnovSf(n, x));
  }
  if (nxsquared >= 370) return 0;
  if (nxsquared >= 2.2) return clip01(2 * smirnovSf(n, x));
  let cdf: number;
  if (n <= 100000 && n * x ** 1.5 <= 1.4) cdf = kolmognDMTW(n, x);
  else cdf = clip01(kolmognPelzGood(n, x));
  return clip01(1 - cdf);
}

/** Kolmogorov's limiting distribution: P(sqrt(n) D_n >= z) as n -> infinity (scipy.special.kolmogorov). */
export function kolmogorovLimitSf(z: number): number {
  if (Number.isNaN(z)) return NaN;
  if (z <= 0) return 1;
  if (z <= Math.PI / Math.sqrt((708 + 38) * 8)) return 1;
  if (z <= 0.82) {
    // cdf = sqrt(2 pi)/z * sum_k exp(-(2k-1)^2 pi^2 / (8 z^2))
    const w = SQRT_2PI / z;
    const logu8 = (-Math.PI * Math.PI) / (z * z);
    const u = Math.exp(logu8 / 8);
    let P: number;
    if (u === 0) P = Math.exp(logu8 / 8 + Math.log(w));
    else {
      const u8 = Math.exp(logu8);
      P = 1;
      P = 1 + u8 ** 3 * P;
      P = 1 + u8 * u8 * P;
      P = 1 + u8 * P;
      P = w * u * P;
    }
    return clip01(1 - P);
  }
  // sf = 2 sum_{k>=1} (-1)^(k-1) exp(-2 k^2 z^2)
  const v = Math.exp(-2 * z * z);
  const v3 = v ** 3;
  let P = 1;
  P = 1 - v3 * v3 * v * P;
  P = 1 - v3 * v * v * P;
  P = 1 - v3 * P;
  return clip01(2 * v * P);
}

// Exported for the tests of the pieces (not part of the public drift API).
export const _internals = { kolmognDMTW, kolmognPomeranz, kolmognPelzGood, logNFactorialDivNPowN, lnGamma };
