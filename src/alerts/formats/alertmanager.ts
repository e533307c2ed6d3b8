/**
 * Alertmanager webhook payload version "4" (prometheus.io/docs/alerting/latest/configuration/
 * #webhook_config), so any existing Alertmanager webhook consumer works unchanged. Field names and
 * conventions as Alertmanager sends them: RFC3339 times, endsAt "0001-01-01T00:00:00Z" while
 * firing, a 16-hex fingerprint per alert, generatorURL the model's dashboard link, groupKey `{}:{model="..."}`, truncatedAlerts 0.
 * Pure: no I/O, time passed in.
 */
import type { ReceiverConfig } from '../../config/schema.js';
import {
  dashboardLink,
  fmtValue,
  iso,
  sha256Hex,
  thresholdText,
  type AlertItem,
  type LinkContext,
  type Notification,
  type RenderContext,
  type RenderedRequest,
} from '../notification.js';

/** Go's zero time.Time, which Alertmanager prints as endsAt for firing alerts. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

export const SEVERITY_LABEL = { fail: 'critical', warn: 'warning', error: 'error' } as const;

export function alertName(check: string): string {
  return 'Driftwatch' + check.charAt(0).toUpperCase() + check.slice(1);
}

/** Identity labels (no severity: an escalation must not turn into a different alert). */
export function identityLabels(a: AlertItem): Record<string, string> {
  const l: Record<string, string> = { alertname: alertName(a.check), model: a.subject.model, check: a.check, name: a.subject.name };
  if (a.subject.version !== null) l.version = a.subject.version;
  if (a.check === 'drift') l.feature = a.subject.name;
  if (a.subject.role) l.role = a.subject.role;
  return l;
}

/** Stable per alert: first 16 hex of sha256 over the sorted identity labels. */
export function fingerprint(labels: Record<string, string>): string {
  const text = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join('\u00ff');
  return sha256Hex(text).slice(0, 16);
}

/** An alert ended because its model moved to another analyzer says so (router.ts, handover.ts). */
export function handoverAnnotation(a: AlertItem): { handover?: string } {
  return a.handover ? { handover: `analyzer ${a.handover.from} handed this alert over to analyzer ${a.handover.to}` } : {};
}

function common(maps: ReadonlyArray<Record<string, string>>): Record<string, string> {
  if (maps.length === 0) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(maps[0]!)) if (maps.every((m) => m[k] === v)) out[k] = v;
  return out;
}

export function alertmanagerBody(n: Notification, links: LinkContext): Record<string, unknown> {
  const alerts = n.alerts.map((a) => {
    const id = identityLabels(a);
    const labels = { ...id, severity: SEVERITY_LABEL[a.severity] };
    const annotations = {
      summary: a.message,
      description: `${a.check} ${a.subject.name} on ${a.subject.model}${a.subject.version !== null ? ` v${a.subject.version}` : ''}: ${a.metric} ${fmtValue(a.value)} (threshold ${thresholdText(a)}) over ${a.window.label}, n=${a.sampleSize}`,
      ...handoverAnnotation(a),
    };
    return {
      status: a.status,
      labels,
      annotations,
      startsAt: iso(a.startsAtMs),
      endsAt: a.status === 'resolved' && a.endsAtMs !== undefined ? iso(a.endsAtMs) : ZERO_TIME,
      generatorURL: dashboardLink(links, a.subject.model),
      fingerprint: fingerprint(id),
    };
  });
  return {
    version: '4',
    groupKey: `{}:{model=${JSON.stringify(n.model)}}`,
    truncatedAlerts: 0,
    status: n.status,
    receiver: n.receiver,
    groupLabels: { model: n.model },
    commonLabels: common(alerts.map((a) => a.labels)),
    commonAnnotations: common(alerts.map((a) => a.annotations)),
    externalURL: links.externalUrl,
    alerts,
  };
}

export function renderAlertmanager(n: Notification, receiver: ReceiverConfig, ctx: RenderContext): RenderedRequest {
  if (!receiver.url) throw new Error(`receiver ${receiver.name} (alertmanager) has no url`);
  return { url: receiver.url, headers: { 'content-type': 'application/json' }, body: JSON.stringify(alertmanagerBody(n, ctx)) };
}
