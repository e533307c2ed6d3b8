/**
 * The format-neutral notification the router writes to the outbox and the delivery worker renders
 * per receiver kind at send time. Secrets (HMAC keys, routing keys, Slack URLs) are never part of
 * it: they come from the receiver's config when the request is built, so the outbox file holds no
 * credential and a rotated secret applies to entries already queued.
 */
import { createHash } from 'node:crypto';
import type { CheckName, FindingSubject, FindingThreshold } from '../findings/finding.js';

export type AlertSeverity = 'warn' | 'fail' | 'error';
export type AlertStatus = 'firing' | 'resolved';

export interface AlertItem {
  /** Stable id of the alert: first 16 hex of sha256(findingKey) (see alertKeyHash). */
  key: string;
  check: CheckName;
  subject: FindingSubject;
  status: AlertStatus;
  /** For a resolved alert: the severity it last fired with. */
  severity: AlertSeverity;
  metric: string;
  value: number | null;
  threshold: FindingThreshold;
  window: { fromMs: number; toMs: number; label: string };
  sampleSize: number;
  message: string;
  startsAtMs: number;
  endsAtMs?: number;
  /** Set when the alert ends here because its model moved to another analyzer (handover.ts):
   *  this analyzer ("0/2") and the one that checks the model now ("2/3"). */
  handover?: { from: string; to: string };
}

export interface Notification {
  /** Standard Webhooks `webhook-id`, assigned at enqueue time, kept across retries and restarts. */
  webhookId: string;
  receiver: string;
  model: string;
  /** firing when any alert in it fires (Alertmanager's rule), else resolved. */
  status: AlertStatus;
  alerts: AlertItem[];
  createdMs: number;
  /** Set by `driftwatch alerts test`. */
  test?: boolean;
}

/** One HTTP request a format renders; the sender adds nothing but the signal. */
export interface RenderedRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The compact stable id of an alert (findingKey joins fields with U+001F, unfriendly in JSON). */
export function alertKeyHash(findingKey: string): string {
  return sha256Hex(findingKey).slice(0, 16);
}

export function groupStatus(alerts: readonly AlertItem[]): AlertStatus {
  return alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved';
}

/** Where links in notifications point (alerts.externalUrl, alerts.dashboardUrl). */
export interface LinkContext {
  externalUrl: string;
  /** Template with `{model}` (URL-encoded on substitution); unset: the status page. */
  dashboardUrl?: string | undefined;
}

/** What a format renderer gets: the links and the time of this attempt. */
export interface RenderContext extends LinkContext {
  nowMs: number;
}

/**
 * The link for people and generatorURL: issue 5 asks for "a link to the dashboard". The admin
 * API's /api/findings is JSON (and 401 with a token), so the default is the status page
 * `${externalUrl}/ui`, which lists every model; alerts.dashboardUrl points at a Grafana (or any)
 * dashboard for the model instead, e.g. `https://grafana/d/driftwatch-model?var-model={model}`.
 */
export function dashboardLink(links: LinkContext, model: string): string {
  if (links.dashboardUrl) return links.dashboardUrl.replace(/\{model\}/g, encodeURIComponent(model));
  return `${links.externalUrl.replace(/\/+$/, '')}/ui`;
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** A number for people: up to 4 significant digits, no exponent for everyday magnitudes. */
export function fmtValue(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return 'n/a';
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(4)));
}

export function thresholdText(a: Pick<AlertItem, 'threshold' | 'severity'>): string {
  const t = a.threshold;
  const op = t.direction === 'above' ? '>=' : '<';
  const limit = a.severity === 'fail' ? (t.fail ?? t.warn) : (t.warn ?? t.fail);
  return limit === null ? 'n/a' : `${op} ${fmtValue(limit)}`;
}
