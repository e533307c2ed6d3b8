/**
 * Champion/challenger comparison windows in the embedded statistics store (a real SQLite file in
 * a temp dir): two writers (instances) of one file sum on read exactly, a later delta of a window
 * merges into its writer's row, a read counts the windows overlapping its span whole (as the
 * in-memory ComparisonWindows does), retention and roll-up keep the sums, a row that does not
 * parse is skipped and counted, and a file of schema version 1 migrates with its windows intact.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { ComparisonDeltas, type ComparisonWindowDelta } from '../../src/challenger/comparison-deltas.js';
import { ComparisonWindows } from '../../src/challenger/comparison-windows.js';
import { type Comparison, type PairObservation, summarizeComparison } from '../../src/challenger/comparison.js';
import { EmbeddedStore } from '../../src/store/embedded.js';
import type { HostTensor } from '../../src/protocol/tensor.js';
import { tempDir } from '../helpers.js';

const tmp = tempDir('dw-store-comparisons-');
after(() => tmp.cleanup());
const T0 = Date.UTC(2026, 10, 1, 0, 0, 0);
const MIN = 60_000;
const HOUR = 60 * MIN;
const cfg = (name: string) => ({ path: join(tmp.dir, name), retentionDays: 30, rollupAfterHours: 48 });

const labels = (xs: string[]): Record<string, HostTensor> => ({ label: { type: 'string', dims: [xs.length], data: xs } as unknown as HostTensor });

/** A pair at atMs: rows labels; the challenger says "b" where the champion says "a" on every third row. */
function pair(atMs: number, i: number, model = 'm', versions: [string, string] = ['1', '2']): PairObservation {
  const a = [i % 2 ? 'a' : 'c', 'a', i % 5 ? 'a' : 'b'];
  const b = a.map((x, j) => ((i + j) % 3 === 0 && x === 'a' ? 'b' : x));
  return {
    model,
    atMs,
    rows: 3,
    champion: { version: versions[0], outputs: labels(a), latencyMs: 1 + (i % 7) },
    challenger:
      i % 11 === 0
        ? { version: versions[1], outputs: null, latencyMs: null, error: 'boom' }
        : { version: versions[1], outputs: labels(b), latencyMs: 2 + (i % 13), error: null },
  };
}

/** What a reader must see exactly: counts, confusion, both latency histograms. */
function exact(c: Comparison) {
  const s = summarizeComparison(c);
  return {
    requests: c.requests,
    errors: c.challengerErrors,
    rows: c.rows,
    labelRows: c.labelRows,
    agree: c.agree,
    confusion: JSON.parse(JSON.stringify(c.confusion)),
    championLatency: c.championLatency,
    challengerLatency: c.challengerLatency,
    p99: [s.champion.p99Ms, s.challenger.p99Ms],
  };
}

test('two writers of one file sum exactly on read; a later delta merges into its row; reads count overlapping windows whole', async () => {
  const a = new EmbeddedStore(cfg('two.db'), { instance: 'proxy-a' });
  const b = new EmbeddedStore(cfg('two.db'), { instance: 'proxy-b' });
  const memory = new ComparisonWindows({ retentionMs: 10 * HOUR });
  const da = new ComparisonDeltas();
  const db = new ComparisonDeltas();
  for (let i = 0; i < 300; i++) {
    const p = pair(T0 + i * 1_000, i);
    memory.record(p);
    (i % 2 ? da : db).recordPair(p);
  }
  a.writeComparisons(da.take(T0 + 150_000)); // the first two minutes
  // More pairs in a window already written: a second delta of it.
  for (let i = 300; i < 330; i++) {
    const p = pair(T0 + 30_000 + i, i);
    memory.record(p);
    da.recordPair(p);
  }
  a.writeComparisons(da.take(0, { all: true }));
  b.writeComparisons(db.take(0, { all: true }));
  const rows = new Database(join(tmp.dir, 'two.db'), { readonly: true });
  const n = rows.prepare("SELECT COUNT(*) AS n FROM comparisons WHERE instance = 'proxy-a' AND start_ms = ?").get(T0) as { n: number };
  rows.close();
  assert.equal(n.n, 1, 'the later delta merged into the writer row of its window');

  for (const [from, to] of [
    [T0, T0 + 10 * MIN],
    [T0 + 90_000, T0 + 150_000], // mid-window on both ends: minutes 1 and 2 count whole
    [T0 + 4 * MIN, T0 + 10 * MIN], // past the last pair
  ] as const) {
    const read = await a.readComparisons({ fromMs: from, toMs: to });
    const mem = memory.read(from, to);
    assert.equal(read.skipped, 0);
    assert.deepEqual(
      read.spans.map((s) => ({ ...s, comparison: exact(s.comparison) })),
      mem.map((s) => ({ ...s, comparison: exact(s.comparison) })),
      `[${from - T0}, ${to - T0})`,
    );
  }
  const all = await b.readComparisons({ fromMs: T0, toMs: T0 + HOUR });
  assert.equal(all.spans[0]!.comparison.requests, 330);
  assert.deepEqual(await a.comparisonModels(T0, T0 + HOUR), ['m']);
  assert.deepEqual(await a.comparisonModels(T0 + 2 * HOUR, T0 + 3 * HOUR), []);
  assert.deepEqual((await a.readComparisons({ fromMs: T0, toMs: T0 + HOUR, model: 'other' })).spans, []);
  await a.close();
  await b.close();
});

test('version pairs and models stay apart, ordered', async () => {
  const s = new EmbeddedStore(cfg('pairs.db'), { instance: 'x' });
  const d = new ComparisonDeltas();
  d.recordPair(pair(T0, 1, 'zeta', ['1', '2']));
  d.recordPair(pair(T0, 2, 'alpha', ['1', '3']));
  d.recordPair(pair(T0 + 5 * MIN, 3, 'alpha', ['1', '2']));
  s.writeComparisons(d.take(0, { all: true }));
  const { spans } = await s.readComparisons({ fromMs: T0, toMs: T0 + HOUR });
  assert.deepEqual(
    spans.map((x) => [x.model, x.championVersion, x.challengerVersion, x.fromMs - T0, x.toMs - T0, x.comparison.requests]),
    [
      ['alpha', '1', '2', 5 * MIN, 6 * MIN, 1],
      ['alpha', '1', '3', 0, MIN, 1],
      ['zeta', '1', '2', 0, MIN, 1],
    ],
  );
  assert.deepEqual(await s.comparisonModels(T0, T0 + HOUR), ['alpha', 'zeta']);
  await s.close();
});

test('retention drops old windows, roll-up keeps the sums, and a late minute goes to its hour', async () => {
  const s = new EmbeddedStore({ ...cfg('rollup.db'), retentionDays: 2, rollupAfterHours: 1 }, { instance: 'x' });
  const d = new ComparisonDeltas();
  const memory = new ComparisonWindows({ retentionMs: 1000 * HOUR });
  const old = T0 - 3 * 24 * HOUR; // past retention
  d.recordPair(pair(old, 1));
  for (let i = 0; i < 120; i++) {
    const p = pair(T0 + i * 30_000, i); // an hour of minutes
    memory.record(p);
    d.recordPair(p);
  }
  s.writeComparisons(d.take(0, { all: true }));
  const before = await s.readComparisons({ fromMs: T0, toMs: T0 + HOUR });
  const r = await s.maintain(T0 + 3 * HOUR);
  assert.ok(r.deleted >= 1, 'the old window is deleted');
  assert.ok(r.rolledUp >= 60, `minutes rolled up: ${r.rolledUp}`);
  assert.deepEqual((await s.readComparisons({ fromMs: old, toMs: old + MIN })).spans, []);
  const after = await s.readComparisons({ fromMs: T0, toMs: T0 + HOUR });
  assert.deepEqual(exact(after.spans[0]!.comparison), exact(before.spans[0]!.comparison));
  assert.deepEqual([after.spans[0]!.fromMs, after.spans[0]!.toMs], [T0, T0 + HOUR], 'one hour row now');
  // A late delta of a rolled-up minute merges into the hour row.
  d.recordPair(pair(T0 + 10 * MIN, 999));
  s.writeComparisons(d.take(0, { all: true }));
  const late = await s.readComparisons({ fromMs: T0, toMs: T0 + HOUR });
  assert.equal(late.spans[0]!.comparison.requests, before.spans[0]!.comparison.requests + 1);
  const db = new Database(join(tmp.dir, 'rollup.db'), { readonly: true });
  assert.deepEqual(db.prepare('SELECT window_seconds, COUNT(*) AS n FROM comparisons GROUP BY window_seconds').all(), [{ window_seconds: 3600, n: 1 }]);
  db.close();
  await s.close();
});

test('a row that does not parse is skipped and counted; the others are read', async () => {
  const s = new EmbeddedStore(cfg('bad.db'), { instance: 'x' });
  const d = new ComparisonDeltas();
  d.recordPair(pair(T0, 1));
  d.recordPair(pair(T0 + MIN, 2));
  s.writeComparisons(d.take(0, { all: true }));
  const db = new Database(join(tmp.dir, 'bad.db'));
  db.prepare('UPDATE comparisons SET comparison = ? WHERE start_ms = ?').run('{"requests": "lots"}', T0);
  db.close();
  const read = await s.readComparisons({ fromMs: T0, toMs: T0 + HOUR });
  assert.equal(read.skipped, 1);
  assert.equal(read.spans[0]!.comparison.requests, 1);
  await s.close();
});

test('a file of schema version 1 (before comparisons) opens, migrates and keeps its windows', async () => {
  const path = join(tmp.dir, 'v1.db');
  const v1 = new Database(path);
  // Migration 1 as it shipped, then one window row.
  v1.exec(`CREATE TABLE windows (model TEXT NOT NULL, version TEXT NOT NULL, resolution INTEGER NOT NULL, start_ms INTEGER NOT NULL,
     profile TEXT NOT NULL, traffic TEXT NOT NULL, updated_ms INTEGER NOT NULL, PRIMARY KEY (model, version, start_ms, resolution)) WITHOUT ROWID;
   CREATE INDEX windows_by_time ON windows (model, start_ms);
   CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;`);
  v1.prepare('INSERT INTO windows VALUES (?, ?, ?, ?, ?, ?, ?)').run('m', '1', 60, T0, '{}', '{}', T0);
  v1.pragma('user_version = 1');
  v1.close();
  const s = new EmbeddedStore({ ...cfg('v1.db') }, { instance: 'x' });
  assert.equal(s.schemaVersion, 2);
  assert.deepEqual(await s.listSeries(), [{ model: 'm', version: '1', firstMs: T0, lastMs: T0 }]);
  const d = new ComparisonDeltas();
  d.recordPair(pair(T0, 1));
  s.writeComparisons(d.take(0, { all: true }) as ComparisonWindowDelta[]);
  assert.equal((await s.readComparisons({ fromMs: T0, toMs: T0 + MIN })).spans.length, 1);
  await s.close();
});
