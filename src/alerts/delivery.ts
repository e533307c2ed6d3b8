/**
 * The sender: delivers due outbox entries, in order per receiver (the head entry of a receiver
 * blocks the ones behind it, so a receiver sees notifications in the order they were decided),
 * with at most maxInFlight requests at once across receivers.
 *
 * Outcome of one attempt (Standard Webhooks' and PagerDuty's retry guidance):
 * - 2xx: delivered.
 * - network error, timeout (AbortSignal.timeout(receiver.timeoutMs)), 408, 429, 5xx: retried with
 *   exponential backoff and full jitter (delay = random(0, min(retryMaxDelayMs,
 *   retryInitialDelayMs * 2^(attempt-1))), AWS Architecture Blog "Exponential Backoff And
 *   Jitter"); a Retry-After header (seconds or HTTP date) replaces the computed delay. Once the
 *   next attempt would fall more than retryMaxAge after the first one, the entry is failed.
 * - 410 Gone: the entry fails and the receiver is disabled until its config changes (the
 *   disabled flag is stored with a hash of the receiver's config; another hash re-enables it).
 * - any other status (other 4xx, 3xx): failed, recorded, not retried.
 * - a request that cannot be built (fetch refuses its URL or a header): failed at once, since no
 *   retry can change that. Credentials in a receiver URL are sent as `Authorization: Basic`
 *   (splitUrlCredentials), never in the URL.
 * A restart resends every pending entry with the webhook-id it was given at enqueue time.
 *
 * One sender per outbox file: before each pass the loop takes or renews the outbox's delivery
 * lease (outbox.acquireLease; TTL leaseTtlMs, default max(3 x pollIntervalMs, 3 s)) and sends only
 * while it holds it; a worker without the lease keeps polling for it and sends nothing (what its
 * process enqueues is sent by the holder). Without it, an analyzer and a `check --once` on one
 * file both sent the same head entry: the same webhook-id twice, which Slack and most
 * Alertmanager consumers do not deduplicate. stop() releases the lease. A holder killed with
 * kill -9 is replaced at once when it ran on this host (its pid is gone: process.kill(pid, 0)),
 * else after the TTL. The floor on the TTL is there because a live holder whose event loop
 * stalls past it is taken over while its attempt may be in flight (one duplicate, the
 * at-least-once case), and tests poll every 20 ms.
 * Time here is the real clock (deps.clock): timers wait real milliseconds.
 */
import { randomBytes } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import type { ReceiverConfig } from '../config/schema.js';
import { messageOf } from '../errors.js';
import { type Logger, redactUrlCredentials } from '../telemetry/logger.js';
import { renderNotification } from './formats/index.js';
import { sha256Hex, type LinkContext, type Notification } from './notification.js';
import type { AlertOutbox, DeliveryLease, LeaseMode, OutboxEntry } from './outbox.js';
import { pidAlive } from '../pid-alive.js';

export type DeliveryOutcome = 'delivered' | 'retry' | 'failed';

/** What the delivery loop reports (prom-client implementation: alert-metrics.ts). */
export interface DeliveryMetrics {
  outboxDepth(pending: number): void;
  deliverySeconds(receiver: string, seconds: number): void;
  delivery(receiver: string, outcome: DeliveryOutcome): void;
  dropped(count: number): void;
}

export interface DeliveryOptions {
  receivers: readonly ReceiverConfig[];
  externalUrl: string;
  /** alerts.dashboardUrl: the link template in notifications (see notification.ts dashboardLink). */
  dashboardUrl?: string | undefined;
  retryInitialDelayMs: number;
  retryMaxDelayMs: number;
  retryMaxAgeMs: number;
  /** Requests in flight at once, across receivers (one per receiver at most). */
  maxInFlight?: number;
  /** How often the loop looks at the outbox when nothing is due sooner. */
  pollIntervalMs?: number;
  /** How long the delivery lease lasts unrenewed; default max(3 x pollIntervalMs, 3000). */
  leaseTtlMs?: number;
}

export const MIN_LEASE_TTL_MS = 3000;

export interface DeliveryDeps {
  logger: Logger;
  metrics?: DeliveryMetrics;
  /** Real clock, epoch ms. */
  clock?: () => number;
  /** [0, 1), for jitter. */
  random?: () => number;
  /** Called in the pass that takes the lease (not on renewals), before anything is sent. */
  onLeaseAcquired?: () => void;
}

/**
 * Where a pid names this process: the hostname plus the PID namespace (containers in one pod share
 * a hostname, not PIDs). Without /proc (not Linux) the hostname alone.
 */
export function processHostKey(): string {
  let ns = '';
  try {
    ns = readlinkSync('/proc/self/ns/pid');
  } catch {
    // no procfs: hostname only
  }
  return ns ? `${hostname()}/${ns}` : hostname();
}

export interface LeaseState {
  held: boolean;
  /** The other process holding it, when this worker does not (null: unknown or none). */
  by: DeliveryLease | null;
}

export interface AttemptResult {
  /** HTTP status; 0 when no response came (network error, timeout). */
  status: number;
  /** Response body, truncated; or the error for status 0. */
  body: string;
  ok: boolean;
  retryAfterMs: number | null;
  seconds: number;
}

const MAX_BODY_BYTES = 4096;

/** Retry-After: delta-seconds or an HTTP-date (RFC 9110 section 10.2.3); ms from nowMs, or null. */
export function parseRetryAfter(value: string | null, nowMs: number): number | null {
  if (value === null) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - nowMs) : null;
}

export function isRetryableStatus(status: number): boolean {
  return status === 0 || status === 408 || status === 429 || status >= 500;
}

/** Full-jitter exponential backoff for the attempt-th retry (1-based). */
export function backoffDelayMs(attempt: number, initialMs: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt - 1, 40));
  return Math.floor(random() * ceiling);
}

/** Hash of a receiver's config (secrets included, so rotating a secret also re-enables it). */
export function receiverConfigHash(r: ReceiverConfig): string {
  const sorted = Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return sha256Hex(JSON.stringify(sorted));
}

async function readBounded(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  try {
    while (n < MAX_BODY_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      n += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES).toString('utf8');
}

/** An error as a short line without the URL (a Slack URL is a secret). */
function errorLine(e: unknown): string {
  const err = e as { name?: string; cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError') return 'timeout';
  const code = err?.cause?.code;
  return code ? `network error ${code}` : `network error: ${withoutUrls(messageOf(e))}`;
}

/** A message with every URL (and first any credentials in one) cut out: a Slack URL is a secret. */
function withoutUrls(message: string): string {
  return redactUrlCredentials(message).replace(/https?:\/\/\S+/g, '[url]');
}

/**
 * fetch refuses a URL with credentials ("Request cannot be constructed from a URL that includes
 * credentials"), so they become an `Authorization: Basic` header, as curl does: user and password
 * percent-decoded, joined by ":", UTF-8, base64. The URL is sent without them.
 */
export function splitUrlCredentials(raw: string): { url: string; authorization: string | null } {
  const u = new URL(raw);
  if (!u.username && !u.password) return { url: raw, authorization: null };
  const user = percentDecode(u.username);
  const pass = percentDecode(u.password);
  u.username = '';
  u.password = '';
  return { url: u.href, authorization: `Basic ${Buffer.from(`${user}:${pass}`, 'utf8').toString('base64')}` };
}

function percentDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // a stray "%" (config validation refuses it; kept literal here, as curl does)
  }
}

/** One POST of a rendered notification: never throws. */
export async function postOnce(n: Notification, receiver: ReceiverConfig, links: LinkContext, nowMs: number): Promise<AttemptResult> {
  const started = process.hrtime.bigint();
  const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
  let req: ReturnType<typeof renderNotification>;
  try {
    req = renderNotification(n, receiver, { externalUrl: links.externalUrl, dashboardUrl: links.dashboardUrl, nowMs });
  } catch (e) {
    return { status: -1, body: `cannot render: ${messageOf(e)}`, ok: false, retryAfterMs: null, seconds: 0 };
  }
  // Built apart from the send: a request that cannot be constructed (a URL fetch refuses) fails
  // the same way on every attempt, so it is permanent (-1), not a network error retried for a day.
  let request: Request;
  try {
    const { url, authorization } = splitUrlCredentials(req.url);
    const headers =
      authorization && !Object.keys(req.headers).some((h) => h.toLowerCase() === 'authorization') ? { ...req.headers, authorization } : req.headers;
    request = new Request(url, { method: 'POST', headers, body: req.body, signal: AbortSignal.timeout(receiver.timeoutMs), redirect: 'manual' });
  } catch (e) {
    return { status: -1, body: `cannot build the request: ${withoutUrls(messageOf(e))}`, ok: false, retryAfterMs: null, seconds: 0 };
  }
  try {
    const res = await fetch(request);
    const body = await readBounded(res);
    return {
      status: res.status,
      body,
      ok: res.status >= 200 && res.status < 300,
      retryAfterMs: parseRetryAfter(res.headers.get('retry-after'), Date.now()),
      seconds: seconds(),
    };
  } catch (e) {
    return { status: 0, body: errorLine(e), ok: false, retryAfterMs: null, seconds: seconds() };
  }
}

export class DeliveryWorker {
  private readonly receivers: Map<string, { config: ReceiverConfig; hash: string }>;
  private readonly busy = new Set<string>();
  private readonly inflight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  /** Waiters for the next finished attempt (flush() in `check --once`); at most one per caller. */
  private readonly waiters = new Set<() => void>();
  private running = false;
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly holderId = 'dlv_' + randomBytes(9).toString('base64url');
  private readonly hostKey = processHostKey();
  private readonly leaseTtlMs: number;
  private mode: LeaseMode = 'flush';
  private held = false;
  private heldBy: DeliveryLease | null = null;
  private renewedMs = -Infinity;

  constructor(
    private readonly outbox: AlertOutbox,
    private readonly opts: DeliveryOptions,
    private readonly deps: DeliveryDeps,
  ) {
    this.receivers = new Map(opts.receivers.map((r) => [r.name, { config: r, hash: receiverConfigHash(r) }]));
    this.clock = deps.clock ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.leaseTtlMs = opts.leaseTtlMs ?? Math.max(3 * (opts.pollIntervalMs ?? 1000), MIN_LEASE_TTL_MS);
  }

  /** long: analyze/start; flush: a one-shot run (written into the lease for the others to read). */
  setMode(mode: LeaseMode): void {
    if (mode === this.mode) return;
    this.mode = mode;
    this.renewedMs = -Infinity; // rewrite the lease row with the new mode at the next pass
    this.kick();
  }

  lease(): LeaseState {
    return { held: this.held, by: this.held ? null : this.heldBy };
  }

  /**
   * Takes or renews the lease; true while this worker may send. A pass within half a poll
   * interval (and a third of the TTL) of the last renewal trusts it without writing: passes come
   * at least once per poll interval, so a renewal is at most about one interval old and the lease
   * has most of its TTL left as margin for a stalled event loop.
   */
  private ensureLease(): boolean {
    const now = this.clock();
    const renewEveryMs = Math.min(this.leaseTtlMs / 3, (this.opts.pollIntervalMs ?? 1000) / 2);
    if (this.held && now - this.renewedMs < renewEveryMs) return true;
    const r = this.outbox.acquireLease({ holder: this.holderId, pid: process.pid, host: this.hostKey, mode: this.mode }, now, this.leaseTtlMs, pidAlive);
    const was = this.held;
    if (r.held) {
      this.held = true;
      this.heldBy = null;
      this.renewedMs = now;
      if (!was) {
        this.deps.logger.info('alert delivery lease taken: this process sends the outbox', {
          outbox: this.outbox.path,
          ...(r.previous ? { previousPid: r.previous.pid, previousMode: r.previous.mode } : {}),
        });
        this.deps.onLeaseAcquired?.();
      }
      return true;
    }
    this.held = false;
    this.heldBy = r.by;
    if (was)
      this.deps.logger.warn('alert delivery lease lost to another process (this one stalled past the lease TTL); it sends the outbox now', { pid: r.by.pid });
    return false;
  }

  isDisabled(name: string): boolean {
    const r = this.receivers.get(name);
    return !!r && this.outbox.isReceiverDisabled(name, r.hash);
  }

  /** Could a pending entry of this receiver still be sent by this worker? */
  canDeliver(name: string): boolean {
    return this.receivers.has(name) && !this.isDisabled(name);
  }

  /** Resolves when an attempt finishes or the worker stops (whichever comes first). */
  nextSettle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  private wake(): void {
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.deps.metrics?.outboxDepth(this.outbox.pendingCount());
    this.pump();
  }

  /** Look at the outbox now (after an enqueue). */
  kick(): void {
    if (this.running) this.pump();
  }

  /** Stops sending new attempts and waits for the ones in flight; pending entries stay pending. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
    await Promise.allSettled([...this.inflight]);
    if (this.held) {
      this.held = false;
      try {
        this.outbox.releaseLease(this.holderId);
      } catch (e) {
        this.deps.logger.warn('cannot release the alert delivery lease; another process takes it after the TTL', { error: messageOf(e) });
      }
    }
    this.wake();
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    const at = this.clock() + Math.max(0, delayMs);
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.timerAt = Infinity;
        this.pump();
      },
      Math.max(0, delayMs),
    );
  }

  private pump(): void {
    if (!this.running) return;
    // Nothing to send: do not take the lease from a process that has receivers.
    if (this.receivers.size === 0) return;
    const maxInFlight = this.opts.maxInFlight ?? 4;
    let nextDue = Infinity;
    try {
      if (!this.ensureLease()) {
        // Another process sends; look again at the next poll (it may stop or die). Waiters
        // (flush) re-check who holds the lease.
        this.schedule(this.opts.pollIntervalMs ?? 1000);
        this.wake();
        return;
      }
      for (const [name, r] of this.receivers) {
        if (this.busy.has(name)) continue;
        if (this.outbox.isReceiverDisabled(name, r.hash)) continue;
        const head = this.outbox.headFor(name);
        if (!head) continue;
        const now = this.clock();
        if (head.nextAttemptMs > now) {
          nextDue = Math.min(nextDue, head.nextAttemptMs);
          continue;
        }
        if (this.inflight.size >= maxInFlight) break; // a finishing attempt pumps again
        this.busy.add(name);
        const p = this.attempt(head, r).finally(() => {
          this.busy.delete(name);
          this.inflight.delete(p);
          this.pump();
          this.wake();
        });
        this.inflight.add(p);
      }
    } catch (e) {
      // the outbox file is unreadable (disk full, closed): try again at the next poll
      this.deps.logger.error('alert delivery loop failed; retrying', { error: messageOf(e) });
    }
    const poll = this.opts.pollIntervalMs ?? 1000;
    this.schedule(Math.min(poll, nextDue - this.clock()));
  }

  private async attempt(entry: OutboxEntry, r: { config: ReceiverConfig; hash: string }): Promise<void> {
    const name = r.config.name;
    const res = await postOnce(entry.notification, r.config, this.opts, this.clock());
    const now = this.clock();
    const firstMs = entry.firstAttemptMs ?? now;
    const m = this.deps.metrics;
    if (res.status > 0) m?.deliverySeconds(name, res.seconds);
    const log = { receiver: name, webhookId: entry.webhookId, status: res.status, attempt: entry.attempts + 1 };
    try {
      if (res.ok) {
        this.outbox.recordAttempt(entry.id, { state: 'delivered', nowMs: now, status: res.status, body: res.body });
        m?.delivery(name, 'delivered');
      } else if (res.status === 410) {
        this.outbox.recordAttempt(entry.id, { state: 'failed', nowMs: now, status: res.status, body: res.body, error: 'receiver gone (410)' });
        this.outbox.disableReceiver(name, r.hash, now, '410 Gone');
        m?.delivery(name, 'failed');
        this.deps.logger.error('alert receiver answered 410 Gone; disabled until its config changes', log);
      } else if (res.status !== -1 && isRetryableStatus(res.status)) {
        const delay = res.retryAfterMs ?? backoffDelayMs(entry.attempts + 1, this.opts.retryInitialDelayMs, this.opts.retryMaxDelayMs, this.random);
        const next = now + delay;
        if (next - firstMs > this.opts.retryMaxAgeMs) {
          this.outbox.recordAttempt(entry.id, {
            state: 'failed',
            nowMs: now,
            status: res.status || null,
            body: res.status ? res.body : null,
            error: `gave up after retryMaxAge (${res.status ? `HTTP ${res.status}` : res.body})`,
          });
          m?.delivery(name, 'failed');
          this.deps.logger.warn('alert delivery gave up after retryMaxAge', log);
        } else {
          this.outbox.recordAttempt(entry.id, {
            state: 'pending',
            nowMs: now,
            nextAttemptMs: next,
            status: res.status || null,
            body: res.status ? res.body : null,
            error: res.status ? null : res.body,
          });
          m?.delivery(name, 'retry');
          this.deps.logger.debug('alert delivery will be retried', { ...log, delayMs: delay });
        }
      } else {
        this.outbox.recordAttempt(entry.id, {
          state: 'failed',
          nowMs: now,
          status: res.status > 0 ? res.status : null,
          body: res.status > 0 ? res.body : null,
          error: res.status > 0 ? `HTTP ${res.status} (permanent)` : res.body,
        });
        m?.delivery(name, 'failed');
        this.deps.logger.warn('alert delivery failed permanently', log);
      }
      m?.outboxDepth(this.outbox.pendingCount());
    } catch (e) {
      this.deps.logger.error('cannot record an alert delivery attempt', { receiver: name, webhookId: entry.webhookId, error: messageOf(e) });
    }
  }
}
