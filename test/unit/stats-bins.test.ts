import { test } from 'node:test';
import assert from 'node:assert/strict';
import { binCount, binEdgesFromValues, binIndex, binLayoutId, emptyBinned, mergeBinned, observeBin } from '../../src/stats/bins.js';
import { emptyCategories, mergeCategories, observeCategory, categoriesTotal } from '../../src/stats/categories.js';
import type { CategoryCounts } from '../../src/stats/types.js';
import { mulberry32 } from '../prng.js';

function strictlyIncreasing(xs: readonly number[]): boolean {
  for (let i = 1; i < xs.length; i++) if (!(xs[i]! > xs[i - 1]!)) return false;
  return true;
}

test('edges are numpy-style (linear) deciles of 0..100', () => {
  const values = Array.from({ length: 101 }, (_, i) => i);
  const e = binEdgesFromValues(values, 10)!;
  assert.deepEqual(e, { lo: 0, hi: 100, edges: [10, 20, 30, 40, 50, 60, 70, 80, 90] });
  assert.equal(binCount(e), 12);
});

test('edges are numpy.quantile bit for bit, position (n - 1) * q included (numpy 1.24.2 values)', () => {
  // np.quantile(np.arange(4.), [i / 10 for i in range(1, 10)]): not the "pretty" 0.3, 0.6, ...,
  // because numpy takes the position as (n - 1) * (i / 10), in floating point.
  assert.deepEqual(
    binEdgesFromValues([0, 1, 2, 3], 10)!.edges,
    [0.30000000000000004, 0.6000000000000001, 0.8999999999999999, 1.2000000000000002, 1.5, 1.7999999999999998, 2.0999999999999996, 2.4000000000000004, 2.7],
  );
  assert.deepEqual(binEdgesFromValues([3, 0, 2, 1], 5)!.edges, [0.6000000000000001, 1.2000000000000002, 1.7999999999999998, 2.4000000000000004]);
});

test('null without finite values; NaN/Infinity are ignored', () => {
  assert.equal(binEdgesFromValues([], 10), null);
  assert.equal(binEdgesFromValues([NaN, Infinity, -Infinity], 10), null);
  const e = binEdgesFromValues([NaN, 1, 2, 3, Infinity], 2)!;
  assert.equal(e.lo, 1);
  assert.equal(e.hi, 3);
  assert.deepEqual(e.edges, [2]);
});

test('heavy ties: edges stay strictly increasing and above lo', () => {
  const r = mulberry32(3);
  for (let trial = 0; trial < 100; trial++) {
    const k = 1 + Math.floor(r() * 6);
    const values = Array.from({ length: 1 + Math.floor(r() * 300) }, () => (r() < 0.7 ? 0 : Math.floor(r() * k)));
    const e = binEdgesFromValues(values, 1 + Math.floor(r() * 20))!;
    assert.ok(strictlyIncreasing(e.edges), JSON.stringify(e));
    assert.ok(
      e.edges.every((c) => c > e.lo && c <= e.hi),
      JSON.stringify(e),
    );
  }
  // all identical: a single bin [lo, hi]
  assert.deepEqual(binEdgesFromValues([5, 5, 5, 5], 10), { lo: 5, hi: 5, edges: [] });
  // precipitation-like: mostly zero
  const e = binEdgesFromValues([...Array(80).fill(0), ...Array.from({ length: 20 }, (_, i) => i + 1)], 10)!;
  assert.ok(strictlyIncreasing(e.edges));
  assert.equal(binIndex(e, 0), 1, 'the zeros share the first value bin');
});

test('binIndex at every boundary', () => {
  const e = { lo: 0, hi: 10, edges: [2, 5, 7] };
  // [0] x<0 | [1] 0<=x<2 | [2] 2<=x<5 | [3] 5<=x<7 | [4] 7<=x<=10 | [5] x>10
  assert.equal(binIndex(e, -1e-9), 0);
  assert.equal(binIndex(e, -Infinity), 0);
  assert.equal(binIndex(e, 0), 1);
  assert.equal(binIndex(e, 1.999), 1);
  assert.equal(binIndex(e, 2), 2);
  assert.equal(binIndex(e, 4.9), 2);
  assert.equal(binIndex(e, 5), 3);
  assert.equal(binIndex(e, 7), 4);
  assert.equal(binIndex(e, 10), 4);
  assert.equal(binIndex(e, 10.000001), 5);
  assert.equal(binIndex(e, Infinity), 5);
  // edge equal to hi: the max gets its own bin
  const t = { lo: 0, hi: 3, edges: [1, 3] };
  assert.equal(binIndex(t, 3), 3);
  assert.equal(binIndex(t, 2.99), 2);
  assert.equal(binIndex(t, 3.01), 4);
  // no edges
  const one = { lo: 1, hi: 1, edges: [] };
  assert.deepEqual(
    [0.5, 1, 1.5].map((x) => binIndex(one, x)),
    [0, 1, 2],
  );
});

test('binIndex agrees with a linear scan on random layouts', () => {
  const r = mulberry32(8);
  for (let trial = 0; trial < 200; trial++) {
    const values = Array.from({ length: 50 }, () => Math.round(r() * 20));
    const e = binEdgesFromValues(values, 1 + Math.floor(r() * 12))!;
    for (let i = 0; i < 50; i++) {
      const x = Math.round((r() * 26 - 3) * 2) / 2;
      let want: number;
      if (x < e.lo) want = 0;
      else if (x > e.hi) want = e.edges.length + 2;
      else want = 1 + e.edges.filter((c) => c <= x).length;
      assert.equal(binIndex(e, x), want, `${x} in ${JSON.stringify(e)}`);
    }
  }
});

test('layout id is stable, short, and differs for different edges; merge refuses other layouts', () => {
  const a = { lo: 0, hi: 10, edges: [2, 5] };
  assert.equal(binLayoutId(a), binLayoutId({ lo: 0, hi: 10, edges: [2, 5] }));
  assert.match(binLayoutId(a), /^[0-9a-f]{8}$/);
  assert.notEqual(binLayoutId(a), binLayoutId({ lo: 0, hi: 10, edges: [2, 6] }));
  const ba = emptyBinned(a);
  for (const x of [-1, 0, 3, 5, 11]) observeBin(ba, a, x);
  assert.deepEqual(ba.counts, [1, 1, 1, 1, 1]);
  const sum = mergeBinned(ba, ba);
  assert.deepEqual(sum.counts, [2, 2, 2, 2, 2]);
  assert.deepEqual(ba.counts, [1, 1, 1, 1, 1], 'input untouched');
  assert.throws(() => mergeBinned(ba, emptyBinned({ lo: 0, hi: 10, edges: [3] })), /different layouts/);
});

test('categories: reference mode counts keys in the reference, the rest as unseen', () => {
  const c = emptyCategories(10);
  const ref = new Set(['a', 'b']);
  for (const k of ['a', 'b', 'a', 'z', 'constructor', '__proto__']) observeCategory(c, k, ref);
  assert.deepEqual(c.counts, { a: 2, b: 1 });
  assert.equal(c.unseen, 3);
  assert.equal(c.other, 0);
});

test('categories: without a reference, keeps maxDistinct keys then counts other; odd keys stay own keys', () => {
  const c = emptyCategories(3);
  for (const k of ['toString', 'x', '__proto__', 'x', 'y', 'toString', '__proto__']) observeCategory(c, k, null);
  assert.equal(Object.getPrototypeOf(c.counts), Object.prototype, 'prototype not replaced');
  assert.deepEqual(Object.keys(c.counts).sort(), ['__proto__', 'toString', 'x']);
  assert.equal(c.counts['toString'], 2);
  assert.equal(c.counts['__proto__'], 2);
  assert.equal(c.other, 1);
  assert.equal(categoriesTotal(c), 7);
  // read back from JSON (no cached key count) behaves the same
  const back = JSON.parse(JSON.stringify(c)) as CategoryCounts;
  observeCategory(back, 'new', null);
  assert.equal(back.other, 2);
  observeCategory(back, 'x', null);
  assert.equal(back.counts['x'], 3);
});

test('categories merge: totals always exact, keys exact under the bound, top-k by count beyond it', () => {
  const r = mulberry32(21);
  for (let trial = 0; trial < 200; trial++) {
    const bound = 1 + Math.floor(r() * 8);
    const distinct = 1 + Math.floor(r() * 12);
    const values = Array.from({ length: Math.floor(r() * 200) }, () => `k${Math.floor(r() * r() * distinct)}`);
    const all = emptyCategories(bound);
    for (const v of values) observeCategory(all, v, null);
    const shards = Array.from({ length: 1 + Math.floor(r() * 5) }, () => emptyCategories(bound));
    for (const v of values) observeCategory(shards[Math.floor(r() * shards.length)]!, v, null);
    const merged = shards.reduce((a, b) => mergeCategories(a, b));
    assert.equal(categoriesTotal(merged), values.length);
    assert.ok(Object.keys(merged.counts).length <= bound);
    if (new Set(values).size <= bound) {
      assert.deepEqual(merged, all, 'exact under the bound');
    }
    const ab = mergeCategories(shards[0]!, merged);
    const ba = mergeCategories(merged, shards[0]!);
    assert.deepEqual(ab, ba, 'commutative');
  }
  // ties are broken by key, so the survivor set does not depend on order
  const a = emptyCategories(2);
  const b = emptyCategories(2);
  for (const k of ['b', 'c']) observeCategory(a, k, null);
  for (const k of ['a', 'b']) observeCategory(b, k, null);
  assert.deepEqual(mergeCategories(a, b), { counts: { b: 2, a: 1 }, unseen: 0, other: 1, maxDistinct: 2 });
  assert.deepEqual(mergeCategories(b, a), mergeCategories(a, b));
});
