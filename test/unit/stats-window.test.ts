import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyWindow, mergeWindows, observeRequest, observeRows, rollupWindows, windowStartMs } from '../../src/stats/window-profile.js';
import type { ProfileOptions } from '../../src/stats/window-profile.js';
import type { Cell } from '../../src/stats/feature-profile.js';
import { buildReference } from '../../src/stats/reference.js';
import { latencyBounds, latencyCount } from '../../src/stats/latency-histogram.js';
import { kllCdf, kllIsExact, kllRankErrorBound, kllSortedView } from '../../src/stats/kll-sketch.js';
import { categoriesTotal } from '../../src/stats/categories.js';
import type { FeatureProfile, KllSketch, ReferenceProfile, WindowKey, WindowProfile } from '../../src/stats/types.js';
import { mulberry32, normal } from '../prng.js';

const KEY: WindowKey = { model: 'm', version: '3', startMs: 1_700_000_040_000, windowSeconds: 60 };
const BOUNDS = latencyBounds([100, 250]);
const CATS = ['a', 'b', 'c', 'd', 'e', 'f'];

interface Request {
  status: number;
  ms: number;
  features: Record<string, Cell>[];
  predictions: Record<string, Cell>[];
}

function randomCell(r: () => number, col: number): Cell {
  const u = r();
  if (u < 0.05) return null;
  if (u < 0.07) return NaN;
  if (col === 0 && u < 0.08) return r() < 0.5 ? Infinity : -Infinity;
  if (col === 3) return CATS[Math.floor(r() * r() * CATS.length)]!;
  if (col === 4) return r() < 0.3;
  if (col === 5 && u < 0.3) return 'mixed'; // a numeric column with some strings
  return col === 2 ? Math.floor(r() * 5) : normal(r) * (col + 1) + col;
}

function randomTraffic(r: () => number, nRequests: number): Request[] {
  const out: Request[] = [];
  for (let i = 0; i < nRequests; i++) {
    const rows = Math.floor(r() * 6);
    const features = Array.from({ length: rows }, () => {
      const row: Record<string, Cell> = {};
      for (let c = 0; c < 6; c++) if (r() > 0.03) row[`x${c}`] = randomCell(r, c);
      return row;
    });
    const predictions = features.map(() => ({ score: r(), label: r() < 0.5 ? 'yes' : 'no' }));
    out.push({ status: r() < 0.9 ? 200 : r() < 0.5 ? 400 : 503, ms: Math.exp(r() * 7), features, predictions });
  }
  return out;
}

function profile(reqs: readonly Request[], ref: ReferenceProfile | null, opts: ProfileOptions, bounds = BOUNDS): WindowProfile {
  const w = emptyWindow(KEY, bounds);
  for (const q of reqs) {
    observeRequest(w, q.status, q.ms);
    observeRows(w, q.features, q.predictions, ref, opts);
  }
  return w;
}

function relClose(a: number, b: number, scale: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b), scale);
}

/** sup over all x of |F_a(x) - F_b(x)| (both step functions jump only at their retained items). */
function supCdfDiff(a: KllSketch, b: KllSketch): number {
  let d = 0;
  for (const s of [a, b]) for (const x of kllSortedView(s).values) d = Math.max(d, Math.abs(kllCdf(a, x) - kllCdf(b, x)));
  return d;
}

/**
 * Equivalence of two windows under the documented merge guarantees: exact for counts, bins,
 * categories, requests, latency counts, rows; moments to 1e-9 relative; sketches n/min/max exact
 * and CDFs within the sketch bound of each other (2x: each is within the bound of the truth).
 * Returns the number of sketch comparisons and how many exceeded the bound (callers assert a rate).
 */
function assertEquivalent(a: WindowProfile, b: WindowProfile, what: string): { checks: number; over: number } {
  const { features: fa, predictions: pa, latency: la, ...restA } = a;
  const { features: fb, predictions: pb, latency: lb, ...restB } = b;
  assert.deepEqual(restA, restB, `${what}: key, requests, rows, droppedFeatures`);
  assert.deepEqual(la.counts, lb.counts, `${what}: latency counts`);
  assert.deepEqual(la.boundsMs, lb.boundsMs);
  assert.ok(relClose(la.sumMs, lb.sumMs, 0), `${what}: latency sum`);
  let checks = 0;
  let over = 0;
  for (const [ra, rb] of [
    [fa, fb],
    [pa, pb],
  ] as const) {
    assert.deepEqual(Object.keys(ra).sort(), Object.keys(rb).sort(), `${what}: columns`);
    for (const name of Object.keys(ra)) {
      const x: FeatureProfile = ra[name]!;
      const y: FeatureProfile = rb[name]!;
      const at = `${what}: ${name}`;
      assert.equal(x.count, y.count, `${at} count`);
      assert.equal(x.missing, y.missing, `${at} missing`);
      assert.deepEqual(x.bins, y.bins, `${at} bins`);
      assert.deepEqual(x.categories, y.categories, `${at} categories`);
      assert.equal(x.moments.n, y.moments.n);
      assert.equal(x.moments.min, y.moments.min);
      assert.equal(x.moments.max, y.moments.max);
      const scale = x.moments.n * x.moments.mean * x.moments.mean;
      assert.ok(relClose(x.moments.mean, y.moments.mean, 0), `${at} mean ${x.moments.mean} vs ${y.moments.mean}`);
      assert.ok(relClose(x.moments.m2, y.moments.m2, scale), `${at} m2 ${x.moments.m2} vs ${y.moments.m2}`);
      assert.equal(x.sketch.n, y.sketch.n, `${at} sketch n`);
      assert.equal(x.sketch.min, y.sketch.min);
      assert.equal(x.sketch.max, y.sketch.max);
      const d = supCdfDiff(x.sketch, y.sketch);
      if (kllIsExact(x.sketch) && kllIsExact(y.sketch)) assert.equal(d, 0, `${at} exact sketches agree`);
      checks++;
      if (d > 2 * kllRankErrorBound(Math.min(x.sketch.k, y.sketch.k))) over++;
    }
  }
  return { checks, over };
}

function randomCase(seed: number): { r: () => number; ref: ReferenceProfile | null; opts: ProfileOptions; reqs: Request[] } {
  const r = mulberry32(seed);
  const sketchK = [8, 16, 200][Math.floor(r() * 3)]!;
  const opts: ProfileOptions = { sketchK, maxCategories: 20, maxFeatures: 64 };
  const reqs = randomTraffic(r, Math.floor(r() * 120));
  let ref: ReferenceProfile | null = null;
  if (r() < 0.6) {
    const train = randomTraffic(r, 60);
    ref = buildReference({
      model: 'm',
      version: '3',
      source: 'test',
      createdAtMs: 0,
      bins: 1 + Math.floor(r() * 12),
      sketchK,
      maxCategories: 20,
      rows: train
        .flatMap((q) => q.features)
        .map((row) => {
          // make the reference's x5 purely numeric and x3 categorical
          const { x5, ...rest } = row;
          return { ...rest, x5: typeof x5 === 'number' ? x5 : 0 };
        }),
      predictions: train.flatMap((q) => q.predictions),
    });
  }
  return { r, ref, opts, reqs };
}

function split(r: () => number, reqs: readonly Request[]): Request[][] {
  const shards: Request[][] = Array.from({ length: 1 + Math.floor(r() * 8) }, () => []);
  for (const q of reqs) shards[Math.floor(r() * shards.length)]!.push(q);
  return shards;
}

function randomTree(r: () => number, parts: WindowProfile[]): WindowProfile {
  const pool = [...parts];
  while (pool.length > 1) {
    const a = pool.splice(Math.floor(r() * pool.length), 1)[0]!;
    const b = pool.splice(Math.floor(r() * pool.length), 1)[0]!;
    pool.push(r() < 0.5 ? mergeWindows(a, b) : mergeWindows(b, a));
  }
  return pool[0]!;
}

test('windowStartMs aligns to the epoch', () => {
  assert.equal(windowStartMs(1_700_000_059_999, 60), 1_700_000_040_000);
  assert.equal(windowStartMs(1_700_000_040_000, 60), 1_700_000_040_000);
  assert.equal(windowStartMs(3_600_000 * 5 + 1, 3600), 3_600_000 * 5);
  assert.throws(() => windowStartMs(0, 0), /windowSeconds/);
});

test('observeRequest and observeRows: status classes, rows, missing/numeric/categorical split', () => {
  const w = emptyWindow(KEY, BOUNDS);
  observeRequest(w, 200, 12);
  observeRequest(w, 204, 300);
  observeRequest(w, 503, 1);
  assert.deepEqual(w.requests, { '2xx': 2, '5xx': 1 });
  assert.equal(latencyCount(w.latency), 3);
  const opts = { sketchK: 200, maxCategories: 10, maxFeatures: 10 };
  observeRows(
    w,
    [
      { a: 1, b: 'x', c: true },
      { a: null, b: 'y', c: false },
      { a: NaN, b: 2 },
    ],
    [{ p: 0.5 }],
    null,
    opts,
  );
  assert.equal(w.rows, 3);
  const a = w.features['a']!;
  assert.equal(a.count, 3);
  assert.equal(a.missing, 2);
  assert.equal(a.moments.n, 1);
  const b = w.features['b']!;
  assert.deepEqual(b.categories.counts, { x: 1, y: 1 });
  assert.equal(b.moments.n, 1);
  assert.deepEqual(w.features['c']!.categories.counts, { true: 1, false: 1 });
  assert.equal(w.predictions['p']!.moments.mean, 0.5);
  assert.equal(w.features['a']!.bins, null, 'no reference, no bins');
});

test('odd column names stay ordinary keys', () => {
  const w = emptyWindow(KEY, BOUNDS);
  const opts = { sketchK: 200, maxCategories: 10, maxFeatures: 10 };
  const row = JSON.parse('{"__proto__": 1, "constructor": 2, "toString": "s"}') as Record<string, Cell>;
  observeRows(w, [row, row], [], null, opts);
  assert.equal(Object.getPrototypeOf(w.features), Object.prototype);
  assert.deepEqual(Object.keys(w.features).sort(), ['__proto__', 'constructor', 'toString']);
  assert.equal(w.features['constructor']!.moments.n, 2);
  assert.equal(JSON.parse(JSON.stringify(w)).features.__proto__.count, 2);
});

test('maxFeatures bounds the profiled columns; droppedFeatures counts dropped values', () => {
  const w = emptyWindow(KEY, BOUNDS);
  const opts = { sketchK: 200, maxCategories: 10, maxFeatures: 3 };
  observeRows(
    w,
    [
      { a: 1, b: 2, c: 3, d: 4 },
      { a: 1, e: 5 },
    ],
    [{ p: 1 }],
    null,
    opts,
  );
  assert.deepEqual(Object.keys(w.features), ['a', 'b', 'c']);
  assert.deepEqual(Object.keys(w.predictions), []);
  assert.equal(w.droppedFeatures, 3, 'd, e and p: one per dropped value');
});

test('infinities count in bins (under/overflow) but not in moments or sketch', () => {
  const ref = buildReference({
    model: 'm',
    version: '3',
    source: 't',
    createdAtMs: 0,
    bins: 4,
    sketchK: 200,
    maxCategories: 10,
    rows: [1, 2, 3, 4, 5].map((x) => ({ x })),
  });
  const w = emptyWindow(KEY, BOUNDS);
  observeRows(w, [{ x: Infinity }, { x: -Infinity }, { x: 3 }], [], ref, { sketchK: 200, maxCategories: 10, maxFeatures: 10 });
  const f = w.features['x']!;
  assert.equal(f.count, 3);
  assert.equal(f.moments.n, 1);
  assert.equal(f.sketch.n, 1);
  assert.equal(f.bins!.counts[0], 1);
  assert.equal(f.bins!.counts.at(-1), 1);
  assert.equal(
    f.bins!.counts.reduce((s, c) => s + c, 0),
    3,
  );
});

test('PROPERTY: merging per-shard profiles (1..8 shards, random merge tree) equals profiling all data', () => {
  let checks = 0;
  let over = 0;
  for (let c = 0; c < 200; c++) {
    const { r, ref, opts, reqs } = randomCase(1000 + c);
    const all = profile(reqs, ref, opts);
    const merged = randomTree(
      r,
      split(r, reqs).map((s) => profile(s, ref, opts)),
    );
    const res = assertEquivalent(merged, all, `case ${c}`);
    checks += res.checks;
    over += res.over;
    // invariants of every feature profile
    for (const f of [...Object.values(all.features), ...Object.values(all.predictions)]) {
      assert.ok(f.missing + f.moments.n + categoriesTotal(f.categories) <= f.count);
      if (f.bins)
        assert.equal(
          f.bins.counts.reduce((s, x) => s + x, 0),
          f.count - f.missing - categoriesTotal(f.categories),
        );
    }
  }
  assert.ok(over <= Math.floor(0.01 * checks), `${over}/${checks} sketch comparisons outside the bound`);
});

test('PROPERTY: merge is commutative (exactly), associative (within guarantees), emptyWindow is an identity', () => {
  let checks = 0;
  let over = 0;
  for (let c = 0; c < 200; c++) {
    const { r, ref, opts, reqs } = randomCase(5000 + c);
    const [s1 = [], s2 = [], s3 = []] = [[], [], []].map(() => [] as Request[]);
    for (const q of reqs) [s1, s2, s3][Math.floor(r() * 3)]!.push(q);
    const a = profile(s1, ref, opts);
    const b = profile(s2, ref, opts);
    const d = profile(s3, ref, opts);
    const ca = structuredClone(a);
    assert.deepEqual(mergeWindows(a, b), mergeWindows(b, a), `case ${c}: commutative`);
    const res = assertEquivalent(mergeWindows(mergeWindows(a, b), d), mergeWindows(a, mergeWindows(b, d)), `case ${c}: associative`);
    checks += res.checks;
    over += res.over;
    const e = emptyWindow(KEY, BOUNDS);
    assert.deepEqual(mergeWindows(e, a), a, `case ${c}: left identity`);
    assert.deepEqual(mergeWindows(a, e), a, `case ${c}: right identity`);
    assert.deepEqual(a, ca, 'inputs untouched');
    // the merge result is independent of its inputs (no aliasing): observing into it leaves a alone
    const m = mergeWindows(e, a);
    observeRows(m, [{ x0: 1, x3: 'a' }], [], ref, opts);
    assert.deepEqual(a, ca, 'no aliasing');
  }
  assert.ok(over <= Math.floor(0.01 * checks), `${over}/${checks}`);
});

test('mergeWindows: model versions must match; keys cover both spans; rollupWindows sets the key', () => {
  const a = emptyWindow(KEY, BOUNDS);
  assert.throws(() => mergeWindows(a, emptyWindow({ ...KEY, version: '4' }, BOUNDS)), /different model versions/);
  const b = emptyWindow({ ...KEY, startMs: KEY.startMs + 60_000 }, BOUNDS);
  const m = mergeWindows(b, a);
  assert.equal(m.startMs, KEY.startMs);
  assert.equal(m.windowSeconds, 120);
  const hour = windowStartMs(KEY.startMs, 3600);
  const rolled = rollupWindows([a, b], hour, 3600);
  assert.equal(rolled.startMs, hour);
  assert.equal(rolled.windowSeconds, 3600);
  assert.throws(() => rollupWindows([], 0, 60), /at least one/);
});

test('windows with different latency bounds merge onto the shared bounds', () => {
  const a = emptyWindow(KEY, latencyBounds([100]));
  const b = emptyWindow(KEY, latencyBounds([100, 42]));
  for (const ms of [1, 50, 99, 101, 500]) {
    observeRequest(a, 200, ms);
    observeRequest(b, 200, ms);
  }
  const m = mergeWindows(a, b);
  assert.equal(latencyCount(m.latency), 10);
  assert.ok(m.latency.boundsMs.includes(100) && !m.latency.boundsMs.includes(42));
});

test('memory does not grow with traffic: 1e5 vs 1e6 rows of 10 features', () => {
  const r = mulberry32(77);
  const opts = { sketchK: 200, maxCategories: 100, maxFeatures: 64 };
  const batch = Array.from({ length: 1000 }, () => {
    const row: Record<string, Cell> = {};
    for (let c = 0; c < 10; c++) row[`f${c}`] = normal(r) * (c + 1);
    return row;
  });
  const ref = buildReference({ model: 'm', version: '3', source: 't', createdAtMs: 0, bins: 10, sketchK: 200, maxCategories: 100, rows: batch });
  const w = emptyWindow(KEY, BOUNDS);
  let size1e5 = 0;
  for (let i = 1; i <= 1000; i++) {
    // fresh values each batch so the sketch keeps compacting
    for (const row of batch) for (let c = 0; c < 10; c++) row[`f${c}`] = normal(r) * (c + 1);
    observeRows(w, batch, [], ref, opts);
    if (i === 100) size1e5 = JSON.stringify(w).length;
  }
  const size1e6 = JSON.stringify(w).length;
  assert.equal(w.rows, 1_000_000);
  assert.ok(size1e6 < 1.5 * size1e5, `${size1e6} vs ${size1e5}`);
  assert.ok(size1e6 < 200_000, `window JSON ${size1e6} bytes`);
});
