/**
 * End to end: a check run's findings become one signed, grouped notification at a real local
 * receiver, through the analyzer as `driftwatch start` and `analyze` compose it; its /metrics
 * carries the outbox depth, delivery latency and outcomes. And issue 5's "done when": real summer
 * traffic replayed through the real sidecar against a reference built from the training period
 * pages once per drifting model naming the features, and each alert resolves once the traffic is
 * the reference distribution again (one-second windows and a 10 s drift window, so the two
 * phases fall in different spans; the phases are separated by waiting 11 s, not by asserting on
 * time).
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createAnalyzerApp } from '../../src/app/analyzer-app.js';
import { createProxyApp } from '../../src/app/proxy-app.js';
import { buildReferenceFromFile } from '../../src/reference/build-reference.js';
import { loadConfig } from '../../src/config/load.js';
import { LocalRegistry } from '../../src/registry/local-registry.js';
import { EXAMPLE_MODEL_DIR, FEATURES, ROOT, postJson, startServer, tempDir, weatherRows } from '../helpers.js';
import { EmbeddedStore } from '../../src/store/embedded.js';
import { createLogger } from '../../src/telemetry/logger.js';

const tmp = tempDir('dw-alerts-e2e-');
after(() => tmp.cleanup());

test('a stale Production version pages the configured webhook once, signed, with every rule in one notification', async () => {
  const got: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const secretBytes = Buffer.from('driftwatch-test-secret-0123456789');
  const secret = `whsec_${secretBytes.toString('base64')}`;
  const root = join(tmp.dir, 'registry');
  const old = new LocalRegistry(root, { now: () => Date.now() - 200 * 86_400_000 });
  const v1 = await old.createModelVersion({ name: 'fraud', sourceDir: EXAMPLE_MODEL_DIR });
  await old.transitionStage('fraud', v1.version, 'Production');
  await old.createModelVersion({ name: 'fraud', sourceDir: EXAMPLE_MODEL_DIR }); // v2: newer, not deployed
  const config = loadConfig({
    env: {},
    overrides: {
      log: { level: 'silent' },
      admin: { port: 0 },
      registry: { root },
      checks: { findingsPath: join(tmp.dir, 'findings.db'), staleness: { noTraffic: '' } },
      alerts: {
        outboxPath: join(tmp.dir, 'alerts.db'),
        receivers: [{ name: 'ops', kind: 'webhook', url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, secret }],
        retryInitialDelayMs: 20,
      },
    },
  });
  const store = new EmbeddedStore({ path: join(tmp.dir, 'stats.db'), retentionDays: 30, rollupAfterHours: 48 });
  const { lines, logger } = await import('../helpers.js').then((h) => h.memoryLogger('info'));
  const app = createAnalyzerApp(config, { store, registry: new LocalRegistry(root), logger, admin: true });
  const { admin } = await app.start();
  try {
    await app.runner.run('staleness');
    await app.runner.run('staleness'); // still firing: no repeat within repeatInterval
    const deadline = Date.now() + 15_000;
    while (got.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 1500)); // would a duplicate arrive?
    assert.equal(got.length, 1, 'one grouped notification');
    const { headers, body } = got[0]!;
    const expected = createHmac('sha256', secretBytes).update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`).digest('base64');
    assert.ok(String(headers['webhook-signature']).split(' ').includes(`v1,${expected}`), 'Standard Webhooks signature verifies');
    const payload = JSON.parse(body);
    assert.equal(payload.status, 'firing');
    assert.equal(payload.model, 'fraud');
    const names = payload.alerts.map((a: any) => a.subject.name).sort();
    assert.deepEqual(names, ['age', 'newer_version']);
    assert.ok(!lines.some((l) => l.includes(secretBytes.toString('base64'))), 'the secret is never logged');
    // outbox depth, delivery latency and outcomes on the analyzer's /metrics (admin port)
    const metrics = await (await fetch(`http://127.0.0.1:${admin!.port}/metrics`)).text();
    assert.match(metrics, /^driftwatch_alerts_outbox_depth 0$/m);
    assert.match(metrics, /^driftwatch_alerts_deliveries_total\{receiver="ops",outcome="delivered"\} 1$/m);
    assert.match(metrics, /^driftwatch_alerts_delivery_seconds_count\{receiver="ops"\} 1$/m);
    assert.match(metrics, /^driftwatch_alerts_fired_total\{check="staleness",severity="warn"\} 2$/m);
    assert.match(metrics, /^driftwatch_alerts_orphaned_total 0$/m);
  } finally {
    await app.close();
    await store.close();
    await new Promise((r) => receiver.close(r));
  }
});

test('issue 5 "done when": summer traffic through the sidecar pages once per drifting model naming the features; back to the reference, each resolves', async () => {
  const got: Array<{ headers: http.IncomingHttpHeaders; json: any }> = [];
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, json: JSON.parse(Buffer.concat(chunks).toString()) });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const root = join(tmp.dir, 'registry-done');
  const registry = new LocalRegistry(root);
  const models = ['weather-a', 'weather-b', 'weather-steady'];
  for (const name of models) {
    const mv = await registry.createModelVersion({ name, sourceDir: EXAMPLE_MODEL_DIR });
    await registry.transitionStage(name, mv.version, 'Production');
    await buildReferenceFromFile(
      { registry, now: Date.now },
      {
        modelUri: `models:/${name}/1`,
        dataPath: join(ROOT, 'examples', 'seattle-weather', 'training.csv'),
        settings: { bins: 10, sketchK: 2048, maxCategories: 100 },
      },
    );
  }
  const server = await startServer({ registryRoot: root, models: models.map((m) => ({ uri: `models:/${m}/1` })) });
  const clock = { t: Date.now() };
  const config = loadConfig({
    env: {},
    overrides: {
      log: { level: 'silent' },
      registry: { root },
      proxy: { port: 0, upstream: server.url },
      admin: { enabled: false },
      // one-second windows and a 10 s drift window, so the two phases of traffic fall in different spans
      stats: { windowSeconds: 1, flushIntervalMs: 60_000 },
      checks: { findingsPath: join(tmp.dir, 'findings-done.db'), drift: { window: '10s' }, staleness: { noTraffic: '' } },
      alerts: {
        outboxPath: join(tmp.dir, 'alerts-done.db'),
        receivers: [
          {
            name: 'ops',
            kind: 'webhook',
            url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
            secret: 'whsec_' + Buffer.from('done-when-secret-0123456789').toString('base64'),
          },
        ],
        retryInitialDelayMs: 20,
      },
    },
  });
  const store = new EmbeddedStore({ path: join(tmp.dir, 'stats-done.db'), retentionDays: 30, rollupAfterHours: 48 });
  const proxy = createProxyApp(config, {
    store,
    registry,
    logger: createLogger({ level: 'silent' }),
    preloadReferences: () => models.map((model) => ({ model, version: '1' })),
  });
  const analyzer = createAnalyzerApp(config, { store, registry, logger: createLogger({ level: 'silent' }), now: () => clock.t });
  const p = await proxy.start();
  await analyzer.start();
  const proxyUrl = `http://127.0.0.1:${p.proxy.port}`;
  async function replay(model: string, rows: Array<{ features: number[] }>) {
    for (let i = 0; i < rows.length; i += 10) {
      const chunk = rows.slice(i, i + 10);
      const inputs = FEATURES.map((f, j) => ({ name: f, shape: [chunk.length], datatype: 'FP64', data: chunk.map((x) => x.features[j]) }));
      const r = await postJson(`${proxyUrl}/v2/models/${model}/infer`, { inputs });
      assert.equal(r.status, 200);
    }
  }
  async function waitFor(n: number) {
    const end = Date.now() + 15_000;
    while (got.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300)); // would more arrive?
  }
  try {
    // phase 1: summer 2014-2015 to two models, the reference period itself to the third
    const summer = [...weatherRows('2014-06-01', '2014-09-30'), ...weatherRows('2015-06-01', '2015-09-30')];
    const reference = weatherRows('2012-01-01', '2013-12-31');
    await replay('weather-a', summer);
    await replay('weather-b', summer);
    await replay('weather-steady', reference);
    await proxy.flushStats();
    clock.t = Date.now();
    await analyzer.runner.run('drift');
    await waitFor(2);
    assert.equal(got.length, 2, 'one notification per drifting model');
    assert.deepEqual(got.map((g) => g.json.model).sort(), ['weather-a', 'weather-b']);
    for (const g of got) {
      assert.equal(g.json.status, 'firing');
      const features = g.json.alerts.map((a: any) => a.subject.name);
      assert.ok(features.includes('temp_max') && features.includes('temp_min'), `names the drifting features: ${features.join(', ')}`);
      assert.ok(g.json.alerts.every((a: any) => a.check === 'drift' && a.subject.model === g.json.model));
    }
    const fired = new Map(got.map((g) => [g.json.model, g.json.alerts.map((a: any) => a.key).sort()]));

    // phase 2, once phase 1 has left the 10 s window: traffic back to the reference distribution
    const phase1End = Date.now();
    while (Date.now() < phase1End + 11_000) await new Promise((r) => setTimeout(r, 100));
    await replay('weather-a', reference);
    await replay('weather-b', reference);
    await replay('weather-steady', reference);
    await proxy.flushStats();
    clock.t = Date.now();
    const findings = await analyzer.runner.run('drift');
    assert.ok(
      findings.filter((f) => f.subject.model === 'weather-a').every((f) => f.status === 'ok'),
      'back to the reference: ok',
    );
    await waitFor(4);
    assert.equal(got.length, 4);
    const resolved = got.slice(2);
    assert.deepEqual(resolved.map((g) => g.json.model).sort(), ['weather-a', 'weather-b']);
    for (const g of resolved) {
      assert.equal(g.json.status, 'resolved');
      assert.deepEqual(g.json.alerts.map((a: any) => a.key).sort(), fired.get(g.json.model), 'every alert that fired resolves');
    }
  } finally {
    await analyzer.close();
    await proxy.close();
    await store.close();
    await server.close();
    await new Promise((r) => receiver.close(r));
  }
});
