/**
 * The embedded prediction log (src/outcomes/sqlite-prediction-log.ts) on real SQLite files: the
 * join by id, replaced and unmatched labels, attribution to the prediction's time, restarts, two
 * processes' handles on one file, the size budget's deterministic sample, and the horizon.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { PredictionRecord } from '../../src/outcomes/prediction-log.js';
import { SqlitePredictionLog } from '../../src/outcomes/sqlite-prediction-log.js';
import { classificationMetrics, emptyClassification, observeClassification } from '../../src/quality/classification.js';
import { tempDir } from '../helpers.js';

const { dir, cleanup } = tempDir('dw-predlog-');
after(cleanup);
let n = 0;
const freshPath = () => `${dir}/log-${n++}.db`;

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 11, 1);

function prediction(id: string, atMs: number, predicted: string, version = '1'): PredictionRecord {
  return { id, atMs, model: 'weather', version, predicted, value: null, probabilities: { [predicted]: 0.7, other: 0.3 } };
}

describe('prediction log', () => {
  test('labels join by id; a repeated label replaces the first; an unknown id is counted, not an error', async () => {
    const log = new SqlitePredictionLog(freshPath());
    await log.recordPredictions([prediction('a', T0, 'rain'), prediction('b', T0 + 1, 'sun'), prediction('c', T0 + 2, 'fog')]);
    const first = await log.recordLabels([
      { id: 'a', label: 'rain', atMs: T0 + HOUR },
      { id: 'b', label: 'rain', atMs: T0 + HOUR },
      { id: 'nope', label: 'sun', atMs: T0 + HOUR },
    ]);
    assert.deepEqual(first, { matched: 2, replaced: 0, unmatched: 1, notRetained: 0 });
    const second = await log.recordLabels([{ id: 'b', label: 'sun', atMs: T0 + 2 * HOUR }]);
    assert.deepEqual(second, { matched: 0, replaced: 1, unmatched: 0, notRetained: 0 });
    const rows = await log.joined('weather', null, T0, T0 + HOUR);
    assert.deepEqual(
      rows.map((r) => [r.id, r.predicted, r.label, r.labelAtMs - r.atMs]),
      [
        ['a', 'rain', 'rain', HOUR],
        ['b', 'sun', 'sun', 2 * HOUR - 1],
      ],
    );
    assert.deepEqual(await log.windowCounts('weather', null, T0, T0 + HOUR), { predictions: 3, labelled: 2 });
    await log.close();
  });

  test('quality is attributed to the window of the prediction, not of the label', async () => {
    const log = new SqlitePredictionLog(freshPath());
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
    await log.close();
  });

  test('a version filter, numeric labels, and everything survives a restart', async () => {
    const path = freshPath();
    const log = new SqlitePredictionLog(path);
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
    const again = new SqlitePredictionLog(path);
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
    await again.close();
  });

  test('two handles on one file (two sidecars on a host): labels posted to one find predictions captured by the other', async () => {
    const path = freshPath();
    const a = new SqlitePredictionLog(path);
    const b = new SqlitePredictionLog(path);
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
    await a.close();
    await b.close();
  });

  test('over its budget the log keeps a deterministic sample; labels for dropped ids are counted as not retained', async () => {
    const path = freshPath();
    const log = new SqlitePredictionLog(path, { maxRows: 1000 });
    const ids = Array.from({ length: 5000 }, (_, i) => `req-${i}`);
    for (let i = 0; i < ids.length; i += 500) await log.recordPredictions(ids.slice(i, i + 500).map((id) => prediction(id, T0, 'rain')));
    const s = await log.stats();
    assert.ok(s.rows <= 1000, `rows ${s.rows}`);
    assert.ok(s.sampleRate < 1 && s.sampleRate >= 1 / 16, `sample rate ${s.sampleRate}`);
    // Roughly the sample rate of the ids is kept (a hash sample: within a generous band).
    assert.ok(Math.abs(s.rows / ids.length - s.sampleRate) < s.sampleRate * 0.3, `${s.rows} rows at rate ${s.sampleRate}`);
    assert.equal(s.rows + s.sampledOut, ids.length);
    const result = await log.recordLabels(ids.map((id) => ({ id, label: 'rain', atMs: T0 + 1 })));
    assert.deepEqual(result, { matched: s.rows, replaced: 0, unmatched: 0, notRetained: ids.length - s.rows });
    await log.close();
    // The sample level is in the file: a restart keeps the same rule.
    const again = new SqlitePredictionLog(path, { maxRows: 1000 });
    assert.equal((await again.stats()).sampleRate, s.sampleRate);
    await again.close();
  });

  test('predictions older than the horizon are pruned; their late labels are unmatched', async () => {
    const log = new SqlitePredictionLog(freshPath(), { horizonMs: 24 * HOUR });
    await log.recordPredictions([prediction('old', T0, 'rain'), prediction('new', T0 + 30 * HOUR, 'rain')]);
    assert.equal(await log.prune(T0 + 31 * HOUR), 1);
    assert.equal((await log.stats()).rows, 1);
    assert.deepEqual((await log.recordLabels([{ id: 'old', label: 'rain', atMs: T0 + 31 * HOUR }])).unmatched, 1);
    await log.close();
  });

  test('scan pages through a window in order, each row once, also across rows with the same time', async () => {
    const log = new SqlitePredictionLog(freshPath());
    // 50 predictions, five per millisecond (ties in at_ms are ordered by id).
    await log.recordPredictions(Array.from({ length: 50 }, (_, i) => prediction(`p${String(49 - i).padStart(2, '0')}`, T0 + Math.floor(i / 5), 'rain')));
    await log.recordPredictions([prediction('other-version', T0, 'rain', '2'), prediction('too-late', T0 + 100, 'rain')]);
    const pages: number[] = [];
    const seen: string[] = [];
    for await (const page of log.scan('weather', '1', T0, T0 + 10, 7)) {
      pages.push(page.length);
      for (const r of page) seen.push(`${r.atMs - T0}:${r.id}`);
    }
    assert.deepEqual(pages, [7, 7, 7, 7, 7, 7, 7, 1]);
    assert.equal(new Set(seen).size, 50);
    assert.deepEqual(
      seen,
      [...seen].sort((a, b) => Number(a.split(':')[0]) - Number(b.split(':')[0]) || (a < b ? -1 : 1)),
    );
    await log.close();
  });

  test('refuses nonsense bounds', () => {
    assert.throws(() => new SqlitePredictionLog(freshPath(), { maxRows: 0 }), /maxRows/);
    assert.throws(() => new SqlitePredictionLog(freshPath(), { horizonMs: -1 }), /horizonMs/);
  });
});
