/**
 * Generic JSON webhook, signed per Standard Webhooks (https://www.standardwebhooks.com/):
 * `webhook-id` (stable per notification), `webhook-timestamp` (unix seconds, set per attempt) and
 * `webhook-signature: v1,<base64 HMAC-SHA256(key, "${id}.${timestamp}.${body}")>` where key is the
 * base64-decoded part of the secret after "whsec_" (a secret without the prefix is used as raw
 * UTF-8 bytes, as the reference libraries do). Pure: no I/O, time passed in.
 * The body schema (version "1") is documented in docs/alerts.md.
 */
import { createHmac } from 'node:crypto';
import type { ReceiverConfig } from '../../config/schema.js';
import { dashboardLink, iso, type LinkContext, type Notification, type RenderContext, type RenderedRequest } from '../notification.js';

export const WEBHOOK_SCHEMA_VERSION = '1';

export function webhookBody(n: Notification, links: LinkContext): Record<string, unknown> {
  return {
    version: WEBHOOK_SCHEMA_VERSION,
    status: n.status,
    model: n.model,
    receiver: n.receiver,
    ...(n.test ? { test: true } : {}),
    alerts: n.alerts.map((a) => ({
      key: a.key,
      check: a.check,
      subject: a.subject,
      status: a.status,
      severity: a.severity,
      metric: a.metric,
      value: a.value,
      threshold: a.threshold,
      window: { from: iso(a.window.fromMs), to: iso(a.window.toMs), label: a.window.label },
      sampleSize: a.sampleSize,
      message: a.message,
      startsAt: iso(a.startsAtMs),
      ...(a.endsAtMs !== undefined ? { endsAt: iso(a.endsAtMs) } : {}),
      ...(a.handover ? { handover: a.handover } : {}),
    })),
    externalUrl: dashboardLink(links, n.model),
  };
}

export function signingKey(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8');
}

/** The `webhook-signature` header value for one attempt. */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', signingKey(secret)).update(`${id}.${timestampSeconds}.${body}`).digest('base64');
  return `v1,${mac}`;
}

export function renderWebhook(n: Notification, receiver: ReceiverConfig, ctx: RenderContext): RenderedRequest {
  if (!receiver.url) throw new Error(`receiver ${receiver.name} (webhook) has no url`);
  const body = JSON.stringify(webhookBody(n, ctx));
  const ts = Math.floor(ctx.nowMs / 1000);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'webhook-id': n.webhookId,
    'webhook-timestamp': String(ts),
  };
  if (receiver.secret) headers['webhook-signature'] = signWebhook(receiver.secret, n.webhookId, ts, body);
  return { url: receiver.url, headers, body };
}
