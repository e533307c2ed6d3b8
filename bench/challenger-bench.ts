/**
 * What shadowing a challenger costs the champion: the example model served three ways in one
 * process, loaded in turn by wrk (a separate process) with rounds interleaved so drift in the
 * machine's load hits all alike:
 *
 *   off     no challenger (the hot path pays one null check per request)
 *   shadow  a challenger (the example with one bias changed: the same cost per inference) on a
 *           --sample share of requests (default 0.1)
 *   failing a challenger that fails on every request it is given (its signature wants a column the
 *           requests lack), on the same share
 *
 *   npx tsx bench/challenger-bench.ts [--rounds 5] [--seconds 8] [--connections 16] [--rows 1] [--sample 0.1] [--baseline DIR] [--out bench/RESULTS.md]
 *
 * --baseline DIR adds `baseline`: the same server from another tree (e.g. the commit before the
 * shadow existed: `git archive HEAD src | tar -x -C DIR` plus a node_modules link), to show
 * what the shadow hook costs a server with no challenger.
 *
 * Reports each variant's median throughput and p99 over the rounds and the ratio to `off` (the
 * issue's goal: >= 0.9x at a 10% sample). With --out it replaces the section between
 * <!-- challenger-bench:start --> and <!-- challenger-bench:end --> in that file.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { toOnnx } from '../examples/seattle-weather/build-model.js';
import { createServeApp, type ServeApp } from '../src/app/serve-app.js';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/telemetry/logger.js';
import { writeResultsSection } from './results-section.js';

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    connections: { type: 'string' },
    rows: { type: 'string' },
    sample: { type: 'string' },
    out: { type: 'string' },
    baseline: { type: 'string' },
  },
});
const ROUNDS = Number(values.rounds ?? 5);
const SECONDS = Number(values.seconds ?? 8);
const CONNECTIONS = Number(values.connections ?? 16);
const ROWS = Number(values.rows ?? 1);
const SAMPLE = Number(values.sample ?? 0.1);
const ROOT = join(import.meta.dirname, '..');
const EXAMPLE = join(ROOT, 'examples', 'seattle-weather', 'model');

const dir = mkdtempSync(join(tmpdir(), 'dw-challenger-bench-'));
// The challenger: the example with the "sun" bias raised (same graph, same cost per row).
const weights = JSON.parse(readFileSync(join(ROOT, 'examples', 'seattle-weather', 'weights.json'), 'utf8'));
weights.bias[weights.classes.indexOf('sun')] += 1;
cpSync(EXAMPLE, join(dir, 'variant'), { recursive: true });
writeFileSync(join(dir, 'variant', 'model.onnx'), toOnnx({ ...weights, trainAccuracy: 0 }));
// The failing challenger: a signature the requests cannot satisfy.
cpSync(EXAMPLE, join(dir, 'failing'), { recursive: true });
writeFileSync(join(dir, 'failing', 'MLmodel'), readFileSync(join(dir, 'failing', 'MLmodel'), 'utf8').replace('"name":"wind"', '"name":"humidity"'));
const ex = JSON.parse(readFileSync(join(dir, 'failing', 'input_example.json'), 'utf8'));
ex.columns = ex.columns.map((c: string) => (c === 'wind' ? 'humidity' : c));
writeFileSync(join(dir, 'failing', 'input_example.json'), JSON.stringify(ex));

const rows = JSON.parse(readFileSync(join(EXAMPLE, 'input_example.json'), 'utf8')).data as number[][];
const data = Array.from({ length: ROWS }, (_, i) => rows[i % rows.length]);
writeFileSync(join(dir, 'body.json'), JSON.stringify({ dataframe_split: { columns: ['precipitation', 'temp_max', 'temp_min', 'wind'], data } }));

type Loader = typeof loadConfig;
type Creator = typeof createServeApp;

async function serve(
  challenger: string | null,
  from?: { load: Loader; create: Creator },
): Promise<{ app: Pick<ServeApp, 'close'> & Partial<ServeApp>; url: string }> {
  const config = (from?.load ?? loadConfig)({
    env: {},
    overrides: {
      serve: { port: 0, models: [{ uri: EXAMPLE, name: 'weather', ...(challenger ? { challenger, shadowSample: SAMPLE } : {}) }] },
      registry: { root: join(dir, 'registry') },
      admin: { enabled: false },
      log: { level: 'silent' },
    },
  });
  const app = (from?.create ?? createServeApp)(config, { logger: createLogger({ level: 'silent' }) });
  const { scoring } = await app.start();
  return { app, url: `http://127.0.0.1:${scoring.port}/invocations` };
}

interface WrkResult {
  rps: number;
  latency_ms: { p50: number; p99: number };
  non2xx: number;
  errors: Record<string, number>;
}

async function wrk(url: string, seconds: number): Promise<WrkResult> {
  const { stdout } = await run(
    'wrk',
    ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--timeout', '10s', '--latency', '-s', join(ROOT, 'bench', 'post.lua'), url],
    {
      env: { ...process.env, BENCH_BODY_FILE: join(dir, 'body.json') },
    },
  );
  const line = stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (!line) throw new Error(`no BENCH_JSON line from wrk:\n${stdout}`);
  return JSON.parse(line.slice('BENCH_JSON '.length)) as WrkResult;
}

const variants: Record<string, Awaited<ReturnType<typeof serve>>> = {
  off: await serve(null),
  shadow: await serve(join(dir, 'variant')),
  failing: await serve(join(dir, 'failing')),
};
if (values.baseline) {
  const load = (await import(join(values.baseline, 'src', 'config', 'load.ts'))).loadConfig as Loader;
  const create = (await import(join(values.baseline, 'src', 'app', 'serve-app.ts'))).createServeApp as Creator;
  variants.baseline = await serve(null, { load, create });
}
const names = Object.keys(variants);
const results: Record<string, WrkResult[]> = Object.fromEntries(names.map((n) => [n, []]));
const loadBefore = loadavg();
for (const n of names) await wrk(variants[n]!.url, 2); // warm-up
for (let r = 0; r < ROUNDS; r++) {
  // Rotate the order each round so no variant always runs first (or right after another).
  const order = names.map((_, i) => names[(i + r) % names.length]!);
  for (const n of order) {
    const res = await wrk(variants[n]!.url, SECONDS);
    if (res.non2xx || Object.values(res.errors).some((e) => e > 0)) throw new Error(`${n}: wrk saw errors ${JSON.stringify(res)}`);
    results[n]!.push(res);
    process.stderr.write(`round ${r + 1} ${n}: ${res.rps.toFixed(0)} req/s, p99 ${res.latency_ms.p99.toFixed(2)} ms\n`);
  }
}
const loadAfter = loadavg();
const shadowCounts = Object.fromEntries(
  names.filter((n) => n === 'shadow' || n === 'failing').map((n) => [n, { ...[...variants[n]!.app.shadows!.values()][0]!.counts }]),
);
for (const n of names) await variants[n]!.app.close();
rmSync(dir, { recursive: true, force: true });

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const rps = (n: string) => median(results[n]!.map((x) => x.rps));
const p99 = (n: string) => median(results[n]!.map((x) => x.latency_ms.p99));
let commit = 'unknown';
try {
  commit = (await run('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT })).stdout.trim();
} catch {
  // not a git checkout
}
const lines = [
  `Run ${new Date().toISOString()}, commit ${commit} (plus the working tree), node ${process.version}, ${cpus().length} CPUs, load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')} before and ${loadAfter.map((x) => x.toFixed(2)).join(' ')} after (the machine is shared).`,
  `wrk -t1 -c${CONNECTIONS}, ${ROUNDS} interleaved rounds of ${SECONDS} s per variant, ${ROWS} row(s) per request, shadow sample ${SAMPLE}; medians over the rounds.`,
  '',
  '| variant | req/s | vs off | p99 ms | vs off |',
  '|--|--:|--:|--:|--:|',
  ...names.map((n) => `| ${n} | ${rps(n).toFixed(0)} | ${(rps(n) / rps('off')).toFixed(3)}x | ${p99(n).toFixed(2)} | ${(p99(n) / p99('off')).toFixed(2)}x |`),
  '',
  `Shadow outcomes (all rounds and warm-up): ${Object.entries(shadowCounts)
    .map(([n, c]) => `${n}: ${c.sampled} sampled, ${c.scored} scored, ${c.failed} failed, ${c.dropped} dropped`)
    .join('; ')}.`,
];
const section = lines.join('\n');
console.log(section);
if (values.out)
  writeResultsSection(
    values.out,
    'challenger-bench',
    section,
    '## Challenger shadow cost (`npx tsx bench/challenger-bench.ts`)',
    "The champion's throughput and p99 with a challenger shadowing a share of its requests, against the same server without one, in the same run (issue 21).",
  );
