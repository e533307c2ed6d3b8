import assert from 'node:assert/strict';
import { test } from 'node:test';
import { batchable, MicroBatcher } from '../../src/serve/micro-batcher.js';
import type { HostTensor } from '../../src/protocol/tensor.js';

/** A fake model: y = 2x per row, label "r<row value>"; records every call it gets. */
function fakeRun(calls: number[]) {
  return async (feeds: Record<string, HostTensor>) => {
    const x = feeds.x!;
    const n = x.dims[0]!;
    calls.push(n);
    const d = x.data as Float32Array;
    if ([...d].includes(-1)) throw new Error('poisoned row');
    return {
      y: { type: 'float32' as const, data: d.map((v) => v * 2), dims: [n, 2] },
      label: { type: 'string' as const, data: Array.from({ length: n }, (_, i) => `r${d[i * 2]}`), dims: [n] },
    };
  };
}
const feed = (rows: number[][]): Record<string, HostTensor> => ({ x: { type: 'float32', data: Float32Array.from(rows.flat()), dims: [rows.length, 2] } });

test('requests queued in the same turn share one run and get their own rows back', async () => {
  const calls: number[] = [];
  const b = new MicroBatcher(fakeRun(calls), { maxBatchRows: 100, maxWaitMs: 0 });
  const outs = await Promise.all([
    b.submit(feed([[1, 1]]), 1),
    b.submit(
      feed([
        [2, 2],
        [3, 3],
      ]),
      2,
    ),
    b.submit(feed([[4, 4]]), 1),
  ]);
  assert.deepEqual(calls, [4]);
  assert.deepEqual([...(outs[1]!.y!.data as Float32Array)], [4, 4, 6, 6]);
  assert.deepEqual(outs[1]!.y!.dims, [2, 2]);
  assert.deepEqual(outs[2]!.label!.data, ['r4']);
  assert.deepEqual(b.stats, { batches: 1, requests: 3 });
});

test('maxBatchRows bounds a batch; a large request runs alone', async () => {
  const calls: number[] = [];
  const b = new MicroBatcher(fakeRun(calls), { maxBatchRows: 3, maxWaitMs: 0 });
  await Promise.all([
    b.submit(
      feed([
        [1, 1],
        [2, 2],
      ]),
      2,
    ),
    b.submit(
      feed([
        [3, 3],
        [4, 4],
      ]),
      2,
    ),
    b.submit(
      feed([
        [5, 5],
        [6, 6],
        [7, 7],
      ]),
      3,
    ),
  ]);
  assert.deepEqual(calls.sort(), [2, 2, 3]);
});

test('a failing request does not fail the others in its batch', async () => {
  const calls: number[] = [];
  const b = new MicroBatcher(fakeRun(calls), { maxBatchRows: 100, maxWaitMs: 1 });
  const results = await Promise.allSettled([b.submit(feed([[1, 1]]), 1), b.submit(feed([[-1, 0]]), 1), b.submit(feed([[2, 2]]), 1)]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  assert.deepEqual(calls, [3, 1, 1, 1]);
});

test('only graphs with a free batch dimension everywhere are batchable', () => {
  assert.equal(batchable([{ name: 'x', type: 'float32', shape: [-1, 4] }], [{ name: 'y', type: 'float32', shape: [-1] }]), true);
  assert.equal(batchable([{ name: 'x', type: 'float32', shape: [1, 4] }], [{ name: 'y', type: 'float32', shape: [-1] }]), false);
  assert.equal(batchable([{ name: 'x', type: 'float32', shape: [-1, 4] }], [{ name: 'y', type: 'float32', shape: [] }]), false);
});

test('requests with different trailing shapes are never stacked together', async () => {
  const calls: number[][] = [];
  const run = async (feeds: Record<string, HostTensor>) => {
    calls.push(feeds.x!.dims);
    return { s: { type: 'float32' as const, data: new Float32Array(feeds.x!.dims[0]!), dims: [feeds.x!.dims[0]!] } };
  };
  const b = new MicroBatcher(run, { maxBatchRows: 100, maxWaitMs: 0 });
  const w = (width: number, rows = 1): Record<string, HostTensor> => ({ x: { type: 'float32', data: new Float32Array(rows * width), dims: [rows, width] } });
  await Promise.all([b.submit(w(5), 1), b.submit(w(7), 1), b.submit(w(5, 2), 2), b.submit(w(7), 1)]);
  for (const dims of calls) assert.ok(dims[1] === 5 || dims[1] === 7);
  assert.equal(
    calls.reduce((a, d) => a + d[0]!, 0),
    5,
    'every row ran exactly once',
  );
  // A feed whose first dimension is not the request's rows is not batchable: it runs alone.
  const flat: Record<string, HostTensor> = { x: { type: 'float32', data: new Float32Array(8), dims: [8] } };
  await b.submit(flat, 2);
  assert.deepEqual(calls[calls.length - 1], [8]);
});
