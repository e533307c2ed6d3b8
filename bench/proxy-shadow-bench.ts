/**
 * What the sidecar's shadow (`driftwatch proxy --shadow-upstream`, issue 21) costs the traffic:
 * the proxy (shipped defaults: fast lane, capture on in a worker thread) in front of a trivial
 * upstream, without and with a shadow to a second trivial upstream, loaded in turn by wrk (a
 * separate process) in interleaved rounds:
 *
 *   off     no shadow
 *   shadow  proxy.shadow.upstream on a --sample share of the requests (default 0.1)
 *   dead    the same share to a shadow upstream that refuses connections (a challenger that is down)
 *
 * The two upstreams run in a child process (so their CPU is not the proxies' event loop) and
 * answer a fixed MLflow prediction (a label and probabilities), the challenger a different one.
 *
 *   npx tsx bench/proxy-shadow-bench.ts [--quick] [--rounds 3] [--seconds 6] [--connections 16] [--sample 0.1] [--variants off,shadow,dead] [--out bench/RESULTS.md]
 *
 * --quick: 2 rounds of 3 s (about 25 s in all). With --out it replaces the section between
 * <!-- proxy-shadow-bench:start --> and <!-- proxy-shadow-bench:end --> in that file.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { createProxyApp, type ProxyApp } from '../src/app/proxy-app.js';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/telemetry/logger.js';
import { writeResultsSection } from './results-section.js';

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    connections: { type: 'string' },
    sample: { type: 'string' },
    out: { type: 'string' },
    variants: { type: 'string' },
  },
});
const QUICK = values.quick === true;
const ROUNDS = Number(values.rounds ?? (QUICK ? 2 : 3));
const SECONDS = Number(values.seconds ?? (QUICK ? 3 : 6));
const CONNECTIONS = Number(values.connections ?? 16);
const SAMPLE = Number(values.sample ?? 0.1);
const ROOT = join(import.meta.dirname, '..');

const dir = mkdtempSync(join(tmpdir(), 'dw-proxy-shadow-bench-'));
writeFileSync(
  join(dir, 'body.json'),
  JSON.stringify({ dataframe_split: { columns: ['precipitation', 'temp_max', 'temp_min', 'wind'], data: [[0, 12.8, 5, 4.7]] } }),
);

/** A free port, then released (for the dead shadow: nobody listens there). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

// Two trivial upstreams in a child process: the champion and the challenger, each a fixed answer.
const upstreamScript = `
const http = require('node:http');
const answer = (label, p) => JSON.stringify({ predictions: [{ label, probabilities: p }] });
const bodies = [answer('sun', [0.1, 0.1, 0.1, 0.6, 0.1]), answer('rain', [0.1, 0.6, 0.1, 0.1, 0.1])];
const ports = [];
let up = 0;
bodies.forEach((b, i) => {
  const s = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b), 'x-driftwatch-model-version': String(i + 1) });
      res.end(b);
    });
  });
  s.keepAliveTimeout = 65000;
  s.listen(0, '127.0.0.1', () => { ports[i] = s.address().port; if (++up === 2) process.stdout.write(JSON.stringify(ports) + '\\n'); });
});
`;
const child = spawn(process.execPath, ['-e', upstreamScript], { stdio: ['ignore', 'pipe', 'inherit'] });
const [championPort, challengerPort] = await new Promise<number[]>((resolve, reject) => {
  child.stdout.once('data', (d: Buffer) => resolve(JSON.parse(d.toString())));
  child.once('exit', (code) => reject(new Error(`the upstreams exited (${code})`)));
});
const deadPort = await freePort();

async function proxy(shadow: string | null): Promise<{ app: ProxyApp; url: string }> {
  const config = loadConfig({
    env: {},
    overrides: {
      proxy: {
        port: 0,
        upstream: `http://127.0.0.1:${championPort}`,
        model: 'weather',
        ...(shadow ? { shadow: { upstream: shadow, sample: SAMPLE } } : {}),
      },
      store: { embedded: { path: join(dir, `${shadow ? 'on' : 'off'}-${Math.random().toString(36).slice(2)}.db`) } },
      registry: { root: join(dir, 'registry') },
      admin: { enabled: false },
      log: { level: 'silent' },
    },
  });
  const app = createProxyApp(config, { logger: createLogger({ level: 'silent' }) });
  const { proxy: addr } = await app.start();
  return { app, url: `http://127.0.0.1:${addr.port}/invocations` };
}

interface WrkResult {
  rps: number;
  /** This process's CPU time (the proxy's event loop and its capture worker thread) per request, µs. */
  cpuUsPerReq?: number;
  latency_ms: { p50: number; p99: number };
  non2xx: number;
  errors: Record<string, number>;
}

async function wrk(url: string, seconds: number): Promise<WrkResult> {
  const { stdout } = await run(
    'wrk',
    ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--timeout', '10s', '--latency', '-s', join(ROOT, 'bench', 'post.lua'), url],
    { env: { ...process.env, BENCH_BODY_FILE: join(dir, 'body.json') } },
  );
  const line = stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (!line) throw new Error(`no BENCH_JSON line from wrk:\n${stdout}`);
  return JSON.parse(line.slice('BENCH_JSON '.length)) as WrkResult;
}

const wanted = new Set((values.variants ?? 'off,shadow,dead').split(','));
wanted.add('off'); // the reference of every ratio
const variants: Record<string, Awaited<ReturnType<typeof proxy>>> = {
  off: await proxy(null),
  ...(wanted.has('shadow') ? { shadow: await proxy(`http://127.0.0.1:${challengerPort}`) } : {}),
  ...(wanted.has('dead') ? { dead: await proxy(`http://127.0.0.1:${deadPort}`) } : {}),
};
const names = Object.keys(variants);
const results: Record<string, WrkResult[]> = Object.fromEntries(names.map((n) => [n, []]));
const loadBefore = loadavg();
for (const n of names) await wrk(variants[n]!.url, QUICK ? 1 : 2); // warm-up
for (let r = 0; r < ROUNDS; r++) {
  // Rotate the order each round so no variant always runs first (or right after another).
  const order = names.map((_, i) => names[(i + r) % names.length]!);
  for (const n of order) {
    const cpu0 = process.cpuUsage();
    const res = await wrk(variants[n]!.url, SECONDS);
    const cpu = process.cpuUsage(cpu0);
    res.cpuUsPerReq = (cpu.user + cpu.system) / (res.rps * SECONDS);
    if (res.non2xx || Object.values(res.errors).some((e) => e > 0)) throw new Error(`${n}: wrk saw errors ${JSON.stringify(res)}`);
    results[n]!.push(res);
    process.stderr.write(
      `round ${r + 1} ${n}: ${res.rps.toFixed(0)} req/s, p99 ${res.latency_ms.p99.toFixed(2)} ms, ${res.cpuUsPerReq.toFixed(1)} µs CPU/req\n`,
    );
  }
}
const loadAfter = loadavg();
// Let the last shadow requests and comparisons finish before reading the counts.
await new Promise((r) => setTimeout(r, 500));
const shadowCounts = Object.fromEntries(
  names
    .filter((n) => variants[n]!.app.shadow)
    .map((n) => {
      const s = variants[n]!.app.shadow!.report({ fromMs: 0, toMs: Date.now() + 1 }).models[0]?.shadow;
      const agreement = variants[n]!.app.shadow!.report({ fromMs: 0, toMs: Date.now() + 1 }).models[0]?.comparisons[0]?.agreement ?? null;
      return [n, { ...s, agreement }];
    }),
);
for (const n of names) await variants[n]!.app.close();
child.kill();
rmSync(dir, { recursive: true, force: true });

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const rps = (n: string) => median(results[n]!.map((x) => x.rps));
const p99 = (n: string) => median(results[n]!.map((x) => x.latency_ms.p99));
const cpuPer = (n: string) => median(results[n]!.map((x) => x.cpuUsPerReq!));
let commit = 'unknown';
try {
  commit = (await run('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT })).stdout.trim();
} catch {
  // not a git checkout
}
const lines = [
  `Run ${new Date().toISOString()}${QUICK ? ' (--quick)' : ''}, commit ${commit} (plus the working tree), node ${process.version}, ${cpus().length} CPUs, load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')} before and ${loadAfter.map((x) => x.toFixed(2)).join(' ')} after (the machine is shared).`,
  `wrk -t1 -c${CONNECTIONS}, ${ROUNDS} interleaved rounds of ${SECONDS} s per variant, 1 row per request, shadow sample ${SAMPLE}; medians over the rounds.`,
  '',
  '| variant | req/s | vs off | p99 ms | vs off | proxy CPU µs/req | vs off |',
  '|--|--:|--:|--:|--:|--:|--:|',
  ...names.map(
    (n) =>
      `| ${n} | ${rps(n).toFixed(0)} | ${(rps(n) / rps('off')).toFixed(3)}x | ${p99(n).toFixed(2)} | ${(p99(n) / p99('off')).toFixed(2)}x | ${cpuPer(n).toFixed(1)} | ${(cpuPer(n) / cpuPer('off')).toFixed(2)}x |`,
  ),
  '',
  `Shadow outcomes (all rounds and warm-up): ${Object.entries(shadowCounts)
    .map(([n, c]) => `${n}: ${c.sampled} sampled, ${c.scored} scored, ${c.failed} failed, ${c.dropped} dropped, agreement ${c.agreement ?? 'n/a'}`)
    .join('; ')}.`,
];
const section = lines.join('\n');
console.log(section);
if (values.out)
  writeResultsSection(
    values.out,
    'proxy-shadow-bench',
    section,
    '## Sidecar shadow (issue 21) (`npx tsx bench/proxy-shadow-bench.ts`)',
    "The proxy's throughput and p99 with a shadow to a challenger endpoint on a share of its requests, against the same proxy without one, in the same run.",
  );
