/**
 * The fleet's ground-truth join end to end (docs/quality.md, "Fleets"): two real sidecars with
 * separate local state (two "hosts": their own statistics stores, their own SQLite paths unused)
 * in front of one real scoring server with the example model, both logging predictions to one real
 * PostgreSQL 15 (labels.store postgres). Traffic through each; each one's labels posted to the
 * OTHER sidecar; the quality check, opened as an analyzer opens it (its own config and state dir,
 * the same factory), gives exactly the accuracy computed from what the clients received.
 *
 * Then PostgreSQL stops in the middle: the traffic's answers are byte-for-byte what they were,
 * the predictions not written are counted (driftwatch_predictions_log_dropped_total{reason}),
 * labels posted meanwhile get a 503 JSON answer and change nothing; PostgreSQL starts again and
 * the sidecars write (and join) again without a restart.
 *
 * Sidecar A runs the capture in its worker thread (the default), B in-loop: both paths.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createPredictionLog } from '../../src/app/backends.js';
import { createProxyApp, type ProxyApp } from '../../src/app/proxy-app.js';
import { createQualityCheck } from '../../src/checks/quality.js';
import { loadConfig } from '../../src/config/load.js';
import { LocalRegistry } from '../../src/registry/local-registry.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { EXAMPLE_MODEL_DIR, FEATURES, ROOT, type RunningServer, startServer, tempDir, weatherRows } from '../helpers.js';
import { havePostgres, PG_PASSWORD, type PgServer, postgresMissing, startPostgres } from '../pg-server.js';

const tmp = tempDir('dw-fleet-pg-');
const CLASSES = ['drizzle', 'fog', 'rain', 'snow', 'sun'];
let scoring: RunningServer;
let pgs: PgServer | null = null;
let url = '';

before(async () => {
  await new LocalRegistry(join(tmp.dir, 'registry')).createModelVersion({ name: 'seattle-weather', sourceDir: EXAMPLE_MODEL_DIR });
  scoring = await startServer({ registryRoot: join(tmp.dir, 'registry'), models: [{ uri: 'models:/seattle-weather/1' }] });
  if (postgresMissing() === null) {
    pgs = await startPostgres();
    url = await pgs.createDatabase('fleet');
  }
});
after(async () => {
  await scoring?.close();
  await pgs?.destroy();
  tmp.cleanup();
});

/** One host's config: its own state dir; the shared database with the password given apart. */
function hostConfig(host: string, worker: boolean) {
  return loadConfig({
    env: { DRIFTWATCH_LABELS_POSTGRES_PASSWORD: PG_PASSWORD },
    overrides: {
      proxy: { port: 0, upstream: scoring.url, model: 'seattle-weather', capture: { worker } },
      admin: { port: 0 },
      registry: { root: join(tmp.dir, 'registry') },
      store: { embedded: { path: join(tmp.dir, host, 'stats.db') } },
      stats: { flushIntervalMs: 60_000 },
      labels: {
        enabled: true,
        store: 'postgres',
        path: join(tmp.dir, host, 'predictions.db'),
        postgres: { url, retryDelayMs: 20, connectTimeoutMs: 2_000 },
        classes: CLASSES,
      },
      checks: { quality: { minLabelled: 10 } },
      log: { level: 'silent' },
    },
  });
}

interface Sent {
  id: string;
  predicted: string;
  actual: string;
  body: string;
}

async function traffic(proxyUrl: string, rows: ReturnType<typeof weatherRows>, idPrefix: string): Promise<Sent[]> {
  const sent: Sent[] = [];
  for (const [i, r] of rows.entries()) {
    const res = await fetch(`${proxyUrl}/invocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': `${idPrefix}-${i}` },
      body: JSON.stringify({ dataframe_split: { columns: FEATURES, data: [r.features] } }),
    });
    assert.equal(res.status, 200);
    const body = await res.text();
    sent.push({
      id: res.headers.get('x-request-id')!,
      predicted: (JSON.parse(body) as { predictions: Array<{ label: string }> }).predictions[0]!.label,
      actual: r.weather,
      body,
    });
  }
  return sent;
}

async function postLabels(adminUrl: string, sent: readonly Sent[]) {
  const res = await fetch(`${adminUrl}/api/labels`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(sent.map((s) => ({ request_id: s.id, label: s.actual }))),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const accuracyOf = (rows: readonly Sent[]) => rows.filter((r) => r.predicted === r.actual).length / rows.length;

async function droppedCounts(app: ProxyApp): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const m = (await app.metrics.registry.getMetricsAsJSON()).find((x) => x.name === 'driftwatch_predictions_log_dropped_total');
  for (const v of m?.values ?? []) out[String(v.labels.reason)] = v.value;
  return out;
}

describe('fleet: two sidecars on separate hosts, one PostgreSQL prediction log', () => {
  test('labels posted to the other sidecar join; the analyzer’s check equals the clients’ accuracy; an outage costs counted drops, never answers', async (t) => {
    if (!havePostgres(t)) return;
    const silent = createLogger({ level: 'silent' });
    const a = createProxyApp(hostConfig('host-a', true), { logger: silent });
    const b = createProxyApp(hostConfig('host-b', false), { logger: silent });
    const [pa, pb] = [await a.start(), await b.start()];
    t.after(async () => {
      await a.close();
      await b.close();
    });
    const proxyA = `http://127.0.0.1:${pa.proxy.port}`;
    const proxyB = `http://127.0.0.1:${pb.proxy.port}`;
    const adminA = `http://127.0.0.1:${pa.admin!.port}`;
    const adminB = `http://127.0.0.1:${pb.admin!.port}`;

    const rows = weatherRows('2014-01-01', '2014-03-31');
    const viaA = await traffic(proxyA, rows.slice(0, 45), 'host-a');
    const viaB = await traffic(proxyB, rows.slice(45), 'host-b');
    await a.flushStats();
    await b.flushStats();
    // Each one's labels to the other host.
    const toB = await postLabels(adminB, viaA);
    const toA = await postLabels(adminA, viaB);
    assert.equal(toB.status, 200, JSON.stringify(toB.json));
    assert.deepEqual({ ...toB.json, errors: undefined }, { matched: viaA.length, replaced: 0, unmatched: 0, notRetained: 0, invalid: 0, errors: undefined });
    assert.equal(toA.json.matched, viaB.length);

    // The analyzer: its own config (another state dir), the same factory every process uses.
    const analyzerConfig = hostConfig('analyzer', true);
    const analyzerLog = createPredictionLog(analyzerConfig)!;
    t.after(() => analyzerLog.close());
    const check = createQualityCheck(analyzerConfig.checks.quality, { log: analyzerLog });
    const accuracy = async () => (await check.run(Date.now() + 1)).find((f) => f.metric === 'accuracy')!;
    let f = await accuracy();
    assert.equal(f.sampleSize, rows.length);
    assert.ok(Math.abs(f.value! - accuracyOf([...viaA, ...viaB])) < 1e-12, `check ${f.value} vs clients ${accuracyOf([...viaA, ...viaB])}`);
    assert.equal(f.detail?.predictions, rows.length);

    // PostgreSQL stops. The same requests again: the same answers, every one.
    await pgs!.stop();
    const againA = await traffic(proxyA, rows.slice(0, 20), 'outage-a');
    const againB = await traffic(proxyB, rows.slice(45, 65), 'outage-b');
    assert.deepEqual(
      againA.map((s) => s.body),
      viaA.slice(0, 20).map((s) => s.body),
    );
    assert.deepEqual(
      againB.map((s) => s.body),
      viaB.slice(0, 20).map((s) => s.body),
    );
    await a.flushStats();
    await b.flushStats();
    for (const app of [a, b]) {
      const dropped = await droppedCounts(app);
      assert.equal(dropped.unavailable, 20, `dropped ${JSON.stringify(dropped)}`);
    }
    // Labels posted now: a JSON 503 that says so; nothing applied.
    const during = await postLabels(adminA, againB);
    assert.equal(during.status, 503, JSON.stringify(during.json));
    assert.equal(during.json.code, 'DW_ERR_PREDICTION_LOG_UNAVAILABLE');
    assert.match(String(during.json.message), /unavailable/);
    assert.ok(!JSON.stringify(during.json).includes(PG_PASSWORD));

    // Started again: without a restart of either sidecar, new predictions are written and joined.
    await pgs!.start();
    const laterRows = weatherRows('2014-04-01', '2014-04-30');
    // The sidecars' backoff (retryDelayMs 20, doubling) passes; each try is a fresh request, and
    // the one whose label matches is the first written after the outage.
    const untilWritten = async (app: ProxyApp, proxy: string, otherAdmin: string, prefix: string): Promise<Sent> => {
      for (let i = 0; ; i++) {
        const [s] = await traffic(proxy, laterRows.slice(i % laterRows.length, (i % laterRows.length) + 1), `${prefix}-${i}`);
        await app.flushStats();
        const r = await postLabels(otherAdmin, [s!]);
        if (r.status === 200 && r.json.matched === 1) return s!;
        assert.ok(i < 100, `${prefix}: never wrote to PostgreSQL again (${JSON.stringify(r.json)})`);
        await new Promise((res) => setTimeout(res, 50));
      }
    };
    const written = [await untilWritten(a, proxyA, adminB, 'after-a'), await untilWritten(b, proxyB, adminA, 'after-b')];
    f = await accuracy();
    const expected = [...viaA, ...viaB, ...written];
    assert.equal(f.sampleSize, expected.length);
    assert.ok(Math.abs(f.value! - accuracyOf(expected)) < 1e-12);

    // `driftwatch feedback load` from a third place joins there too (the same labels again: replaced).
    const csv = join(tmp.dir, 'labels.csv');
    writeFileSync(csv, `request_id,label\n${written.map((w) => `${w.id},${w.actual}`).join('\n')}\nnever-seen,sun\n`);
    const cli = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), 'feedback', 'load', '--file', csv, '--json'], {
      encoding: 'utf8',
      cwd: ROOT,
      env: {
        ...process.env,
        DRIFTWATCH_LABELS_STORE: 'postgres',
        DRIFTWATCH_LABELS_POSTGRES_URL: url,
        DRIFTWATCH_LABELS_POSTGRES_PASSWORD: PG_PASSWORD,
      },
    });
    assert.equal(cli.status, 0, cli.stderr);
    const out = JSON.parse(cli.stdout) as Record<string, unknown>;
    assert.deepEqual([out.matched, out.replaced, out.unmatched], [0, written.length, 1]);
    assert.ok(!cli.stdout.includes(PG_PASSWORD) && !cli.stderr.includes(PG_PASSWORD));
  });
});
