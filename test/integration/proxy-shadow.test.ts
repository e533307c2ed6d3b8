/**
 * The sidecar's shadow (`driftwatch proxy --shadow-upstream`), against real upstreams on port 0:
 * two scoring servers on real onnxruntime (the example model as champion, a copy with one bias
 * moved as challenger) behind the proxy on both engines. The client's answers are byte-identical
 * with and without the shadow; the agreement in GET /api/challenger of the proxy's admin port is
 * the one computed from the two models' weights; a shadow upstream that holds its answers never
 * holds the client's (shown by order: every client answer arrives while the shadow still holds),
 * the requests beyond maxInFlight are dropped and counted, a dead one is counted as failed; sample
 * 0 sends nothing. Each with the comparison in the capture worker thread (the default) and, for the
 * fast engine, on the proxy's loop (capture worker off), which must agree.
 */
import assert from 'node:assert/strict';
import { cpSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { toOnnx } from '../../examples/seattle-weather/build-model.js';
import { createProxyApp, type ProxyApp } from '../../src/app/proxy-app.js';
import { proxy as proxyCommand } from '../../src/cli/proxy.js';
import { loadConfig } from '../../src/config/load.js';
import { LocalRegistry } from '../../src/registry/local-registry.js';
import { EmbeddedStore } from '../../src/store/embedded.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { EXAMPLE_MODEL_DIR, FEATURES, type RunningServer, startServer, tempDir, weatherRows } from '../helpers.js';
import { BASE, predict, type Weights } from '../example-weights.js';

/** Traffic the example never saw: one row per request. */
const ROWS = weatherRows('2014-01-01', '2014-12-31').map((r) => r.features);

const tmp = tempDir('dw-proxy-shadow-');
const registryRoot = join(tmp.dir, 'registry');
let challengerWeights: Weights;
let champion: RunningServer;
let challenger: RunningServer;

before(async () => {
  const reg = new LocalRegistry(registryRoot);
  await reg.createModelVersion({ name: 'weather', sourceDir: EXAMPLE_MODEL_DIR });
  // Version 2: the same model, more inclined to answer "sun" (one bias moved).
  const dir = join(tmp.dir, 'v2');
  cpSync(EXAMPLE_MODEL_DIR, dir, { recursive: true });
  challengerWeights = structuredClone(BASE);
  challengerWeights.bias[challengerWeights.classes.indexOf('sun')]! += 1;
  writeFileSync(join(dir, 'model.onnx'), toOnnx({ ...challengerWeights, trainAccuracy: 0 }));
  await reg.createModelVersion({ name: 'weather', sourceDir: dir });
  champion = await startServer({ registryRoot, models: [{ uri: 'models:/weather/1', name: 'weather' }], admin: { enabled: false } });
  challenger = await startServer({ registryRoot, models: [{ uri: 'models:/weather/2', name: 'weather' }], admin: { enabled: false } });
});
after(async () => {
  await champion?.close();
  await challenger?.close();
  tmp.cleanup();
});

let proxies = 0;
async function startProxy(
  upstream: string,
  proxy: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<{ app: ProxyApp; url: string; admin: string }> {
  const config = loadConfig({
    env: {},
    overrides: {
      ...extra,
      proxy: { port: 0, upstream, model: 'weather', ...proxy },
      admin: { port: 0 },
      registry: { root: registryRoot },
      checks: { challenger: { minPairs: 50 } },
      stats: { flushIntervalMs: 60_000 },
      log: { level: 'silent' },
    },
  });
  const store = new EmbeddedStore({ path: join(tmp.dir, `p${proxies++}.db`), retentionDays: 1, rollupAfterHours: 48 });
  const app = createProxyApp(config, { store, registry: new LocalRegistry(registryRoot), logger: createLogger({ level: 'silent' }) });
  const started = await app.start();
  return { app, url: `http://127.0.0.1:${started.proxy.port}`, admin: `http://127.0.0.1:${started.admin!.port}` };
}

const body = (rows: number[][]) => JSON.stringify({ dataframe_split: { columns: FEATURES, data: rows } });

interface Answer {
  status: number;
  text: string;
  type: string | null;
  version: string | null;
}

/** Every row as its own request from `concurrency` clients; answers in row order. */
async function sendAll(url: string, rows: number[][], concurrency = 4): Promise<Answer[]> {
  const out = new Array<Answer>(rows.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < rows.length) {
        const i = next++;
        const res = await fetch(`${url}/invocations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body([rows[i]!]) });
        out[i] = { status: res.status, text: await res.text(), type: res.headers.get('content-type'), version: res.headers.get('x-driftwatch-model-version') };
      }
    }),
  );
  return out;
}

/** Until every sampled request has an outcome (bounded wait). */
async function settled(app: ProxyApp): Promise<any> {
  for (let i = 0; i < 400; i++) {
    const report = app.shadow!.report({ fromMs: 0, toMs: Date.now() + 1 });
    const s = report.models[0]?.shadow;
    if (app.shadow!.pending === 0 && (!s || s.scored + s.failed + s.dropped + s.lost === s.sampled)) return report;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail('the shadow did not settle');
}

const metricValue = (text: string, prefix: string): number | null => {
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? null : Number(line.split(' ').at(-1));
};

for (const [engine, worker] of [
  ['fast', true],
  ['node', true],
  ['fast', false],
] as const) {
  describe(`engine ${engine}, comparison ${worker ? 'in the capture worker' : "on the proxy's loop"}: a challenger endpoint shadowing every request`, () => {
    let plain: Awaited<ReturnType<typeof startProxy>>;
    let shadowed: Awaited<ReturnType<typeof startProxy>>;
    const rows = engine === 'fast' ? ROWS : ROWS.slice(0, 120);
    before(async () => {
      plain = await startProxy(champion.url, { engine, capture: { worker } });
      shadowed = await startProxy(champion.url, {
        engine,
        capture: { worker },
        shadow: { upstream: challenger.url, sample: 1, maxInFlight: 64, queueSize: 10_000 },
      });
    });
    after(async () => {
      await plain.app.close();
      await shadowed.app.close();
    });

    test("the client's answers are byte-identical with and without the shadow", async () => {
      const without = await sendAll(plain.url, rows);
      const withShadow = await sendAll(shadowed.url, rows);
      assert.ok(withShadow.every((a) => a.status === 200));
      assert.deepEqual(withShadow, without);
      // And they are the champion's, not the challenger's: version 1 on every answer.
      assert.ok(withShadow.every((a) => a.version === '1'));
      await settled(shadowed.app);
    });

    test('GET /api/challenger on the proxy admin shows the agreement computed from both models', async () => {
      const report = await settled(shadowed.app);
      let agree = 0;
      let ties = 0;
      for (const x of rows) {
        const a = predict(BASE, x);
        const b = predict(challengerWeights, x);
        if (a.label === b.label) agree++;
        // float32 in onnxruntime vs float64 here: a near-tie may go either way.
        if (a.margin < 1e-3 || b.margin < 1e-3) ties++;
      }
      const share = agree / rows.length;
      assert.ok(share > 0.5 && share < 0.97, `the variant must disagree on a real share of rows (computed agreement ${share})`);

      const api = (await (await fetch(`${shadowed.admin}/api/challenger`)).json()) as any;
      assert.deepEqual(api.models, JSON.parse(JSON.stringify(report.models)));
      const m = api.models[0];
      assert.equal(m.model, 'weather');
      assert.equal(m.champion.uri, champion.url);
      assert.equal(m.challenger.uri, challenger.url);
      assert.equal(m.sampleRate, 1);
      // Every request sent through this proxy was shadowed and compared.
      assert.equal(m.shadow.sampled, rows.length);
      assert.equal(m.shadow.scored, rows.length);
      assert.equal(m.shadow.dropped, 0);
      assert.equal(m.comparisons.length, 1);
      const c = m.comparisons[0];
      assert.equal(c.championVersion, '1');
      assert.equal(c.challengerVersion, '2');
      assert.equal(c.rows, rows.length);
      assert.ok(Math.abs(c.agreement * rows.length - agree) <= ties, `agreement ${c.agreement} vs computed ${share} (near-ties ${ties})`);
      // Only the sun bias moved: every disagreement is the challenger answering "sun".
      const cells = Object.entries(c.confusion as Record<string, Record<string, number>>).flatMap(([a, row]) =>
        Object.entries(row).map(([b, n]) => ({ a, b, n })),
      );
      assert.ok(cells.some((x) => x.a !== x.b));
      assert.ok(cells.filter((x) => x.a !== x.b).every((x) => x.b === 'sun'));
      assert.ok(c.probDiff.count === rows.length && c.probDiff.max > 0);
      assert.equal(c.verdict.ready, false);
      assert.match(c.verdict.message, /^not ready: disagreement/);
      assert.equal(c.status, 'warn');

      const metrics = await (await fetch(`${shadowed.admin}/metrics`)).text();
      const agreement = metricValue(metrics, 'driftwatch_challenger_agreement{model="weather",champion_version="1",challenger_version="2"}');
      assert.ok(agreement !== null && Math.abs(agreement - c.agreement) < 1e-9, `agreement gauge ${agreement}`);
      assert.equal(metricValue(metrics, 'driftwatch_shadow_requests_total{model="weather",outcome="scored"}'), rows.length);
      assert.match(metrics, /driftwatch_challenger_latency_p99_seconds\{[^}]*role="challenger"\} [0-9.e-]+/);

      // The proxy without a shadow has no challenger to show.
      assert.equal((await fetch(`${plain.admin}/api/challenger`)).status, 404);
      // GET /api/models names the challenger as the scoring server's does (the status page asks
      // /api/challenger on that sign); without a shadow the proxy lists no model.
      const models = ((await (await fetch(`${shadowed.admin}/api/models`)).json()) as any).models;
      assert.deepEqual(models, [
        {
          name: 'weather',
          uri: champion.url,
          version: '1',
          loadedAtMs: null,
          lastError: null,
          challenger: { uri: challenger.url, version: '2', sampleRate: 1 },
        },
      ]);
      assert.deepEqual(((await (await fetch(`${plain.admin}/api/models`)).json()) as any).models, []);
    });

    test('Open Inference v2 requests (10 rows each) are shadowed and compared row by row', async () => {
      const before = (await settled(shadowed.app)).models[0].comparisons[0];
      const batch = rows.slice(0, 50);
      for (let i = 0; i < batch.length; i += 10) {
        const chunk = batch.slice(i, i + 10);
        const inputs = FEATURES.map((f, j) => ({ name: f, shape: [chunk.length], datatype: 'FP64', data: chunk.map((r) => r[j]) }));
        const res = await fetch(`${shadowed.url}/v2/models/weather/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ inputs }),
        });
        assert.equal(res.status, 200);
        await res.text();
      }
      const after = (await settled(shadowed.app)).models[0].comparisons[0];
      assert.equal(after.requests - before.requests, 5);
      assert.equal(after.rows - before.rows, 50);
      const agreeBefore = Math.round(before.agreement * before.labelRows);
      const agreeAfter = Math.round(after.agreement * after.labelRows);
      // The same 50 rows went through /invocations first: the same labels, the same agreement.
      const firstFifty = batch.filter((x) => predict(BASE, x).label === predict(challengerWeights, x).label).length;
      assert.ok(Math.abs(agreeAfter - agreeBefore - firstFifty) <= 2, `${agreeAfter - agreeBefore} agreeing rows vs ${firstFifty} computed`);
    });
  });
}

for (const worker of [true, false]) {
  describe(`labels.enabled, comparison ${worker ? 'in the capture worker' : "on the proxy's loop"}: the challenger's predictions are logged with the champion's ids`, () => {
    test('each labelled id pairs both models’ predictions (the ones their weights give) with the one label; disagreements match the comparison', async () => {
      const labelled = weatherRows('2013-01-01', '2013-03-31');
      const logPath = join(tmp.dir, `labels-${worker}.db`);
      const p = await startProxy(
        champion.url,
        { capture: { worker }, shadow: { upstream: challenger.url, sample: 1, maxInFlight: 64, queueSize: 10_000 } },
        { labels: { enabled: true, path: logPath } },
      );
      try {
        // One row per request (id: the request id), and one request of 10 rows (ids `<id>#<row>`).
        const sent: Array<{ id: string; x: number[]; weather: string }> = [];
        const singles = labelled.slice(0, 60);
        for (const r of singles) {
          const res = await fetch(`${p.url}/invocations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body([r.features]) });
          assert.equal(res.status, 200);
          await res.text();
          sent.push({ id: res.headers.get('x-request-id')!, x: r.features, weather: r.weather });
        }
        const batch = labelled.slice(60, 70);
        const res = await fetch(`${p.url}/invocations`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: body(batch.map((r) => r.features)),
        });
        assert.equal(res.status, 200);
        await res.text();
        const batchId = res.headers.get('x-request-id')!;
        batch.forEach((r, j) => sent.push({ id: `${batchId}#${j}`, x: r.features, weather: r.weather }));
        const report = await settled(p.app);
        assert.equal(report.models[0].shadow.scored, 61);
        await p.app.flushStats(); // both models' predictions written to the log

        // The labels, as a client posts them, once: they serve both models.
        const posted = await fetch(`${p.admin}/api/labels`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(sent.map((x) => ({ request_id: x.id, label: x.weather }))),
        });
        assert.equal(posted.status, 200);
        assert.equal(((await posted.json()) as any).matched, sent.length);

        const pairs = [];
        for await (const page of p.app.predictionLog!.scanPairs('weather', '2', 0, Date.now() + 1, 25)) pairs.push(...page);
        assert.equal(pairs.length, sent.length, 'every labelled id has both predictions');
        const byId = new Map(sent.map((x) => [x.id, x]));
        let ties = 0;
        let mismatches = 0;
        let disagree = 0;
        for (const row of pairs) {
          const x = byId.get(row.id);
          assert.ok(x, `an id the clients were given: ${row.id}`);
          assert.equal(row.label, x.weather);
          assert.equal(row.champion.version, '1');
          assert.equal(row.challenger.version, '2');
          const a = predict(BASE, x.x);
          const b = predict(challengerWeights, x.x);
          if (a.margin < 1e-3 || b.margin < 1e-3) ties++;
          if (row.champion.predicted !== a.label || row.challenger.predicted !== b.label) mismatches++;
          if (row.champion.predicted !== row.challenger.predicted) disagree++;
          assert.ok(row.challenger.probabilities !== null && Object.keys(row.challenger.probabilities).length === 5);
        }
        assert.ok(mismatches <= ties, `${mismatches} predictions differ from the weights' (near-ties ${ties})`);
        assert.ok(disagree > 0, 'the challenger disagrees on some of these rows');
        // The logged disagreements are the comparison's.
        const c = (await settled(p.app)).models[0].comparisons[0];
        assert.equal(c.rows, sent.length);
        assert.equal(Math.round((1 - c.agreement) * c.labelRows), disagree);
        const stats = await p.app.predictionLog!.stats();
        assert.equal(stats.shadowRows, sent.length);
      } finally {
        await p.app.close();
      }
    });
  });
}

/** A shadow upstream that counts what it receives and answers only when told to. */
function holdingUpstream(): Promise<{ url: string; received: () => number; release: () => void; close: () => Promise<void>; onRequest: Promise<void> }> {
  let received = 0;
  const held: http.ServerResponse[] = [];
  let released = false;
  let first!: () => void;
  const onRequest = new Promise<void>((r) => (first = r));
  const answer = (res: http.ServerResponse) => {
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end('{"error_code":"INTERNAL_ERROR","message":"held"}');
  };
  const server = http.createServer((req, res) => {
    received++;
    req.resume();
    req.on('end', () => {
      first();
      if (released) answer(res);
      else held.push(res);
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        received: () => received,
        release: () => {
          released = true;
          for (const res of held.splice(0)) answer(res);
        },
        close: () => {
          server.closeAllConnections();
          return new Promise((r) => server.close(() => r()));
        },
        onRequest,
      }),
    ),
  );
}

describe('a slow or dead shadow upstream', () => {
  test("a shadow that holds its answers never holds the client's; beyond maxInFlight sampled requests are dropped and counted", async () => {
    const shadow = await holdingUpstream();
    const p = await startProxy(champion.url, { shadow: { upstream: shadow.url, sample: 1, maxInFlight: 2, timeoutMs: 600_000 } });
    try {
      const n = 40;
      // One client, one request after the other: each answer arrives while the shadow holds
      // every request it got (it answers nothing until release()).
      const answers = await sendAll(p.url, ROWS.slice(0, n), 1);
      await shadow.onRequest;
      assert.ok(answers.every((a) => a.status === 200 && a.version === '1'));
      // Byte for byte what the champion answers without the proxy and its held shadow.
      assert.deepEqual(answers, await sendAll(champion.url, ROWS.slice(0, n), 1));
      assert.equal(p.app.shadow!.pending, 2, 'the two sent shadow requests are still held');
      assert.equal(shadow.received(), 2);
      let report = p.app.shadow!.report({ fromMs: 0, toMs: Date.now() + 1 });
      assert.equal(report.models[0]!.shadow.sampled, n);
      assert.equal(report.models[0]!.shadow.dropped, n - 2);
      const metrics = await (await fetch(`${p.admin}/metrics`)).text();
      assert.equal(metricValue(metrics, 'driftwatch_proxy_shadow_dropped_total{reason="busy"}'), n - 2);
      assert.equal(metricValue(metrics, 'driftwatch_proxy_shadow_in_flight'), 2);
      // Released: the held ones answer 500, challenger errors in the comparison.
      shadow.release();
      report = await settled(p.app);
      const m = report.models[0]!;
      assert.equal(m.shadow.failed, 2);
      assert.match(m.challenger.lastError ?? '', /answered 500/);
      assert.equal(m.comparisons[0]!.requests, 2);
      assert.equal(m.comparisons[0]!.challenger.errorRate, 1);
      const after = await (await fetch(`${p.admin}/metrics`)).text();
      assert.equal(metricValue(after, 'driftwatch_proxy_shadow_errors_total{kind="status"}'), 2);
      assert.equal(metricValue(after, 'driftwatch_shadow_requests_total{model="weather",outcome="failed"}'), 2);
      assert.equal(metricValue(after, 'driftwatch_shadow_requests_total{model="weather",outcome="dropped"}'), n - 2);
    } finally {
      await p.app.close();
      await shadow.close();
    }
  });

  test('a shadow that never answers times out (counted), and a refused one fails (counted); the client is answered throughout', async () => {
    const silent = await holdingUpstream();
    const p = await startProxy(champion.url, { shadow: { upstream: silent.url, sample: 1, maxInFlight: 1, timeoutMs: 200 } });
    try {
      const [a] = await sendAll(p.url, ROWS.slice(0, 1), 1);
      assert.equal(a!.status, 200);
      const report = await settled(p.app);
      assert.equal(report.models[0]!.shadow.failed, 1);
      assert.match(report.models[0]!.challenger.lastError ?? '', /did not answer within 200 ms/);
      const metrics = await (await fetch(`${p.admin}/metrics`)).text();
      assert.equal(metricValue(metrics, 'driftwatch_proxy_shadow_errors_total{kind="timeout"}'), 1);
    } finally {
      await p.app.close();
      await silent.close();
    }
    // A port nobody listens on any more.
    const gone = await holdingUpstream();
    const deadUrl = gone.url;
    await gone.close();
    const q = await startProxy(champion.url, { shadow: { upstream: deadUrl, sample: 1, maxInFlight: 4 } });
    try {
      const answers = await sendAll(q.url, ROWS.slice(0, 10), 1);
      assert.ok(answers.every((x) => x.status === 200));
      const report = await settled(q.app);
      const s = report.models[0]!.shadow;
      assert.equal(s.sampled, 10);
      assert.equal(s.failed + s.dropped, 10);
      assert.ok(s.failed >= 1);
      const metrics = await (await fetch(`${q.admin}/metrics`)).text();
      assert.equal(metricValue(metrics, 'driftwatch_proxy_shadow_errors_total{kind="connection"}'), s.failed);
      // After a refused connection the shadow backs off (dropped "down") rather than connecting per request.
      const down = metricValue(metrics, 'driftwatch_proxy_shadow_dropped_total{reason="down"}') ?? 0;
      const busy = metricValue(metrics, 'driftwatch_proxy_shadow_dropped_total{reason="busy"}') ?? 0;
      assert.equal(down + busy, s.dropped);
    } finally {
      await q.app.close();
    }
  });

  test('answers framed by chunks or by the close are read, on reused and fresh connections', async () => {
    let n = 0;
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const i = n++;
        // Even: chunked in two pieces, the connection kept; odd: a length and connection: close.
        if (i % 2 === 0) {
          res.writeHead(200, { 'content-type': 'application/json', 'x-driftwatch-model-version': '9' });
          res.write('{"predictions":[{"label":');
          setImmediate(() => res.end('"sun"}]}'));
        } else {
          const b = '{"predictions":[{"label":"rain"}]}';
          res.writeHead(200, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(b),
            connection: 'close',
            'x-driftwatch-model-version': '9',
          });
          res.end(b);
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const p = await startProxy(champion.url, { shadow: { upstream: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sample: 1, maxInFlight: 1 } });
    try {
      const rows = ROWS.slice(0, 30);
      // One request at a time, each after the previous shadow answer: none is dropped as busy.
      for (const row of rows) {
        const [a] = await sendAll(p.url, [row], 1);
        assert.equal(a!.status, 200);
        for (let i = 0; i < 200 && p.app.shadow!.pending > 0; i++) await new Promise((r) => setTimeout(r, 5));
      }
      const report = await settled(p.app);
      const m = report.models[0]!;
      assert.equal(m.shadow.sampled, rows.length);
      assert.equal(m.shadow.scored, rows.length, `lastError: ${m.challenger.lastError}`);
      assert.equal(m.challenger.version, '9');
      const c = m.comparisons[0]!;
      assert.equal(c.rows, rows.length);
      // The challenger answered "sun" to the even requests and "rain" to the odd ones.
      const said = Object.values(c.confusion as Record<string, Record<string, number>>).reduce(
        (acc, row) => {
          for (const [label, k] of Object.entries(row)) acc[label] = (acc[label] ?? 0) + k;
          return acc;
        },
        {} as Record<string, number>,
      );
      assert.deepEqual(said, { sun: rows.length / 2, rain: rows.length / 2 });
    } finally {
      await p.app.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  test('sample 0 sends nothing to the shadow upstream', async () => {
    const shadow = await holdingUpstream();
    const p = await startProxy(champion.url, { shadow: { upstream: shadow.url, sample: 0 } });
    try {
      const answers = await sendAll(p.url, ROWS.slice(0, 50), 2);
      assert.ok(answers.every((a) => a.status === 200));
      // The capture saw them all (the shadow's candidates), and not one went to the shadow.
      await p.app.flushStats();
      assert.equal(
        p.app.summary.toJSON().models.reduce((n, m) => n + m.requests, 0),
        50,
      );
      assert.equal(shadow.received(), 0);
      const report = (await (await fetch(`${p.admin}/api/challenger`)).json()) as any;
      assert.equal(report.models[0].shadow.sampled, 0);
      assert.deepEqual(report.models[0].comparisons, []);
    } finally {
      await p.app.close();
      await shadow.close();
    }
  });
});

describe('the command line', () => {
  test('--shadow-sample outside 0..1 and --shadow-upstream with --workers 2 are usage errors, before anything starts', async () => {
    const up = ['--upstream', 'http://127.0.0.1:1', '--shadow-upstream', 'http://127.0.0.1:2', '--port', '0', '--admin-port', '0'];
    await assert.rejects(proxyCommand.run([...up, '--shadow-sample', '1.5']), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'DW_ERR_CLI_USAGE');
      assert.match(e.message, /--shadow-sample must be a number from 0 to 1/);
      return true;
    });
    await assert.rejects(proxyCommand.run([...up, '--workers', '2']), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'DW_ERR_CLI_USAGE');
      assert.match(e.message, /--shadow-upstream .* needs --workers 1/);
      return true;
    });
    await assert.rejects(proxyCommand.run(['--upstream', 'http://127.0.0.1:1', '--shadow-sample', '0.5']), /--shadow-sample goes with --shadow-upstream/);
    // A shadow URL that is not http(s) is refused by the config, naming the key.
    await assert.rejects(proxyCommand.run(['--upstream', 'http://127.0.0.1:1', '--shadow-upstream', 'ftp://x', '--port', '0']), /proxy\.shadow\.upstream/);
  });
});
