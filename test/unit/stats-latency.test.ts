import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_LATENCY_BOUNDS_MS,
  emptyLatency,
  latencyBounds,
  latencyCount,
  latencyFractionAbove,
  latencyQuantile,
  mergeLatency,
  observeLatency,
} from '../../src/stats/latency-histogram.js';
import { mulberry32 } from '../prng.js';

test('default bounds: ~25, log-spaced 0.25 ms .. 60 s, strictly increasing', () => {
  assert.ok(DEFAULT_LATENCY_BOUNDS_MS.length >= 20 && DEFAULT_LATENCY_BOUNDS_MS.length <= 30);
  assert.equal(DEFAULT_LATENCY_BOUNDS_MS[0], 0.25);
  assert.equal(DEFAULT_LATENCY_BOUNDS_MS.at(-1), 60000);
  for (let i = 1; i < DEFAULT_LATENCY_BOUNDS_MS.length; i++) {
    const ratio = DEFAULT_LATENCY_BOUNDS_MS[i]! / DEFAULT_LATENCY_BOUNDS_MS[i - 1]!;
    assert.ok(ratio > 1 && ratio <= 3.5, `ratio ${ratio} at ${i}`);
  }
});

test('latencyBounds: sorted union, each SLO threshold exactly once', () => {
  const b = latencyBounds([250, 100, 42.5, 250]);
  assert.ok(b.includes(250) && b.includes(42.5));
  assert.equal(b.filter((x) => x === 100).length, 1);
  assert.deepEqual(
    b,
    [...b].sort((x, y) => x - y),
  );
  assert.throws(() => latencyBounds([-1]), /positive/);
});

test('bucket i counts bounds[i-1] < ms <= bounds[i]; last bucket is open', () => {
  const h = emptyLatency([1, 10, 100]);
  for (const ms of [0, 1, 1.0001, 10, 99, 100, 100.5, 1e9]) observeLatency(h, ms);
  assert.deepEqual(h.counts, [2, 2, 2, 2]);
  observeLatency(h, NaN);
  assert.equal(latencyCount(h), 8);
  assert.throws(() => emptyLatency([1, 1]), /strictly increasing/);
});

test('fractionAbove an SLO threshold is exact; a non-bound threshold uses the largest bound below it', () => {
  const r = mulberry32(4);
  const bounds = latencyBounds([250]);
  const h = emptyLatency(bounds);
  const xs = Array.from({ length: 10_000 }, () => Math.exp(r() * 8));
  for (const x of xs) observeLatency(h, x);
  assert.equal(latencyFractionAbove(h, 250), xs.filter((x) => x > 250).length / xs.length);
  // 260 is not a bound: fraction above 250 (the largest bound <= 260), which over-estimates
  assert.equal(latencyFractionAbove(h, 260), latencyFractionAbove(h, 250));
  assert.ok(latencyFractionAbove(h, 260)! >= xs.filter((x) => x > 260).length / xs.length);
  assert.equal(latencyFractionAbove(emptyLatency(bounds), 250), null);
});

test('quantile interpolates within the bucket: error at most one bucket width', () => {
  const r = mulberry32(6);
  const h = emptyLatency(DEFAULT_LATENCY_BOUNDS_MS);
  const xs = Array.from({ length: 20_000 }, () => 0.3 + r() * r() * 4000);
  for (const x of xs) observeLatency(h, x);
  const sorted = [...xs].sort((a, b) => a - b);
  for (const q of [0.01, 0.5, 0.9, 0.99, 0.999]) {
    const truth = sorted[Math.ceil(q * sorted.length) - 1]!;
    const est = latencyQuantile(h, q)!;
    const i = DEFAULT_LATENCY_BOUNDS_MS.findIndex((b) => b >= truth);
    const lower = i === 0 ? 0 : DEFAULT_LATENCY_BOUNDS_MS[i - 1]!;
    const upper = DEFAULT_LATENCY_BOUNDS_MS[i]!;
    assert.ok(est >= lower && est <= upper, `q=${q}: ${est} not in (${lower}, ${upper}] around ${truth}`);
  }
  // uniform inside one bucket: interpolation is then exact-ish
  const u = emptyLatency([10, 20]);
  for (let i = 0; i < 1000; i++) observeLatency(u, 10 + (i + 0.5) / 100);
  assert.ok(Math.abs(latencyQuantile(u, 0.5)! - 15) < 1e-9);
  assert.equal(latencyQuantile(emptyLatency([1]), 0.5), null);
  const over = emptyLatency([1, 2]);
  observeLatency(over, 50);
  assert.equal(latencyQuantile(over, 0.99), 2, 'open bucket: the largest finite bound');
});

test('merge: same bounds add; different bounds merge exactly onto the intersection', () => {
  const r = mulberry32(9);
  for (let trial = 0; trial < 200; trial++) {
    const ba = latencyBounds([100]).filter((b) => b === 100 || r() < 0.7);
    const bb = latencyBounds([100, 42]).filter((b) => b === 100 || r() < 0.7);
    const a = emptyLatency(ba);
    const b = emptyLatency(bb);
    const xa = Array.from({ length: Math.floor(r() * 300) }, () => Math.exp(r() * 10) / 4);
    const xb = Array.from({ length: Math.floor(r() * 300) }, () => Math.exp(r() * 10) / 4);
    for (const x of xa) observeLatency(a, x);
    for (const x of xb) observeLatency(b, x);
    const m = mergeLatency(a, b);
    const inter = ba.filter((x) => bb.includes(x));
    assert.deepEqual(m.boundsMs, inter);
    assert.equal(latencyCount(m), xa.length + xb.length, 'total preserved');
    assert.ok(Math.abs(m.sumMs - (a.sumMs + b.sumMs)) < 1e-6);
    // exact: identical to observing all values directly on the intersection bounds
    const direct = emptyLatency(inter);
    for (const x of [...xa, ...xb]) observeLatency(direct, x);
    assert.deepEqual(m.counts, direct.counts);
    const all = [...xa, ...xb];
    const wantAbove = all.length === 0 ? null : all.filter((x) => x > 100).length / all.length;
    assert.equal(latencyFractionAbove(m, 100), wantAbove, 'the shared SLO bound stays exact');
    assert.deepEqual(mergeLatency(b, a).counts, m.counts, 'commutative');
  }
});
