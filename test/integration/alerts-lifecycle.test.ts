/**
 * The alert lifecycle end to end against a real local webhook receiver on port 0, with the
 * decision clock injected: fire -> repeat suppressed within repeatInterval -> repeated after it
 * -> resolved; grouping (5 failing features of a model = 1 notification with 5 alerts); severity
 * escalation; silences; flapping without a storm; routes; insufficient data; a signature checked
 * with an independent HMAC; secrets never in the logs.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createAlertsService, type AlertsService } from '../../src/alerts/alerts-service.js';
import type { Finding, FindingStatus } from '../../src/findings/finding.js';
import { alertsSchema } from '../../src/config/schema.js';
import { memoryLogger, tempDir } from '../helpers.js';
import { psiFinding } from '../fixtures/findings.js';

const tmp = tempDir('dw-alerts-life-');
after(() => tmp.cleanup());
const SECRET = 'whsec_' + Buffer.from('lifecycle-secret-bytes-0123456789').toString('base64');

interface Got {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: any;
  atMs: number;
}

async function receiverServer(answer: (n: number) => number = () => 200) {
  const got: Got[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      got.push({ method: req.method!, path: req.url!, headers: req.headers, body, json: JSON.parse(body), atMs: Date.now() });
      res.writeHead(answer(got.length)).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, got, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}
const settle = () => new Promise((r) => setTimeout(r, 80));

function finding(model: string, name: string, status: FindingStatus, at: number, extra: Partial<Finding> = {}): Finding {
  return { ...psiFinding({ model, version: '1', name, status, at, message: `${name} PSI on ${model}` }), ...extra };
}

let n = 0;
function service(url: string, clock: { t: number }, extra: Record<string, unknown> = {}, logger = memoryLogger().logger): AlertsService {
  const config = alertsSchema.parse({
    outboxPath: join(tmp.dir, `life-${++n}.db`),
    repeatInterval: '1h',
    receivers: [{ name: 'hook', kind: 'webhook', url: `${url}/hook`, secret: SECRET }],
    retryInitialDelayMs: 20,
    retryMaxDelayMs: 100,
    ...extra,
  });
  const s = createAlertsService(config, { logger, now: () => clock.t, pollIntervalMs: 50 });
  s.start();
  return s;
}

const H = 3_600_000;
const FEATURES = ['f1', 'f2', 'f3', 'f4', 'f5'];

describe('alert lifecycle', () => {
  test('fire, repeat suppressed, repeat after repeatInterval, resolve; grouped per model; signed', async () => {
    const rx = await receiverServer();
    const clock = { t: Date.parse('2026-07-01T00:00:00Z') };
    const s = service(rx.url, clock);
    try {
      await s.handle(FEATURES.map((f) => finding('weather', f, 'fail', clock.t)));
      await waitFor(() => rx.got.length === 1);
      const first = rx.got[0]!;
      assert.equal(first.method, 'POST');
      assert.equal(first.path, '/hook');
      assert.equal(first.json.status, 'firing');
      assert.equal(first.json.model, 'weather');
      assert.equal(first.json.alerts.length, 5, 'one notification for the model, five alerts');
      assert.deepEqual(
        first.json.alerts.map((a: any) => a.subject.name),
        FEATURES,
      );
      // independent signature check
      const key = Buffer.from(SECRET.slice(6), 'base64');
      const sig = createHmac('sha256', key).update(`${first.headers['webhook-id']}.${first.headers['webhook-timestamp']}.${first.body}`).digest('base64');
      assert.equal(first.headers['webhook-signature'], `v1,${sig}`);
      assert.match(String(first.headers['webhook-id']), /^msg_/);

      clock.t += 60_000; // within repeatInterval: nothing
      await s.handle(FEATURES.map((f) => finding('weather', f, 'fail', clock.t)));
      await settle();
      assert.equal(rx.got.length, 1);

      clock.t += H; // past repeatInterval: repeated, with a new id
      await s.handle(FEATURES.map((f) => finding('weather', f, 'fail', clock.t)));
      await waitFor(() => rx.got.length === 2);
      assert.equal(rx.got[1]!.json.alerts.length, 5);
      assert.notEqual(rx.got[1]!.headers['webhook-id'], first.headers['webhook-id']);
      assert.equal(rx.got[1]!.json.alerts[0].startsAt, first.json.alerts[0].startsAt, 'startsAt is the episode start');

      clock.t += 60_000; // f1 back to ok: resolved, only f1
      await s.handle([finding('weather', 'f1', 'ok', clock.t), ...FEATURES.slice(1).map((f) => finding('weather', f, 'fail', clock.t))]);
      await waitFor(() => rx.got.length === 3);
      assert.equal(rx.got[2]!.json.status, 'resolved');
      assert.deepEqual(
        rx.got[2]!.json.alerts.map((a: any) => [a.subject.name, a.status]),
        [['f1', 'resolved']],
      );
      assert.ok(rx.got[2]!.json.alerts[0].endsAt);

      const list = s.list();
      assert.equal(list.firing.length, 4);
      assert.equal(list.resolved.length, 1);
      assert.equal(list.undelivered.length, 0);
    } finally {
      await s.stop();
      await rx.close();
    }
  });

  test('escalation warn -> fail is sent at once; de-escalation waits for the repeat', async () => {
    const rx = await receiverServer();
    const clock = { t: Date.parse('2026-07-01T00:00:00Z') };
    const s = service(rx.url, clock);
    try {
      await s.handle([finding('m', 'x', 'warn', clock.t)]);
      await waitFor(() => rx.got.length === 1);
      assert.equal(rx.got[0]!.json.alerts[0].severity, 'warn');
      clock.t += 60_000;
      await s.handle([finding('m', 'x', 'fail', clock.t)]);
      await waitFor(() => rx.got.length === 2);
      assert.equal(rx.got[1]!.json.alerts[0].severity, 'fail');
      clock.t += 60_000;
      await s.handle([finding('m', 'x', 'warn', clock.t)]);
      await settle();
      assert.equal(rx.got.length, 2);
    } finally {
      await s.stop();
      await rx.close();
    }
  });

  test('silences: not sent while silenced, sent at the first evaluation after expiry', async () => {
    const rx = await receiverServer();
    const clock = { t: Date.parse('2026-07-01T00:00:00Z') };
    const s = service(rx.url, clock);
    try {
      const id = s.silence({ matchers: { model: 'quiet', check: '*' }, until: '30m', comment: 'maintenance' });
      assert.match(id, /^sil_/);
      assert.throws(() => s.silence({ matchers: { model: '*' }, until: '1h' }), /at least one matcher/);
      await s.handle([finding('quiet', 'a', 'fail', clock.t), finding('loud', 'a', 'fail', clock.t)]);
      await waitFor(() => rx.got.length === 1);
      await settle();
      assert.equal(rx.got.length, 1);
      assert.equal(rx.got[0]!.json.model, 'loud');
      assert.equal(s.list().firing.length, 2, 'silenced alerts are tracked');
      assert.equal(s.list().silences.length, 1);

      clock.t += 10 * 60_000; // still silenced
      await s.handle([finding('quiet', 'a', 'fail', clock.t)]);
      await settle();
      assert.equal(rx.got.length, 1);

      clock.t += 25 * 60_000; // silence over: sent now
      await s.handle([finding('quiet', 'a', 'fail', clock.t)]);
      await waitFor(() => rx.got.length === 2);
      assert.equal(rx.got[1]!.json.model, 'quiet');
      assert.equal(s.list().silences.length, 0);
    } finally {
      await s.stop();
      await rx.close();
    }
  });

  test('a flapping finding does not storm: one firing and one resolved per repeatInterval', async () => {
    const rx = await receiverServer();
    const clock = { t: Date.parse('2026-07-01T00:00:00Z') };
    const s = service(rx.url, clock);
    try {
      for (let i = 0; i < 10; i++) {
        await s.handle([finding('m', 'flap', i % 2 === 0 ? 'fail' : 'ok', clock.t)]);
        clock.t += 5 * 60_000;
      }
      await waitFor(() => rx.got.length >= 2);
      await settle();
      assert.deepEqual(
        rx.got.map((g) => g.json.status),
        ['firing', 'resolved'],
      );
      // after repeatInterval a re-fire is told again
      clock.t += H;
      await s.handle([finding('m', 'flap', 'fail', clock.t)]);
      await waitFor(() => rx.got.length === 3);
      assert.equal(rx.got[2]!.json.status, 'firing');
    } finally {
      await s.stop();
      await rx.close();
    }
  });

  test('insufficient data neither fires nor resolves; routes by severity and model; error needs a route', async () => {
    const a = await receiverServer();
    const b = await receiverServer();
    const clock = { t: Date.parse('2026-07-01T00:00:00Z') };
    const s = service(a.url, clock, {
      receivers: [
        { name: 'all', kind: 'webhook', url: `${a.url}/all` },
        { name: 'pager', kind: 'webhook', url: `${b.url}/pager` },
      ],
      routes: [
        { receiver: 'all', severities: ['warn', 'fail'] },
        { receiver: 'pager', severities: ['fail', 'error'], models: ['critical-model'] },
      ],
    });
    try {
      await s.handle([
        finding('critical-model', 'x', 'fail', clock.t),
        finding('other', 'x', 'fail', clock.t),
        finding('critical-model', 'y', 'error', clock.t),
      ]);
      await waitFor(() => a.got.length === 2 && b.got.length === 1);
      assert.deepEqual(
        b.got[0]!.json.alerts.map((x: any) => [x.subject.name, x.severity]),
        [
          ['x', 'fail'],
          ['y', 'error'],
        ],
      );
      clock.t += 60_000;
      await s.handle([finding('critical-model', 'x', 'ok', clock.t, { insufficientData: true })]);
      await settle();
      assert.equal(a.got.length + b.got.length, 3, 'insufficient data does not resolve');
      clock.t += 60_000;
      await s.handle([finding('critical-model', 'x', 'ok', clock.t)]);
      await waitFor(() => a.got.length === 3 && b.got.length === 2, 2000);
      assert.equal(b.got[1]!.json.status, 'resolved');
      await s.handle([finding('new', 'z', 'ok', clock.t, { insufficientData: true })]);
      assert.equal(s.list().firing.length, 2);
    } finally {
      await s.stop();
      await a.close();
      await b.close();
    }
  });

  test('no routes: warn and fail to every receiver, error to none; secrets never logged', async () => {
    const rx = await receiverServer();
    const clock = { t: Date.parse('2026-07-01T00:00:00Z') };
    const mem = memoryLogger('debug');
    const s = service(rx.url, clock, {}, mem.logger);
    try {
      await s.handle([finding('m', 'e', 'error', clock.t)]);
      await settle();
      assert.equal(rx.got.length, 0);
      await s.handle([finding('m', 'w', 'warn', clock.t)]);
      await waitFor(() => rx.got.length === 1);
      const t = await s.testReceiver('hook');
      assert.deepEqual([t.status, t.ok], [200, true]);
      assert.equal(rx.got[1]!.json.test, true);
      await assert.rejects(s.testReceiver('nope'), /no alert receiver named nope/);
    } finally {
      await s.stop();
      await rx.close();
    }
    const logs = mem.lines.join('\n');
    assert.ok(!logs.includes(SECRET) && !logs.includes(SECRET.slice(6)), 'the secret is never logged');
    assert.ok(!logs.includes('/hook'), 'receiver URLs are never logged');
  });

  test('handle() never throws into the check runner', async () => {
    const rx = await receiverServer();
    const clock = { t: Date.now() };
    const mem = memoryLogger();
    const s = service(rx.url, clock, {}, mem.logger);
    await s.handle([{ bogus: true } as unknown as Finding]);
    assert.ok(mem.lines.some((l) => l.includes('alert router failed')));
    await s.stop();
    await s.handle([finding('m', 'x', 'fail', clock.t)]); // after stop: a no-op, not a throw
    await rx.close();
  });

  test('pagerduty gets one event per alert (trigger, then resolve with the same dedup_key); alertmanager and slack one per model', async () => {
    const rx = await receiverServer();
    const clock = { t: Date.parse('2026-07-01T00:00:00Z') };
    const s = service(rx.url, clock, {
      receivers: [
        { name: 'pd', kind: 'pagerduty', url: `${rx.url}/pd`, routingKey: 'routing-key-0123456789abcdef' },
        { name: 'am', kind: 'alertmanager', url: `${rx.url}/am` },
        { name: 'sl', kind: 'slack', url: `${rx.url}/slack/T000/B000/XXXX` },
      ],
    });
    try {
      await s.handle(['a', 'b', 'c'].map((f) => finding('weather', f, 'fail', clock.t)));
      await waitFor(() => rx.got.length === 5);
      const pd = rx.got.filter((g) => g.path === '/pd');
      assert.equal(pd.length, 3);
      assert.ok(pd.every((g) => g.json.event_action === 'trigger'));
      assert.equal(new Set(pd.map((g) => g.json.dedup_key)).size, 3);
      const am = rx.got.find((g) => g.path === '/am')!;
      assert.equal(am.json.version, '4');
      assert.equal(am.json.alerts.length, 3);
      const sl = rx.got.find((g) => g.path.startsWith('/slack'))!;
      assert.ok(sl.json.text.includes('weather') && sl.json.text.includes('a'));
      clock.t += 60_000;
      await s.handle([finding('weather', 'a', 'ok', clock.t)]);
      await waitFor(() => rx.got.length === 8);
      const resolve = rx.got.slice(5).find((g) => g.path === '/pd')!;
      assert.deepEqual(Object.keys(resolve.json).sort(), ['dedup_key', 'event_action', 'routing_key']);
      assert.equal(resolve.json.event_action, 'resolve');
      assert.equal(resolve.json.dedup_key, pd.find((g) => g.json.payload.custom_details.name === 'a')!.json.dedup_key);
      const amResolved = rx.got.slice(5).find((g) => g.path === '/am')!;
      assert.equal(amResolved.json.status, 'resolved');
      assert.equal(amResolved.json.alerts[0].fingerprint, am.json.alerts[0].fingerprint);
    } finally {
      await s.stop();
      await rx.close();
    }
  });
});
