/**
 * End to end: a check run's findings become one signed, grouped notification at a real local
 * receiver, through the analyzer as `driftwatch start` and `analyze` compose it.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createAnalyzerApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { LocalRegistry } from '../../src/registry/local-registry.js';
import { EXAMPLE_MODEL_DIR, tempDir } from '../helpers.js';
import { EmbeddedStore } from '../../src/store/embedded.js';
import { createLogger } from '../../src/telemetry/logger.js';

const tmp = tempDir('dw-alerts-e2e-');
after(() => tmp.cleanup());

test('a stale Production version pages the configured webhook once, signed, with every rule in one notification', async () => {
  const got: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const secretBytes = Buffer.from('driftwatch-test-secret-0123456789');
  const secret = `whsec_${secretBytes.toString('base64')}`;
  const root = join(tmp.dir, 'registry');
  const old = new LocalRegistry(root, { now: () => Date.now() - 200 * 86_400_000 });
  const v1 = await old.createModelVersion({ name: 'fraud', sourceDir: EXAMPLE_MODEL_DIR });
  await old.transitionStage('fraud', v1.version, 'Production');
  await old.createModelVersion({ name: 'fraud', sourceDir: EXAMPLE_MODEL_DIR }); // v2: newer, not deployed
  const config = loadConfig({
    env: {},
    overrides: {
      log: { level: 'silent' },
      registry: { root },
      checks: { findingsPath: join(tmp.dir, 'findings.db'), staleness: { noTraffic: '' } },
      alerts: {
        outboxPath: join(tmp.dir, 'alerts.db'),
        receivers: [{ name: 'ops', kind: 'webhook', url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, secret }],
        retryInitialDelayMs: 20,
      },
    },
  });
  const store = new EmbeddedStore({ path: join(tmp.dir, 'stats.db'), retentionDays: 30, rollupAfterHours: 48 });
  const { lines, logger } = await import('../helpers.js').then((h) => h.memoryLogger('info'));
  const app = createAnalyzerApp(config, { store, registry: new LocalRegistry(root), logger });
  await app.start();
  try {
    await app.runner.run('staleness');
    await app.runner.run('staleness'); // still firing: no repeat within repeatInterval
    const deadline = Date.now() + 15_000;
    while (got.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 1500)); // would a duplicate arrive?
    assert.equal(got.length, 1, 'one grouped notification');
    const { headers, body } = got[0]!;
    const expected = createHmac('sha256', secretBytes).update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`).digest('base64');
    assert.ok(String(headers['webhook-signature']).split(' ').includes(`v1,${expected}`), 'Standard Webhooks signature verifies');
    const payload = JSON.parse(body);
    assert.equal(payload.status, 'firing');
    assert.equal(payload.model, 'fraud');
    const names = payload.alerts.map((a: any) => a.subject.name).sort();
    assert.deepEqual(names, ['age', 'newer_version']);
    assert.ok(!lines.some((l) => l.includes(secretBytes.toString('base64'))), 'the secret is never logged');
  } finally {
    await app.close();
    await store.close();
    await new Promise((r) => receiver.close(r));
  }
});
