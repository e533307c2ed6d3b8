/**
 * What /metrics serves, through the real admin server: OpenMetrics when the scraper's Accept asks
 * for it (and Prometheus text otherwise, also after an OpenMetrics scrape), driftwatch_build_info,
 * the store's dropped writes as a counter, the drift and SLO gauges with a version label, and the
 * check-run counters present at 0 before the first run (issue 19, item 4).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AdminServer } from '../../src/admin/admin-server.js';
import { createAdmin } from '../../src/app/admin.js';
import { createDriftCheck } from '../../src/checks/drift.js';
import { createSloCheck } from '../../src/checks/slo.js';
import { loadConfig } from '../../src/config/load.js';
import type { Finding } from '../../src/findings/finding.js';
import { createLogger } from '../../src/telemetry/logger.js';
import {
  aggregateMetrics,
  createCheckMetrics,
  createProxyMetrics,
  createServeMetrics,
  createStoreMetrics,
  metricsFormatFor,
} from '../../src/telemetry/metrics.js';
import { VERSION } from '../../src/version.js';

const config = loadConfig({ env: {}, overrides: { admin: { port: 0 }, log: { level: 'silent' } } });
const OPENMETRICS = 'application/openmetrics-text; version=1.0.0; charset=utf-8';
const PROMETHEUS = 'text/plain; version=0.0.4; charset=utf-8';

function finding(check: 'drift' | 'slo', version: string | null, name: string, metric: string, value: number, detail?: unknown): Finding {
  return {
    check,
    subject: { model: 'iris', version, name },
    status: 'ok',
    metric,
    value,
    threshold: { warn: null, fail: null, direction: 'above' },
    window: { fromMs: 0, toMs: 1, label: '1h' },
    sampleSize: 100,
    at: 1,
    message: '',
    ...(detail ? { detail } : {}),
  } as Finding;
}

describe('/metrics exposition', () => {
  let admin: AdminServer | null = null;
  let url = '';
  let dropped = 0;
  const serve = createServeMetrics({ defaultMetrics: false });
  createProxyMetrics({ registry: serve.registry });
  createStoreMetrics(serve.registry, () => ({ pending: 0, dropped }));
  const checks = createCheckMetrics(serve.registry);

  before(async () => {
    serve.requests.inc({ model: 'iris', route: 'invocations', status_class: '2xx' });
    admin = createAdmin(config, createLogger({ level: 'silent' }), { metrics: serve.registry, ready: () => true });
    url = `http://127.0.0.1:${(await admin!.listen()).port}/metrics`;
  });
  after(async () => {
    await admin?.close();
  });
  const scrape = async (accept?: string) => {
    const res = await fetch(url, accept ? { headers: { accept } } : {});
    return { status: res.status, type: res.headers.get('content-type'), vary: res.headers.get('vary'), body: await res.text() };
  };

  test('regression: Accept: application/openmetrics-text gets OpenMetrics with its Content-Type', async () => {
    const om = await scrape('application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1');
    assert.equal(om.status, 200);
    assert.equal(om.type, OPENMETRICS);
    assert.match(om.vary ?? '', /Accept/i);
    assert.ok(om.body.endsWith('# EOF\n'), om.body.slice(-40));
    assert.match(om.body, /^# TYPE driftwatch_requests counter$/m, 'OpenMetrics names the counter family without _total');
    assert.match(om.body, /^driftwatch_requests_total\{model="iris",route="invocations",status_class="2xx"\} 1$/m);
  });

  test('Prometheus text otherwise, and an OpenMetrics scrape does not rename the counters of later ones', async () => {
    for (const accept of [undefined, 'text/plain', '*/*', 'application/openmetrics-text;q=0.2, text/plain;q=0.9']) {
      const p = await scrape(accept);
      assert.equal(p.type, PROMETHEUS, String(accept));
      assert.match(p.body, /^# TYPE driftwatch_requests_total counter$/m, String(accept));
      assert.doesNotMatch(p.body, /# EOF/);
    }
    assert.equal(metricsFormatFor('application/openmetrics-text; version=1.0.0'), 'openmetrics');
    assert.equal(metricsFormatFor('application/openmetrics-text;q=0'), 'prometheus');
    assert.equal(metricsFormatFor('garbage;;;q=x'), 'prometheus');
  });

  test('driftwatch_build_info: version and Node.js version, value 1 (also on a proxy-only registry)', async () => {
    const { body } = await scrape();
    assert.match(body, /^# TYPE driftwatch_build_info gauge$/m);
    const line = `driftwatch_build_info{version="${VERSION}",node_version="${process.versions.node}"} 1`;
    assert.ok(body.split('\n').includes(line), `no ${line}`);
    const proxyOnly = createProxyMetrics({ defaultMetrics: false });
    assert.ok((await proxyOnly.registry.metrics()).split('\n').includes(line));
  });

  test('driftwatch_store_backend_dropped_total is a counter following the backend count', async () => {
    let { body } = await scrape();
    assert.match(body, /^# TYPE driftwatch_store_backend_dropped_total counter$/m);
    assert.match(body, /^driftwatch_store_backend_dropped_total 0$/m);
    assert.doesNotMatch(body, /^driftwatch_store_backend_dropped /m, 'the old gauge name is gone');
    dropped = 7;
    ({ body } = await scrape());
    assert.match(body, /^driftwatch_store_backend_dropped_total 7$/m);
    ({ body } = await scrape());
    assert.match(body, /^driftwatch_store_backend_dropped_total 7$/m, 'not added twice');
  });

  test('check-run counters exist at 0 before the first run', async () => {
    const { body } = await scrape();
    for (const check of ['drift', 'slo', 'staleness'])
      for (const outcome of ['ok', 'failed', 'timeout'])
        assert.match(body, new RegExp(`^driftwatch_check_runs_total\\{check="${check}",outcome="${outcome}"\\} 0$`, 'm'));
  });

  test('regression: drift and SLO gauges carry the version label', async () => {
    const drift = createDriftCheck(config.checks.drift, { store: {} as never, registry: {} as never, metrics: checks });
    drift.exportGauges?.([
      finding('drift', '3', 'petal_length', 'psi', 0.3, { psi: { value: 0.3 }, ks: { statistic: 0.4 } }),
      finding('drift', '3', '__dataset__', 'drift_share', 0.5),
    ]);
    const slo = createSloCheck(config.checks.slo, { store: {} as never, metrics: checks });
    slo.exportGauges?.([
      finding('slo', null, 'burn_1h_5m', 'burn_rate', 2),
      finding('slo', null, 'error_rate', 'error_rate', 0.01),
      finding('slo', null, 'latency_p99', 'p99_ms', 120),
    ]);
    const { body } = await scrape();
    assert.match(body, /^driftwatch_drift_psi\{model="iris",version="3",feature="petal_length"\} 0\.3$/m);
    assert.match(body, /^driftwatch_drift_ks_statistic\{model="iris",version="3",feature="petal_length"\} 0\.4$/m);
    assert.match(body, /^driftwatch_drift_share\{model="iris",version="3"\} 0\.5$/m);
    // The SLO check judges a model across its versions: version="" (no version to Prometheus).
    assert.match(body, /^driftwatch_slo_burn_rate\{model="iris",version="",rule="burn_1h_5m"\} 2$/m);
    assert.match(body, /^driftwatch_slo_error_rate\{model="iris",version=""\} 0\.01$/m);
    assert.match(body, /^driftwatch_slo_latency_seconds\{model="iris",version="",quantile="0\.99"\} 0\.12$/m);
  });

  test('the cluster primary answers OpenMetrics too (aggregated workers)', async () => {
    const a = createServeMetrics({ defaultMetrics: false });
    const b = createServeMetrics({ defaultMetrics: false });
    a.rows.inc({ model: 'iris', version: '3' }, 2);
    b.rows.inc({ model: 'iris', version: '3' }, 3);
    const perWorker = [await a.registry.getMetricsAsJSON(), await b.registry.getMetricsAsJSON()];
    const om = await aggregateMetrics(perWorker, 'openmetrics');
    assert.equal(om.contentType, OPENMETRICS);
    assert.match(om.body, /^driftwatch_predicted_rows_total\{model="iris",version="3"\} 5$/m);
    assert.match(om.body, /^driftwatch_build_info\{version="[^"]+",node_version="[^"]+"\} 1$/m, 'max, not the number of workers');
    const text = await aggregateMetrics(perWorker);
    assert.equal(text.contentType, PROMETHEUS);
    assert.match(text.body, /^driftwatch_predicted_rows_total\{model="iris",version="3"\} 5$/m);
  });
});
