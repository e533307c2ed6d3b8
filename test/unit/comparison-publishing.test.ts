/**
 * When the shadowing processes (scoring server, sidecar) write their comparison windows to
 * InfluxDB (app/comparison-publishing.ts): every everyMs the windows that ended graceMs ago, every
 * window at stop, and nothing after stop. Node's mock timers stand in for the clock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ComparisonPublisher, comparisonPublishing } from '../../src/app/comparison-publishing.js';

test('publishes on the timer with the grace, everything at stop, nothing after', (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'], now: 1_000_000 });
  const calls: Array<{ nowMs: number; opts: unknown }> = [];
  const publisher: ComparisonPublisher = {
    recordPair: () => undefined,
    addWindow: () => undefined,
    publishComparisons: (nowMs, opts) => {
      calls.push({ nowMs, opts });
      return 2;
    },
  };
  const publishing = comparisonPublishing(publisher, { everyMs: 10_000, graceMs: 3_000 });
  t.mock.timers.tick(10_000);
  assert.deepEqual(calls, [], 'nothing before start');
  publishing.start();
  publishing.start(); // again: still one timer
  t.mock.timers.tick(10_000);
  t.mock.timers.tick(10_000);
  assert.deepEqual(calls, [
    { nowMs: 1_020_000, opts: { graceMs: 3_000 } },
    { nowMs: 1_030_000, opts: { graceMs: 3_000 } },
  ]);
  assert.equal(publishing.stop(), 2);
  assert.deepEqual(calls.at(-1), { nowMs: 1_030_000, opts: { all: true } });
  t.mock.timers.tick(30_000);
  assert.equal(calls.length, 3, 'the timer stopped');
});
