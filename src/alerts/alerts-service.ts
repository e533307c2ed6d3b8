/**
 * The alerts composition: outbox + router + delivery loop behind one small API the app, the CLI
 * (`driftwatch alerts test|list|silence`) and the check runner's onFindings use.
 * handle() never throws into the check runner: errors are logged and counted.
 * Receiver configs (which hold secrets) are never passed to the logger; only their names.
 */
import { randomBytes } from 'node:crypto';
import type { AlertsConfig } from '../config/schema.js';
import { DriftwatchError, messageOf } from '../errors.js';
import type { Logger } from '../telemetry/logger.js';
import { parseDurationMs } from '../time-range.js';
import type { AlertMetrics } from './alert-metrics.js';
import { DeliveryWorker, postOnce } from './delivery.js';
import type { Finding } from '../findings/finding.js';
import { alertKeyHash, type Notification } from './notification.js';
import { AlertOutbox, newWebhookId, type AlertStateRow, type OutboxEntry, type Silence, type SilenceMatchers } from './outbox.js';
import { AlertRouter } from './router.js';
import type { AlertHistoryEntry } from './alert-history.js';
import { matchersProblem } from './silences.js';
import { type FleetFindings, handoverFrom, type ShardView } from './handover.js';

export interface AlertsServiceDeps {
  logger: Logger;
  /** Logical clock for alert decisions (repeatInterval, silences, startsAt); default Date.now. */
  now?: () => number;
  metrics?: AlertMetrics;
  /** Real clock for delivery timers and retry ages; default Date.now. */
  clock?: () => number;
  /** Jitter source, [0, 1). */
  random?: () => number;
  maxInFlight?: number;
  pollIntervalMs?: number;
  /** Outbox bound (pending entries); default 100,000. */
  maxPending?: number;
  /** Delivery lease TTL (see delivery.ts); default max(3 x pollIntervalMs, 3 s). */
  leaseTtlMs?: number;
  /** The analyzer's shard (analyzer.shard): recorded in the outbox, and the handover of alerts
   *  between analyzers (handover.ts). Absent (the CLI's alerts commands): no handover. */
  shard?: ShardView;
  /** The fleet's published findings (InfluxDB dw_finding): what a model's previous owner had
   *  firing, so a handover holds back or adopts only that (handover.ts). Absent: no adoption, and
   *  every model that may have been another analyzer's is held back for the grace. */
  fleet?: FleetFindings | null;
}

export interface TestReceiverResult {
  /** HTTP status; 0 when no answer (network error, timeout). */
  status: number;
  body: string;
  ok: boolean;
}

export interface FlushResult {
  /** Entries that were pending for a deliverable receiver when flush() began ... */
  queued: number;
  /** ... of which delivered, failed (permanent answer, 410, retryMaxAge) or still pending at the timeout. */
  delivered: number;
  failed: number;
  pending: number;
  /** Every pending entry in the outbox afterwards (incl. disabled receivers' ones). */
  outboxPending: number;
  timedOut: boolean;
  /** Another process holds the outbox's delivery lease: this one sent nothing and `pending`
   *  entries are left for it (mode long: a running analyze/start, so flush returned at once;
   *  flush: another one-shot run, which flush waited on until the timeout). Else null. */
  holder: { pid: number; mode: 'long' | 'flush' } | null;
}

export interface AlertsList {
  firing: AlertStateRow[];
  resolved: AlertStateRow[];
  /** Outbox entries not delivered: pending (still being tried), failed (given up) and orphaned
   *  (their receiver left the config). */
  undelivered: OutboxEntry[];
  silences: Silence[];
  disabledReceivers: string[];
}

export interface SilenceInput {
  matchers: SilenceMatchers;
  /** Epoch ms, or a duration from now ("2h"). */
  until: number | string;
  comment?: string;
}

export interface AlertsService {
  handle(findings: readonly Finding[]): Promise<void>;
  testReceiver(name: string): Promise<TestReceiverResult>;
  list(): AlertsList;
  silence(input: SilenceInput): string;
  unsilence(id: string): boolean;
  /** Fired and resolved alerts, newest transition first (the admin API's /api/alerts/history). */
  history(limit: number): AlertHistoryEntry[];
  /** Starts delivery (if not running) and waits until every entry pending now for a deliverable
   *  receiver is delivered or failed, or timeoutMs passes; what is left stays pending. When a
   *  running analyzer holds the delivery lease, returns at once (`holder`): it sends them. */
  flush(timeoutMs: number): Promise<FlushResult>;
  /** Long-running delivery (analyze/start): sends while holding the lease, orphans the entries
   *  of receivers not configured here when it takes the lease. */
  start(): void;
  stop(): Promise<void>;
  /** Ends the alerts held for models outside this analyzer's shard (handover.ts); the app calls
   *  it at start, handle() does it on every run. Never throws: errors are logged. */
  handOver(): void;
  /** The outbox (for the admin API and tests). */
  readonly outbox: AlertOutbox;
}

export function createAlertsService(config: AlertsConfig, deps: AlertsServiceDeps): AlertsService {
  const now = deps.now ?? Date.now;
  const logger = deps.logger;
  const retryMaxAgeMs = config.retryMaxAgeMs;
  const names = new Set<string>();
  for (const r of config.receivers) {
    if (names.has(r.name)) throw new DriftwatchError('DW_ERR_CONFIG_INVALID', `alerts.receivers: the name ${r.name} is used twice`);
    names.add(r.name);
    if (r.kind !== 'pagerduty' && !r.url) throw new DriftwatchError('DW_ERR_CONFIG_INVALID', `alerts receiver ${r.name} (${r.kind}) needs a url`);
    if (r.kind === 'pagerduty' && !r.routingKey) throw new DriftwatchError('DW_ERR_CONFIG_INVALID', `alerts receiver ${r.name} (pagerduty) needs a routingKey`);
  }
  for (const route of config.routes) {
    if (!names.has(route.receiver))
      throw new DriftwatchError('DW_ERR_CONFIG_INVALID', `alerts.routes names the receiver ${route.receiver}, which is not configured`);
  }

  const outbox = new AlertOutbox(config.outboxPath, { maxPending: deps.maxPending });
  const handover = deps.shard ? handoverFrom(deps.shard, outbox.recordOwnership(deps.shard.scope, now())) : undefined;
  const router = new AlertRouter(config, outbox, { metrics: deps.metrics, ...(handover ? { handover } : {}) });
  const worker = new DeliveryWorker(
    outbox,
    {
      receivers: config.receivers,
      externalUrl: config.externalUrl,
      dashboardUrl: config.dashboardUrl,
      retryInitialDelayMs: config.retryInitialDelayMs,
      retryMaxDelayMs: Math.max(config.retryMaxDelayMs, config.retryInitialDelayMs),
      retryMaxAgeMs,
      maxInFlight: deps.maxInFlight,
      pollIntervalMs: deps.pollIntervalMs,
      leaseTtlMs: deps.leaseTtlMs,
    },
    { logger, metrics: deps.metrics, clock: deps.clock, random: deps.random, onLeaseAcquired: () => longRunning && orphanUnconfigured() },
  );
  let stopped = false;
  let started = false;
  let longRunning = false;
  let refreshTimer: NodeJS.Timeout | null = null;

  /** alertmanager-api re-posts between check runs (router.refresh); errors are logged, never thrown. */
  function refresh(): void {
    if (stopped) return;
    try {
      const { notifications, dropped } = router.refresh(now());
      if (dropped > 0) {
        deps.metrics?.dropped(dropped);
        logger.warn('alert outbox full: oldest pending notifications dropped', { dropped });
      }
      if (notifications.length) {
        deps.metrics?.outboxDepth(outbox.pendingCount());
        worker.kick();
      }
    } catch (e) {
      deps.metrics?.handleError();
      logger.error('cannot re-post firing alerts to Alertmanager; retrying at the next tick', { error: messageOf(e) });
    }
  }

  /**
   * Orphaning is a decision about the whole outbox ("nobody will ever send these"), so only the
   * long-running process that sends it makes it, when it takes the lease: a one-shot
   * `check --once` with a config lacking one of the analyzer's receivers, or a process that does
   * not hold the lease, must not orphan the analyzer's entries.
   */
  function orphanUnconfigured(): void {
    try {
      for (const [receiver, count] of outbox.orphanUnconfigured([...names], (deps.clock ?? Date.now)())) {
        deps.metrics?.orphaned(count);
        logger.warn('alert receiver no longer configured: its pending notifications are orphaned (driftwatch alerts list shows them)', { receiver, count });
      }
      deps.metrics?.outboxDepth(outbox.pendingCount());
    } catch (e) {
      logger.warn('cannot check the alert outbox for removed receivers', { error: messageOf(e) });
    }
  }

  function startDelivery(long: boolean): void {
    if (stopped || !config.enabled) return;
    if (long && !longRunning) {
      longRunning = true;
      worker.setMode('long');
      // Only the long-running process keeps Alertmanager's alerts alive between check runs; a
      // one-shot run re-posts when it runs (handle()), see resendIntervalMs in docs/alerts.md.
      const every = router.refreshEveryMs();
      if (every !== null) {
        refreshTimer = setInterval(refresh, Math.max(500, Math.floor(every / 2)));
        refreshTimer.unref();
      }
      // already holding the lease from a flush(): the acquisition callback has run without orphaning
      if (started && worker.lease().held) orphanUnconfigured();
    }
    if (started) return;
    started = true;
    try {
      outbox.prune((deps.clock ?? Date.now)());
    } catch (e) {
      logger.warn('cannot prune the alert outbox', { error: messageOf(e) });
    }
    worker.start();
  }

  /**
   * Before the router judges a run: the previous owners' findings of the models in it that this
   * analyzer took over and has not read yet (handover.ts), once per model; the alerts a removed
   * analyzer left firing are adopted. A failed read is logged and tried again at the next run
   * (meanwhile those models are held back, as without the fleet's findings).
   */
  async function settleHandover(findings: readonly Finding[]): Promise<void> {
    if (!handover || !deps.fleet) return;
    const models = handover.unsettled(
      findings.map((f) => f.subject.model),
      now(),
    );
    if (models.length === 0) return;
    try {
      const { adopt, from } = await handover.settle(models, deps.fleet);
      if (stopped) return;
      const adopted = adopt.length ? router.adopt(adopt, now(), from) : 0;
      logger.info('read what the previous owners of taken-over models had firing', { shard: handover.self, models: models.length, adopted });
    } catch (e) {
      logger.warn('cannot read the fleet’s findings for the handover; those models are held back for the grace, and read again at the next run', {
        models: models.length,
        error: messageOf(e),
      });
    }
  }

  return {
    outbox,

    async handle(findings) {
      if (!config.enabled || stopped) return;
      await settleHandover(findings);
      if (stopped) return;
      try {
        const { notifications, dropped } = router.handle(findings, now());
        if (dropped > 0) {
          deps.metrics?.dropped(dropped);
          logger.warn('alert outbox full: oldest pending notifications dropped', { dropped });
        }
        deps.metrics?.outboxDepth(outbox.pendingCount());
        if (notifications.length) {
          logger.info('alert notifications queued', {
            notifications: notifications.length,
            receivers: [...new Set(notifications.map((n) => n.receiver))],
          });
        }
        worker.kick();
      } catch (e) {
        deps.metrics?.handleError();
        logger.error('alert router failed on a check run; its findings were not alerted on', { error: messageOf(e) });
      }
    },

    handOver() {
      if (!config.enabled || stopped || !handover) return;
      try {
        const { notifications, dropped } = router.handOver(now());
        if (dropped > 0) {
          deps.metrics?.dropped(dropped);
          logger.warn('alert outbox full: oldest pending notifications dropped', { dropped });
        }
        if (notifications.length) {
          logger.info('alerts of models now checked by another analyzer handed over', {
            shard: handover.self,
            models: [...new Set(notifications.map((n) => n.model))].length,
            notifications: notifications.length,
          });
          deps.metrics?.outboxDepth(outbox.pendingCount());
          worker.kick();
        }
      } catch (e) {
        deps.metrics?.handleError();
        logger.error('cannot hand over the alerts of models this analyzer no longer checks; retrying at the next run', { error: messageOf(e) });
      }
    },

    async testReceiver(name) {
      const receiver = config.receivers.find((r) => r.name === name);
      if (!receiver) throw new DriftwatchError('DW_ERR_CLI_USAGE', `no alert receiver named ${name} (configured: ${[...names].join(', ') || 'none'})`);
      const t = now();
      const n: Notification = {
        webhookId: newWebhookId(),
        receiver: name,
        model: 'driftwatch-test',
        status: 'firing',
        test: true,
        createdMs: t,
        alerts: [
          {
            key: alertKeyHash(`test\u001f${name}`),
            check: 'drift',
            subject: { model: 'driftwatch-test', version: '1', name: 'test_feature', role: 'input' },
            status: 'firing',
            severity: 'warn',
            metric: 'psi',
            value: 0.2,
            threshold: { warn: 0.1, fail: 0.25, direction: 'above' },
            window: { fromMs: t - 3_600_000, toMs: t, label: '1h' },
            sampleSize: 1000,
            message: 'test alert from driftwatch: test_feature PSI 0.2 >= 0.1 over the last 1h (n=1,000)',
            startsAtMs: t,
          },
        ],
      };
      // Sent directly (not through the outbox): the point is to report what the receiver answers now.
      const res = await postOnce(n, receiver, config, (deps.clock ?? Date.now)());
      logger.info('test alert sent', { receiver: name, status: res.status });
      return { status: res.status < 0 ? 0 : res.status, body: res.body, ok: res.ok };
    },

    list() {
      const t = now();
      return {
        firing: outbox.alerts({ status: 'firing' }),
        resolved: outbox.alerts({ status: 'resolved' }),
        undelivered: [...outbox.entries({ state: 'pending' }), ...outbox.entries({ state: 'failed' }), ...outbox.entries({ state: 'orphaned' })].sort(
          (a, b) => a.id - b.id,
        ),
        silences: outbox.silences(t),
        disabledReceivers: config.receivers.filter((r) => worker.isDisabled(r.name)).map((r) => r.name),
      };
    },

    silence(input) {
      const problem = matchersProblem(input.matchers);
      if (problem) throw new DriftwatchError('DW_ERR_CLI_USAGE', `alerts silence: ${problem}`);
      const t = now();
      let untilMs: number | null;
      if (typeof input.until === 'number') untilMs = input.until;
      else {
        const d = parseDurationMs(input.until);
        untilMs = d !== null ? t + d : Number.isFinite(Date.parse(input.until)) ? Date.parse(input.until) : null;
      }
      if (untilMs === null || !Number.isFinite(untilMs) || untilMs <= t)
        throw new DriftwatchError('DW_ERR_CLI_USAGE', 'alerts silence: until must be a future time or a duration like 2h');
      const id = 'sil_' + randomBytes(9).toString('base64url');
      outbox.addSilence({ id, matchers: { ...input.matchers }, untilMs, comment: input.comment ?? '', createdMs: t });
      logger.info('alert silence added', { id, matchers: input.matchers, untilMs });
      return id;
    },

    unsilence(id) {
      return outbox.removeSilence(id);
    },

    history(limit) {
      return outbox.history.list(limit);
    },

    start() {
      startDelivery(true);
    },

    async flush(timeoutMs) {
      startDelivery(false);
      const deliverable = (e: OutboxEntry) => worker.canDeliver(e.receiver);
      const ids = outbox
        .entries({ state: 'pending', limit: outbox.maxPending })
        .filter(deliverable)
        .map((e) => e.id);
      let timedOut = false;
      // A running analyzer holds the lease: it sends these (it polls the outbox), so do not wait.
      // Another one-shot run holding it finishes within its own timeout: wait for it, then send.
      const heldByAnalyzer = () => {
        const l = worker.lease();
        return !l.held && l.by?.mode === 'long';
      };
      if (ids.length && started && !stopped && !heldByAnalyzer()) {
        const timer = new Promise<void>((r) => {
          const h = setTimeout(() => ((timedOut = true), r()), Math.max(0, timeoutMs));
          h.unref();
        });
        const open = () =>
          ids.some((id) => {
            const e = outbox.get(id);
            return !!e && e.state === 'pending' && deliverable(e);
          });
        while (!timedOut && !stopped && open() && !heldByAnalyzer()) await Promise.race([worker.nextSettle(), timer]);
      }
      const states = ids.map((id) => outbox.get(id)?.state);
      const pending = states.filter((s) => s === 'pending').length;
      const l = worker.lease();
      const holder = !l.held && l.by ? { pid: l.by.pid, mode: l.by.mode } : null;
      return {
        holder,
        queued: ids.length,
        delivered: states.filter((s) => s === 'delivered').length,
        failed: states.filter((s) => s === 'failed' || s === 'orphaned').length,
        pending,
        outboxPending: outbox.pendingCount(),
        timedOut: timedOut && pending > 0 && !(holder?.mode === 'long'),
      };
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      if (refreshTimer) clearInterval(refreshTimer);
      await worker.stop();
      outbox.close();
    },
  };
}
