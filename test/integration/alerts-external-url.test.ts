/**
 * Regression (issue 19): alerts.externalUrl, the base of every notification's links (Alertmanager's
 * externalURL and generatorURL, the webhook's externalUrl, Slack's dashboard link), defaulted to
 * http://127.0.0.1:9097 whatever admin port was configured, so with --admin-port (or admin.port in
 * the file, or DRIFTWATCH_ADMIN_PORT) every link pointed at a port nothing listened on. The default
 * now follows the admin port the config ends up with; an explicit alerts.externalUrl still wins.
 * Checked on the loaded config and on what a real local receiver gets.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createAlertsService } from '../../src/alerts/alerts-service.js';
import { adminOverride } from '../../src/cli/args.js';
import { loadConfig } from '../../src/config/load.js';
import { failingDriftFinding } from '../fixtures/findings.js';
import { memoryLogger, tempDir } from '../helpers.js';

const tmp = tempDir('dw-alerts-exturl-');
after(() => tmp.cleanup());

describe('alerts.externalUrl follows the configured admin port', () => {
  test('--admin-port, admin.port in a file and DRIFTWATCH_ADMIN_PORT each move the default', () => {
    const flag = loadConfig({ env: {}, overrides: adminOverride({ 'admin-port': '9311' }) });
    assert.equal(flag.admin.port, 9311);
    assert.equal(flag.alerts.externalUrl, 'http://127.0.0.1:9311');

    const file = join(tmp.dir, 'admin-port.yaml');
    writeFileSync(file, 'admin:\n  port: 9312\n  host: localhost\n');
    assert.equal(loadConfig({ env: {}, file }).alerts.externalUrl, 'http://localhost:9312');

    assert.equal(loadConfig({ env: { DRIFTWATCH_ADMIN_PORT: '9313' } }).alerts.externalUrl, 'http://127.0.0.1:9313');
    // IPv6 loopback in brackets; a wildcard bind is not an address anyone can open: loopback then.
    assert.equal(loadConfig({ env: {}, overrides: { admin: { host: '::1', port: 9314 } } }).alerts.externalUrl, 'http://[::1]:9314');
    const token = 'a-token-of-at-least-16-chars';
    assert.equal(loadConfig({ env: {}, overrides: { admin: { host: '0.0.0.0', port: 9315, token } } }).alerts.externalUrl, 'http://127.0.0.1:9315');
    // Nothing configured: the documented default port.
    const plain = loadConfig({ env: {} });
    assert.equal(plain.alerts.externalUrl, `http://127.0.0.1:${plain.admin.port}`);
  });

  test('an explicit alerts.externalUrl wins over the admin port (file, env, flag)', () => {
    const explicit = loadConfig({
      env: { DRIFTWATCH_ALERTS_EXTERNAL_URL: 'https://dw.example/driftwatch' },
      overrides: adminOverride({ 'admin-port': '9316' }),
    });
    assert.equal(explicit.alerts.externalUrl, 'https://dw.example/driftwatch');
  });

  test('the links a real receiver gets name the configured admin port', async () => {
    const got: any[] = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        got.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/am-webhook`;
    const config = loadConfig({
      env: {},
      overrides: {
        ...adminOverride({ 'admin-port': '9317' }),
        alerts: { outboxPath: join(tmp.dir, 'alerts.db'), receivers: [{ name: 'am', kind: 'alertmanager', url }], retryInitialDelayMs: 20 },
      },
    });
    const alerts = createAlertsService(config.alerts, { logger: memoryLogger().logger, pollIntervalMs: 20 });
    try {
      await alerts.handle([failingDriftFinding('weather')]);
      const flushed = await alerts.flush(5000);
      assert.equal(flushed.delivered, 1, JSON.stringify(flushed));
      assert.equal(got.length, 1);
      // Alertmanager's webhook body: externalURL and each alert's generatorURL.
      assert.equal(got[0].externalURL, 'http://127.0.0.1:9317');
      assert.equal(got[0].alerts[0].generatorURL, 'http://127.0.0.1:9317/ui');
    } finally {
      await alerts.stop();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
