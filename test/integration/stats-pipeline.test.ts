/**
 * Traffic through the sidecar ends up, per feature and window, in the embedded store: the real
 * scoring server with the example model behind the real proxy, real rows of the Seattle data set
 * in every MLflow input format, binned against a reference built from the training period. Also:
 * a store outage loses nothing (deltas kept and retried) and never touches the traffic; the admin
 * API serves the stored windows and answers bad parameters with 400 and a message.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createProxyApp, type ProxyApp } from '../../src/app/proxy-app.js';
import { loadConfig } from '../../src/config/load.js';
import { buildReferenceFromFile } from '../../src/reference/build-reference.js';
import { EmbeddedStore } from '../../src/store/embedded.js';
import type { StatsStore } from '../../src/store/types.js';
import type { ReferenceProfile, WindowProfile } from '../../src/stats/types.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { LocalRegistry } from '../../src/registry/local-registry.js';
import { EXAMPLE_MODEL_DIR, FEATURES, ROOT, postJson, startServer, tempDir, weatherRows, type RunningServer } from '../helpers.js';

const tmp = tempDir('dw-pipeline-');
let server: RunningServer;
let registry: LocalRegistry;
let reference: ReferenceProfile;

/** A real store whose writes can be made to fail, to stand for a full disk or a locked file. */
class FlakyStore implements StatsStore {
  down = false;
  failedWrites = 0;
  constructor(readonly inner: EmbeddedStore) {}
  get describe() {
    return `flaky ${this.inner.describe}`;
  }
  async writeWindows(d: readonly WindowProfile[]) {
    if (this.down) {
      this.failedWrites++;
      throw new Error('disk I/O error (simulated)');
    }
    return this.inner.writeWindows(d);
  }
  readWindows = (q: Parameters<StatsStore['readWindows']>[0]) => this.inner.readWindows(q);
  listSeries = () => this.inner.listSeries();
  maintain = (n: number) => this.inner.maintain(n);
  health = () => this.inner.health();
  close = () => this.inner.close();
}

function proxyConfig(upstream: string, extra: Record<string, unknown> = {}) {
  return loadConfig({
    env: {},
    overrides: {
      proxy: { port: 0, upstream, model: 'seattle-weather' },
      admin: { port: 0 },
      registry: { root: join(tmp.dir, 'registry') },
      stats: { flushIntervalMs: 60_000, latencySloMs: [7.5] },
      log: { level: 'silent' },
      ...extra,
    },
  });
}

before(async () => {
  registry = new LocalRegistry(join(tmp.dir, 'registry'));
  const mv = await registry.createModelVersion({ name: 'seattle-weather', sourceDir: EXAMPLE_MODEL_DIR });
  const built = await buildReferenceFromFile(
    { registry, now: () => Date.UTC(2026, 11, 1) },
    {
      modelUri: `models:/seattle-weather/${mv.version}`,
      dataPath: join(ROOT, 'examples', 'seattle-weather', 'training.csv'),
      settings: { bins: 10, sketchK: 200, maxCategories: 100 },
    },
  );
  reference = built.reference;
  server = await startServer({ registryRoot: join(tmp.dir, 'registry'), models: [{ uri: 'models:/seattle-weather/1' }] });
});
after(async () => {
  await server?.close();
  tmp.cleanup();
});

test('the reference from the training CSV: four numeric inputs with decile bins, weather ignored (not a model column)', () => {
  assert.equal(reference.rows, 731);
  assert.deepEqual(Object.keys(reference.features).sort(), [...FEATURES].sort());
  for (const f of FEATURES) {
    assert.equal(reference.features[f]!.kind, 'numerical');
    // precipitation is zero on half the days: tied quantiles merge, so it has fewer bins.
    assert.ok(reference.features[f]!.binEdges!.edges.length >= (f === 'precipitation' ? 3 : 8), `${f} has bins`);
  }
});

test('traffic through the proxy lands in the embedded store per feature and window, binned against the reference', async () => {
  const store = new EmbeddedStore({ path: join(tmp.dir, 'pipeline.db'), retentionDays: 30, rollupAfterHours: 48 });
  const app: ProxyApp = createProxyApp(proxyConfig(server.url), {
    store,
    registry,
    logger: createLogger({ level: 'silent' }),
    columnsFor: () => FEATURES, // positional rows ({"instances": [[...]]}) take the signature's names
    preloadReferences: () => [{ model: 'seattle-weather', version: '1' }],
  });
  const { proxy, admin } = await app.start();
  try {
    const url = `http://127.0.0.1:${proxy.port}/invocations`;
    const rows = weatherRows('2014-01-01', '2014-03-31'); // later traffic, winter: real data
    let sent = 0;
    let requests = 0;
    for (let i = 0; i < rows.length; i += 6) {
      const chunk = rows.slice(i, i + 6);
      const bodies = [
        { dataframe_split: { columns: FEATURES, data: chunk.map((r) => r.features) } },
        { dataframe_records: chunk.map((r) => Object.fromEntries(FEATURES.map((f, j) => [f, r.features[j]]))) },
        { instances: chunk.map((r) => r.features) },
        { inputs: Object.fromEntries(FEATURES.map((f, j) => [f, chunk.map((r) => r.features[j])])) },
      ];
      const r = await postJson(url, bodies[(i / 6) % 4]!);
      assert.equal(r.status, 200);
      sent += chunk.length;
      requests++;
    }
    // CSV too, and one bad request (a 400 counts as a request, not as rows).
    const csv = await fetch(url, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: `${FEATURES.join(',')}\n1.5,10.0,3.0,4.0\n` });
    assert.equal(csv.status, 200);
    await csv.text();
    sent += 1;
    requests++;
    assert.equal((await postJson(url, { dataframe_split: { columns: ['nope'], data: [[1]] } })).status, 400);
    requests++;

    await app.flushStats();
    const windows = await store.readWindows({ model: 'seattle-weather', fromMs: Date.now() - 3600_000, toMs: Date.now() + 60_000 });
    assert.ok(windows.length >= 1 && windows.length <= 2, `one or two minute windows, got ${windows.length}`);
    const sum = (f: (w: WindowProfile) => number) => windows.reduce((a, w) => a + f(w), 0);
    assert.equal(
      sum((w) => w.rows),
      sent,
    );
    assert.equal(
      sum((w) => w.requests['2xx'] ?? 0),
      requests - 1,
    );
    assert.equal(
      sum((w) => w.requests['4xx'] ?? 0),
      1,
    );
    assert.equal(
      sum((w) => w.latency.counts.reduce((a, b) => a + b, 0)),
      requests,
    );
    assert.ok(windows[0]!.latency.boundsMs.includes(7.5), 'the SLO threshold is an exact bucket boundary');
    for (const f of FEATURES) {
      const count = sum((w) => w.features[f]?.count ?? 0);
      assert.equal(count, sent, f);
      for (const w of windows) {
        const fp = w.features[f];
        if (!fp) continue; // a window that only saw the rejected request

        assert.ok(fp.bins, `${f} is binned against the reference`);
        assert.equal(
          fp.bins!.counts.reduce((a, b) => a + b, 0),
          fp.count - fp.missing,
        );
        assert.equal(fp.bins!.counts.length, reference.features[f]!.binEdges!.edges.length + 3);
      }
    }
    // Winter temperatures sit in the reference's lower bins: the distribution really is there.
    const tmax = windows.find((w) => w.features.temp_max)!.features.temp_max!;
    const lowerHalf = tmax.bins!.counts.slice(0, Math.ceil(tmax.bins!.counts.length / 2)).reduce((a, b) => a + b, 0);
    assert.ok(lowerHalf > tmax.count * 0.6, `winter temp_max mostly in the lower bins (${lowerHalf} of ${tmax.count})`);
    // Predictions: the label is categorical, the probabilities arrays are counted as values.
    const labels = sum((w) =>
      w.predictions.label ? Object.values(w.predictions.label.categories.counts).reduce((a, b) => a + b, 0) + w.predictions.label.categories.other : 0,
    );
    // The probability vector became one numeric column per class.
    assert.equal(
      sum((w) => w.predictions.probabilities_0?.moments.n ?? 0),
      sent,
    );
    assert.equal(labels, sent);

    // The admin API serves the stored windows.
    const adminUrl = `http://127.0.0.1:${admin!.port}`;
    const total: any = await (await fetch(`${adminUrl}/api/windows?model=seattle-weather&from=1h&view=total`)).json();
    assert.equal(total.versions.length, 1);
    assert.equal(total.versions[0].rows, sent);
    assert.equal(total.versions[0].features.temp_max.count, sent);
    assert.ok(total.versions[0].features.temp_max.numeric.p50 > -10 && total.versions[0].features.temp_max.numeric.p50 < 20);
    const series: any = await (await fetch(`${adminUrl}/api/series`)).json();
    assert.equal(series.series[0].model, 'seattle-weather');
    assert.match(series.store, /^embedded:/);
    for (const bad of ['', '?model=seattle-weather&from=yesterday', '?model=seattle-weather&from=now&to=1h', '?model=seattle-weather&view=pie']) {
      const r = await fetch(`${adminUrl}/api/windows${bad}`);
      assert.equal(r.status, 400, bad);
      const body: any = await r.json();
      assert.equal(typeof body.message, 'string');
      assert.ok(body.message.length > 10);
    }
  } finally {
    await app.close();
    await store.close();
  }
});

test('a store outage loses nothing and never touches the traffic: deltas are kept, retried, and counted', async () => {
  const inner = new EmbeddedStore({ path: join(tmp.dir, 'flaky.db'), retentionDays: 30, rollupAfterHours: 48 });
  const store = new FlakyStore(inner);
  const app = createProxyApp(proxyConfig(server.url), { store, registry, logger: createLogger({ level: 'silent' }) });
  const { proxy, admin } = await app.start();
  try {
    const url = `http://127.0.0.1:${proxy.port}/invocations`;
    const body = {
      dataframe_split: {
        columns: FEATURES,
        data: [
          [0, 12.8, 5, 4.7],
          [1.2, 8.1, 2.2, 3.3],
        ],
      },
    };
    store.down = true;
    for (let i = 0; i < 20; i++) assert.equal((await postJson(url, body)).status, 200);
    await app.flushStats();
    await app.flushStats();
    assert.ok(store.failedWrites >= 2);
    assert.ok(app.profiler.pending >= 1, 'the deltas are still held');
    const metrics = await (await fetch(`http://127.0.0.1:${admin!.port}/metrics`)).text();
    assert.match(metrics, /driftwatch_store_flushes_total\{outcome="failed"\} [2-9]/);
    for (let i = 0; i < 10; i++) assert.equal((await postJson(url, body)).status, 200);
    store.down = false;
    await app.flushStats();
    assert.equal(app.profiler.pending, 0);
    const ws = await inner.readWindows({ model: 'seattle-weather', fromMs: Date.now() - 3600_000, toMs: Date.now() + 60_000 });
    assert.equal(
      ws.reduce((a, w) => a + (w.requests['2xx'] ?? 0), 0),
      30,
    );
    assert.equal(
      ws.reduce((a, w) => a + w.rows, 0),
      60,
    );
  } finally {
    await app.close();
    await inner.close();
  }
});

test('close() flushes: what was captured before a clean shutdown is in the store', async () => {
  const path = join(tmp.dir, 'shutdown.db');
  const app = createProxyApp(proxyConfig(server.url, { store: { embedded: { path } } }), { registry, logger: createLogger({ level: 'silent' }) });
  const { proxy } = await app.start();
  for (let i = 0; i < 5; i++) assert.equal((await postJson(`http://127.0.0.1:${proxy.port}/invocations`, { instances: [[0, 10, 5, 3]] })).status, 200);
  await app.close(); // the app made this store, so it closes it too
  const reopened = new EmbeddedStore({ path, retentionDays: 30, rollupAfterHours: 48 });
  const ws = await reopened.readWindows({ model: 'seattle-weather', fromMs: Date.now() - 3600_000, toMs: Date.now() + 60_000 });
  assert.equal(
    ws.reduce((a, w) => a + w.rows, 0),
    5,
  );
  await reopened.close();
});

test('a foreign upstream (no version header, like mlflow models serve): proxy.version names the version, so its reference applies', async () => {
  const http = await import('node:http');
  const upstream = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const n = JSON.parse(Buffer.concat(chunks).toString()).dataframe_split.data.length;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ predictions: Array.from({ length: n }, () => 'sun') }));
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const store = new EmbeddedStore({ path: join(tmp.dir, 'foreign.db'), retentionDays: 30, rollupAfterHours: 48 });
  const url = `http://127.0.0.1:${(upstream.address() as import('node:net').AddressInfo).port}`;
  const cfg = proxyConfig(url, { proxy: { port: 0, upstream: url, model: 'seattle-weather', version: '1' } });
  const app = createProxyApp(cfg, {
    store,
    registry,
    logger: createLogger({ level: 'silent' }),
    preloadReferences: () => [{ model: 'seattle-weather', version: '1' }],
  });
  try {
    const { proxy } = await app.start();
    for (let i = 0; i < 3; i++)
      assert.equal(
        (
          await postJson(`http://127.0.0.1:${proxy.port}/invocations`, {
            dataframe_split: {
              columns: FEATURES,
              data: [
                [0, 10, 5, 3],
                [1, 20, 9, 2],
              ],
            },
          })
        ).status,
        200,
      );
    await app.flushStats();
    const ws = await store.readWindows({ model: 'seattle-weather', fromMs: Date.now() - 3600_000, toMs: Date.now() + 60_000 });
    assert.deepEqual([...new Set(ws.map((w) => w.version))], ['1']);
    assert.equal(
      ws.reduce((a, w) => a + w.rows, 0),
      6,
    );
    assert.ok(ws[0]!.features.temp_max!.bins, 'binned against version 1 reference');
    assert.equal(ws[0]!.predictions.prediction!.categories.counts.sun, 6);
  } finally {
    await app.close();
    await store.close();
    await new Promise((r) => upstream.close(r));
  }
});
