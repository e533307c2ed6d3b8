/**
 * The analysis side's cost curve (issue 22): how one check cycle (drift + data quality together,
 * as their shared 5-minute schedule fires them, then SLO and staleness) grows with M model
 * versions x F features, on the embedded store and on a real InfluxDB 1.x.
 *
 *   npx tsx bench/analyzer-bench.ts [--quick] [--grid 10x10,30x50,...] [--stores embedded,influx]
 *       [--rows 300] [--window-seconds 60] [--rollup-after-hours 48] [--history-hours 24] [--out FILE]
 *   BENCH_BASELINE=<git rev> ...   also times that revision's SLO check against this tree's, same store,
 *                                  and this tree's with its cache of settled hours (cold and warm)
 *
 * Per grid point it fills a fresh store with synthetic window profiles: the drift window (the last
 * hour) as full minute windows of F inputs + 1 prediction (ROWS rows each, binned against the
 * reference like the sidecar does), and the 23 hours before as request-only minute windows (the
 * SLO check's history: a feature profile older than the drift window is never read by a check,
 * and writing a day of them would take longer than the whole benchmark). References live in a
 * real local registry (files), one Production version per model, copied for each variant (the
 * staleness check writes its verdicts back as tags: one registry per analyzer, as in production).
 *
 * Each cycle runs twice in the same process, A/B: `before` (the checks as they were: each check
 * reads and merges its windows itself, the InfluxDB store has no request-only read, the SLO check
 * reads all its span every run) and `after` (drift and data quality share one read per version,
 * InfluxDB reads dw_requests only for SLO, the SLO check sums settled hours once: its measured
 * cycle follows the warm-up one, so it is the cache's warm run).
 * Queries are counted at the StatsStore interface; bytes are what the InfluxDB HTTP API sent
 * (counted by a TCP relay in front of influxd) or, for the embedded store, the JSON text of the
 * rows read (counted in a second, untimed pass); memory is the peak heap sampled at every store
 * read. Times are wall clock on a shared, loaded machine: read the load average next to them.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createAnalyzerApp, type AnalyzerApp } from '../src/app/analyzer-app.js';
import { configSchema } from '../src/config/schema.js';
import { LocalRegistry } from '../src/registry/local-registry.js';
import { latencyBounds } from '../src/stats/latency-histogram.js';
import { buildReference } from '../src/stats/reference.js';
import type { ReferenceProfile, WindowProfile } from '../src/stats/types.js';
import { emptyWindow, observeRequest, observeRows } from '../src/stats/window-profile.js';
import { EmbeddedStore } from '../src/store/embedded.js';
import { createInfluxStore, isInfluxStore } from '../src/store/influx.js';
import type { StatsStore, WindowQuery } from '../src/store/types.js';
import { findBinary, startInfluxd, type InfluxServer } from '../test/influx-server.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    grid: { type: 'string' },
    stores: { type: 'string' },
    rows: { type: 'string' },
    'window-seconds': { type: 'string' },
    'rollup-after-hours': { type: 'string' },
    'history-hours': { type: 'string' },
    out: { type: 'string' },
  },
});
const QUICK = values.quick === true;
const GRID: Array<[number, number]> = (values.grid ?? (QUICK ? '4x5,12x5,4x20' : '10x10,30x10,100x10,10x50,30x50,10x100'))
  .split(',')
  .map((g) => g.split('x').map(Number) as [number, number]);
const STORES = (values.stores ?? 'embedded,influx').split(',');
/** Rows per minute of traffic per model version (5 rps). */
const ROWS = Number(values.rows ?? 300);
/** stats.windowSeconds of the stored windows (60, the default; 300 shows what 5-minute windows save). */
const WINDOW_S = Number(values['window-seconds'] ?? 60);
/** store.embedded.rollupAfterHours (48, the default: a day of history stays minute windows). */
const ROLLUP_H = Number(values['rollup-after-hours'] ?? 48);
/** Hours of request-only history before the drift window (24; the SLO check's 3-day rule reads 72). */
const HISTORY_HOURS = Number(values['history-hours'] ?? 24);
const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);
const PROFILE = { sketchK: 200, maxCategories: 100, maxFeatures: 512 };
const FIXTURE = join(import.meta.dirname, '..', 'test', 'fixtures', 'mlflow-onnx-tensor');

let seed = 7;
const rand = () => {
  // mulberry32: the same data every run, so runs compare.
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const CATS = ['a', 'b', 'c', 'd', 'e', 'f'];
/** Every fifth feature is categorical, the rest numeric with a per-feature scale; shift moves them. */
const makeRow = (f: number, shift: number) => {
  const r: Record<string, number | string> = {};
  for (let i = 0; i < f; i++) r[`f${i}`] = i % 5 === 4 ? CATS[Math.floor(rand() * (CATS.length - 1 + shift))]! : (rand() + shift * 0.2) * (10 + i);
  return r;
};

function reference(f: number): ReferenceProfile {
  const rows = Array.from({ length: 2000 }, () => makeRow(f, 0));
  return buildReference({
    model: 'tmpl',
    version: '1',
    source: 'bench',
    createdAtMs: NOW - 30 * 86_400_000,
    rows,
    predictions: rows.map((r) => ({ score: Number(r.f0) / 10 })),
    bins: 10,
    ...PROFILE,
  });
}

const bounds = latencyBounds([250]);
/** A few distinct full windows per F (cloned with their keys set): realistic sizes, cheap to make. */
function templates(f: number, ref: ReferenceProfile): WindowProfile[] {
  return [0, 0, 0.5, 1].map((shift) => {
    const w = emptyWindow({ model: 'tmpl', version: '1', startMs: 0, windowSeconds: WINDOW_S }, bounds);
    for (let i = 0; i < (ROWS * WINDOW_S) / 120; i++) observeRequest(w, rand() < 0.002 ? 503 : 200, 5 + rand() * 40);
    const rows = Array.from({ length: (ROWS * WINDOW_S) / 60 }, () => makeRow(f, shift));
    observeRows(
      w,
      rows,
      rows.map((r) => ({ score: Number(r.f0) / 10 })),
      ref,
      PROFILE,
    );
    return w;
  });
}

const modelName = (i: number) => `model-${String(i).padStart(4, '0')}`;

async function fill(store: StatsStore, m: number, tmpl: WindowProfile[]): Promise<number> {
  let windows = 0;
  for (let i = 0; i < m; i++) {
    const batch: WindowProfile[] = [];
    const perHour = 3600 / WINDOW_S;
    for (let k = 0; k < HISTORY_HOURS * perHour; k++) {
      const startMs = NOW - (k + 1) * WINDOW_S * 1000;
      const t = tmpl[(i + k) % tmpl.length]!;
      // Inside the drift window: the whole profile; before it: the request side only.
      const full = k < perHour;
      batch.push({ ...t, model: modelName(i), version: '1', startMs, ...(full ? {} : { features: {}, predictions: {} }) });
    }
    await store.writeWindows(batch);
    // InfluxDB: send each model's lines before making the next (memory stays at one model's worth).
    if (isInfluxStore(store)) await store.flush();
    windows += batch.length;
  }
  return windows;
}

async function makeRegistry(dir: string, m: number, ref: ReferenceProfile): Promise<LocalRegistry> {
  const registry = new LocalRegistry(join(dir, 'registry'), { now: () => NOW - 10 * 86_400_000 });
  for (let i = 0; i < m; i++) {
    const v = await registry.createModelVersion({ name: modelName(i), sourceDir: FIXTURE });
    await registry.transitionStage(v.name, v.version, 'Production');
    await registry.putReference({ ...ref, model: v.name, version: v.version });
  }
  return registry;
}

/**
 * Counts calls per StatsStore read method, samples the heap at each, and (optionally) sums the
 * JSON text returned. The methods are replaced on the store object itself (and put back by the
 * returned restore), so the analyzer still sees the InfluxDB store as one (its findings publisher).
 * `withTraffic: false` hides readTraffic, as the InfluxDB store was before issue 22.
 */
function instrument(store: StatsStore, opts: { withTraffic: boolean }) {
  const stats = { calls: {} as Record<string, number>, jsonBytes: 0, peakHeap: 0, countBytes: false };
  const target = store as unknown as Record<string, unknown>;
  const note = <T>(name: string, result: T): T => {
    stats.calls[name] = (stats.calls[name] ?? 0) + 1;
    const h = process.memoryUsage().heapUsed;
    if (h > stats.peakHeap) stats.peakHeap = h;
    if (stats.countBytes) stats.jsonBytes += JSON.stringify(result).length;
    return result;
  };
  const originals = { readWindows: store.readWindows, readTraffic: store.readTraffic, listSeries: store.listSeries };
  target.readWindows = async (q: WindowQuery) => note('readWindows', await originals.readWindows.call(store, q));
  target.listSeries = async () => note('listSeries', await originals.listSeries.call(store));
  const rt = originals.readTraffic;
  target.readTraffic = opts.withTraffic && rt ? async (q: WindowQuery) => note('readTraffic', await rt.call(store, q)) : undefined;
  const restore = () => {
    delete target.readWindows;
    delete target.listSeries;
    delete target.readTraffic;
  };
  return { stats, restore };
}

/** A TCP relay in front of influxd that counts the bytes the server sends (the query answers). */
async function byteCounter(port: number): Promise<{ port: number; bytes: () => number; close: () => Promise<void> }> {
  let down = 0;
  const server: Server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    upstream.on('data', (b: Buffer) => {
      down += b.length;
    });
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    bytes: () => down,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

interface CycleResult {
  ms: Record<string, number>;
  cpuMs: number;
  calls: Record<string, number>;
  bytes: number;
  peakHeapMb: number;
  findings: number;
}

function analyzerConfig(dir: string, variant: string) {
  return configSchema.parse({
    log: { level: 'silent' },
    checks: {
      enabled: false, // the bench runs the cycles itself
      findingsPath: join(dir, `findings-${variant}.db`),
      slo: { targets: [{ model: '*', p95Ms: 200, errorRate: 0.01, latencyThresholdMs: 250 }] },
    },
    alerts: { outboxPath: join(dir, `alerts-${variant}.db`) },
  });
}

/**
 * One cycle through the real analyzer (the runner, its gauges and its sinks: findings history,
 * the InfluxDB findings copy, the alert router), as the schedule runs it: drift and data quality
 * fire together every 5 minutes, SLO every minute, staleness every 15.
 */
async function cycle(app: AnalyzerApp, store: StatsStore, variant: 'before' | 'after', bytesNow: () => number, countJson: boolean): Promise<CycleResult> {
  // `before` is the code before issue 22: the embedded store already had its request-only read, InfluxDB did not.
  const { stats, restore } = instrument(store, { withTraffic: variant === 'after' || store instanceof EmbeddedStore });
  stats.countBytes = countJson;
  try {
    const ms: Record<string, number> = {};
    const b0 = bytesNow();
    const cpu0 = process.cpuUsage();
    let findings = 0;
    let t = performance.now();
    for (const f of await Promise.all([app.runner.run('drift'), app.runner.run('data_quality')])) findings += f.length;
    ms['drift+dq'] = performance.now() - t;
    t = performance.now();
    findings += (await app.runner.run('slo')).length;
    ms.slo = performance.now() - t;
    t = performance.now();
    findings += (await app.runner.run('staleness')).length;
    ms.staleness = performance.now() - t;
    if (isInfluxStore(store)) await store.flush(); // the findings copy, sent
    const cpu = process.cpuUsage(cpu0);
    return {
      ms,
      cpuMs: (cpu.user + cpu.system) / 1000,
      calls: stats.calls,
      bytes: countJson ? stats.jsonBytes : bytesNow() - b0,
      peakHeapMb: stats.peakHeap / 2 ** 20,
      findings,
    };
  } finally {
    restore();
  }
}

interface Row {
  store: string;
  m: number;
  f: number;
  variant: 'before' | 'after';
  r: CycleResult;
  load: string;
}

const rows: Row[] = [];

/**
 * BENCH_BASELINE=<git revision>: the SLO check of that revision (git show, its imports pointed at
 * this tree's src/) timed against today's on the same store, in the same process. The SLO check's
 * change (one pass over the windows for all spans) is inside the check, so the analyzer's A/B
 * above cannot switch it off.
 */
type SloRun = (deps: { store: StatsStore }, config: ReturnType<typeof configSchema.parse>['checks']['slo'], nowMs: number) => Promise<unknown[]>;
let baselineSlo: SloRun | null = null;
const sloAB: Array<{ store: string; m: number; f: number; beforeMs: number; afterMs: number; coldMs: number; warmMs: number; same: boolean; load: string }> =
  [];
if (process.env.BENCH_BASELINE) {
  const { execFileSync } = await import('node:child_process');
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const src = join(import.meta.dirname, '..', 'src');
  const text = execFileSync('git', ['show', `${process.env.BENCH_BASELINE}:src/slo/slo-check.ts`], { encoding: 'utf8' }).replace(
    /from '\.\.\/([^']+)'|from '\.\/([^']+)'/g,
    (_m, up: string | undefined, here: string | undefined) => `from '${join(src, up ?? `slo/${here}`)}'`,
  );
  const dir = join(import.meta.dirname, 'out', 'baseline');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'slo-check.ts');
  writeFileSync(file, text);
  baselineSlo = ((await import(file)) as { runSloCheck: SloRun }).runSloCheck;
}
const influxd = STORES.includes('influx') && findBinary('influxd') !== null;
if (STORES.includes('influx') && !influxd) process.stderr.write('analyzer-bench: influxd not on PATH, InfluxDB rows skipped\n');

for (const [m, f] of GRID) {
  const ref = reference(f);
  const tmpl = templates(f, ref);
  const dir = mkdtempSync(join(tmpdir(), 'dw-analyzer-bench-'));
  try {
    await makeRegistry(dir, m, ref);
    for (const kind of STORES) {
      if (kind === 'influx' && !influxd) continue;
      let server: InfluxServer | null = null;
      let relay: Awaited<ReturnType<typeof byteCounter>> | null = null;
      let store: StatsStore;
      if (kind === 'embedded') store = new EmbeddedStore({ path: join(dir, 'stats.db'), retentionDays: 30, rollupAfterHours: ROLLUP_H });
      else {
        server = await startInfluxd(join(dir, 'influx'), 'bench');
        relay = await byteCounter(server.port);
        const ic = configSchema.parse({
          store: {
            kind: 'influxdb',
            influxdb: {
              apiVersion: 'v1',
              url: `http://127.0.0.1:${relay.port}`,
              database: 'bench',
              spoolDir: join(dir, 'spool'),
              timeoutMs: 120_000,
              maxBufferLines: 2_000_000,
            },
          },
        }).store.influxdb;
        store = createInfluxStore(ic, { now: () => NOW });
      }
      try {
        const t = performance.now();
        const windows = await fill(store, m, tmpl);
        process.stderr.write(`analyzer-bench: ${kind} ${m}x${f}: ${windows} windows written in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
        // The embedded store's maintenance, as the sidecar runs it (rolls minutes past ROLLUP_H into hours).
        if (kind === 'embedded') await store.maintain(NOW);
        const bytesNow = relay ? relay.bytes : () => 0;
        // Each variant gets its own copy of the registry: the staleness check writes its verdict
        // back as tags from its own findings history (the drift failure streak), and the two
        // variants' histories are a cycle apart, so on one registry each undid the other's tags
        // and the measured run paid for those writes (the unexplained ~300 ms of *after*'s
        // staleness in bench/RESULTS.md). One analyzer per model never does that: a steady run
        // writes a tag only when its verdict changes.
        const registryOf = (variant: string) => {
          const root = join(dir, `registry-${kind}-${variant}`);
          cpSync(join(dir, 'registry'), root, { recursive: true });
          return new LocalRegistry(root, { now: () => NOW - 10 * 86_400_000 });
        };
        const apps = {
          before: createAnalyzerApp(analyzerConfig(dir, `${kind}-before`), {
            store,
            registry: registryOf('before'),
            shareWindowReads: false,
            sloCache: false,
            now: () => NOW,
          }),
          after: createAnalyzerApp(analyzerConfig(dir, `${kind}-after`), { store, registry: registryOf('after'), now: () => NOW }),
        };
        // One warm-up cycle each (JIT, SQLite page cache, InfluxDB's caches, the alert state of
        // every finding key created), then the measured ones.
        for (const variant of ['before', 'after'] as const) await cycle(apps[variant], store, variant, bytesNow, false);
        for (const variant of ['before', 'after'] as const) {
          const r = await cycle(apps[variant], store, variant, bytesNow, false);
          if (kind === 'embedded') r.bytes = (await cycle(apps[variant], store, variant, bytesNow, true)).bytes;
          rows.push({ store: kind, m, f, variant, r, load: loadavg()[0]!.toFixed(2) });
          process.stderr.write(
            `analyzer-bench: ${kind} ${m}x${f} ${variant}: ${JSON.stringify({ ...r, ms: Object.fromEntries(Object.entries(r.ms).map(([k, v]) => [k, Math.round(v)])) })}\n`,
          );
        }
        if (baselineSlo) {
          const { createSloCache, runSloCheck } = await import('../src/slo/slo-check.js');
          const sloConfig = analyzerConfig(dir, 'slo').checks.slo;
          const mean = async (run: () => Promise<unknown>) => {
            const t0 = performance.now();
            for (let i = 0; i < 3; i++) await run();
            return (performance.now() - t0) / 3;
          };
          const baseline = () => baselineSlo!({ store }, sloConfig, NOW);
          const uncached = () => runSloCheck({ store }, sloConfig, NOW);
          await mean(baseline);
          await mean(uncached);
          const beforeMs = await mean(baseline);
          const afterMs = await mean(uncached);
          // The cache (slo-check.ts): its first run reads everything (cold); a later one reads the
          // unsettled last hour, each span's first hour and the hours due for their hourly refresh
          // (warm: a run right after one, so none is due). Run every minute, a run costs about
          // warm + cold / 60 (every hour read again once an hour).
          const cache = createSloCache();
          let t0 = performance.now();
          const coldFindings = await runSloCheck({ store, cache }, sloConfig, NOW);
          const coldMs = performance.now() - t0;
          const warmMs = await mean(() => runSloCheck({ store, cache }, sloConfig, NOW));
          t0 = performance.now();
          const warmFindings = await runSloCheck({ store, cache }, sloConfig, NOW);
          const want = JSON.stringify(await baseline());
          const same = JSON.stringify(coldFindings) === want && JSON.stringify(warmFindings) === want;
          sloAB.push({ store: kind, m, f, beforeMs, afterMs, coldMs, warmMs, same, load: loadavg()[0]!.toFixed(2) });
        }
        for (const app of Object.values(apps)) await app.close();
      } finally {
        await store.close();
        await relay?.close();
        await server?.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const mb = (b: number) => fmt(b / 2 ** 20);
const lines = [
  `| store | M x F | variant | drift+dq ms | slo ms | staleness ms | cycle ms | CPU ms | ms per (M x F) | queries | MiB read | peak heap MiB | load |`,
  `| --- | --- | --- | --: | --: | --: | --: | --: | --: | --- | --: | --: | --: |`,
];
for (const { store, m, f, variant, r, load } of rows) {
  const total = Object.values(r.ms).reduce((a, b) => a + b, 0);
  const q = Object.entries(r.calls)
    .sort()
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  lines.push(
    `| ${store} | ${m} x ${f} | ${variant} | ${fmt(r.ms['drift+dq']!)} | ${fmt(r.ms.slo!)} | ${fmt(r.ms.staleness!)} | ${fmt(total)} | ${fmt(r.cpuMs)} | ${(total / (m * f)).toFixed(3)} | ${q} | ${mb(r.bytes)} | ${fmt(r.peakHeapMb)} | ${load} |`,
  );
}
if (sloAB.length) {
  lines.push(
    '',
    `SLO check alone, BENCH_BASELINE=${process.env.BENCH_BASELINE} against this tree without and with its cache of settled hours (ms, mean of 3 runs each; cold: the cache's first run; steady: warm + cold / 60, a run every minute with each hour read again once an hour):`,
    '',
  );
  lines.push(
    '| store | M x F | baseline | this tree, no cache | cold | warm | steady | steady / baseline | findings identical | load |',
    '| --- | --- | --: | --: | --: | --: | --: | --: | --- | --: |',
  );
  for (const r of sloAB) {
    const steady = r.warmMs + r.coldMs / 60;
    lines.push(
      `| ${r.store} | ${r.m} x ${r.f} | ${fmt(r.beforeMs)} | ${fmt(r.afterMs)} | ${fmt(r.coldMs)} | ${fmt(r.warmMs)} | ${fmt(steady)} | ${(steady / r.beforeMs).toFixed(2)} | ${r.same ? 'yes' : 'NO'} | ${r.load} |`,
    );
  }
}
const table = [
  `Stored windows of ${WINDOW_S} s, ${ROWS} rows per minute per model version, ${HISTORY_HOURS} h of history, embedded roll-up after ${ROLLUP_H} h; node ${process.version}.`,
  '',
  ...lines,
].join('\n');
process.stdout.write(`${table}\n`);
if (values.out) {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(values.out, JSON.stringify({ grid: GRID, rows: ROWS, rowsOut: rows, table }, null, 2));
}
