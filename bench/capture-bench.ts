/**
 * What capture costs per proxied request on the analysis side, on one core, without sockets: the
 * steps an event goes through after the proxy has tapped its bodies.
 *
 *   pack   the proxy's JS thread: packBatch (event-columns.ts) plus a structured clone of the
 *          packed metadata, which is what postMessage does with it (the bodies are transferred);
 *   work   the capture worker: unpackEvent + processEvent (extraction, the live traffic summary,
 *          the window profiler with the example's reference profile), as capture-worker.ts runs it;
 *   floor  the baseline in the same run: Buffer -> string -> JSON.parse of both bodies, the least
 *          any extraction of a JSON payload has to do.
 *
 * Events are built from the seattle-weather data set (vega-datasets) in MLflow's dataframe_split
 * format, with answers shaped like the example model's ({"predictions":[{"label","probabilities"}]}),
 * 1 row and 100 rows per request, as in bench/proxy-run.sh. Every figure is the median of ROUNDS
 * rounds of BATCHES batches of 512 events (one warm-up round first), in microseconds per event.
 *
 *   npx tsx bench/capture-bench.ts                     the current sources
 *   BENCH_CAPTURE_ROWS="1"                             rows per request to run (default "1 100")
 *   npx tsx bench/capture-bench.ts dist-before dist    compiled builds side by side (A/B in one
 *                                                      run, rounds interleaved); a DIR is a tsc
 *                                                      output directory holding src/capture/...,
 *                                                      and "src" the current sources (a DIR outside
 *                                                      the repository needs package.json beside it,
 *                                                      or its .js files load as CommonJS)
 *   BENCH_ROUNDS=3 BENCH_BATCHES_PER_ROUND=4           a short run (about 20 s for two builds)
 *   BENCH_CAPTURE_CLOCK=cpu                            process CPU time instead of the wall clock
 *   BENCH_CAPTURE_ANSWER=serve                         answers' floats as driftwatch serve prints them
 *
 * Writes the section between <!-- capture-bench:start --> and <!-- capture-bench:end --> in
 * bench/RESULTS.md (BENCH_CAPTURE_REPORT=0: print only).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { execFileSync } from 'node:child_process';
import { mulberry32 } from '../test/prng.js';
import { formatFloat32 } from '../src/protocol/json-out.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
/**
 * BENCH_CAPTURE_CLOCK=cpu times each step by the process's CPU time (process.cpuUsage: all its
 * threads, GC helpers included) instead of the wall clock: on a machine shared with other work the
 * wall clock also counts the time the process waited for a core.
 */
const CPU_CLOCK = process.env.BENCH_CAPTURE_CLOCK === 'cpu';
/**
 * BENCH_CAPTURE_ANSWER=serve prints the probabilities as driftwatch serve does (the shortest
 * decimal of the float32, protocol/json-out.ts) instead of JSON.stringify's 17 digits of the
 * float64 (what MLflow's Python server writes for a float32 output).
 */
const SERVE_FLOATS = process.env.BENCH_CAPTURE_ANSWER === 'serve';
const clock = (): number => {
  if (!CPU_CLOCK) return performance.now();
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const BATCHES = Number(process.env.BENCH_BATCHES_PER_ROUND ?? 20);
const BATCH = 512;
const ROOT = path.resolve(import.meta.dirname, '..');

interface Impl {
  name: string;
  packBatch: (batch: unknown[]) => { packed: unknown; bodies: ArrayBuffer };
  unpackEvent: (p: unknown, i: number, bodies: ArrayBuffer) => unknown;
  processEvent: (e: unknown, deps: unknown) => void;
  TrafficSummary: new (now: number) => unknown;
  WindowProfiler: new (deps: unknown) => { start(): void; stop(): Promise<void> };
  buildReference: (input: unknown) => unknown;
}

async function load(arg: string | null): Promise<Impl> {
  // "src" among the builds is the current sources (through tsx), beside compiled ones.
  const dir = arg === 'src' ? null : arg;
  const base = dir === null ? path.join(ROOT, 'src') : path.resolve(ROOT, dir, 'src');
  const ext = dir === null ? '.ts' : '.js';
  const mod = (p: string) => import(pathToFileURL(path.join(base, p + ext)).href);
  const [cols, pe, ts, wp, ref] = await Promise.all([
    mod('capture/event-columns'),
    mod('capture/process-event'),
    mod('capture/traffic-summary'),
    mod('capture/window-profiler'),
    mod('stats/reference'),
  ]);
  return {
    name: dir ?? 'src',
    packBatch: cols.packBatch,
    unpackEvent: cols.unpackEvent,
    processEvent: pe.processEvent,
    TrafficSummary: ts.TrafficSummary,
    WindowProfiler: wp.WindowProfiler,
    buildReference: ref.buildReference,
  };
}

// ---------------------------------------------------------------- the events

// The package exports only its JS entry, so the CSV is found next to its package.json.
const csvPath = path.join(ROOT, 'node_modules/vega-datasets/data/seattle-weather.csv');
const lines = readFileSync(csvPath, 'utf8').trim().split('\n').slice(1);
const COLUMNS = ['precipitation', 'temp_max', 'temp_min', 'wind'];
const LABELS = ['drizzle', 'rain', 'sun', 'snow', 'fog'];
const data = lines.map((l) => {
  const f = l.split(',');
  return { x: [Number(f[1]), Number(f[2]), Number(f[3]), Number(f[4])], weather: f[5]! };
});

function bodies(rows: number, at: number, rnd: () => number): { req: Buffer; res: Buffer } {
  const picked = Array.from({ length: rows }, (_, i) => data[(at + i) % data.length]!);
  const req = JSON.stringify({ dataframe_split: { columns: COLUMNS, data: picked.map((r) => r.x) } });
  const predictions = picked.map(() => {
    const p = LABELS.map(() => rnd());
    const s = p.reduce((a, b) => a + b, 0);
    const probabilities = p.map((v) => Math.fround(v / s));
    return { label: LABELS[probabilities.indexOf(Math.max(...probabilities))], probabilities };
  });
  if (!SERVE_FLOATS) return { req: Buffer.from(req), res: Buffer.from(JSON.stringify({ predictions })) };
  const res = predictions.map((p) => `{"label":${JSON.stringify(p.label)},"probabilities":[${p.probabilities.map(formatFloat32).join(',')}]}`);
  return { req: Buffer.from(req), res: Buffer.from(`{"predictions":[${res.join(',')}]}`) };
}

function events(rows: number, n: number, seed: number): unknown[] {
  const rnd = mulberry32(seed);
  const t0 = Date.UTC(2026, 11, 1);
  return Array.from({ length: n }, (_, i) => {
    const b = bodies(rows, i * rows, rnd);
    return {
      requestId: `0a1b2c3d-4e5f-6071-8293-${i.toString(16).padStart(12, '0')}`,
      startedAtMs: t0 + i,
      method: 'POST',
      path: '/invocations',
      model: 'seattle-weather',
      // What the example server names in x-driftwatch-model-version, which the proxy records.
      version: '1',
      route: 'invocations',
      status: 200,
      upstreamMs: 0.4 + rnd(),
      totalMs: 0.5 + rnd(),
      requestBytes: b.req.length,
      responseBytes: b.res.length,
      request: { bytes: b.req, contentType: 'application/json', contentEncoding: 'identity' },
      response: { bytes: b.res, contentType: 'application/json', contentEncoding: 'identity' },
      skipped: null,
    };
  });
}

// ---------------------------------------------------------------- one implementation's pipeline

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const stats = {
  windowSeconds: 60,
  flushIntervalMs: 3_600_000,
  sketchK: 200,
  maxCategories: 100,
  maxFeatures: 512,
  latencySloMs: [],
  referenceSketchK: 2048,
  referenceBins: 10,
};

function pipeline(impl: Impl) {
  const reference = impl.buildReference({
    model: 'seattle-weather',
    version: '1',
    source: 'bench',
    createdAtMs: 0,
    rows: data.map((r) => Object.fromEntries(COLUMNS.map((c, j) => [c, r.x[j]]))),
    predictions: data.map((r) => ({ label: r.weather })),
    bins: 10,
    sketchK: 2048,
    maxCategories: 100,
  });
  const summary = new impl.TrafficSummary(Date.now());
  const profiler = new impl.WindowProfiler({
    config: stats,
    store: { writeWindows: async () => undefined, describe: () => 'bench' },
    logger: silent,
    referenceFor: () => reference,
  });
  const deps = {
    summary,
    profiler,
    extract: { maxDecompressedBytes: 20 * 1024 * 1024 },
    columnsFor: () => COLUMNS,
    defaultVersion: '1',
    logger: silent,
    counts: { unparseable: () => undefined, rows: () => undefined },
  };
  return { deps, profiler };
}

interface Sample {
  pack: number;
  work: number;
  floor: number;
}

/** One round: BATCHES batches through pack, work and floor; microseconds per event of each. */
function round(impl: Impl, deps: unknown, batch: unknown[]): Sample {
  let pack = 0;
  let work = 0;
  let floor = 0;
  let sink = 0;
  for (let b = 0; b < BATCHES; b++) {
    let t = clock();
    const { packed, bodies: buf } = impl.packBatch(batch);
    const cloned = structuredClone(packed);
    pack += clock() - t;
    t = clock();
    const n = (cloned as { n: number }).n;
    for (let i = 0; i < n; i++) impl.processEvent(impl.unpackEvent(cloned, i, buf), deps);
    work += clock() - t;
    t = clock();
    for (const e of batch as Array<{ request: { bytes: Buffer }; response: { bytes: Buffer } }>) {
      sink += (JSON.parse(e.request.bytes.toString('utf8')) === null ? 1 : 0) + (JSON.parse(e.response.bytes.toString('utf8')) === null ? 1 : 0);
    }
    floor += clock() - t;
  }
  if (sink !== 0) throw new Error('unreachable');
  const per = 1000 / (BATCHES * batch.length);
  return { pack: pack * per, work: work * per, floor: floor * per };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main(): Promise<void> {
  const dirs = process.argv.slice(2);
  const impls = await Promise.all((dirs.length ? dirs : [null]).map(load));
  const lines: string[] = [];
  const out = (s: string) => {
    console.log(s);
    lines.push(s);
  };
  const rev = (() => {
    try {
      return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    } catch {
      return '?';
    }
  })();
  out(
    `Run ${new Date().toISOString()}, commit ${rev}, node ${process.version}; ${ROUNDS} rounds of ${BATCHES} x ${BATCH} events, medians, us per event${CPU_CLOCK ? ' (process CPU time)' : ''}.`,
  );
  out('');
  out('| build | rows/request | pack (proxy thread) | work (capture worker) | floor: JSON.parse both bodies | work / floor |');
  out('|--|--:|--:|--:|--:|--:|');
  const results: Record<string, Record<number, { pack: number; work: number; floor: number }>> = {};
  const rowCounts = (process.env.BENCH_CAPTURE_ROWS ?? '1 100').split(/\s+/).filter(Boolean).map(Number);
  for (const rows of rowCounts) {
    const batch = events(rows, BATCH, 42 + rows);
    const pipes = impls.map((impl) => ({ impl, ...pipeline(impl) }));
    const samples = impls.map(() => [] as Sample[]);
    for (const p of pipes) round(p.impl, p.deps, batch); // warm-up: JIT and the window's columns
    for (let r = 0; r < ROUNDS; r++) {
      // Interleaved so that the machine's drift hits every build alike.
      pipes.forEach((p, k) => samples[k]!.push(round(p.impl, p.deps, batch)));
      process.stderr.write(`[capture-bench] ${rows} row(s): round ${r + 1}/${ROUNDS}\n`);
    }
    for (const p of pipes) await p.profiler.stop();
    impls.forEach((impl, k) => {
      const s = samples[k]!;
      const m = { pack: median(s.map((x) => x.pack)), work: median(s.map((x) => x.work)), floor: median(s.map((x) => x.floor)) };
      (results[impl.name] ??= {})[rows] = m;
      out(`| ${impl.name} | ${rows} | ${m.pack.toFixed(2)} | ${m.work.toFixed(2)} | ${m.floor.toFixed(2)} | ${(m.work / m.floor).toFixed(2)}x |`);
    });
  }
  if (impls.length > 1) {
    const a = impls[0]!.name;
    out('');
    for (const impl of impls.slice(1)) {
      for (const rows of rowCounts) {
        const x = results[a]![rows]!;
        const y = results[impl.name]![rows]!;
        out(
          `- ${rows} row(s): ${impl.name} against ${a}: pack ${(y.pack / x.pack).toFixed(2)}x, work ${(y.work / x.work).toFixed(2)}x (each against its own floor: ${(x.work / x.floor).toFixed(2)}x -> ${(y.work / y.floor).toFixed(2)}x)`,
        );
      }
    }
  }
  if (process.env.BENCH_CAPTURE_REPORT === '0') return;
  const file = path.join(ROOT, 'bench/RESULTS.md');
  const md = readFileSync(file, 'utf8');
  const start = '<!-- capture-bench:start -->';
  const end = '<!-- capture-bench:end -->';
  const section = `${start}\n${lines.join('\n')}\n${end}`;
  const i = md.indexOf(start);
  const j = md.indexOf(end);
  writeFileSync(
    file,
    i >= 0 && j > i
      ? md.slice(0, i) + section + md.slice(j + end.length)
      : `${md.trimEnd()}\n\n## Capture analysis cost (bench/capture-bench.ts)\n\n${section}\n`,
  );
  console.error(`[capture-bench] wrote ${path.relative(ROOT, file)}`);
}

await main();
