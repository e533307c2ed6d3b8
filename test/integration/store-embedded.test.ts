/**
 * The embedded statistics store on a real SQLite file in a temp dir: deltas merge into windows,
 * two writers on one file add up, schema versioning refuses what it does not know, roll-up and
 * retention keep totals, and a writer killed with SIGKILL mid-stream leaves an intact file holding
 * every committed delta.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { EmbeddedStore, SERIES_SQL } from '../../src/store/embedded.js';
import { emptyWindow, mergeWindows, observeRequest, observeRows } from '../../src/stats/window-profile.js';
import { latencyBounds, latencyCount } from '../../src/stats/latency-histogram.js';
import type { WindowProfile } from '../../src/stats/types.js';
import { isDriftwatchError } from '../../src/errors.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..');
const tmpPath = mkdtempSync(join(tmpdir(), 'dw-store-'));
const tmp = { dir: tmpPath, cleanup: () => rmSync(tmpPath, { recursive: true, force: true }) };

after(() => tmp.cleanup());
const bounds = latencyBounds([25, 100]);
const opts = { sketchK: 200, maxCategories: 100, maxFeatures: 64 };
const T0 = Date.UTC(2026, 10, 1, 0, 0, 0);
const cfg = (name: string) => ({ path: join(tmp.dir, name), retentionDays: 30, rollupAfterHours: 48 });

/** A delta with `requests` 2xx answers and rows x = seed, seed+1, ... */
function delta(startMs: number, requests: number, seed: number, version = '1', model = 'fraud'): WindowProfile {
  const w = emptyWindow({ model, version, startMs, windowSeconds: 60 }, bounds);
  const rows = [];
  for (let i = 0; i < requests; i++) {
    observeRequest(w, i % 10 === 0 ? 500 : 200, 1 + (i % 40));
    rows.push({ amount: seed + i, country: i % 3 ? 'DE' : 'FR', flag: i % 7 === 0 ? null : true });
  }
  observeRows(
    w,
    rows,
    rows.map((r) => ({ score: r.amount / 100 })),
    null,
    opts,
  );
  return w;
}

const total = (ws: WindowProfile[], key: string) => ws.reduce((a, w) => a + (w.requests[key] ?? 0), 0);

test('deltas merge into their window; two writers on one file add up; reads return windows in order', async () => {
  const a = new EmbeddedStore(cfg('two-writers.db'));
  const b = new EmbeddedStore(cfg('two-writers.db'));
  const parts = [delta(T0, 10, 0), delta(T0, 7, 100), delta(T0 + 60_000, 5, 200), delta(T0, 3, 300, '2')];
  await a.writeWindows([parts[0]!]);
  await b.writeWindows([parts[1]!, parts[2]!]);
  await a.writeWindows([parts[3]!]);
  const got = await a.readWindows({ model: 'fraud', fromMs: T0, toMs: T0 + 3600_000 });
  assert.deepEqual(
    got.map((w) => [w.version, w.startMs]),
    [
      ['1', T0],
      ['1', T0 + 60_000],
      ['2', T0],
    ],
  );
  const expected = mergeWindows(parts[0]!, parts[1]!);
  assert.deepEqual(got[0]!.requests, expected.requests);
  assert.equal(got[0]!.rows, 17);
  assert.equal(got[0]!.features.amount!.count, 17);
  assert.equal(got[0]!.features.amount!.moments.n, 17);
  assert.ok(Math.abs(got[0]!.features.amount!.moments.mean - expected.features.amount!.moments.mean) < 1e-9);
  assert.deepEqual(got[0]!.features.country!.categories.counts, expected.features.country!.categories.counts);
  assert.equal(got[0]!.features.flag!.missing, expected.features.flag!.missing);
  assert.equal(got[0]!.predictions.score!.sketch.n, 17);
  assert.equal(latencyCount(got[0]!.latency), 17);
  // Version filter and range end are exclusive of other versions and later windows.
  assert.equal((await b.readWindows({ model: 'fraud', version: '2', fromMs: T0, toMs: T0 + 60_000 })).length, 1);
  assert.equal((await b.readWindows({ model: 'fraud', fromMs: T0 + 1, toMs: T0 + 60_000 })).length, 0);
  assert.deepEqual(await a.listSeries(), [
    { model: 'fraud', version: '1', firstMs: T0, lastMs: T0 + 60_000 },
    { model: 'fraud', version: '2', firstMs: T0, lastMs: T0 },
  ]);
  await a.close();
  await b.close();
  await a.close(); // idempotent
  await assert.rejects(a.writeWindows([parts[0]!]), (e: unknown) => isDriftwatchError(e) && e.code === 'DW_ERR_STORE_UNAVAILABLE');
});

test('data survives a reopen; the schema is versioned and foreign or newer files are refused', async () => {
  const s1 = new EmbeddedStore(cfg('reopen.db'));
  assert.equal(s1.schemaVersion, 2);
  await s1.writeWindows([delta(T0, 4, 0)]);
  await s1.close();
  const s2 = new EmbeddedStore(cfg('reopen.db'));
  assert.equal(total(await s2.readWindows({ model: 'fraud', fromMs: 0, toMs: T0 * 2 }), '2xx'), 3);
  await s2.close();

  const foreign = join(tmp.dir, 'foreign.db');
  const db = new Database(foreign);
  db.exec('CREATE TABLE customers (id INTEGER)');
  db.close();
  assert.throws(
    () => new EmbeddedStore({ ...cfg('x'), path: foreign }),
    (e: unknown) => isDriftwatchError(e) && e.code === 'DW_ERR_STORE_OPEN' && /not a driftwatch statistics store/.test(e.message),
  );

  const newer = join(tmp.dir, 'newer.db');
  const db2 = new Database(newer);
  db2.pragma('user_version = 99');
  db2.close();
  assert.throws(
    () => new EmbeddedStore({ ...cfg('x'), path: newer }),
    (e: unknown) => isDriftwatchError(e) && e.code === 'DW_ERR_STORE_OPEN' && /schema version 99, newer/.test(e.message),
  );

  const garbage = join(tmp.dir, 'garbage.db');
  writeFileSync(garbage, 'this is not a database, just text that is long enough to have a header'.repeat(20));
  assert.throws(
    () => new EmbeddedStore({ ...cfg('x'), path: garbage }),
    (e: unknown) => isDriftwatchError(e) && e.code === 'DW_ERR_STORE_OPEN',
  );
});

test('roll-up merges old minute windows into hours with the same totals; retention deletes; late deltas land in the hour', async () => {
  const s = new EmbeddedStore(cfg('rollup.db'));
  // 3 hours of minute windows, 1..3 requests each.
  const all: WindowProfile[] = [];
  for (let m = 0; m < 180; m++) all.push(delta(T0 + m * 60_000, 1 + (m % 3), m * 10));
  await s.writeWindows(all);
  const before = await s.readWindows({ model: 'fraud', fromMs: T0, toMs: T0 + 3 * 3600_000 });
  assert.equal(before.length, 180);
  // 50 h after the second hour's end: hours 0 and 1 are older than 48 h, hour 2 is not.
  const r = await s.maintain(T0 + 2 * 3600_000 + 48 * 3600_000 + 30 * 60_000);
  assert.equal(r.rolledUp, 120);
  assert.equal(r.deleted, 0);
  const after1 = await s.readWindows({ model: 'fraud', fromMs: T0, toMs: T0 + 3 * 3600_000 });
  assert.deepEqual(after1.map((w) => w.windowSeconds).filter((x) => x === 3600).length, 2);
  assert.equal(after1.length, 2 + 60);
  for (const key of ['2xx', '5xx']) assert.equal(total(after1, key), total(before, key), key);
  assert.equal(
    after1.reduce((a, w) => a + w.rows, 0),
    before.reduce((a, w) => a + w.rows, 0),
  );
  const hour0 = after1[0]!;
  assert.equal(hour0.startMs, T0);
  assert.equal(
    hour0.features.amount!.count,
    before.slice(0, 60).reduce((a, w) => a + w.features.amount!.count, 0),
  );
  // Running maintenance again changes nothing (idempotent).
  assert.deepEqual(await s.maintain(T0 + 2 * 3600_000 + 48 * 3600_000 + 30 * 60_000), { rolledUp: 0, deleted: 0 });
  // A late delta for a rolled-up minute merges into its hour instead of resurrecting the minute.
  await s.writeWindows([delta(T0 + 5 * 60_000, 4, 0)]);
  const after2 = await s.readWindows({ model: 'fraud', fromMs: T0, toMs: T0 + 3600_000 });
  assert.equal(after2.length, 1);
  assert.equal(after2[0]!.windowSeconds, 3600);
  assert.equal(after2[0]!.rows, hour0.rows + 4);
  // 31 days later everything is past the 30-day retention.
  const r2 = await s.maintain(T0 + 31 * 86_400_000);
  assert.equal(r2.deleted, 62);
  assert.equal((await s.readWindows({ model: 'fraud', fromMs: 0, toMs: T0 * 2 })).length, 0);
  await s.close();
});

test('kill -9 under load: the file is intact and holds every committed delta', async () => {
  const path = join(tmp.dir, 'killed.db');
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(ROOT, 'test', 'fixtures', 'store-writer.ts'), path], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let acked = 0;
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`writer made no progress: ${err}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      const m = /ack (\d+)\n(?![\s\S]*ack)/.exec(d.toString());
      if (m) acked = Math.max(acked, Number(m[1]));
      // Kill at an arbitrary point well into the stream (writes are in flight continuously).
      if (acked >= 300 && !child.killed) {
        clearTimeout(timer);
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.on('exit', (code) => (code !== null && code !== 0 ? reject(new Error(`writer exited ${code}: ${err}`)) : undefined));
  });
  await new Promise((r) => child.once('close', r));
  const check = new Database(path, { readonly: true });
  assert.equal(check.pragma('integrity_check', { simple: true }), 'ok');
  check.close();
  const s = new EmbeddedStore({ path, retentionDays: 30, rollupAfterHours: 48 });
  const ws = await s.readWindows({ model: 'm', fromMs: 0, toMs: 2 ** 50 });
  const stored = total(ws, '2xx');
  // Every acknowledged write is there; at most the one in flight when the kill came is extra.
  assert.ok(stored >= acked && stored <= acked + 1, `stored ${stored}, acknowledged ${acked}`);
  assert.equal(
    ws.reduce((a, w) => a + w.rows, 0),
    stored * 2,
  );
  await s.close();
});

test('two processes writing one file at once both succeed (they wait for the lock) and add up', async () => {
  const path = join(tmp.dir, 'shared.db');
  const spawnWriter = () =>
    spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(ROOT, 'test', 'fixtures', 'store-writer.ts'), path], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  const kids = [spawnWriter(), spawnWriter()];
  const acked = [0, 0];
  const errs = ['', ''];
  // The writers loop forever: they are killed however the wait below ends.
  const killAll = () => kids.forEach((k) => k.exitCode === null && k.kill('SIGKILL'));
  after(killAll);
  await Promise.all(
    kids.map(
      (child, i) =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`writer ${i} made no progress: ${errs[i]}`)), 60_000);
          child.stderr!.on('data', (d) => (errs[i] += d));
          child.stdout!.on('data', (d: Buffer) => {
            for (const m of d.toString().matchAll(/ack (\d+)/g)) acked[i] = Math.max(acked[i]!, Number(m[1]));
            if (acked[0]! >= 150 && acked[1]! >= 150) {
              clearTimeout(timer);
              resolve();
            }
          });
          child.on('exit', (code) => (code ? reject(new Error(`writer ${i} exited ${code}: ${errs[i]}`)) : undefined));
        }),
    ),
  );
  for (const k of kids) k.kill('SIGKILL');
  await Promise.all(kids.map((k) => new Promise((r) => k.once('close', r))));
  assert.equal(errs.join(''), '', 'no SQLITE_BUSY or other error in either writer');
  const s = new EmbeddedStore({ path, retentionDays: 30, rollupAfterHours: 48 });
  const stored = total(await s.readWindows({ model: 'm', fromMs: 0, toMs: 2 ** 50 }), '2xx');
  const sum = acked[0]! + acked[1]!;
  assert.ok(stored >= sum && stored <= sum + 2, `stored ${stored}, acknowledged ${sum}`);
  await s.close();
});

test('three processes opening the same fresh files at the same instants all succeed (no "locked", no "not a driftwatch" file)', async () => {
  // Before the fix CI saw "database is locked" (SQLite gives no busy wait for the switch to WAL)
  // and the race between two reads let a process take a file another had just migrated for a
  // foreign database; about 2 in 100 racing opens failed. 3 x 60 racing opens here.
  const dir = join(tmp.dir, 'race');
  const t0 = Date.now() + 1500;
  const kids = [0, 1, 2].map(() =>
    spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(ROOT, 'test', 'fixtures', 'open-race.ts'), dir, String(t0), '60'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const results = await Promise.all(
    kids.map(
      (k) =>
        new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
          let out = '';
          let err = '';
          k.stdout!.on('data', (d) => (out += d));
          k.stderr!.on('data', (d) => (err += d));
          k.on('close', (code) => resolve({ code, out, err }));
        }),
    ),
  );
  for (const r of results) {
    assert.equal(r.err, '', 'no open failed');
    assert.equal(r.code, 0);
    assert.match(r.out, /opened 60/);
  }
  const { openDatabase } = await import('../../src/sqlite.js');
  for (let f = 0; f < 60; f++) {
    const db = openDatabase(join(dir, `f${f}.db`), ['CREATE TABLE a (x)'], 'test store');
    assert.equal((db.prepare('SELECT COUNT(*) AS n FROM a').get() as { n: number }).n, 30, `file ${f} has every process's rows`);
    db.close();
  }
});

/** What listSeries answered before the skip-scan (issue 22): one pass over every window. */
const GROUP_BY_SERIES = 'SELECT model, version, MIN(start_ms) AS firstMs, MAX(start_ms) AS lastMs FROM windows GROUP BY model, version ORDER BY model, version';

test('listSeries answers exactly what a GROUP BY over all windows answers, through writes, roll-ups, late deltas and retention', async () => {
  // Names chosen to catch an ordering or grouping that differs from the GROUP BY's: case, prefixes,
  // numbers as text, non-ASCII, the empty string, and a NUL inside a name.
  const models = ['fraud', 'Fraud', 'fraud2', 'a', 'a\u0000b', 'é', 'm10', 'm9', ''];
  const versions = ['1', '10', '2', 'v1', 'V1', ''];
  for (const seed of [1, 2, 3]) {
    let state = seed;
    const rand = (n: number) => {
      // mulberry32: a reproducible stream, so a failure names its seed
      state = (state + 0x6d2b79f5) | 0;
      let t = Math.imul(state ^ (state >>> 15), 1 | state);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * n;
    };
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand(xs.length))]!;
    const path = join(tmp.dir, `series-${seed}.db`);
    const s = new EmbeddedStore({ path, retentionDays: 1, rollupAfterHours: 2 });
    const reference = new Database(path, { readonly: true });
    const expected = () => reference.prepare(GROUP_BY_SERIES).all();
    let vanished = 0;
    let rolledUp = 0;
    let before = new Set<string>();
    for (let hour = 0; hour < 60; hour++) {
      const now = T0 + hour * 3600_000;
      const batch: WindowProfile[] = [];
      // Some series stop getting traffic early, so retention later deletes their last window.
      const live = hour < 20 ? models : models.slice(0, 4);
      for (let i = 0; i < 12; i++) {
        // Mostly current minutes, some late ones from up to 4 hours back (they land in rolled-up hours).
        const back = rand(1) < 0.8 ? Math.floor(rand(60)) : Math.floor(rand(240));
        const startMs = now - back * 60_000;
        const w = emptyWindow({ model: pick(live), version: pick(versions), startMs, windowSeconds: 60 }, bounds);
        observeRequest(w, 200, 5);
        batch.push(w);
      }
      await s.writeWindows(batch);
      assert.deepEqual(await s.listSeries(), expected(), `seed ${seed}, hour ${hour}, after writes`);
      const r = await s.maintain(now);
      rolledUp += r.rolledUp;
      const got = await s.listSeries();
      assert.deepEqual(got, expected(), `seed ${seed}, hour ${hour}, after maintain`);
      const keys = new Set(got.map((x) => `${x.model}\u0001${x.version}`));
      vanished += [...before].filter((k) => !keys.has(k)).length;
      before = keys;
    }
    reference.close();
    await s.close();
    // The cases the comparison is meant to cover did happen.
    assert.ok(rolledUp > 0, `seed ${seed}: nothing rolled up`);
    assert.ok(vanished > 0, `seed ${seed}: retention never deleted a series' last window`);
  }
});

test('listSeries on an empty store and on hour rows only', async () => {
  const s = new EmbeddedStore(cfg('series-edge.db'));
  assert.deepEqual(await s.listSeries(), []);
  const h = emptyWindow({ model: 'm', version: '1', startMs: T0, windowSeconds: 3600 }, bounds);
  observeRequest(h, 200, 5);
  await s.writeWindows([h, { ...h, startMs: T0 + 3600_000 }]);
  assert.deepEqual(await s.listSeries(), [{ model: 'm', version: '1', firstMs: T0, lastMs: T0 + 3600_000 }]);
  await s.close();
});

test('listSeries reads by index seeks: its query plan scans no table except for the first row', async () => {
  // The cost claim without a clock: if SQLite planned any step as a scan, listSeries would again
  // grow with the windows, not the series (e.g. a row-value comparison it cannot seek on).
  const s = new EmbeddedStore(cfg('series-plan.db'));
  await s.close();
  const db = new Database(join(tmp.dir, 'series-plan.db'), { readonly: true });
  const plan = (db.prepare(`EXPLAIN QUERY PLAN ${SERIES_SQL}`).all() as Array<{ detail: string }>).map((r) => r.detail);
  db.close();
  const onWindows = plan.filter((d) => /^(SCAN|SEARCH) (windows|w|n)\b/.test(d));
  // The seed (ORDER BY the primary key, LIMIT 1) is the one scan; it stops at the first row.
  assert.deepEqual(
    onWindows.filter((d) => d.startsWith('SCAN')),
    ['SCAN windows'],
    plan.join('\n'),
  );
  assert.equal(onWindows.filter((d) => d.startsWith('SEARCH')).length, 7, plan.join('\n'));
  for (const d of onWindows.filter((x) => x.startsWith('SEARCH'))) assert.match(d, /\((model=\?( AND version[=>]\?)?|model>\?)\)$/, plan.join('\n'));
});
