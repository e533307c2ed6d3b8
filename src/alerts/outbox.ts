/**
 * The durable alert outbox and alert state, in one local SQLite file (config.alerts.outboxPath),
 * opened through the one better-sqlite3 import (store/sqlite.ts).
 *
 * - `outbox`: every notification, written BEFORE it is sent, with its Standard Webhooks id
 *   assigned here and kept across retries and restarts; state pending | delivered | failed.
 *   Holds the format-neutral Notification (no secret: requests are rendered at send time).
 *   A fourth state, orphaned, is set on pending entries whose receiver is no longer configured
 *   (see orphanUnconfigured), by the long-running process that holds the delivery lease: they
 *   would otherwise stay pending forever. (A value of the TEXT column, so no migration: applied
 *   migrations are never edited.)
 * - `alert_state`: per findingKey, whether the alert fires and which receivers were told what.
 * - `silences`: matchers with an expiry.
 * - `receivers`: a receiver disabled by 410 Gone, with a hash of the config it was disabled under.
 * - `delivery_lease` (migration 2): at most one row, the process that may send from this file.
 *   Two processes on one outbox (a running analyzer and a `check --once`, or two analyzers) would
 *   otherwise both pick the same pending head and page twice; the lease makes one of them the
 *   sender and the other only enqueues (see DeliveryWorker).
 * - `alert_history` (migration 3): one row per firing episode, fired -> resolved, bounded (see
 *   alert-history.ts, which reads and writes it).
 * - `ownership` (migration 4): the analyzer's shard now and before its latest change (handover.ts).
 *
 * The outbox is bounded: beyond maxPending pending entries the oldest are dropped (and counted).
 */
import { randomBytes } from 'node:crypto';
import { openDatabase, type SqliteDatabase } from '../sqlite.js';
import type { Finding } from '../findings/finding.js';
import type { AlertSeverity, Notification } from './notification.js';
import { ALERT_HISTORY_MIGRATION, AlertHistory } from './alert-history.js';

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE outbox (
     id INTEGER PRIMARY KEY,
     webhook_id TEXT NOT NULL UNIQUE,
     receiver TEXT NOT NULL,
     model TEXT NOT NULL,
     status TEXT NOT NULL,              -- firing | resolved
     notification TEXT NOT NULL,        -- JSON Notification (src/alerts/notification.ts)
     state TEXT NOT NULL,               -- pending | delivered | failed
     attempts INTEGER NOT NULL DEFAULT 0,
     next_attempt_ms INTEGER NOT NULL,
     first_attempt_ms INTEGER,
     last_attempt_ms INTEGER,
     last_status INTEGER,
     last_body TEXT,
     last_error TEXT,
     created_ms INTEGER NOT NULL,
     done_ms INTEGER
   );
   CREATE INDEX outbox_pending ON outbox (state, receiver, id);
   CREATE INDEX outbox_done ON outbox (state, done_ms);
   CREATE TABLE alert_state (
     key TEXT PRIMARY KEY,
     check_name TEXT NOT NULL,
     model TEXT NOT NULL,
     status TEXT NOT NULL,              -- firing | resolved
     severity TEXT NOT NULL,
     starts_ms INTEGER NOT NULL,
     ends_ms INTEGER,
     updated_ms INTEGER NOT NULL,
     finding TEXT NOT NULL,             -- JSON: the newest non-ok finding
     notified TEXT NOT NULL             -- JSON: { receiver: { atMs, severity, open } }
   ) WITHOUT ROWID;
   CREATE TABLE silences (
     id TEXT PRIMARY KEY,
     matchers TEXT NOT NULL,
     until_ms INTEGER NOT NULL,
     comment TEXT NOT NULL,
     created_ms INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE receivers (
     name TEXT PRIMARY KEY,
     config_hash TEXT NOT NULL,
     disabled INTEGER NOT NULL,
     disabled_ms INTEGER,
     reason TEXT
   ) WITHOUT ROWID;`,
  `CREATE TABLE delivery_lease (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     holder TEXT NOT NULL,              -- random id of the DeliveryWorker (two services in one process differ)
     pid INTEGER NOT NULL,
     host TEXT NOT NULL,                -- hostname + PID namespace: where pid means this process
     mode TEXT NOT NULL,                -- long (analyze/start) | flush (one-shot check --once)
     acquired_ms INTEGER NOT NULL,
     expires_at_ms INTEGER NOT NULL
   );`,
  ALERT_HISTORY_MIGRATION,
  // handover.ts: the share of the fleet this outbox's analyzer had (analyzer.shard) and the one
  // before, so a restart with a new shard knows which models it took over from another analyzer.
  `CREATE TABLE IF NOT EXISTS ownership (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     scope TEXT NOT NULL,               -- "i/n" now
     previous TEXT,                     -- "i/n" before the latest change; null: none recorded
     since_ms INTEGER NOT NULL          -- when scope took effect
   );`,
];

export type OutboxState = 'pending' | 'delivered' | 'failed' | 'orphaned';

export interface OutboxEntry {
  id: number;
  webhookId: string;
  receiver: string;
  model: string;
  status: 'firing' | 'resolved';
  notification: Notification;
  state: OutboxState;
  attempts: number;
  nextAttemptMs: number;
  firstAttemptMs: number | null;
  lastAttemptMs: number | null;
  lastStatus: number | null;
  lastBody: string | null;
  lastError: string | null;
  createdMs: number;
  doneMs: number | null;
}

export interface ReceiverNotice {
  /** When this receiver was last sent a firing notification for the alert. */
  atMs: number;
  severity: AlertSeverity;
  /** true while the receiver believes the alert fires (told firing, not yet told resolved). */
  open: boolean;
}

export interface AlertStateRow {
  key: string;
  check: string;
  model: string;
  status: 'firing' | 'resolved';
  severity: AlertSeverity;
  startsMs: number;
  endsMs: number | null;
  updatedMs: number;
  finding: Finding;
  notified: Record<string, ReceiverNotice>;
}

export interface SilenceMatchers {
  model?: string;
  check?: string;
  name?: string;
  status?: string;
}

export interface Silence {
  id: string;
  matchers: SilenceMatchers;
  untilMs: number;
  comment: string;
  createdMs: number;
}

export interface OwnershipRecord {
  scope: string;
  previous: string | null;
  sinceMs: number;
  /** Nothing was on record before this call (a new outbox, or one from before migration 4). */
  firstRecord: boolean;
}

export type LeaseMode = 'long' | 'flush';

/** Who may send from the outbox file. */
export interface DeliveryLease {
  holder: string;
  pid: number;
  host: string;
  mode: LeaseMode;
  acquiredMs: number;
  expiresAtMs: number;
}

export type LeaseResult =
  /** `previous`: the other holder this call took the lease over from (expired or dead), if any. */
  { held: true; previous: DeliveryLease | null } | { held: false; by: DeliveryLease };

/** `msg_` + 24 random bytes in base64url, the shape Standard Webhooks' examples use. */
export function newWebhookId(): string {
  return 'msg_' + randomBytes(18).toString('base64url');
}

/** Response bodies are kept for people to read, not in full. */
export const MAX_STORED_BODY_CHARS = 1024;

interface OutboxRow {
  id: number;
  webhook_id: string;
  receiver: string;
  model: string;
  status: 'firing' | 'resolved';
  notification: string;
  state: OutboxState;
  attempts: number;
  next_attempt_ms: number;
  first_attempt_ms: number | null;
  last_attempt_ms: number | null;
  last_status: number | null;
  last_body: string | null;
  last_error: string | null;
  created_ms: number;
  done_ms: number | null;
}

function toEntry(r: OutboxRow): OutboxEntry {
  return {
    id: r.id,
    webhookId: r.webhook_id,
    receiver: r.receiver,
    model: r.model,
    status: r.status,
    notification: JSON.parse(r.notification) as Notification,
    state: r.state,
    attempts: r.attempts,
    nextAttemptMs: r.next_attempt_ms,
    firstAttemptMs: r.first_attempt_ms,
    lastAttemptMs: r.last_attempt_ms,
    lastStatus: r.last_status,
    lastBody: r.last_body,
    lastError: r.last_error,
    createdMs: r.created_ms,
    doneMs: r.done_ms,
  };
}

export class AlertOutbox {
  readonly path: string;
  /** Fired and resolved alerts, in this file (the router writes it in its transactions). */
  readonly history: AlertHistory;
  private readonly db: SqliteDatabase;
  private closed = false;

  constructor(
    path: string,
    private readonly opts: { maxPending?: number; retentionMs?: number } = {},
  ) {
    this.db = openDatabase(path, MIGRATIONS, 'alert outbox');
    this.path = path;
    this.history = new AlertHistory(this.db);
  }

  get maxPending(): number {
    return this.opts.maxPending ?? 100_000;
  }

  /** Runs fn in one transaction (the router's state changes and enqueues commit together). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  // ---- outbox -------------------------------------------------------------------------------

  /**
   * Writes notifications as pending (due now) and returns how many of the oldest pending entries
   * were dropped to keep the bound.
   */
  enqueue(notifications: readonly Notification[], nowMs: number): number {
    const ins = this.db.prepare(
      `INSERT INTO outbox (webhook_id, receiver, model, status, notification, state, next_attempt_ms, created_ms)
       VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)`,
    );
    return this.transaction(() => {
      for (const n of notifications) ins.run(n.webhookId, n.receiver, n.model, n.status, JSON.stringify(n), nowMs, n.createdMs);
      const over = this.pendingCount() - this.maxPending;
      if (over <= 0) return 0;
      return this.db
        .prepare(
          `UPDATE outbox SET state = 'failed', last_error = 'dropped: outbox full', done_ms = ?
           WHERE id IN (SELECT id FROM outbox WHERE state = 'pending' ORDER BY id LIMIT ?)`,
        )
        .run(nowMs, over).changes;
    });
  }

  /** Whether a receiver has a pending entry for a model (alertmanager-api re-posts wait for it). */
  hasPending(receiver: string, model: string): boolean {
    return this.db.prepare("SELECT 1 FROM outbox WHERE state = 'pending' AND receiver = ? AND model = ? LIMIT 1").get(receiver, model) !== undefined;
  }

  pendingCount(): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE state = 'pending'").get() as { n: number }).n;
  }

  /** The oldest pending entry of a receiver (delivery is in order per receiver). */
  headFor(receiver: string): OutboxEntry | null {
    const r = this.db.prepare("SELECT * FROM outbox WHERE state = 'pending' AND receiver = ? ORDER BY id LIMIT 1").get(receiver) as OutboxRow | undefined;
    return r ? toEntry(r) : null;
  }

  get(id: number): OutboxEntry | null {
    const r = this.db.prepare('SELECT * FROM outbox WHERE id = ?').get(id) as OutboxRow | undefined;
    return r ? toEntry(r) : null;
  }

  entries(filter: { state?: OutboxState; receiver?: string; limit?: number } = {}): OutboxEntry[] {
    const where: string[] = [];
    const args: Array<string | number> = [];
    if (filter.state) where.push('state = ?'), args.push(filter.state);
    if (filter.receiver) where.push('receiver = ?'), args.push(filter.receiver);
    args.push(Math.min(filter.limit ?? 1000, 100_000));
    const sql = `SELECT * FROM outbox ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id LIMIT ?`;
    return (this.db.prepare(sql).all(...args) as OutboxRow[]).map(toEntry);
  }

  recordAttempt(
    id: number,
    outcome: { state: OutboxState; nowMs: number; nextAttemptMs?: number; status?: number | null; body?: string | null; error?: string | null },
  ): void {
    this.db
      .prepare(
        `UPDATE outbox SET state = ?, attempts = attempts + 1, first_attempt_ms = COALESCE(first_attempt_ms, ?), last_attempt_ms = ?,
           next_attempt_ms = COALESCE(?, next_attempt_ms), last_status = ?, last_body = ?, last_error = ?, done_ms = ?
         WHERE id = ? AND state = 'pending'`,
      )
      .run(
        outcome.state,
        outcome.nowMs,
        outcome.nowMs,
        outcome.nextAttemptMs ?? null,
        outcome.status ?? null,
        outcome.body === undefined || outcome.body === null ? null : outcome.body.slice(0, MAX_STORED_BODY_CHARS),
        outcome.error ?? null,
        outcome.state === 'pending' ? null : outcome.nowMs,
        id,
      );
  }

  /**
   * Pending entries of receivers that are not in `configured` (removed from the config, or
   * renamed) become `orphaned`: nothing would ever send them, and an entry stuck pending forever
   * hides the outbox's real depth. Not reversible on purpose: re-adding a receiver later must not
   * page it with stale notifications. Returns how many per receiver.
   */
  orphanUnconfigured(configured: readonly string[], nowMs: number): Map<string, number> {
    return this.transaction(() => {
      const rows = this.db.prepare("SELECT receiver, COUNT(*) AS n FROM outbox WHERE state = 'pending' GROUP BY receiver").all() as Array<{
        receiver: string;
        n: number;
      }>;
      const known = new Set(configured);
      const out = new Map<string, number>();
      const upd = this.db.prepare("UPDATE outbox SET state = 'orphaned', last_error = ?, done_ms = ? WHERE state = 'pending' AND receiver = ?");
      for (const r of rows) {
        if (known.has(r.receiver)) continue;
        out.set(r.receiver, upd.run(`orphaned: receiver ${r.receiver} is no longer configured`, nowMs, r.receiver).changes);
      }
      return out;
    });
  }

  /** Deletes delivered, failed and orphaned entries older than the retention (default 7 days). */
  prune(nowMs: number): number {
    const keep = this.opts.retentionMs ?? 7 * 86_400_000;
    return this.db.prepare("DELETE FROM outbox WHERE state != 'pending' AND done_ms < ?").run(nowMs - keep).changes;
  }

  // ---- delivery lease ------------------------------------------------------------------------

  /**
   * Takes or renews the delivery lease for `me` until nowMs + ttlMs, in one IMMEDIATE transaction
   * (the read and the write under the write lock, so two processes cannot both win). Another
   * holder's lease is taken over when it has expired, or when it was taken on this host
   * (same hostname and PID namespace) by a pid that `isAlive` says is gone: a process killed
   * with kill -9 is replaced at once instead of after the TTL.
   */
  acquireLease(
    me: { holder: string; pid: number; host: string; mode: LeaseMode },
    nowMs: number,
    ttlMs: number,
    isAlive: (pid: number) => boolean,
  ): LeaseResult {
    return this.db
      .transaction((): LeaseResult => {
        const cur = this.leaseHolder();
        const mine = cur?.holder === me.holder;
        if (cur && !mine && cur.expiresAtMs > nowMs && !(cur.host === me.host && !isAlive(cur.pid))) return { held: false, by: cur };
        this.db
          .prepare(
            `INSERT INTO delivery_lease (id, holder, pid, host, mode, acquired_ms, expires_at_ms) VALUES (1, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, pid = excluded.pid, host = excluded.host, mode = excluded.mode,
               acquired_ms = excluded.acquired_ms, expires_at_ms = excluded.expires_at_ms`,
          )
          .run(me.holder, me.pid, me.host, me.mode, mine ? cur.acquiredMs : nowMs, nowMs + ttlMs);
        return { held: true, previous: cur && !mine ? cur : null };
      })
      .immediate();
  }

  /** Gives the lease up (only if `holder` still has it), so a waiting process takes it at once. */
  releaseLease(holder: string): boolean {
    return this.db.prepare('DELETE FROM delivery_lease WHERE holder = ?').run(holder).changes > 0;
  }

  leaseHolder(): DeliveryLease | null {
    const r = this.db.prepare('SELECT * FROM delivery_lease WHERE id = 1').get() as
      | { holder: string; pid: number; host: string; mode: LeaseMode; acquired_ms: number; expires_at_ms: number }
      | undefined;
    return r ? { holder: r.holder, pid: r.pid, host: r.host, mode: r.mode, acquiredMs: r.acquired_ms, expiresAtMs: r.expires_at_ms } : null;
  }

  // ---- alert state --------------------------------------------------------------------------

  getAlert(key: string): AlertStateRow | null {
    const r = this.db.prepare('SELECT * FROM alert_state WHERE key = ?').get(key) as Record<string, unknown> | undefined;
    return r ? this.toAlert(r) : null;
  }

  putAlert(a: AlertStateRow): void {
    this.db
      .prepare(
        `INSERT INTO alert_state (key, check_name, model, status, severity, starts_ms, ends_ms, updated_ms, finding, notified)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET status = excluded.status, severity = excluded.severity, starts_ms = excluded.starts_ms,
           ends_ms = excluded.ends_ms, updated_ms = excluded.updated_ms, finding = excluded.finding, notified = excluded.notified`,
      )
      .run(a.key, a.check, a.model, a.status, a.severity, a.startsMs, a.endsMs, a.updatedMs, JSON.stringify(a.finding), JSON.stringify(a.notified));
  }

  alerts(filter: { status?: 'firing' | 'resolved'; limit?: number } = {}): AlertStateRow[] {
    const rows = filter.status
      ? this.db.prepare('SELECT * FROM alert_state WHERE status = ? ORDER BY updated_ms DESC LIMIT ?').all(filter.status, filter.limit ?? 1000)
      : this.db.prepare('SELECT * FROM alert_state ORDER BY updated_ms DESC LIMIT ?').all(filter.limit ?? 1000);
    return (rows as Array<Record<string, unknown>>).map((r) => this.toAlert(r));
  }

  private toAlert(r: Record<string, unknown>): AlertStateRow {
    return {
      key: r.key as string,
      check: r.check_name as string,
      model: r.model as string,
      status: r.status as 'firing' | 'resolved',
      severity: r.severity as AlertSeverity,
      startsMs: r.starts_ms as number,
      endsMs: (r.ends_ms as number | null) ?? null,
      updatedMs: r.updated_ms as number,
      finding: JSON.parse(r.finding as string) as Finding,
      notified: JSON.parse(r.notified as string) as Record<string, ReceiverNotice>,
    };
  }

  /** Models with a firing alert (a cheap look before the handover sweep loads any row). */
  firingModels(): string[] {
    return (this.db.prepare("SELECT DISTINCT model FROM alert_state WHERE status = 'firing'").all() as Array<{ model: string }>).map((r) => r.model);
  }

  firingAlertsOf(model: string): AlertStateRow[] {
    const rows = this.db.prepare("SELECT * FROM alert_state WHERE status = 'firing' AND model = ? ORDER BY starts_ms, key").all(model);
    return (rows as Array<Record<string, unknown>>).map((r) => this.toAlert(r));
  }

  // ---- ownership ----------------------------------------------------------------------------

  /**
   * Records the scope (analyzer.shard) this process runs with and returns what is on record
   * afterwards: unchanged when it is the recorded one (a plain restart keeps its `sinceMs`), else
   * the recorded one becomes `previous` and `sinceMs` is now.
   */
  recordOwnership(scope: string, nowMs: number): OwnershipRecord {
    return this.db
      .transaction((): OwnershipRecord => {
        const cur = this.db.prepare('SELECT scope, previous, since_ms FROM ownership WHERE id = 1').get() as
          | { scope: string; previous: string | null; since_ms: number }
          | undefined;
        if (cur?.scope === scope) return { scope, previous: cur.previous, sinceMs: cur.since_ms, firstRecord: false };
        this.db
          .prepare(
            `INSERT INTO ownership (id, scope, previous, since_ms) VALUES (1, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET scope = excluded.scope, previous = excluded.previous, since_ms = excluded.since_ms`,
          )
          .run(scope, cur?.scope ?? null, nowMs);
        return { scope, previous: cur?.scope ?? null, sinceMs: nowMs, firstRecord: cur === undefined };
      })
      .immediate();
  }

  // ---- silences -----------------------------------------------------------------------------

  addSilence(s: Silence): void {
    this.db
      .prepare('INSERT INTO silences (id, matchers, until_ms, comment, created_ms) VALUES (?, ?, ?, ?, ?)')
      .run(s.id, JSON.stringify(s.matchers), s.untilMs, s.comment, s.createdMs);
  }

  removeSilence(id: string): boolean {
    return this.db.prepare('DELETE FROM silences WHERE id = ?').run(id).changes > 0;
  }

  /** Silences still in force at nowMs (expired ones are kept for a day for `list`, then pruned). */
  silences(nowMs: number, includeExpired = false): Silence[] {
    this.db.prepare('DELETE FROM silences WHERE until_ms < ?').run(nowMs - 86_400_000);
    const rows = (
      includeExpired
        ? this.db.prepare('SELECT * FROM silences ORDER BY until_ms').all()
        : this.db.prepare('SELECT * FROM silences WHERE until_ms > ? ORDER BY until_ms').all(nowMs)
    ) as Array<{ id: string; matchers: string; until_ms: number; comment: string; created_ms: number }>;
    return rows.map((r) => ({
      id: r.id,
      matchers: JSON.parse(r.matchers) as SilenceMatchers,
      untilMs: r.until_ms,
      comment: r.comment,
      createdMs: r.created_ms,
    }));
  }

  // ---- receivers ----------------------------------------------------------------------------

  /** Disabled under this config? A changed config hash re-enables the receiver. */
  isReceiverDisabled(name: string, configHash: string): boolean {
    const r = this.db.prepare('SELECT config_hash, disabled FROM receivers WHERE name = ?').get(name) as { config_hash: string; disabled: number } | undefined;
    return !!r && r.disabled === 1 && r.config_hash === configHash;
  }

  disableReceiver(name: string, configHash: string, nowMs: number, reason: string): void {
    this.db
      .prepare(
        `INSERT INTO receivers (name, config_hash, disabled, disabled_ms, reason) VALUES (?, ?, 1, ?, ?)
         ON CONFLICT (name) DO UPDATE SET config_hash = excluded.config_hash, disabled = 1, disabled_ms = excluded.disabled_ms, reason = excluded.reason`,
      )
      .run(name, configHash, nowMs, reason);
  }

  disabledReceivers(): Array<{ name: string; configHash: string; disabledMs: number | null; reason: string | null }> {
    return (
      this.db.prepare('SELECT * FROM receivers WHERE disabled = 1').all() as Array<{
        name: string;
        config_hash: string;
        disabled_ms: number | null;
        reason: string | null;
      }>
    ).map((r) => ({
      name: r.name,
      configHash: r.config_hash,
      disabledMs: r.disabled_ms,
      reason: r.reason,
    }));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
