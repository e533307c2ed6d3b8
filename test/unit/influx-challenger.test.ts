/**
 * The challenger comparisons as dw_challenger points: one per version pair and minute window,
 * written once the window ended (plus a grace for late answers), a later delta of an already
 * written window at the next millisecond (never overwriting the first), counts that add up, the
 * lossless JSON equal to the comparison, and a closed store costing nothing but the points (through
 * the one comparison publisher, app/comparison-publishing.ts, with the InfluxDB writer).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { addPair, emptyComparison, type PairObservation, summarizeComparison } from '../../src/challenger/comparison.js';
import type { InfluxStore } from '../../src/store/influx.js';
import { CHALLENGER_MEASUREMENT, comparisonStatement, comparisonsFromSeries, comparisonToPoint } from '../../src/store/influx-challenger.js';
import { createComparisonPublisher } from '../../src/app/comparison-publishing.js';
import { InfluxPublisher } from '../../src/store/influx-publisher.js';
import type { PointSpec, QuerySeries } from '../../src/store/influx-schema.js';
import { spansOf } from '../../src/challenger/stored-comparisons.js';
import type { HostTensor } from '../../src/protocol/tensor.js';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const label = (xs: string[]): Record<string, HostTensor> => ({ label: { type: 'string', dims: [xs.length], data: xs } as unknown as HostTensor });

function pair(atMs: number, champion: string[], challenger: string[] | null, versions: [string, string] = ['1', '2']): PairObservation {
  return {
    model: 'm',
    atMs,
    rows: champion.length,
    champion: { version: versions[0], outputs: label(champion), latencyMs: 2 },
    challenger: challenger
      ? { version: versions[1], outputs: label(challenger), latencyMs: 5, error: null }
      : { version: versions[1], outputs: null, latencyMs: null, error: 'boom' },
  };
}

function fakeStore(opts: { closed?: boolean } = {}) {
  const written: PointSpec[] = [];
  const store = {
    instance: 'host-1',
    appendPoints(points: readonly PointSpec[]) {
      if (opts.closed) throw new Error('the statistics store is closed');
      written.push(...points);
    },
  } as unknown as InfluxStore;
  return { store, written };
}

const field = (p: PointSpec, name: string) => p.fields.find((f) => f.name === name)?.value;

describe('dw_challenger points', () => {
  test('a window is written once it ended and the grace passed, with counts, quantiles and the lossless value', () => {
    const { store, written } = fakeStore();
    const pub = createComparisonPublisher(new InfluxPublisher(store));
    pub.recordPair(pair(T0 + 1_000, ['a', 'b', 'c'], ['a', 'b', 'x']));
    pub.recordPair(pair(T0 + 2_000, ['a'], null));
    pub.recordPair(pair(T0 + 61_000, ['a'], ['a']));
    assert.equal(pub.publishComparisons(T0 + 59_000, { graceMs: 0 }), 0, 'the window is still open');
    assert.equal(pub.publishComparisons(T0 + 65_000, { graceMs: 10_000 }), 0, 'answers may still arrive for it');
    assert.equal(pub.publishComparisons(T0 + 70_000, { graceMs: 10_000 }), 1);
    const p = written[0]!;
    assert.equal(p.measurement, CHALLENGER_MEASUREMENT);
    assert.deepEqual(p.tags, { model: 'm', champion_version: '1', challenger_version: '2', instance: 'host-1' });
    assert.equal(p.timeMs, T0);
    assert.deepEqual(
      ['requests', 'pairs', 'challenger_errors', 'rows', 'label_rows', 'agree', 'champion_latency_count', 'challenger_latency_count', 'window_seconds'].map(
        (n) => field(p, n),
      ),
      [2, 1, 1, 3, 3, 2, 2, 1, 60],
    );
    assert.equal(field(p, 'agreement'), 2 / 3);
    assert.ok(p.fields.every((f) => f.type !== 'int' || Number.isInteger(f.value)));
    // The lossless value is the comparison of exactly those two pairs.
    const expected = emptyComparison();
    addPair(expected, pair(T0 + 1_000, ['a', 'b', 'c'], ['a', 'b', 'x']));
    addPair(expected, pair(T0 + 2_000, ['a'], null));
    assert.equal(field(p, 'comparison'), JSON.stringify(expected));
    // The next window goes at shutdown (all), open or not.
    assert.equal(pub.publishComparisons(T0 + 70_000, { all: true }), 1);
    assert.equal(written[1]!.timeMs, T0 + 60_000);
    assert.equal(pub.publishComparisons(T0 + 70_000, { all: true }), 0, 'nothing is written twice');
  });

  test('a late delta of a written window lands on the next millisecond, so both points count', () => {
    const { store, written } = fakeStore();
    const pub = createComparisonPublisher(new InfluxPublisher(store));
    pub.recordPair(pair(T0 + 1_000, ['a'], ['a']));
    pub.publishComparisons(T0 + 2_000, { all: true });
    pub.recordPair(pair(T0 + 1_500, ['a'], ['b']));
    pub.publishComparisons(T0 + 3_000, { all: true });
    pub.recordPair(pair(T0 + 1_700, ['b'], ['b']));
    pub.publishComparisons(T0 + 200_000);
    assert.deepEqual(
      written.map((p) => p.timeMs),
      [T0, T0 + 1, T0 + 2],
    );
    assert.equal(
      written.reduce((s, p) => s + Number(field(p, 'agree')), 0),
      2,
    );
  });

  test('version pairs and windows are kept apart; a regression model gets the value differences', () => {
    const { store, written } = fakeStore();
    const pub = createComparisonPublisher(new InfluxPublisher(store, { instance: 'mine' }));
    pub.recordPair(pair(T0, ['a'], ['a'], ['1', '2']));
    pub.recordPair(pair(T0, ['a'], ['b'], ['1', '3']));
    const values = (xs: number[]): Record<string, HostTensor> => ({
      y: { type: 'float32', dims: [xs.length], data: Float32Array.from(xs) } as unknown as HostTensor,
    });
    pub.recordPair({
      model: 'r',
      atMs: T0,
      rows: 3,
      champion: { version: '1', outputs: values([1, 2, 3]), latencyMs: 1 },
      challenger: { version: '2', outputs: values([1.5, 2, 2]), latencyMs: 1, error: null },
    });
    assert.equal(pub.publishComparisons(T0 + 120_000), 3);
    const byKey = new Map(written.map((p) => [`${p.tags.model}:${p.tags.challenger_version}`, p]));
    assert.equal(byKey.get('m:2')!.tags.instance, 'mine');
    assert.equal(field(byKey.get('m:3')!, 'agree'), 0);
    const r = byKey.get('r:2')!;
    assert.equal(field(r, 'agreement'), undefined, 'no labels: no agreement field (never a null)');
    assert.deepEqual([field(r, 'value_diff_count'), field(r, 'value_diff_min'), field(r, 'value_diff_max')], [3, -1, 0.5]);
  });

  test('a store that refuses the points never throws into the shadow; the windows wait for the next attempt', () => {
    const opts = { closed: true };
    const { store, written } = fakeStore(opts);
    const pub = createComparisonPublisher(new InfluxPublisher(store));
    pub.recordPair(pair(T0, ['a'], ['a']));
    assert.equal(pub.publishComparisons(T0 + 120_000), 0);
    opts.closed = false;
    assert.equal(pub.publishComparisons(T0 + 130_000), 1);
    assert.equal(field(written[0]!, 'requests'), 1);
  });

  test('a comparison too big for a string field keeps its numeric fields', () => {
    const c = emptyComparison();
    // 50 x 50 labels with long names: the confusion alone is far above 60 KiB.
    const names = Array.from({ length: 50 }, (_, i) => `class-${i}-${'x'.repeat(40)}`);
    for (const a of names)
      addPair(
        c,
        pair(
          T0,
          names,
          names.map(() => a),
        ),
      );
    const p = comparisonToPoint({ model: 'm', championVersion: '1', challengerVersion: '2', startMs: T0, windowSeconds: 60, comparison: c }, 'i', T0);
    assert.equal(field(p, 'comparison'), undefined);
    assert.equal(field(p, 'label_rows'), 2_500);
    assert.equal(field(p, 'agree'), 50);
  });
});

describe('dw_challenger read back (an analyzer)', () => {
  /** The points a publisher wrote, as InfluxDB answers comparisonStatement (one series per tag set). */
  function asSeries(points: readonly PointSpec[]): QuerySeries[] {
    const bySeries = new Map<string, QuerySeries>();
    for (const p of points) {
      const id = JSON.stringify(p.tags);
      let s = bySeries.get(id);
      if (!s) bySeries.set(id, (s = { name: p.measurement, tags: { ...p.tags }, columns: ['time', 'comparison', 'requests', 'window_seconds'], values: [] }));
      s.values.push([p.timeMs, field(p, 'comparison') ?? null, field(p, 'requests'), field(p, 'window_seconds')]);
    }
    return [...bySeries.values()];
  }

  test('every instance and delta of a window sums exactly to the in-memory comparison; points without the JSON are counted', () => {
    const a = fakeStore();
    const b = fakeStore();
    const pa = createComparisonPublisher(new InfluxPublisher(a.store, { instance: 'a' }));
    const pb = createComparisonPublisher(new InfluxPublisher(b.store, { instance: 'b' }));
    const memory = emptyComparison();
    for (let i = 0; i < 40; i++) {
      const p = pair(T0 + i * 1_000, ['a', i % 3 ? 'b' : 'c'], i % 7 ? ['a', 'b'] : null);
      addPair(memory, p);
      (i % 2 ? pa : pb).recordPair(p);
      // A delta per ten pairs: later deltas of the window land on the next free millisecond.
      if (i % 10 === 9) {
        pa.publishComparisons(T0, { all: true });
        pb.publishComparisons(T0, { all: true });
      }
    }
    const points = [...a.written, ...b.written];
    assert.ok(points.length >= 8, `several deltas: ${points.length}`);
    const tooBig = { ...points[0]!, timeMs: T0 + 59_000, fields: points[0]!.fields.filter((f) => f.name !== 'comparison') };
    const { windows, skipped } = comparisonsFromSeries(asSeries([...points, tooBig]));
    assert.equal(skipped, 1);
    assert.ok(windows.every((w) => w.startMs === T0 && w.windowSeconds === 60));
    const spans = spansOf(windows, T0, T0 + 60_000);
    assert.equal(spans.length, 1);
    const s = spans[0]!;
    assert.deepEqual([s.model, s.championVersion, s.challengerVersion, s.fromMs, s.toMs], ['m', '1', '2', T0, T0 + 60_000]);
    assert.deepEqual(summarizeComparison(s.comparison), summarizeComparison(memory));
    assert.deepEqual(s.comparison.championLatency, memory.championLatency);
  });

  test('the statement reads a window either side of the span and filters by model', () => {
    const q = comparisonStatement({ fromMs: T0, toMs: T0 + 3_600_000, model: "o'brien" });
    assert.match(
      q,
      /FROM "dw_challenger" WHERE "model" = 'o\\'brien' AND time > \d+ms AND time < \d+ms GROUP BY "model", "champion_version", "challenger_version", "instance"/,
    );
    assert.ok(q.includes(`time > ${T0 - 60_000}ms`) && q.includes(`time < ${T0 + 3_660_000}ms`), q);
  });
});
