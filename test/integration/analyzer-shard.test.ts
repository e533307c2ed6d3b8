/**
 * Two analyzers share one fleet (issue 22): `analyzer.shard` 0/2 and 1/2, each with its own
 * findings history, outbox and InfluxDB client (as two pods of a StatefulSet), over one real
 * InfluxDB 1.x holding drifted traffic of eight models, and one shared registry whose Production
 * versions are old (stale). Every cycle, every model is checked by exactly one of them (drift,
 * data quality, SLO, staleness), and a real local webhook receiver gets every alert exactly once:
 * none twice, none missing, none repeated by later cycles.
 *
 * Without `influxd` on PATH the test skips loudly; with DRIFTWATCH_TEST_REQUIRE_INFLUX=1 it fails.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createAnalyzerApp, type AnalyzerApp } from '../../src/app/analyzer-app.js';
import { parseShard, shardOf } from '../../src/checks/shard.js';
import { loadConfig } from '../../src/config/load.js';
import type { Finding } from '../../src/findings/finding.js';
import { LocalRegistry } from '../../src/registry/local-registry.js';
import { latencyBounds } from '../../src/stats/latency-histogram.js';
import { buildReference } from '../../src/stats/reference.js';
import { emptyWindow, observeRequest, observeRows } from '../../src/stats/window-profile.js';
import { createInfluxStore, type InfluxStore } from '../../src/store/influx.js';
import { EXAMPLE_MODEL_DIR, ROOT, tempDir } from '../helpers.js';
import { findBinary, serversRequired, startInfluxd } from '../influx-server.js';
import { mulberry32 } from '../prng.js';

const tmp = tempDir('dw-analyzer-shard-');
after(() => tmp.cleanup());

const MODELS = ['fraud', 'churn', 'ltv', 'spam', 'eta', 'ranker', 'pricing', 'credit'];
const PROFILE = { sketchK: 200, maxCategories: 100, maxFeatures: 512 };

test('shard i/n: parsing and a stable, spread-out assignment by model name', () => {
  assert.deepEqual(parseShard('1/3'), { index: 1, count: 3 });
  for (const bad of ['3/3', '-1/2', '1/0', 'a/b', '1', '0/2000']) assert.equal(parseShard(bad), null, bad);
  // The eight models fall on both of two shards (so the test below exercises both analyzers).
  const owners = MODELS.map((m) => shardOf(m, 2));
  assert.ok(owners.includes(0) && owners.includes(1), `owners ${owners}`);
  // Rendezvous hashing: going from 2 to 3 analyzers only moves models to the new shard.
  const names = Array.from({ length: 2000 }, (_, i) => `model-${i}`);
  let moved = 0;
  for (const n of names) {
    const before = shardOf(n, 2);
    const now = shardOf(n, 3);
    if (now !== before) {
      assert.equal(now, 2, `${n} moved from ${before} to ${now}, not to the new shard`);
      moved++;
    }
  }
  // About a third move (binomial, n = 2000: 3 sd is about 63).
  assert.ok(Math.abs(moved - 2000 / 3) < 100, `moved ${moved}`);
});

test('two analyzers on one InfluxDB check every model once per cycle and notify once', async (t) => {
  if (findBinary('influxd') === null) {
    const msg = 'influxd not found on PATH (apt-get install influxdb)';
    if (serversRequired()) assert.fail(`${msg}, and DRIFTWATCH_TEST_REQUIRE_INFLUX=1 requires it`);
    t.skip(`SKIPPED: ${msg}; set DRIFTWATCH_TEST_REQUIRE_INFLUX=1 to make this a failure`);
    return;
  }
  const influx = await startInfluxd(join(tmp.dir, 'influx'), 'fleet');
  t.after(() => influx.stop());

  // A real webhook receiver: every notification body, in arrival order.
  const got: Array<{ status: string; model: string; alerts: Array<{ key: string; check: string; subject: { model: string } }> }> = [];
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push(JSON.parse(Buffer.concat(chunks).toString()));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => receiver.close(() => r())));
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const secret = `whsec_${Buffer.from('driftwatch-shard-test-secret').toString('base64')}`;

  // The registry: each model's v1 in Production, registered 200 days ago (stale by age), with a
  // reference of x ~ U(0, 10) and a three-valued category.
  const root = join(tmp.dir, 'registry');
  const old = new LocalRegistry(root, { now: () => Date.now() - 200 * 86_400_000 });
  const rand = mulberry32(22);
  const row = (shift: number) => ({ x: rand() * 10 + shift, y: rand() * 5 + shift, c: ['a', 'b', 'c'][Math.floor(rand() * 3)]! });
  for (const model of MODELS) {
    const v = await old.createModelVersion({ name: model, sourceDir: EXAMPLE_MODEL_DIR });
    await old.transitionStage(model, v.version, 'Production');
    const rows = Array.from({ length: 2000 }, () => row(0));
    await old.putReference(buildReference({ model, version: v.version, source: 'test', createdAtMs: Date.now(), rows, bins: 10, ...PROFILE }));
  }

  // Traffic of the last 30 minutes, shifted (every model drifts), written through driftwatch's
  // own InfluxDB store as a sidecar would.
  const writer = createInfluxStore(influxConfig(influx.url, join(tmp.dir, 'spool-writer')), {});
  const now = Date.now();
  for (const model of MODELS) {
    const ref = await old.getReference(model, '1');
    const deltas = [];
    for (let k = 1; k <= 30; k++) {
      const startMs = Math.floor(now / 60_000) * 60_000 - k * 60_000;
      const w = emptyWindow({ model, version: '1', startMs, windowSeconds: 60 }, latencyBounds([250]));
      for (let i = 0; i < 40; i++) observeRequest(w, 200, 5 + rand() * 20);
      observeRows(
        w,
        Array.from({ length: 40 }, () => row(3)),
        [],
        ref,
        PROFILE,
      );
      deltas.push(w);
    }
    await writer.writeWindows(deltas);
  }
  await writer.flush();
  await writer.close();

  const apps: AnalyzerApp[] = [];
  const stores: InfluxStore[] = [];
  for (const shard of ['0/2', '1/2']) {
    const dir = join(tmp.dir, `analyzer-${shard.replace('/', '-of-')}`);
    const config = loadConfig({
      env: {},
      overrides: {
        log: { level: 'silent' },
        registry: { root },
        // An analyzer holds a first firing back for the handover grace only for a model another
        // analyzer published a firing finding for (a takeover; alert-handover.test.ts tests it):
        // the grace is off here so that no cycle's alerts wait, whatever the fleet's history.
        analyzer: { shard, handoverGrace: '0s' },
        store: { kind: 'influxdb', influxdb: influxConfig(influx.url, join(dir, 'spool')) },
        // Scheduling off: the cycles are run by the test (runAll), so each is one whole cycle.
        checks: {
          enabled: false,
          findingsPath: join(dir, 'findings.db'),
          slo: { targets: [{ model: '*', p95Ms: 10_000 }] },
        },
        alerts: { outboxPath: join(dir, 'alerts.db'), receivers: [{ name: 'ops', kind: 'webhook', url: hook, secret }], retryInitialDelayMs: 20 },
      },
    });
    const store = createInfluxStore(config.store.influxdb, {});
    stores.push(store);
    const app = createAnalyzerApp(config, { store, registry: new LocalRegistry(root), admin: false });
    await app.start();
    apps.push(app);
  }
  t.after(async () => {
    for (const app of apps) await app.close();
    for (const s of stores) await s.close();
  });

  for (let cycle = 1; cycle <= 3; cycle++) {
    const [a, b] = (await Promise.all(apps.map((app) => app.runner.runAll()))) as [Finding[], Finding[]];
    for (const check of ['drift', 'data_quality', 'slo', 'staleness'] as const) {
      const modelsOf = (fs: Finding[]) => new Set(fs.filter((f) => f.check === check).map((f) => f.subject.model));
      const ma = modelsOf(a);
      const mb = modelsOf(b);
      assert.deepEqual(
        [...ma].filter((m) => mb.has(m)),
        [],
        `cycle ${cycle}: ${check} checked by both analyzers`,
      );
      assert.deepEqual([...new Set([...ma, ...mb])].sort(), [...MODELS].sort(), `cycle ${cycle}: ${check} did not check every model`);
      for (const m of ma) assert.equal(shardOf(m, 2), 0, `${m} checked by analyzer 0/2`);
      for (const m of mb) assert.equal(shardOf(m, 2), 1, `${m} checked by analyzer 1/2`);
    }
    const drifted = [...a, ...b].filter((f) => f.check === 'drift' && f.subject.name === '__dataset__' && f.status === 'fail');
    assert.equal(drifted.length, MODELS.length, `cycle ${cycle}: every model's inputs drifted`);
    assert.ok(
      [...a, ...b].every((f) => f.status !== 'error'),
      `no check errored: ${[...a, ...b]
        .filter((f) => f.status === 'error')
        .map((f) => f.message)
        .join('; ')}`,
    );
  }
  for (const app of apps) await app.alerts.flush(15_000);
  // Would a duplicate (or a late repeat) still arrive?
  await new Promise((r) => setTimeout(r, 1_000));

  // Each alert (its key: check, model, version, subject) is sent firing exactly once, by its
  // model's analyzer; a later cycle may fire new alerts (the staleness drift streak), never repeat one.
  const firing = got.filter((n) => n.status === 'firing');
  const timesSent = new Map<string, number>();
  const checksOf = new Map<string, Set<string>>();
  for (const n of firing) {
    assert.ok(
      n.alerts.every((a) => a.subject.model === n.model),
      'a notification is about one model',
    );
    for (const a of n.alerts) {
      timesSent.set(a.key, (timesSent.get(a.key) ?? 0) + 1);
      checksOf.set(n.model, (checksOf.get(n.model) ?? new Set()).add(a.check));
    }
  }
  assert.deepEqual(
    [...timesSent].filter(([, times]) => times !== 1),
    [],
    'no alert sent twice',
  );
  for (const model of MODELS) {
    assert.ok(checksOf.get(model)?.has('drift'), `${model}: its drift alert was sent`);
    assert.ok(checksOf.get(model)?.has('staleness'), `${model}: its staleness alert was sent`);
  }
  assert.equal(got.filter((n) => n.status !== 'firing').length, 0, 'nothing resolved: the conditions held in every cycle');
});

test('driftwatch analyze --shard: a value that is not i/n is a usage error naming the flag', () => {
  const cli = [import.meta.resolve('tsx'), join(ROOT, 'src', 'cli', 'main.ts')];
  for (const [args, env, pattern] of [
    [['analyze', '--shard', '2/2'], {}, /--shard must be I\/N/],
    [['analyze'], { DRIFTWATCH_ANALYZER_SHARD: '3/2' }, /analyzer\.shard/],
  ] as const) {
    const r = spawnSync(process.execPath, ['--import', ...cli, ...args], {
      cwd: tmp.dir,
      env: { ...process.env, ...env, DRIFTWATCH_ADMIN_PORT: '0' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
  }
});

function influxConfig(url: string, spoolDir: string) {
  return loadConfig({ env: {}, overrides: { store: { kind: 'influxdb', influxdb: { apiVersion: 'v1', url, database: 'fleet', spoolDir } } } }).store.influxdb;
}
