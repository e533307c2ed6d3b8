/**
 * Delivery faults against real local receivers: a receiver that refuses connections for a while,
 * then answers 500s, then 429 with Retry-After: 1, then 200 gets every notification exactly once
 * (by webhook-id), in order, the same id on every attempt, with backoff between attempts; a 400
 * is permanent; 410 disables the receiver until its config changes; a restart on the same outbox
 * resends what was pending with the same webhook-id; the outbox bound drops the oldest and counts;
 * pending entries of a receiver removed from the config are orphaned at start-up (logged, counted,
 * listed), never sent, also not when the receiver comes back; flush() (check --once) delivers what
 * is pending and leaves the rest after its timeout.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { createAlertMetrics } from '../../src/alerts/alert-metrics.js';
import { createAlertsService, type AlertsService } from '../../src/alerts/alerts-service.js';
import { AlertOutbox } from '../../src/alerts/outbox.js';
import { backoffDelayMs, parseRetryAfter } from '../../src/alerts/delivery.js';
import { failingDriftFinding as finding } from '../fixtures/findings.js';
import { alertsSchema } from '../../src/config/schema.js';
import { memoryLogger, tempDir } from '../helpers.js';

const tmp = tempDir('dw-alerts-delivery-');
after(() => tmp.cleanup());

interface Got {
  id: string;
  status: number;
  atMs: number;
  model: string;
}
type Answer = { status: number; headers?: Record<string, string> } | 'hang';

async function receiverServer(answer: (i: number, id: string) => Answer, port = 0) {
  const got: Got[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const id = String(req.headers['webhook-id'] ?? '');
      const a = answer(got.length + 1, id);
      if (a === 'hang') return;
      got.push({ id, status: a.status, atMs: Date.now(), model: JSON.parse(Buffer.concat(chunks).toString()).model });
      res.writeHead(a.status, a.headers).end(`answer ${a.status}`);
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    got,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function make(url: string, dbName: string, extra: Record<string, unknown> = {}, deps: Record<string, unknown> = {}): AlertsService {
  const config = alertsSchema.parse({
    outboxPath: join(tmp.dir, dbName),
    receivers: [
      { name: 'hook', kind: 'webhook', url: `${url}/hook`, secret: 'whsec_' + Buffer.from('delivery-secret-0123456789').toString('base64'), timeoutMs: 500 },
    ],
    retryInitialDelayMs: 20,
    retryMaxDelayMs: 200,
    ...extra,
  });
  const s = createAlertsService(config, { logger: memoryLogger().logger, pollIntervalMs: 50, ...deps });
  s.start();
  return s;
}

/** Delivered (2xx) answers per webhook-id: never more than one. */
function assertAtMostOnce(got: Got[]): Map<string, number> {
  const ok = new Map<string, number>();
  for (const g of got) if (g.status < 300) ok.set(g.id, (ok.get(g.id) ?? 0) + 1);
  for (const [id, n] of ok) assert.equal(n, 1, `${id} acknowledged ${n} times`);
  return ok;
}

describe('alert delivery', () => {
  test('helpers: Retry-After in seconds or HTTP date; full-jitter backoff bounded', () => {
    assert.equal(parseRetryAfter('1', 0), 1000);
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6_000);
    assert.equal(parseRetryAfter('soon', 0), null);
    assert.equal(parseRetryAfter(null, 0), null);
    assert.equal(
      backoffDelayMs(1, 100, 1000, () => 0.999),
      99,
    );
    assert.equal(
      backoffDelayMs(3, 100, 1000, () => 0.999),
      399,
    );
    assert.equal(
      backoffDelayMs(30, 100, 1000, () => 0.999),
      999,
    );
    assert.equal(
      backoffDelayMs(5, 100, 1000, () => 0),
      0,
    );
  });

  test('refused, then 500s, then 429 Retry-After: 1, then 200: each notification once, in order, same id', async () => {
    const port = await freePort();
    const registry = new Registry();
    const metrics = createAlertMetrics(registry);
    const s = make(`http://127.0.0.1:${port}`, 'faults.db', {}, { metrics });
    let rx: Awaited<ReturnType<typeof receiverServer>> | null = null;
    try {
      await s.handle([finding('m1')]);
      await s.handle([finding('m2')]);
      await s.handle([finding('m3')]);
      const queued = s.outbox.entries({ state: 'pending' }).map((e) => e.webhookId);
      assert.equal(queued.length, 3);
      await sleep(300); // connection refused meanwhile
      const refused = s.outbox.entries({ state: 'pending' })[0]!;
      assert.ok(refused.attempts >= 2, `retried while refused (${refused.attempts} attempts)`);
      assert.match(refused.lastError ?? '', /ECONNREFUSED/);

      rx = await receiverServer((i) => (i <= 3 ? { status: 500 } : i === 4 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }), port);
      await waitFor(() => s.outbox.entries({ state: 'delivered' }).length === 3, 8000);
      const got = rx.got;
      const ok = assertAtMostOnce(got);
      assert.deepEqual([...ok.keys()], queued, 'delivered in the order queued, each once');
      // the head notification carried one id through refusals, 500s and the 429
      assert.deepEqual(
        got.slice(0, 5).map((g) => [g.id, g.status]),
        [
          [queued[0], 500],
          [queued[0], 500],
          [queued[0], 500],
          [queued[0], 429],
          [queued[0], 200],
        ],
      );
      for (let i = 1; i < 5; i++) assert.ok(got[i]!.atMs >= got[i - 1]!.atMs, 'attempt times increase');
      assert.ok(got[4]!.atMs - got[3]!.atMs >= 950, `Retry-After honoured (${got[4]!.atMs - got[3]!.atMs} ms)`);
      const head = s.outbox.entries({ state: 'delivered' })[0]!;
      assert.equal(head.lastStatus, 200);
      assert.ok(head.attempts >= 6);

      const text = await registry.metrics();
      assert.match(text, /driftwatch_alerts_deliveries_total\{receiver="hook",outcome="delivered"\} 3/);
      assert.match(text, /driftwatch_alerts_deliveries_total\{receiver="hook",outcome="retry"\} \d+/);
      assert.match(text, /driftwatch_alerts_outbox_depth 0/);
      assert.match(text, /driftwatch_alerts_fired_total\{check="drift",severity="fail"\} 3/);
      assert.match(text, /driftwatch_alerts_delivery_seconds_count\{receiver="hook"\} \d+/);
    } finally {
      await s.stop();
      await rx?.close();
    }
  });

  test('a 400 is permanent: recorded, not retried; the next notification still goes', async () => {
    const rx = await receiverServer((i) => (i === 1 ? { status: 400 } : { status: 204 }));
    const s = make(rx.url, 'bad-request.db');
    try {
      await s.handle([finding('a')]);
      await waitFor(() => s.outbox.entries({ state: 'failed' }).length === 1);
      const failed = s.outbox.entries({ state: 'failed' })[0]!;
      assert.equal(failed.lastStatus, 400);
      assert.equal(failed.lastBody, 'answer 400');
      assert.equal(failed.attempts, 1);
      await s.handle([finding('b')]);
      await waitFor(() => rx.got.length === 2);
      await sleep(150);
      assert.equal(rx.got.length, 2, 'the 400 was not retried');
      assert.equal(s.list().undelivered.length, 1);
    } finally {
      await s.stop();
      await rx.close();
    }
  });

  test('410 disables the receiver until its config changes', async () => {
    const rx = await receiverServer((i) => (i === 1 ? { status: 410 } : { status: 200 }));
    const db = 'gone.db';
    const s1 = make(rx.url, db);
    try {
      await s1.handle([finding('a')]);
      await waitFor(() => s1.outbox.entries({ state: 'failed' }).length === 1);
      await s1.handle([finding('b')]);
      await sleep(200);
      assert.equal(rx.got.length, 1, 'no further sends');
      assert.deepEqual(s1.list().disabledReceivers, ['hook']);
    } finally {
      await s1.stop();
    }
    // same config after a restart: still disabled
    const s2 = make(rx.url, db);
    await sleep(200);
    assert.equal(rx.got.length, 1);
    await s2.stop();
    // changed config: enabled again, the pending notification goes out
    const s3 = make(rx.url, db, {}, {});
    await s3.stop();
    const s4 = make(rx.url, db, { receivers: [{ name: 'hook', kind: 'webhook', url: `${rx.url}/hook-v2`, timeoutMs: 500 }] });
    try {
      await waitFor(() => rx.got.length === 2);
      assert.equal(rx.got[1]!.model, 'b');
      assert.deepEqual(s4.list().disabledReceivers, []);
    } finally {
      await s4.stop();
      await rx.close();
    }
  });

  test('a restart resends what was pending, with the same webhook-id, exactly once', async () => {
    let up = false;
    const rx = await receiverServer(() => (up ? { status: 200 } : { status: 503 }));
    const db = 'restart.db';
    const s1 = make(rx.url, db, { retryInitialDelayMs: 50 });
    await s1.handle([finding('a'), finding('b')]);
    await s1.handle([finding('c')]);
    await waitFor(() => rx.got.length >= 2);
    const ids = s1.outbox.entries({ state: 'pending' }).map((e) => e.webhookId);
    assert.equal(ids.length, 3);
    await s1.stop();
    const before = rx.got.length;
    await sleep(100);
    assert.equal(rx.got.length, before, 'nothing sent after stop()');
    up = true;
    const s2 = make(rx.url, db);
    try {
      await waitFor(() => s2.outbox.entries({ state: 'delivered' }).length === 3);
      const ok = assertAtMostOnce(rx.got);
      assert.deepEqual([...ok.keys()], ids);
      assert.ok(rx.got.filter((g) => g.id === ids[0]).length >= 2, 'the head was tried before the restart with the same id');
      // the restarted router remembers the alerts fire: the same findings are not re-sent
      await s2.handle([finding('a'), finding('b'), finding('c')]);
      await sleep(100);
      assert.equal(s2.outbox.entries({}).length, 3);
    } finally {
      await s2.stop();
      await rx.close();
    }
  });

  test('a timeout is retried; the outbox bound drops the oldest and counts', async () => {
    let hang = true;
    const rx = await receiverServer(() => (hang ? 'hang' : { status: 200 }));
    const registry = new Registry();
    const s = make(
      rx.url,
      'bounded.db',
      { receivers: [{ name: 'hook', kind: 'webhook', url: `${rx.url}/hook`, timeoutMs: 150 }] },
      { metrics: createAlertMetrics(registry), maxPending: 2 },
    );
    try {
      await s.handle([finding('a')]);
      await s.handle([finding('b')]);
      await s.handle([finding('c')]);
      assert.equal(s.outbox.pendingCount(), 2);
      assert.match(await registry.metrics(), /driftwatch_alerts_dropped_total 1/);
      await waitFor(() => (s.outbox.entries({ state: 'pending' })[0]?.lastError ?? '') === 'timeout', 3000);
      hang = false;
      await waitFor(() => s.outbox.entries({ state: 'delivered' }).length === 2, 5000);
      assert.deepEqual(
        rx.got.map((g) => g.model),
        ['b', 'c'],
      );
    } finally {
      await s.stop();
      await rx.close();
    }
  });

  test('gives up after retryMaxAge', async () => {
    const rx = await receiverServer(() => ({ status: 502 }));
    const s = make(rx.url, 'max-age.db', { retryMaxAge: '300ms', retryInitialDelayMs: 50, retryMaxDelayMs: 100 });
    try {
      await s.handle([finding('a')]);
      await waitFor(() => s.outbox.entries({ state: 'failed' }).length === 1, 3000);
      const e = s.outbox.entries({ state: 'failed' })[0]!;
      assert.match(e.lastError ?? '', /retryMaxAge/);
      assert.equal(e.lastStatus, 502);
      assert.ok(e.attempts >= 2);
    } finally {
      await s.stop();
      await rx.close();
    }
  });

  test('a receiver removed from the config: its pending entries are orphaned at start-up, logged, counted, listed, never sent', async () => {
    const good = await receiverServer(() => ({ status: 200 }));
    const gone = await receiverServer(() => ({ status: 503 }));
    const db = 'orphans.db';
    const two = {
      receivers: [
        {
          name: 'hook',
          kind: 'webhook',
          url: `${good.url}/hook`,
          secret: 'whsec_' + Buffer.from('orphan-secret-0123456789').toString('base64'),
          timeoutMs: 500,
        },
        { name: 'old', kind: 'webhook', url: `${gone.url}/old`, secret: 'whsec_' + Buffer.from('orphan-secret-0123456789').toString('base64'), timeoutMs: 500 },
      ],
      retryInitialDelayMs: 1000,
    };
    const s1 = make(good.url, db, two);
    await s1.handle([finding('a'), finding('b')]);
    await waitFor(() => s1.outbox.entries({ state: 'delivered' }).length === 2 && gone.got.length >= 1);
    await s1.stop();
    const oldIds = new Set(gone.got.map((g) => g.id));
    const pendingOld = new AlertOutbox(join(tmp.dir, db));
    const stuck = pendingOld.entries({ state: 'pending' });
    pendingOld.close();
    assert.equal(stuck.length, 2);
    assert.ok(stuck.every((e) => e.receiver === 'old'));

    // restart without "old": orphaned at start-up, with a log line and the counter
    const registry = new Registry();
    const mem = memoryLogger();
    const s2 = make(good.url, db, {}, { metrics: createAlertMetrics(registry), logger: mem.logger });
    try {
      assert.equal(s2.outbox.pendingCount(), 0);
      const orphaned = s2.outbox.entries({ state: 'orphaned' });
      assert.deepEqual(
        orphaned.map((e) => e.webhookId),
        stuck.map((e) => e.webhookId),
      );
      assert.ok(orphaned.every((e) => /receiver old is no longer configured/.test(e.lastError ?? '') && e.doneMs !== null));
      assert.match(await registry.metrics(), /driftwatch_alerts_orphaned_total 2/);
      assert.match(await registry.metrics(), /driftwatch_alerts_outbox_depth 0/);
      const line = mem.lines.find((l) => l.includes('no longer configured'));
      assert.ok(line?.includes('"receiver":"old"') && line.includes('"count":2'), `log line: ${line}`);
      const list = s2.list();
      assert.deepEqual(
        list.undelivered.map((u) => [u.receiver, u.state]),
        [
          ['old', 'orphaned'],
          ['old', 'orphaned'],
        ],
      );
    } finally {
      await s2.stop();
    }
    // the receiver comes back in the config: the orphans are not resent (stale pages)
    const s3 = make(good.url, db, { ...two, receivers: two.receivers.map((r) => (r.name === 'old' ? { ...r, url: `${good.url}/old` } : r)) });
    try {
      await sleep(200);
      assert.ok(!good.got.some((g) => stuck.some((e) => e.webhookId === g.id)), 'orphans never sent');
      assert.equal(s3.outbox.entries({ state: 'orphaned' }).length, 2);
      assert.ok([...oldIds].every((id) => stuck.some((e) => e.webhookId === id)));
    } finally {
      await s3.stop();
      await good.close();
      await gone.close();
    }
  });

  test('flush(): delivers what is pending before returning; with a receiver that stays down, returns at the timeout and leaves it pending', async () => {
    let up = true;
    const rx = await receiverServer(() => (up ? { status: 200 } : { status: 503 }));
    const cfg = alertsSchema.parse({
      outboxPath: join(tmp.dir, 'flush.db'),
      receivers: [
        { name: 'hook', kind: 'webhook', url: `${rx.url}/hook`, secret: 'whsec_' + Buffer.from('flush-secret-0123456789').toString('base64'), timeoutMs: 500 },
      ],
      retryInitialDelayMs: 20,
      retryMaxDelayMs: 50,
    });
    // not started: handle() only enqueues, as in check --once
    const s = createAlertsService(cfg, { logger: memoryLogger().logger, pollIntervalMs: 50 });
    try {
      await s.handle([finding('a'), finding('b')]);
      assert.equal(rx.got.length, 0, 'nothing sent before flush');
      const r1 = await s.flush(10_000);
      assert.deepEqual({ ...r1 }, { queued: 2, delivered: 2, failed: 0, pending: 0, outboxPending: 0, timedOut: false, holder: null });
      assert.equal(assertAtMostOnce(rx.got).size, 2);
      up = false;
      await s.handle([finding('c')]);
      const r2 = await s.flush(300);
      assert.equal(r2.timedOut, true);
      assert.deepEqual([r2.queued, r2.delivered, r2.pending, r2.outboxPending], [1, 0, 1, 1]);
      assert.ok(rx.got.filter((g) => g.status === 503).length >= 1);
    } finally {
      await s.stop();
      await rx.close();
    }
  });
});
