/**
 * Golden values: src/drift/ against scipy / statsmodels / Evidently's formulas on committed
 * inputs. Expected values come from test/fixtures/drift-golden/generate.py (run with Debian's
 * python3-scipy; CI needs no Python, it reads the JSON only).
 *
 * Tolerance rule (docs/drift.md, "Tolerances"):
 *  - statistics and distances: |got - want| <= 1e-12 * max(1, |want|);
 *  - p-values: |got - want| <= 1e-9 * |want| + 1e-300, i.e. 1e-9 RELATIVE even for tiny
 *    p-values (an absolute 1e-9 would accept anything below 1e-9 and so test nothing in the
 *    tail that drift alarms live in); the 1e-300 floor only lets a p-value that underflows in
 *    one implementation and not the other (~1e-308) pass.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { ks2samp, ksPvalueAsymp, type KsMethod } from '../../src/drift/ks.js';
import { kolmogorovSmirnovSf, smirnovSf, kolmogorovLimitSf } from '../../src/drift/kolmogorov-dist.js';
import { chiSquareHomogeneity, jensenShannonDistance } from '../../src/drift/categorical.js';
import { wasserstein1, wassersteinNormalized } from '../../src/drift/wasserstein.js';
import { benjaminiHochberg, bonferroni } from '../../src/drift/multiple-testing.js';
import { psiEvidently, psiFromCounts } from '../../src/drift/psi.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'drift-golden');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function load(name: string): any {
  return JSON.parse(readFileSync(join(DIR, name), 'utf8'));
}

/** JSON cannot hold NaN / Infinity: generate.py writes null / "Infinity" / "-Infinity". */
function dec(x: number | string | null): number {
  if (x === null) return NaN;
  if (x === 'Infinity') return Infinity;
  if (x === '-Infinity') return -Infinity;
  return x as number;
}
function decArr(xs: (number | string | null)[]): number[] {
  return xs.map(dec);
}

const STAT_RTOL = 1e-12;
const P_RTOL = 1e-9;
const P_ATOL = 1e-300;

function closeStat(got: number, want: number, what: string): void {
  if (Number.isNaN(want)) return assert.ok(Number.isNaN(got), `${what}: want NaN, got ${got}`);
  const tol = STAT_RTOL * Math.max(1, Math.abs(want));
  assert.ok(Math.abs(got - want) <= tol, `${what}: got ${got}, want ${want} (|diff| ${Math.abs(got - want)} > ${tol})`);
}
function closeP(got: number, want: number, what: string): void {
  if (Number.isNaN(want)) return assert.ok(Number.isNaN(got), `${what}: want NaN, got ${got}`);
  const tol = P_RTOL * Math.abs(want) + P_ATOL;
  assert.ok(Math.abs(got - want) <= tol, `${what}: got ${got}, want ${want} (rel ${Math.abs(got - want) / Math.abs(want)})`);
}

interface KsCase {
  name: string;
  a?: (number | string)[];
  b?: (number | string)[];
  a_spec?: Spec;
  b_spec?: Spec;
  expected: Record<KsMethod, { statistic: number; pvalue: number | null; method: 'exact' | 'asymp' }>;
}
type Spec = { kind: 'arange'; n: number; start: number; step: number } | { kind: 'weyl'; n: number; alpha: number; scale: number; offset: number };

/** Same IEEE operations as generate.py's build(). */
function build(spec: Spec): number[] {
  const out = new Array<number>(spec.n);
  for (let i = 0; i < spec.n; i++) {
    out[i] = spec.kind === 'arange' ? spec.start + i * spec.step : (((i + 1) * spec.alpha) % 1.0) * spec.scale + spec.offset;
  }
  return out;
}

function runKs(file: string): void {
  const data = load(file);
  test(`${file}: generated with scipy ${data.versions.scipy}`, () => {
    assert.match(data.versions.scipy, /^\d+\.\d+/);
  });
  for (const c of data.cases as KsCase[]) {
    const a = c.a ? decArr(c.a) : build(c.a_spec!);
    const b = c.b ? decArr(c.b) : build(c.b_spec!);
    for (const [method, want] of Object.entries(c.expected) as [KsMethod, KsCase['expected'][KsMethod]][]) {
      test(`ks2samp ${c.name} [${method}] (n=${a.length}/${b.length})`, () => {
        const got = ks2samp(a, b, { method });
        assert.equal(got.method, want.method, 'method that ran');
        closeStat(got.statistic, want.statistic, 'statistic');
        closeP(got.pvalue, dec(want.pvalue), 'pvalue');
        // symmetric in its arguments, as scipy's two-sided test
        const swapped = ks2samp(b, a, { method });
        closeStat(swapped.statistic, want.statistic, 'statistic (swapped)');
        closeP(swapped.pvalue, dec(want.pvalue), 'pvalue (swapped)');
      });
    }
  }
}

runKs('ks.json');
runKs('ks-large.json');

test('ks2samp: empty input throws RangeError', () => {
  assert.throws(() => ks2samp([], [1, 2]), RangeError);
  assert.throws(() => ks2samp([1], []), RangeError);
  assert.throws(() => ks2samp([1, NaN], [1, 2]), RangeError);
});

test('kolmogorov.json: kstwo.sf, smirnov and the Kolmogorov limit on a grid', () => {
  const data = load('kolmogorov.json');
  for (const r of data.rows as { n: number; x: number; kstwo_sf: number; smirnov: number; kolmogorov: number }[]) {
    closeP(kolmogorovSmirnovSf(r.n, r.x), dec(r.kstwo_sf), `kstwo.sf(${r.x}, ${r.n})`);
    closeP(smirnovSf(r.n, r.x), dec(r.smirnov), `smirnov(${r.n}, ${r.x})`);
    closeP(kolmogorovLimitSf(r.x * Math.sqrt(r.n)), dec(r.kolmogorov), `kolmogorov(${r.x} sqrt(${r.n}))`);
  }
});

test('ksPvalueAsymp equals the asymp p-value of ks2samp', () => {
  const data = load('ks.json');
  for (const c of data.cases as KsCase[]) {
    const want = c.expected.asymp;
    if (!want) continue;
    closeP(ksPvalueAsymp(want.statistic, c.a!.length, c.b!.length), dec(want.pvalue), c.name);
  }
});

test('chi2.json: chiSquareHomogeneity vs scipy chi2_contingency(correction=False)', () => {
  const data = load('chi2.json');
  for (const c of data.cases as {
    name: string;
    ref: Record<string, number>;
    cur: Record<string, number>;
    expected: { statistic: number; pvalue: number; dof: number };
  }[]) {
    const got = chiSquareHomogeneity(c.ref, c.cur);
    assert.equal(got.dof, c.expected.dof, `${c.name}: dof`);
    closeStat(got.statistic, c.expected.statistic, `${c.name}: statistic`);
    closeP(got.pvalue, c.expected.pvalue, `${c.name}: pvalue`);
  }
});

test('js.json: jensenShannonDistance vs scipy.spatial.distance.jensenshannon', () => {
  const data = load('js.json');
  for (const c of data.cases as { name: string; p: number[]; q: number[]; base: number; expected: number }[]) {
    closeStat(jensenShannonDistance(c.p, c.q, c.base), c.expected, c.name);
  }
});

test('wasserstein.json: wasserstein1 vs scipy, wassersteinNormalized vs Evidently formula', () => {
  const data = load('wasserstein.json');
  for (const c of data.cases as { name: string; a: number[]; b: number[]; expected: number; expected_normalized: number }[]) {
    closeStat(wasserstein1(c.a, c.b), c.expected, `${c.name}: w1`);
    closeStat(wassersteinNormalized(c.a, c.b), c.expected_normalized, `${c.name}: normalized`);
  }
});

test('multiple-testing.json: BH and Bonferroni vs statsmodels multipletests', () => {
  const data = load('multiple-testing.json');
  for (const c of data.cases as { name: string; pvalues: number[]; bh: number[]; bonferroni: number[] }[]) {
    const bh = benjaminiHochberg(c.pvalues);
    const bon = bonferroni(c.pvalues);
    c.bh.forEach((w, i) => closeStat(bh[i]!, w, `${c.name}: bh[${i}]`));
    c.bonferroni.forEach((w, i) => closeStat(bon[i]!, w, `${c.name}: bonferroni[${i}]`));
  }
});

test('psi.json: fixed-bin PSI', () => {
  const data = load('psi.json');
  for (const c of data.fixed as { name: string; reference: number[]; current: number[]; expected: { value: number; bins: number; perBin: number[] } }[]) {
    const got = psiFromCounts(c.reference, c.current);
    assert.equal(got.bins, c.expected.bins, `${c.name}: bins`);
    closeStat(got.value, c.expected.value, `${c.name}: value`);
    c.expected.perBin.forEach((w, i) => closeStat(got.perBin[i]!, w, `${c.name}: perBin[${i}]`));
  }
});

test('psi.json: Evidently-mode PSI vs the re-implementation of Evidently', () => {
  const data = load('psi.json');
  for (const c of data.evidently as {
    name: string;
    reference: (number | string | null)[];
    current: (number | string | null)[];
    bins: number | null;
    expected: { value: number; bins: number; binning: string };
  }[]) {
    const ref = c.reference.map((x) => (typeof x === 'string' && (x === 'Infinity' || x === '-Infinity') ? dec(x) : x));
    const cur = c.current.map((x) => (typeof x === 'string' && (x === 'Infinity' || x === '-Infinity') ? dec(x) : x));
    const got = psiEvidently(ref, cur, c.bins === null ? {} : { bins: c.bins });
    assert.equal(got.mode, 'evidently');
    assert.equal(got.binning, c.expected.binning, `${c.name}: binning`);
    assert.equal(got.bins, c.expected.bins, `${c.name}: bins`);
    closeStat(got.value, c.expected.value, `${c.name}: value`);
  }
});
