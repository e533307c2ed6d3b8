/**
 * The prediction log's shadow (challenger) predictions on real SQLite files: pairs read back by
 * id with the one label both models share, (id, version) keys, paging, the shared sample rule and
 * budget, the horizon, restarts, and a file written before the shadow table existed.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { PairedLabelledRow, PredictionLog, PredictionRecord } from '../../src/outcomes/prediction-log.js';
import { SqlitePredictionLog } from '../../src/outcomes/sqlite-prediction-log.js';
import { openDatabase } from '../../src/sqlite.js';
import { fnv1a32 } from '../../src/stats/own-keys.js';
import { tempDir } from '../helpers.js';

const { dir, cleanup } = tempDir('dw-shadowlog-');
after(cleanup);
let n = 0;
const freshPath = () => `${dir}/log-${n++}.db`;

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 11, 1);

function prediction(id: string, atMs: number, predicted: string, version = '1'): PredictionRecord {
  return { id, atMs, model: 'weather', version, predicted, value: null, probabilities: { [predicted]: 0.7, other: 0.3 } };
}

async function pairs(log: PredictionLog, version: string, fromMs = T0, toMs = T0 + HOUR, pageSize?: number): Promise<PairedLabelledRow[]> {
  const out: PairedLabelledRow[] = [];
  for await (const page of log.scanPairs('weather', version, fromMs, toMs, pageSize)) out.push(...page);
  return out;
}

describe('prediction log: shadow predictions', () => {
  test('a pair is a labelled champion prediction with this challenger version’s prediction for the same id', async () => {
    const log = new SqlitePredictionLog(freshPath());
    await log.recordPredictions([prediction('a', T0, 'rain'), prediction('b', T0 + 1, 'sun'), prediction('c', T0 + 2, 'fog'), prediction('d', T0 + 3, 'sun')]);
    // The shadow may be logged before or after the champion: order does not matter, the id does.
    assert.deepEqual(
      await log.recordShadowPredictions([prediction('a', T0 + 5, 'sun', '2'), prediction('b', T0 + 5, 'sun', '2'), prediction('c', T0 + 5, 'rain', '2')]),
      {
        kept: 3,
        sampledOut: 0,
      },
    );
    await log.recordShadowPredictions([prediction('a', T0 + 5, 'drizzle', '3'), prediction('only-shadow', T0 + 5, 'sun', '2')]);
    // One label per id serves both models; it joins the champion's record (a shadow-only id matches nothing).
    assert.deepEqual(
      await log.recordLabels([
        { id: 'a', label: 'rain', atMs: T0 + HOUR },
        { id: 'b', label: 'sun', atMs: T0 + HOUR },
        { id: 'd', label: 'sun', atMs: T0 + HOUR },
        { id: 'only-shadow', label: 'sun', atMs: T0 + HOUR },
      ]),
      { matched: 3, replaced: 0, unmatched: 1, notRetained: 0 },
    );
    const v2 = await pairs(log, '2');
    assert.deepEqual(v2, [
      {
        id: 'a',
        atMs: T0,
        label: 'rain',
        labelAtMs: T0 + HOUR,
        champion: { version: '1', predicted: 'rain', value: null, probabilities: { rain: 0.7, other: 0.3 } },
        challenger: { version: '2', predicted: 'sun', value: null, probabilities: { sun: 0.7, other: 0.3 } },
      },
      {
        id: 'b',
        atMs: T0 + 1,
        label: 'sun',
        labelAtMs: T0 + HOUR,
        champion: { version: '1', predicted: 'sun', value: null, probabilities: { sun: 0.7, other: 0.3 } },
        challenger: { version: '2', predicted: 'sun', value: null, probabilities: { sun: 0.7, other: 0.3 } },
      },
    ]);
    assert.deepEqual(
      (await pairs(log, '3')).map((p) => [p.id, p.challenger.predicted]),
      [['a', 'drizzle']],
    );
    assert.deepEqual(await pairs(log, 'nope'), []);
    // The champion's views never see the shadow's rows.
    assert.deepEqual(await log.windowCounts('weather', null, T0, T0 + HOUR), { predictions: 4, labelled: 3 });
    assert.deepEqual(await log.series(T0, T0 + HOUR), [{ model: 'weather', version: '1', predictions: 4, labelled: 3 }]);
    assert.equal((await log.joined('weather', '2', T0, T0 + HOUR)).length, 0);
    const s = await log.stats();
    assert.equal(s.rows, 4);
    assert.equal(s.shadowRows, 5);
    await log.close();
  });

  test('numeric predictions and labels; recorded again keeps the first; everything survives a restart', async () => {
    const path = freshPath();
    const log = new SqlitePredictionLog(path);
    const reg = (id: string, value: number, version: string): PredictionRecord => ({
      id,
      atMs: T0,
      model: 'weather',
      version,
      predicted: null,
      value,
      probabilities: null,
    });
    await log.recordPredictions([reg('r1', 10, '1')]);
    assert.deepEqual(await log.recordShadowPredictions([reg('r1', 12, '2')]), { kept: 1, sampledOut: 0 });
    assert.deepEqual(await log.recordShadowPredictions([reg('r1', 99, '2')]), { kept: 0, sampledOut: 0 });
    await log.recordLabels([{ id: 'r1', label: 11, atMs: T0 + 1 }]);
    await log.close();
    const again = new SqlitePredictionLog(path);
    const [p] = await pairs(again, '2');
    assert.equal(p!.label, 11);
    assert.deepEqual(p!.champion, { version: '1', predicted: null, value: 10, probabilities: null });
    assert.deepEqual(p!.challenger, { version: '2', predicted: null, value: 12, probabilities: null });
    assert.equal((await again.stats()).shadowRows, 1);
    await again.close();
  });

  test('scanPairs pages in the champion’s time order, each pair once, also across ties and only inside the window', async () => {
    const log = new SqlitePredictionLog(freshPath());
    const ids = Array.from({ length: 50 }, (_, i) => `p${String(49 - i).padStart(2, '0')}`);
    await log.recordPredictions(ids.map((id, i) => prediction(id, T0 + Math.floor(i / 5), 'rain')));
    await log.recordPredictions([prediction('too-late', T0 + 100, 'rain'), prediction('unlabelled', T0, 'rain')]);
    await log.recordShadowPredictions([...ids, 'too-late', 'unlabelled'].map((id) => prediction(id, T0 + 1000, 'sun', '2')));
    await log.recordLabels([...ids, 'too-late'].map((id) => ({ id, label: 'rain', atMs: T0 + 2000 })));
    const pages: number[] = [];
    const seen: string[] = [];
    for await (const page of log.scanPairs('weather', '2', T0, T0 + 10, 7)) {
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

  test('shadow rows share the sample rule and the size budget: the same ids are kept in both tables', async () => {
    const path = freshPath();
    const log = new SqlitePredictionLog(path, { maxRows: 1000 });
    const ids = Array.from({ length: 3000 }, (_, i) => `req-${i}`);
    for (let i = 0; i < ids.length; i += 500) {
      const batch = ids.slice(i, i + 500);
      await log.recordPredictions(batch.map((id) => prediction(id, T0, 'rain')));
      await log.recordShadowPredictions(batch.map((id) => prediction(id, T0, 'sun', '2')));
    }
    const s = await log.stats();
    assert.ok(s.rows + s.shadowRows! <= 1000, `rows ${s.rows} + shadow ${s.shadowRows}`);
    assert.ok(s.sampleRate < 1, `sample rate ${s.sampleRate}`);
    assert.equal(s.rows + s.shadowRows! + s.sampledOut, 2 * ids.length);
    // The kept ids are exactly those the hash rule keeps, in both tables.
    const kept = ids.filter((id) => fnv1a32(id) < 2 ** 32 * s.sampleRate);
    assert.equal(s.rows, kept.length);
    assert.equal(s.shadowRows, kept.length);
    await log.recordLabels(ids.map((id) => ({ id, label: 'rain', atMs: T0 + 1 })));
    assert.deepEqual((await pairs(log, '2')).map((p) => p.id).sort(), [...kept].sort());
    // A shadow prediction for an id the sample drops is not kept.
    const dropped = ids.find((id) => !kept.includes(id))!;
    assert.deepEqual(await log.recordShadowPredictions([prediction(dropped, T0, 'sun', '3')]), { kept: 0, sampledOut: 1 });
    await log.close();
  });

  test('shadow rows older than the horizon are pruned with the champion’s', async () => {
    const log = new SqlitePredictionLog(freshPath(), { horizonMs: 24 * HOUR });
    await log.recordPredictions([prediction('old', T0, 'rain'), prediction('new', T0 + 30 * HOUR, 'rain')]);
    await log.recordShadowPredictions([prediction('old', T0, 'sun', '2'), prediction('new', T0 + 30 * HOUR, 'sun', '2')]);
    assert.equal(await log.prune(T0 + 31 * HOUR), 2);
    const s = await log.stats();
    assert.equal(s.rows, 1);
    assert.equal(s.shadowRows, 1);
    await log.recordLabels([{ id: 'new', label: 'rain', atMs: T0 + 31 * HOUR }]);
    assert.deepEqual(
      (await pairs(log, '2', T0, T0 + 48 * HOUR)).map((p) => p.id),
      ['new'],
    );
    await log.close();
  });

  test('a shadow row whose champion never came is pruned after an hour; one with its champion stays', async () => {
    const log = new SqlitePredictionLog(freshPath());
    await log.recordPredictions([prediction('paired', T0, 'rain')]);
    await log.recordShadowPredictions([
      prediction('paired', T0, 'sun', '2'),
      prediction('orphan', T0, 'sun', '2'),
      prediction('young', T0 + 2 * HOUR, 'sun', '2'),
    ]);
    assert.equal(await log.prune(T0 + 2 * HOUR), 1);
    assert.equal((await log.stats()).shadowRows, 2);
    // The young one's champion arrives late, within the grace: it pairs.
    await log.recordPredictions([prediction('young', T0 + 2 * HOUR, 'rain')]);
    assert.equal(await log.prune(T0 + 4 * HOUR), 0);
    await log.recordLabels([
      { id: 'paired', label: 'rain', atMs: T0 + 5 * HOUR },
      { id: 'young', label: 'rain', atMs: T0 + 5 * HOUR },
    ]);
    assert.deepEqual(
      (await pairs(log, '2', T0, T0 + 3 * HOUR)).map((p) => p.id),
      ['paired', 'young'],
    );
    await log.close();
  });

  test('a file written before shadow predictions existed opens, keeps its rows and labels, and gains the table', async () => {
    const path = freshPath();
    // The schema of the first release of the prediction log, verbatim: a file on disk from then.
    const v1 = openDatabase(
      path,
      [
        `CREATE TABLE predictions (
           id TEXT PRIMARY KEY, h INTEGER NOT NULL, at_ms INTEGER NOT NULL, model TEXT NOT NULL, version TEXT NOT NULL,
           predicted TEXT, value REAL, probs TEXT, label TEXT, label_num REAL, label_at_ms INTEGER
         ) WITHOUT ROWID;
         CREATE INDEX predictions_by_model_time ON predictions (model, at_ms);
         CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;`,
      ],
      'prediction log',
    );
    v1.prepare(`INSERT INTO predictions VALUES ('old', ?, ?, 'weather', '1', 'rain', NULL, NULL, 'rain', NULL, ?)`).run(fnv1a32('old'), T0, T0 + 1);
    v1.prepare(`INSERT INTO meta VALUES ('rows', 1)`).run();
    v1.close();
    const log = new SqlitePredictionLog(path);
    assert.deepEqual(
      (await log.joined('weather', null, T0, T0 + 1)).map((r) => [r.id, r.label]),
      [['old', 'rain']],
    );
    assert.deepEqual(await log.recordShadowPredictions([prediction('old', T0, 'sun', '2')]), { kept: 1, sampledOut: 0 });
    assert.deepEqual(
      (await pairs(log, '2')).map((p) => [p.id, p.champion.predicted, p.challenger.predicted, p.label]),
      [['old', 'rain', 'sun', 'rain']],
    );
    const s = await log.stats();
    assert.equal(s.rows, 1);
    assert.equal(s.shadowRows, 1);
    await log.close();
  });
});
