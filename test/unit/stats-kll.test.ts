import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyKll, kllCdf, kllIsExact, kllMerge, kllQuantile, kllRankErrorBound, kllRetained, kllSortedView, kllUpdate } from '../../src/stats/kll-sketch.js';
import type { KllSketch } from '../../src/stats/types.js';
import { mulberry32, normal } from '../prng.js';

type Gen = (r: () => number, n: number) => Float64Array;
const DISTRIBUTIONS: Record<string, Gen> = {
  uniform: (r, n) => Float64Array.from({ length: n }, () => r()),
  normal: (r, n) => Float64Array.from({ length: n }, () => normal(r)),
  lognormal: (r, n) => Float64Array.from({ length: n }, () => Math.exp(2.5 * normal(r))),
  ties0to5: (r, n) => Float64Array.from({ length: n }, () => Math.floor(r() * 6)),
  sorted: (r, n) => Float64Array.from({ length: n }, () => normal(r)).sort(),
  reverse: (r, n) =>
    Float64Array.from({ length: n }, () => normal(r))
      .sort()
      .reverse(),
};

/** max over every x of |estimated CDF(x) - true CDF(x)|: checked at every distinct data value
 * (the true CDF only jumps there; the estimate only jumps at retained items, which are data). */
function maxCdfError(s: KllSketch, data: Float64Array): number {
  const sorted = Float64Array.from(data).sort();
  const n = sorted.length;
  const { values, cumWeights } = kllSortedView(s);
  let err = 0;
  let j = 0;
  for (let i = 0; i < n; i++) {
    if (i + 1 < n && sorted[i + 1] === sorted[i]) continue;
    const x = sorted[i]!;
    while (j < values.length && values[j]! <= x) j++;
    const est = j === 0 ? 0 : cumWeights[j - 1]! / s.n;
    err = Math.max(err, Math.abs(est - (i + 1) / n));
  }
  return err;
}

function sketchOf(data: Float64Array, k: number, seed: number): KllSketch {
  const s = emptyKll(k, seed);
  for (const x of data) kllUpdate(s, x);
  return s;
}

/** Random split into 1..8 shards, sketched separately, merged in a random tree. */
function mergedSketchOf(data: Float64Array, k: number, r: () => number): KllSketch {
  const parts = Array.from({ length: 1 + Math.floor(r() * 8) }, (_, i) => emptyKll(k, 1000 + i));
  for (const x of data) kllUpdate(parts[Math.floor(r() * parts.length)]!, x);
  while (parts.length > 1) {
    const a = parts.splice(Math.floor(r() * parts.length), 1)[0]!;
    const b = parts.splice(Math.floor(r() * parts.length), 1)[0]!;
    parts.push(kllMerge(a, b));
  }
  return parts[0]!;
}

test("error bound constants are DataSketches' (k=200: 1.33% CDF, 1.65% PMF)", () => {
  assert.ok(Math.abs(kllRankErrorBound(200) - 2.296 / 200 ** 0.9723) < 1e-15);
  assert.ok(Math.abs(kllRankErrorBound(200, true) - 2.446 / 200 ** 0.9433) < 1e-15);
  assert.ok(kllRankErrorBound(200) > 0.013 && kllRankErrorBound(200) < 0.0135);
});

test('empty and exact behaviour: CDF and quantiles exact until the first compaction', () => {
  const s = emptyKll(200);
  assert.equal(kllQuantile(s, 0.5), null);
  assert.equal(kllCdf(s, 0), 0);
  assert.ok(kllIsExact(s));
  const r = mulberry32(1);
  const data = Float64Array.from({ length: 199 }, () => Math.round(normal(r) * 10));
  for (const x of data) kllUpdate(s, x);
  assert.ok(kllIsExact(s), 'one level holds up to k - 1 items before the first compaction');
  const full = sketchOf(data, 200, 1);
  kllUpdate(full, 0);
  assert.ok(!kllIsExact(full), 'the k-th item fills the sketch and compacts level 0');
  assert.equal(maxCdfError(s, data), 0);
  const sorted = Float64Array.from(data).sort();
  for (const q of [0, 0.1, 0.25, 0.5, 0.9, 1]) {
    const want = q === 0 ? sorted[0]! : sorted[Math.ceil(q * sorted.length) - 1]!;
    assert.equal(kllQuantile(s, q), want, `q=${q}`);
  }
  assert.throws(() => kllQuantile(s, 1.5), /\[0, 1\]/);
  assert.throws(() => emptyKll(4), /k must be/);
});

test('NaN and +-Infinity are ignored; min/max exact; JSON round trip keeps the sketch', () => {
  const s = emptyKll(50, 3);
  const r = mulberry32(2);
  let finite = 0;
  for (let i = 0; i < 10_000; i++) {
    const x = i % 97 === 0 ? NaN : i % 101 === 0 ? Infinity : normal(r);
    if (Number.isFinite(x)) finite++;
    kllUpdate(s, x);
  }
  kllUpdate(s, -Infinity);
  assert.ok(!kllIsExact(s));
  const back = JSON.parse(JSON.stringify(s)) as KllSketch;
  assert.deepEqual(back, s);
  const n = s.n;
  assert.equal(n, finite);
  const view = kllSortedView(s);
  assert.equal(view.cumWeights.at(-1), n, 'weights sum to n exactly');
  assert.ok(s.min! <= view.values[0]! && s.max! >= view.values.at(-1)!);
  assert.equal(kllQuantile(s, 0), s.min);
  assert.equal(kllQuantile(s, 1), s.max);
});

test('memory is bounded: n = 1e6 at k = 200 keeps < 3000 items (O(k + log n))', () => {
  const r = mulberry32(7);
  const s = emptyKll(200, 9);
  let maxRetained = 0;
  for (let i = 0; i < 1_000_000; i++) {
    kllUpdate(s, r());
    if ((i & 1023) === 0) maxRetained = Math.max(maxRetained, kllRetained(s));
  }
  assert.ok(kllRetained(s) < 3000 && maxRetained < 3000, `retained ${kllRetained(s)}, max ${maxRetained}`);
  assert.ok(kllRetained(s) < 800, `retained ${kllRetained(s)}: expected ~k/(1-2/3) + 8 log2(n/k)`);
});

test('merge is commutative (identical sketches), leaves inputs untouched, uses min k', () => {
  const r = mulberry32(5);
  const a = sketchOf(DISTRIBUTIONS.normal!(r, 5000), 200, 1);
  const b = sketchOf(DISTRIBUTIONS.uniform!(r, 3000), 100, 2);
  const ca = structuredClone(a);
  const cb = structuredClone(b);
  const ab = kllMerge(a, b);
  assert.deepEqual(ab, kllMerge(b, a));
  assert.deepEqual(a, ca);
  assert.deepEqual(b, cb);
  assert.equal(ab.k, 100);
  assert.equal(ab.n, 8000);
  assert.equal(ab.min, Math.min(a.min!, b.min!));
  assert.equal(ab.max, Math.max(a.max!, b.max!));
  const e = emptyKll(200);
  assert.equal(kllMerge(e, a).n, a.n);
  // merging two exact sketches that still fit stays exact
  const x = sketchOf(Float64Array.from([3, 1, 2]), 200, 1);
  const y = sketchOf(Float64Array.from([2, 5]), 200, 1);
  const xy = kllMerge(x, y);
  assert.ok(kllIsExact(xy));
  assert.equal(kllCdf(xy, 2), 3 / 5);
});

test('KLL rank error bound holds in >= 99% of trials: 6 distributions x n in {10, 1e3, 1e5}, single stream and merge trees', (t) => {
  const k = 200;
  const bound = kllRankErrorBound(k);
  const report: string[] = [];
  for (const [name, gen] of Object.entries(DISTRIBUTIONS)) {
    for (const n of [10, 1000, 100_000]) {
      // 100 trials per configuration; n = 1e5 costs most, so fewer trials there keeps the suite
      // quick while still asserting "at most 1 failure in 100" on the smaller configs.
      const trials = n === 100_000 ? 25 : 100;
      for (const mode of ['single', 'merged'] as const) {
        let ok = 0;
        let worst = 0;
        for (let t = 0; t < trials; t++) {
          const r = mulberry32(1 + t * 7919 + n);
          const data = gen(r, n);
          const s = mode === 'single' ? sketchOf(data, k, t + 1) : mergedSketchOf(data, k, r);
          const err = maxCdfError(s, data);
          if (kllIsExact(s)) assert.equal(err, 0, 'exact sketches have no error');
          worst = Math.max(worst, err);
          if (err <= bound) ok++;
        }
        report.push(`${name} n=${n} ${mode}: ${ok}/${trials}, worst ${worst.toFixed(4)}`);
        assert.ok(ok >= Math.ceil(0.99 * trials), `${name} n=${n} ${mode}: only ${ok}/${trials} within ${bound} (worst ${worst})`);
      }
    }
  }
  t.diagnostic(report.join('; '));
});
