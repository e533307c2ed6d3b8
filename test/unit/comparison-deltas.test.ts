/**
 * The comparison windows a shadowing process has not written yet (challenger/comparison-deltas.ts)
 * and the one publisher over a store's writer (app/comparison-publishing.ts): windows leave once
 * ended plus the grace, a window merged from elsewhere adds to the pairs recorded here, a writer
 * that throws gets the same windows again next time, and the bound drops the oldest, counted.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createComparisonPublisher } from '../../src/app/comparison-publishing.js';
import { ComparisonDeltas, type ComparisonWindowDelta } from '../../src/challenger/comparison-deltas.js';
import { addPair, emptyComparison, type PairObservation } from '../../src/challenger/comparison.js';
import type { HostTensor } from '../../src/protocol/tensor.js';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const labels = (xs: string[]): Record<string, HostTensor> => ({ label: { type: 'string', dims: [xs.length], data: xs } as unknown as HostTensor });
const pair = (atMs: number, same: boolean, model = 'm'): PairObservation => ({
  model,
  atMs,
  rows: 1,
  champion: { version: '1', outputs: labels(['a']), latencyMs: 1 },
  challenger: { version: '2', outputs: labels([same ? 'a' : 'b']), latencyMs: 2, error: null },
});

test('windows leave once ended plus the grace; a merged window adds to the recorded pairs', () => {
  const d = new ComparisonDeltas();
  d.recordPair(pair(T0 + 1_000, true));
  d.recordPair(pair(T0 + 61_000, false));
  const elsewhere = emptyComparison();
  addPair(elsewhere, pair(T0 + 2_000, false));
  addPair(elsewhere, pair(T0 + 3_000, false));
  d.addWindow({ model: 'm', championVersion: '1', challengerVersion: '2', startMs: T0 + 5, windowSeconds: 60, comparison: elsewhere });
  assert.deepEqual(d.take(T0 + 65_000, { graceMs: 10_000 }), [], 'the grace has not passed');
  const [w, ...rest] = d.take(T0 + 70_000, { graceMs: 10_000 });
  assert.deepEqual(rest, []);
  assert.deepEqual([w!.startMs, w!.windowSeconds, w!.comparison.requests, w!.comparison.agree], [T0, 60, 3, 1]);
  assert.equal(d.size, 1);
  assert.equal(d.take(T0 + 70_000, { all: true }).length, 1);
  assert.equal(d.size, 0);
});

test('a writer that throws gets the windows again; the bound drops the oldest, counted', () => {
  const written: ComparisonWindowDelta[][] = [];
  let refuse = true;
  const publisher = createComparisonPublisher({
    writeComparisons: (ws) => {
      if (refuse) throw new Error('database is locked');
      written.push([...ws]);
    },
  });
  publisher.recordPair(pair(T0, true));
  assert.equal(publisher.publishComparisons(T0 + 120_000), 0);
  publisher.recordPair(pair(T0 + 1_000, false));
  refuse = false;
  assert.equal(publisher.publishComparisons(T0 + 120_000), 1);
  assert.equal(written[0]![0]!.comparison.requests, 2, 'the refused pair and the later one, in one window');

  const d = new ComparisonDeltas({ maxWindows: 3 });
  for (let i = 0; i < 5; i++) d.recordPair(pair(T0 + i * 60_000, true));
  assert.equal(d.dropped, 2);
  assert.deepEqual(
    d.take(0, { all: true }).map((w) => (w.startMs - T0) / 60_000),
    [2, 3, 4],
  );
});
