/**
 * Starts real time-series servers for the InfluxDB store tests: InfluxDB 1.x (`influxd`, Debian's
 * `influxdb` package) and VictoriaMetrics (`victoria-metrics`), each on loopback ports with its data
 * in a temp dir, never a system-wide service. Every wait has a timeout; stop() kills the child.
 *
 * When a binary is missing the tests skip loudly, unless DRIFTWATCH_TEST_REQUIRE_INFLUX=1 (set by
 * .ci/run), in which case they fail: CI must never pass by skipping.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';

export function findBinary(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return null;
}

/** Whether a missing server fails the test (CI) instead of skipping it (a dev machine without it). */
export function serversRequired(): boolean {
  return process.env.DRIFTWATCH_TEST_REQUIRE_INFLUX === '1';
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${log()}`);
    }
    try {
      if (await probe()) return;
    } catch {
      /* not listening yet */
    }
    await sleep(50);
  }
  throw new Error(`${what} not ready within ${timeoutMs} ms:\n${log()}`);
}

async function fetchWithTimeout(url: string, init: RequestInit = {}, timeoutMs = 2_000): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill(signal);
  });
}

export interface InfluxServer {
  url: string;
  port: number;
  dir: string;
  database: string;
  /** Stops the server (data dir kept). SIGKILL for a crash, SIGTERM for a clean stop. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and data dir. */
  start(): Promise<void>;
  running(): boolean;
  /** Raw InfluxQL over /query (POST), parsed JSON. */
  query(q: string, params?: Record<string, string>): Promise<any>;
  /** Raw line protocol to /write. */
  write(lines: string, params?: Record<string, string>): Promise<Response>;
}

/** InfluxDB 1.x: a generated config with only the HTTP service (and the RPC bind on loopback). */
export async function startInfluxd(dir: string, database = 'driftwatch'): Promise<InfluxServer> {
  const bin = findBinary('influxd');
  if (bin === null) throw new Error('influxd not found on PATH');
  const port = await freePort();
  const rpcPort = await freePort();
  mkdirSync(dir, { recursive: true });
  const confPath = join(dir, 'influxdb.conf');
  writeFileSync(
    confPath,
    `reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"
[meta]
  dir = "${join(dir, 'meta')}"
  logging-enabled = false
[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  query-log-enabled = false
  trace-logging-enabled = false
[coordinator]
[retention]
  enabled = false
[shard-precreation]
  enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:${port}"
  auth-enabled = false
  log-enabled = false
  max-row-limit = 0
[subscriber]
  enabled = false
[continuous_queries]
  enabled = false
[logging]
  level = "warn"
`,
  );
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  let log = '';

  const server: InfluxServer = {
    url,
    port,
    dir,
    database,
    running: () => child !== null && child.exitCode === null && child.signalCode === null,
    async start() {
      if (server.running()) return;
      log = '';
      const c = spawn(bin, ['-config', confPath], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, INFLUXDB_REPORTING_DISABLED: 'true' } });
      child = c;
      const keep = (b: Buffer) => {
        log = (log + b.toString()).slice(-8_000);
      };
      c.stdout?.on('data', keep);
      c.stderr?.on('data', keep);
      await waitFor(
        'influxd',
        async () => (await fetchWithTimeout(`${url}/ping`)).status === 204,
        20_000,
        c,
        () => log,
      );
      const r = await server.query(`CREATE DATABASE "${database}"`);
      if (r?.results?.[0]?.error) throw new Error(`CREATE DATABASE failed: ${r.results[0].error}`);
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child) await stopChild(child, signal, 5_000);
    },
    async query(q: string, params: Record<string, string> = {}) {
      const body = new URLSearchParams({ q, db: database, ...params });
      const res = await fetchWithTimeout(`${url}/query`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 10_000);
      return res.json();
    },
    async write(lines: string, params: Record<string, string> = {}) {
      const qs = new URLSearchParams({ db: database, precision: 'ms', ...params });
      return fetchWithTimeout(`${url}/write?${qs}`, { method: 'POST', body: lines }, 10_000);
    },
  };
  await server.start();
  return server;
}

export interface VictoriaServer {
  url: string;
  stop(): Promise<void>;
  /** Makes just-ingested samples searchable (VictoriaMetrics buffers them for a few seconds). */
  forceFlush(): Promise<void>;
  /** /api/v1/export for a series selector: one object per series. */
  exportSeries(match: string): Promise<Array<{ metric: Record<string, string>; values: number[]; timestamps: number[] }>>;
}

export async function startVictoria(dir: string): Promise<VictoriaServer> {
  const bin = findBinary('victoria-metrics');
  if (bin === null) throw new Error('victoria-metrics not found on PATH');
  const port = await freePort();
  mkdirSync(dir, { recursive: true });
  const url = `http://127.0.0.1:${port}`;
  let log = '';
  const child = spawn(
    bin,
    [`-httpListenAddr=127.0.0.1:${port}`, `-storageDataPath=${dir}`, '-retentionPeriod=100y', '-loggerLevel=ERROR', '-search.latencyOffset=0s'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const keep = (b: Buffer) => {
    log = (log + b.toString()).slice(-8_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  try {
    await waitFor(
      'victoria-metrics',
      async () => (await fetchWithTimeout(`${url}/health`)).status === 200,
      20_000,
      child,
      () => log,
    );
  } catch (e) {
    await stopChild(child, 'SIGKILL', 2_000);
    throw e;
  }
  return {
    url,
    stop: () => stopChild(child, 'SIGTERM', 5_000),
    async forceFlush() {
      await fetchWithTimeout(`${url}/internal/force_flush`, {}, 5_000);
    },
    async exportSeries(match: string) {
      const res = await fetchWithTimeout(`${url}/api/v1/export?${new URLSearchParams({ 'match[]': match })}`, {}, 5_000);
      const text = await res.text();
      if (res.status !== 200) throw new Error(`export ${res.status}: ${text}`);
      return text
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l));
    },
  };
}
