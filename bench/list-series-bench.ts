/**
 * EmbeddedStore.listSeries alone (issue 22): the skip-scan this tree runs against the GROUP BY over
 * every window it replaced, on one temp store, same run, same file.
 *
 *   npx tsx bench/list-series-bench.ts [--series 1000] [--hours 24] [--versions 1] [--runs 5]
 *
 * The store holds `series` model versions x `hours` of minute windows, inserted straight into the
 * table (writeWindows would take minutes to build it) with request-only profiles of the size the
 * sidecar writes (~370 + ~300 bytes of JSON a row: what a full scan has to page through). Prints
 * the median of `runs` warm calls of each and checks both answered the same.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { latencyBounds } from '../src/stats/latency-histogram.js';
import { emptyWindow, observeRequest } from '../src/stats/window-profile.js';
import { EmbeddedStore } from '../src/store/embedded.js';

const { values } = parseArgs({ options: { series: { type: 'string' }, hours: { type: 'string' }, versions: { type: 'string' }, runs: { type: 'string' } } });
const SERIES = Number(values.series ?? 1000);
const HOURS = Number(values.hours ?? 24);
const VERSIONS = Number(values.versions ?? 1);
const RUNS = Number(values.runs ?? 5);
const T0 = Date.UTC(2026, 10, 1);

const dir = mkdtempSync(join(tmpdir(), 'dw-list-series-'));
try {
  const path = join(dir, 'stats.db');
  const cfg = { path, retentionDays: 30, rollupAfterHours: 48 };
  await new EmbeddedStore(cfg).close(); // creates the schema
  const w = emptyWindow({ model: 'model-0000', version: '1', startMs: T0, windowSeconds: 60 }, latencyBounds([25, 100, 250, 500, 1000]));
  for (let i = 0; i < 100; i++) observeRequest(w, i % 20 ? 200 : 500, i % 300);
  const profile = JSON.stringify(w);
  const traffic = JSON.stringify({
    model: w.model,
    version: w.version,
    startMs: w.startMs,
    windowSeconds: 60,
    requests: w.requests,
    latency: w.latency,
    rows: 0,
  });
  const db = new Database(path);
  // Build without a journal (a throwaway file): the WAL of one multi-GB transaction is what made it slow.
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -1000000'); // 1 GB: inserts arrive time-major, all over the key's b-tree
  const ins = db.prepare('INSERT INTO windows (model, version, resolution, start_ms, profile, traffic, updated_ms) VALUES (?, ?, 60, ?, ?, ?, 0)');
  let t = performance.now();
  // Time-major, as the sidecar writes: every series' minute, then the next minute.
  db.transaction(() => {
    for (let m = 0; m < HOURS * 60; m++)
      for (let s = 0; s < SERIES; s++)
        ins.run(`model-${String(Math.floor(s / VERSIONS)).padStart(4, '0')}`, String(s % VERSIONS), T0 + m * 60_000, profile, traffic);
  })();
  const rows = SERIES * HOURS * 60;
  console.log(
    `built ${rows} rows (${SERIES} series x ${HOURS} h) in ${((performance.now() - t) / 1000).toFixed(1)} s, file ${(statSync(path).size / 2 ** 20).toFixed(0)} MiB`,
  );
  const store = new EmbeddedStore(cfg);
  const groupBy = db.prepare(
    'SELECT model, version, MIN(start_ms) AS firstMs, MAX(start_ms) AS lastMs FROM windows GROUP BY model, version ORDER BY model, version',
  );
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const time = async (f: () => unknown) => {
    await f(); // warm: page cache and statement
    const ms: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      t = performance.now();
      await f();
      ms.push(performance.now() - t);
    }
    return median(ms);
  };
  assert.deepEqual(await store.listSeries(), groupBy.all());
  const before = await time(() => groupBy.all());
  const after = await time(() => store.listSeries());
  console.log(
    `listSeries, median of ${RUNS}: GROUP BY (before) ${before.toFixed(1)} ms, skip-scan (after) ${after.toFixed(2)} ms; same answer (${SERIES} series); load ${loadavg()[0]!.toFixed(1)}`,
  );
  db.close();
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
