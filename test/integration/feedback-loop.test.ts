/**
 * The ground-truth loop end to end, on the real sidecar: the real scoring server with the example
 * model behind the real proxy (capture worker thread and in-loop), real Seattle rows as traffic,
 * then the observed `weather` labels posted late to the admin port by request id (JSON and NDJSON,
 * `#row` ids for multi-row requests) and by an id column. The quality check's accuracy must equal
 * the accuracy computed from what the clients themselves received; unmatched and repeated labels are
 * counted; the log survives a restart; two sidecars sharing one log join each other's labels.
 * With a reference built with the label column, the scheduled check's estimate is calibrated on
 * it and the accuracy's drop from the reference's is a finding of its own.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createProxyApp, type ProxyApp } from '../../src/app/proxy-app.js';
import { loadConfig } from '../../src/config/load.js';
import { createQualityCheck } from '../../src/checks/quality.js';
import { scoreRows } from '../../src/cli/model-scorer.js';
import { runQualityCheck } from '../../src/outcomes/quality-check.js';
import { classificationMetrics } from '../../src/quality/classification.js';
import { buildReferenceFromFile } from '../../src/reference/build-reference.js';
import { LocalRegistry } from '../../src/registry/local-registry.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { createCheckMetrics, createServeMetrics } from '../../src/telemetry/metrics.js';
import { FEATURES, ROOT, type RunningServer, startServer, tempDir, weatherRows } from '../helpers.js';

const tmp = tempDir('dw-feedback-');
let server: RunningServer;
const CLASSES = ['drizzle', 'fog', 'rain', 'snow', 'sun'];

before(async () => {
  const { LocalRegistry } = await import('../../src/registry/local-registry.js');
  const { EXAMPLE_MODEL_DIR } = await import('../helpers.js');
  await new LocalRegistry(join(tmp.dir, 'registry')).createModelVersion({ name: 'seattle-weather', sourceDir: EXAMPLE_MODEL_DIR });
  server = await startServer({ registryRoot: join(tmp.dir, 'registry'), models: [{ uri: 'models:/seattle-weather/1' }] });
});
after(async () => {
  await server?.close();
  tmp.cleanup();
});

function config(name: string, extra: { worker?: boolean; labels?: Record<string, unknown>; columns?: string[] } = {}) {
  return loadConfig({
    env: {},
    overrides: {
      proxy: {
        port: 0,
        upstream: server.url,
        model: 'seattle-weather',
        capture: { worker: extra.worker ?? true },
        ...(extra.columns ? { columns: extra.columns } : {}),
      },
      admin: { port: 0 },
      registry: { root: join(tmp.dir, 'registry') },
      store: { embedded: { path: join(tmp.dir, `${name}-stats.db`) } },
      stats: { flushIntervalMs: 60_000 },
      labels: { enabled: true, path: join(tmp.dir, `${name}-predictions.db`), classes: CLASSES, ...extra.labels },
      checks: { quality: { minLabelled: 10 } },
      log: { level: 'silent' },
    },
  });
}

interface Sent {
  id: string;
  predicted: string;
  actual: string;
}

/** Posts rows through the proxy (one per request, or `batch` per request) and returns what the client saw, per row id. */
async function traffic(proxyUrl: string, rows: ReturnType<typeof weatherRows>, batch: number, idPrefix: string | null): Promise<Sent[]> {
  const sent: Sent[] = [];
  for (let i = 0; i < rows.length; i += batch) {
    const part = rows.slice(i, i + batch);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (idPrefix !== null) headers['x-request-id'] = `${idPrefix}-${i}`;
    const res = await fetch(`${proxyUrl}/invocations`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ dataframe_split: { columns: FEATURES, data: part.map((r) => r.features) } }),
    });
    assert.equal(res.status, 200);
    const requestId = res.headers.get('x-request-id')!;
    const body = (await res.json()) as { predictions: Array<{ label: string }> };
    part.forEach((r, j) => sent.push({ id: part.length === 1 ? requestId : `${requestId}#${j}`, predicted: body.predictions[j]!.label, actual: r.weather }));
  }
  return sent;
}

async function postLabels(adminUrl: string, body: string, contentType: string) {
  const res = await fetch(`${adminUrl}/api/labels`, { method: 'POST', headers: { 'content-type': contentType }, body });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

const accuracyOf = (rows: readonly Sent[]) => rows.filter((r) => r.predicted === r.actual).length / rows.length;

async function accuracyFinding(app: ProxyApp, cfg: ReturnType<typeof config>) {
  const findings = await runQualityCheck({ log: app.predictionLog! }, cfg.checks.quality, Date.now() + 1);
  return findings.find((f) => f.metric === 'accuracy')!;
}

for (const worker of [true, false]) {
  describe(`labels joined to captured predictions (capture ${worker ? 'worker thread' : 'in-loop'})`, () => {
    test('by request id and #row ids, JSON and NDJSON; counts; the check equals what the clients saw; a restart keeps it all', async () => {
      const name = `ids-${worker}`;
      const cfg = config(name, { worker });
      let app = createProxyApp(cfg, { logger: createLogger({ level: 'silent' }) });
      const { proxy, admin } = await app.start();
      const proxyUrl = `http://127.0.0.1:${proxy.port}`;
      const adminUrl = `http://127.0.0.1:${admin!.port}`;
      const rows = weatherRows('2014-01-01', '2014-04-10');
      const singles = await traffic(proxyUrl, rows.slice(0, 40), 1, `client-${worker}`);
      const batched = await traffic(proxyUrl, rows.slice(40), 10, null);
      assert.ok(batched.every((s) => s.id.includes('#')));
      await app.flushStats();

      // Labels for the single-row requests as a JSON array, plus one id nobody predicted.
      const first = await postLabels(
        adminUrl,
        JSON.stringify([...singles.map((s) => ({ request_id: s.id, label: s.actual })), { request_id: 'no-such-request', label: 'sun' }]),
        'application/json',
      );
      assert.equal(first.status, 200, JSON.stringify(first.json));
      assert.deepEqual(
        { ...first.json, errors: undefined },
        { matched: singles.length, replaced: 0, unmatched: 1, notRetained: 0, invalid: 0, errors: undefined },
      );
      // Half of the batched rows' labels as NDJSON, one line broken, one entry without a label.
      const half = batched.slice(0, 30);
      const ndjson = [...half.map((s) => JSON.stringify({ request_id: s.id, label: s.actual })), '{not json', JSON.stringify({ request_id: 'x' })].join('\n');
      const second = await postLabels(adminUrl, ndjson, 'application/x-ndjson');
      assert.equal(second.status, 200);
      assert.equal(second.json.matched, half.length);
      assert.equal(second.json.invalid, 2);
      assert.match(second.json.errors.join('; '), /line 31: not JSON; line 32: no label/);
      let labelled = [...singles, ...half];
      let f = await accuracyFinding(app, cfg);
      assert.equal(f.sampleSize, labelled.length);
      assert.ok(Math.abs(f.value! - accuracyOf(labelled)) < 1e-12, `check ${f.value} vs clients ${accuracyOf(labelled)}`);
      assert.equal(f.detail?.predictions, rows.length);

      // A repeated label replaces the first: relabel one single-row request with a wrong class.
      const flipped = singles[0]!;
      const wrong = CLASSES.find((c) => c !== flipped.actual)!;
      const third = await postLabels(adminUrl, JSON.stringify({ labels: [{ request_id: flipped.id, label: wrong }] }), 'application/json');
      assert.equal(third.json.replaced, 1);
      labelled = labelled.map((s) => (s === flipped ? { ...s, actual: wrong } : s));

      // Restart: the predictions and labels are in the file; the rest of the labels arrive after it.
      await app.close();
      app = createProxyApp(cfg, { logger: createLogger({ level: 'silent' }) });
      const again = await app.start();
      const rest = batched.slice(30);
      const fourth = await postLabels(
        `http://127.0.0.1:${again.admin!.port}`,
        rest.map((s) => JSON.stringify({ id: s.id, label: s.actual })).join('\n'),
        'application/x-ndjson',
      );
      assert.equal(fourth.json.matched, rest.length);
      labelled = [...labelled, ...rest];
      f = await accuracyFinding(app, cfg);
      assert.equal(f.sampleSize, rows.length);
      assert.ok(Math.abs(f.value! - accuracyOf(labelled)) < 1e-12, `after restart: check ${f.value} vs clients ${accuracyOf(labelled)}`);
      assert.equal(f.detail?.labelled_share, 1);
      const est = (await runQualityCheck({ log: app.predictionLog! }, cfg.checks.quality, Date.now() + 1)).find((x) => x.metric === 'estimated_accuracy');
      assert.ok(est && est.value !== null && est.value > 0 && est.value <= 1, 'an estimate from the probabilities');
      await app.close();
    });
  });
}

// With proxy.columns declared (a foreign upstream), the capture keeps only the declared columns of a
// named payload: the id column must still reach the prediction log (it did not, before).
for (const columns of [null, FEATURES]) {
  test(`labels by an id column in the rows (batch scoring with the client’s own ids)${columns ? ', with proxy.columns declared' : ''}`, async () => {
    const cfg = config(columns ? 'idcol-declared' : 'idcol', { labels: { idColumn: 'row_id' }, ...(columns ? { columns: [...columns] } : {}) });
    const app = createProxyApp(cfg, { logger: createLogger({ level: 'silent' }) });
    try {
      const { proxy, admin } = await app.start();
      const rows = weatherRows('2014-05-01', '2014-05-30');
      const res = await fetch(`http://127.0.0.1:${proxy.port}/invocations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          dataframe_records: rows.map((r) => ({ row_id: `day-${r.date}`, ...Object.fromEntries(FEATURES.map((f, i) => [f, r.features[i]])) })),
        }),
      });
      assert.equal(res.status, 200, await res.clone().text());
      const predicted = ((await res.json()) as { predictions: Array<{ label: string }> }).predictions.map((p) => p.label);
      await app.flushStats();
      const posted = await postLabels(
        `http://127.0.0.1:${admin!.port}`,
        JSON.stringify(rows.map((r) => ({ request_id: `day-${r.date}`, label: r.weather }))),
        'application/json',
      );
      assert.equal(posted.json.matched, rows.length);
      const f = await accuracyFinding(app, cfg);
      const expected = rows.filter((r, i) => r.weather === predicted[i]).length / rows.length;
      assert.ok(Math.abs(f.value! - expected) < 1e-12);
      // The id column names rows; it is not profiled as a feature (every id would be a category).
      const traffic = (await (await fetch(`http://127.0.0.1:${admin!.port}/api/traffic`)).json()) as { models: Array<{ features: Record<string, unknown> }> };
      const features = Object.keys(traffic.models[0]!.features);
      assert.ok(features.includes('wind') && !features.includes('row_id'), features.join(', '));
    } finally {
      // Closed on failure too: an open proxy keeps the test file from ever ending.
      await app.close();
    }
  });
}

test('two sidecars sharing one prediction log: labels posted to either find predictions captured by the other', async () => {
  const a = createProxyApp(config('shared'), { logger: createLogger({ level: 'silent' }) });
  const b = createProxyApp(config('shared'), { logger: createLogger({ level: 'silent' }) });
  const pa = await a.start();
  const pb = await b.start();
  const rows = weatherRows('2014-06-01', '2014-06-20');
  const viaA = await traffic(`http://127.0.0.1:${pa.proxy.port}`, rows.slice(0, 10), 1, 'a');
  const viaB = await traffic(`http://127.0.0.1:${pb.proxy.port}`, rows.slice(10), 1, 'b');
  await a.flushStats();
  await b.flushStats();
  const toB = await postLabels(
    `http://127.0.0.1:${pb.admin!.port}`,
    JSON.stringify(viaA.map((s) => ({ request_id: s.id, label: s.actual }))),
    'application/json',
  );
  const toA = await postLabels(
    `http://127.0.0.1:${pa.admin!.port}`,
    JSON.stringify(viaB.map((s) => ({ request_id: s.id, label: s.actual }))),
    'application/json',
  );
  assert.equal(toB.json.matched, viaA.length);
  assert.equal(toA.json.matched, viaB.length);
  const f = await accuracyFinding(a, config('shared'));
  assert.ok(Math.abs(f.value! - accuracyOf([...viaA, ...viaB])) < 1e-12);
  await a.close();
  await b.close();
});

test('the labels endpoint refuses what it cannot read with a JSON 4xx, and is absent without labels.enabled', async () => {
  const app = createProxyApp(config('refusals'), { logger: createLogger({ level: 'silent' }) });
  const { admin } = await app.start();
  const url = `http://127.0.0.1:${admin!.port}`;
  const cases: Array<[string, string, number, RegExp]> = [
    ['{"labels": 3}', 'application/json', 400, /"labels" array/],
    ['not json', 'application/json', 400, /not JSON/],
    ['[]', 'application/json', 400, /no labels/],
    ['request_id,label\na,b', 'text/csv', 415, /Content-Type/],
    [`[${'['.repeat(100_000)}`, 'application/json', 400, /not JSON/],
  ];
  for (const [body, type, status, message] of cases) {
    const r = await postLabels(url, body, type);
    assert.equal(r.status, status, `${type} ${body.slice(0, 30)}: ${JSON.stringify(r.json)}`);
    assert.match(r.json.message, message);
  }
  const huge = await fetch(`${url}/api/labels`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(17 * 1024 * 1024) });
  assert.equal(huge.status, 413);
  assert.match(((await huge.json()) as { message: string }).message, /smaller batches/);
  // Still alive and answering.
  assert.equal((await postLabels(url, JSON.stringify([{ request_id: 'q', label: 'sun' }]), 'application/json')).json.unmatched, 1);
  await app.close();

  const off = createProxyApp(
    loadConfig({
      env: {},
      overrides: {
        proxy: { port: 0, upstream: server.url, model: 'seattle-weather' },
        admin: { port: 0 },
        registry: { root: join(tmp.dir, 'registry') },
        store: { embedded: { path: join(tmp.dir, 'off-stats.db') } },
        log: { level: 'silent' },
      },
    }),
    { logger: createLogger({ level: 'silent' }) },
  );
  const offAddr = await off.start();
  const r = await postLabels(`http://127.0.0.1:${offAddr.admin!.port}`, '[]', 'application/json');
  assert.equal(r.status, 404);
  assert.match(r.json.message, /labels\.enabled/);
  await off.close();
});

test('driftwatch feedback load joins a CSV of labels and prints the counts', async () => {
  const cfg = config('cli');
  const app = createProxyApp(cfg, { logger: createLogger({ level: 'silent' }) });
  const { proxy } = await app.start();
  const sent = await traffic(`http://127.0.0.1:${proxy.port}`, weatherRows('2014-07-01', '2014-07-15'), 1, 'cli');
  await app.flushStats();
  const csv = join(tmp.dir, 'labels.csv');
  writeFileSync(csv, `rid,weather\n${sent.map((s) => `${s.id},${s.actual}`).join('\n')}\n${sent[0]!.id},${sent[0]!.actual}\nunknown-id,sun\n,sun\n`);
  const configFile = join(tmp.dir, 'cli-config.json');
  writeFileSync(configFile, JSON.stringify({ labels: { path: join(tmp.dir, 'cli-predictions.db') } }));
  const run = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'src', 'cli', 'main.ts'),
      'feedback',
      'load',
      '--config',
      configFile,
      '--file',
      csv,
      '--id-column',
      'rid',
      '--label-column',
      'weather',
      '--json',
    ],
    { encoding: 'utf8', cwd: ROOT },
  );
  assert.equal(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout);
  assert.deepEqual(
    { matched: out.matched, replaced: out.replaced, unmatched: out.unmatched, invalid: out.invalid },
    { matched: sent.length, replaced: 1, unmatched: 1, invalid: 1 },
  );
  const missing = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), 'feedback', 'load', '--config', configFile, '--file', csv],
    {
      encoding: 'utf8',
      cwd: ROOT,
    },
  );
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr, /no column request_id/);
  await app.close();
});

test("with the reference's performance: the scheduled check's estimate is calibrated on it, and the accuracy's drop from it is a finding", async () => {
  const registry = new LocalRegistry(join(tmp.dir, 'registry'));
  const built = await buildReferenceFromFile(
    { registry, now: Date.now, score: scoreRows },
    {
      modelUri: 'models:/seattle-weather/1',
      dataPath: join(ROOT, 'examples', 'seattle-weather', 'training.csv'),
      settings: { bins: 10, sketchK: 200, maxCategories: 100 },
      labelColumn: 'weather',
      reading: { probabilitiesColumn: 'probabilities', task: 'auto', classes: CLASSES },
    },
  );
  const refAccuracy = classificationMetrics(built.reference.performance!.classification!).accuracy!;
  const cfg = loadConfig({
    env: {},
    overrides: {
      proxy: { port: 0, upstream: server.url, model: 'seattle-weather' },
      admin: { port: 0 },
      registry: { root: join(tmp.dir, 'registry') },
      store: { embedded: { path: join(tmp.dir, 'baseline-stats.db') } },
      stats: { flushIntervalMs: 60_000 },
      labels: { enabled: true, path: join(tmp.dir, 'baseline-predictions.db'), classes: CLASSES },
      checks: { quality: { minLabelled: 10, maxDrop: { warn: 0.01, fail: 0.5 } } },
      log: { level: 'silent' },
    },
  });
  const app = createProxyApp(cfg, { logger: createLogger({ level: 'silent' }) });
  const { proxy, admin } = await app.start();
  try {
    const sent = await traffic(`http://127.0.0.1:${proxy.port}`, weatherRows('2015-01-01', '2015-03-31'), 1, 'baseline');
    await app.flushStats();
    const posted = await postLabels(
      `http://127.0.0.1:${admin!.port}`,
      JSON.stringify(sent.map((s) => ({ request_id: s.id, label: s.actual }))),
      'application/json',
    );
    assert.equal(posted.json.matched, sent.length);
    // The check as the analyzer schedules it, with the registry to find the version's reference.
    const metricsRegistry = createServeMetrics({ defaultMetrics: false }).registry;
    const check = createQualityCheck(cfg.checks.quality, { log: app.predictionLog!, registry, metrics: createCheckMetrics(metricsRegistry) });
    const findings = await check.run(Date.now() + 1);
    check.exportGauges?.(findings);
    const est = findings.find((f) => f.metric === 'estimated_accuracy')!;
    assert.equal((est.detail!.estimate as { calibrated: boolean }).calibrated, true);
    const raw = (await runQualityCheck({ log: app.predictionLog! }, cfg.checks.quality, Date.now() + 1)).find((f) => f.metric === 'estimated_accuracy')!;
    assert.equal((raw.detail!.estimate as { calibrated: boolean }).calibrated, false);
    assert.notEqual(est.value, raw.value, 'the calibration maps changed the estimate');
    const drop = findings.find((f) => f.metric === 'accuracy_drop')!;
    const accuracy = accuracyOf(sent);
    assert.ok(Math.abs(drop.value! - (refAccuracy - accuracy)) < 1e-12, `drop ${drop.value} vs ${refAccuracy} - ${accuracy}`);
    assert.equal((drop.detail!.reference as { value: number }).value, refAccuracy);
    assert.equal((drop.detail!.reference as { label_column: string }).label_column, 'weather');
    assert.equal(drop.status, drop.value! >= 0.5 ? 'fail' : drop.value! >= 0.01 ? 'warn' : 'ok');
    assert.ok(findings.some((f) => f.metric === 'estimated_accuracy_drop'));
    // On /metrics as a gauge beside the accuracy itself.
    const text = await metricsRegistry.metrics();
    const gauge = /^driftwatch_quality_accuracy_drop\{model="seattle-weather",version="1"\} (\S+)$/m.exec(text);
    assert.ok(
      gauge,
      text
        .split('\n')
        .filter((l) => l.includes('quality'))
        .join('\n'),
    );
    assert.ok(Math.abs(Number(gauge[1]) - drop.value!) < 1e-9);
  } finally {
    await app.close();
  }
});
