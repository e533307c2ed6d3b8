/**
 * The challenger verdict of a sidecar deployment: `driftwatch proxy --shadow-upstream` in front of
 * two real scoring servers (the example model as champion, its "sun"-biased copy as challenger,
 * which disagree on a real share of Seattle's days) writes its closed comparison windows to the
 * embedded store; a separate analyzer (its own app and connection on the same file) runs the
 * challenger check over them. The finding carries exactly the proxy's in-memory comparison, fires
 * once to a real local webhook receiver, and resolves when the rule passes (the analyzer restarted
 * with a looser maxDisagreement, its alert state kept in its outbox).
 *
 * And `driftwatch start` (app/all-in-one.ts), whose scoring server writes its comparisons to the
 * same kind of store: the challenger finding appears once per run, not once from memory and again
 * from the store.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createAllInOneApp } from '../../src/app/all-in-one.js';
import { type AnalyzerApp, createAnalyzerApp } from '../../src/app/analyzer-app.js';
import { loadConfig } from '../../src/config/load.js';
import type { Finding } from '../../src/findings/finding.js';
import { EmbeddedStore } from '../../src/store/embedded.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { sendWeatherYear, settledShadow, shadowingProxy, weatherWithChallenger } from '../challenger-fixture.js';
import { FEATURES, tempDir, weatherRows } from '../helpers.js';

const tmp = tempDir('dw-challenger-analyzer-');
after(() => tmp.cleanup());
const NEVER = '0 3 1 1 *';
const SECRET = `whsec_${Buffer.from('driftwatch-test-secret-0123456789').toString('base64')}`;

type Notification = { status: string; alerts: Array<{ check: string; status: string; subject: { model: string }; metric: string }> };

async function webhookReceiver(): Promise<{ url: string; got: Notification[]; close: () => void }> {
  const got: Notification[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push(JSON.parse(Buffer.concat(chunks).toString()));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got, close: () => server.close() };
}

test("the sidecar's shadow gets its verdict from a separate analyzer over the embedded store: fires once, resolves", async (t) => {
  const statsPath = join(tmp.dir, 'sidecar', 'stats.db');
  const receiver = await webhookReceiver();
  t.after(() => receiver.close());
  const proxy = await shadowingProxy(await weatherWithChallenger(join(tmp.dir, 'sidecar')), {
    config: { store: { embedded: { path: statsPath } } },
  });
  let mem: Awaited<ReturnType<typeof settledShadow>>;
  try {
    await sendWeatherYear(proxy.proxyUrl);
    mem = await settledShadow(proxy.app);
  } finally {
    // Stopping writes every comparison window (the open one too) to the store.
    await proxy.close();
  }
  assert.equal(mem.comparisons.length, 1);
  const c = mem.comparisons[0]!;
  assert.deepEqual([c.championVersion, c.challengerVersion, c.requests], ['1', '2', 73]);
  const disagreement = 1 - c.agreement!;
  assert.ok(disagreement > 0.03 && disagreement < 0.5, `a real share of disagreement: ${disagreement}`);

  const analyzer = async (maxDisagreement: number): Promise<{ app: AnalyzerApp; close: () => Promise<void> }> => {
    const config = loadConfig({
      env: {},
      overrides: {
        log: { level: 'silent' },
        registry: { root: join(tmp.dir, 'sidecar', 'registry') },
        store: { embedded: { path: statsPath } },
        checks: {
          enabled: false,
          findingsPath: join(tmp.dir, 'sidecar', 'findings.db'),
          drift: { enabled: false },
          dataQuality: { enabled: false },
          slo: { enabled: false },
          staleness: { enabled: false },
          quality: { enabled: false },
          // Latency on a loaded machine is noise here: the disagreement is what is judged.
          challenger: { schedule: NEVER, minPairs: 50, maxDisagreement, maxLatencyRatio: 1000, maxErrorRate: 1 },
        },
        alerts: {
          outboxPath: join(tmp.dir, 'sidecar', 'alerts.db'),
          receivers: [{ name: 'ops', kind: 'webhook', url: receiver.url, secret: SECRET }],
          retryInitialDelayMs: 20,
        },
      },
    });
    const store = new EmbeddedStore(config.store.embedded);
    const app = createAnalyzerApp(config, { store, logger: createLogger({ level: 'silent' }), admin: false });
    await app.start();
    return {
      app,
      close: async () => {
        await app.close();
        await store.close();
      },
    };
  };
  const challengerAlerts = () => receiver.got.flatMap((n) => n.alerts.filter((a) => a.check === 'challenger'));
  const delivered = async (n: number) => {
    for (let i = 0; i < 200 && challengerAlerts().length < n; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(challengerAlerts().length, n, JSON.stringify(receiver.got));
  };

  // The rule fails: the disagreement is above the limit.
  const strict = await analyzer(disagreement / 2);
  try {
    for (let run = 0; run < 2; run++) {
      const findings = (await strict.app.runner.runAll()).filter((f) => f.check === 'challenger');
      assert.equal(findings.length, 1, JSON.stringify(findings));
      const f = findings[0]!;
      assert.deepEqual([f.subject.model, f.status, f.metric], ['weather', 'warn', 'disagreement']);
      // Exactly the proxy's in-memory comparison, read back from the store.
      assert.equal(f.sampleSize, 73);
      assert.equal(f.value, disagreement);
      assert.equal(f.detail?.agreement, c.agreement);
      assert.deepEqual([f.detail?.champion_version, f.detail?.challenger_version, f.detail?.rows], ['1', '2', c.rows]);
    }
    await strict.app.alerts.flush(15_000);
    await delivered(1);
    assert.deepEqual(
      [challengerAlerts()[0]!.status, challengerAlerts()[0]!.subject.model, challengerAlerts()[0]!.metric],
      ['firing', 'weather', 'disagreement'],
    );
  } finally {
    await strict.close();
  }
  // Two runs, one notification: the second run's finding is the same alert.
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(challengerAlerts().length, 1);

  // The rule passes (the limit raised, the analyzer restarted): the alert resolves.
  const loose = await analyzer(Math.min(1, disagreement * 2));
  try {
    const [f] = (await loose.app.runner.runAll()).filter((x) => x.check === 'challenger');
    assert.equal(f!.status, 'ok', f!.message);
    assert.match(f!.message, /ready to promote: 73 paired requests/);
    await loose.app.alerts.flush(15_000);
    await delivered(2);
    assert.equal(challengerAlerts()[1]!.status, 'resolved');
    const history = loose.app.findings.history({ check: 'challenger', sinceMs: 0 });
    assert.deepEqual(history.map((x: Finding) => x.status).sort(), ['ok', 'warn', 'warn']);
  } finally {
    await loose.close();
  }
});

test('`start` with a challenger: one challenger finding per run, though its comparisons are in the store too', async (t) => {
  const dir = join(tmp.dir, 'start');
  const { registry, registryRoot } = await weatherWithChallenger(dir);
  const config = loadConfig({
    env: {},
    overrides: {
      serve: { port: 0, models: [{ uri: 'models:/weather/1', name: 'weather', challenger: 'models:/weather/2', shadowSample: 1 }] },
      proxy: { port: 0 },
      admin: { port: 0 },
      registry: { root: registryRoot },
      store: { embedded: { path: join(dir, 'stats.db') } },
      checks: {
        findingsPath: join(dir, 'findings.db'),
        drift: { schedule: NEVER },
        slo: { schedule: NEVER },
        staleness: { schedule: NEVER, noTraffic: '' },
        dataQuality: { schedule: NEVER },
        challenger: { schedule: NEVER, minPairs: 10, maxLatencyRatio: 1000 },
      },
      alerts: { outboxPath: join(dir, 'alerts.db') },
      log: { level: 'silent' },
    },
  });
  const app = createAllInOneApp(config, { logger: createLogger({ level: 'silent' }), registry });
  t.after(() => app.close());
  const { proxy, admin } = await app.start();
  const rows = weatherRows('2014-01-01', '2014-02-28').map((r) => r.features);
  for (let i = 0; i < rows.length; i += 3) {
    const res = await fetch(`http://127.0.0.1:${proxy.port}/invocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ dataframe_split: { columns: FEATURES, data: rows.slice(i, i + 3) } }),
    });
    assert.equal(res.status, 200);
    await res.text();
  }
  const shadow = app.serveApp.shadows.get('weather')!;
  const done = () => shadow.counts.scored + shadow.counts.failed + shadow.counts.dropped + shadow.counts.notLoaded === shadow.counts.sampled;
  for (let i = 0; i < 400 && !done(); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(done() && shadow.counts.scored === 20, JSON.stringify(shadow.counts));
  // The scoring server's windows in the store now (the timer would write them once a minute ended).
  assert.ok((await app.serveApp.publishComparisons()) >= 1);
  const stored = await app.store.readComparisons!({ fromMs: Date.now() - 3_600_000, toMs: Date.now() + 1 });
  assert.equal(stored.spans[0]?.comparison.requests, 20, 'the comparisons are in the store');

  for (let run = 1; run <= 2; run++) {
    const r = await fetch(`http://127.0.0.1:${admin!.port}/api/checks/run`, { method: 'POST' });
    const findings = ((await r.json()) as { findings: Finding[] }).findings.filter((f) => f.check === 'challenger');
    assert.equal(findings.length, 1, `run ${run}: ${JSON.stringify(findings.map((f) => f.message))}`);
    assert.equal(findings[0]!.sampleSize, 20);
    assert.equal(app.findings.history({ check: 'challenger', sinceMs: 0 }).length, run, 'one finding per run in the history');
  }
});
