/**
 * The scheduled checks end to end on real components: the example model behind the real sidecar,
 * real rows of the Seattle data set replayed as later traffic with its real seasonal shift, the
 * embedded store, the local registry, the findings store, the admin API. Drift fails on the
 * features that moved and passes on one that did not; a slow upstream breaks the SLO in the window
 * it happened; an old Production version gets the stale tags and loses them when a newer version
 * is promoted; a check that cannot run reports `error` and the runner carries on.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createAnalyzerApp, type AnalyzerApp } from '../../src/app/analyzer-app.js';
import { createProxyApp, type ProxyApp } from '../../src/app/proxy-app.js';
import type { Finding } from '../../src/findings/finding.js';
import { loadConfig } from '../../src/config/load.js';
import { compareWithReference } from '../../src/drift/drift-check.js';
import { mergeWindows } from '../../src/stats/window-profile.js';
import { buildReferenceFromFile } from '../../src/reference/build-reference.js';
import { LocalRegistry } from '../../src/registry/local-registry.js';
import { STALE_REASON_TAG, STALE_SINCE_TAG, STALE_TAG } from '../../src/registry/staleness-check.js';
import { Scheduler } from '../../src/schedule/scheduler.js';
import { EmbeddedStore } from '../../src/store/embedded.js';
import { FindingStore } from '../../src/findings/history.js';
import type { StatsStore } from '../../src/store/types.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { EXAMPLE_MODEL_DIR, FEATURES, ROOT, postJson, startServer, tempDir, weatherRows, type RunningServer } from '../helpers.js';

const tmp = tempDir('dw-checks-');
after(() => tmp.cleanup());
const silent = createLogger({ level: 'silent' });
const REGISTRY = join(tmp.dir, 'registry');

function config(extra: Record<string, any> = {}) {
  return loadConfig({
    env: {},
    overrides: {
      proxy: { port: 0, model: 'weather-summer' },
      admin: { port: 0 },
      registry: { root: REGISTRY },
      stats: { flushIntervalMs: 60_000 },
      store: { embedded: { path: join(tmp.dir, 'stats.db') } },
      log: { level: 'silent' },
      ...extra,
      checks: {
        findingsPath: join(tmp.dir, `findings-${Math.random().toString(36).slice(2)}.db`),
        ...extra.checks,
        drift: { window: '1h', ...extra.checks?.drift },
        staleness: { noTraffic: '', ...extra.checks?.staleness },
      },
    },
  });
}

const find = (fs: readonly Finding[], name: string, model?: string) => fs.find((f) => f.subject.name === name && (!model || f.subject.model === model));

describe('drift on a real seasonal shift, through the sidecar', () => {
  let server: RunningServer;
  let registry: LocalRegistry;
  let store: EmbeddedStore;
  let proxy: ProxyApp;
  let analyzer: AnalyzerApp;
  let proxyUrl: string;
  let adminUrl: string;

  before(async () => {
    registry = new LocalRegistry(REGISTRY);
    // Two registered models from the same artefact, each with the training period (2012-2013) as reference.
    for (const name of ['weather-summer', 'weather-year']) {
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
    server = await startServer({ registryRoot: REGISTRY, models: [{ uri: 'models:/weather-summer/1' }, { uri: 'models:/weather-year/1' }] });
    store = new EmbeddedStore({ path: join(tmp.dir, 'drift.db'), retentionDays: 30, rollupAfterHours: 48 });
    const cfg = config({ proxy: { port: 0, model: 'weather-summer', upstream: server.url } });
    proxy = createProxyApp(cfg, {
      store,
      registry,
      logger: silent,
      columnsFor: () => FEATURES,
      preloadReferences: () => [
        { model: 'weather-summer', version: '1' },
        { model: 'weather-year', version: '1' },
      ],
    });
    const p = await proxy.start();
    proxyUrl = `http://127.0.0.1:${p.proxy.port}`;
    analyzer = createAnalyzerApp(cfg, { store, registry, logger: silent, admin: true });
    const a = await analyzer.start();
    adminUrl = `http://127.0.0.1:${a.admin!.port}`;
  });
  after(async () => {
    await analyzer?.close();
    await proxy?.close();
    await store?.close();
    await server?.close();
  });

  test('summer 2014-2015 against the 2012-2013 reference: temperatures fail, the dataset drifted', async () => {
    // Later traffic, in time order: June-September of 2014 and 2015 (244 days), in MLflow's split format.
    const rows = [...weatherRows('2014-06-01', '2014-09-30'), ...weatherRows('2015-06-01', '2015-09-30')];
    for (let i = 0; i < rows.length; i += 8) {
      const r = await postJson(`${proxyUrl}/invocations`, { dataframe_split: { columns: FEATURES, data: rows.slice(i, i + 8).map((x) => x.features) } });
      assert.equal(r.status, 200);
    }
    // The whole year 2014-2015 (730 days) to the other model, over the Open Inference Protocol.
    const year = [...weatherRows('2014-01-01', '2014-12-31'), ...weatherRows('2015-01-01', '2015-12-31')];
    for (let i = 0; i < year.length; i += 10) {
      const chunk = year.slice(i, i + 10);
      const inputs = FEATURES.map((f, j) => ({ name: f, shape: [chunk.length], datatype: 'FP64', data: chunk.map((x) => x.features[j]) }));
      const r = await postJson(`${proxyUrl}/v2/models/weather-year/infer`, { inputs });
      assert.equal(r.status, 200);
    }
    await proxy.flushStats();
    const findings = await analyzer.runner.run('drift');
    const summer = findings.filter((f) => f.subject.model === 'weather-summer');
    for (const f of ['temp_max', 'temp_min']) {
      const x = find(summer, f)!;
      assert.equal(x.status, 'fail', x.message);
      assert.equal(x.sampleSize, 244);
      // Issue 23: significant (KS) and large (an effect at or above its floor); the finding leads
      // with the effect that decided, and carries the test beside it.
      const d = x.detail as any;
      assert.equal(d.rule, 'test-and-effect');
      assert.equal(d.decision.decided_by, 'both');
      assert.equal(d.decision.test.stat, 'ks');
      assert.ok(d.decision.test.pvalue < 1e-20, x.message);
      assert.equal(x.metric, d.decision.effect.stat);
      assert.ok(['psi', 'wasserstein', 'ks_statistic'].includes(x.metric), x.metric);
      assert.equal(x.value, d.decision.effect.value);
      assert.equal(x.threshold.fail, d.decision.effect.floor);
      assert.ok(x.value! >= x.threshold.fail!, x.message);
      assert.equal(x.threshold.direction, 'above');
      assert.ok(d.psi.value > 1, `PSI is still reported: ${d.psi.value}`);
      assert.ok(d.ks.statistic > 0.5 && d.ks.errorBound < 0.05, JSON.stringify(d.ks));
    }
    const dataset = find(summer, '__dataset__')!;
    assert.equal(dataset.status, 'fail', dataset.message);
    assert.ok(dataset.value! >= 0.5);
    // The training CSV has no prediction columns, so this reference has none: no prediction findings.
    assert.ok(!summer.some((f) => f.subject.role === 'prediction'));

    // The whole year: precipitation did not move (KS p ~ 0.37 on the raw data), the warmer years' temperatures did.
    const yearF = findings.filter((f) => f.subject.model === 'weather-year');
    const precip = find(yearF, 'precipitation')!;
    assert.equal(precip.status, 'ok', precip.message);
    assert.equal(precip.insufficientData, undefined);
    assert.equal(precip.sampleSize, 730);
    // The warmer years' temp_min is significant (KS p ~ 0.007), and its effect sits right at the
    // default floor (KS D ~ 0.10, about a quarter of a standard deviation): the verdict follows the
    // effect, whichever side of the floor the sketches put it.
    const tmin = find(yearF, 'temp_min')!;
    const td = (tmin.detail as any).decision;
    assert.equal(td.test.significant, true, tmin.message);
    assert.ok(Math.abs(td.effect.value - td.effect.floor) < 0.02, tmin.message);
    assert.equal(tmin.status, td.effect.large ? 'fail' : 'ok', tmin.message);
    assert.match(
      tmin.message,
      /weather-year v1 temp_min: (psi|wasserstein|ks_statistic) .* over the last 1h, n=730 vs reference n=731: (fail|ok) \[ks p .* < 0\.0500 (and|but) /,
    );

    // Wasserstein (normalised by the reference std) as an option, here with a lower sample gate.
    const windows = await store.readWindows({ model: 'weather-summer', version: '1', fromMs: Date.now() - 3600_000, toMs: Date.now() + 60_000 });
    const merged = windows.reduce((a, b) => mergeWindows(a, b));
    const withW = compareWithReference(merged, (await registry.getReference('weather-summer', '1'))!, {
      ...config().checks.drift,
      wasserstein: 0.1,
      minSamplesDistance: 100,
    });
    const wTmax = withW.find((f) => f.name === 'temp_max')!;
    assert.ok(wTmax.wasserstein!.value > 0.5, JSON.stringify(wTmax.wasserstein));
    assert.ok(wTmax.verdicts.some((v) => v.stat === 'wasserstein' && v.status === 'fail'));
    // Under the test-only rule it is off unless configured (the default rule computes it as an effect).
    const noW = compareWithReference(merged, (await registry.getReference('weather-summer', '1'))!, { ...config().checks.drift, rule: 'test-only' });
    assert.equal(noW.find((f) => f.name === 'temp_max')!.wasserstein, null, 'off unless configured');

    // Findings are kept and served; bad filters are a 400 with a message; gauges are on /metrics.
    const api: any = await (await fetch(`${adminUrl}/api/findings?check=drift&model=weather-summer&status=fail`)).json();
    assert.ok(api.findings.length >= 3);
    assert.ok(api.findings.every((f: Finding) => f.status === 'fail' && f.subject.model === 'weather-summer'));
    const bad = await fetch(`${adminUrl}/api/findings?status=purple`);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as any).message, /"status" must be one of/);
    const drift: any = await (await fetch(`${adminUrl}/api/drift`)).json();
    assert.deepEqual(Object.keys(drift.models).sort(), ['weather-summer', 'weather-year']);
    const metrics = await (await fetch(`${adminUrl}/metrics`)).text();
    assert.match(metrics, /driftwatch_drift_ks_statistic\{model="weather-summer",version="\d+",feature="temp_max"\} 0\.[5-9]/);
    assert.match(metrics, /driftwatch_drift_share\{model="weather-summer",version="\d+"\} (0\.[5-9]|1)/);
    assert.match(metrics, /driftwatch_check_findings\{check="drift",status="fail"\} [1-9]/);
  });

  test('too little traffic is insufficient_data, never a verdict', async () => {
    const s = new EmbeddedStore({ path: join(tmp.dir, 'few.db'), retentionDays: 30, rollupAfterHours: 48 });
    const p = createProxyApp(config({ proxy: { port: 0, model: 'weather-summer', upstream: server.url } }), {
      store: s,
      registry,
      logger: silent,
      columnsFor: () => FEATURES,
    });
    const { proxy: addr } = await p.start();
    try {
      const rows = weatherRows('2014-07-01', '2014-07-20');
      const r = await postJson(`http://127.0.0.1:${addr.port}/invocations`, { dataframe_split: { columns: FEATURES, data: rows.map((x) => x.features) } });
      assert.equal(r.status, 200);
      await p.flushStats();
      const a = createAnalyzerApp(config(), { store: s, registry, logger: silent });
      const fs = await a.runner.run('drift');
      await a.close();
      const tmax = find(fs, 'temp_max')!;
      assert.equal(tmax.status, 'ok');
      assert.equal(tmax.insufficientData, true);
      assert.match(tmax.message, /insufficient data/);
      assert.equal(find(fs, '__dataset__')!.insufficientData, true);
    } finally {
      await p.close();
      await s.close();
    }
  });
});

test('a slow upstream breaks the latency SLO in the window it happened, and burns the error budget', async () => {
  // An upstream that answers in ~25 ms, well past a 10 ms p99 target.
  const upstream = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"predictions":[1]}'), 25));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const store = new EmbeddedStore({ path: join(tmp.dir, 'slo.db'), retentionDays: 30, rollupAfterHours: 48 });
  const cfg = config({
    proxy: { port: 0, model: 'slow', upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` },
    checks: { slo: { minRequests: 10, targets: [{ model: 'slow', window: '5m', p99Ms: 10, errorRate: 0.01, objective: 0.99, latencyThresholdMs: 10 }] } },
  });
  const proxy = createProxyApp(cfg, { store, logger: silent, registry: new LocalRegistry(REGISTRY) });
  const { proxy: addr } = await proxy.start();
  const analyzer = createAnalyzerApp(cfg, { store, registry: new LocalRegistry(REGISTRY), logger: silent });
  try {
    await Promise.all(Array.from({ length: 30 }, () => postJson(`http://127.0.0.1:${addr.port}/invocations`, { instances: [[1, 2]] })));
    await proxy.flushStats();
    const stored = await store.readWindows({ model: 'slow', fromMs: Date.now() - 600_000, toMs: Date.now() + 60_000 });
    assert.ok(stored[0]!.latency.boundsMs.includes(10), 'the SLO threshold is an exact histogram boundary');
    const fs = await analyzer.runner.run('slo');
    const p99 = find(fs, 'latency_p99')!;
    assert.equal(p99.status, 'fail', p99.message);
    assert.equal(p99.window.label, '5m');
    assert.equal(p99.threshold.fail, 10);
    assert.equal(p99.sampleSize, 30);
    assert.ok(p99.value! > 10, p99.message);
    assert.match(p99.message, /slow p99 latency .* >= target 10\.0 ms over the last 5m \(n=30\)/);
    const err = find(fs, 'error_rate')!;
    assert.equal(err.status, 'ok');
    assert.equal(err.value, 0);
    // Every request was slower than the 10 ms threshold: burn = 1 / (1 - 0.99) = 100x in every window.
    for (const [rule, status] of [
      ['burn_1h_5m', 'fail'],
      ['burn_6h_30m', 'fail'],
      ['burn_3d_6h', 'warn'],
    ] as const) {
      const b = find(fs, rule)!;
      assert.equal(b.status, status, b.message);
      assert.ok(Math.abs(b.value! - 100) < 1e-9, b.message);
    }
    assert.match(find(fs, 'burn_1h_5m')!.message, /100\.0x over 1h and 100\.0x over 5m \(rule: both > 14\.4x/);
  } finally {
    await analyzer.close();
    await proxy.close();
    await store.close();
    await new Promise((r) => upstream.close(r));
  }
});

test('an old Production version gets the stale tags; promoting a newer version clears them', async () => {
  const root = join(tmp.dir, 'stale-registry');
  const DAY = 86_400_000;
  const old = new LocalRegistry(root, { now: () => Date.now() - 100 * DAY });
  const v1 = await old.createModelVersion({ name: 'fraud', sourceDir: EXAMPLE_MODEL_DIR });
  await old.transitionStage('fraud', v1.version, 'Production');
  const registry = new LocalRegistry(root);
  const store = new EmbeddedStore({ path: join(tmp.dir, 'stale.db'), retentionDays: 30, rollupAfterHours: 48 });
  const analyzer = createAnalyzerApp(config({ checks: { staleness: { maxProductionAgeDays: 90, driftFailRuns: 2 } } }), { store, registry, logger: silent });
  try {
    const fs = await analyzer.runner.run('staleness');
    const age = fs.find((f) => f.subject.model === 'fraud' && f.subject.name === 'age')!;
    assert.equal(age.status, 'warn', age.message);
    assert.ok(age.value! > 99.9 && age.value! < 100.1);
    let tags = Object.fromEntries((await registry.getModelVersion('fraud', 1)).tags.map((t) => [t.key, t.value]));
    assert.equal(tags[STALE_TAG], 'true');
    assert.equal(tags[STALE_REASON_TAG], 'registered more than 90 days ago');
    assert.match(age.message, /registered 100\.0 days ago \(max 90\)/);
    const since = tags[STALE_SINCE_TAG]!;
    assert.ok(Date.parse(since) > Date.now() - 60_000);
    // Two failed drift runs in a row add the drift reason; the first stale time is kept.
    const datasetFail: Finding = {
      check: 'drift',
      subject: { model: 'fraud', version: '1', name: '__dataset__' },
      status: 'fail',
      metric: 'drift_share',
      value: 1,
      threshold: { warn: null, fail: 0.5, direction: 'above' },
      window: { fromMs: 0, toMs: 1, label: '1h' },
      sampleSize: 5000,
      at: Date.now(),
      message: 'x',
    };
    analyzer.findings.record([datasetFail]);
    analyzer.findings.record([{ ...datasetFail, at: Date.now() + 1 }]);
    await analyzer.runner.run('staleness');
    tags = Object.fromEntries((await registry.getModelVersion('fraud', 1)).tags.map((t) => [t.key, t.value]));
    assert.equal(tags[STALE_REASON_TAG], 'registered more than 90 days ago; drift check failed 2+ runs in a row');
    assert.equal(tags[STALE_SINCE_TAG], since);

    // A newer version is registered: v1 is stale for that too; then it is promoted and v1 is clean.
    const v2 = await registry.createModelVersion({ name: 'fraud', sourceDir: EXAMPLE_MODEL_DIR });
    await analyzer.runner.run('staleness');
    tags = Object.fromEntries((await registry.getModelVersion('fraud', 1)).tags.map((t) => [t.key, t.value]));
    assert.match(tags[STALE_REASON_TAG]!, /version 2 is newer and not in Production/);
    await registry.transitionStage('fraud', v2.version, 'Production', { archiveExisting: true });
    const after2 = await analyzer.runner.run('staleness');
    const v1Tags = (await registry.getModelVersion('fraud', 1)).tags.map((t) => t.key);
    assert.ok(!v1Tags.some((k) => k.startsWith('driftwatch.stale')), `v1 tags cleared: ${v1Tags}`);
    const v2Tags = (await registry.getModelVersion('fraud', 2)).tags.map((t) => t.key);
    assert.ok(!v2Tags.includes(STALE_TAG), 'the fresh version is not stale');
    assert.ok(after2.filter((f) => f.subject.model === 'fraud').every((f) => f.subject.version === '2' && f.status === 'ok'));
  } finally {
    await analyzer.close();
    await store.close();
  }
});

test('a check that cannot run reports error and the runner carries on', async () => {
  const real = new EmbeddedStore({ path: join(tmp.dir, 'broken.db'), retentionDays: 30, rollupAfterHours: 48 });
  const broken: StatsStore = {
    ...real,
    describe: 'broken',
    listSeries: async () => {
      throw new Error('database is locked');
    },
    readWindows: real.readWindows.bind(real),
    writeWindows: real.writeWindows.bind(real),
    maintain: real.maintain.bind(real),
    health: () => real.health(),
    close: () => real.close(),
  };
  const analyzer = createAnalyzerApp(config(), { store: broken, registry: new LocalRegistry(REGISTRY), logger: silent });
  try {
    const fs = await analyzer.runner.run('drift');
    assert.equal(fs.length, 1);
    assert.equal(fs[0]!.status, 'error');
    assert.match(fs[0]!.message, /the drift check could not run: database is locked/);
    assert.equal(analyzer.findings.latest({ check: 'drift' })[0]!.status, 'error');
    // The next check still runs.
    const st = await analyzer.runner.run('staleness');
    assert.equal(st.length, 1);
    assert.equal(st[0]!.status, 'error', 'staleness reads the store too');
  } finally {
    await analyzer.close();
    await real.close();
  }
});

test('the scheduler never overlaps runs of a job, and abandons a run at its timeout', async () => {
  const outcomes: string[] = [];
  const s = new Scheduler({ logger: silent, metrics: { observeRun: (job, outcome) => outcomes.push(`${job}:${outcome}`) } });
  let running = 0;
  let maxConcurrent = 0;
  let slowRuns = 0;
  s.add({
    name: 'slow',
    cron: '* * * * * *', // every second
    timeoutMs: 10_000,
    run: async () => {
      running++;
      slowRuns++;
      maxConcurrent = Math.max(maxConcurrent, running);
      await new Promise((r) => setTimeout(r, 2300));
      running--;
    },
  });
  let aborted = false;
  s.add({
    name: 'stuck',
    cron: '0 0 1 1 *', // never in this test: run by hand
    timeoutMs: 150,
    run: (signal) => new Promise<void>((resolve) => signal.addEventListener('abort', () => ((aborted = true), resolve()))),
  });
  s.start();
  await s.runNow('stuck');
  assert.ok(aborted, 'the job was told through its AbortSignal');
  assert.ok(outcomes.includes('stuck:timeout'));
  await new Promise((r) => setTimeout(r, 3500));
  await s.stop();
  assert.equal(maxConcurrent, 1);
  assert.ok(slowRuns >= 1 && slowRuns <= 2, `runs: ${slowRuns}`);
  assert.ok(outcomes.includes('slow:skipped_overlap'), outcomes.join(' '));
  assert.throws(() => s.add({ name: 'bad', cron: 'every minute', timeoutMs: 1, run: async () => {} }), /not a valid cron expression/);
});

test('findings keep history and streaks', () => {
  const fstore = new FindingStore(join(tmp.dir, 'hist.db'), 90);
  const f = (status: Finding['status'], at: number): Finding => ({
    check: 'drift',
    subject: { model: 'm', version: '1', name: '__dataset__' },
    status,
    metric: 'drift_share',
    value: 0,
    threshold: { warn: null, fail: 0.5, direction: 'above' },
    window: { fromMs: 0, toMs: 1, label: '1h' },
    sampleSize: 1,
    at,
    message: '',
  });
  fstore.record([f('ok', 1)]);
  fstore.record([f('fail', 2)]);
  fstore.record([f('fail', 3)]);
  assert.equal(fstore.streak('drift\u001fm\u001f1\u001f\u001f__dataset__', ['fail']), 2);
  assert.equal(fstore.latest()[0]!.at, 3);
  assert.equal(fstore.history({ sinceMs: 0 }).length, 3);
  assert.equal(fstore.prune(90 * 86_400_000 + 3), 2); // keeps the newest, drops the two older than 90 days
  fstore.close();
});
