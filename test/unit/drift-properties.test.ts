/**
 * Property tests for src/drift/: invariants that must hold for every input, checked on seeded
 * random inputs (deterministic: a failure reproduces).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ks2samp, ksFromSketches, ksPvalueAsymp, type KsMethod } from '../../src/drift/ks.js';
import { chiSquareHomogeneity, jensenShannonDistance } from '../../src/drift/categorical.js';
import { psiEvidently, psiFromCounts } from '../../src/drift/psi.js';
import { benjaminiHochberg, bonferroni } from '../../src/drift/multiple-testing.js';
import { wasserstein1, wassersteinFromSketches } from '../../src/drift/wasserstein.js';
import { datasetDrifted, driftShare, featureVerdict } from '../../src/drift/verdict.js';
import { gammaP, gammaQ, lnGamma } from '../../src/drift/special.js';
import { emptyKll, kllUpdate } from '../../src/stats/kll-sketch.js';
import type { KllSketch } from '../../src/stats/types.js';

/** mulberry32 (public domain): a tiny seeded PRNG so every run sees the same inputs. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function normal(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}
function int(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}
function sample(r: () => number, n: number, shift = 0, scale = 1, ties = false): number[] {
  return Array.from({ length: n }, () => {
    const x = shift + scale * normal(r);
    return ties ? Math.round(x * 2) / 2 : x;
  });
}
function counts(r: () => number, k: number, max = 500): number[] {
  return Array.from({ length: k }, () => (r() < 0.15 ? 0 : int(r, 0, max)));
}

test('PSI(p, p) = 0 and PSI >= 0 (fixed bins)', () => {
  const r = rng(1);
  for (let t = 0; t < 500; t++) {
    const k = int(r, 1, 40);
    const a = counts(r, k);
    const b = counts(r, k);
    a[0]! += 1;
    b[k - 1]! += 1;
    assert.equal(psiFromCounts(a, a).value, 0);
    const factor = int(r, 2, 9);
    const scaled = a.map((x) => x * factor);
    assert.ok(Math.abs(psiFromCounts(a, scaled).value) < 1e-12, 'proportional counts give PSI ~ 0');
    const v = psiFromCounts(a, b);
    assert.ok(v.value >= 0, `PSI ${v.value} < 0`);
    for (const term of v.perBin) assert.ok(term >= 0);
    // symmetric: (c - r) ln(c / r) = (r - c) ln(r / c)
    assert.ok(Math.abs(psiFromCounts(b, a).value - v.value) <= 1e-12 * Math.max(1, v.value));
  }
});

test('PSI(p, p) = 0 and PSI >= 0 (Evidently mode)', () => {
  const r = rng(2);
  for (let t = 0; t < 100; t++) {
    const a = sample(r, int(r, 1, 400), 0, 1, r() < 0.3);
    const b = sample(r, int(r, 1, 400), r(), 1 + r(), r() < 0.3);
    assert.equal(psiEvidently(a, a).value, 0);
    assert.ok(psiEvidently(a, b).value >= 0);
    const cats = ['a', 'b', 'c', 'd', 'e'];
    const ca = a.map((_, i) => cats[i % int(r, 1, 5)]!);
    assert.equal(psiEvidently(ca, ca).value, 0);
  }
});

test('KS: statistic and p-value in [0, 1], symmetric in its arguments, for every method', () => {
  const r = rng(3);
  const methods: KsMethod[] = ['auto', 'exact', 'asymp'];
  for (let t = 0; t < 300; t++) {
    const ties = r() < 0.4;
    const a = sample(r, int(r, 1, 250), 0, 1, ties);
    const b = sample(r, int(r, 1, 250), r() * 2, 0.5 + r(), ties);
    for (const method of methods) {
      const x = ks2samp(a, b, { method });
      const y = ks2samp(b, a, { method });
      assert.ok(x.statistic >= 0 && x.statistic <= 1, `statistic ${x.statistic}`);
      // scipy's asymp p-value is NaN when round(n1 n2 / (n1 + n2)) = 0, i.e. n1 = n2 = 1
      if (!(a.length === 1 && b.length === 1 && x.method === 'asymp')) {
        assert.ok(x.pvalue >= 0 && x.pvalue <= 1, `pvalue ${x.pvalue} (${a.length}/${b.length} ${method})`);
      }
      assert.equal(y.statistic, x.statistic);
      assert.ok(Object.is(y.pvalue, x.pvalue) || Math.abs(y.pvalue - x.pvalue) <= 1e-12);
    }
    assert.equal(ks2samp(a, a).statistic, 0);
    assert.equal(ks2samp(a, a).pvalue, 1);
  }
});

test('KS exact p-values are calibrated under no drift (P(p < 0.05) <= ~0.05)', () => {
  const r = rng(4);
  let rejections = 0;
  const trials = 400;
  for (let t = 0; t < trials; t++) {
    if (ks2samp(sample(r, 60), sample(r, 45)).pvalue < 0.05) rejections++;
  }
  // discrete test: conservative; binomial(400, 0.05) sd ~ 4.4, so 0.05 + 3 sd ~ 33 rejections
  assert.ok(rejections <= 33, `${rejections} / ${trials} rejections`);
  assert.ok(rejections >= 5, `${rejections} / ${trials}: suspiciously few rejections`);
});

test('ksPvalueAsymp is monotone non-increasing in the statistic', () => {
  for (const [n1, n2] of [
    [30, 40],
    [100, 150],
    [500, 700],
    [9000, 11000],
    [3, 200],
  ] as const) {
    let prev = 1;
    for (let d = 0; d <= 1.0000001; d += 0.0025) {
      const p = ksPvalueAsymp(d, n1, n2);
      assert.ok(p <= prev + 1e-12, `n=${n1}/${n2} d=${d}: ${p} > ${prev}`);
      prev = p;
    }
  }
});

function sketchOf(xs: readonly number[], k: number, seed: number): KllSketch {
  const s = emptyKll(k, seed);
  for (const x of xs) kllUpdate(s, x);
  return s;
}

test('ksFromSketches: within errorBound of the exact ks2samp statistic in >= 99% of trials', () => {
  const r = rng(5);
  const trials = 300;
  let within = 0;
  let compacted = 0;
  for (let t = 0; t < trials; t++) {
    const a = sample(r, int(r, 2000, 12000), 0, 1, r() < 0.2);
    const b = sample(r, int(r, 2000, 12000), r() * 0.3, 1 + r() * 0.3, r() < 0.2);
    const k = [100, 200][t % 2]!;
    const sa = sketchOf(a, k, t + 1);
    const sb = sketchOf(b, k, t + 1001);
    const got = ksFromSketches(sa, sb);
    const exact = ks2samp(a, b, { method: 'asymp' }).statistic;
    if (!got.exact) compacted++;
    if (Math.abs(got.statistic - exact) <= got.errorBound) within++;
  }
  assert.equal(compacted, trials, 'every trial exercised a compacted sketch');
  assert.ok(within / trials >= 0.99, `${within} / ${trials} within the bound`);
});

test('ksFromSketches: exact sketches give the sample statistic with errorBound 0', () => {
  const r = rng(6);
  for (let t = 0; t < 50; t++) {
    const a = sample(r, int(r, 1, 150), 0, 1, r() < 0.5);
    const b = sample(r, int(r, 1, 150), r(), 1, r() < 0.5);
    const got = ksFromSketches(sketchOf(a, 200, 1), sketchOf(b, 200, 2));
    assert.equal(got.exact, true);
    assert.equal(got.errorBound, 0);
    assert.ok(Math.abs(got.statistic - ks2samp(a, b, { method: 'asymp' }).statistic) <= 1e-15);
  }
  assert.throws(() => ksFromSketches(emptyKll(), sketchOf([1], 200, 1)), RangeError);
});

test('wassersteinFromSketches: exact for exact sketches, within errorBound otherwise', () => {
  const r = rng(7);
  for (let t = 0; t < 40; t++) {
    const small = t % 2 === 0;
    const a = sample(r, small ? int(r, 1, 150) : int(r, 3000, 8000), 0, 1);
    const b = sample(r, small ? int(r, 1, 150) : int(r, 3000, 8000), r(), 1 + r());
    const got = wassersteinFromSketches(sketchOf(a, 200, 3), sketchOf(b, 200, 4));
    const want = wasserstein1(a, b);
    if (small) {
      assert.equal(got.exact, true);
      assert.ok(Math.abs(got.distance - want) <= 1e-12 * Math.max(1, want));
    } else {
      assert.ok(Math.abs(got.distance - want) <= got.errorBound, `${got.distance} vs ${want} (bound ${got.errorBound})`);
    }
  }
});

test('Wasserstein: W(a, a) = 0, symmetric, shift of every point by c gives |c|', () => {
  const r = rng(8);
  for (let t = 0; t < 100; t++) {
    const a = sample(r, int(r, 1, 200));
    const b = sample(r, int(r, 1, 200), 1, 2);
    assert.equal(wasserstein1(a, a), 0);
    assert.ok(Math.abs(wasserstein1(a, b) - wasserstein1(b, a)) <= 1e-12);
    const c = r() * 4 - 2;
    assert.ok(
      Math.abs(
        wasserstein1(
          a,
          a.map((x) => x + c),
        ) - Math.abs(c),
      ) <= 1e-9,
    );
  }
});

test('Jensen-Shannon distance (base 2) in [0, 1], 0 for identical, symmetric', () => {
  const r = rng(9);
  for (let t = 0; t < 500; t++) {
    const k = int(r, 1, 30);
    const p = counts(r, k);
    const q = counts(r, k);
    p[0]! += 1;
    q[k - 1]! += 1;
    const d = jensenShannonDistance(p, q);
    assert.ok(d >= 0 && d <= 1, `JS ${d}`);
    assert.equal(jensenShannonDistance(p, p), 0);
    assert.ok(Math.abs(jensenShannonDistance(q, p) - d) <= 1e-15);
  }
  assert.ok(Math.abs(jensenShannonDistance([1, 0], [0, 1]) - 1) < 1e-15);
});

test('chi-square: statistic >= 0, p in [0, 1], unseen categories never crash', () => {
  const r = rng(10);
  for (let t = 0; t < 300; t++) {
    const ref: Record<string, number> = {};
    const cur: Record<string, number> = {};
    const k = int(r, 1, 20);
    for (let i = 0; i < k; i++) {
      if (r() < 0.8) ref[`c${i}`] = int(r, 0, 300);
      if (r() < 0.8) cur[`c${i}`] = int(r, 0, 300);
    }
    ref['always'] = 1 + int(r, 0, 10);
    cur['always'] = 1 + int(r, 0, 10);
    const x = chiSquareHomogeneity(ref, cur);
    assert.ok(x.statistic >= 0 && x.pvalue >= 0 && x.pvalue <= 1);
    assert.equal(x.dof, x.categories.length - 1);
    const same = chiSquareHomogeneity(ref, Object.fromEntries(Object.entries(ref).map(([c, v]) => [c, v * 3])));
    assert.ok(same.statistic < 1e-9 && same.pvalue > 1 - 1e-9);
  }
  assert.throws(() => chiSquareHomogeneity({ a: 1 }, {}), RangeError);
});

test('BH: adjusted >= raw, <= 1, <= Bonferroni, monotone in the raw order', () => {
  const r = rng(11);
  for (let t = 0; t < 300; t++) {
    const m = int(r, 1, 100);
    const p = Array.from({ length: m }, () => (r() < 0.1 ? Math.round(r() * 10) / 10 : r() ** 3));
    const q = benjaminiHochberg(p);
    const bon = bonferroni(p);
    for (let i = 0; i < m; i++) {
      assert.ok(q[i]! >= p[i]! && q[i]! <= 1);
      assert.ok(q[i]! <= bon[i]! + 1e-15);
      assert.ok(bon[i]! >= p[i]! && bon[i]! <= 1);
      for (let j = 0; j < m; j++) if (p[i]! <= p[j]!) assert.ok(q[i]! <= q[j]!, 'monotone');
    }
  }
  assert.deepEqual(benjaminiHochberg([]), []);
  assert.throws(() => bonferroni([0.5, 1.2]), RangeError);
});

test('special functions: P + Q = 1, lnGamma(n) = ln((n-1)!)', () => {
  let f = 0;
  for (let n = 1; n < 60; n++) {
    assert.ok(Math.abs(lnGamma(n) - f) <= 1e-13 * Math.max(1, f), `lnGamma(${n})`);
    f += Math.log(n);
  }
  assert.ok(Math.abs(lnGamma(0.5) - Math.log(Math.sqrt(Math.PI))) < 1e-15);
  const r = rng(12);
  for (let t = 0; t < 500; t++) {
    const a = 0.5 * int(r, 1, 400);
    const x = r() * 3 * a;
    assert.ok(Math.abs(gammaP(a, x) + gammaQ(a, x) - 1) < 1e-13);
  }
});

test('verdicts: minimum sample gate, directions, drift share', () => {
  const small = featureVerdict({ stat: 'psi', value: 0.9, nReference: 5000, nCurrent: 999 });
  assert.equal(small.status, 'insufficient_data');
  assert.equal(small.drifted, null);
  assert.equal(featureVerdict({ stat: 'psi', value: 0.09, nReference: 5000, nCurrent: 5000 }).status, 'ok');
  assert.equal(featureVerdict({ stat: 'psi', value: 0.1, nReference: 5000, nCurrent: 5000 }).status, 'warn');
  const fail = featureVerdict({ stat: 'psi', value: 0.3, nReference: 5000, nCurrent: 5000 });
  assert.equal(fail.status, 'fail');
  assert.equal(fail.drifted, true);
  assert.equal(featureVerdict({ stat: 'ks', value: 0.049, nReference: 100, nCurrent: 100 }).drifted, true);
  assert.equal(featureVerdict({ stat: 'ks', value: 0.05, nReference: 100, nCurrent: 100 }).drifted, false);
  assert.equal(featureVerdict({ stat: 'ks', value: 0.01, nReference: 99, nCurrent: 100 }).status, 'insufficient_data');
  assert.equal(featureVerdict({ stat: 'ks', value: NaN, nReference: 500, nCurrent: 500 }).status, 'insufficient_data');
  assert.equal(featureVerdict({ stat: 'chi2', value: 0.2, nReference: 10, nCurrent: 10, minSampleSize: 5 }).status, 'ok');
  assert.throws(() => featureVerdict({ stat: 'psi', value: 0.2, nReference: 10, nCurrent: 10, thresholds: { warn: 0.3, fail: 0.1 } }), RangeError);
  const share = driftShare([fail, small, featureVerdict({ stat: 'ks', value: 0.5, nReference: 100, nCurrent: 100 })]);
  assert.deepEqual(share, { share: 0.5, drifted: 1, evaluated: 2, insufficient: 1 });
  assert.equal(datasetDrifted(share), true);
  assert.equal(datasetDrifted(share, 0.6), false);
  assert.equal(datasetDrifted(driftShare([small])), false);
});
