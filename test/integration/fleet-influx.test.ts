/**
 * Fleet test, end to end: two real `driftwatch proxy` processes (distinct `instance` tags, their
 * own spool dirs) in front of one real upstream, both writing to one real InfluxDB 1.6 (v1 write
 * path). Known traffic goes through each proxy (dataframe_split and instances payloads, a few 4xx
 * and 5xx answers); after SIGTERM (drain + flush) the profile read back from InfluxDB must equal
 * the sum of both processes' traffic exactly, and the merge of what each instance wrote.
 *
 * Without `influxd` on PATH the test skips loudly; with DRIFTWATCH_TEST_REQUIRE_INFLUX=1 it fails.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import { influxStoreSchema } from '../../src/config/schema.js';
import { latencyCount } from '../../src/stats/latency-histogram.js';
import type { FeatureProfile, WindowProfile } from '../../src/stats/types.js';
import { emptyWindow, mergeWindows, observeRows } from '../../src/stats/window-profile.js';
import { createInfluxStore, type InfluxStore } from '../../src/store/influx.js';
import { assembleWindows, readStatements, type QuerySeries } from '../../src/store/influx-schema.js';
import { findBinary, serversRequired, startInfluxd, type InfluxServer } from '../influx-server.js';
import { ROOT, tempDir } from '../helpers.js';

const HAVE_INFLUXD = findBinary('influxd') !== null;

/** true when the server can be used; otherwise skips loudly, or fails when servers are required. */
function gate(t: TestContext, have: boolean, what: string, pkg: string): boolean {
  if (have) return true;
  const msg = `${what} not found on PATH (apt-get install ${pkg})`;
  if (serversRequired()) assert.fail(`${msg}, and DRIFTWATCH_TEST_REQUIRE_INFLUX=1 requires it`);
  t.skip(`SKIPPED: ${msg}; set DRIFTWATCH_TEST_REQUIRE_INFLUX=1 to make this a failure`);
  return false;
}

// tsx resolved here: the commands run from a temp directory with no node_modules.
const CLI = [process.execPath, '--import', import.meta.resolve('tsx'), join(ROOT, 'src', 'cli', 'main.ts')];
const MODEL = 'fraud';
const VERSION = '3';
const DATABASE = 'fleet_e2e';
const COLUMNS = ['amount', 'age', 'country'];
const COUNTRIES = ['DE', 'FR', 'US'];
/** The proxies' stats options (defaults of the config schema), for the in-test expected profile. */
const PROFILE_OPTS = { sketchK: 200, maxCategories: 100, maxFeatures: 512 };

type Cell = number | string | null;

interface Plan {
  instance: string;
  /** Successful requests and their rows (positional: amount, age, country). */
  ok: Cell[][][];
  /** Requests the upstream answers with this status (one row each; not profiled). */
  failing: number[];
}

/** Deterministic rows: integers, so sums, min and max are exact; a few missing amounts. */
function plan(instance: string, base: number, requests: number, rowsPer: number, failing: number[]): Plan {
  const ok: Cell[][][] = [];
  for (let i = 0; i < requests; i++) {
    const rows: Cell[][] = [];
    for (let j = 0; j < rowsPer; j++) {
      const k = i * rowsPer + j;
      rows.push([k % 11 === 5 ? null : base + k * 7 - (k % 4) * 100, 18 + ((k * 13) % 60), COUNTRIES[(k + base) % 3]!]);
    }
    ok.push(rows);
  }
  return { instance, ok, failing };
}

/** What the upstream predicts for a row (echoed back as `predictions`, one per row). */
const predict = (row: Cell[]): number => (typeof row[0] === 'number' ? row[0] % 97 : -1);

const PLANS = [plan('a', 1000, 37, 3, [400, 400, 422, 400, 503, 500]), plan('b', 50_000, 23, 2, [404, 400, 503])];

/**
 * A small MLflow-style scoring server: one prediction per input row; `x-test-status` forces an
 * error. It names its model version (x-driftwatch-model-version) on every answer, errors included.
 */
function startUpstream(): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const forced = Number(req.headers['x-test-status'] ?? 0);
      if (forced) {
        res.writeHead(forced, { 'content-type': 'application/json', 'x-driftwatch-model-version': VERSION });
        res.end(JSON.stringify({ error_code: 'BAD_REQUEST', message: 'forced by the test' }));
        return;
      }
      let body: any;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"error_code":"MALFORMED_REQUEST"}');
        return;
      }
      const rows: Cell[][] = body.dataframe_split?.data ?? body.instances ?? [];
      res.writeHead(200, { 'content-type': 'application/json', 'x-driftwatch-model-version': VERSION });
      res.end(JSON.stringify({ predictions: rows.map(predict) }));
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

interface Proxy {
  proc: ChildProcess;
  url: string;
  /** The admin API (/metrics), from the same log line. */
  admin: string;
  stderr: () => string;
}

/** Spawns `driftwatch proxy` and resolves once it logs "proxy listening" (bounded). */
function launchProxy(cwd: string, upstream: string, env: Record<string, string>): Promise<Proxy> {
  const proc = spawn(CLI[0]!, [...CLI.slice(1), 'proxy', '--upstream', upstream, '--port', '0', '--model', MODEL], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stdout!.on('data', () => undefined);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`proxy did not start within 30 s:\n${err}`));
    }, 30_000);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`proxy exited with ${code} before listening:\n${err}`));
    };
    proc.on('exit', onExit);
    proc.stderr!.on('data', (d) => {
      err += d;
      const m = /"msg":"proxy listening","url":"(http:[^"]+)".*?"admin":"(http:[^"]+)"/.exec(err);
      if (m) {
        clearTimeout(timer);
        proc.off('exit', onExit);
        resolve({ proc, url: m[1]!, admin: m[2]!, stderr: () => err });
      }
    });
  });
}

/** SIGTERM, then the exit code (SIGKILL and a failure after timeoutMs). */
function terminate(p: ChildProcess, timeoutMs = 20_000): Promise<number | null> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(p.exitCode);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`process ${p.pid} did not exit within ${timeoutMs} ms of SIGTERM`));
    }, timeoutMs);
    p.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
    p.kill('SIGTERM');
  });
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

/** The proxy's driftwatch_store_windows_written_total (window deltas its flushes have written). */
async function windowsWritten(admin: string): Promise<number> {
  const text = await (await fetch(`${admin}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  const m = /^driftwatch_store_windows_written_total (\d+)/m.exec(text);
  assert.ok(m, 'driftwatch_store_windows_written_total is on /metrics');
  return Number(m[1]);
}

/** Sends a plan's traffic: alternately dataframe_split and instances, 4 at a time, in 3 bursts. */
async function sendTraffic(px: Proxy, p: Plan): Promise<void> {
  const proxyUrl = px.url;
  const jobs: Array<() => Promise<void>> = [];
  p.ok.forEach((rows, i) => {
    jobs.push(async () => {
      const payload = i % 2 === 0 ? { dataframe_split: { columns: COLUMNS, data: rows } } : { instances: rows };
      const r = await post(`${proxyUrl}/invocations`, payload);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.deepEqual(r.json, { predictions: rows.map(predict) });
    });
  });
  p.failing.forEach((status, i) => {
    jobs.push(async () => {
      const r = await post(`${proxyUrl}/invocations`, { instances: [[i, 1, 'DE']] }, { 'x-test-status': String(status) });
      assert.equal(r.status, status);
    });
  });
  // Three bursts, each started only after a flush has written some of the one before: every
  // process writes at least three deltas, however slow the machine (a fixed pause between bursts
  // once let a lagging capture worker fold two bursts into one flush).
  const burst = Math.ceil(jobs.length / 3);
  for (let b = 0; b < jobs.length; b += burst) {
    const before = await windowsWritten(px.admin);
    const part = jobs.slice(b, b + burst);
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < part.length) await part[next++]!();
      }),
    );
    const deadline = Date.now() + 20_000;
    while ((await windowsWritten(px.admin)) <= before) {
      assert.ok(Date.now() < deadline, `no flush wrote the burst at job ${b} within 20 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

interface Expected {
  requests: Record<string, number>;
  totalRequests: number;
  rows: number;
  /** Per input feature: count, missing, numeric n / sum / min / max, categories. */
  features: Record<string, { count: number; missing: number; n: number; sum: number; min: number; max: number; categories: Record<string, number> }>;
  prediction: { n: number; sum: number; min: number; max: number };
  /** The same traffic folded by the library itself (one window): moments m2, sketch n. */
  profile: WindowProfile;
}

function expectedOf(plans: readonly Plan[]): Expected {
  const requests: Record<string, number> = {};
  const inc = (cls: string) => (requests[cls] = (requests[cls] ?? 0) + 1);
  const features: Expected['features'] = {};
  for (const c of COLUMNS) features[c] = { count: 0, missing: 0, n: 0, sum: 0, min: Infinity, max: -Infinity, categories: {} };
  const prediction = { n: 0, sum: 0, min: Infinity, max: -Infinity };
  const profile = emptyWindow({ model: MODEL, version: VERSION, startMs: 0, windowSeconds: 60 }, [1]);
  let rows = 0;
  for (const p of plans) {
    for (const reqRows of p.ok) {
      inc('2xx');
      const named = reqRows.map((r) => Object.fromEntries(COLUMNS.map((c, j) => [c, r[j]!])));
      observeRows(
        profile,
        named,
        reqRows.map((r) => ({ prediction: predict(r) })),
        null,
        PROFILE_OPTS,
      );
      for (const r of reqRows) {
        rows++;
        COLUMNS.forEach((c, j) => {
          const f = features[c]!;
          const v = r[j];
          f.count++;
          if (v === null || v === undefined) f.missing++;
          else if (typeof v === 'number') {
            f.n++;
            f.sum += v;
            f.min = Math.min(f.min, v);
            f.max = Math.max(f.max, v);
          } else f.categories[v] = (f.categories[v] ?? 0) + 1;
        });
        const y = predict(r);
        prediction.n++;
        prediction.sum += y;
        prediction.min = Math.min(prediction.min, y);
        prediction.max = Math.max(prediction.max, y);
      }
    }
    for (const s of p.failing) inc(`${Math.floor(s / 100)}xx`);
  }
  const totalRequests = Object.values(requests).reduce((a, b) => a + b, 0);
  return { requests, totalRequests, rows, features, prediction, profile };
}

function close(a: number, b: number, what: string): void {
  assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b)), `${what}: ${a} vs ${b}`);
}

function mergeAll(ws: readonly WindowProfile[]): WindowProfile {
  assert.ok(ws.length > 0, 'no windows to merge');
  return ws.reduce((a, b) => mergeWindows(a, b));
}

/** A merged read against the numbers computed from the traffic sent. */
function assertTotals(got: WindowProfile, e: Expected, what: string): void {
  assert.equal(got.model, MODEL, `${what} model`);
  assert.equal(got.version, VERSION, `${what} version`);
  assert.deepEqual(got.requests, e.requests, `${what} requests by status class`);
  assert.equal(latencyCount(got.latency), e.totalRequests, `${what} latency count`);
  assert.equal(got.rows, e.rows, `${what} rows`);
  assert.equal(got.droppedFeatures, 0, `${what} dropped features`);
  assert.deepEqual(Object.keys(got.features).sort(), [...COLUMNS].sort(), `${what} feature names`);
  assert.deepEqual(Object.keys(got.predictions), ['prediction'], `${what} prediction names`);
  for (const c of COLUMNS) {
    const f = got.features[c]!;
    const x = e.features[c]!;
    const lib = e.profile.features[c]!;
    assert.equal(f.count, x.count, `${what} ${c} count`);
    assert.equal(f.missing, x.missing, `${what} ${c} missing`);
    assert.equal(f.moments.n, x.n, `${what} ${c} n`);
    assert.equal(f.sketch.n, x.n, `${what} ${c} sketch n`);
    assert.equal(f.bins, null, `${what} ${c} bins (no reference)`);
    if (x.n > 0) {
      close(f.moments.mean, x.sum / x.n, `${what} ${c} mean`);
      close(f.moments.m2, lib.moments.m2, `${what} ${c} m2`);
      assert.equal(f.moments.min, x.min, `${what} ${c} min`);
      assert.equal(f.moments.max, x.max, `${what} ${c} max`);
    }
    assert.deepEqual(f.categories.counts, x.categories, `${what} ${c} categories`);
    assert.equal(f.categories.other, 0, `${what} ${c} other`);
  }
  const p = got.predictions.prediction!;
  assert.equal(p.count, e.prediction.n, `${what} prediction count`);
  assert.equal(p.moments.n, e.prediction.n, `${what} prediction n`);
  assert.equal(p.sketch.n, e.prediction.n, `${what} prediction sketch n`);
  close(p.moments.mean, e.prediction.sum / e.prediction.n, `${what} prediction mean`);
  close(p.moments.m2, e.profile.predictions.prediction!.moments.m2, `${what} prediction m2`);
  assert.equal(p.moments.min, e.prediction.min, `${what} prediction min`);
  assert.equal(p.moments.max, e.prediction.max, `${what} prediction max`);
}

/** Two profiles of the same window(s) agree: counts exact, moments to 1e-9. */
function assertSameWindow(a: WindowProfile, b: WindowProfile, what: string): void {
  assert.equal(a.startMs, b.startMs, `${what} startMs`);
  assert.equal(a.windowSeconds, b.windowSeconds, `${what} windowSeconds`);
  assert.deepEqual(a.requests, b.requests, `${what} requests`);
  assert.equal(a.rows, b.rows, `${what} rows`);
  assert.deepEqual(a.latency.counts, b.latency.counts, `${what} latency counts`);
  close(a.latency.sumMs, b.latency.sumMs, `${what} latency sum`);
  for (const side of ['features', 'predictions'] as const) {
    assert.deepEqual(Object.keys(a[side]).sort(), Object.keys(b[side]).sort(), `${what} ${side}`);
    for (const k of Object.keys(a[side])) {
      const x: FeatureProfile = a[side][k]!;
      const y: FeatureProfile = b[side][k]!;
      assert.equal(x.count, y.count, `${what} ${k} count`);
      assert.equal(x.missing, y.missing, `${what} ${k} missing`);
      assert.equal(x.moments.n, y.moments.n, `${what} ${k} n`);
      if (x.moments.n > 0) {
        close(x.moments.mean, y.moments.mean, `${what} ${k} mean`);
        close(x.moments.m2, y.moments.m2, `${what} ${k} m2`);
        assert.equal(x.moments.min, y.moments.min, `${what} ${k} min`);
        assert.equal(x.moments.max, y.moments.max, `${what} ${k} max`);
      }
      assert.equal(x.sketch.n, y.sketch.n, `${what} ${k} sketch n`);
      assert.deepEqual(x.categories, y.categories, `${what} ${k} categories`);
    }
  }
}

describe('fleet: two driftwatch proxy processes writing to one InfluxDB 1.6', () => {
  const tmp = tempDir('dw-fleet-influx-');
  let influx: InfluxServer | null = null;
  let upstream: Server | null = null;
  const procs: ChildProcess[] = [];
  let store: InfluxStore | null = null;

  after(async () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await store?.close();
    if (upstream) {
      const closed = new Promise<void>((r) => upstream!.close(() => r()));
      upstream.closeAllConnections();
      await closed;
    }
    await influx?.stop('SIGKILL');
    tmp.cleanup();
  });

  test('traffic through each proxy lands per feature and window in InfluxDB; the fleet read equals the merge of both instances', {
    timeout: 120_000,
  }, async (t) => {
    if (!gate(t, HAVE_INFLUXD, 'influxd', 'influxdb')) return;
    const t0 = Date.now();
    influx = await startInfluxd(join(tmp.dir, 'influxd'), DATABASE);
    upstream = await startUpstream();
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

    const envFor = (instance: string): Record<string, string> => ({
      DRIFTWATCH_STORE_KIND: 'influxdb',
      DRIFTWATCH_STORE_INFLUXDB_URL: influx!.url,
      DRIFTWATCH_STORE_INFLUXDB_API_VERSION: 'v1',
      DRIFTWATCH_STORE_INFLUXDB_DATABASE: DATABASE,
      DRIFTWATCH_STORE_INFLUXDB_INSTANCE: instance,
      DRIFTWATCH_STORE_INFLUXDB_SPOOL_DIR: join(tmp.dir, `spool-${instance}`),
      DRIFTWATCH_STATS_FLUSH_INTERVAL_MS: '200',
      DRIFTWATCH_ADMIN_PORT: '0',
      DRIFTWATCH_LOG_LEVEL: 'info',
      DRIFTWATCH_PROXY_COLUMNS: JSON.stringify(COLUMNS),
      DRIFTWATCH_REGISTRY_ROOT: join(tmp.dir, 'registry'),
    });
    const proxies = await Promise.all(
      PLANS.map(async (p) => {
        const px = await launchProxy(tmp.dir, upstreamUrl, envFor(p.instance));
        procs.push(px.proc);
        return px;
      }),
    );
    for (const px of proxies) assert.match(px.stderr(), /"store":"influxdb:http:\/\/127\.0\.0\.1:\d+ \(v1, db fleet_e2e\)"/);

    // Both fleets' traffic at once: the two processes flush into the same windows concurrently.
    await Promise.all(PLANS.map((p, i) => sendTraffic(proxies[i]!, p)));

    // SIGTERM: each drains, profiles what is queued, flushes to InfluxDB and exits 0.
    const codes = await Promise.all(proxies.map((px) => terminate(px.proc)));
    assert.deepEqual(codes, [0, 0], proxies.map((px) => px.stderr()).join('\n---\n'));
    for (const px of proxies) {
      assert.doesNotMatch(px.stderr(), /"level":"(warn|error)"/, px.stderr());
      assert.match(px.stderr(), /shutting down/);
    }

    const range = { model: MODEL, fromMs: Math.floor(t0 / 60_000) * 60_000, toMs: Date.now() + 60_000 };
    store = createInfluxStore(
      influxStoreSchema.parse({
        url: influx.url,
        apiVersion: 'v1',
        database: DATABASE,
        instance: 'reader',
        spoolDir: join(tmp.dir, 'spool-reader'),
        timeoutMs: 5_000,
      }),
    );

    // The fleet view: every window of the range, merged across both instances and all flushes.
    const windows = await store.readWindows(range);
    assert.ok(windows.length >= 1 && windows.length <= 3, `windows: ${windows.map((w) => w.startMs).join(', ')}`);
    for (const w of windows) {
      assert.equal(w.windowSeconds, 60);
      assert.equal(w.startMs % 60_000, 0);
      assert.ok(w.startMs >= range.fromMs && w.startMs < range.toMs);
    }
    assert.deepEqual(await store.readWindows({ ...range, version: 'unknown' }), [], 'the upstream-reported version is used');
    const fleet = mergeAll(windows);
    const all = expectedOf(PLANS);
    assertTotals(fleet, all, 'fleet');
    assert.equal(all.rows, 37 * 3 + 23 * 2);
    assert.deepEqual(all.requests, { '2xx': 60, '4xx': 6, '5xx': 3 });

    // Per instance: the same InfluxQL the store runs, with the series of one instance only.
    const raw = await influx.query(readStatements(range), { epoch: 'ms' });
    const seriesOf = (id: number, instance: string): QuerySeries[] =>
      ((raw.results?.find((r: any) => (r.statement_id ?? 0) === id)?.series ?? []) as QuerySeries[]).filter((s) => s.tags?.instance === instance);
    const instances = new Set<string>(
      [0, 1].flatMap((id) => ((raw.results?.find((r: any) => (r.statement_id ?? 0) === id)?.series ?? []) as QuerySeries[]).map((s) => s.tags?.instance ?? '')),
    );
    assert.deepEqual([...instances].sort(), ['a', 'b'], 'both instance tags, nothing else');
    const perInstance = new Map<string, WindowProfile[]>();
    for (const p of PLANS) {
      const { windows: own, unreadable } = assembleWindows(MODEL, seriesOf(0, p.instance), seriesOf(1, p.instance), range);
      assert.equal(unreadable, 0);
      assertTotals(mergeAll(own), expectedOf([p]), `instance ${p.instance}`);
      perInstance.set(p.instance, own);
    }
    // Window by window, the fleet read is the merge of what each instance wrote for that window.
    for (const w of windows) {
      const parts = PLANS.flatMap((p) => perInstance.get(p.instance)!.filter((x) => x.startMs === w.startMs));
      assertSameWindow(w, mergeAll(parts), `window ${new Date(w.startMs).toISOString()}`);
    }
    assertSameWindow(fleet, mergeAll([mergeAll(perInstance.get('a')!), mergeAll(perInstance.get('b')!)]), 'whole range');

    // Each process flushed at least one delta per burst (sendTraffic waits for it): the reader adds them up.
    for (const p of PLANS) {
      const points = seriesOf(0, p.instance).reduce((n, s) => n + s.values.length, 0);
      assert.ok(points >= 3, `instance ${p.instance}: ${points} dw_requests points`);
    }

    const series = await store.listSeries();
    const fraud = series.filter((s) => s.model === MODEL);
    assert.deepEqual(
      fraud.map((s) => s.version),
      [VERSION],
    );
    assert.equal(fraud[0]!.firstMs, windows[0]!.startMs);
    assert.equal(fraud[0]!.lastMs, windows[windows.length - 1]!.startMs);
    assert.deepEqual(store.health(), { pending: 0, dropped: 0, lastError: null });
  });
});
