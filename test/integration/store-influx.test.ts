/**
 * The InfluxDB statistics store against real servers started by this file (test/influx-server.ts):
 * InfluxDB 1.6 (`influxd`) for the v1 write path and every read, VictoriaMetrics for the v2 write
 * path (/api/v2/write, checked through its own export API: it does not speak InfluxQL).
 * Without the binaries the server tests skip loudly; with DRIFTWATCH_TEST_REQUIRE_INFLUX=1 they fail.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { influxStoreSchema, type InfluxStoreConfig } from '../../src/config/schema.js';
import { latencyBounds, latencyCount } from '../../src/stats/latency-histogram.js';
import type { FeatureProfile, WindowProfile } from '../../src/stats/types.js';
import { emptyWindow, mergeWindows, observeRequest, observeRows } from '../../src/stats/window-profile.js';
import { createInfluxStore, rejectedLines, v1Precision, type InfluxStore } from '../../src/store/influx.js';
import { findBinary, freePort, serversRequired, startInfluxd, startVictoria, type InfluxServer } from '../influx-server.js';
import { memoryLogger, tempDir } from '../helpers.js';
import { HttpError } from '@influxdata/influxdb-client';

const HAVE_INFLUXD = findBinary('influxd') !== null;
const HAVE_VICTORIA = findBinary('victoria-metrics') !== null;

/** true when the server can be used; otherwise skips loudly, or fails when servers are required. */
function gate(t: TestContext, have: boolean, what: string, pkg: string): boolean {
  if (have) return true;
  const msg = `${what} not found on PATH (apt-get install ${pkg})`;
  if (serversRequired()) assert.fail(`${msg}, and DRIFTWATCH_TEST_REQUIRE_INFLUX=1 requires it`);
  t.skip(`SKIPPED: ${msg}; set DRIFTWATCH_TEST_REQUIRE_INFLUX=1 to make this a failure`);
  return false;
}

const OPTS = { sketchK: 200, maxCategories: 20, maxFeatures: 50 };
const BOUNDS = latencyBounds([100, 250]);
const WINDOW_S = 60;
/** Recent, so VictoriaMetrics keeps the samples; aligned to the window. */
const BASE_MS = Math.floor((Date.now() - 2 * 3600_000) / 3600_000) * 3600_000;

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ODD_FEATURE = 'amount, "usd"=x é€ 🚀';

/** A delta as the sidecar would build it: real requests, rows and predictions. */
function delta(model: string, version: string, startMs: number, seed: number, nRows = 20): WindowProfile {
  const r = rng(seed);
  const w = emptyWindow({ model, version, startMs, windowSeconds: WINDOW_S }, BOUNDS);
  const features = [];
  const predictions = [];
  for (let i = 0; i < nRows; i++) {
    observeRequest(w, r() < 0.1 ? 503 : r() < 0.05 ? 404 : 200, r() * 300);
    features.push({
      x: r() * 10 - 3,
      [ODD_FEATURE]: i % 7 === 0 ? null : Math.round(r() * 1000) / 10,
      color: ['red', 'green', 'blue'][Math.floor(r() * 3)]!,
    });
    predictions.push({ score: r() });
  }
  observeRows(w, features, predictions, null, OPTS);
  return w;
}

function mergeAll(ds: readonly WindowProfile[]): WindowProfile {
  return ds.reduce((a, b) => mergeWindows(a, b));
}

function close(a: number, b: number, what: string): void {
  assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b)), `${what}: ${a} vs ${b}`);
}

function assertFeature(a: FeatureProfile, e: FeatureProfile, what: string): void {
  assert.equal(a.count, e.count, `${what} count`);
  assert.equal(a.missing, e.missing, `${what} missing`);
  assert.equal(a.moments.n, e.moments.n, `${what} n`);
  close(a.moments.mean, e.moments.mean, `${what} mean`);
  close(a.moments.m2, e.moments.m2, `${what} m2`);
  assert.equal(a.moments.min, e.moments.min, `${what} min`);
  assert.equal(a.moments.max, e.moments.max, `${what} max`);
  assert.equal(a.sketch.n, e.sketch.n, `${what} sketch n`);
  assert.deepEqual(a.categories, e.categories, `${what} categories`);
  assert.deepEqual(a.bins, e.bins, `${what} bins`);
}

/** The read window equals the merge of what was written: counts exact, moments to 1e-9. */
function assertWindow(a: WindowProfile | undefined, e: WindowProfile): void {
  assert.ok(a, `window ${e.model}@${e.version} ${e.startMs} missing`);
  assert.equal(a.model, e.model);
  assert.equal(a.version, e.version);
  assert.equal(a.startMs, e.startMs);
  assert.equal(a.windowSeconds, e.windowSeconds);
  assert.deepEqual(a.requests, e.requests);
  assert.equal(a.rows, e.rows);
  assert.equal(a.droppedFeatures, e.droppedFeatures);
  assert.deepEqual(a.latency.boundsMs, e.latency.boundsMs);
  assert.deepEqual(a.latency.counts, e.latency.counts);
  close(a.latency.sumMs, e.latency.sumMs, 'latency sum');
  assert.deepEqual(Object.keys(a.features).sort(), Object.keys(e.features).sort());
  assert.deepEqual(Object.keys(a.predictions).sort(), Object.keys(e.predictions).sort());
  for (const k of Object.keys(e.features)) assertFeature(a.features[k]!, e.features[k]!, `feature ${k}`);
  for (const k of Object.keys(e.predictions)) assertFeature(a.predictions[k]!, e.predictions[k]!, `prediction ${k}`);
}

function storeConfig(over: Record<string, unknown>): InfluxStoreConfig {
  return influxStoreSchema.parse({ apiVersion: 'v1', retryDelayMs: 50, timeoutMs: 3_000, ...over });
}

function spoolFiles(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.lp')) : [];
}

function spoolLines(dir: string): number {
  return spoolFiles(dir).reduce(
    (n, f) =>
      n +
      readFileSync(join(dir, f), 'utf8')
        .split('\n')
        .filter((l) => l !== '').length,
    0,
  );
}

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

function linesOf(d: WindowProfile): number {
  return 1 + Object.keys(d.features).length + Object.keys(d.predictions).length;
}

/** A clock for a store: each call advances by stepMs (several flushes land in one window). */
function clock(startMs: number, stepMs: number): () => number {
  let t = startMs - stepMs;
  return () => (t += stepMs);
}

describe('InfluxDB store (InfluxDB 1.6, v1 write path)', () => {
  const tmp = tempDir('dw-influx-');
  let server: InfluxServer | null = null;
  const stores: InfluxStore[] = [];
  const open = (cfg: InfluxStoreConfig, deps: Parameters<typeof createInfluxStore>[1] = {}): InfluxStore => {
    const s = createInfluxStore(cfg, deps);
    stores.push(s);
    return s;
  };

  before(async () => {
    if (HAVE_INFLUXD) server = await startInfluxd(join(tmp.dir, 'influxd'));
  });
  after(async () => {
    for (const s of stores) await s.close().catch(() => undefined);
    await server?.stop('SIGKILL');
    tmp.cleanup();
  });

  test('round trip: deltas from two instances read back as exactly their merge; odd names; listSeries', { timeout: 30_000 }, async (t) => {
    if (!gate(t, HAVE_INFLUXD, 'influxd', 'influxdb')) return;
    await server!.query('CREATE DATABASE "rt"');
    const model = `fraud "det", v=1 'ü' 🚀`;
    const version = '1.0 beta,=x';
    const w1 = BASE_MS;
    const w2 = BASE_MS + WINDOW_S * 1000;
    const base = { url: server!.url, database: 'rt' };
    const a = open(storeConfig({ ...base, instance: 'pod-a', spoolDir: join(tmp.dir, 'sp-rt-a') }), { now: clock(w1 + 5_000, 5_000) });
    const b = open(storeConfig({ ...base, instance: 'pod-b', spoolDir: join(tmp.dir, 'sp-rt-b') }), { now: clock(w1 + 5_000, 5_000) });
    const written: WindowProfile[] = [];
    let seed = 1;
    // pod-a: 3 flushes into w1, then 2 into w2 (flush times before w2 are clamped to its start);
    // pod-b: 2 + 2. Both clocks tick alike, so the two pods' points share timestamps.
    for (let i = 0; i < 5; i++) {
      const d = delta(model, version, i < 3 ? w1 : w2, seed++);
      written.push(d);
      await a.writeWindows([d]);
    }
    for (let i = 0; i < 4; i++) {
      const d = delta(model, version, i < 2 ? w1 : w2, seed++);
      written.push(d);
      await b.writeWindows([d]);
    }
    // A second version of the model.
    const other = delta(model, '2', w1, seed++);
    written.push(other);
    await b.writeWindows([other]);
    await a.flush();
    await b.flush();
    assert.deepEqual(a.health(), { pending: 0, dropped: 0, lastError: null });
    assert.deepEqual(b.health(), { pending: 0, dropped: 0, lastError: null });

    const got = await a.readWindows({ model, fromMs: w1, toMs: w2 + WINDOW_S * 1000 });
    assert.deepEqual(
      got.map((w) => [w.version, w.startMs]),
      [
        [version, w1],
        [version, w2],
        ['2', w1],
      ].sort((x, y) => (String(x[0]) < String(y[0]) ? -1 : String(x[0]) > String(y[0]) ? 1 : Number(x[1]) - Number(y[1]))),
    );
    for (const w of got) {
      assertWindow(w, mergeAll(written.filter((d) => d.version === w.version && d.startMs === w.startMs)));
    }
    assert.ok(got[0]!.features[ODD_FEATURE], 'the odd feature name round-trips');

    // Version filter and the [fromMs, toMs) range on window starts.
    const onlyW2 = await b.readWindows({ model, version, fromMs: w1 + 1, toMs: w2 + 1 });
    assert.equal(onlyW2.length, 1);
    assertWindow(onlyW2[0], mergeAll(written.filter((d) => d.version === version && d.startMs === w2)));
    assert.deepEqual(await a.readWindows({ model: 'no such model', fromMs: w1, toMs: w2 }), []);

    const series = await a.listSeries();
    assert.deepEqual(
      series,
      [
        { model, version: '2', firstMs: w1, lastMs: w1 },
        { model, version, firstMs: w1, lastMs: w2 },
      ].sort((x, y) => (x.version < y.version ? -1 : 1)),
    );
    assert.deepEqual(await a.maintain(Date.now()), { rolledUp: 0, deleted: 0 });
    assert.match(a.describe, /^influxdb:http:\/\/127\.0\.0\.1:\d+ \(v1, db rt\)$/);
  });

  test('precision: the stored time is the ms we sent (no us/ns mix-up), and equal flush times stay distinct', { timeout: 20_000 }, async (t) => {
    assert.equal(v1Precision('us'), 'u');
    assert.equal(v1Precision('ms'), 'ms');
    if (!gate(t, HAVE_INFLUXD, 'influxd', 'influxdb')) return;
    await server!.query('CREATE DATABASE "prec"');
    const sent = BASE_MS + 12_345; // an odd ms inside the first window
    // A frozen clock: three flushes "in the same ms" must land as three points, not overwrite.
    const s = open(storeConfig({ url: server!.url, database: 'prec', instance: 'p', spoolDir: join(tmp.dir, 'sp-prec') }), { now: () => sent });
    const ds = [delta('prec', '1', BASE_MS, 11), delta('prec', '1', BASE_MS, 12), delta('prec', '1', BASE_MS, 13)];
    for (const d of ds) await s.writeWindows([d]);
    await s.flush();
    const ns = await server!.query(`SELECT "requests" FROM "dw_requests" WHERE "instance" = 'p'`, { db: 'prec', epoch: 'ns' });
    const times = ns.results[0].series[0].values.map((v: [number, number]) => v[0]);
    assert.deepEqual(times, [sent * 1e6, (sent + 1) * 1e6, (sent + 2) * 1e6]);
    const ms = await server!.query(`SELECT "requests" FROM "dw_requests" WHERE "instance" = 'p'`, { db: 'prec', epoch: 'ms' });
    assert.deepEqual(
      ms.results[0].series[0].values.map((v: [number, number]) => v[0]),
      [sent, sent + 1, sent + 2],
    );
    const [w] = await s.readWindows({ model: 'prec', fromMs: BASE_MS, toMs: BASE_MS + 1 });
    assertWindow(w, mergeAll(ds));
    // A flush long after the window ended is clamped into it (last ms), so it is read with it.
    const late = createInfluxStore(storeConfig({ url: server!.url, database: 'prec', instance: 'late', spoolDir: join(tmp.dir, 'sp-late') }), {
      now: () => BASE_MS + 10 * 60_000,
    });
    stores.push(late);
    await late.writeWindows([delta('prec', '1', BASE_MS, 14)]);
    await late.flush();
    const lateTime = await server!.query(`SELECT "requests" FROM "dw_requests" WHERE "instance" = 'late'`, { db: 'prec', epoch: 'ms' });
    assert.equal(lateTime.results[0].series[0].values[0][0], BASE_MS + WINDOW_S * 1000 - 1);
  });

  test('fleet: two store instances writing the same window (same ms) read back as the merge of both', { timeout: 20_000 }, async (t) => {
    if (!gate(t, HAVE_INFLUXD, 'influxd', 'influxdb')) return;
    await server!.query('CREATE DATABASE "fleet"');
    const at = () => BASE_MS + 30_000; // both replicas flush at the very same ms
    const cfg = (instance: string) => storeConfig({ url: server!.url, database: 'fleet', instance, spoolDir: join(tmp.dir, `sp-fleet-${instance}`) });
    const r1 = open(cfg('replica-1'), { now: at });
    const r2 = open(cfg('replica-2'), { now: at });
    const d1 = [delta('fleet', 'v7', BASE_MS, 101, 50), delta('fleet', 'v7', BASE_MS, 102, 5)];
    const d2 = [delta('fleet', 'v7', BASE_MS, 201, 30)];
    await Promise.all([r1.writeWindows(d1), r2.writeWindows(d2)]);
    await Promise.all([r1.flush(), r2.flush()]);
    const got = await r1.readWindows({ model: 'fleet', version: 'v7', fromMs: BASE_MS, toMs: BASE_MS + 60_000 });
    assert.equal(got.length, 1);
    assertWindow(got[0], mergeAll([...d1, ...d2]));
    assert.equal(got[0]!.rows, 85);
  });

  test('a 400 (field type conflict) is permanent: counted as dropped, not retried; the rest of the batch lands', { timeout: 20_000 }, async (t) => {
    if (!gate(t, HAVE_INFLUXD, 'influxd', 'influxdb')) return;
    await server!.query('CREATE DATABASE "conflict"');
    const at = BASE_MS + 1_000;
    // Someone else wrote `requests` as a string into this shard first.
    const pre = await server!.write(`dw_requests,instance=other,model=conflict,version=1 requests="str" ${at - 500}`, { db: 'conflict' });
    assert.equal(pre.status, 204);
    const { logger, lines } = memoryLogger();
    const s = open(storeConfig({ url: server!.url, database: 'conflict', instance: 'c', spoolDir: join(tmp.dir, 'sp-conflict') }), { now: () => at, logger });
    const d = delta('conflict', '1', BASE_MS, 7);
    await s.writeWindows([d]);
    await s.flush(); // resolves: nothing is left to send
    const h = s.health();
    assert.equal(h.pending, 0);
    assert.equal(h.dropped, 1, 'only the dw_requests line was rejected');
    assert.match(h.lastError ?? '', /field type conflict/);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(s.health().dropped, 1, 'no retry of a permanent error');
    assert.equal(lines.filter((l) => l.includes('rejected a batch')).length, 1);
    // The feature points landed; the read tolerates the foreign point (no latency JSON) and the
    // missing dw_requests point.
    const [w] = await s.readWindows({ model: 'conflict', fromMs: BASE_MS, toMs: BASE_MS + 60_000 });
    assert.ok(w);
    assert.equal(w.rows, 0);
    assert.deepEqual(w.requests, {});
    for (const k of Object.keys(d.features)) assertFeature(w.features[k]!, d.features[k]!, k);
  });

  test('rejectedLines reads the count InfluxDB reports for a partial write', () => {
    const e = new HttpError(400, 'Bad Request', '{"error":"partial write: field type conflict: ... dropped=2"}', null, 'application/json');
    assert.equal(rejectedLines(e, 10), 2);
    const p = new HttpError(
      400,
      'Bad Request',
      `{"error":"partial write: unable to parse 'x': bad; unable to parse 'y': bad dropped=1"}`,
      null,
      'application/json',
    );
    assert.equal(rejectedLines(p, 10), 3);
    assert.equal(rejectedLines(new HttpError(413, 'Too Large', 'too large'), 10), 10);
  });
});

describe('InfluxDB store: outages (InfluxDB 1.6 stopped and restarted)', () => {
  const tmp = tempDir('dw-influx-outage-');
  let server: InfluxServer | null = null;
  after(async () => {
    await server?.stop('SIGKILL');
    tmp.cleanup();
  });

  test('server killed mid-stream: memory spills to the spool, everything arrives exactly once after the restart', { timeout: 45_000 }, async (t) => {
    if (!gate(t, HAVE_INFLUXD, 'influxd', 'influxdb')) return;
    server = await startInfluxd(join(tmp.dir, 'influxd'));
    const spoolDir = join(tmp.dir, 'spool-1');
    const { logger, lines } = memoryLogger();
    const s = createInfluxStore(storeConfig({ url: server.url, instance: 'outage', maxBufferLines: 100, spoolDir, timeoutMs: 2_000 }), {
      now: clock(BASE_MS + 1, 37),
      logger,
    });
    const written: WindowProfile[] = [];
    let seed = 1000;
    const write = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const d = delta('outage', '1', BASE_MS + (i % 3) * 60_000, seed++, 8);
        written.push(d);
        await s.writeWindows([d]);
      }
    };
    try {
      await write(10);
      await s.flush();
      // Kill while a batch is in flight: it may or may not have landed; the replay is idempotent.
      await write(20);
      const inFlight = s.flush().catch(() => undefined);
      await server.stop('SIGKILL');
      await inFlight;
      await write(60); // 60 deltas x 5 lines: far over maxBufferLines = 100
      await until('spool files', () => spoolFiles(spoolDir).length > 0);
      await assert.rejects(s.flush(), /failed/);
      const pending = s.health().pending;
      assert.ok(pending >= 60 * 5, `pending ${pending}`);
      assert.equal(s.health().dropped, 0);
      assert.ok(s.health().lastError);
      await server.start();
      await s.flush();
      assert.deepEqual(s.health(), { pending: 0, dropped: 0, lastError: null });
      assert.deepEqual(spoolFiles(spoolDir), [], 'spool files are deleted once acknowledged');
      const got = await s.readWindows({ model: 'outage', fromMs: BASE_MS, toMs: BASE_MS + 3 * 60_000 });
      assert.equal(got.length, 3);
      for (const w of got) assertWindow(w, mergeAll(written.filter((d) => d.startMs === w.startMs)));
      const total = got.reduce((n, w) => n + w.rows, 0);
      assert.equal(total, 90 * 8, 'every delta exactly once');
      // One warning when the outage began and one line when it ended, not one per retry.
      assert.equal(lines.filter((l) => l.includes('InfluxDB unreachable')).length, 1);
      assert.equal(lines.filter((l) => l.includes('InfluxDB writes recovered')).length, 1);
    } finally {
      await s.close();
    }
  });

  test('process restart: close() with the server down spools; a new store on the same spoolDir replays', { timeout: 45_000 }, async (t) => {
    if (!gate(t, HAVE_INFLUXD, 'influxd', 'influxdb')) return;
    server ??= await startInfluxd(join(tmp.dir, 'influxd'));
    await server.stop('SIGTERM');
    const spoolDir = join(tmp.dir, 'spool-2');
    const cfg = storeConfig({ url: server.url, instance: 'restart', spoolDir, timeoutMs: 300 });
    const first = createInfluxStore(cfg, { now: clock(BASE_MS + 5, 11) });
    const written = [delta('restart', '1', BASE_MS, 1), delta('restart', '1', BASE_MS, 2), delta('restart', '1', BASE_MS, 3)];
    await first.writeWindows(written);
    const t0 = Date.now();
    await first.close();
    assert.ok(Date.now() - t0 < 3_000, 'close() is bounded by timeoutMs');
    await first.close(); // idempotent
    await assert.rejects(first.writeWindows([written[0]!]), /closed/);
    const expectedLines = written.reduce((n, d) => n + linesOf(d), 0);
    assert.equal(spoolLines(spoolDir), expectedLines, 'everything buffered is in the spool');
    assert.equal(first.health().pending, expectedLines);
    assert.equal(first.health().dropped, 0);

    const second = createInfluxStore(cfg);
    try {
      assert.equal(second.health().pending, expectedLines, 'the spool of the earlier process is picked up');
      await server.start();
      await second.flush();
      assert.equal(second.health().pending, 0);
      assert.deepEqual(spoolFiles(spoolDir), []);
      const [w] = await second.readWindows({ model: 'restart', fromMs: BASE_MS, toMs: BASE_MS + 1 });
      assertWindow(w, mergeAll(written));
    } finally {
      await second.close();
    }
  });
});

test('bounds: server down, tiny buffer and spool: drops are counted, pending stays bounded, nothing is unaccounted', { timeout: 20_000 }, async () => {
  const tmp = tempDir('dw-influx-bound-');
  const port = await freePort(); // nothing listens here
  const spoolDir = join(tmp.dir, 'spool');
  const { logger, lines } = memoryLogger();
  const maxSpoolBytes = 40_000;
  const s = createInfluxStore(
    influxStoreSchema.parse({
      url: `http://127.0.0.1:${port}`,
      apiVersion: 'v2',
      token: 'sekrit-token-123',
      maxBufferLines: 100,
      maxSpoolBytes,
      spoolDir,
      retryDelayMs: 20,
      timeoutMs: 200,
    }),
    { logger },
  );
  try {
    let total = 0;
    for (let i = 0; i < 100; i++) {
      const d = delta('bound', '1', BASE_MS, i, 5);
      total += linesOf(d);
      await s.writeWindows([d]); // never waits for the dead server
    }
    await assert.rejects(s.flush(), /ECONNREFUSED|failed/);
    const h = s.health();
    assert.ok(h.dropped > 0, 'drops beyond memory + spool');
    assert.equal(h.pending + h.dropped, total, 'every line is pending or counted as dropped');
    await s.close();
    const after = s.health();
    assert.equal(after.pending + after.dropped, total);
    assert.equal(after.pending, spoolLines(spoolDir), 'after close, what is pending is on disk');
    const bytes = spoolFiles(spoolDir).reduce((n, f) => n + statSync(join(spoolDir, f)).size, 0);
    assert.ok(bytes <= maxSpoolBytes, `spool ${bytes} <= ${maxSpoolBytes}`);
    assert.ok(!lines.join('\n').includes('sekrit-token-123'), 'the token never reaches the log');
    assert.equal(lines.filter((l) => l.includes('InfluxDB unreachable')).length, 1, 'one warning per outage');
  } finally {
    await s.close();
    tmp.cleanup();
  }
});

describe('InfluxDB store: v2 write path (VictoriaMetrics /api/v2/write)', () => {
  const tmp = tempDir('dw-influx-vm-');
  after(() => tmp.cleanup());

  test('a delta written through /api/v2/write arrives as series with the model/version/instance labels', { timeout: 30_000 }, async (t) => {
    if (!gate(t, HAVE_VICTORIA, 'victoria-metrics', 'victoria-metrics')) return;
    const vm = await startVictoria(join(tmp.dir, 'vm'));
    const at = Date.now() - 60_000;
    const start = Math.floor(at / 60_000) * 60_000;
    const s = createInfluxStore(
      influxStoreSchema.parse({
        url: vm.url,
        apiVersion: 'v2',
        org: 'o',
        bucket: 'b',
        token: 't0k',
        instance: 'vm-1',
        spoolDir: join(tmp.dir, 'spool'),
        retryDelayMs: 50,
      }),
      { now: () => at },
    );
    try {
      const d = delta('vmodel', '3', start, 42, 25);
      await s.writeWindows([d]);
      await s.flush();
      assert.equal(s.health().pending, 0);
      let series: Awaited<ReturnType<typeof vm.exportSeries>> = [];
      await until('the series in VictoriaMetrics', async () => {
        await vm.forceFlush();
        series = await vm.exportSeries('{__name__=~"dw_requests_.*|dw_feature_.*",model="vmodel"}');
        return series.some((x) => x.metric.__name__ === 'dw_requests_requests') && series.some((x) => x.metric.__name__ === 'dw_feature_count');
      });
      const req = series.find((x) => x.metric.__name__ === 'dw_requests_requests')!;
      assert.equal(req.metric.model, 'vmodel');
      assert.equal(req.metric.version, '3');
      assert.equal(req.metric.instance, 'vm-1');
      assert.deepEqual(req.values, [25]);
      assert.deepEqual(req.timestamps, [at]);
      const rows = series.find((x) => x.metric.__name__ === 'dw_requests_rows')!;
      assert.deepEqual(rows.values, [25]);
      const lat = series.find((x) => x.metric.__name__ === 'dw_requests_latency_count')!;
      assert.deepEqual(lat.values, [latencyCount(d.latency)]);
      const x = series.find((s2) => s2.metric.__name__ === 'dw_feature_count' && s2.metric.feature === 'x')!;
      assert.equal(x.metric.role, 'input');
      assert.deepEqual(x.values, [25]);
      const score = series.find((s2) => s2.metric.__name__ === 'dw_feature_mean' && s2.metric.feature === 'score')!;
      assert.equal(score.metric.role, 'prediction');
      close(score.values[0]!, d.predictions.score!.moments.mean, 'score mean');
    } finally {
      await s.close();
      await vm.stop();
    }
  });
});
