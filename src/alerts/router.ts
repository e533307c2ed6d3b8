/**
 * The alert router: turns each check run's findings into notifications, with state per
 * findingKey kept in the outbox database so a restart neither re-pages nor forgets.
 *
 * Per finding (time is passed in; the router never reads the clock):
 * - warn | fail | error: the alert fires. Each receiver routed for that severity and model is told
 *   when it has not been told yet, when the severity escalates above what it was told (warn ->
 *   fail), or when repeatInterval has passed since it was last told. Silenced alerts are tracked
 *   but not sent; once the silence ends, the next evaluation sends them.
 * - ok: a firing alert resolves (the resolved alert carries the ok finding's value and message and
 *   the severity it last fired with); every receiver that was told it fires is told it resolved
 *   (silences do not hold back resolutions: a receiver must not keep an incident open forever).
 * - insufficientData: neither fires nor resolves (too few observations to say anything).
 * - A finding missing from a run changes nothing.
 * Flapping: a receiver that was told "resolved" is told "firing" again at most once per
 * repeatInterval after its previous firing notification (escalations excepted), so an alert
 * flapping every run costs one firing + one resolved per repeatInterval, not one per run.
 *
 * alertmanager-api receivers (an Alertmanager server, which resolves an alert whose endsAt passed)
 * differ: a firing alert is re-posted every resendIntervalMs of the receiver (not repeatInterval;
 * Alertmanager does its own repeat and flap handling), by handle() and by refresh() (a timer in
 * the long-running process, so the alert stays active between check runs); a re-fire after a
 * resolve and a severity change are posted at once, the change with the old-severity alert
 * resolved in the same post (severity is a label, so Alertmanager sees two alerts).
 *
 * Handover (analyzer.shard, handover.ts): before each call's findings, every firing alert on a
 * model this analyzer no longer checks is ended here (resolved, or one last Alertmanager post) and
 * told to name the analyzer that has it now; a model this analyzer took over from another one has
 * its first firing notifications held back from explicit-resolve receivers for the handover grace;
 * the alerts a removed analyzer left firing are adopted (adopt()) before the run that judges them.
 *
 * Grouping: one notification per (receiver, model) per handle() call with all that model's
 * alerts that changed; a pagerduty receiver gets one notification per alert (PagerDuty groups by
 * dedup_key). Everything one call decides commits in one transaction with the enqueues, the
 * alert history (fired, severity changed, resolved, who was told: alert-history.ts) included.
 */
import type { AlertsConfig, ReceiverConfig } from '../config/schema.js';
import { findingKey, type Finding } from '../findings/finding.js';
import { alertKeyHash, groupStatus, type AlertItem, type AlertSeverity, type Notification } from './notification.js';
import { newWebhookId, type AlertOutbox, type AlertStateRow } from './outbox.js';
import { activeSilenceFor } from './silences.js';
import { DEFAULT_RESEND_INTERVAL_MS, ENDS_AT_RESENDS } from './formats/alertmanager-api.js';
import { type Handover, handoverMessage, inGrace } from './handover.js';

/** warn and error rank alike: moving between them is a change of kind, not an escalation. */
const RANK: Record<AlertSeverity, number> = { warn: 1, error: 1, fail: 2 };
/** Without routes every receiver gets warn and fail (the route default); error needs a route. */
const DEFAULT_SEVERITIES: readonly AlertSeverity[] = ['warn', 'fail'];

export interface RouterMetrics {
  /** An alert turned firing (once per firing episode, silenced or not). */
  fired(check: string, severity: AlertSeverity): void;
  /** Firing alerts handed over: `out` ended here for another analyzer, `in` adopted from a removed one. */
  handedOver?(direction: 'out' | 'in', count: number): void;
  /** Firing notifications held back for the handover grace (one per alert and receiver per run). */
  held?(count: number): void;
}

export interface RouterResult {
  notifications: Notification[];
  dropped: number;
}

export class AlertRouter {
  private readonly repeatMs: number;
  private readonly receivers: Map<string, ReceiverConfig>;
  /** Alert item key (hash) -> findingKey of the items built in the current call (for the history). */
  private readonly itemKeys = new Map<string, string>();

  constructor(
    private readonly config: AlertsConfig,
    private readonly outbox: AlertOutbox,
    private readonly deps: { metrics?: RouterMetrics; newId?: () => string; handover?: Handover } = {},
  ) {
    this.repeatMs = config.repeatIntervalMs;
    this.receivers = new Map(config.receivers.map((r) => [r.name, r]));
  }

  /** Receivers an alert of this severity on this model goes to. */
  receiversFor(severity: AlertSeverity, model: string): string[] {
    if (this.config.routes.length === 0) return DEFAULT_SEVERITIES.includes(severity) ? [...this.receivers.keys()] : [];
    const out = new Set<string>();
    for (const r of this.config.routes) {
      if (!this.receivers.has(r.receiver)) continue;
      if (!r.severities.includes(severity)) continue;
      if (r.models.length > 0 && !r.models.includes(model)) continue;
      out.add(r.receiver);
    }
    return [...out];
  }

  /** Evaluates one run's findings, updates state and enqueues notifications, in one transaction. */
  handle(findings: readonly Finding[], nowMs: number): RouterResult {
    return this.outbox.transaction(() => {
      this.itemKeys.clear();
      let heldBack = 0;
      const silences = this.outbox.silences(nowMs);
      // receiver -> model -> alerts, insertion-ordered so notifications come out in finding order
      const groups = new Map<string, Map<string, AlertItem[]>>();
      const add = (receiver: string, item: AlertItem) => {
        let byModel = groups.get(receiver);
        if (!byModel) groups.set(receiver, (byModel = new Map()));
        const list = byModel.get(item.subject.model);
        if (list) list.push(item);
        else byModel.set(item.subject.model, [item]);
      };
      this.sweep(add, nowMs);
      // the same key twice in one run: the last finding wins
      const latest = new Map<string, Finding>();
      for (const f of findings) latest.set(findingKey(f), f);

      for (const [key, f] of latest) {
        if (f.insufficientData) continue;
        const prev = this.outbox.getAlert(key);
        if (f.status === 'ok') {
          if (prev?.status !== 'firing') continue;
          const next: AlertStateRow = { ...prev, status: 'resolved', endsMs: nowMs, updatedMs: nowMs, notified: { ...prev.notified } };
          for (const [r, notice] of Object.entries(prev.notified)) {
            if (!notice.open) continue;
            next.notified[r] = { ...notice, open: false };
            // Alertmanager matches the labels it was told, severity included
            const told = this.isApi(r) ? notice.severity : prev.severity;
            if (this.receivers.has(r)) add(r, this.item(key, f, 'resolved', told, prev.startsMs, nowMs));
          }
          this.outbox.putAlert(next);
          this.outbox.history.resolved(key, nowMs);
          continue;
        }
        const severity: AlertSeverity = f.status;
        const startsMs = prev && prev.status === 'firing' ? prev.startsMs : nowMs;
        if (prev?.status !== 'firing') {
          this.deps.metrics?.fired(f.check, severity);
          this.outbox.history.fired(key, f, severity, nowMs);
        } else if (prev.severity !== severity) this.outbox.history.severityChanged(key, f, severity, nowMs);
        const next: AlertStateRow = {
          key,
          check: f.check,
          model: f.subject.model,
          status: 'firing',
          severity,
          startsMs,
          endsMs: null,
          updatedMs: nowMs,
          finding: f,
          notified: { ...(prev?.notified ?? {}) },
        };
        const held = inGrace(this.deps.handover, f.subject.model, nowMs);
        if (!activeSilenceFor(silences, f, nowMs)) {
          for (const r of this.receiversFor(severity, f.subject.model)) {
            const told = next.notified[r];
            const api = this.isApi(r);
            // a model taken over from another analyzer: its "resolved" goes first (handover.ts)
            if (held && !api && !told?.open) {
              heldBack++;
              continue;
            }
            const due = api
              ? !told?.open || told.severity !== severity || nowMs - told.atMs >= this.resendMs(r)
              : !told || RANK[severity] > RANK[told.severity] || nowMs - told.atMs >= this.repeatMs;
            if (!due) continue;
            if (api && told?.open && told.severity !== severity) add(r, this.item(key, f, 'resolved', told.severity, startsMs, nowMs));
            next.notified[r] = { atMs: nowMs, severity, open: true };
            add(r, this.item(key, f, 'firing', severity, startsMs));
          }
        }
        this.outbox.putAlert(next);
      }

      if (heldBack > 0) this.deps.metrics?.held?.(heldBack);
      return this.enqueueGroups(groups, nowMs);
    });
  }

  /**
   * Adopts the alerts an analyzer that is gone left firing (handover.ts): `found` are its latest
   * firing findings, published before this analyzer took their models. Each becomes this
   * outbox's firing alert, the receivers it routes to counted as told at the finding's time
   * (Alertmanager: unless it has ended it already), so the next finding decides as if this
   * analyzer had raised it: back to ok resolves it once at every receiver, still firing repeats
   * only after repeatInterval. Nothing is sent here. A key this outbox has a state for that is as
   * new as the finding, or firing, is its own and left alone, so adopting again changes nothing.
   * Returns how many were adopted.
   */
  adopt(found: readonly Finding[], nowMs: number, from: (model: string) => string): number {
    return this.outbox.transaction(() => {
      let adopted = 0;
      for (const f of found) {
        if (f.status === 'ok' || f.insufficientData) continue;
        const key = findingKey(f);
        const prev = this.outbox.getAlert(key);
        if (prev && (prev.status === 'firing' || prev.updatedMs >= f.at)) continue;
        const severity: AlertSeverity = f.status;
        const notified: AlertStateRow['notified'] = {};
        for (const r of this.receiversFor(severity, f.subject.model)) {
          if (this.isApi(r) && nowMs - f.at >= ENDS_AT_RESENDS * this.resendMs(r)) continue;
          notified[r] = { atMs: f.at, severity, open: true };
        }
        this.outbox.putAlert({
          key,
          check: f.check,
          model: f.subject.model,
          status: 'firing',
          severity,
          startsMs: f.at,
          endsMs: null,
          updatedMs: nowMs,
          finding: f,
          notified,
        });
        this.outbox.history.fired(key, f, severity, nowMs, `adopted from ${from(f.subject.model)}`);
        adopted++;
      }
      if (adopted > 0) this.deps.metrics?.handedOver?.('in', adopted);
      return adopted;
    });
  }

  /**
   * Ends the alerts this analyzer holds for models it no longer checks (see handover.ts), in one
   * transaction with their notifications; what handle() also does first on every call.
   */
  handOver(nowMs: number): RouterResult {
    if (!this.deps.handover) return { notifications: [], dropped: 0 };
    return this.outbox.transaction(() => {
      this.itemKeys.clear();
      const groups = new Map<string, Map<string, AlertItem[]>>();
      this.sweep((receiver, item) => {
        let byModel = groups.get(receiver);
        if (!byModel) groups.set(receiver, (byModel = new Map()));
        const list = byModel.get(item.subject.model);
        if (list) list.push(item);
        else byModel.set(item.subject.model, [item]);
      }, nowMs);
      return this.enqueueGroups(groups, nowMs);
    });
  }

  /**
   * Every receiver told an alert fires hears once that it was handed over: resolved (with the
   * new owner named), or for alertmanager-api a last post of it firing, left to run to its endsAt
   * unless the new owner's posts continue it. The state turns resolved, so nothing here repeats,
   * re-posts or resolves it again. Silences do not hold it back (as for any resolution).
   */
  private sweep(add: (receiver: string, item: AlertItem) => void, nowMs: number): void {
    const h = this.deps.handover;
    if (!h) return;
    for (const model of this.outbox.firingModels()) {
      if (model === '*' || h.owns(model)) continue;
      const handover = { from: h.self, to: h.ownerOf(model) };
      for (const prev of this.outbox.firingAlertsOf(model)) {
        const f: Finding = { ...prev.finding, message: handoverMessage(h, model, prev.finding.message) };
        const next: AlertStateRow = { ...prev, status: 'resolved', endsMs: nowMs, updatedMs: nowMs, notified: { ...prev.notified } };
        for (const [r, notice] of Object.entries(prev.notified)) {
          if (!notice.open) continue;
          next.notified[r] = { ...notice, open: false };
          if (!this.receivers.has(r)) continue;
          // Alertmanager ended it already (no post for ENDS_AT_RESENDS intervals: an analyzer that
          // was down): posting it now would revive it.
          if (this.isApi(r) && nowMs - notice.atMs >= ENDS_AT_RESENDS * this.resendMs(r)) continue;
          const item = this.isApi(r)
            ? this.item(prev.key, f, 'firing', notice.severity, prev.startsMs)
            : this.item(prev.key, f, 'resolved', prev.severity, prev.startsMs, nowMs);
          add(r, { ...item, handover });
        }
        this.outbox.putAlert(next);
        this.outbox.history.resolved(prev.key, nowMs, `handed over to ${handover.to}`);
        this.deps.metrics?.handedOver?.('out', 1);
      }
    }
  }

  /**
   * Re-posts every firing alert an alertmanager-api receiver was told about longer than its
   * resendIntervalMs ago, so Alertmanager (which resolves an alert once its endsAt passes) keeps
   * it active between check runs. A (receiver, model) with a pending entry is skipped: that entry
   * is rendered with a fresh endsAt when it is sent, and re-posts must not pile up behind an
   * Alertmanager that is down. Silenced alerts are not re-posted (as handle() does not send them).
   */
  refresh(nowMs: number): RouterResult {
    const api = [...this.receivers.values()].filter((r) => r.kind === 'alertmanager-api').map((r) => r.name);
    if (api.length === 0) return { notifications: [], dropped: 0 };
    return this.outbox.transaction(() => {
      this.itemKeys.clear();
      const silences = this.outbox.silences(nowMs);
      const groups = new Map<string, Map<string, AlertItem[]>>();
      for (const prev of this.outbox.alerts({ status: 'firing', limit: 100_000 })) {
        if (activeSilenceFor(silences, prev.finding, nowMs)) continue;
        const routed = new Set(this.receiversFor(prev.severity, prev.model));
        let changed = false;
        const next: AlertStateRow = { ...prev, notified: { ...prev.notified } };
        for (const r of api) {
          const told = prev.notified[r];
          if (!told?.open || !routed.has(r) || told.severity !== prev.severity) continue;
          if (nowMs - told.atMs < this.resendMs(r) || this.outbox.hasPending(r, prev.model)) continue;
          next.notified[r] = { ...told, atMs: nowMs };
          changed = true;
          let byModel = groups.get(r);
          if (!byModel) groups.set(r, (byModel = new Map()));
          const item = this.item(prev.key, prev.finding, 'firing', prev.severity, prev.startsMs);
          const list = byModel.get(prev.model);
          if (list) list.push(item);
          else byModel.set(prev.model, [item]);
        }
        if (changed) this.outbox.putAlert(next);
      }
      return this.enqueueGroups(groups, nowMs);
    });
  }

  /** The shortest resend interval of the alertmanager-api receivers (null: there are none). */
  refreshEveryMs(): number | null {
    const api = [...this.receivers.values()].filter((r) => r.kind === 'alertmanager-api');
    return api.length ? Math.min(...api.map((r) => this.resendMs(r.name))) : null;
  }

  private isApi(receiver: string): boolean {
    return this.receivers.get(receiver)?.kind === 'alertmanager-api';
  }

  private resendMs(receiver: string): number {
    return this.receivers.get(receiver)?.resendIntervalMs ?? DEFAULT_RESEND_INTERVAL_MS;
  }

  private enqueueGroups(groups: Map<string, Map<string, AlertItem[]>>, nowMs: number): RouterResult {
    const notifications: Notification[] = [];
    for (const [receiver, byModel] of groups) {
      const kind = this.receivers.get(receiver)?.kind;
      for (const [model, alerts] of byModel) {
        const batches = kind === 'pagerduty' ? alerts.map((a) => [a]) : [alerts];
        for (const batch of batches) {
          notifications.push({ webhookId: (this.deps.newId ?? newWebhookId)(), receiver, model, status: groupStatus(batch), alerts: batch, createdMs: nowMs });
        }
      }
    }
    const dropped = notifications.length ? this.outbox.enqueue(notifications, nowMs) : 0;
    if (notifications.length) this.outbox.history.notified(notifications, this.itemKeys);
    return { notifications, dropped };
  }

  private item(key: string, f: Finding, status: 'firing' | 'resolved', severity: AlertSeverity, startsMs: number, endsMs?: number): AlertItem {
    const hash = alertKeyHash(key);
    this.itemKeys.set(hash, key);
    return {
      key: hash,
      check: f.check,
      subject: f.subject,
      status,
      severity,
      metric: f.metric,
      value: f.value,
      threshold: f.threshold,
      window: f.window,
      sampleSize: f.sampleSize,
      message: f.message,
      startsAtMs: startsMs,
      ...(endsMs !== undefined ? { endsAtMs: endsMs } : {}),
    };
  }
}
