/**
 * The analysis side as an application: the scheduled checks over a store and a registry, their
 * findings handed to the sinks (history, the InfluxDB copy, alerts), and its admin port.
 */
import type { AddressInfo } from 'node:net';
import { createAlertMetrics } from '../alerts/alert-metrics.js';
import { type AlertsService, createAlertsService } from '../alerts/alerts-service.js';
import { type ChallengerCheckDeps, createChallengerCheck } from '../checks/challenger.js';
import { storeChallengerDeps } from '../checks/challenger-store.js';
import { CheckRunner } from '../checks/check-runner.js';
import { createDataQualityCheck } from '../checks/data-quality.js';
import { createDriftCheck } from '../checks/drift.js';
import { createSloCheck } from '../checks/slo.js';
import { createQualityCheck } from '../checks/quality.js';
import { createStalenessCheck } from '../checks/staleness.js';
import { formatShard, modelOwner, type Shard, shardView } from '../checks/shard.js';
import { createSharedWindowReader } from '../checks/window-reader.js';
import type { Config } from '../config/schema.js';
import { FindingStore, historySink } from '../findings/history.js';
import type { FindingSink } from '../findings/sink.js';
import type { ModelRegistry } from '../registry/types.js';
import type { StatsStore } from '../store/types.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import { createCheckMetrics, createServeMetrics, type ServeMetrics } from '../telemetry/metrics.js';
import { createAdmin } from './admin.js';
import type { PredictionLog } from '../outcomes/prediction-log.js';
import { pairedQualityFrom } from '../outcomes/paired-quality-source.js';
import { createPredictionLog, createRegistry, fleetFindingsFor, publisherFor } from './backends.js';

/** How often findings past their retention are pruned. */
const PRUNE_INTERVAL_MS = 3_600_000;

export interface AnalyzerDeps {
  store: StatsStore;
  /** Findings store (default: checks.findingsPath; the app closes only one it made). */
  findings?: FindingStore;
  registry?: ModelRegistry;
  logger?: Logger;
  /** Register the check metrics here (the scoring server's registry in `start`). */
  metricsRegistry?: ServeMetrics['registry'];
  /** The prediction log the quality check reads (default: the one labels.* names, when enabled; the app closes only one it made). */
  predictionLog?: PredictionLog | null;
  /** Drift and data quality share their window reads when they can (default true; false: each
   *  reads its own, the behaviour before issue 22, for bench/analyzer-bench.ts's A/B). */
  shareWindowReads?: boolean;
  /** The SLO check keeps settled hours' sums between runs (default true; false: it reads every
   *  window every run, the behaviour before issue 22, for bench/analyzer-bench.ts's A/B). */
  sloCache?: boolean;
  /**
   * The challenger check over the store's comparison windows (checks/challenger-store.ts), which
   * the processes that shadow write. false: not run here (`start` runs it over its scoring
   * server's comparisons in memory, so it would file every finding twice). An object: the check's
   * further deps, wired here beside the store's (e.g. both models' quality on labelled pairs).
   */
  challenger?: false | Partial<ChallengerCheckDeps>;
  /** Run an admin server of its own (`driftwatch analyze`); false inside `start`. */
  admin?: boolean;
  now?: () => number;
}

export interface AnalyzerApp {
  readonly runner: CheckRunner;
  readonly findings: FindingStore;
  readonly alerts: AlertsService;
  start(): Promise<{ admin: AddressInfo | null }>;
  close(): Promise<void>;
}

export function createAnalyzerApp(config: Config, deps: AnalyzerDeps): AnalyzerApp {
  const logger = deps.logger ?? createLogger({ level: config.log.level });
  const registry = deps.registry ?? createRegistry(config, { logger });
  const { store } = deps;
  const ownFindings = !deps.findings;
  const findings = deps.findings ?? new FindingStore(config.checks.findingsPath, config.checks.findingsRetentionDays);
  const metricsRegistry = deps.metricsRegistry ?? createServeMetrics().registry;
  // analyzer.shard i/n: this analyzer checks (and alerts on) only the models shard.ts gives it.
  const shard: Shard = { index: config.analyzer.shardIndex, count: config.analyzer.shardCount };
  const owns = shard.count > 1 ? modelOwner(shard) : undefined;
  const scope = owns ? { owns } : {};
  // Findings become alerts (dedupe, repeat interval, resolve, silences) delivered from a durable
  // outbox; those of models that moved to or from another analyzer are handed over (handover.ts).
  const alerts = createAlertsService(config.alerts, {
    logger,
    metrics: createAlertMetrics(metricsRegistry),
    shard: shardView(shard, config.analyzer.handoverGraceMs),
    fleet: fleetFindingsFor(store),
    ...(deps.now ? { now: deps.now } : {}),
  });
  const metrics = createCheckMetrics(metricsRegistry);
  const publisher = publisherFor(store, { logger });
  const ownLog = deps.predictionLog === undefined;
  const predictionLog = deps.predictionLog === undefined ? createPredictionLog(config, { logger }) : deps.predictionLog;
  const sinks: FindingSink[] = [
    historySink(findings, logger),
    // With InfluxDB the findings also go next to the statistics (dw_finding) for the dashboards.
    ...(publisher ? [publisher] : []),
    { name: 'alerts', accept: (run) => alerts.handle(run.findings) },
  ];
  const checks = config.checks;
  // Drift and data quality judge the same window on the same schedule by default: one read and
  // merge per version serves both (window-reader.ts). Otherwise each reads its own.
  const windows =
    deps.shareWindowReads !== false &&
    checks.drift.enabled &&
    checks.dataQuality.enabled &&
    checks.drift.windowMs === checks.dataQuality.windowMs &&
    checks.drift.schedule === checks.dataQuality.schedule
      ? { windows: createSharedWindowReader(store, { consumers: 2 }) }
      : {};
  // The challenger check, when the store keeps comparisons (both stores do; a model without any
  // gets no finding): the comparisons from the store, both models' quality on labelled pairs from
  // this analyzer's prediction log (labels.enabled); `deps.challenger` replaces or adds deps.
  const challenger =
    deps.challenger !== false && store.readComparisons && store.comparisonModels
      ? createChallengerCheck(checks.challenger, {
          ...storeChallengerDeps(
            { describe: store.describe, readComparisons: store.readComparisons.bind(store), comparisonModels: store.comparisonModels.bind(store) },
            { windowMs: checks.challenger.windowMs, logger, ...scope, ...(deps.now ? { now: deps.now } : {}) },
          ),
          ...(predictionLog ? { pairedQuality: pairedQualityFrom(predictionLog) } : {}),
          ...(deps.challenger || {}),
        })
      : null;
  const runner = new CheckRunner({
    checks: [
      createDriftCheck(checks.drift, { store, registry, metrics, ...scope, ...windows }),
      createSloCheck(checks.slo, { store, metrics, ...scope, ...(deps.sloCache === false ? { cache: false } : {}) }),
      createStalenessCheck(checks.staleness, { store, registry, history: findings, metrics, logger, ...scope }),
      createQualityCheck(checks.quality, { log: predictionLog, metrics, registry }),
      createDataQualityCheck(checks.dataQuality, { store, registry, metrics, ...scope, ...windows }),
      ...(challenger ? [challenger] : []),
    ],
    timeoutMs: checks.timeoutMs,
    sinks,
    logger,
    metrics,
    ...scope,
    ...(deps.now ? { now: deps.now } : {}),
  });
  const admin = deps.admin
    ? createAdmin(config, logger, {
        metrics: metricsRegistry,
        ready: () => true,
        store: { store },
        findings,
        runChecks: () => runner.runAll(),
        reference: (model, version) => registry.getReference(model, version),
        alertHistory: (limit) => alerts.history(limit),
      })
    : null;
  let pruner: NodeJS.Timeout | null = null;
  return {
    runner,
    findings,
    alerts,
    async start() {
      const adminAddr = admin ? await admin.listen() : null;
      // Before the first run: the old owner's "resolved" should reach receivers before anything
      // the new owner sends about the model.
      alerts.handOver();
      alerts.start();
      if (checks.enabled) runner.start();
      pruner = setInterval(() => {
        try {
          findings.prune(Date.now());
        } catch (e) {
          logger.warn('pruning old findings failed', { error: (e as Error).message });
        }
      }, PRUNE_INTERVAL_MS);
      pruner.unref();
      logger.info('scheduled checks running', {
        drift: checks.drift.enabled ? checks.drift.schedule : 'off',
        slo: checks.slo.enabled ? checks.slo.schedule : 'off',
        staleness: checks.staleness.enabled ? checks.staleness.schedule : 'off',
        quality: checks.quality.enabled && predictionLog ? checks.quality.schedule : 'off',
        dataQuality: checks.dataQuality.enabled ? checks.dataQuality.schedule : 'off',
        challenger: challenger && checks.challenger.enabled ? `${checks.challenger.schedule} (the comparisons in the store)` : 'off',
        shard: shard.count > 1 ? `${formatShard(shard)} (the models whose hash falls to this shard)` : 'every model',
        findings: findings.path,
        store: store.describe,
      });
      return { admin: adminAddr };
    },
    async close() {
      if (pruner) clearInterval(pruner);
      await runner.stop();
      await alerts.stop(); // in-flight sends finish; pending ones stay in the outbox for the next start
      await admin?.close();
      if (ownFindings) findings.close();
      if (ownLog) await predictionLog?.close();
    },
  };
}
