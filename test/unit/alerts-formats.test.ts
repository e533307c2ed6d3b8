/**
 * The receiver formats field by field against their published schemas:
 * - Standard Webhooks (standardwebhooks.com): webhook-id / webhook-timestamp / webhook-signature
 *   "v1,<base64 HMAC-SHA256(base64decode(secret after whsec_), id.timestamp.body)>", verified here
 *   with an independent implementation;
 * - Alertmanager webhook_config payload version "4" (prometheus.io/docs/alerting/latest/configuration);
 * - Alertmanager's API v2 PostableAlerts (kind alertmanager-api; a real Alertmanager takes them in
 *   test/integration/alertmanager-api.test.ts);
 * - PagerDuty Events API v2 trigger / resolve (developer.pagerduty.com/docs/events-API-v2);
 * - Slack incoming webhooks ({text, blocks}).
 */
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { describe, test } from 'node:test';
import { alertsSchema, type ReceiverConfig } from '../../src/config/schema.js';
import { findingKey } from '../../src/findings/finding.js';
import { alertmanagerBody, fingerprint, identityLabels, ZERO_TIME } from '../../src/alerts/formats/alertmanager.js';
import { alertmanagerApiTarget, DEFAULT_RESEND_INTERVAL_MS, ENDS_AT_RESENDS, renderAlertmanagerApi } from '../../src/alerts/formats/alertmanager-api.js';
import { loadConfig } from '../../src/config/load.js';
import { dedupKey, PAGERDUTY_EVENTS_URL, renderPagerduty } from '../../src/alerts/formats/pagerduty.js';
import { renderSlack } from '../../src/alerts/formats/slack.js';
import { renderWebhook } from '../../src/alerts/formats/webhook.js';
import { alertKeyHash, type AlertItem, type Notification } from '../../src/alerts/notification.js';

const T0 = Date.parse('2026-07-01T12:00:00.000Z');
const EXTERNAL = 'http://dw.example:9097';
const SECRET = 'whsec_' + Buffer.from('0123456789abcdef0123456789abcdef').toString('base64');

function receiver(kind: ReceiverConfig['kind'], extra: Partial<ReceiverConfig> = {}): ReceiverConfig {
  return alertsSchema.parse({ receivers: [{ name: `r-${kind}`, kind, url: 'http://127.0.0.1:1/hook', ...extra }] }).receivers[0]!;
}

function item(name: string, status: 'firing' | 'resolved' = 'firing', severity: AlertItem['severity'] = 'fail'): AlertItem {
  const subject = { model: 'weather', version: '3', name, role: 'input' as const };
  return {
    key: alertKeyHash(findingKey({ check: 'drift', subject })),
    check: 'drift',
    subject,
    status,
    severity,
    metric: 'psi',
    value: 0.4123,
    threshold: { warn: 0.1, fail: 0.25, direction: 'above' },
    window: { fromMs: T0 - 3_600_000, toMs: T0, label: '1h' },
    sampleSize: 1204,
    message: `${name} PSI 0.41 >= 0.25 over the last 1h (n=1,204)`,
    startsAtMs: T0,
    ...(status === 'resolved' ? { endsAtMs: T0 + 600_000 } : {}),
  };
}

function notification(alerts: AlertItem[], status: 'firing' | 'resolved' = 'firing'): Notification {
  return { webhookId: 'msg_test123', receiver: 'r', model: 'weather', status, alerts, createdMs: T0 };
}

describe('generic webhook (Standard Webhooks)', () => {
  test('headers and signature verify with an independent implementation', () => {
    const n = notification([item('temp_max'), item('wind')]);
    const nowMs = T0 + 5_500;
    const req = renderWebhook(n, receiver('webhook', { secret: SECRET }), { externalUrl: EXTERNAL, nowMs });
    assert.equal(req.headers['webhook-id'], 'msg_test123');
    assert.equal(req.headers['webhook-timestamp'], String(Math.floor(nowMs / 1000)));
    assert.equal(req.headers['content-type'], 'application/json');
    // independent: key = base64-decode(secret without "whsec_"), content = id.timestamp.body
    const key = Buffer.from(SECRET.split('_')[1]!, 'base64');
    const expected = createHmac('sha256', key).update(`msg_test123.${req.headers['webhook-timestamp']}.${req.body}`).digest();
    const sigs = req.headers['webhook-signature']!.split(' ');
    assert.ok(sigs.some((s) => s.startsWith('v1,') && timingSafeEqual(Buffer.from(s.slice(3), 'base64'), expected)));
    // a different timestamp (next attempt) changes the signature, not the id or body
    const again = renderWebhook(n, receiver('webhook', { secret: SECRET }), { externalUrl: EXTERNAL, nowMs: nowMs + 10_000 });
    assert.equal(again.headers['webhook-id'], 'msg_test123');
    assert.equal(again.body, req.body);
    assert.notEqual(again.headers['webhook-signature'], req.headers['webhook-signature']);
  });

  test('body schema', () => {
    const body = JSON.parse(renderWebhook(notification([item('temp_max')]), receiver('webhook'), { externalUrl: EXTERNAL, nowMs: T0 }).body);
    assert.deepEqual(Object.keys(body).sort(), ['alerts', 'externalUrl', 'model', 'receiver', 'status', 'version']);
    assert.equal(body.version, '1');
    assert.equal(body.status, 'firing');
    assert.equal(body.model, 'weather');
    assert.equal(body.receiver, 'r');
    assert.equal(body.externalUrl, `${EXTERNAL}/ui`, 'the status page by default, not the JSON API');
    const a = body.alerts[0];
    assert.deepEqual(Object.keys(a).sort(), [
      'check',
      'key',
      'message',
      'metric',
      'sampleSize',
      'severity',
      'startsAt',
      'status',
      'subject',
      'threshold',
      'value',
      'window',
    ]);
    assert.match(a.key, /^[0-9a-f]{16}$/);
    assert.deepEqual(a.subject, { model: 'weather', version: '3', name: 'temp_max', role: 'input' });
    assert.equal(a.severity, 'fail');
    assert.equal(a.value, 0.4123);
    assert.deepEqual(a.threshold, { warn: 0.1, fail: 0.25, direction: 'above' });
    assert.deepEqual(a.window, { from: '2026-07-01T11:00:00.000Z', to: '2026-07-01T12:00:00.000Z', label: '1h' });
    assert.equal(a.sampleSize, 1204);
    assert.equal(a.startsAt, '2026-07-01T12:00:00.000Z');
    const resolved = JSON.parse(
      renderWebhook(notification([item('temp_max', 'resolved')], 'resolved'), receiver('webhook'), { externalUrl: EXTERNAL, nowMs: T0 }).body,
    );
    assert.equal(resolved.status, 'resolved');
    assert.equal(resolved.alerts[0].endsAt, '2026-07-01T12:10:00.000Z');
  });
});

describe('Alertmanager webhook payload v4', () => {
  test('top-level fields as Alertmanager sends them', () => {
    const body = alertmanagerBody(notification([item('temp_max'), item('wind', 'resolved')]), { externalUrl: EXTERNAL }) as Record<string, any>;
    assert.deepEqual(
      Object.keys(body).sort(),
      ['alerts', 'commonAnnotations', 'commonLabels', 'externalURL', 'groupKey', 'groupLabels', 'receiver', 'status', 'truncatedAlerts', 'version'].sort(),
    );
    assert.equal(body.version, '4');
    assert.equal(body.receiver, 'r');
    assert.equal(body.status, 'firing');
    assert.equal(body.truncatedAlerts, 0);
    assert.equal(body.externalURL, EXTERNAL);
    assert.deepEqual(body.groupLabels, { model: 'weather' });
    assert.equal(body.groupKey, '{}:{model="weather"}');
    // common labels: those equal in every alert
    assert.deepEqual(body.commonLabels, { alertname: 'DriftwatchDrift', model: 'weather', check: 'drift', version: '3', role: 'input', severity: 'critical' });
    assert.equal(typeof body.commonAnnotations, 'object');
  });

  test('each alert: status, labels, annotations, startsAt, endsAt, generatorURL, fingerprint', () => {
    const body = alertmanagerBody(notification([item('temp_max'), item('wind', 'resolved', 'warn')]), { externalUrl: EXTERNAL }) as Record<string, any>;
    const [a, b] = body.alerts;
    assert.deepEqual(Object.keys(a).sort(), ['annotations', 'endsAt', 'fingerprint', 'generatorURL', 'labels', 'startsAt', 'status']);
    assert.equal(a.status, 'firing');
    assert.deepEqual(a.labels, {
      alertname: 'DriftwatchDrift',
      model: 'weather',
      version: '3',
      check: 'drift',
      name: 'temp_max',
      feature: 'temp_max',
      role: 'input',
      severity: 'critical',
    });
    assert.equal(a.annotations.summary, item('temp_max').message);
    assert.match(a.annotations.description, /psi 0\.4123 \(threshold >= 0\.25\) over 1h, n=1204/);
    assert.equal(a.startsAt, '2026-07-01T12:00:00.000Z');
    assert.equal(a.endsAt, ZERO_TIME);
    assert.equal(a.generatorURL, `${EXTERNAL}/ui`);
    assert.match(a.fingerprint, /^[0-9a-f]{16}$/);
    assert.equal(b.status, 'resolved');
    assert.equal(b.labels.severity, 'warning');
    assert.equal(b.endsAt, '2026-07-01T12:10:00.000Z');
    // stable per alert and independent of severity (an escalation is the same alert)
    assert.equal(fingerprint(identityLabels(item('temp_max', 'firing', 'warn'))), a.fingerprint);
    assert.notEqual(a.fingerprint, b.fingerprint);
  });
});

describe('Alertmanager API (kind alertmanager-api): POST <url>/api/v2/alerts, PostableAlerts', () => {
  test('a JSON array of PostableAlert; firing: endsAt = attempt time + 4 resend intervals; resolved: endsAt = when it resolved', () => {
    const nowMs = T0 + 30_000;
    const req = renderAlertmanagerApi(
      notification([item('temp_max'), item('wind', 'resolved', 'warn')]),
      receiver('alertmanager-api', { url: 'http://am.example:9093' }),
      { externalUrl: EXTERNAL, nowMs },
    );
    assert.equal(req.url, 'http://am.example:9093/api/v2/alerts');
    assert.equal(req.headers.authorization, undefined);
    const body = JSON.parse(req.body);
    assert.ok(Array.isArray(body) && body.length === 2);
    const [firing, resolved] = body;
    assert.deepEqual(Object.keys(firing).sort(), ['annotations', 'endsAt', 'generatorURL', 'labels', 'startsAt']);
    assert.deepEqual(firing.labels, {
      alertname: 'DriftwatchDrift',
      model: 'weather',
      check: 'drift',
      name: 'temp_max',
      version: '3',
      feature: 'temp_max',
      role: 'input',
      severity: 'critical',
    });
    assert.equal(firing.annotations.summary, 'temp_max PSI 0.41 >= 0.25 over the last 1h (n=1,204)');
    assert.match(firing.annotations.description, /^drift temp_max on weather v3: psi 0\.4123 \(threshold >= 0\.25\) over 1h, n=1204$/);
    assert.equal(firing.annotations.dashboard, `${EXTERNAL}/ui`);
    assert.equal(firing.generatorURL, `${EXTERNAL}/ui`);
    assert.equal(firing.startsAt, '2026-07-01T12:00:00.000Z');
    assert.equal(firing.endsAt, new Date(nowMs + ENDS_AT_RESENDS * DEFAULT_RESEND_INTERVAL_MS).toISOString());
    assert.equal(resolved.labels.severity, 'warning');
    assert.equal(resolved.endsAt, '2026-07-01T12:10:00.000Z');
    const slow = JSON.parse(
      renderAlertmanagerApi(notification([item('temp_max')]), receiver('alertmanager-api', { resendIntervalMs: 300_000 }), { externalUrl: EXTERNAL, nowMs })
        .body,
    );
    assert.equal(slow[0].endsAt, new Date(nowMs + 4 * 300_000).toISOString());
  });

  test('url: a route prefix is kept, an url naming the endpoint is not doubled; basic auth from the url, bearerToken', () => {
    const at = (extra: Partial<ReceiverConfig>) => alertmanagerApiTarget(receiver('alertmanager-api', extra));
    assert.equal(at({ url: 'https://ops.example/alertmanager/' }).url, 'https://ops.example/alertmanager/api/v2/alerts');
    assert.equal(at({ url: 'https://ops.example/api/v2/alerts' }).url, 'https://ops.example/api/v2/alerts');
    const basic = at({ url: 'https://ops%40corp:p%3Ass@am.example:9093' });
    assert.equal(basic.url, 'https://am.example:9093/api/v2/alerts');
    assert.equal(basic.authorization, `Basic ${Buffer.from('ops@corp:p:ss').toString('base64')}`);
    assert.deepEqual(at({ url: 'https://am.example', bearerToken: 'tok-123' }), { url: 'https://am.example/api/v2/alerts', authorization: 'Bearer tok-123' });
  });

  test('config: kind alertmanager aimed at the API is refused at load time, saying what to change; API-only fields refused elsewhere', () => {
    const load = (r: Record<string, unknown>) => loadConfig({ env: {}, overrides: { alerts: { receivers: [{ name: 'am', ...r }] } } });
    assert.throws(
      () => load({ kind: 'alertmanager', url: 'http://alertmanager:9093/api/v2/alerts' }),
      (e: Error) => /alerts\.receivers\.0\.kind: kind alertmanager sends the webhook body .* use kind: alertmanager-api with its base url/.test(e.message),
    );
    // the webhook body to a webhook consumer keeps working: existing configs do not change meaning
    assert.equal(load({ kind: 'alertmanager', url: 'http://consumer:8080/hook' }).alerts.receivers[0]!.kind, 'alertmanager');
    assert.equal(
      load({ kind: 'alertmanager-api', url: 'http://alertmanager:9093', bearerToken: 'tok', resendIntervalMs: 30_000 }).alerts.receivers[0]!.resendIntervalMs,
      30_000,
    );
    assert.throws(
      () => load({ kind: 'slack', url: 'http://s/x', bearerToken: 'tok' }),
      /alerts\.receivers\.0\.bearerToken: bearerToken is for kind alertmanager-api only/,
    );
    assert.throws(() => load({ kind: 'alertmanager-api' }), /alerts\.receivers\.0\.url: a alertmanager-api receiver needs a url/);
  });
});

describe('PagerDuty Events API v2', () => {
  const pd = receiver('pagerduty', { url: undefined, routingKey: 'R0UTINGKEY0123456789012345678901' });

  test('trigger', () => {
    const req = renderPagerduty(notification([item('temp_max')]), pd, { externalUrl: EXTERNAL, nowMs: T0 });
    assert.equal(req.url, PAGERDUTY_EVENTS_URL);
    const e = JSON.parse(req.body);
    assert.equal(e.routing_key, 'R0UTINGKEY0123456789012345678901');
    assert.equal(e.event_action, 'trigger');
    assert.equal(e.dedup_key, dedupKey(item('temp_max').key));
    assert.ok(e.dedup_key.length <= 255);
    const p = e.payload;
    assert.ok(typeof p.summary === 'string' && p.summary.length > 0 && p.summary.length <= 1024);
    assert.equal(p.source, 'driftwatch/weather');
    assert.equal(p.severity, 'critical');
    assert.ok(['critical', 'error', 'warning', 'info'].includes(p.severity));
    assert.equal(p.timestamp, '2026-07-01T12:00:00.000Z');
    assert.equal(p.component, 'weather');
    assert.equal(p.group, 'drift');
    assert.equal(p.class, 'psi');
    assert.equal(p.custom_details.name, 'temp_max');
    assert.equal(p.custom_details.sample_size, 1204);
    assert.equal(e.client_url, `${EXTERNAL}/ui`);
    assert.deepEqual(e.links, [{ href: `${EXTERNAL}/ui`, text: 'driftwatch dashboard for weather' }]);
    assert.equal(
      JSON.parse(renderPagerduty(notification([item('x', 'firing', 'warn')]), pd, { externalUrl: EXTERNAL, nowMs: T0 }).body).payload.severity,
      'warning',
    );
    assert.equal(
      JSON.parse(renderPagerduty(notification([item('x', 'firing', 'error')]), pd, { externalUrl: EXTERNAL, nowMs: T0 }).body).payload.severity,
      'error',
    );
  });

  test('summary capped at 1024 characters', () => {
    const long = { ...item('temp_max'), message: 'x'.repeat(5000) };
    const e = JSON.parse(renderPagerduty(notification([long]), pd, { externalUrl: EXTERNAL, nowMs: T0 }).body);
    assert.ok(e.payload.summary.length <= 1024);
  });

  test('resolve carries only routing_key, event_action and dedup_key', () => {
    const e = JSON.parse(renderPagerduty(notification([item('temp_max', 'resolved')], 'resolved'), pd, { externalUrl: EXTERNAL, nowMs: T0 }).body);
    assert.deepEqual(e, { routing_key: 'R0UTINGKEY0123456789012345678901', event_action: 'resolve', dedup_key: dedupKey(item('temp_max').key) });
  });

  test('overridden url', () => {
    const req = renderPagerduty(notification([item('temp_max')]), { ...pd, url: 'http://127.0.0.1:9/pd' }, { externalUrl: EXTERNAL, nowMs: T0 });
    assert.equal(req.url, 'http://127.0.0.1:9/pd');
  });
});

describe('Slack incoming webhook', () => {
  test('text names model, feature, value, threshold, window, n and links the dashboard', () => {
    const req = renderSlack(notification([item('temp_max'), item('wind')]), receiver('slack'), { externalUrl: EXTERNAL, nowMs: T0 });
    const body = JSON.parse(req.body);
    assert.equal(typeof body.text, 'string');
    for (const want of ['weather', 'temp_max', 'wind', '0.4123', '>= 0.25', '1h', 'n=1204', `<${EXTERNAL}/ui|Dashboard for weather>`]) {
      assert.ok(body.text.includes(want), `text lacks ${want}: ${body.text}`);
    }
    assert.ok(Array.isArray(body.blocks) && body.blocks.length > 0);
    for (const b of body.blocks) assert.ok(['section', 'context'].includes(b.type));
    assert.ok(!req.body.includes('/api/'), 'no link to the JSON API');
  });

  test('resolved and escaped', () => {
    const a = { ...item('a<b>&c', 'resolved') };
    const body = JSON.parse(renderSlack(notification([a], 'resolved'), receiver('slack'), { externalUrl: EXTERNAL, nowMs: T0 }).body);
    assert.match(body.text, /resolved/);
    assert.ok(body.text.includes('a&lt;b&gt;&amp;c'));
  });
});

describe('alerts.dashboardUrl: the "link to the dashboard" (issue 5)', () => {
  const DASH = 'https://grafana.example/d/driftwatch-model?var-model={model}&from=now-24h';
  // a model name that needs encoding in a query value
  const odd = (): Notification => {
    const a = item('temp_max');
    return { ...notification([{ ...a, subject: { ...a.subject, model: 'fraud eu/v2&x' } }]), model: 'fraud eu/v2&x' };
  };
  const want = 'https://grafana.example/d/driftwatch-model?var-model=fraud%20eu%2Fv2%26x&from=now-24h';
  const ctx = { externalUrl: EXTERNAL, dashboardUrl: DASH, nowMs: T0 };

  test('every format links the template with the model URL-encoded', () => {
    assert.equal(JSON.parse(renderWebhook(odd(), receiver('webhook'), ctx).body).externalUrl, want);
    const am = alertmanagerBody(odd(), ctx) as Record<string, any>;
    assert.equal(am.alerts[0].generatorURL, want);
    assert.equal(am.externalURL, EXTERNAL, 'externalURL stays the driftwatch base');
    const pd = JSON.parse(renderPagerduty(odd(), receiver('pagerduty', { url: undefined, routingKey: 'R0UTINGKEY0123456789012345678901' }), ctx).body);
    assert.equal(pd.client_url, want);
    assert.equal(pd.links[0].href, want);
    const slack = JSON.parse(renderSlack(odd(), receiver('slack'), ctx).body);
    // Slack's <url|label>: the encoded URL carries no raw "&" "<" ">" "|" to escape
    assert.ok(slack.text.includes(`<${want}|Dashboard for fraud eu/v2&amp;x>`), slack.text);
    assert.ok(JSON.stringify(slack.blocks).includes(want));
  });

  test('config: optional, http(s) URL template; an externalUrl with a trailing slash gives one /ui', () => {
    assert.equal(alertsSchema.parse({}).dashboardUrl, undefined);
    assert.equal(alertsSchema.parse({ dashboardUrl: DASH }).dashboardUrl, DASH);
    assert.equal(alertsSchema.safeParse({ dashboardUrl: 'grafana/d/x?var-model={model}' }).success, false);
    assert.equal(alertsSchema.safeParse({ dashboardUrl: 'ftp://grafana.example/{model}' }).success, false);
    const body = JSON.parse(renderWebhook(notification([item('temp_max')]), receiver('webhook'), { externalUrl: EXTERNAL + '/', nowMs: T0 }).body);
    assert.equal(body.externalUrl, `${EXTERNAL}/ui`);
  });
});
