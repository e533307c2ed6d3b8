import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createProxyMetrics, createServeMetrics, LATENCY_BUCKETS_SECONDS, latencyBucketsSeconds } from '../../src/telemetry/metrics.js';

test('SLO thresholds become exact bucket boundaries, sorted and without duplicates', () => {
  const b = latencyBucketsSeconds([75, 250, 0.7, -1, Number.NaN]);
  assert.ok(b.includes(0.075));
  assert.ok(b.includes(0.0007));
  assert.equal(b.filter((x) => x === 0.25).length, 1, '250 ms is already a default bucket: kept once');
  assert.ok(!b.some((x) => x <= 0), 'non-positive thresholds are ignored');
  assert.deepEqual(
    [...b].sort((x, y) => x - y),
    b,
  );
  assert.equal(b.length, LATENCY_BUCKETS_SECONDS.length + 2);
  assert.deepEqual(latencyBucketsSeconds(), LATENCY_BUCKETS_SECONDS);
});

test('/metrics exposes the SLO boundary on the request histograms of the scoring server and the proxy', async () => {
  const serve = createServeMetrics({ defaultMetrics: false, sloThresholdsMs: [75] });
  serve.requestDuration.observe({ model: 'm', version: '1', route: 'invocations', status_class: '2xx' }, 0.07);
  serve.requestDuration.observe({ model: 'm', version: '1', route: 'invocations', status_class: '2xx' }, 0.08);
  const proxy = createProxyMetrics({ registry: serve.registry, sloThresholdsMs: [75] });
  proxy.totalDuration.observe({ route: 'invocations' }, 0.07);
  const text = await serve.registry.metrics();
  assert.match(text, /driftwatch_request_duration_seconds_bucket\{le="0.075",model="m",version="1",route="invocations",status_class="2xx"\} 1\n/);
  assert.match(text, /driftwatch_proxy_request_duration_seconds_bucket\{le="0.075",route="invocations"\} 1\n/);
});
