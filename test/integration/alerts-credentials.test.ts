/**
 * Receiver URLs with credentials (issue 18 item 4): fetch refuses such a URL outright, so they
 * go out as `Authorization: Basic` (percent-decoded, as curl sends them) to the URL without them,
 * and never show in logs or `alerts list`. A request that cannot be built at all is failed at
 * once instead of being retried as a network error for retryMaxAge. Real local receiver.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createAlertsService } from '../../src/alerts/alerts-service.js';
import { splitUrlCredentials } from '../../src/alerts/delivery.js';
import { alertsSchema } from '../../src/config/schema.js';
import { failingDriftFinding as finding } from '../fixtures/findings.js';
import { memoryLogger, tempDir } from '../helpers.js';

const tmp = tempDir('dw-alerts-credentials-');
after(() => tmp.cleanup());

const SECRET = 'whsec_' + Buffer.from('credentials-secret-0123456789').toString('base64');

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('splitUrlCredentials: percent-decoded user and password as Basic, the URL without them', () => {
  const s = splitUrlCredentials('https://ops%40corp:p%3Ass%20w%C3%B6rd@hooks.example:8443/a?b=1');
  assert.equal(s.url, 'https://hooks.example:8443/a?b=1');
  assert.equal(Buffer.from(s.authorization!.replace(/^Basic /, ''), 'base64').toString('utf8'), 'ops@corp:p:ss wörd');
  assert.equal(splitUrlCredentials('https://token@hooks.example/').authorization, `Basic ${Buffer.from('token:').toString('base64')}`);
  assert.deepEqual(splitUrlCredentials('https://hooks.example/x'), { url: 'https://hooks.example/x', authorization: null });
});

test('a webhook URL with credentials delivers with Authorization: Basic; the password is never logged or listed', async () => {
  const seen: Array<{ url: string; authorization: string | undefined }> = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', authorization: req.headers.authorization });
    req.resume();
    req.on('end', () => res.writeHead(req.headers.authorization === `Basic ${Buffer.from('us@er:p:ss w').toString('base64')}` ? 200 : 401).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const { logger, lines } = memoryLogger('debug');
  const config = alertsSchema.parse({
    outboxPath: join(tmp.dir, 'basic.db'),
    receivers: [{ name: 'hook', kind: 'webhook', url: `http://us%40er:p%3Ass%20w@127.0.0.1:${port}/hook?x=1`, secret: SECRET, timeoutMs: 1000 }],
    retryInitialDelayMs: 20,
    retryMaxDelayMs: 100,
  });
  const s = createAlertsService(config, { logger, pollIntervalMs: 20 });
  s.start();
  try {
    await s.handle([finding('m1')]);
    await s.handle([finding('m2')]);
    await waitFor(() => s.outbox.entries({ state: 'delivered' }).length === 2);
    assert.deepEqual(
      seen.map((x) => x.url),
      ['/hook?x=1', '/hook?x=1'],
    );
    const tested = await s.testReceiver('hook');
    assert.equal(tested.status, 200);
    const listed = JSON.stringify(s.list());
    for (const text of [lines.join(''), listed]) {
      assert.ok(!text.includes('p%3Ass') && !text.includes('p:ss'), 'the password never shows');
    }
  } finally {
    await s.stop();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('a request that cannot be built is failed at once, not retried for retryMaxAge; the next notification still goes', async () => {
  const { logger } = memoryLogger('debug');
  const parsed = alertsSchema.parse({
    outboxPath: join(tmp.dir, 'unbuildable.db'),
    receivers: [{ name: 'hook', kind: 'webhook', url: 'http://127.0.0.1:1/hook', secret: SECRET, timeoutMs: 500 }],
    retryInitialDelayMs: 20,
    retryMaxDelayMs: 100,
  });
  // A URL fetch cannot take (config validation stops it; an outbox outlives configs, though).
  const config = { ...parsed, receivers: [{ ...parsed.receivers[0]!, url: 'http://user:secret-pw@[bad-host/hook' }] };
  const s = createAlertsService(config, { logger, pollIntervalMs: 20 });
  s.start();
  try {
    await s.handle([finding('m1')]);
    await s.handle([finding('m2')]);
    await waitFor(() => s.outbox.entries({ state: 'failed' }).length === 2, 3000);
    for (const e of s.outbox.entries({ state: 'failed' })) {
      assert.equal(e.attempts, 1, 'one attempt: no retry can build it');
      assert.match(e.lastError ?? '', /cannot build the request/);
      assert.ok(!(e.lastError ?? '').includes('secret-pw'));
    }
  } finally {
    await s.stop();
  }
});
