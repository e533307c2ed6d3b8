/**
 * Embedded store benchmark: what 30 days of one model's minute windows cost to write, roll up
 * and read back, on this machine, with realistic profiles (10 numeric features binned against a
 * reference, 1 categorical feature, 2 predictions, ~600 rows per minute).
 *
 *   npx tsx bench/store-bench.ts [--days 30] [--rows-per-window 600] [--out FILE]
 *
 * Prints a markdown table (median of the per-call timings where calls repeat); bench/run-stats.sh
 * puts it into bench/RESULTS.md. The numbers are for the default settings (flush every 5 s: one
 * delta per window per flush, 12 per minute; roll-up after 48 h; 30-day retention).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EmbeddedStore } from '../src/store/embedded.js';
import { buildReference } from '../src/stats/reference.js';
import { latencyBounds } from '../src/stats/latency-histogram.js';
import { emptyWindow, observeRequest, observeRows } from '../src/stats/window-profile.js';
import type { WindowProfile } from '../src/stats/types.js';

const { values } = parseArgs({ options: { days: { type: 'string' }, 'rows-per-window': { type: 'string' }, flushes: { type: 'string' } } });
const DAYS = Number(values.days ?? 30);
const ROWS = Number(values['rows-per-window'] ?? 600);
const FLUSHES_PER_WINDOW = Number(values.flushes ?? 12);
const FEATURES = Array.from({ length: 10 }, (_, i) => `f${i}`);
const opts = { sketchK: 200, maxCategories: 100, maxFeatures: 512 };

let seed = 42;
const rand = () => {
  // mulberry32: deterministic data, so runs compare.
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const row = () =>
  Object.fromEntries([
    ...FEATURES.map((f, i) => [f, Math.round((rand() * 100 + i) * 100) / 100]),
    ['country', ['DE', 'FR', 'US', 'GB'][Math.floor(rand() * 4)]!],
  ]);

const reference = buildReference({
  model: 'bench',
  version: '1',
  source: 'bench',
  createdAtMs: 0,
  rows: Array.from({ length: 5000 }, row),
  bins: 10,
  sketchK: 200,
  maxCategories: 100,
});
const bounds = latencyBounds([50, 250]);

function windowDelta(startMs: number, rows: number): WindowProfile {
  const w = emptyWindow({ model: 'bench', version: '1', startMs, windowSeconds: 60 }, bounds);
  const feats = Array.from({ length: rows }, row);
  for (let i = 0; i < rows; i++) observeRequest(w, 200, 1 + rand() * 20);
  observeRows(
    w,
    feats,
    feats.map((f) => ({ score: (f.f0 as number) / 100, label: (f.f1 as number) > 50 ? 'yes' : 'no' })),
    reference,
    opts,
  );
  return w;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

const dir = mkdtempSync(join(tmpdir(), 'dw-store-bench-'));
const path = join(dir, 'stats.db');
const store = new EmbeddedStore({ path, retentionDays: 30, rollupAfterHours: 48 });
const T0 = Date.UTC(2026, 0, 1);
const MIN = 60_000;
const windows = DAYS * 1440;
process.stderr.write(`store-bench: ${DAYS} days = ${windows} minute windows, ${ROWS} rows each, ${FEATURES.length + 1} features + 2 predictions\n`);

// 1. The sidecar's steady state: one window receives FLUSHES_PER_WINDOW deltas (read-merge-write each).
const deltaRows = Math.max(1, Math.round(ROWS / FLUSHES_PER_WINDOW));
const sampleDelta = windowDelta(T0, deltaRows);
const flushTimes: number[] = [];
for (let m = 0; m < 20; m++) {
  for (let f = 0; f < FLUSHES_PER_WINDOW; f++) {
    const d = { ...sampleDelta, startMs: T0 - (m + 1) * MIN };
    const t = process.hrtime.bigint();
    await store.writeWindows([d]);
    flushTimes.push(ms(t));
  }
}

// 2. Thirty days of full minute windows (written in batches of a day, as a backfill would).
const template = windowDelta(T0, ROWS);
const profileBytes = JSON.stringify(template).length;
const writeT = process.hrtime.bigint();
for (let d = 0; d < DAYS; d++) {
  const batch: WindowProfile[] = [];
  for (let m = 0; m < 1440; m++) batch.push({ ...template, startMs: T0 + (d * 1440 + m) * MIN });
  await store.writeWindows(batch);
  if ((d + 1) % 10 === 0) process.stderr.write(`store-bench: wrote ${d + 1} of ${DAYS} days\n`);
}
const writeAllMs = ms(writeT);
const sizeBefore = statSync(path).size + (statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0);

// 3. Reads before roll-up: one hour, one day of minute windows.
const readTimes = (fromMs: number, toMs: number, n = 5) => {
  const ts: number[] = [];
  let count = 0;
  return (async () => {
    for (let i = 0; i < n; i++) {
      const t = process.hrtime.bigint();
      count = (await store.readWindows({ model: 'bench', fromMs, toMs })).length;
      ts.push(ms(t));
    }
    return { ms: median(ts), count };
  })();
};
const end = T0 + windows * MIN;
const hourRead = await readTimes(end - 3600_000, end);
const dayRead = await readTimes(end - 86_400_000, end, 3);

// 4. Roll-up as maintenance would do it at the end of the 30 days, then the 30-day read.
const rollT = process.hrtime.bigint();
const rolled = await store.maintain(end);
const rollupMs = ms(rollT);
const monthRead = await readTimes(T0, end, 3);
const sizeAfter = statSync(path).size + (statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0);
await store.close();
rmSync(dir, { recursive: true, force: true });

const lines = [
  `| measure | value |`,
  `| --- | --: |`,
  `| profile size, one full minute window (JSON) | ${(profileBytes / 1024).toFixed(1)} KiB |`,
  `| flush: merge one delta (${deltaRows} rows) into its window, median of ${flushTimes.length} | ${median(flushTimes).toFixed(2)} ms |`,
  `| write ${windows.toLocaleString('en-US')} minute windows (${DAYS} days), total | ${(writeAllMs / 1000).toFixed(1)} s (${(writeAllMs / windows).toFixed(2)} ms/window) |`,
  `| file size before roll-up | ${(sizeBefore / 2 ** 20).toFixed(0)} MiB |`,
  `| read the last hour (${hourRead.count} minute windows), median | ${hourRead.ms.toFixed(1)} ms |`,
  `| read the last day (${dayRead.count} minute windows), median | ${dayRead.ms.toFixed(0)} ms |`,
  `| roll-up after 48 h: ${rolled.rolledUp.toLocaleString('en-US')} minute windows into hours | ${(rollupMs / 1000).toFixed(1)} s |`,
  `| read all ${DAYS} days after roll-up (${monthRead.count} windows), median | ${monthRead.ms.toFixed(0)} ms |`,
  `| file size after roll-up (before VACUUM) | ${(sizeAfter / 2 ** 20).toFixed(0)} MiB |`,
];
console.log(lines.join('\n'));
