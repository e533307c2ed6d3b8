/**
 * PagerDuty Events API v2 (developer.pagerduty.com/docs/events-API-v2/trigger-events/): one event
 * per alert, since PagerDuty groups by `dedup_key`; the router therefore gives a pagerduty
 * receiver one notification per alert, never a model group. `trigger` carries the payload;
 * `resolve` carries only routing_key, event_action and dedup_key. Pure: no I/O.
 */
import type { ReceiverConfig } from '../../config/schema.js';
import { dashboardLink, iso, type LinkContext, type Notification, type RenderContext, type RenderedRequest } from '../notification.js';

export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';
const SEVERITY = { fail: 'critical', warn: 'warning', error: 'error' } as const;

/** Stable per alert key (PagerDuty allows 255 characters). */
export function dedupKey(alertKey: string): string {
  return `driftwatch-${alertKey}`;
}

export function pagerdutyBody(n: Notification, routingKey: string, links: LinkContext): Record<string, unknown> {
  const a = n.alerts[0];
  if (!a || n.alerts.length !== 1) throw new Error('a PagerDuty notification carries exactly one alert');
  if (a.status === 'resolved') return { routing_key: routingKey, event_action: 'resolve', dedup_key: dedupKey(a.key) };
  const summary = (n.test ? '[TEST] ' : '') + `${a.subject.model}: ${a.message}`;
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: dedupKey(a.key),
    payload: {
      summary: summary.length > 1024 ? summary.slice(0, 1023) + '…' : summary,
      source: `driftwatch/${a.subject.model}`,
      severity: SEVERITY[a.severity],
      timestamp: iso(a.startsAtMs),
      component: a.subject.model,
      group: a.check,
      class: a.metric,
      custom_details: {
        model: a.subject.model,
        version: a.subject.version,
        name: a.subject.name,
        ...(a.subject.role ? { role: a.subject.role } : {}),
        value: a.value,
        threshold: a.threshold,
        window: a.window.label,
        sample_size: a.sampleSize,
      },
    },
    client: 'driftwatch',
    client_url: dashboardLink(links, a.subject.model),
    // PagerDuty shows `links` on the incident (client_url only on the alert).
    links: [{ href: dashboardLink(links, a.subject.model), text: `driftwatch dashboard for ${a.subject.model}` }],
  };
}

export function renderPagerduty(n: Notification, receiver: ReceiverConfig, ctx: RenderContext): RenderedRequest {
  if (!receiver.routingKey) throw new Error(`receiver ${receiver.name} (pagerduty) has no routingKey`);
  return {
    url: receiver.url ?? PAGERDUTY_EVENTS_URL,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(pagerdutyBody(n, receiver.routingKey, ctx)),
  };
}
