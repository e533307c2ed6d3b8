/**
 * `kind: alertmanager-api` against a REAL Alertmanager (Debian's prometheus-alertmanager, 0.25 on
 * the dev machines): on a free loopback port, temp storage, clustering off, basic auth on (its
 * --web.config.file), so the credentials in the receiver URL are exercised too. A firing finding
 * shows in GET /api/v2/alerts with driftwatch's labels and stays active past its first endsAt
 * (re-posted), an escalation replaces the warning alert by the critical one, a silence made
 * through Alertmanager's API suppresses it, resolving the finding takes it out of the active
 * alerts, and a re-fire within repeatInterval is posted at once. Secrets never reach the logs.
 *
 * Without the binary the test skips loudly, unless DRIFTWATCH_TEST_REQUIRE_ALERTMANAGER=1 (CI),
 * in which case it fails: CI must never pass by skipping.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createAlertsService, type AlertsService } from '../../src/alerts/alerts-service.js';
import { alertsSchema } from '../../src/config/schema.js';
import type { Finding, FindingStatus } from '../../src/findings/finding.js';
import { memoryLogger, tempDir } from '../helpers.js';
import { findBinary, freePort } from '../influx-server.js';
import { psiFinding } from '../fixtures/findings.js';

const BINARIES = ['prometheus-alertmanager', 'alertmanager'];
const binary = BINARIES.map(findBinary).find((b) => b !== null) ?? null;
const required = process.env.DRIFTWATCH_TEST_REQUIRE_ALERTMANAGER === '1';
if (!binary && !required) {
  console.log(
    `SKIPPED: alertmanager-api tests: no ${BINARIES.join(' or ')} on PATH (Debian: apt-get install prometheus-alertmanager; set DRIFTWATCH_TEST_REQUIRE_ALERTMANAGER=1 to make this a failure)`,
  );
}

// User "admin", password "test": bcrypt hash from Prometheus' basic-auth guide (no bcrypt here).
const USER = 'admin';
const PASSWORD = 'test';
const BCRYPT = '$2b$12$hNf2lSsxfm0.i4a.1kVpSOVyBCfIB51VRjgBUyv6kdnyTlgWj81Ay';
const AUTH = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;

interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  status: { state: string; silencedBy: string[] };
}

const tmp = tempDir('dw-am-api-');
let child: ChildProcess | null = null;
let base = '';
let amLog = '';

async function am(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(base + path, {
    ...init,
    headers: { authorization: AUTH, 'content-type': 'application/json', ...(init.headers ?? {}) },
    signal: AbortSignal.timeout(3000),
  });
}

async function alerts(): Promise<AmAlert[]> {
  const res = await am('/api/v2/alerts');
  assert.equal(res.status, 200);
  return (await res.json()) as AmAlert[];
}

async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}; alertmanager log:\n${amLog.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function finding(status: FindingStatus, name = 'temp_max'): Finding {
  return psiFinding({ model: 'weather', version: '3', name, status, message: `${name} PSI ${status} on weather` });
}

describe('alertmanager-api against a real Alertmanager', { skip: !binary && !required }, () => {
  before(async () => {
    if (!binary) throw new Error(`DRIFTWATCH_TEST_REQUIRE_ALERTMANAGER=1 but no ${BINARIES.join(' or ')} on PATH (Debian package prometheus-alertmanager)`);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    writeFileSync(join(tmp.dir, 'am.yml'), "route:\n  receiver: 'null'\n  group_wait: 1s\nreceivers:\n  - name: 'null'\n");
    writeFileSync(join(tmp.dir, 'web.yml'), `basic_auth_users:\n  ${USER}: ${BCRYPT}\n`);
    child = spawn(
      binary,
      [
        `--config.file=${join(tmp.dir, 'am.yml')}`,
        `--web.config.file=${join(tmp.dir, 'web.yml')}`,
        `--storage.path=${join(tmp.dir, 'data')}`,
        '--cluster.listen-address=',
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.on('data', (d) => (amLog += d));
    child.stderr?.on('data', (d) => (amLog += d));
    await waitFor('alertmanager /-/ready', async () => {
      if (child?.exitCode !== null) throw new Error(`alertmanager exited (${child?.exitCode}):\n${amLog}`);
      return (await am('/-/ready').catch(() => null))?.status === 200;
    });
  });

  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child?.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child?.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    tmp.cleanup();
  });

  test('fire, stay active past endsAt, escalate, silence through Alertmanager, resolve', async () => {
    const mem = memoryLogger('debug');
    const config = alertsSchema.parse({
      outboxPath: join(tmp.dir, 'alerts.db'),
      repeatInterval: '4h',
      receivers: [{ name: 'am', kind: 'alertmanager-api', url: `http://${USER}:${PASSWORD}@127.0.0.1:${base.split(':').pop()}/`, resendIntervalMs: 1000 }],
      dashboardUrl: 'https://grafana.example/d/dw?var-model={model}',
      retryInitialDelayMs: 20,
      retryMaxDelayMs: 200,
    });
    const svc: AlertsService = createAlertsService(config, { logger: mem.logger, pollIntervalMs: 50 });
    svc.start();
    try {
      // 1. warn fires: labels as documented
      await svc.handle([finding('warn')]);
      const warn = await waitFor('the warning alert', async () => (await alerts()).find((a) => a.labels.alertname === 'DriftwatchDrift'));
      assert.deepEqual(warn.labels, {
        alertname: 'DriftwatchDrift',
        model: 'weather',
        version: '3',
        check: 'drift',
        name: 'temp_max',
        feature: 'temp_max',
        role: 'input',
        severity: 'warning',
      });
      assert.equal(warn.annotations.summary, 'temp_max PSI warn on weather');
      assert.match(warn.annotations.description ?? '', /psi 0\.15 \(threshold >= 0\.1\) over 1h, n=1000/);
      assert.equal(warn.annotations.dashboard, 'https://grafana.example/d/dw?var-model=weather');
      assert.equal(warn.generatorURL, 'https://grafana.example/d/dw?var-model=weather');
      assert.equal(warn.status.state, 'active');

      // 2. no check run for longer than the first endsAt (4 x 1 s): the refresh keeps it active
      const firstEnds = Date.parse(warn.endsAt);
      await new Promise((r) => setTimeout(r, firstEnds - Date.now() + 1500));
      const still = (await alerts()).filter((a) => a.labels.alertname === 'DriftwatchDrift');
      assert.equal(still.length, 1, 'still exactly one alert after its first endsAt passed');
      assert.equal(still[0]?.status.state, 'active');
      assert.ok(Date.parse(still[0]!.endsAt) > firstEnds, 'endsAt moved forward (re-posted)');

      // 3. escalation: the critical alert replaces the warning one (severity is a label)
      await svc.handle([finding('fail')]);
      await waitFor('only the critical alert', async () => {
        const now = (await alerts()).filter((a) => a.labels.alertname === 'DriftwatchDrift');
        return now.length === 1 && now[0]?.labels.severity === 'critical';
      });

      // 4. a silence made in Alertmanager suppresses it (driftwatch keeps posting; AM decides)
      const res = await am('/api/v2/silences', {
        method: 'POST',
        body: JSON.stringify({
          matchers: [{ name: 'model', value: 'weather', isRegex: false, isEqual: true }],
          startsAt: new Date().toISOString(),
          endsAt: new Date(Date.now() + 3_600_000).toISOString(),
          createdBy: 'driftwatch-test',
          comment: 'maintenance',
        }),
      });
      assert.equal(res.status, 200, await res.clone().text());
      const { silenceID } = (await res.json()) as { silenceID: string };
      const suppressed = await waitFor('the suppressed alert', async () =>
        (await alerts()).find((a) => a.labels.alertname === 'DriftwatchDrift' && a.status.state === 'suppressed'),
      );
      assert.deepEqual(suppressed.status.silencedBy, [silenceID]);

      // 5. resolve: it leaves the active alerts at once (endsAt = the resolve time)
      await svc.handle([finding('ok')]);
      await waitFor('the alert to leave', async () => !(await alerts()).some((a) => a.labels.alertname === 'DriftwatchDrift'), 5000);
      // and stays gone: no refresh of a resolved alert
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((await alerts()).filter((a) => a.labels.alertname === 'DriftwatchDrift').length, 0);

      // 6. firing again well within repeatInterval (4h) is posted at once: Alertmanager, not the
      // router's repeat/flap rule, decides what to notify (the silence still covers it)
      await svc.handle([finding('fail')]);
      await waitFor(
        'the re-fired alert',
        async () => (await alerts()).find((a) => a.labels.alertname === 'DriftwatchDrift' && a.labels.severity === 'critical'),
        5000,
      );
      await svc.handle([finding('ok')]);
      await waitFor('the alert to leave again', async () => !(await alerts()).some((a) => a.labels.alertname === 'DriftwatchDrift'), 5000);

      const undelivered = svc.list().undelivered;
      assert.deepEqual(undelivered, [], 'every post delivered (2xx from Alertmanager)');
      const logs = mem.lines.join('\n');
      assert.ok(!logs.includes(`${USER}:${PASSWORD}`) && !logs.includes(AUTH.slice(6)), 'no credential in the logs');
    } finally {
      await svc.stop();
    }
  });

  test('the issue: the webhook body (kind alertmanager) gets 400 from the API; kind alertmanager-api gets 200 (driftwatch alerts test)', async () => {
    const port = base.split(':').pop();
    const config = alertsSchema.parse({
      outboxPath: join(tmp.dir, 'alerts-test.db'),
      receivers: [
        // what issue 19 saw: alertsSchema alone has no cross-field check; loadConfig refuses this url (unit test)
        { name: 'webhook-body', kind: 'alertmanager', url: `http://${USER}:${PASSWORD}@127.0.0.1:${port}/api/v2/alerts` },
        { name: 'api', kind: 'alertmanager-api', url: `http://${USER}:${PASSWORD}@127.0.0.1:${port}` },
      ],
    });
    const svc = createAlertsService(config, { logger: memoryLogger().logger });
    try {
      const wrong = await svc.testReceiver('webhook-body');
      assert.equal(wrong.status, 400);
      assert.match(wrong.body, /cannot unmarshal object into .*PostableAlerts/);
      const right = await svc.testReceiver('api');
      assert.equal(right.status, 200, right.body);
      const shown = await waitFor('the test alert', async () => (await alerts()).find((a) => a.labels.model === 'driftwatch-test'));
      assert.match(shown.annotations.summary ?? '', /^\[TEST\] /);
    } finally {
      await svc.stop();
    }
  });
});
