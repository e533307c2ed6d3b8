/**
 * `driftwatch proxy --workers 2` as a user runs it (issue 22): the CLI in a real child process, two
 * node:cluster workers sharing the proxy port, one admin port. A representative subset of the
 * single-process proxy's tests (test/integration/proxy.test.ts, proxy-http1.test.ts) run against
 * the group: byte-exact relay of bodies and headers, chunked both ways, keep-alive, upstream
 * failures as 502/504 JSON; then what only a group has: capture from both workers lands in the one
 * store with counts that add up exactly, /metrics on the one admin port is the sum over both, and
 * SIGTERM drains (new connections refused, every in-flight request answered, capture flushed).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EmbeddedStore } from '../../src/store/embedded.js';
import { RawConn } from '../fixtures/raw-http.js';
import { ROOT, tempDir } from '../helpers.js';
import { answerRelayRoute } from '../fixtures/relay-routes.js';

const tmp = tempDir('dw-proxy-workers-');
const CLI = [process.execPath, '--import', import.meta.resolve('tsx'), join(ROOT, 'src', 'cli', 'main.ts')];
const STORE = join(tmp.dir, 'stats.db');
const binary = randomBytes(1024 * 1024 + 7);
const FEATURES = ['precipitation', 'temp_max', 'temp_min', 'wind'];

// ---------------------------------------------------------------- the upstream
let upstream: http.Server;
let upstreamPort = 0;
const upstreamSockets = new Set<net.Socket>();
let seen: Array<{ url: string; headers: http.IncomingHttpHeaders }> = [];
/** Answers of /hold waiting to be finished: headers sent, body held until the test releases them. */
const held: http.ServerResponse[] = [];

function startUpstream(): Promise<void> {
  upstream = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    const body: Buffer[] = [];
    req.on('data', (c) => body.push(c));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0]!;
      if (answerRelayRoute(path, req, Buffer.concat(body), res, binary)) return;
      switch (path) {
        case '/slow':
          return; // never answers: the proxy's upstream timeout (500 ms here) answers 504
        case '/hold':
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.flushHeaders();
          held.push(res);
          return;
        case '/invocations':
          res.writeHead(200, { 'content-type': 'application/json', 'x-driftwatch-model-version': '7' });
          res.end(JSON.stringify({ predictions: JSON.parse(Buffer.concat(body).toString()).dataframe_split.data.map(() => 'sun') }));
          return;
        default:
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end('{"error":"nope"}');
      }
    });
  });
  // Idle upstream connections stay open for the whole test: which worker holds them is evidence.
  upstream.keepAliveTimeout = 120_000;
  upstream.on('connection', (s) => {
    upstreamSockets.add(s);
    s.once('close', () => upstreamSockets.delete(s));
  });
  return new Promise((r) =>
    upstream.listen(0, '127.0.0.1', () => {
      upstreamPort = (upstream.address() as AddressInfo).port;
      r();
    }),
  );
}

// ---------------------------------------------------------------- the proxy group
interface Group {
  proc: ChildProcess;
  url: string;
  port: number;
  admin: string;
  stderr: () => string;
}

const ENV = {
  DRIFTWATCH_ADMIN_PORT: '0',
  DRIFTWATCH_LOG_LEVEL: 'info',
  DRIFTWATCH_REGISTRY_ROOT: join(tmp.dir, 'reg'),
  DRIFTWATCH_STORE_EMBEDDED_PATH: STORE,
  DRIFTWATCH_PROXY_UPSTREAM_TIMEOUT_MS: '500',
  DRIFTWATCH_PROXY_UPSTREAM_IDLE_MS: '120000',
  // Nothing is written to the store before SIGTERM: the store's contents afterwards are what the
  // workers' drains flushed.
  DRIFTWATCH_STATS_FLUSH_INTERVAL_MS: '600000',
};

async function launch(upstreamUrl: string, env: Record<string, string> = {}): Promise<Group> {
  const proc = spawn(CLI[0]!, [...CLI.slice(1), 'proxy', '--upstream', upstreamUrl, '--port', '0', '--model', 'weather', '--workers', '2'], {
    cwd: tmp.dir,
    env: { ...process.env, ...ENV, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const listening = () => (err.match(/"msg":"proxy listening"/g) ?? []).length;
  for (let i = 0; i < 1200 && !(listening() === 2 && /cluster primary started/.test(err)); i++) {
    if (proc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(listening(), 2, err);
  const url = /"msg":"proxy listening"[^\n]*?"url":"(http:[^"]+)"/.exec(err)?.[1];
  const admin = /"msg":"cluster primary started".*"admin":"(http:[^"]+)"/.exec(err)?.[1];
  assert.ok(url && admin, err);
  // Port 0: both workers share the one port the primary's handle got.
  const ports = [...err.matchAll(/"msg":"proxy listening"[^\n]*?"url":"http:\/\/127\.0\.0\.1:(\d+)"/g)].map((m) => m[1]);
  assert.equal(new Set(ports).size, 1, err);
  // Ready (/healthz 200) once every worker is: the group answers for all of them.
  let health = 0;
  for (let i = 0; i < 100 && health !== 200; i++) {
    health = (await fetch(`${admin}/healthz`)).status;
    if (health !== 200) await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(health, 200, err);
  return { proc, url, port: Number(new URL(url).port), admin, stderr: () => err };
}

const exited = (p: ChildProcess) => new Promise<number | null>((r) => (p.exitCode !== null ? r(p.exitCode) : p.once('exit', (c) => r(c))));

interface Raw {
  status: number;
  statusMessage: string;
  headers: Record<string, string | string[]>;
  sha: string;
  body: Buffer;
}

/** One exchange on a fresh connection (agent: false), so the group's round-robin spreads them. */
function raw(
  base: string,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: Buffer | string; chunks?: Buffer[]; timeoutMs?: number } = {},
): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = http.request(base + path, { method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        const body = Buffer.concat(parts);
        resolve({
          status: res.statusCode!,
          statusMessage: res.statusMessage!,
          headers: res.headers as Record<string, string | string[]>,
          sha: createHash('sha256').update(body).digest('hex'),
          body,
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.timeoutMs) req.setTimeout(opts.timeoutMs, () => req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)));
    if (opts.chunks) {
      // No Content-Length: node sends the body chunk-encoded, one chunk per write.
      for (const c of opts.chunks) req.write(c);
      req.end();
    } else req.end(opts.body);
  });
}

const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'date', 'x-request-id']);
const endToEnd = (h: Record<string, unknown>) => Object.fromEntries(Object.entries(h).filter(([k]) => !HOP.has(k)));

/** The cluster workers: the children of the primary that run the CLI (tsx adds an esbuild child). */
function workersOf(pid: number): number[] {
  return execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(pid)], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(join('src', 'cli', 'main.ts')))
    .map((l) => Number.parseInt(l.trim(), 10));
}

/**
 * The processes among `pids` that hold a TCP connection to the upstream port: each socket's
 * inode from /proc/PID/fd, matched against the remote port in /proc/net/tcp{,6} (Linux).
 */
function holdingUpstream(pids: number[], port: number): number[] {
  const inodes = new Set<string>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(f, 'utf8').trim().split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (Number.parseInt(cols[2]!.split(':')[1]!, 16) === port) inodes.add(cols[9]!);
    }
  }
  return pids.filter((pid) =>
    readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return inodes.has(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? '');
      } catch {
        return false; // an fd closed while looking
      }
    }),
  );
}

const metricValue = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
};

let g: Group;
/** Prediction requests sent through the group and the feature rows they carried. */
let predictions = 0;
let rowsSent = 0;
let stopped = false;

before(async () => {
  await startUpstream();
  g = await launch(`http://127.0.0.1:${upstreamPort}`);
});
after(async () => {
  if (!stopped && g?.proc.exitCode === null) {
    g.proc.kill('SIGKILL');
    await exited(g.proc);
  }
  for (const s of upstreamSockets) s.destroy();
  await new Promise((r) => upstream.close(r));
  tmp.cleanup();
});

describe('proxy --workers 2: the single-process proxy tests against the group', () => {
  for (const [path, method] of [
    ['/chunked', 'GET'],
    ['/gzip', 'GET'],
    ['/binary', 'GET'],
    ['/teapot', 'GET'],
    ['/missing', 'GET'],
    ['/binary', 'HEAD'],
  ] as const) {
    test(`${method} ${path}: status, end-to-end headers and body equal the direct answer, on fresh connections to both workers`, async () => {
      const direct = await raw(`http://127.0.0.1:${upstreamPort}`, path, { method });
      for (let i = 0; i < 4; i++) {
        const proxied = await raw(g.url, path, { method });
        assert.equal(proxied.status, direct.status);
        assert.equal(proxied.statusMessage, direct.statusMessage);
        assert.deepEqual(endToEnd(proxied.headers), endToEnd(direct.headers));
        assert.equal(proxied.sha, direct.sha);
        assert.match(String(proxied.headers['x-request-id']), /^[0-9a-f-]{36}$/);
      }
    });
  }

  test('request bodies reach the upstream unchanged: fixed-length and chunk-encoded uploads', async () => {
    for (let i = 0; i < 4; i++) {
      const body = randomBytes(300_000);
      const r = await raw(g.url, '/echo', { method: 'POST', body, headers: { 'content-type': 'application/x-test' } });
      assert.equal(r.status, 200);
      assert.ok(r.body.equals(body));
      const chunks = [randomBytes(10), randomBytes(70_000), randomBytes(1)];
      seen = [];
      const c = await raw(g.url, '/echo', { method: 'POST', chunks, headers: { 'content-type': 'application/x-test' } });
      assert.ok(c.body.equals(Buffer.concat(chunks)));
      assert.equal(seen[0]?.headers['transfer-encoding'], 'chunked');
    }
  });

  test('keep-alive: 50 sequential requests on one client connection, every answer whole', async () => {
    const c = await RawConn.open(g.port);
    try {
      for (let i = 0; i < 50; i++) {
        c.write(i % 2 ? 'GET /teapot HTTP/1.1\r\nHost: x\r\n\r\n' : 'GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n');
        const r = await c.message('GET', { timeoutMs: 10_000 });
        assert.equal(r.status, i % 2 ? 418 : 200);
        assert.equal(r.body.toString(), i % 2 ? '{"error":"teapot"}' : 'part one;part two');
      }
    } finally {
      c.destroy();
    }
  });

  test('an upstream that does not answer in time is a 504 JSON error with the request id', async () => {
    for (let i = 0; i < 2; i++) {
      const r = await raw(g.url, '/slow', { headers: { 'x-request-id': `slow-${i}` } });
      assert.equal(r.status, 504);
      const json = JSON.parse(r.body.toString());
      assert.equal(json.error_code, 'DEADLINE_EXCEEDED');
      assert.equal(json.request_id, `slow-${i}`);
    }
  });

  test('an upstream dying mid-answer cuts the client connection; the group keeps serving', async () => {
    await assert.rejects(raw(g.url, '/die-mid'), /aborted|socket hang up|ECONNRESET/);
    for (let i = 0; i < 4; i++) assert.equal((await raw(g.url, '/teapot')).status, 418);
  });

  test('a refused upstream is a 502 JSON error with the request id, from every worker', async () => {
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
    const port = (dead.address() as AddressInfo).port;
    await new Promise((r) => dead.close(r));
    const q = await launch(`http://127.0.0.1:${port}`, { DRIFTWATCH_STORE_EMBEDDED_PATH: join(tmp.dir, 'dead.db') });
    try {
      for (let i = 0; i < 4; i++) {
        const r = await raw(q.url, '/invocations', { method: 'POST', body: '{}', headers: { 'x-request-id': `req-502-${i}` } });
        assert.equal(r.status, 502);
        const json = JSON.parse(r.body.toString());
        assert.equal(json.error_code, 'BAD_GATEWAY');
        assert.equal(json.request_id, `req-502-${i}`);
        assert.match(json.message, /ECONNREFUSED|unavailable/);
      }
      const m = await (await fetch(`${q.admin}/metrics`)).text();
      assert.equal(metricValue(m, 'driftwatch_proxy_upstream_errors_total{kind="econnrefused"}'), 4, m);
    } finally {
      q.proc.kill('SIGTERM');
    }
    assert.equal(await exited(q.proc), 0, q.stderr());
  });
});

describe('proxy --workers 2: what the group adds', () => {
  test('a worker killed after start-up is replaced; then every request is answered again', async () => {
    const q = await launch(`http://127.0.0.1:${upstreamPort}`, { DRIFTWATCH_STORE_EMBEDDED_PATH: join(tmp.dir, 'crash.db') });
    try {
      const [victim] = workersOf(q.proc.pid!);
      process.kill(victim!, 'SIGKILL');
      // Meanwhile the other worker serves; how many requests fit in the gap is timing, so they are
      // not counted. (A connection the primary was handing to the victim as it died is lost with
      // it: node:cluster's round-robin hand-off gets no reply from a dead worker, so that client
      // waits for its own timeout; hence the timeout here.)
      const listening = () => (q.stderr().match(/"msg":"proxy listening"/g) ?? []).length;
      for (let i = 0; i < 400 && listening() < 3; i++) {
        const r = await raw(q.url, '/teapot', { timeoutMs: 2000 }).catch(() => null);
        if (r) assert.equal(r.status, 418);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      assert.equal(listening(), 3, q.stderr());
      // With the replacement up, every request on a fresh connection is answered again.
      for (let i = 0; i < 20; i++) assert.equal((await raw(q.url, '/teapot', { timeoutMs: 10_000 })).status, 418);
      assert.match(q.stderr(), /"msg":"worker died; starting a replacement"/);
      const workers = workersOf(q.proc.pid!);
      assert.equal(workers.length, 2);
      assert.ok(!workers.includes(victim!));
      let health = 0;
      for (let i = 0; i < 100 && health !== 200; i++) {
        health = (await fetch(`${q.admin}/healthz`)).status;
        if (health !== 200) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(health, 200);
    } finally {
      q.proc.kill('SIGTERM');
    }
    assert.equal(await exited(q.proc), 0, q.stderr());
  });

  test('capture from both workers adds up: /metrics is the sum, /api/traffic the merge, both workers forwarded', async () => {
    const before = await (await fetch(`${g.admin}/metrics`)).text();
    const requestsBefore = metricValue(before, 'driftwatch_proxy_requests_total{route="invocations",status_class="2xx"}');
    const n = 120;
    for (let start = 0; start < n; start += 12) {
      await Promise.all(
        Array.from({ length: 12 }, async (_, j) => {
          const i = start + j;
          const k = (i % 3) + 1; // 1 to 3 rows per request
          const data = Array.from({ length: k }, (_, r) => [i % 5, 10 + r, 2 + (i % 7), 3.5]);
          const r = await raw(g.url, '/invocations', {
            method: 'POST',
            body: JSON.stringify({ dataframe_split: { columns: FEATURES, data } }),
            headers: { 'content-type': 'application/json' },
          });
          assert.equal(r.status, 200);
          assert.equal(JSON.parse(r.body.toString()).predictions.length, k);
          predictions++;
          rowsSent += k;
        }),
      );
    }
    // Both workers took connections and forwarded them (each holds its own upstream connections).
    const workers = workersOf(g.proc.pid!);
    assert.equal(workers.length, 2, `workers: ${workers}`);
    assert.deepEqual(holdingUpstream(workers, upstreamPort).sort(), [...workers].sort());

    // One /metrics for the group: every worker's counters summed.
    let m = '';
    for (let i = 0; i < 200; i++) {
      m = await (await fetch(`${g.admin}/metrics`)).text();
      if (metricValue(m, 'driftwatch_capture_rows_total{model="weather"}') >= rowsSent) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(metricValue(m, 'driftwatch_proxy_requests_total{route="invocations",status_class="2xx"}') - requestsBefore, n, m);
    assert.equal(metricValue(m, 'driftwatch_capture_events_total{outcome="captured"}'), n, m);
    assert.equal(metricValue(m, 'driftwatch_capture_rows_total{model="weather"}'), rowsSent, m);
    assert.equal(metricValue(m, 'driftwatch_capture_dropped_total'), 0, m);

    // The live summary is the merge of both workers' (each reports every second).
    let t: any = null;
    for (let i = 0; i < 100; i++) {
      t = await (await fetch(`${g.admin}/api/traffic`)).json();
      if (t.models[0]?.rows === rowsSent) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(t.models.length, 1, JSON.stringify(t));
    assert.deepEqual([t.models[0].model, t.models[0].version, t.models[0].requests, t.models[0].rows], ['weather', '7', n, rowsSent]);
    assert.equal(t.models[0].features.wind.numeric.n, rowsSent);
    assert.equal(t.models[0].features.wind.numeric.mean, 3.5);
    // The store as the primary's own connection reads it: nothing flushed yet (flushIntervalMs is
    // 10 min here), the workers' deltas held in memory and reported as pending.
    let info: any = null;
    for (let i = 0; i < 100; i++) {
      info = await (await fetch(`${g.admin}/api/series`)).json();
      if (info.pendingWindows >= 1) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(String(info.store), /^embedded:.*stats\.db$/);
    assert.deepEqual(info.series, []);
    assert.ok(info.pendingWindows >= 1, JSON.stringify(info));
  });

  test('SIGTERM drains: new connections refused, every in-flight answer finished, both captures flushed to the store', async () => {
    assert.ok(predictions > 0, 'runs after the capture test');
    held.length = 0;
    const inflight = 8;
    const answers = Array.from({ length: inflight }, () => raw(g.url, '/hold'));
    for (let i = 0; i < 200 && held.length < inflight; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(held.length, inflight);
    g.proc.kill('SIGTERM');
    stopped = true;
    // The workers stop accepting while their in-flight answers are still open.
    let refused = false;
    for (let i = 0; i < 200 && !refused; i++) {
      refused = await new Promise<boolean>((resolve) => {
        const s = net.connect(g.port, '127.0.0.1');
        s.once('connect', () => {
          s.destroy();
          resolve(false);
        });
        s.once('error', () => resolve(true));
      });
      if (!refused) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(refused, `the port still accepted connections during the drain:\n${g.stderr()}`);
    assert.equal(g.proc.exitCode, null, 'the group waits for its in-flight requests');
    for (const res of held) res.end('finished after SIGTERM');
    for (const r of await Promise.all(answers)) {
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'finished after SIGTERM');
    }
    assert.equal(await exited(g.proc), 0, g.stderr());
    assert.equal((g.stderr().match(/"msg":"shutting down: draining in-flight requests","role":"worker"/g) ?? []).length, 2, g.stderr());

    // Every prediction request sent through either worker is in the one store, exactly once.
    const store = new EmbeddedStore({ path: STORE, retentionDays: 30, rollupAfterHours: 48 });
    try {
      const windows = await store.readWindows({ model: 'weather', fromMs: 0, toMs: Date.now() + 3_600_000 });
      const requests = windows.reduce((s, w) => s + Object.values(w.requests).reduce((a, b) => a + b, 0), 0);
      const rows = windows.reduce((s, w) => s + w.rows, 0);
      assert.deepEqual({ requests, rows }, { requests: predictions, rows: rowsSent });
      assert.deepEqual([...new Set(windows.map((w) => w.version))], ['7']);
    } finally {
      await store.close();
    }
  });
});

test('start runs in one process: proxy.workers above 1 is refused before anything starts', () => {
  const r = spawnSync(CLI[0]!, [...CLI.slice(1), 'start'], {
    cwd: tmp.dir,
    env: { ...process.env, ...ENV, DRIFTWATCH_PROXY_WORKERS: '2' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /for several proxy workers run `driftwatch serve` and `driftwatch proxy --workers N` side by side/);
});
