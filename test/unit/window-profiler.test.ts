/**
 * The window profiler and the live traffic summary remember the window (model version) they last
 * looked up, because every captured event asks for it twice. These tests pin that the shortcut
 * never routes rows into a window that has left `open`: after a flush, after a failed flush that
 * puts deltas back, after the oldest window is dropped, at a window boundary, and when the model
 * or version changes between events. Every row must be counted exactly once in what is written.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WindowProfiler } from '../../src/capture/window-profiler.js';
import { TrafficSummary } from '../../src/capture/traffic-summary.js';
import type { InferenceEvent } from '../../src/capture/inference-event.js';
import type { WindowProfile } from '../../src/stats/types.js';
import { mergeWindows } from '../../src/stats/window-profile.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} } as never;
const stats = {
  windowSeconds: 60,
  flushIntervalMs: 3_600_000,
  sketchK: 200,
  maxCategories: 100,
  maxFeatures: 512,
  latencySloMs: [],
  referenceSketchK: 2048,
  referenceBins: 10,
};
const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);

/** A store that keeps every written delta and can be made to fail. */
function store() {
  const written: WindowProfile[] = [];
  return {
    written,
    down: false,
    describe: 'test',
    async writeWindows(d: readonly WindowProfile[]) {
      if (this.down) throw new Error('down (simulated)');
      written.push(...d);
    },
  };
}

/** Rows and requests per (model, version, startMs) over everything written, deltas merged. */
function totals(written: WindowProfile[]): Map<string, { rows: number; requests: number; x: number }> {
  const merged = new Map<string, WindowProfile>();
  for (const w of written) {
    const k = `${w.model}/${w.version}/${w.startMs}`;
    const prev = merged.get(k);
    merged.set(k, prev ? mergeWindows(prev, w) : w);
  }
  const out = new Map<string, { rows: number; requests: number; x: number }>();
  for (const [k, w] of merged) {
    out.set(k, { rows: w.rows, requests: Object.values(w.requests).reduce((a, b) => a + b, 0), x: w.features.x?.count ?? 0 });
  }
  return out;
}

function observe(p: WindowProfiler, model: string, version: string, at: number, rows: number): void {
  p.observeRequest(model, version, at, 200, 1);
  p.observeRows(
    model,
    version,
    at,
    Array.from({ length: rows }, (_, i) => ({ x: i })),
    [],
  );
}

test('rows observed after a flush go to a new delta, not into the window already written', async () => {
  const s = store();
  const p = new WindowProfiler({ config: stats, store: s, logger: silent, referenceFor: () => null });
  observe(p, 'm', '1', T0, 3);
  await p.flush();
  observe(p, 'm', '1', T0 + 1, 4); // same window: the cached lookup must not hand back the flushed object
  assert.equal(p.pending, 1);
  await p.flush();
  assert.equal(s.written.length, 2);
  assert.deepEqual([...totals(s.written).values()], [{ rows: 7, requests: 2, x: 7 }]);
  // The first delta was not changed after it was handed to the store.
  assert.equal(s.written[0]!.rows, 3);
});

test('a failed flush puts the deltas back merged; rows that arrive meanwhile and after are all written once', async () => {
  const s = store();
  const p = new WindowProfiler({ config: stats, store: s, logger: silent, referenceFor: () => null });
  observe(p, 'm', '1', T0, 2);
  s.down = true;
  const failing = p.flush();
  observe(p, 'm', '1', T0 + 5, 5); // while the write is in flight
  await failing;
  observe(p, 'm', '1', T0 + 6, 11); // after the put-back replaced the open window with a merge
  s.down = false;
  await p.flush();
  assert.deepEqual([...totals(s.written).values()], [{ rows: 18, requests: 3, x: 18 }]);
});

test('window boundaries and switching model versions between events keep every row in its own window', async () => {
  const s = store();
  const p = new WindowProfiler({ config: stats, store: s, logger: silent, referenceFor: () => null });
  observe(p, 'm', '1', T0, 1);
  observe(p, 'm', '2', T0, 2);
  observe(p, 'm', '1', T0 + 60_000, 4); // next window
  observe(p, 'other', '1', T0 + 60_000, 8);
  observe(p, 'm', '1', T0 + 59_999, 16); // a late event for the first window
  observe(p, 'm', '1', T0 + 60_001, 32);
  await p.flush();
  const t = totals(s.written);
  assert.deepEqual(t.get(`m/1/${T0}`), { rows: 17, requests: 2, x: 17 });
  assert.deepEqual(t.get(`m/2/${T0}`), { rows: 2, requests: 1, x: 2 });
  assert.deepEqual(t.get(`m/1/${T0 + 60_000}`), { rows: 36, requests: 2, x: 36 });
  assert.deepEqual(t.get(`other/1/${T0 + 60_000}`), { rows: 8, requests: 1, x: 8 });
});

test('once the oldest window is dropped for the bound, later rows for it open a new delta (counted as dropped, never lost silently)', async () => {
  const s = store();
  let droppedWindows = 0;
  const p = new WindowProfiler({
    config: stats,
    store: s,
    logger: silent,
    referenceFor: () => null,
    maxPendingWindows: 2,
    metrics: { flushed() {}, flushFailed() {}, droppedWindows: (n) => (droppedWindows += n), pendingWindows() {} },
  });
  observe(p, 'm', '1', T0, 1);
  observe(p, 'm', '1', T0 + 60_000, 2);
  observe(p, 'm', '1', T0 + 120_000, 4); // the T0 window is dropped here
  observe(p, 'm', '1', T0 + 120_001, 8);
  await p.flush();
  assert.equal(droppedWindows, 1);
  const t = totals(s.written);
  assert.equal(t.get(`m/1/${T0}`), undefined, 'the dropped window is not written');
  assert.deepEqual(t.get(`m/1/${T0 + 60_000}`), { rows: 2, requests: 1, x: 2 });
  assert.deepEqual(t.get(`m/1/${T0 + 120_000}`), { rows: 12, requests: 2, x: 12 });
});

test('the traffic summary counts each model version apart when events alternate between them', () => {
  const summary = new TrafficSummary(T0);
  const ev = (model: string, version: string | null, totalMs: number, status = 200): InferenceEvent => ({
    requestId: 'r',
    startedAtMs: T0,
    method: 'POST',
    path: '/invocations',
    model,
    version,
    route: 'invocations',
    status,
    upstreamMs: 0,
    totalMs,
    requestBytes: 0,
    responseBytes: 0,
    request: null,
    response: null,
    skipped: null,
  });
  summary.observeRequest(ev('a', '1', 0.2));
  summary.observeRequest(ev('a', '2', 3));
  summary.observeRequest(ev('a', null, 20_000, 503), 'label'); // no version of its own: the label counts
  summary.observeRequest(ev('a', '1', Number.NaN, 404));
  summary.observeRows('a', '1', [{ x: 1 }, { x: 2 }], [{ y: 'p' }]);
  summary.observeRows('a', '2', [{ x: 5 }], []);
  const byKey = new Map(summary.toJSON().models.map((m) => [`${m.model}/${m.version}`, m]));
  assert.equal(byKey.size, 3);
  const a1 = byKey.get('a/1')!;
  assert.equal(a1.requests, 2);
  assert.deepEqual(a1.by_status_class, { '2xx': 1, '4xx': 1 });
  assert.equal(a1.latency_ms.counts[0], 1, '0.2 ms is in the first bucket');
  assert.equal(a1.latency_ms.counts.at(-1), 1, 'NaN lands in the open last bucket, as before');
  assert.equal(a1.rows, 2);
  assert.equal(a1.features.x!.numeric!.mean, 1.5);
  assert.deepEqual(a1.predictions.y!.categories, { p: 1 });
  assert.equal(byKey.get('a/2')!.rows, 1);
  assert.equal(byKey.get('a/2')!.latency_ms.counts[3], 1, '3 ms is in the (2, 5] bucket');
  const label = byKey.get('a/label')!;
  assert.deepEqual(label.by_status_class, { '5xx': 1 });
  assert.equal(label.latency_ms.counts.at(-1), 1, '20 s is past the last bound');
});
