/**
 * proxy.capture.worker: extraction, the live summary and the window profiler in a worker thread.
 * Real scoring server behind the real proxy, real rows of the Seattle data set, real embedded stores:
 * the worker path writes the same windows as the in-loop drain; /api/traffic, /metrics, flushStats
 * and close() work through the worker. At the drain level: a worker that dies is restarted and
 * counted, and its lost events are counted as dropped; a lagging worker leaves events in the bounded
 * queue, whose overflow is dropped and counted.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createProxyApp } from '../../src/app/proxy-app.js';
import { BoundedQueue } from '../../src/capture/bounded-queue.js';
import type { InferenceEvent } from '../../src/capture/inference-event.js';
import { WorkerCaptureDrain } from '../../src/capture/worker-drain.js';
import { loadConfig } from '../../src/config/load.js';
import { buildReferenceFromFile } from '../../src/reference/build-reference.js';
import { LocalRegistry } from '../../src/registry/local-registry.js';
import type { WindowProfile } from '../../src/stats/types.js';
import { EmbeddedStore } from '../../src/store/embedded.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { createProxyMetrics } from '../../src/telemetry/metrics.js';
import { EXAMPLE_MODEL_DIR, FEATURES, ROOT, memoryLogger, postJson, startServer, tempDir, weatherRows, type RunningServer } from '../helpers.js';

const tmp = tempDir('dw-capture-worker-');
let server: RunningServer;
let registry: LocalRegistry;

function proxyConfig(upstream: string, worker: boolean) {
  return loadConfig({
    env: {},
    overrides: {
      proxy: { port: 0, upstream, model: 'seattle-weather', capture: { worker } },
      admin: { port: 0 },
      registry: { root: join(tmp.dir, 'registry') },
      stats: { flushIntervalMs: 60_000 },
      log: { level: 'silent' },
    },
  });
}

const newStore = (name: string) => new EmbeddedStore({ path: join(tmp.dir, `${name}.db`), retentionDays: 30, rollupAfterHours: 48 });
const readAll = (s: EmbeddedStore) => s.readWindows({ model: 'seattle-weather', fromMs: Date.now() - 3600_000, toMs: Date.now() + 60_000 });
const sum = (ws: WindowProfile[], f: (w: WindowProfile) => number) => ws.reduce((a, w) => a + f(w), 0);

before(async () => {
  registry = new LocalRegistry(join(tmp.dir, 'registry'));
  const mv = await registry.createModelVersion({ name: 'seattle-weather', sourceDir: EXAMPLE_MODEL_DIR });
  await buildReferenceFromFile(
    { registry, now: () => Date.UTC(2026, 11, 1) },
    {
      modelUri: `models:/seattle-weather/${mv.version}`,
      dataPath: join(ROOT, 'examples', 'seattle-weather', 'training.csv'),
      settings: { bins: 10, sketchK: 200, maxCategories: 100 },
    },
  );
  server = await startServer({ registryRoot: join(tmp.dir, 'registry'), models: [{ uri: 'models:/seattle-weather/1' }] });
});
after(async () => {
  await server?.close();
  tmp.cleanup();
});

/** The same traffic through a proxy app; returns what it stored, served and counted. */
async function run(worker: boolean, name: string) {
  const store = newStore(name);
  const app = createProxyApp(proxyConfig(server.url, worker), {
    store,
    registry,
    logger: createLogger({ level: 'silent' }),
    columnsFor: () => FEATURES,
    preloadReferences: () => [{ model: 'seattle-weather', version: '1' }],
  });
  const { proxy, admin } = await app.start();
  let sent = 0;
  try {
    const url = `http://127.0.0.1:${proxy.port}/invocations`;
    const rows = weatherRows('2014-01-01', '2014-02-28');
    for (let i = 0; i < rows.length; i += 5) {
      const chunk = rows.slice(i, i + 5);
      const body = i % 2 ? { dataframe_split: { columns: FEATURES, data: chunk.map((r) => r.features) } } : { instances: chunk.map((r) => r.features) };
      assert.equal((await postJson(url, body)).status, 200);
      sent += chunk.length;
    }
    // One the model rejects: a request, no rows; one that is not a prediction payload: unparseable.
    assert.equal((await postJson(url, { dataframe_split: { columns: ['nope'], data: [[1]] } })).status, 400);
    await app.flushStats();
    const adminUrl = `http://127.0.0.1:${admin!.port}`;
    const traffic: any = await (await fetch(`${adminUrl}/api/traffic`)).json();
    const metrics = await (await fetch(`${adminUrl}/metrics`)).text();
    return { windows: await readAll(store), traffic, metrics, sent, pending: app.profiler.pending };
  } finally {
    await app.close();
    await store.close();
  }
}

test('the worker thread writes the same windows as the in-loop drain, and /api/traffic and /metrics see its work', async () => {
  const inLoop = await run(false, 'in-loop');
  const inWorker = await run(true, 'worker');
  for (const r of [inLoop, inWorker]) {
    assert.equal(
      sum(r.windows, (w) => w.rows),
      r.sent,
    );
    assert.equal(
      sum(r.windows, (w) => w.requests['4xx'] ?? 0),
      1,
    );
    assert.equal(r.pending, 0, 'flushStats wrote every delta');
  }
  assert.equal(inWorker.sent, inLoop.sent);
  for (const f of FEATURES) {
    const bins = (r: typeof inLoop) => {
      const out: number[] = [];
      for (const w of r.windows) w.features[f]?.bins?.counts.forEach((c, i) => (out[i] = (out[i] ?? 0) + c));
      return out;
    };
    assert.ok(bins(inWorker).length > 3, `${f} is binned against the reference in the worker too`);
    assert.deepEqual(bins(inWorker), bins(inLoop), `${f}: identical bin counts`);
    assert.equal(
      sum(inWorker.windows, (w) => w.features[f]?.count ?? 0),
      inWorker.sent,
    );
  }
  assert.equal(
    sum(inWorker.windows, (w) => w.predictions.probabilities_0?.moments.n ?? 0),
    inWorker.sent,
  );
  // /api/traffic: the worker's summary, as fresh as the flush.
  const m = inWorker.traffic.models.find((x: any) => x.model === 'seattle-weather');
  assert.ok(m, 'the worker summary reached /api/traffic');
  assert.equal(m.rows, inWorker.sent);
  assert.equal(m.features.temp_max.count, inWorker.sent);
  assert.equal(m.requests, inLoop.traffic.models[0].requests);
  // /metrics: the worker's counts came back with its acks.
  assert.match(inWorker.metrics, new RegExp(`driftwatch_capture_rows_total\\{model="seattle-weather"\\} ${inWorker.sent}\\b`));
  assert.match(inWorker.metrics, /driftwatch_capture_dropped_total 0\b/);
});

test('close() flushes what the worker holds into the store (shutdown loses nothing)', async () => {
  const store = newStore('close');
  const app = createProxyApp(proxyConfig(server.url, true), { store, registry, logger: createLogger({ level: 'silent' }), columnsFor: () => FEATURES });
  const { proxy } = await app.start();
  const body = {
    dataframe_split: {
      columns: FEATURES,
      data: [
        [0, 12.8, 5, 4.7],
        [1.2, 8.1, 2.2, 3.3],
      ],
    },
  };
  for (let i = 0; i < 15; i++) assert.equal((await postJson(`http://127.0.0.1:${proxy.port}/invocations`, body)).status, 200);
  await app.close(); // no flushStats: the queue, the worker's batches and its deltas all go through close
  const ws = await readAll(store);
  await store.close();
  assert.equal(
    sum(ws, (w) => w.requests['2xx'] ?? 0),
    15,
  );
  assert.equal(
    sum(ws, (w) => w.rows),
    30,
  );
});

// ------------------------------------------------------------------ the drain on its own

function event(i: number): InferenceEvent {
  const req = JSON.stringify({ dataframe_split: { columns: ['a', 'b'], data: [[i, 'x']] } });
  return {
    requestId: `r${i}`,
    startedAtMs: Date.now(),
    method: 'POST',
    path: '/invocations',
    model: 'm',
    version: '1',
    route: 'invocations',
    status: 200,
    upstreamMs: 1,
    totalMs: 2,
    requestBytes: req.length,
    responseBytes: 0,
    skipped: null,
    request: { bytes: Buffer.from(req), contentType: 'application/json', contentEncoding: 'identity' },
    response: { bytes: Buffer.from('{"predictions":[{"label":"sun"}]}'), contentType: 'application/json', contentEncoding: 'identity' },
  };
}

function drainFixture(name: string, opts: { queueSize?: number; maxInflightBatches?: number; batchSize?: number } = {}) {
  const store = new EmbeddedStore({ path: join(tmp.dir, `${name}.db`), retentionDays: 30, rollupAfterHours: 48 });
  const metrics = createProxyMetrics();
  const queue = new BoundedQueue<InferenceEvent>(opts.queueSize ?? 1000);
  const { logger, lines } = memoryLogger();
  const cfg = loadConfig({ env: {}, overrides: { stats: { flushIntervalMs: 60_000 } } });
  const drain = new WorkerCaptureDrain({
    queue,
    metrics,
    logger,
    store,
    stats: cfg.stats,
    referenceFor: () => null,
    extract: { maxDecompressedBytes: 1 << 20 },
    intervalMs: 60_000,
    restartBackoffMs: 0,
    ...(opts.maxInflightBatches ? { maxInflightBatches: opts.maxInflightBatches } : {}),
    ...(opts.batchSize ? { batchSize: opts.batchSize } : {}),
  });
  const rows = async () => sum(await store.readWindows({ model: 'm', fromMs: Date.now() - 3600_000, toMs: Date.now() + 60_000 }), (w) => w.rows);
  const counter = async (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(await metrics.registry.metrics())?.[1] ?? NaN);
  return { store, metrics, queue, drain, lines, rows, counter };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), what);
}

test('a worker that dies is restarted and counted; its unacknowledged events are counted as dropped; nothing else is lost', async () => {
  const f = drainFixture('crash');
  f.drain.start();
  try {
    for (let i = 0; i < 40; i++) f.queue.offer(event(i));
    await f.drain.flush();
    assert.equal(await f.rows(), 40, 'events reach the store through the worker');
    const first = f.drain.threadId;
    assert.notEqual(first, null);

    // Dies with a batch in flight: that batch is either lost (counted) or was processed before
    // the end, whose deltas (not flushed yet) die with the worker; the count says which.
    for (let i = 0; i < 10; i++) f.queue.offer(event(100 + i));
    assert.equal(f.drain.drainOnce(), 10);
    await f.drain.terminateWorker();
    await until(() => f.drain.threadId !== null && f.drain.threadId !== first, 'a new worker was started');
    assert.equal(f.drain.restarts, 1);
    assert.equal(await f.counter('driftwatch_capture_worker_restarts_total'), 1, 'the restart is on /metrics');
    assert.ok(f.drain.lostEvents === 0 || f.drain.lostEvents === 10, `lost ${f.drain.lostEvents}`);
    assert.equal(await f.counter('driftwatch_capture_dropped_total'), f.drain.lostEvents);
    assert.ok(
      f.lines.some((l) => l.includes('capture worker exited; restarting it')),
      'the restart is logged',
    );

    // The new worker carries on.
    for (let i = 0; i < 25; i++) f.queue.offer(event(200 + i));
    await f.drain.flush();
    assert.equal(await f.rows(), 65);
    assert.equal(f.drain.inflightBatches, 0);
  } finally {
    await f.drain.stop();
    await f.store.close();
  }
});

test('a lagging worker: events wait in the bounded queue, and what does not fit is dropped and counted', async () => {
  const f = drainFixture('lag', { queueSize: 5, maxInflightBatches: 1, batchSize: 2 });
  f.drain.start();
  try {
    for (let i = 0; i < 5; i++) assert.equal(f.queue.offer(event(i)), true);
    // No await in between: the worker's ack cannot arrive, so it counts as lagging.
    assert.equal(f.drain.drainOnce(), 2, 'one batch of two posted');
    assert.equal(f.drain.drainOnce(), 0, 'the in-flight bound holds the next batch back');
    assert.equal(f.drain.inflightBatches, 1);
    assert.equal(f.queue.depth, 3);
    const accepted = [5, 6, 7, 8].map((i) => f.queue.offer(event(i)));
    assert.deepEqual(accepted, [true, true, false, false]);
    f.drain.drainOnce();
    assert.equal(await f.counter('driftwatch_capture_dropped_total'), 2);
    assert.equal(await f.counter('driftwatch_capture_queue_depth'), 5);
    await f.drain.flush();
    assert.equal(await f.rows(), 7, 'everything accepted reached the store');
    assert.equal(await f.counter('driftwatch_capture_dropped_total'), 2);
  } finally {
    await f.drain.stop();
    await f.store.close();
  }
});
