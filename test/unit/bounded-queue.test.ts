import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BoundedQueue } from '../../src/capture/bounded-queue.js';

test('offers up to capacity, then drops and counts; drains oldest first', () => {
  const q = new BoundedQueue<number>(3);
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((v) => q.offer(v)),
    [true, true, true, false, false],
  );
  assert.equal(q.dropped, 2);
  assert.equal(q.depth, 3);
  assert.deepEqual(q.drain(2), [1, 2]);
  assert.equal(q.offer(6), true);
  assert.deepEqual(q.drain(10), [3, 6]);
  assert.equal(q.depth, 0);
  assert.deepEqual(q.drain(5), []);
});

test('wraps around the ring many times without losing order or growing', () => {
  const q = new BoundedQueue<number>(7);
  const seen: number[] = [];
  let next = 0;
  for (let round = 0; round < 1000; round++) {
    for (let k = 0; k < (round % 5) + 1; k++) q.offer(next++);
    seen.push(...q.drain((round % 3) + 1));
  }
  seen.push(...q.drain(100));
  // Everything that was accepted comes out once, in order.
  assert.deepEqual(
    seen,
    [...seen].sort((a, b) => a - b),
  );
  assert.equal(new Set(seen).size, seen.length);
  assert.equal(seen.length + q.dropped, next);
});

test('rejects a nonsensical capacity', () => {
  assert.throws(() => new BoundedQueue(0), RangeError);
});
