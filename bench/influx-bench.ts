/**
 * InfluxDB store benchmark: write throughput through createInfluxStore (line-protocol encoding,
 * batching, HTTP) against real servers on loopback, and the read of one hour of minute windows.
 *
 *   npx tsx bench/influx-bench.ts [--deltas 2000] [--runs 3] [--rows-per-delta 50]
 *
 * Servers: InfluxDB 1.x (`influxd`, the v1 path: POST /write) and VictoriaMetrics
 * (`victoria-metrics`, the v2 path: POST /api/v2/write), each started here with its data in a temp
 * dir (test/influx-server.ts) and stopped at the end; a missing binary skips its rows.
 *
 * Deltas are what a sidecar flushes every 5 s at ~600 rows/min: 50 rows of 10 numeric features,
 * binned against a reference, plus one numeric prediction (12 line-protocol lines per delta). A run
 * writes `--deltas` of them with writeWindows() (one call per delta, as flushes would) and then
 * awaits flush(); time = first writeWindows to the server's last 2xx. maxBufferLines is raised
 * above a run's lines so the run measures the HTTP path, not the disk spool; one extra row shows
 * the default (5000 lines), where a burst larger than that spills to the spool first.
 *
 * Prints a markdown table (medians of --runs runs) on stdout; progress on stderr.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { influxStoreSchema, type InfluxStoreConfig } from '../src/config/schema.js';
import { latencyBounds } from '../src/stats/latency-histogram.js';
import { buildReference } from '../src/stats/reference.js';
import type { WindowProfile } from '../src/stats/types.js';
import { emptyWindow, observeRequest, observeRows } from '../src/stats/window-profile.js';
import { createInfluxStore } from '../src/store/influx.js';
import { findBinary, startInfluxd, startVictoria, type InfluxServer, type VictoriaServer } from '../test/influx-server.js';

const { values } = parseArgs({ options: { deltas: { type: 'string' }, runs: { type: 'string' }, 'rows-per-delta': { type: 'string' } } });
const DELTAS = Number(values.deltas ?? 2000);
const RUNS = Number(values.runs ?? 3);
const ROWS = Number(values['rows-per-delta'] ?? 50);
const FEATURES = Array.from({ length: 10 }, (_, i) => `f${i}`);
const OPTS = { sketchK: 200, maxCategories: 100, maxFeatures: 512 };
const MIN = 60_000;
/** Deltas per minute window: a flush every 5 s. */
const FLUSHES_PER_WINDOW = 12;

let seed = 42;
const rand = () => {
  // mulberry32: deterministic data, so runs compare.
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const row = () => Object.fromEntries(FEATURES.map((f, i) => [f, Math.round((rand() * 100 + i) * 100) / 100]));
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

function delta(startMs: number): WindowProfile {
  const w = emptyWindow({ model: 'bench', version: '1', startMs, windowSeconds: 60 }, bounds);
  const feats = Array.from({ length: ROWS }, row);
  for (let i = 0; i < ROWS; i++) observeRequest(w, rand() < 0.01 ? 503 : 200, 1 + rand() * 20);
  observeRows(
    w,
    feats,
    feats.map((f) => ({ score: (f.f0 as number) / 100 })),
    reference,
    OPTS,
  );
  return w;
}

/** A pool of distinct deltas, re-keyed per window (the store only reads them). */
const POOL = Array.from({ length: 48 }, () => delta(0));
const LINES_PER_DELTA = 1 + Object.keys(POOL[0]!.features).length + Object.keys(POOL[0]!.predictions).length;
const PROFILE_BYTES =
  POOL.reduce((n, d) => n + Object.values({ ...d.features, ...d.predictions }).reduce((m, f) => m + JSON.stringify(f).length, 0), 0) / POOL.length;
/** Recent (VictoriaMetrics keeps it; the ms slots of a window suffice) and minute aligned. */
const BASE_MS = Math.floor((Date.now() - 6 * 3600_000) / 3600_000) * 3600_000;

function deltasFor(n: number, baseMs: number, model = 'bench'): WindowProfile[] {
  return Array.from({ length: n }, (_, i) => ({ ...POOL[i % POOL.length]!, model, startMs: baseMs + Math.floor(i / FLUSHES_PER_WINDOW) * MIN }));
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const log = (m: string) => process.stderr.write(`influx-bench: ${m}\n`);
const fmt = (x: number) => Math.round(x).toLocaleString('en-US');

interface RunResult {
  encodeMs: number;
  totalMs: number;
}

async function writeRun(cfg: InfluxStoreConfig, deltas: readonly WindowProfile[]): Promise<RunResult> {
  const store = createInfluxStore(cfg);
  try {
    const t0 = process.hrtime.bigint();
    for (const d of deltas) await store.writeWindows([d]);
    const encodeMs = ms(t0);
    await store.flush();
    const totalMs = ms(t0);
    const h = store.health();
    if (h.pending !== 0 || h.dropped !== 0) throw new Error(`run not clean: ${JSON.stringify(h)}`);
    return { encodeMs, totalMs };
  } finally {
    await store.close();
  }
}

interface Row {
  label: string;
  results: RunResult[];
}

const tmp = mkdtempSync(join(tmpdir(), 'dw-influx-bench-'));
const rows: Row[] = [];
const notes: string[] = [];
let influx: InfluxServer | null = null;
let vm: VictoriaServer | null = null;
let readResult: { ms: number; windows: number; deltas: number; lines: number } | null = null;
const benchT0 = Date.now();

const baseCfg = (over: Record<string, unknown>): InfluxStoreConfig =>
  influxStoreSchema.parse({ retryDelayMs: 50, timeoutMs: 60_000, maxBufferLines: Math.max(5_000, DELTAS * LINES_PER_DELTA + 1), ...over });

try {
  log(`${DELTAS} deltas per run x ${RUNS} runs; ${ROWS} rows, ${LINES_PER_DELTA} lines, ~${(PROFILE_BYTES / 1024).toFixed(1)} KiB of profile JSON per delta`);

  // -- InfluxDB 1.x: v1 writes, and the read ------------------------------------------------
  if (findBinary('influxd')) {
    influx = await startInfluxd(join(tmp, 'influxd'), 'bench');
    const version = (await fetch(`${influx.url}/ping`)).headers.get('x-influxdb-version') ?? '1.x';
    const results: RunResult[] = [];
    for (let r = 0; r < RUNS; r++) {
      const ds = deltasFor(DELTAS, BASE_MS);
      results.push(
        await writeRun(baseCfg({ url: influx.url, apiVersion: 'v1', database: 'bench', instance: `v1-run-${r}`, spoolDir: join(tmp, `spool-v1-${r}`) }), ds),
      );
      const c = await influx.query(`SELECT count("requests") FROM "dw_requests" WHERE "instance" = 'v1-run-${r}'`);
      const stored = c.results?.[0]?.series?.[0]?.values?.[0]?.[1];
      if (stored !== DELTAS) throw new Error(`v1 run ${r}: ${stored} dw_requests points stored, ${DELTAS} written`);
      log(`v1 run ${r + 1}: ${results[r]!.totalMs.toFixed(0)} ms`);
    }
    rows.push({ label: `v1 \`/write\`, InfluxDB ${version}`, results });

    // The default memory bound: a burst above 5000 lines goes through the fsynced spool first.
    const spilled: RunResult[] = [];
    for (let r = 0; r < RUNS; r++) {
      spilled.push(
        await writeRun(
          baseCfg({
            url: influx.url,
            apiVersion: 'v1',
            database: 'bench',
            instance: `v1-spill-${r}`,
            spoolDir: join(tmp, `spool-v1s-${r}`),
            maxBufferLines: 5_000,
          }),
          deltasFor(DELTAS, BASE_MS),
        ),
      );
      log(`v1 (maxBufferLines 5000) run ${r + 1}: ${spilled[r]!.totalMs.toFixed(0)} ms`);
    }
    rows.push({ label: `v1 \`/write\`, InfluxDB ${version}, default maxBufferLines 5000 (burst spills to the spool)`, results: spilled });

    // One hour of minute windows from two instances, 12 flushes per window each, read back.
    const hourBase = BASE_MS + 3 * 3600_000;
    const perInstance = 60 * FLUSHES_PER_WINDOW;
    for (const inst of ['pod-a', 'pod-b']) {
      await writeRun(
        baseCfg({ url: influx.url, apiVersion: 'v1', database: 'bench', instance: inst, spoolDir: join(tmp, `spool-${inst}`) }),
        deltasFor(perInstance, hourBase, 'hour'),
      );
    }
    const reader = createInfluxStore(
      baseCfg({ url: influx.url, apiVersion: 'v1', database: 'bench', instance: 'reader', spoolDir: join(tmp, 'spool-reader') }),
    );
    const times: number[] = [];
    let windows = 0;
    for (let i = 0; i < 5; i++) {
      const t0 = process.hrtime.bigint();
      const ws = await reader.readWindows({ model: 'hour', fromMs: hourBase, toMs: hourBase + 3600_000 });
      times.push(ms(t0));
      windows = ws.length;
      const rowsRead = ws.reduce((n, w) => n + w.rows, 0);
      if (rowsRead !== 2 * perInstance * ROWS) throw new Error(`read ${rowsRead} rows, wrote ${2 * perInstance * ROWS}`);
    }
    await reader.close();
    readResult = { ms: median(times), windows, deltas: 2 * perInstance, lines: 2 * perInstance * LINES_PER_DELTA };
    log(`read: ${readResult.ms.toFixed(0)} ms`);
    await influx.stop('SIGTERM');
    influx = null;
  } else notes.push('influxd not on PATH (apt-get install influxdb): v1 and read rows skipped');

  // -- VictoriaMetrics: v2 writes -----------------------------------------------------------
  if (findBinary('victoria-metrics')) {
    vm = await startVictoria(join(tmp, 'vm'));
    const results: RunResult[] = [];
    for (let r = 0; r < RUNS; r++) {
      const cfg = baseCfg({
        url: vm.url,
        apiVersion: 'v2',
        org: 'bench',
        bucket: 'bench',
        token: 'bench-token',
        instance: `v2-run-${r}`,
        spoolDir: join(tmp, `spool-v2-${r}`),
      });
      results.push(await writeRun(cfg, deltasFor(DELTAS, BASE_MS)));
      log(`v2 run ${r + 1}: ${results[r]!.totalMs.toFixed(0)} ms`);
    }
    // A check that the samples did arrive (VictoriaMetrics ignores the string fields).
    await vm.forceFlush();
    const got = await vm.exportSeries('{__name__="dw_requests_requests",instance="v2-run-0"}');
    const samples = got.reduce((n, s) => n + s.values.length, 0);
    if (samples !== DELTAS) notes.push(`VictoriaMetrics export shows ${samples} dw_requests_requests samples for run 1, ${DELTAS} written`);
    rows.push({ label: 'v2 `/api/v2/write`, VictoriaMetrics', results });
    await vm.stop();
    vm = null;
  } else notes.push('victoria-metrics not on PATH: v2 row skipped');
} finally {
  await influx?.stop('SIGKILL');
  await vm?.stop();
  rmSync(tmp, { recursive: true, force: true });
}

const lines = [
  `| write path (${fmt(DELTAS)} deltas x ${LINES_PER_DELTA} lines, ~${(PROFILE_BYTES / 1024).toFixed(1)} KiB JSON each; median of ${RUNS}) | encode (writeWindows) | total to last 2xx | lines/s | window-deltas/s |`,
  `| --- | --: | --: | --: | --: |`,
  ...rows.map((r) => {
    const total = median(r.results.map((x) => x.totalMs));
    const encode = median(r.results.map((x) => x.encodeMs));
    return `| ${r.label} | ${encode.toFixed(0)} ms | ${total.toFixed(0)} ms | ${fmt((DELTAS * LINES_PER_DELTA) / (total / 1000))} | ${fmt(DELTAS / (total / 1000))} |`;
  }),
];
if (readResult) {
  lines.push(
    '',
    `| read | value |`,
    `| --- | --: |`,
    `| readWindows, one hour: ${readResult.windows} minute windows x 2 instances x ${FLUSHES_PER_WINDOW} deltas (${fmt(readResult.deltas)} deltas, ${fmt(readResult.lines)} points), median of 5 | ${readResult.ms.toFixed(0)} ms |`,
  );
}
for (const n of notes) lines.push('', `Note: ${n}`);
console.log(lines.join('\n'));
log(`done in ${((Date.now() - benchT0) / 1000).toFixed(0)} s`);
