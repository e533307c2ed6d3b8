/**
 * The history of fired and resolved alerts: one row per firing episode (fired -> severity changes
 * -> resolved), in the outbox's SQLite file (table `alert_history`, migration 3 of outbox.ts), so
 * it survives a restart. `alert_state` holds only the current state per alert (a re-fire
 * overwrites the previous episode) and outbox entries exist only for what was sent (not for a
 * silenced alert) and are pruned after 7 days, so neither is a history.
 *
 * Written by the router inside the transaction that decides the transition, so the history never
 * disagrees with the alert state. Bounded: the MAX_RESOLVED_EPISODES most recently resolved
 * episodes are kept (older ones are deleted when an episode opens or resolves), plus every
 * episode still firing (at most one per alert); an episode keeps at most MAX_TRANSITIONS transitions (the first one and
 * the newest), so an alert flapping between warn and fail cannot grow its row.
 *
 * Delivery state is read at query time from the outbox by webhook-id (its unique index): the
 * episode keeps, per receiver, the id of the latest firing and of the resolved notification.
 */
import type { SqliteDatabase } from '../sqlite.js';
import type { Finding } from '../findings/finding.js';
import { alertKeyHash, type AlertSeverity, type AlertStatus, type Notification } from './notification.js';
import type { OutboxState } from './outbox.js';

/** Resolved episodes kept (the list's bound; firing ones are kept until they resolve). */
export const MAX_RESOLVED_EPISODES = 1000;
/** Transitions kept per episode: the first (fired) and the newest. */
export const MAX_TRANSITIONS = 20;

/** Migration 3 of the outbox file: the table, seeded with the latest episode of every known alert. */
export const ALERT_HISTORY_MIGRATION = `CREATE TABLE alert_history (
     id INTEGER PRIMARY KEY,
     finding_key TEXT NOT NULL,         -- findingKey (alert_state.key)
     check_name TEXT NOT NULL,
     model TEXT NOT NULL,
     version TEXT,
     name TEXT NOT NULL,                -- feature, prediction column or rule
     role TEXT,
     severity TEXT NOT NULL,            -- the severity it fires (or last fired) with
     fired_ms INTEGER NOT NULL,
     resolved_ms INTEGER,               -- null while it fires
     changed_ms INTEGER NOT NULL,       -- its latest transition: the list is newest first by this
     message TEXT NOT NULL,             -- the firing finding's message at the latest transition
     transitions TEXT NOT NULL,         -- JSON [{ state, severity, atMs }]
     receivers TEXT NOT NULL            -- JSON { receiver: { firing?: webhookId, resolved?: webhookId } }
   );
   CREATE INDEX alert_history_key ON alert_history (finding_key, id);
   CREATE INDEX alert_history_changed ON alert_history (changed_ms, id);
   INSERT INTO alert_history (finding_key, check_name, model, version, name, role, severity, fired_ms, resolved_ms, changed_ms, message, transitions, receivers)
   SELECT key, check_name, model, json_extract(finding, '$.subject.version'), json_extract(finding, '$.subject.name'),
     json_extract(finding, '$.subject.role'), severity, starts_ms, CASE WHEN status = 'resolved' THEN ends_ms END, updated_ms,
     COALESCE(json_extract(finding, '$.message'), ''),
     CASE WHEN status = 'resolved' AND ends_ms IS NOT NULL
       THEN json_array(json_object('state', 'firing', 'severity', severity, 'atMs', starts_ms), json_object('state', 'resolved', 'severity', severity, 'atMs', ends_ms))
       ELSE json_array(json_object('state', 'firing', 'severity', severity, 'atMs', starts_ms)) END,
     COALESCE((SELECT json_group_object(j.key, json('{}')) FROM json_each(alert_state.notified) AS j), '{}')
   FROM alert_state ORDER BY starts_ms;`;

export interface AlertTransition {
  state: AlertStatus;
  severity: AlertSeverity;
  atMs: number;
  /** Why it resolved when not because its finding came back ok (a handover to another analyzer),
   *  or why it fired without a finding of this analyzer (adopted from one that was removed). */
  reason?: string;
}

/** One notification of an episode to one receiver, with its outbox state now. */
export interface DeliveryView {
  webhookId: string;
  /** pruned: the outbox entry is gone (finished entries are kept 7 days). */
  state: OutboxState | 'pruned';
  attempts: number;
  /** The receiver's last HTTP status (0 or null: no answer). */
  lastStatus: number | null;
  /** When it was delivered, failed or last tried. */
  atMs: number | null;
}

export interface AlertHistoryEntry {
  id: number;
  /** The alert's stable id, as receivers see it (the webhook's alerts[].key; PagerDuty's dedup_key is driftwatch-<key>). */
  key: string;
  check: string;
  model: string;
  version: string | null;
  name: string;
  role: string | null;
  state: AlertStatus;
  severity: AlertSeverity;
  firedAtMs: number;
  resolvedAtMs: number | null;
  message: string;
  transitions: AlertTransition[];
  /** Receivers told of this episode; empty when none was (silenced, or no route for it). */
  receivers: Array<{ name: string; firing: DeliveryView | null; resolved: DeliveryView | null }>;
}

interface HistoryRow {
  id: number;
  finding_key: string;
  check_name: string;
  model: string;
  version: string | null;
  name: string;
  role: string | null;
  severity: AlertSeverity;
  fired_ms: number;
  resolved_ms: number | null;
  changed_ms: number;
  message: string;
  transitions: string;
  receivers: string;
}

type ReceiverIds = Record<string, { firing?: string; resolved?: string }>;

function capped(list: AlertTransition[]): AlertTransition[] {
  return list.length <= MAX_TRANSITIONS ? list : [list[0]!, ...list.slice(list.length - (MAX_TRANSITIONS - 1))];
}

export class AlertHistory {
  constructor(private readonly db: SqliteDatabase) {}

  /** The alert started firing: a new episode (`reason`: adopted from another analyzer). */
  fired(findingKey: string, f: Finding, severity: AlertSeverity, nowMs: number, reason?: string): void {
    const s = f.subject;
    this.db
      .prepare(
        `INSERT INTO alert_history (finding_key, check_name, model, version, name, role, severity, fired_ms, changed_ms, message, transitions, receivers)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}')`,
      )
      .run(
        findingKey,
        f.check,
        s.model,
        s.version,
        s.name,
        s.role ?? null,
        severity,
        nowMs,
        nowMs,
        f.message,
        JSON.stringify([{ state: 'firing', severity, atMs: nowMs, ...(reason !== undefined ? { reason } : {}) }]),
      );
    this.prune();
  }

  /** A firing alert changed severity (warn -> fail, fail -> warn, to or from error). */
  severityChanged(findingKey: string, f: Finding, severity: AlertSeverity, nowMs: number): void {
    const row = this.open(findingKey);
    if (!row) return;
    const transitions = capped([...(JSON.parse(row.transitions) as AlertTransition[]), { state: 'firing', severity, atMs: nowMs }]);
    this.db
      .prepare('UPDATE alert_history SET severity = ?, changed_ms = ?, message = ?, transitions = ? WHERE id = ?')
      .run(severity, nowMs, f.message, JSON.stringify(transitions), row.id);
  }

  /** The alert resolved (its finding came back ok, or `reason`). */
  resolved(findingKey: string, nowMs: number, reason?: string): void {
    const row = this.open(findingKey);
    if (!row) return;
    const step: AlertTransition = { state: 'resolved', severity: row.severity, atMs: nowMs, ...(reason !== undefined ? { reason } : {}) };
    const transitions = capped([...(JSON.parse(row.transitions) as AlertTransition[]), step]);
    this.db
      .prepare('UPDATE alert_history SET resolved_ms = ?, changed_ms = ?, transitions = ? WHERE id = ?')
      .run(nowMs, nowMs, JSON.stringify(transitions), row.id);
    this.prune();
  }

  /**
   * Notes which notification told each receiver of each episode (the latest firing one, and the
   * resolved one). `findingKeyOf` maps an alert item's key (the hash) back to its findingKey.
   */
  notified(notifications: readonly Notification[], findingKeyOf: ReadonlyMap<string, string>): void {
    const touched = new Map<number, { row: HistoryRow; ids: ReceiverIds }>();
    for (const n of notifications) {
      for (const a of n.alerts) {
        const fk = findingKeyOf.get(a.key);
        if (fk === undefined) continue;
        const row = this.latest(fk);
        if (!row) continue;
        // A severity change posts the old severity's alert resolved to Alertmanager: the episode goes on.
        if (a.status === 'resolved' && row.resolved_ms === null) continue;
        const entry = touched.get(row.id) ?? { row, ids: JSON.parse(row.receivers) as ReceiverIds };
        entry.ids[n.receiver] = { ...entry.ids[n.receiver], [a.status]: n.webhookId };
        touched.set(row.id, entry);
      }
    }
    const upd = this.db.prepare('UPDATE alert_history SET receivers = ? WHERE id = ?');
    for (const { row, ids } of touched.values()) upd.run(JSON.stringify(ids), row.id);
  }

  /** The newest `limit` episodes by their latest transition, with each notification's outbox state. */
  list(limit: number): AlertHistoryEntry[] {
    const rows = this.db
      .prepare('SELECT * FROM alert_history ORDER BY changed_ms DESC, id DESC LIMIT ?')
      .all(Math.max(0, Math.min(limit, MAX_RESOLVED_EPISODES * 10))) as HistoryRow[];
    const parsed = rows.map((r) => ({ r, ids: JSON.parse(r.receivers) as ReceiverIds }));
    const wanted = new Set<string>();
    for (const { ids } of parsed) for (const v of Object.values(ids)) for (const id of [v.firing, v.resolved]) if (id) wanted.add(id);
    const states = this.deliveries([...wanted]);
    const view = (id: string | undefined): DeliveryView | null =>
      id === undefined ? null : (states.get(id) ?? { webhookId: id, state: 'pruned', attempts: 0, lastStatus: null, atMs: null });
    return parsed.map(({ r, ids }) => ({
      id: r.id,
      key: alertKeyHash(r.finding_key),
      check: r.check_name,
      model: r.model,
      version: r.version,
      name: r.name,
      role: r.role,
      state: r.resolved_ms === null ? 'firing' : 'resolved',
      severity: r.severity,
      firedAtMs: r.fired_ms,
      resolvedAtMs: r.resolved_ms,
      message: r.message,
      transitions: JSON.parse(r.transitions) as AlertTransition[],
      receivers: Object.keys(ids)
        .sort()
        .map((name) => ({ name, firing: view(ids[name]!.firing), resolved: view(ids[name]!.resolved) })),
    }));
  }

  /** Keeps the MAX_RESOLVED_EPISODES most recently resolved episodes; firing ones stay until they resolve. */
  private prune(): void {
    this.db
      .prepare(
        `DELETE FROM alert_history WHERE id IN (
           SELECT id FROM alert_history WHERE resolved_ms IS NOT NULL ORDER BY changed_ms DESC, id DESC LIMIT -1 OFFSET ?)`,
      )
      .run(MAX_RESOLVED_EPISODES);
  }

  private open(findingKey: string): HistoryRow | null {
    const row = this.latest(findingKey);
    return row && row.resolved_ms === null ? row : null;
  }

  private latest(findingKey: string): HistoryRow | null {
    return (this.db.prepare('SELECT * FROM alert_history WHERE finding_key = ? ORDER BY id DESC LIMIT 1').get(findingKey) as HistoryRow | undefined) ?? null;
  }

  private deliveries(ids: readonly string[]): Map<string, DeliveryView> {
    const out = new Map<string, DeliveryView>();
    // SQLite's default limit on bound parameters is 999 (32766 since 3.32): chunks of 500.
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const rows = this.db
        .prepare(
          `SELECT webhook_id, state, attempts, last_status, last_attempt_ms, done_ms FROM outbox WHERE webhook_id IN (${chunk.map(() => '?').join(', ')})`,
        )
        .all(...chunk) as Array<{
        webhook_id: string;
        state: OutboxState;
        attempts: number;
        last_status: number | null;
        last_attempt_ms: number | null;
        done_ms: number | null;
      }>;
      for (const r of rows)
        out.set(r.webhook_id, {
          webhookId: r.webhook_id,
          state: r.state,
          attempts: r.attempts,
          lastStatus: r.last_status,
          atMs: r.done_ms ?? r.last_attempt_ms,
        });
    }
    return out;
  }
}
