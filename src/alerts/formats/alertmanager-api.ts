/**
 * Alertmanager's own API (`POST <url>/api/v2/alerts`, a JSON array of PostableAlert: labels,
 * annotations, startsAt, endsAt, generatorURL), for `kind: alertmanager-api`. Not the webhook
 * body (`kind: alertmanager`): Alertmanager answers that one with 400 "cannot unmarshal object
 * into models.PostableAlerts".
 *
 * Alertmanager resolves an alert once its endsAt has passed, so a firing alert is posted with
 * endsAt = the time of this attempt + ENDS_AT_RESENDS x the receiver's resendIntervalMs, and the
 * router posts it again every resendIntervalMs while it fires (as Prometheus does: 4 x its resend
 * delay); a few missed re-posts (Alertmanager down, a slow check run) do not resolve it. A
 * resolved alert is posted with endsAt = when it resolved, which resolves it at once.
 *
 * Labels identify the alert in Alertmanager (its fingerprint is over all of them), so they are the
 * webhook format's identity labels plus severity; the router resolves the old-severity alert when
 * the severity changes. Auth: bearerToken, or basic auth from the URL's user:password (moved into
 * the Authorization header here, since fetch refuses URLs with credentials).
 * Pure: no I/O, time passed in.
 */
import type { ReceiverConfig } from '../../config/schema.js';
import {
  dashboardLink,
  fmtValue,
  iso,
  thresholdText,
  type AlertItem,
  type LinkContext,
  type Notification,
  type RenderContext,
  type RenderedRequest,
} from '../notification.js';
import { handoverAnnotation, identityLabels, SEVERITY_LABEL } from './alertmanager.js';

/** A firing alert's endsAt is this many resend intervals after the post. */
export const ENDS_AT_RESENDS = 4;
export const API_PATH = '/api/v2/alerts';
/** Default receiver resendIntervalMs (also in config/schema.ts): Prometheus' resend delay. */
export const DEFAULT_RESEND_INTERVAL_MS = 60_000;

/** Alertmanager rejects empty label values; version may be absent. */
export function postableLabels(a: AlertItem): Record<string, string> {
  const all: Record<string, string> = { ...identityLabels(a), severity: SEVERITY_LABEL[a.severity] };
  return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== ''));
}

export function postableAlerts(n: Notification, links: LinkContext, nowMs: number, resendIntervalMs: number): Array<Record<string, unknown>> {
  return n.alerts.map((a) => {
    const firing = a.status === 'firing';
    const link = dashboardLink(links, a.subject.model);
    return {
      labels: postableLabels(a),
      annotations: {
        summary: (n.test ? '[TEST] ' : '') + a.message,
        description: `${a.check} ${a.subject.name} on ${a.subject.model}${a.subject.version !== null ? ` v${a.subject.version}` : ''}: ${a.metric} ${fmtValue(a.value)} (threshold ${thresholdText(a)}) over ${a.window.label}, n=${a.sampleSize}`,
        dashboard: link,
        ...handoverAnnotation(a),
      },
      startsAt: iso(a.startsAtMs),
      // a resolved item without endsAtMs cannot come from the router; "now" still resolves it
      endsAt: iso(firing ? nowMs + ENDS_AT_RESENDS * resendIntervalMs : (a.endsAtMs ?? nowMs)),
      generatorURL: link,
    };
  });
}

/** `<url>/api/v2/alerts` without the URL's credentials, and the Authorization header. */
export function alertmanagerApiTarget(receiver: ReceiverConfig): { url: string; authorization: string | null } {
  if (!receiver.url) throw new Error(`receiver ${receiver.name} (alertmanager-api) has no url`);
  const u = new URL(receiver.url);
  let authorization: string | null = null;
  if (u.username || u.password) {
    authorization = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
    u.username = '';
    u.password = '';
  }
  if (receiver.bearerToken) authorization = `Bearer ${receiver.bearerToken}`;
  // the base URL (with any --web.route-prefix path); a URL already naming the endpoint is kept
  const path = u.pathname.replace(/\/+$/, '');
  if (!path.endsWith(API_PATH)) u.pathname = path + API_PATH;
  return { url: u.toString(), authorization };
}

export function renderAlertmanagerApi(n: Notification, receiver: ReceiverConfig, ctx: RenderContext): RenderedRequest {
  const { url, authorization } = alertmanagerApiTarget(receiver);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (authorization) headers.authorization = authorization;
  const body = postableAlerts(n, ctx, ctx.nowMs, receiver.resendIntervalMs ?? DEFAULT_RESEND_INTERVAL_MS);
  return { url, headers, body: JSON.stringify(body) };
}
