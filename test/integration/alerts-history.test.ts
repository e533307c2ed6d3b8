/**
 * The history of fired and resolved alerts (issue 19 item 8): episodes written by the router in
 * its transactions, each receiver's delivery state read from the outbox, kept across a restart,
 * bounded, and served read-only at GET /api/alerts/history on the admin port under the same rules
 * as the other /api GETs (bearer token when configured; loopback Host names only). Real local
 * receivers on port 0, a real admin server, the outbox's real SQLite file; the decision clock is
 * injected so the transition times are exact.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { createAdminServer } from '../../src/admin/admin-server.js';
import { MAX_RESOLVED_EPISODES } from '../../src/alerts/alert-history.js';
import { createAlertsService, type AlertsService } from '../../src/alerts/alerts-service.js';
import { alertKeyHash } from '../../src/alerts/notification.js';
import { AlertOutbox } from '../../src/alerts/outbox.js';
import { adminSchema, alertsSchema } from '../../src/config/schema.js';
import { type Finding, type FindingStatus, findingKey } from '../../src/findings/finding.js';
import { memoryLogger, tempDir } from '../helpers.js';
import { psiFinding } from '../fixtures/findings.js';

const tmp = tempDir('dw-alerts-history-');
after(() => tmp.cleanup());

function finding(name: string, status: FindingStatus, at: number, model = 'weather'): Finding {
  return psiFinding({ model, version: '3', name, status, at, message: `${name} PSI ${status}` });
}

/** A receiver answering `status` to every POST, counting them. */
async function receiver(status: number) {
  let posts = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      posts += 1;
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    posts: () => posts,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const T0 = Date.parse('2026-07-01T00:00:00Z');
const MIN = 60_000;

describe('alert history', () => {
  test('fired -> escalated -> resolved -> fired again, with each receiver delivery state; kept across a restart', async () => {
    const ok = await receiver(200);
    const refusing = await receiver(400);
    const outboxPath = join(tmp.dir, 'history.db');
    const config = alertsSchema.parse({
      outboxPath,
      repeatInterval: '1h',
      receivers: [
        { name: 'am', kind: 'alertmanager', url: ok.url },
        { name: 'refusing', kind: 'alertmanager', url: refusing.url },
      ],
      retryInitialDelayMs: 20,
    });
    const clock = { t: T0 };
    const open = () => createAlertsService(config, { logger: memoryLogger().logger, now: () => clock.t, pollIntervalMs: 20 });
    let alerts: AlertsService = open();
    try {
      await alerts.handle([finding('temp_max', 'warn', clock.t), finding('wind', 'fail', clock.t)]);
      clock.t += MIN;
      await alerts.handle([finding('temp_max', 'fail', clock.t), finding('wind', 'fail', clock.t)]);
      clock.t += MIN;
      await alerts.handle([finding('temp_max', 'ok', clock.t), finding('wind', 'fail', clock.t)]);
      const flushed = await alerts.flush(10_000);
      assert.equal(flushed.pending, 0, JSON.stringify(flushed));

      const h = alerts.history(10);
      assert.equal(h.length, 2);
      // Newest transition first: temp_max resolved at T0+2min, wind fired at T0.
      const [tm, wind] = h;
      assert.equal(tm!.name, 'temp_max');
      assert.equal(tm!.key, alertKeyHash(findingKey(finding('temp_max', 'ok', 0))), 'the key receivers see');
      assert.deepEqual(
        {
          state: tm!.state,
          severity: tm!.severity,
          model: tm!.model,
          version: tm!.version,
          check: tm!.check,
          fired: tm!.firedAtMs,
          resolved: tm!.resolvedAtMs,
        },
        { state: 'resolved', severity: 'fail', model: 'weather', version: '3', check: 'drift', fired: T0, resolved: T0 + 2 * MIN },
      );
      assert.deepEqual(tm!.transitions, [
        { state: 'firing', severity: 'warn', atMs: T0 },
        { state: 'firing', severity: 'fail', atMs: T0 + MIN },
        { state: 'resolved', severity: 'fail', atMs: T0 + 2 * MIN },
      ]);
      assert.equal(tm!.message, 'temp_max PSI fail', 'the firing finding, not the ok one');
      const byName = Object.fromEntries(tm!.receivers.map((r) => [r.name, r]));
      assert.deepEqual(Object.keys(byName), ['am', 'refusing']);
      assert.equal(byName.am!.firing!.state, 'delivered');
      assert.equal(byName.am!.firing!.lastStatus, 200);
      assert.equal(byName.am!.resolved!.state, 'delivered');
      // 400 is permanent: failed at once, with the receiver's status.
      assert.equal(byName.refusing!.firing!.state, 'failed');
      assert.equal(byName.refusing!.firing!.lastStatus, 400);
      assert.equal(byName.refusing!.resolved!.state, 'failed');
      assert.deepEqual([wind!.name, wind!.state, wind!.resolvedAtMs, wind!.transitions.length], ['wind', 'firing', null, 1]);
      assert.equal(wind!.receivers.find((r) => r.name === 'am')!.resolved, null);

      // A restart (a new process on the same file) keeps the history and adds to it.
      await alerts.stop();
      const before = JSON.stringify(h);
      alerts = open();
      assert.equal(JSON.stringify(alerts.history(10)), before);
      clock.t += 5 * MIN;
      await alerts.handle([finding('temp_max', 'warn', clock.t), finding('wind', 'fail', clock.t)]);
      await alerts.flush(10_000);
      const again = alerts.history(10);
      assert.deepEqual(
        again.map((a) => [a.name, a.state, a.firedAtMs]),
        [
          ['temp_max', 'firing', T0 + 7 * MIN],
          ['temp_max', 'resolved', T0],
          ['wind', 'firing', T0],
        ],
        'a second episode of the same alert, the first one kept',
      );
      assert.equal(alerts.history(1).length, 1, 'limit');
    } finally {
      await alerts.stop();
      await ok.close();
      await refusing.close();
    }
  });

  test(`bounded: the ${MAX_RESOLVED_EPISODES} most recently resolved episodes and every firing one`, async () => {
    const outboxPath = join(tmp.dir, 'bound.db');
    // No receivers: the router still tracks (and records) every alert.
    const alerts = createAlertsService(alertsSchema.parse({ outboxPath }), { logger: memoryLogger().logger, now: () => clock.t });
    const clock = { t: T0 };
    const names = Array.from({ length: MAX_RESOLVED_EPISODES + 40 }, (_, i) => `f${i}`);
    try {
      await alerts.handle(names.map((n) => finding(n, 'fail', clock.t)));
      // Resolved one run at a time in two halves, so "most recent" is decided by resolve time.
      const half = Math.floor(names.length / 2);
      clock.t += MIN;
      await alerts.handle(names.slice(0, half).map((n) => finding(n, 'ok', clock.t)));
      clock.t += MIN;
      await alerts.handle(names.slice(half).map((n) => finding(n, 'ok', clock.t)));
      clock.t += MIN;
      await alerts.handle([finding('still-firing', 'fail', clock.t)]);
      const all = alerts.history(MAX_RESOLVED_EPISODES + 100);
      assert.equal(all.length, MAX_RESOLVED_EPISODES + 1, 'the bound of resolved episodes plus the firing one');
      assert.equal(all.filter((a) => a.state === 'resolved').length, MAX_RESOLVED_EPISODES);
      assert.equal(all[0]!.name, 'still-firing');
      // The 40 dropped are among the first half (resolved earliest); the whole second half is kept.
      const kept = new Set(all.map((a) => a.name));
      assert.ok(
        names.slice(half).every((n) => kept.has(n)),
        'every episode resolved last is kept',
      );
      assert.equal(names.slice(0, half).filter((n) => !kept.has(n)).length, 40);
    } finally {
      await alerts.stop();
    }
  });

  test('an outbox written before the history existed (schema 2) is seeded from the alert state', async () => {
    const outboxPath = join(tmp.dir, 'seed.db');
    const clock = { t: T0 };
    const first = createAlertsService(alertsSchema.parse({ outboxPath }), { logger: memoryLogger().logger, now: () => clock.t });
    await first.handle([finding('a', 'fail', clock.t), finding('b', 'warn', clock.t)]);
    clock.t += MIN;
    await first.handle([finding('a', 'ok', clock.t)]);
    await first.stop();
    // Back to what an older driftwatch left: no history table, schema version 2.
    const db = new Database(outboxPath);
    db.exec('DROP TABLE alert_history');
    db.pragma('user_version = 2');
    db.close();

    const outbox = new AlertOutbox(outboxPath);
    try {
      const h = outbox.history.list(10);
      assert.deepEqual(
        h.map((a) => [a.name, a.state, a.severity, a.firedAtMs, a.resolvedAtMs, a.version, a.role, a.transitions.map((t) => t.state).join('>')]),
        [
          ['a', 'resolved', 'fail', T0, T0 + MIN, '3', 'input', 'firing>resolved'],
          ['b', 'firing', 'warn', T0, null, '3', 'input', 'firing'],
        ],
      );
    } finally {
      outbox.close();
    }
  });
});

describe('GET /api/alerts/history on the admin port', () => {
  const TOKEN = 'alerts-history-token-0123456789';

  async function adminWith(token: string | undefined, withAlerts: boolean) {
    const outboxPath = join(tmp.dir, `admin-${token ? 'token' : 'open'}-${withAlerts}.db`);
    const clock = { t: T0 };
    const alerts = createAlertsService(alertsSchema.parse({ outboxPath }), { logger: memoryLogger().logger, now: () => clock.t });
    await alerts.handle([finding('temp_max', 'fail', clock.t), finding('wind', 'warn', clock.t)]);
    clock.t += MIN;
    await alerts.handle([finding('wind', 'ok', clock.t)]);
    const admin = createAdminServer({
      config: adminSchema.parse({ port: 0, ...(token ? { token } : {}) }),
      logger: memoryLogger().logger,
      metrics: async () => ({ contentType: 'text/plain', body: '' }),
      models: () => [],
      reload: async () => [],
      ready: () => true,
      ...(withAlerts ? { alertHistory: (limit: number) => alerts.history(limit) } : {}),
    });
    const addr = await admin.listen();
    return {
      url: `http://127.0.0.1:${addr.port}`,
      close: async () => {
        await admin.close();
        await alerts.stop();
      },
    };
  }

  test('JSON, newest first, limit validated; 404 where no alerts run', async () => {
    const a = await adminWith(undefined, true);
    const none = await adminWith(undefined, false);
    try {
      const r = await fetch(`${a.url}/api/alerts/history`);
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
      const body = (await r.json()) as any;
      assert.equal(body.maxResolvedKept, MAX_RESOLVED_EPISODES);
      assert.deepEqual(
        body.alerts.map((x: any) => [x.name, x.state, x.severity, x.firedAtMs, x.resolvedAtMs]),
        [
          ['wind', 'resolved', 'warn', T0, T0 + MIN],
          ['temp_max', 'firing', 'fail', T0, null],
        ],
      );
      assert.equal(((await (await fetch(`${a.url}/api/alerts/history?limit=1`)).json()) as any).alerts.length, 1);
      for (const bad of ['0', '-1', 'abc', '1.5', String(MAX_RESOLVED_EPISODES + 1), '99999999']) {
        const b = await fetch(`${a.url}/api/alerts/history?limit=${bad}`);
        assert.equal(b.status, 400, bad);
        assert.match(((await b.json()) as any).message, /limit/);
      }
      const missing = await fetch(`${none.url}/api/alerts/history`);
      assert.equal(missing.status, 404);
      assert.equal(((await missing.json()) as any).error_code, 'ENDPOINT_NOT_FOUND');
    } finally {
      await a.close();
      await none.close();
    }
  });

  test('the admin rules of the other /api GETs: a foreign Host refused on loopback; the token when one is set', async () => {
    const open = await adminWith(undefined, true);
    const locked = await adminWith(TOKEN, true);
    try {
      // DNS rebinding: a page on another name that resolves to 127.0.0.1 sends its own Host.
      const rebound = await new Promise<number>((resolve, reject) => {
        const u = new URL(`${open.url}/api/alerts/history`);
        http
          .get({ host: u.hostname, port: u.port, path: u.pathname, headers: { host: 'evil.example' } }, (res) => {
            res.resume();
            resolve(res.statusCode!);
          })
          .on('error', reject);
      });
      assert.equal(rebound, 403);
      assert.equal((await fetch(`${locked.url}/api/alerts/history`)).status, 401);
      assert.equal((await fetch(`${locked.url}/api/alerts/history`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status, 401);
      const r = await fetch(`${locked.url}/api/alerts/history`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(r.status, 200);
      assert.equal(((await r.json()) as any).alerts.length, 2);
    } finally {
      await open.close();
      await locked.close();
    }
  });
});
