/**
 * The challenger verdict through the existing alert path, as `driftwatch start` composes it
 * (app/all-in-one.ts): a challenger that fails on every shadowed request makes the challenger
 * check file "not ready" and the webhook receives it firing; after the challenger alias moves to a
 * version that answers like the champion, the next run files "ready to promote" and the alert
 * resolves. The checks run when the test asks (POST /api/checks/run), not on their schedule.
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createAllInOneApp } from '../../src/app/all-in-one.js';
import { loadConfig } from '../../src/config/load.js';
import { LocalRegistry } from '../../src/registry/local-registry.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { EXAMPLE_MODEL_DIR, FEATURES, tempDir, weatherRows } from '../helpers.js';

const tmp = tempDir('dw-challenger-alerts-');
after(() => tmp.cleanup());

test('a challenger that is not ready fires an alert, which resolves once the challenger is ready', async () => {
  const got: Array<{ status: string; alerts: Array<{ check: string; status: string; message: string; metric: string }> }> = [];
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push(JSON.parse(Buffer.concat(chunks).toString()));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const root = join(tmp.dir, 'registry');
  const reg = new LocalRegistry(root);
  await reg.createModelVersion({ name: 'weather', sourceDir: EXAMPLE_MODEL_DIR });
  // Version 2 cannot read the champion's requests (its signature wants a column they lack).
  const failing = join(tmp.dir, 'failing');
  cpSync(EXAMPLE_MODEL_DIR, failing, { recursive: true });
  writeFileSync(join(failing, 'MLmodel'), readFileSync(join(failing, 'MLmodel'), 'utf8').replace('"name":"wind"', '"name":"humidity"'));
  const example = JSON.parse(readFileSync(join(failing, 'input_example.json'), 'utf8'));
  example.columns = example.columns.map((c: string) => (c === 'wind' ? 'humidity' : c));
  writeFileSync(join(failing, 'input_example.json'), JSON.stringify(example));
  await reg.createModelVersion({ name: 'weather', sourceDir: failing });
  await reg.setAlias('weather', 'champion', 1);
  await reg.setAlias('weather', 'challenger', 2);

  const never = '0 3 1 1 *';
  const config = loadConfig({
    env: {},
    overrides: {
      serve: { port: 0, models: [{ uri: 'models:/weather@champion', name: 'weather', challenger: 'models:/weather@challenger', shadowSample: 1 }] },
      proxy: { port: 0 },
      admin: { port: 0 },
      registry: { root, pollIntervalMs: 100 },
      store: { embedded: { path: join(tmp.dir, 'stats.db') } },
      checks: {
        findingsPath: join(tmp.dir, 'findings.db'),
        drift: { schedule: never },
        slo: { schedule: never },
        staleness: { schedule: never, noTraffic: '' },
        dataQuality: { schedule: never },
        // The same model on both sides after the move: its latency ratio is noise on a loaded machine.
        challenger: { schedule: never, minPairs: 30, maxLatencyRatio: 1000 },
      },
      alerts: {
        outboxPath: join(tmp.dir, 'alerts.db'),
        receivers: [
          {
            name: 'ops',
            kind: 'webhook',
            url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
            secret: `whsec_${Buffer.from('driftwatch-test-secret-0123456789').toString('base64')}`,
          },
        ],
        retryInitialDelayMs: 20,
      },
      log: { level: 'silent' },
    },
  });
  const app = createAllInOneApp(config, { logger: createLogger({ level: 'silent' }), registry: reg });
  try {
    const { proxy, admin } = await app.start();
    const rows = weatherRows('2014-01-01', '2014-03-31').map((r) => r.features);
    const traffic = async () => {
      for (const x of rows.slice(0, 60)) {
        const res = await fetch(`http://127.0.0.1:${proxy.port}/invocations`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ dataframe_split: { columns: FEATURES, data: [x] } }),
        });
        assert.equal(res.status, 200);
        await res.text();
      }
      const shadow = app.serveApp.shadows.get('weather')!;
      // Every sampled request has an outcome (not only an empty queue: the last one may still run).
      const done = () => shadow.counts.scored + shadow.counts.failed + shadow.counts.dropped + shadow.counts.notLoaded === shadow.counts.sampled;
      for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 25));
      assert.ok(done());
    };
    const runChecks = async () => {
      const r = await fetch(`http://127.0.0.1:${admin!.port}/api/checks/run`, { method: 'POST' });
      const findings = ((await r.json()) as { findings: Array<{ check: string; status: string; message: string; metric: string }> }).findings;
      return findings.filter((f) => f.check === 'challenger');
    };
    // Only the challenger's notifications (the other checks run too, and may page about other things).
    const mine = () => got.flatMap((n) => n.alerts.filter((a) => a.check === 'challenger'));
    const delivered = async (n: number) => {
      for (let i = 0; i < 200 && mine().length < n; i++) await new Promise((r) => setTimeout(r, 25));
      assert.equal(mine().length, n, JSON.stringify(got));
    };

    await traffic();
    const [notReady] = await runChecks();
    assert.equal(notReady!.status, 'warn');
    assert.equal(notReady!.metric, 'error_rate');
    assert.match(notReady!.message, /not ready: error rate 100\.0%/);
    await delivered(1);
    const fired = mine()[0]!;
    assert.equal(fired.status, 'firing');

    // Promote a better challenger: the alias moves to a version that answers like the champion.
    await reg.setAlias('weather', 'challenger', 1);
    const challenger = app.serveApp.shadows.get('weather')!.challenger;
    for (let i = 0; i < 200 && challenger.current?.version !== '1'; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(challenger.current?.version, '1');
    await traffic();
    const [ready] = await runChecks();
    assert.equal(ready!.status, 'ok', ready!.message);
    assert.match(ready!.message, /ready to promote: 60 paired requests, disagreement 0\.0%/);
    await delivered(2);
    const resolved = mine()[1]!;
    assert.equal(resolved.status, 'resolved');
    const history = (await (await fetch(`http://127.0.0.1:${admin!.port}/api/findings?check=challenger`)).json()) as { findings: unknown[] };
    assert.equal(history.findings.length, 1);
  } finally {
    await app.close();
    receiver.close();
  }
});
