/**
 * What the sidecar's shadow (`driftwatch proxy --shadow-upstream`, issue 21) costs the traffic:
 * the proxy (shipped defaults: fast lane, capture on in a worker thread) in front of a trivial
 * upstream, without and with a shadow to a second trivial upstream, loaded in turn by wrk (a
 * separate process) in interleaved rounds:
 *
 *   off     no shadow
 *   shadow  proxy.shadow.upstream on a --sample share of the requests (default 0.1)
 *   dead    the same share to a shadow upstream that refuses connections (a challenger that is down)
 *   control a second proxy without a shadow (an A/A check: how far two identical proxies differ
 *           in one run on this box, the noise floor of every ratio)
 *
 * The two upstreams run in child processes of their own (so their CPU is not the proxies' event
 * loop, and the challenger's requests do not queue on the champion's loop, as they would not in a
 * deployment) and answer a fixed MLflow prediction (a label and probabilities), the challenger a
 * different one.
 *
 * CPU per request is measured two ways: the whole process (the proxies' event loop and their
 * capture worker threads, where the shadow's comparison runs), and the event loop's thread alone
 * (Linux: /proc/self/task/<pid>/stat, 10 ms ticks), which is what the champion's requests wait on.
 *
 *   npx tsx bench/proxy-shadow-bench.ts [--quick] [--rounds 8] [--seconds 3] [--connections 16] [--sample 0.1] [--variants off,control,shadow,dead] [--challenger raw|node] [--out bench/RESULTS.md]
 *
 * Many short rounds rather than a few long ones: each round's ratio to off in the same round is
 * what the table's "vs off" takes the median of, and the box's load drifts over seconds.
 * Defaults: about 110 s. --quick: 3 rounds of 2 s (about 35 s). With --out it replaces the section between
 * <!-- proxy-shadow-bench:start --> and <!-- proxy-shadow-bench:end --> in that file.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    challenger: { type: 'string' },
  },
});
const QUICK = values.quick === true;
const ROUNDS = Number(values.rounds ?? (QUICK ? 3 : 8));
const SECONDS = Number(values.seconds ?? (QUICK ? 2 : 3));
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

// Two trivial upstreams, each in a child process of its own: the champion (UPSTREAM=0) and the
// challenger (UPSTREAM=1), each a fixed answer. The champion is a node:http server. The challenger
// is, by default (--challenger raw), a raw-socket responder (one read, one write per request): on
// this 2-core box every process shares the cores, and a challenger endpoint is another machine in a
// deployment, so its own serving cost is kept as small as possible rather than charged to the
// champion's throughput; --challenger node makes it a node:http server like the champion.
const upstreamScript = `
const http = require('node:http');
const net = require('node:net');
const i = Number(process.env.UPSTREAM);
const answer = (label, p) => JSON.stringify({ predictions: [{ label, probabilities: p }] });
const b = [answer('sun', [0.1, 0.1, 0.1, 0.6, 0.1]), answer('rain', [0.1, 0.6, 0.1, 0.1, 0.1])][i];
const ready = (s) => s.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify(s.address().port) + '\\n'));
if (process.env.RAW === '1') {
  const out = Buffer.from('HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\ncontent-length: ' + Buffer.byteLength(b) + '\\r\\nx-driftwatch-model-version: ' + (i + 1) + '\\r\\n\\r\\n' + b);
  ready(net.createServer((sock) => {
    let pending = Buffer.alloc(0);
    sock.on('data', (chunk) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      for (;;) {
        const end = pending.indexOf('\\r\\n\\r\\n');
        if (end < 0) return;
        const m = /content-length: *(\\d+)/i.exec(pending.toString('latin1', 0, end));
        const total = end + 4 + (m ? Number(m[1]) : 0);
        if (pending.length < total) return;
        pending = pending.subarray(total);
        sock.write(out);
      }
    });
    sock.on('error', () => sock.destroy());
  }));
} else {
  const s = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b), 'x-driftwatch-model-version': String(i + 1) });
      res.end(b);
    });
  });
  s.keepAliveTimeout = 65000;
  ready(s);
}
`;
const RAW_CHALLENGER = (values.challenger ?? 'raw') === 'raw';
const children = [0, 1].map((i) =>
  spawn(process.execPath, ['-e', upstreamScript], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, UPSTREAM: String(i), RAW: i === 1 && RAW_CHALLENGER ? '1' : '0' },
  }),
);
const [championPort, challengerPort] = await Promise.all(
  children.map(
    (child) =>
      new Promise<number>((resolve, reject) => {
        child.stdout.once('data', (d: Buffer) => resolve(JSON.parse(d.toString())));
        child.once('exit', (code) => reject(new Error(`an upstream exited (${code})`)));
      }),
  ),
);
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

/** The main (event-loop) thread's CPU time in µs, from /proc (null where there is none). */
const TICK_US = 10_000; // USER_HZ is 100 on Linux
function mainThreadCpuUs(): number | null {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) start at ") "; utime and stime are fields 14 and 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_US;
  } catch {
    return null;
  }
}

interface WrkResult {
  rps: number;
  /** This process's CPU time (the proxy's event loop and its capture worker thread) per request, µs. */
  cpuUsPerReq?: number;
  /** The event loop's thread alone, µs per request (null without /proc). */
  loopUsPerReq?: number | null;
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

const wanted = new Set((values.variants ?? 'off,control,shadow,dead').split(','));
wanted.add('off'); // the reference of every ratio
const variants: Record<string, Awaited<ReturnType<typeof proxy>>> = {
  off: await proxy(null),
  ...(wanted.has('control') ? { control: await proxy(null) } : {}),
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
    const loop0 = mainThreadCpuUs();
    const res = await wrk(variants[n]!.url, SECONDS);
    const cpu = process.cpuUsage(cpu0);
    const loop1 = mainThreadCpuUs();
    res.cpuUsPerReq = (cpu.user + cpu.system) / (res.rps * SECONDS);
    res.loopUsPerReq = loop0 === null || loop1 === null ? null : (loop1 - loop0) / (res.rps * SECONDS);
    if (res.non2xx || Object.values(res.errors).some((e) => e > 0)) throw new Error(`${n}: wrk saw errors ${JSON.stringify(res)}`);
    results[n]!.push(res);
    process.stderr.write(
      `round ${r + 1} ${n}: ${res.rps.toFixed(0)} req/s, p99 ${res.latency_ms.p99.toFixed(2)} ms, ${res.cpuUsPerReq.toFixed(1)} µs CPU/req (loop ${res.loopUsPerReq?.toFixed(1) ?? 'n/a'}), load ${loadavg()[0]!.toFixed(2)}\n`,
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
for (const child of children) child.kill();
rmSync(dir, { recursive: true, force: true });

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const rps = (n: string) => median(results[n]!.map((x) => x.rps));
const p99 = (n: string) => median(results[n]!.map((x) => x.latency_ms.p99));
const cpuPer = (n: string) => median(results[n]!.map((x) => x.cpuUsPerReq!));
const loopPer = (n: string) => (results[n]!.every((x) => x.loopUsPerReq != null) ? median(results[n]!.map((x) => x.loopUsPerReq!)) : null);
/** The median over rounds of a variant's value over off's in the same round (rounds are adjacent in time: drift on the box cancels better than in a ratio of medians). */
const paired = (n: string, f: (x: WrkResult) => number | null | undefined): string => {
  const xs = results[n]!.map((x, r) => {
    const a = f(x);
    const b = f(results.off![r]!);
    return a == null || b == null ? null : a / b;
  });
  return xs.some((x) => x === null) ? 'n/a' : `${median(xs as number[]).toFixed(3)}x`;
};
const spread = (n: string) => {
  const xs = results[n]!.map((x) => x.rps);
  return `${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)}`;
};
let commit = 'unknown';
try {
  commit = (await run('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT })).stdout.trim();
} catch {
  // not a git checkout
}
const lines = [
  `Run ${new Date().toISOString()}${QUICK ? ' (--quick)' : ''}, commit ${commit} (plus the working tree), node ${process.version}, ${cpus().length} CPUs, load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')} before and ${loadAfter.map((x) => x.toFixed(2)).join(' ')} after (the machine is shared).`,
  `wrk -t1 -c${CONNECTIONS}, ${ROUNDS} interleaved rounds of ${SECONDS} s per variant, 1 row per request, shadow sample ${SAMPLE}, challenger endpoint ${RAW_CHALLENGER ? 'a raw-socket responder' : 'a node:http server'}; values are medians over the rounds, "vs off" the median of each round's ratio to off in the same round.`,
  '',
  '| variant | req/s | (rounds) | vs off | p99 ms | vs off | process CPU µs/req | vs off | event-loop thread µs/req | vs off |',
  '|--|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ...names.map((n) => {
    const loop = loopPer(n);
    const loopOff = loopPer('off');
    return `| ${n} | ${rps(n).toFixed(0)} | ${spread(n)} | ${paired(n, (x) => x.rps)} | ${p99(n).toFixed(2)} | ${paired(n, (x) => x.latency_ms.p99)} | ${cpuPer(n).toFixed(1)} | ${paired(n, (x) => x.cpuUsPerReq)} | ${loop === null ? 'n/a' : loop.toFixed(1)} | ${loopOff === null ? 'n/a' : paired(n, (x) => x.loopUsPerReq)} |`;
  }),
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
