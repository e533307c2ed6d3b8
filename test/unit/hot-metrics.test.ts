/**
 * hot-metrics.ts replaces prom-client's Counter and Histogram on the proxy's per-request path, so
 * /metrics must not change: prom-client itself is the oracle here. The same seeded observations
 * go into a prom-client metric and a hot one, and the exposition text, the JSON form and the
 * cluster aggregation (AggregatorRegistry) must come out identical.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { HotCounter, HotHistogram } from '../../src/telemetry/hot-metrics.js';
import { LATENCY_BUCKETS_SECONDS, latencyBucketsSeconds } from '../../src/telemetry/metrics.js';
import { mulberry32 } from '../prng.js';

const ROUTES = ['invocations', 'infer', 'extra', 'other'];
const CLASSES = ['2xx', '4xx', '5xx', '0xx'];

function fill(seed: number) {
  const r = mulberry32(seed);
  const buckets = latencyBucketsSeconds([75, 250]);
  const oracle = new Registry();
  const hot = new Registry();
  const oc = new Counter({ name: 'x_requests_total', help: 'requests', labelNames: ['route', 'status_class'], registers: [oracle] });
  const oh = new Histogram({ name: 'x_duration_seconds', help: 'duration', labelNames: ['route'], buckets, registers: [oracle] });
  const hc = new HotCounter('x_requests_total', 'requests', ['route', 'status_class']);
  const hh = new HotHistogram('x_duration_seconds', 'duration', ['route'], buckets);
  hot.registerMetric(hc as never);
  hot.registerMetric(hh as never);
  for (let i = 0; i < 5000; i++) {
    const route = ROUTES[Math.floor(r() * r() * ROUTES.length)]!;
    const cls = CLASSES[Math.floor(r() * r() * CLASSES.length)]!;
    // Values on bucket bounds exactly, between them, below the first and past the last.
    const pick = r();
    const v = pick < 0.2 ? buckets[Math.floor(r() * buckets.length)]! : pick < 0.25 ? 100 * r() + 61 : pick < 0.3 ? 0 : r() ** 4 * 2;
    const n = Math.floor(r() * 3) + 1;
    if (i % 2 === 0) {
      oc.labels(route, cls).inc(n);
      hc.labels(route, cls).inc(n);
      oh.labels(route).observe(v);
      hh.labels(route).observe(v);
    } else {
      oc.inc({ route, status_class: cls }, n);
      hc.inc({ route, status_class: cls }, n);
      oh.observe({ route }, v);
      hh.observe({ route }, v);
    }
  }
  return { oracle, hot };
}

test('the exposition text is the same as prom-client for the same observations', async () => {
  const { oracle, hot } = fill(7);
  const expected = await oracle.metrics();
  assert.match(expected, /x_duration_seconds_bucket\{le="0.075",route="invocations"\} \d+/);
  assert.equal(await hot.metrics(), expected);
});

test('the JSON form and the cluster aggregation of two workers are the same as prom-client', async () => {
  const a = fill(1);
  const b = fill(2);
  const oJson = [await a.oracle.getMetricsAsJSON(), await b.oracle.getMetricsAsJSON()];
  const hJson = [await a.hot.getMetricsAsJSON(), await b.hot.getMetricsAsJSON()];
  // prom-client adds exemplar: null on bucket values; the hot metrics leave it out (not OpenMetrics).
  const strip = (j: unknown) => JSON.parse(JSON.stringify(j, (k, v) => (k === 'exemplar' ? undefined : v)));
  assert.deepEqual(strip(hJson), strip(oJson));
  const oAgg = await AggregatorRegistry.aggregate(oJson as never).metrics();
  const hAgg = await AggregatorRegistry.aggregate(hJson as never).metrics();
  assert.equal(hAgg, oAgg);
  assert.match(hAgg, /x_requests_total\{route="invocations",status_class="2xx"\} \d+/);
});

test('bad updates are refused as prom-client refuses them, and nothing is counted', async () => {
  const c = new HotCounter('c_total', 'c', ['route']);
  const h = new HotHistogram('h_seconds', 'h', ['route'], LATENCY_BUCKETS_SECONDS);
  assert.throws(() => c.labels('a').inc(-1), /only goes up/);
  assert.throws(() => c.inc({}), /label "route" is required/);
  assert.throws(() => c.labels('a', 'b'), /takes 1 label value/);
  assert.throws(() => h.labels('a').observe(Number.NaN), /not a valid number/);
  assert.throws(() => h.labels('a').observe(Infinity), /not a valid number/);
  // The refused updates left no series behind (nothing was counted).
  assert.deepEqual((await h.get()).values, []);
  assert.deepEqual((await c.get()).values, []);
});

test('as in prom-client, a child that was only looked up shows no series, and reset() keeps held children counting', async () => {
  const oracle = new Registry();
  const hot = new Registry();
  const oc = new Counter({ name: 'c_total', help: 'c', labelNames: ['route'], registers: [oracle] });
  const oh = new Histogram({ name: 'h_seconds', help: 'h', labelNames: ['route'], buckets: [0.1, 1], registers: [oracle] });
  const hc = new HotCounter('c_total', 'c', ['route']);
  const hh = new HotHistogram('h_seconds', 'h', ['route'], [0.1, 1]);
  hot.registerMetric(hc as never);
  hot.registerMetric(hh as never);
  // Held children, as exchange.ts holds them: one never used (a route the upstream never answered).
  const [ocA, ohA, ohB] = [oc.labels('a'), oh.labels('a'), oh.labels('b')];
  const [hcA, hhA, hhB] = [hc.labels('a'), hh.labels('a'), hh.labels('b')];
  hc.labels('zero');
  oc.labels('zero');
  ocA.inc(0);
  hcA.inc(0); // inc(0) does create the series
  ohA.observe(0.5);
  hhA.observe(0.5);
  void ohB;
  void hhB;
  const before = await oracle.metrics();
  assert.doesNotMatch(before, /route="b"|route="zero"/);
  assert.equal(await hot.metrics(), before);
  oracle.resetMetrics();
  hot.resetMetrics();
  assert.equal(await hot.metrics(), await oracle.metrics());
  ocA.inc(2);
  hcA.inc(2);
  ohA.observe(2);
  hhA.observe(2);
  const after = await oracle.metrics();
  assert.match(after, /c_total\{route="a"\} 2/);
  assert.equal(await hot.metrics(), after);
});
