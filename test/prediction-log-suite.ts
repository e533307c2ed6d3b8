/**
 * The prediction log's contract (src/outcomes/prediction-log.ts) as one suite, run against every
 * implementation (test/integration/prediction-log.test.ts: the embedded SQLite file and PostgreSQL):
 * the join by id, replaced / unmatched / notRetained labels, attribution to the prediction's time,
 * restarts (a new handle on the same store), two handles writing at once, the size budget's
 * deterministic sample, the horizon, keyset paging with ties, series and window counts, and the
 * shadow pairs. The same cases and the same expected values for both: the fleet's log must not
 * answer differently from the embedded one.
 */
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { keeps } from '../src/outcomes/id-sample.js';
import type { PairedLabelledRow, PredictionLog, PredictionRecord } from '../src/outcomes/prediction-log.js';
import { classificationMetrics, emptyClassification, observeClassification } from '../src/quality/classification.js';
import { fnv1a32 } from '../src/stats/own-keys.js';

export interface LogOptions {
  maxRows?: number;
  horizonMs?: number;
}

/** One store (a file, a database) and handles on it: each `open` is a new process's connection. */
export interface LogStore {
  open(opts?: LogOptions): PredictionLog;
}

export interface LogBackend {
  name: string;
  /** Whether the backend can run here (skips loudly, or fails under its REQUIRE switch, when not). */
  available(t: TestContext): boolean;
  /** A new, empty store. */
  fresh(): Promise<LogStore>;
}

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 11, 1);

function prediction(id: string, atMs: number, predicted: string, version = '1'): PredictionRecord {
  return { id, atMs, model: 'weather', version, predicted, value: null, probabilities: { [predicted]: 0.7, other: 0.3 } };
}

/** Handles closed at the end of each test, also when it fails. */
function handles(t: TestContext): (log: PredictionLog) => PredictionLog {
  const open: PredictionLog[] = [];
  t.after(async () => {
    for (const l of open) await l.close();
  });
  return (log) => {
    open.push(log);
    return log;
  };
}

export function predictionLogSuite(backend: LogBackend): void {
  describe(`prediction log: ${backend.name}`, () => {
    test('labels join by id; a repeated label replaces the first; an unknown id is counted, not an error', async (t) => {
      if (!backend.available(t)) return;
      const keep = handles(t);
      const log = keep((await backend.fresh()).open());
      await log.recordPredictions([prediction('a', T0, 'rain'), prediction('b', T0 + 1, 'sun'), prediction('c', T0 + 2, 'fog')]);
      const first = await log.recordLabels([
        { id: 'a', label: 'rain', atMs: T0 + HOUR },
        { id: 'b', label: 'rain', atMs: T0 + HOUR },
        { id: 'nope', label: 'sun', atMs: T0 + HOUR },
      ]);
      assert.deepEqual(first, { matched: 2, replaced: 0, unmatched: 1, notRetained: 0 });
      const second = await log.recordLabels([{ id: 'b', label: 'sun', atMs: T0 + 2 * HOUR }]);
      assert.deepEqual(second, { matched: 0, replaced: 1, unmatched: 0, notRetained: 0 });
      // Within one batch as well: applied in order, the last one stays.
      const third = await log.recordLabels([
        { id: 'c', label: 'rain', atMs: T0 + HOUR },
        { id: 'c', label: 'fog', atMs: T0 + 3 * HOUR },
        { id: 'nope', label: 'sun', atMs: T0 + HOUR },
        { id: 'nope', label: 'sun', atMs: T0 + HOUR },
      ]);
      assert.deepEqual(third, { matched: 1, replaced: 1, unmatched: 2, notRetained: 0 });
      const rows = await log.joined('weather', null, T0, T0 + HOUR);
      assert.deepEqual(
        rows.map((r) => [r.id, r.predicted, r.label, r.labelAtMs - r.atMs]),
        [
          ['a', 'rain', 'rain', HOUR],
          ['b', 'sun', 'sun', 2 * HOUR - 1],
          ['c', 'fog', 'fog', 3 * HOUR - 2],
        ],
      );
      assert.deepEqual(rows[0]!.probabilities, { rain: 0.7, other: 0.3 });
      assert.deepEqual(await log.windowCounts('weather', null, T0, T0 + HOUR), { predictions: 3, labelled: 3 });
    });

    test('quality is attributed to the window of the prediction, not of the label', async (t) => {
      if (!backend.available(t)) return;
      const log = handles(t)((await backend.fresh()).open());
      await log.recordPredictions([prediction('early', T0, 'rain'), prediction('late', T0 + 5 * HOUR, 'sun')]);
      // Both labels arrive in the same (later) hour.
      await log.recordLabels([
        { id: 'early', label: 'sun', atMs: T0 + 6 * HOUR },
        { id: 'late', label: 'sun', atMs: T0 + 6 * HOUR },
      ]);
      const window = async (from: number) => {
        const c = emptyClassification();
        for (const r of await log.joined('weather', null, from, from + HOUR)) observeClassification(c, String(r.label), r.predicted!, r.probabilities);
        return classificationMetrics(c).accuracy;
      };
      assert.equal(await window(T0), 0);
      assert.equal(await window(T0 + 5 * HOUR), 1);
      assert.equal(await window(T0 + 6 * HOUR), null);
    });

    test('a version filter, numeric labels, and everything survives a restart (a new handle on the same store)', async (t) => {
      if (!backend.available(t)) return;
      const keep = handles(t);
      const store = await backend.fresh();
      const log = store.open();
      await log.recordPredictions([
        prediction('v1', T0, 'rain', '1'),
        prediction('v2', T0, 'rain', '2'),
        { id: 'reg', atMs: T0, model: 'weather', version: '1', predicted: null, value: 12.5, probabilities: null },
      ]);
      await log.recordLabels([
        { id: 'v1', label: 'rain', atMs: T0 + 1 },
        { id: 'v2', label: 'sun', atMs: T0 + 1 },
        { id: 'reg', label: 11, atMs: T0 + 1 },
      ]);
      await log.close();
      const again = keep(store.open());
      assert.deepEqual(
        (await again.joined('weather', '2', T0, T0 + 1)).map((r) => r.id),
        ['v2'],
      );
      const reg = (await again.joined('weather', '1', T0, T0 + 1)).find((r) => r.id === 'reg')!;
      assert.equal(reg.label, 11);
      assert.equal(reg.value, 12.5);
      assert.equal(reg.probabilities, null);
      assert.equal((await again.stats()).labelled, 3);
      // A prediction recorded again keeps its first record (and its label).
      await again.recordPredictions([prediction('v1', T0 + 99, 'fog', '1')]);
      assert.equal((await again.joined('weather', '1', T0, T0 + 1)).find((r) => r.id === 'v1')!.predicted, 'rain');
      // ... also when both records come in one batch: the first wins.
      await again.recordPredictions([prediction('dup', T0, 'sun', '1'), prediction('dup', T0, 'fog', '1')]);
      await again.recordLabels([{ id: 'dup', label: 'sun', atMs: T0 + 1 }]);
      assert.equal((await again.joined('weather', '1', T0, T0 + 1)).find((r) => r.id === 'dup')!.predicted, 'sun');
      assert.equal((await again.stats()).rows, 4);
    });

    test('two handles (two sidecars): labels posted to one find predictions captured by the other', async (t) => {
      if (!backend.available(t)) return;
      const keep = handles(t);
      const store = await backend.fresh();
      const a = keep(store.open());
      const b = keep(store.open());
      await a.recordPredictions([prediction('x1', T0, 'rain'), prediction('x2', T0, 'sun')]);
      await b.recordPredictions([prediction('y1', T0, 'fog')]);
      assert.deepEqual(
        await b.recordLabels([
          { id: 'x1', label: 'rain', atMs: T0 + 1 },
          { id: 'y1', label: 'fog', atMs: T0 + 1 },
        ]),
        { matched: 2, replaced: 0, unmatched: 0, notRetained: 0 },
      );
      assert.equal((await a.stats()).rows, 3);
      assert.equal((await a.stats()).labelled, 2);
    });

    test('two handles writing at once: every id once, the counts exact, labels from both sides', async (t) => {
      if (!backend.available(t)) return;
      const keep = handles(t);
      const store = await backend.fresh();
      const a = keep(store.open());
      const b = keep(store.open());
      // Overlapping ids, written concurrently in batches by both (as two sidecars retrying the same request would).
      const batch = (from: number, to: number, who: string) =>
        Array.from({ length: to - from }, (_, i) => prediction(`id-${from + i}`, T0 + from + i, who === 'a' ? 'rain' : 'sun'));
      const writes: Promise<{ kept: number }>[] = [];
      for (let i = 0; i < 10; i++) {
        writes.push(a.recordPredictions(batch(i * 100, i * 100 + 150, 'a')));
        writes.push(b.recordPredictions(batch(i * 100 + 50, i * 100 + 200, 'b')));
      }
      const kept = (await Promise.all(writes)).reduce((n, r) => n + r.kept, 0);
      assert.equal(kept, 1100, 'each id kept once, by whichever handle came first');
      assert.equal((await a.stats()).rows, 1100);
      const labels = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => ({ id: `id-${from + i}`, label: 'rain', atMs: T0 + HOUR }));
      const [la, lb] = await Promise.all([a.recordLabels(labels(0, 700)), b.recordLabels(labels(400, 1100))]);
      // 300 ids are labelled by both: one of the two matched each, the other replaced it.
      assert.equal(la.matched + lb.matched, 1100);
      assert.equal(la.replaced + lb.replaced, 300);
      assert.deepEqual(await b.windowCounts('weather', '1', T0, T0 + HOUR), { predictions: 1100, labelled: 1100 });
    });

    test('over its budget the log keeps a deterministic sample; labels for dropped ids are counted as not retained', async (t) => {
      if (!backend.available(t)) return;
      const keep = handles(t);
      const store = await backend.fresh();
      const log = store.open({ maxRows: 1000 });
      const ids = Array.from({ length: 5000 }, (_, i) => `req-${i}`);
      for (let i = 0; i < ids.length; i += 500) await log.recordPredictions(ids.slice(i, i + 500).map((id) => prediction(id, T0, 'rain')));
      const s = await log.stats();
      assert.ok(s.rows <= 1000, `rows ${s.rows}`);
      assert.ok(s.sampleRate < 1 && s.sampleRate >= 1 / 16, `sample rate ${s.sampleRate}`);
      // Exactly the ids the shared rule keeps at that rate (every implementation, every process).
      const level = Math.round(-Math.log2(s.sampleRate));
      const expected = ids.filter((id) => keeps(fnv1a32(id), level));
      assert.equal(s.rows, expected.length);
      assert.equal(s.rows + s.sampledOut, ids.length);
      const result = await log.recordLabels(ids.map((id) => ({ id, label: 'rain', atMs: T0 + 1 })));
      assert.deepEqual(result, { matched: s.rows, replaced: 0, unmatched: 0, notRetained: ids.length - s.rows });
      assert.deepEqual((await log.joined('weather', '1', T0, T0 + 1)).map((r) => r.id).sort(), [...expected].sort());
      await log.close();
      // The sample level is in the store: a restart keeps the same rule.
      const again = keep(store.open({ maxRows: 1000 }));
      assert.equal((await again.stats()).sampleRate, s.sampleRate);
      assert.equal((await again.recordPredictions(ids.slice(0, 100).map((id) => prediction(`new-${id}`, T0, 'rain')))).kept <= 100, true);
    });

    test('predictions older than the horizon are pruned; their late labels are unmatched', async (t) => {
      if (!backend.available(t)) return;
      const log = handles(t)((await backend.fresh()).open({ horizonMs: 24 * HOUR }));
      await log.recordPredictions([prediction('old', T0, 'rain'), prediction('new', T0 + 30 * HOUR, 'rain')]);
      assert.equal(await log.prune(T0 + 31 * HOUR), 1);
      assert.equal((await log.stats()).rows, 1);
      assert.deepEqual((await log.recordLabels([{ id: 'old', label: 'rain', atMs: T0 + 31 * HOUR }])).unmatched, 1);
      assert.equal(await log.prune(T0 + 31 * HOUR), 0);
    });

    test('scan pages through a window in order, each row once, also across rows with the same time', async (t) => {
      if (!backend.available(t)) return;
      const log = handles(t)((await backend.fresh()).open());
      // 50 predictions, five per millisecond (ties in at_ms are ordered by id, byte order: 'P' before 'p').
      await log.recordPredictions(
        Array.from({ length: 50 }, (_, i) => prediction(`${i % 2 ? 'p' : 'P'}${String(49 - i).padStart(2, '0')}`, T0 + Math.floor(i / 5), 'rain')),
      );
      await log.recordPredictions([prediction('other-version', T0, 'rain', '2'), prediction('too-late', T0 + 100, 'rain')]);
      await log.recordLabels([{ id: 'p48', label: 'sun', atMs: T0 + HOUR }]);
      const pages: number[] = [];
      const seen: string[] = [];
      let labelled = 0;
      for await (const page of log.scan('weather', '1', T0, T0 + 10, 7)) {
        pages.push(page.length);
        for (const r of page) {
          seen.push(`${r.atMs - T0}:${r.id}`);
          if (r.label !== null) labelled++;
        }
      }
      assert.deepEqual(pages, [7, 7, 7, 7, 7, 7, 7, 1]);
      assert.equal(new Set(seen).size, 50);
      assert.equal(labelled, 1);
      const byte = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
      assert.deepEqual(
        seen,
        [...seen].sort((a, b) => Number(a.split(':')[0]) - Number(b.split(':')[0]) || byte(a, b)),
      );
    });

    test('series and window counts per model version', async (t) => {
      if (!backend.available(t)) return;
      const log = handles(t)((await backend.fresh()).open());
      await log.recordPredictions([
        prediction('a', T0, 'rain', '1'),
        prediction('b', T0 + 1, 'rain', '1'),
        prediction('c', T0 + 2, 'rain', '2'),
        { ...prediction('d', T0, 'rain', '1'), model: 'other' },
        prediction('e', T0 + HOUR, 'rain', '1'),
      ]);
      await log.recordLabels([
        { id: 'a', label: 'rain', atMs: T0 + 5 },
        { id: 'c', label: 'sun', atMs: T0 + 5 },
      ]);
      assert.deepEqual(await log.series(T0, T0 + HOUR), [
        { model: 'other', version: '1', predictions: 1, labelled: 0 },
        { model: 'weather', version: '1', predictions: 2, labelled: 1 },
        { model: 'weather', version: '2', predictions: 1, labelled: 1 },
      ]);
      assert.deepEqual(await log.windowCounts('weather', null, T0, T0 + HOUR), { predictions: 3, labelled: 2 });
      assert.deepEqual(await log.windowCounts('weather', '1', T0, T0 + HOUR + 1), { predictions: 3, labelled: 1 });
      assert.deepEqual(await log.windowCounts('nothing', null, T0, T0 + HOUR), { predictions: 0, labelled: 0 });
    });

    test('shadow predictions pair with the labelled champion record of the same id', async (t) => {
      if (!backend.available(t)) return;
      const log = handles(t)((await backend.fresh()).open({ horizonMs: 24 * HOUR }));
      await log.recordPredictions([prediction('a', T0, 'rain'), prediction('b', T0 + 1, 'sun'), prediction('c', T0 + 2, 'fog')]);
      assert.deepEqual(
        await log.recordShadowPredictions([prediction('a', T0, 'sun', '2'), prediction('b', T0 + 1, 'sun', '2'), prediction('a', T0, 'fog', '2')]),
        {
          kept: 2,
          sampledOut: 0,
        },
      );
      await log.recordShadowPredictions([prediction('c', T0 + 2, 'rain', '3')]);
      await log.recordLabels([
        { id: 'a', label: 'rain', atMs: T0 + HOUR },
        { id: 'c', label: 'fog', atMs: T0 + HOUR },
      ]);
      const pairs: PairedLabelledRow[] = [];
      for await (const page of log.scanPairs('weather', '2', T0, T0 + HOUR, 1)) pairs.push(...page);
      assert.deepEqual(pairs, [
        {
          id: 'a',
          atMs: T0,
          label: 'rain',
          labelAtMs: T0 + HOUR,
          champion: { version: '1', predicted: 'rain', value: null, probabilities: { rain: 0.7, other: 0.3 } },
          challenger: { version: '2', predicted: 'sun', value: null, probabilities: { sun: 0.7, other: 0.3 } },
        },
      ]);
      assert.equal((await log.stats()).shadowRows, 3);
      assert.equal(await log.prune(T0 + 25 * HOUR), 6);
      assert.equal((await log.stats()).shadowRows, 0);
    });

    test('refuses nonsense bounds', async (t) => {
      if (!backend.available(t)) return;
      const store = await backend.fresh();
      assert.throws(() => store.open({ maxRows: 0 }), /maxRows/);
      assert.throws(() => store.open({ horizonMs: -1 }), /horizonMs/);
    });
  });
}
