import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyMoments, mergeMoments, momentsStd, momentsVariance, observeMoment } from '../../src/stats/moments.js';
import type { Moments } from '../../src/stats/types.js';
import { mulberry32 } from '../prng.js';

function relClose(a: number, b: number, tol = 1e-9): boolean {
  return Math.abs(a - b) <= tol * Math.max(1, Math.abs(a), Math.abs(b));
}

function twoPass(xs: number[]): { mean: number; variance: number } {
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  const ss = xs.reduce((s, x) => s + (x - mean) ** 2, 0);
  return { mean, variance: ss / (xs.length - 1) };
}

test('empty moments: n=0, null min/max and null variance', () => {
  const m = emptyMoments();
  assert.deepEqual(m, { n: 0, mean: 0, m2: 0, min: null, max: null });
  assert.equal(momentsVariance(m), null);
  assert.equal(momentsStd(m), null);
  observeMoment(m, 3);
  assert.equal(momentsVariance(m), null, 'one value has no sample variance');
});

test('golden: 2, 4, 4, 4, 5, 5, 7, 9 has mean 5 and sample variance 32/7', () => {
  const m = emptyMoments();
  for (const x of [2, 4, 4, 4, 5, 5, 7, 9]) observeMoment(m, x);
  assert.equal(m.mean, 5);
  assert.ok(relClose(momentsVariance(m)!, 32 / 7, 1e-15));
  assert.ok(relClose(momentsStd(m)!, Math.sqrt(32 / 7), 1e-15));
  assert.equal(m.min, 2);
  assert.equal(m.max, 9);
});

test('Welford matches a two-pass computation, including a large offset (cancellation)', () => {
  const r = mulberry32(11);
  for (const offset of [0, 1e6, 1e9]) {
    const xs = Array.from({ length: 10_000 }, () => offset + r() * 10);
    const m = emptyMoments();
    for (const x of xs) observeMoment(m, x);
    const tp = twoPass(xs);
    assert.ok(relClose(m.mean, tp.mean), `mean offset ${offset}`);
    assert.ok(relClose(momentsVariance(m)!, tp.variance, 1e-7), `variance offset ${offset}: ${momentsVariance(m)} vs ${tp.variance}`);
  }
});

test('merging random shards equals observing all data (1e-9 relative), empty is an identity', () => {
  const r = mulberry32(5);
  for (let trial = 0; trial < 200; trial++) {
    const n = 1 + Math.floor(r() * 500);
    const xs = Array.from({ length: n }, () => (r() - 0.5) * 10 ** Math.floor(r() * 6));
    const all = emptyMoments();
    for (const x of xs) observeMoment(all, x);
    const shards: Moments[] = Array.from({ length: 1 + Math.floor(r() * 8) }, () => emptyMoments());
    for (const x of xs) observeMoment(shards[Math.floor(r() * shards.length)]!, x);
    // random merge order
    const pool = [...shards];
    while (pool.length > 1) {
      const i = Math.floor(r() * pool.length);
      const a = pool.splice(i, 1)[0]!;
      const j = Math.floor(r() * pool.length);
      const b = pool.splice(j, 1)[0]!;
      pool.push(mergeMoments(a, b));
    }
    const merged = pool[0]!;
    assert.equal(merged.n, all.n);
    assert.equal(merged.min, all.min);
    assert.equal(merged.max, all.max);
    assert.ok(relClose(merged.mean, all.mean), `mean ${merged.mean} vs ${all.mean}`);
    assert.ok(relClose(merged.m2, all.m2), `m2 ${merged.m2} vs ${all.m2}`);
    assert.deepEqual(mergeMoments(emptyMoments(), all), all);
    assert.deepEqual(mergeMoments(all, emptyMoments()), all);
    // commutativity is bit-exact (symmetric formula)
    assert.deepEqual(mergeMoments(shards[0]!, merged), mergeMoments(merged, shards[0]!));
  }
});

test('mergeMoments does not modify its inputs', () => {
  const a = emptyMoments();
  const b = emptyMoments();
  for (const x of [1, 2, 3]) observeMoment(a, x);
  for (const x of [10, 20]) observeMoment(b, x);
  const ca = structuredClone(a);
  const cb = structuredClone(b);
  mergeMoments(a, b);
  assert.deepEqual(a, ca);
  assert.deepEqual(b, cb);
});
