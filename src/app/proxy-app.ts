/**
 * The sidecar as an application: proxy -> bounded queue -> capture pipeline (extraction, live
 * summary, window profiles) -> statistics store, plus store maintenance and its admin port.
 */
import type { AddressInfo } from 'node:net';
import { BoundedQueue } from '../capture/bounded-queue.js';
import { type ShadowDelta, ShadowComparison } from '../capture/shadow-comparison.js';
import type { ShadowedRequest } from '../capture/shadow-pair.js';
import type { AdminModelView } from '../admin/admin-server.js';
import { ComparisonWindows } from '../challenger/comparison-windows.js';
import { type ChallengerReport, challengerGaugeRows, challengerReport, type ShadowCounts, type ShadowedModel } from '../challenger/report.js';
import type { InferenceEvent } from '../capture/inference-event.js';
import { type CapturePipeline, InLoopCapture } from '../capture/pipeline.js';
import { ReferenceCache } from '../capture/reference-cache.js';
import { mergeTrafficSnapshots } from '../capture/traffic-merge.js';
import { type TrafficSnapshot, TrafficSummary, type TrafficSummaryView } from '../capture/traffic-summary.js';
import { WindowProfiler } from '../capture/window-profiler.js';
import { WorkerCaptureDrain } from '../capture/worker-drain.js';
import { PredictionBuffer } from '../capture/prediction-buffer.js';
import { type PredictionRecordOptions, recordOptionsFrom } from '../capture/prediction-records.js';
import type { PredictionLog } from '../outcomes/prediction-log.js';
import type { Config } from '../config/schema.js';
import { DriftwatchError } from '../errors.js';
import { createProxyServer } from '../proxy/proxy-server.js';
import { type ShadowDropReason, UpstreamShadow } from '../proxy/shadow-upstream.js';
import type { ModelRegistry } from '../registry/types.js';
import type { StatsStore } from '../store/types.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import {
  createChallengerMetrics,
  createProxyMetrics,
  createProxyShadowMetrics,
  createStoreMetrics,
  type ProxyMetrics,
  type ServeMetrics,
} from '../telemetry/metrics.js';
import { createAdmin } from './admin.js';
import { comparisonPublisherFor, createPredictionLog, createRegistry, createStore, publisherFor, sloThresholdsMs } from './backends.js';
import type { GroupSpec, WorkerApp } from './cluster.js';
import { type ComparisonPublisher, comparisonPublishing } from './comparison-publishing.js';

/** How often retention and roll-up run (the scheduled checks get node-cron; this is housekeeping). */
const MAINTENANCE_INTERVAL_MS = 15 * 60_000;

export interface ProxyAppDeps {
  logger?: Logger;
  /** Register the proxy's metrics here (the scoring server's registry in `start`). */
  metricsRegistry?: ServeMetrics['registry'];
  /** Run an admin server of its own (false when the scoring app's admin port serves both). */
  admin?: boolean;
  /** Overrides proxy.upstream (the all-in-one `start` points it at its own scoring server). */
  upstream?: string;
  /** Column names for positional inputs per model (the all-in-one knows its models' signatures). */
  columnsFor?: (model: string | null) => readonly string[] | null;
  /** The statistics store (default: the one the config names; the app closes only one it made). */
  store?: StatsStore;
  /** Where reference profiles come from (default: the configured registry). */
  registry?: ModelRegistry;
  /** Model versions whose references to load before the first request (the all-in-one's models). */
  preloadReferences?: () => Array<{ model: string; version: string }>;
  /**
   * The version to record for an answer that names none, as it is now (`driftwatch proxy
   * --model-version Production` follows the stage through the registry); null: none known.
   * Replaces proxy.version when given.
   */
  versionFor?: () => string | null;
  /** The prediction log for label ingestion and pruning (default: the one labels.* names, when enabled; the app closes only one it made). */
  predictionLog?: PredictionLog | null;
  /** Class names of the served model (its MLmodel metadata), for the prediction log's probabilities. */
  classes?: readonly string[] | null;
}

export interface ProxyApp {
  /** The live summary (in worker mode: the worker's latest snapshot). */
  readonly summary: TrafficSummaryView;
  readonly metrics: ProxyMetrics;
  readonly store: StatsStore;
  /** Window deltas held in memory (in worker mode: as the worker last reported). */
  readonly profiler: Pick<CapturePipeline, 'pending'>;
  /** The prediction log labels are joined to (labels.enabled), this process's connection; else null. */
  readonly predictionLog: PredictionLog | null;
  /** Processes what the capture queue holds and writes every window delta to the store now. */
  flushStats(): Promise<void>;
  /** The shadow to a challenger's endpoint (proxy.shadow.upstream); null without one. */
  readonly shadow: ProxyShadowView | null;
  start(): Promise<{ proxy: AddressInfo; admin: AddressInfo | null }>;
  close(): Promise<void>;
}

/** What the app shows of the sidecar's shadow (tests, the all-in-one). */
export interface ProxyShadowView {
  /** The comparisons in memory (the challenger check and /api/challenger read them). */
  readonly comparisons: ComparisonWindows;
  /** GET /api/challenger's body, the scoring server's shape. */
  report(q: { fromMs: number; toMs: number; model?: string }): ChallengerReport;
  /** GET /api/models: each shadowed model with its challenger, as the scoring server lists one (the status page asks /api/challenger when one has). */
  modelViews(): AdminModelView[];
  /** The models shadowed so far. */
  models(): string[];
  /** Sampled requests not yet compared (in flight or queued). */
  readonly pending: number;
}

export function createProxyApp(config: Config, deps: ProxyAppDeps = {}): ProxyApp {
  const logger = deps.logger ?? createLogger({ level: config.log.level });
  const upstream = deps.upstream ?? config.proxy.upstream;
  if (!upstream) throw new DriftwatchError('DW_ERR_CONFIG_INVALID', 'no upstream to proxy: pass --upstream URL or set proxy.upstream');
  const metrics = createProxyMetrics({ ...(deps.metricsRegistry ? { registry: deps.metricsRegistry } : {}), sloThresholdsMs: sloThresholdsMs(config) });
  const queue = new BoundedQueue<InferenceEvent>(config.proxy.capture.queueSize);
  const ownStore = !deps.store;
  const store = deps.store ?? createStore(config, { logger });
  const publisher = publisherFor(store, { logger });
  const references = new ReferenceCache({ registry: deps.registry ?? createRegistry(config, { logger }), logger, refreshMs: config.registry.pollIntervalMs });
  const storeMetrics = createStoreMetrics(metrics.registry, () => store.health());
  const referenceFor = (model: string, version: string) => {
    const ref = references.get(model, version);
    // With InfluxDB each reference is published once (dw_reference) for the dashboards.
    if (ref !== null) publisher?.noteReference(ref);
    return ref;
  };
  const profilerMetrics = {
    flushed: (n: number) => {
      storeMetrics.flushes.inc({ outcome: 'ok' });
      storeMetrics.windowsWritten.inc(n);
    },
    flushFailed: () => storeMetrics.flushes.inc({ outcome: 'failed' }),
    droppedWindows: (n: number) => storeMetrics.droppedWindows.inc(n),
    pendingWindows: (n: number) => storeMetrics.pendingWindows.set(n),
  };
  // labels.enabled: predictions go to the log from the capture thread (the worker opens its own
  // connection); this connection serves label ingestion, the quality check and pruning.
  const ownLog = deps.predictionLog === undefined;
  const predictionLog = deps.predictionLog === undefined ? createPredictionLog(config, { logger }) : deps.predictionLog;
  const predictionOptions = recordOptionsFrom(config.labels, deps.classes ?? null);
  const prunePredictions = async () => {
    try {
      await predictionLog?.prune(Date.now());
    } catch (e) {
      logger.warn('prediction log pruning failed', { error: (e as Error).message });
    }
  };
  const maintain = async () => {
    void prunePredictions();
    try {
      const r = await store.maintain(Date.now());
      if (r.rolledUp) storeMetrics.maintenance.inc({ action: 'rollup' }, r.rolledUp);
      if (r.deleted) storeMetrics.maintenance.inc({ action: 'retention' }, r.deleted);
    } catch (e) {
      logger.warn('statistics store maintenance failed', { error: (e as Error).message });
    }
  };
  let maintenance: NodeJS.Timeout | null = null;
  // In-loop capture (no worker): a bounded buffer (labels.maxPending) writing predictions, the
  // champion's or the shadow's, through `log`, counted in this process's metrics.
  const logBuffer = (log: ConstructorParameters<typeof PredictionBuffer>[0]['log']) =>
    new PredictionBuffer({
      log,
      maxPending: config.labels.maxPending,
      flushEveryMs: config.stats.flushIntervalMs,
      logger,
      counts: {
        written: (n) => metrics.predictionsLogged.inc(n),
        dropped: (n, reason) => metrics.predictionsDropped.inc({ reason }, n),
      },
    });
  const drainOptions = {
    ...(config.proxy.version ? { defaultVersion: config.proxy.version } : {}),
    metrics,
    logger,
    extract: { maxDecompressedBytes: Math.max(config.proxy.capture.maxBodyBytes * 20, 1024 * 1024) },
    // Declared columns (a foreign upstream) first, else what the composition knows (start). The
    // capture keeps only known columns of a named payload, so labels.idColumn is added to the
    // declared ones (as signatureColumns adds it in start): else no prediction would be logged.
    // Appended last, it cannot shift the names of a positional payload's columns.
    ...(config.proxy.columns
      ? { columnsFor: () => withIdColumn(config.proxy.columns!, config.labels.enabled ? (config.labels.idColumn ?? null) : null) }
      : deps.columnsFor
        ? { columnsFor: deps.columnsFor }
        : {}),
  };
  // proxy.shadow.upstream: the sender on the data path; the comparison in the capture worker
  // thread with it (else on this loop, as the capture then runs).
  const inWorker = config.proxy.capture.worker;
  let workerDrain: WorkerCaptureDrain | null = null;
  const shadow = config.proxy.shadow.upstream
    ? createShadow(config, metrics.registry, {
        upstream,
        extract: drainOptions.extract,
        columnsFor: drainOptions.columnsFor ?? null,
        // The closed comparison windows also go to the store (the embedded table or dw_challenger),
        // where an analyzer runs the challenger check over them.
        publisher: comparisonPublisherFor(store, { logger }),
        inWorker,
        inWorkerPending: () => workerDrain?.shadowPending ?? 0,
        // In-loop only (the worker logs its own): the challenger's predictions with the champion's ids.
        records:
          !inWorker && predictionLog
            ? {
                options: predictionOptions,
                buffer: logBuffer({ recordPredictions: (rows) => predictionLog.recordShadowPredictions(rows) }),
              }
            : null,
      })
    : null;
  // proxy.capture.worker: extraction, the summary and the profiler run in a worker thread.
  const capture: CapturePipeline = inWorker
    ? new WorkerCaptureDrain({
        queue,
        store,
        stats: config.stats,
        extraLatencyBoundsMs: sloThresholdsMs(config),
        referenceFor,
        profilerMetrics,
        predictions: predictionLog
          ? {
              options: predictionOptions,
              path: config.labels.path,
              postgres: config.labels.store === 'postgres' ? config.labels.postgres : null,
              maxRows: config.labels.maxRows,
              horizonMs: config.labels.horizonMs,
              maxPending: config.labels.maxPending,
              flushEveryMs: config.stats.flushIntervalMs,
            }
          : null,
        shadow: shadow
          ? {
              queue: shadow.pairs,
              championVersion: config.proxy.version ?? null,
              challengerVersion: config.proxy.shadow.version ?? null,
              onDelta: shadow.apply,
              lost: (n) => shadow.lost(n),
            }
          : null,
        ...drainOptions,
      })
    : new InLoopCapture({
        queue,
        summary: new TrafficSummary(Date.now()),
        profiler: new WindowProfiler({
          config: config.stats,
          extraLatencyBoundsMs: sloThresholdsMs(config),
          store,
          logger,
          referenceFor,
          metrics: profilerMetrics,
        }),
        ...(predictionLog
          ? {
              predictions: {
                options: predictionOptions,
                buffer: logBuffer(predictionLog),
              },
            }
          : {}),
        ...drainOptions,
      });
  if (capture instanceof WorkerCaptureDrain) workerDrain = capture;
  const sender = shadow?.sender ?? null;
  // A followed version is stamped on the event as it is offered (a field read and, only for an
  // answer without a version header, one small copy): the capture side then sees it as if the
  // upstream had named it. The shadow sees the event after the capture queue has it: both read
  // the same tapped bytes, neither copies them.
  const versionFor = deps.versionFor;
  const offer = sender
    ? (e: InferenceEvent) => {
        queue.offer(e);
        sender.consider(e);
      }
    : (e: InferenceEvent) => queue.offer(e);
  const onEvent = versionFor
    ? (e: InferenceEvent) => {
        const v = e.version === null ? versionFor() : null;
        offer(v === null ? e : { ...e, version: v });
      }
    : offer;
  const proxy = createProxyServer({ config: { ...config.proxy, upstream }, logger, metrics, onEvent });
  const admin =
    deps.admin !== false
      ? createAdmin(config, logger, {
          metrics: metrics.registry,
          ready: () => proxy.server.listening,
          traffic: () => capture.summary.toJSON(),
          store: { store, pendingWindows: () => capture.pending },
          ...(predictionLog ? { recordLabels: (labels) => predictionLog.recordLabels(labels) } : {}),
          ...(shadow ? { challenger: shadow.view.report, models: shadow.view.modelViews } : {}),
        })
      : null;
  let closed = false;
  return {
    summary: capture.summary,
    metrics,
    store,
    profiler: capture,
    predictionLog,
    flushStats: async () => {
      await capture.flush(); // with the worker: its shadow deltas and the challenger's predictions too
      await shadow?.flush();
    },
    shadow: shadow?.view ?? null,
    async start() {
      for (const { model, version } of deps.preloadReferences?.() ?? []) await references.preload(model, version);
      const proxyAddr = await proxy.listen();
      let adminAddr: AddressInfo | null = null;
      try {
        adminAddr = admin ? await admin.listen() : null;
      } catch (e) {
        await proxy.close(0);
        throw e;
      }
      capture.start();
      void maintain();
      maintenance = setInterval(() => void maintain(), MAINTENANCE_INTERVAL_MS);
      maintenance.unref();
      shadow?.start();
      logger.info('proxy listening', {
        url: `http://${proxyAddr.address}:${proxyAddr.port}`,
        upstream,
        ...(shadow ? { shadow: `${config.proxy.shadow.upstream} (sample ${config.proxy.shadow.sample})` } : {}),
        store: store.describe,
        admin: adminAddr ? `http://${adminAddr.address}:${adminAddr.port}` : null,
      });
      return { proxy: proxyAddr, admin: adminAddr };
    },
    async close() {
      if (closed) return;
      closed = true;
      if (maintenance) clearInterval(maintenance);
      await proxy.close(config.serve.shutdownGraceMs);
      shadow?.stopSending(); // what is in flight is aborted; what was answered is still compared
      await capture.stop(); // everything queued is processed and written to the store (the worker's shadow deltas too)
      await shadow?.close(); // compares what is queued (in-loop), writes every comparison window and the challenger's predictions
      if (ownStore) await store.close();
      if (ownLog) await predictionLog?.close();
      await admin?.close();
    },
  };
}

// ---------------------------------------------------------------- proxy.shadow

/** Pairs compared per turn of the event loop (in-loop capture only): a burst of answers yields to the traffic between batches. */
const SHADOW_BATCH = 32;

type ShadowCountsEntry = ShadowCounts & { lastError: string | null };

/**
 * The sidecar's shadow, both halves: the sender on the data path (proxy/shadow-upstream.ts) and,
 * behind a bounded queue, the comparison (capture/shadow-comparison.ts: both answers read as the
 * capture reads every answer, compared as for the scoring server's shadow). With the capture
 * worker (the default) the queue goes to the worker thread with the capture's batches and the
 * comparison runs there; this thread merges the windows the worker sends back (apply), which is
 * what /api/challenger, the gauges and the store's comparison windows read. Without the worker the
 * comparison runs on this loop, a batch per turn, as the capture itself then does.
 * In the report, per model: sampled; scored and failed (the challenger answered or not); dropped
 * (busy, down, closed, the comparison queue full, or a capture worker that ended before comparing
 * them); lost (the champion's own answer held no predictions to compare with); notLoaded is
 * always 0 here (a dead endpoint is a failure).
 */
function createShadow(
  config: Config,
  registry: ServeMetrics['registry'],
  opts: {
    upstream: string;
    extract: { maxDecompressedBytes: number };
    columnsFor: ((model: string | null) => readonly string[] | null) | null;
    publisher: ComparisonPublisher | null;
    /** The comparison runs in the capture worker thread (its deltas come through apply). */
    inWorker: boolean;
    /** Pairs handed to the worker and not yet in a delta. */
    inWorkerPending: () => number;
    /** In-loop: the challenger's predictions go to the prediction log (labels.enabled) through this buffer. */
    records: { options: PredictionRecordOptions; buffer: PredictionBuffer } | null;
  },
) {
  const cfg = config.proxy.shadow;
  const rules = config.checks.challenger;
  // At least an hour, and the check's whole window, as on the scoring server.
  const comparisons = new ComparisonWindows({ retentionMs: Math.max(rules.windowMs, 3_600_000) });
  const perModel = new Map<string, ShadowCountsEntry>();
  const countsOf = (model: string | null) => {
    const key = model ?? 'unknown';
    let c = perModel.get(key);
    if (!c) {
      if (perModel.size >= 256) return null; // model names come from traffic: bounded
      perModel.set(key, (c = { sampled: 0, scored: 0, failed: 0, dropped: 0, notLoaded: 0, lost: 0, pending: 0, lastError: null }));
    }
    return c;
  };
  // In `start` the scoring server may have registered the challenger gauges on this registry already.
  const challengerMetrics = registry.getSingleMetric('driftwatch_shadow_requests_total')
    ? { shadowRequests: registry.getSingleMetric('driftwatch_shadow_requests_total') as ReturnType<typeof createChallengerMetrics>['shadowRequests'] }
    : createChallengerMetrics(registry, () => {
        const now = Date.now();
        return challengerGaugeRows(comparisons.read(now - rules.windowMs, now + 1));
      });
  const pairs = new BoundedQueue<ShadowedRequest>(cfg.queueSize);
  let sender: UpstreamShadow | null = null;
  const shadowMetrics = createProxyShadowMetrics(registry, () => sender?.pending ?? 0);
  // Per model, the versions of its latest pair: GET /api/models shows them without merging windows
  // (readiness probes ask /healthz, which lists the models, every few seconds).
  const latestVersions = new Map<string, { champion: string; challenger: string }>();
  /** A comparison delta (the worker's, or this loop's batch) into the windows, the store's publisher and the counts. */
  const apply = (d: ShadowDelta) => {
    for (const w of d.windows) {
      comparisons.addWindow(w);
      opts.publisher?.addWindow(w);
    }
    for (const m of d.models) {
      const c = countsOf(m.model);
      if (c) {
        c.scored += m.scored;
        c.failed += m.failed;
        c.lost += m.lost;
        if (m.lastError !== null) c.lastError = m.lastError;
      }
      // Bounded like the counts: model names come from traffic.
      if (m.versions && (latestVersions.has(m.model) || latestVersions.size < 256)) latestVersions.set(m.model, m.versions);
      if (m.scored > 0) challengerMetrics.shadowRequests.inc({ model: m.model, outcome: 'scored' }, m.scored);
      if (m.failed > 0) challengerMetrics.shadowRequests.inc({ model: m.model, outcome: 'failed' }, m.failed);
      if (m.lost > 0) shadowMetrics.dropped.inc({ reason: 'unreadable' }, m.lost);
    }
  };
  // In-loop: this loop compares, a batch per turn.
  const inLoop = opts.inWorker
    ? null
    : new ShadowComparison({
        pair: {
          extract: opts.extract,
          ...(opts.columnsFor ? { columnsFor: opts.columnsFor } : {}),
          championVersion: config.proxy.version ?? null,
          challengerVersion: cfg.version ?? null,
        },
        records: opts.records ? { options: opts.records.options, add: (r) => opts.records!.buffer.add(r) } : null,
      });
  let scheduled = false;
  const compare = () => {
    scheduled = false;
    if (!inLoop) return;
    for (const r of pairs.drain(SHADOW_BATCH)) inLoop.add(r);
    if (inLoop.dirty) apply(inLoop.take());
    if (pairs.depth > 0) schedule();
  };
  const schedule = () => {
    if (scheduled || !inLoop) return;
    scheduled = true;
    setImmediate(compare);
  };
  const drop = (model: string | null, reason: ShadowDropReason | 'queue_full') => {
    const c = countsOf(model);
    if (c) c.dropped++;
    shadowMetrics.dropped.inc({ reason });
    challengerMetrics.shadowRequests.inc({ model: model ?? 'unknown', outcome: 'dropped' });
  };
  sender = new UpstreamShadow({
    upstream: cfg.upstream!,
    sampleRate: cfg.sample,
    maxInFlight: cfg.maxInFlight,
    timeoutMs: cfg.timeoutMs,
    idleMs: config.proxy.upstreamIdleMs,
    maxBodyBytes: Math.max(config.proxy.capture.maxBodyBytes, 64 * 1024),
    onSampled: (e) => {
      const c = countsOf(e.model);
      if (c) c.sampled++;
    },
    // The worker's drain takes the queue with its next batch; in-loop, the next turn compares.
    onResult: (r) => {
      if (pairs.offer(r)) schedule();
      else drop(r.event.model, 'queue_full');
    },
    onDropped: (reason, e) => drop(e.model, reason),
    onError: (kind) => shadowMetrics.errors.inc({ kind }),
  });
  const s = sender;
  const noCounts = (): ShadowCountsEntry => ({
    sampled: 0,
    scored: 0,
    failed: 0,
    dropped: 0,
    notLoaded: 0,
    lost: 0,
    pending: 0,
    lastError: null,
  });
  const pending = () => s.pending + pairs.depth + opts.inWorkerPending();
  // The models seen in traffic (or in the windows), else the configured one.
  const modelNames = (more: Iterable<string>): string[] => {
    const names = new Set([...perModel.keys(), ...more]);
    if (names.size === 0 && config.proxy.model) names.add(config.proxy.model);
    return [...names];
  };
  // Each model with its spans of [fromMs, toMs) and the versions of its latest pair there.
  const shadowed = (fromMs: number, toMs: number, model?: string): ShadowedModel[] => {
    const spans = comparisons.read(fromMs, toMs, model);
    return modelNames(spans.map((sp) => sp.model))
      .filter((m) => model === undefined || m === model)
      .map((name) => {
        const mine = spans.filter((sp) => sp.model === name).sort((a, b) => a.toMs - b.toMs);
        const latest = mine[mine.length - 1];
        const { lastError, ...counts } = perModel.get(name) ?? noCounts();
        return {
          model: name,
          champion: { uri: opts.upstream, version: latest?.championVersion ?? null },
          challenger: { uri: s.upstream, version: latest?.challengerVersion ?? null, lastError },
          sampleRate: s.sampleRate,
          // In flight and queued are not kept per model: each model shows the proxy's.
          shadow: { ...counts, pending: pending() },
          spans: mine,
        };
      });
  };
  const report = (q: { fromMs: number; toMs: number; model?: string }): ChallengerReport => challengerReport(q, rules, shadowed(q.fromMs, q.toMs, q.model));
  // The versions of the latest pair compared (none yet: the configured ones, if any).
  const modelViews = (): AdminModelView[] =>
    modelNames(latestVersions.keys()).map((name) => {
      const v = latestVersions.get(name);
      return {
        name,
        uri: opts.upstream,
        version: v?.champion ?? config.proxy.version ?? null,
        loadedAtMs: null,
        lastError: null,
        challenger: { uri: s.upstream, version: v?.challenger ?? cfg.version ?? null, sampleRate: s.sampleRate },
      };
    });
  const view: ProxyShadowView = {
    comparisons,
    report,
    modelViews,
    models: () => [...perModel.keys()],
    get pending() {
      return pending();
    },
  };
  // A pair is recorded when the challenger answered, up to its timeout after the pair's time.
  const publishing = opts.publisher ? comparisonPublishing(opts.publisher, { everyMs: config.stats.flushIntervalMs, graceMs: cfg.timeoutMs + 1_000 }) : null;
  return {
    sender: s,
    view,
    /** The comparison queue (the worker's drain takes it with its batches). */
    pairs,
    apply,
    /** Pairs a capture worker took and ended without comparing (a crash, or a stop that timed out): counted, not per model (the thread knew them). */
    lost: (n: number) => shadowMetrics.dropped.inc({ reason: 'worker_exit' }, n),
    start() {
      opts.records?.buffer.start();
      publishing?.start();
    },
    /** Stops sending: what is in flight is aborted and not reported. */
    stopSending: () => s.close(),
    /** In-loop: compares what is queued and writes the challenger's predictions now. */
    async flush() {
      while (inLoop && pairs.depth > 0) compare();
      await opts.records?.buffer.flush();
    },
    /** After the capture stopped: the pairs still queued are compared (in-loop), every window is written. */
    async close() {
      while (inLoop && pairs.depth > 0) compare();
      publishing?.stop();
      await opts.records?.buffer.stop();
    },
  };
}

// ---------------------------------------------------------------- proxy.workers > 1

/** How often a proxy worker sends its traffic summary and pending windows to the primary. */
const REPORT_EVERY_MS = 1000;

interface ProxyWorkerReport {
  traffic: TrafficSnapshot;
  pendingWindows: number;
}

/**
 * A started proxy app as a cluster worker (proxy.workers > 1): the primary asks it for its metrics
 * and gets its traffic summary and pending windows every second. Each worker keeps its own
 * queue, capture worker thread and store connection; its window deltas are mergeable, so the
 * workers' writes to the one store add up (store/embedded.ts: read-merge-write in one IMMEDIATE
 * transaction, WAL, a busy timeout; in InfluxDB each worker writes under its own instance tag
 * and readers sum across them).
 */
export function proxyWorker(app: ProxyApp, close: () => Promise<void>): WorkerApp {
  return {
    close,
    answers: { metrics: () => app.metrics.registry.getMetricsAsJSON() },
    report: { everyMs: REPORT_EVERY_MS, snapshot: (): ProxyWorkerReport => ({ traffic: app.summary.toJSON(), pendingWindows: app.profiler.pending }) },
  };
}

/**
 * proxy.workers > 1, the primary: the group's one admin port. /metrics is the workers' sum (the
 * launcher's); /api/traffic merges the workers' latest summaries (at most ~1 s old); /api/windows
 * and /api/store read the store through the primary's own connection; labels are written through
 * its own prediction log connection. Maintenance stays with the workers (concurrent roll-ups of
 * one file are safe: each hour is rolled up in one IMMEDIATE transaction that re-reads its minutes).
 */
export function proxyGroupSpec(config: Config, deps: { logger: Logger }): GroupSpec {
  let store: StatsStore | null = null;
  let predictionLog: PredictionLog | null = null;
  const startedAt = new Date().toISOString();
  return {
    workers: config.proxy.workers,
    shutdownGraceMs: config.serve.shutdownGraceMs,
    admin: (group) => {
      const opened = createStore(config, { logger: deps.logger });
      store = opened;
      const log = createPredictionLog(config, { logger: deps.logger });
      predictionLog = log;
      const reports = () => group.reports() as ProxyWorkerReport[];
      return {
        traffic: () =>
          mergeTrafficSnapshots(
            reports().map((r) => r.traffic),
            startedAt,
          ),
        store: { store: opened, pendingWindows: () => reports().reduce((n, r) => n + r.pendingWindows, 0) },
        ...(log ? { recordLabels: (labels) => log.recordLabels(labels) } : {}),
      };
    },
    async close() {
      await store?.close();
      await predictionLog?.close();
    },
  };
}

/** The declared input columns with the labels' id column added when it is not among them. */
function withIdColumn(columns: readonly string[], idColumn: string | null): readonly string[] {
  return idColumn !== null && !columns.includes(idColumn) ? [...columns, idColumn] : columns;
}
