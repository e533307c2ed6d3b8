/**
 * The alerts' Prometheus metrics on a registry passed in (never prom-client's global one).
 * Kept apart from telemetry/metrics.ts for now; it implements the injected interfaces the router,
 * the delivery loop and the service report through, so those never import prom-client.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { DeliveryMetrics, DeliveryOutcome } from './delivery.js';
import type { AlertSeverity } from './notification.js';
import type { RouterMetrics } from './router.js';

export interface AlertMetrics extends DeliveryMetrics, RouterMetrics {
  /** handle() failed (the check runner is never told; the error is logged). */
  handleError(): void;
  /** Pending notifications orphaned (by the long-running lease holder) because their receiver left the config. */
  orphaned(count: number): void;
}

export const DELIVERY_BUCKETS_SECONDS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export function createAlertMetrics(registry: Registry): AlertMetrics {
  const registers = [registry];
  const depth = new Gauge({ name: 'driftwatch_alerts_outbox_depth', help: 'Notifications in the alert outbox not yet delivered or given up on.', registers });
  const seconds = new Histogram({
    name: 'driftwatch_alerts_delivery_seconds',
    help: 'Duration of one delivery attempt that got an HTTP answer, by receiver.',
    labelNames: ['receiver'],
    buckets: DELIVERY_BUCKETS_SECONDS,
    registers,
  });
  const deliveries = new Counter({
    name: 'driftwatch_alerts_deliveries_total',
    help: 'Delivery attempts by receiver and outcome (delivered, retry, failed).',
    labelNames: ['receiver', 'outcome'],
    registers,
  });
  const fired = new Counter({
    name: 'driftwatch_alerts_fired_total',
    help: 'Alerts that turned firing, by check and severity.',
    labelNames: ['check', 'severity'],
    registers,
  });
  const dropped = new Counter({
    name: 'driftwatch_alerts_dropped_total',
    help: 'Notifications dropped because the outbox was full (oldest first).',
    registers,
  });
  const orphaned = new Counter({
    name: 'driftwatch_alerts_orphaned_total',
    help: 'Pending notifications given up because their receiver is no longer configured (by the delivering analyzer).',
    registers,
  });
  const errors = new Counter({
    name: 'driftwatch_alerts_errors_total',
    help: 'Check runs (and alertmanager-api re-post passes) whose alerts the alert router could not process (logged).',
    registers,
  });
  const handovers = new Counter({
    name: 'driftwatch_alerts_handovers_total',
    help: 'Firing alerts handed over between sharded analyzers: out, ended here for the analyzer that checks the model now; in, adopted from an analyzer that was removed.',
    labelNames: ['direction'],
    registers,
  });
  const held = new Counter({
    name: 'driftwatch_alerts_handover_held_total',
    help: 'Firing notifications held back for analyzer.handoverGrace (a model taken over from another analyzer), one per alert and receiver per run.',
    registers,
  });
  return {
    handedOver: (direction: 'out' | 'in', n: number) => handovers.inc({ direction }, n),
    held: (n: number) => held.inc(n),
    outboxDepth: (n: number) => depth.set(n),
    deliverySeconds: (receiver: string, s: number) => seconds.observe({ receiver }, s),
    delivery: (receiver: string, outcome: DeliveryOutcome) => deliveries.inc({ receiver, outcome }),
    dropped: (n: number) => dropped.inc(n),
    fired: (check: string, severity: AlertSeverity) => fired.inc({ check, severity }),
    handleError: () => errors.inc(),
    orphaned: (n: number) => orphaned.inc(n),
  };
}
