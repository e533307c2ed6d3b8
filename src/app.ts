/**
 * Composition root: builds every part from one frozen Config and wires the dependencies. The only
 * place that chooses implementations (the local or the MLflow registry, the embedded or InfluxDB store).
 */
import type { AddressInfo } from 'node:net';
import { basename } from 'node:path';
import type { Config } from './config/schema.js';
import { DriftwatchError } from './errors.js';
import { createAdminServer, type AdminModelView, type AdminServer, type AdminServerDeps } from './admin/admin-server.js';
import { CheckRunner } from './checks/check-runner.js';
import { createAlertsService, type AlertsService } from './alerts/alerts-service.js';
import { createAlertMetrics } from './alerts/alert-metrics.js';
import { FindingStore } from './store/findings-store.js';
import { LocalRegistry } from './registry/local-registry.js';
import { createMlflowRegistry } from './registry/mlflow-registry.js';
import { isMovable, parseModelUri } from './registry/model-uri.js';
import type { ModelRegistry } from './registry/types.js';
import { createScoringServer, type ScoringServer } from './serve/scoring-server.js';
import { ServedModel } from './serve/served-model.js';
import { BoundedQueue } from './capture/bounded-queue.js';
import { CaptureDrain } from './capture/drain.js';
import type { InferenceEvent } from './capture/inference-event.js';
import { TrafficSummary, type TrafficSummaryView } from './capture/traffic-summary.js';
import { WorkerCaptureDrain } from './capture/worker-drain.js';
import { ReferenceCache } from './capture/reference-cache.js';
import { WindowProfiler } from './capture/window-profiler.js';
import { createProxyServer } from './proxy/proxy-server.js';
import { EmbeddedStore } from './store/embedded.js';
import { createInfluxStore } from './store/influx.js';
import type { StatsStore } from './store/types.js';
import { createLogger, type Logger } from './telemetry/logger.js';
import { createCheckMetrics, createProxyMetrics, createServeMetrics, createStoreMetrics, type ProxyMetrics, type ServeMetrics } from './telemetry/metrics.js';
import { VERSION } from './version.js';

export function createRegistry(config: Config, deps: { logger?: Logger } = {}): ModelRegistry {
  if (config.registry.kind === 'mlflow') return createMlflowRegistry(config.registry, deps.logger ? { logger: deps.logger } : {});
  return new LocalRegistry(config.registry.root);
}

/** The statistics store the config asks for: embedded (default, one local file) or InfluxDB. */
export function createStore(config: Config, deps: { logger?: Logger } = {}): StatsStore {
  if (config.store.kind === 'influxdb') return createInfluxStore(config.store.influxdb, deps.logger ? { logger: deps.logger } : {});
  return new EmbeddedStore(config.store.embedded);
}

/** How often retention and roll-up run (the scheduled checks get node-cron; this is housekeeping). */
const MAINTENANCE_INTERVAL_MS = 15 * 60_000;

export interface ServeAppDeps {
  /** Shown at /api/traffic on the admin port (the all-in-one `start` passes the proxy's summary). */
  traffic?: () => unknown;
  /** More admin routes' dependencies (the all-in-one: the store's windows, the checks' findings). */
  admin?: Partial<Omit<AdminServerDeps, 'config' | 'logger' | 'metrics' | 'models' | 'reload' | 'ready'>>;
  logger?: Logger;
  registry?: ModelRegistry;
  /** For the benchmark: serve predictions through express instead of the lean path. */
  predictVia?: 'lean' | 'express';
}

export interface ServeApp {
  readonly models: ReadonlyMap<string, ServedModel>;
  readonly metrics: ServeMetrics;
  start(): Promise<{ scoring: AddressInfo; admin: AddressInfo | null }>;
  reload(): Promise<string[]>;
  close(): Promise<void>;
}

export function createServeApp(config: Config, deps: ServeAppDeps = {}): ServeApp {
  const logger = deps.logger ?? createLogger({ level: config.log.level });
  const registry = deps.registry ?? createRegistry(config, { logger });
  logger.debug('configuration', { config }); // secrets are redacted by the logger
  const metrics = createServeMetrics({ sloThresholdsMs: sloThresholdsMs(config) });
  if (config.serve.models.length === 0) {
    throw new DriftwatchError('DW_ERR_CONFIG_INVALID', 'no model to serve: pass --model URI or set serve.models in the config');
  }
  const models = new Map<string, ServedModel>();
  metrics.setRegistryUpSource(() => [...models.values()].every((m) => m.registryError === null));
  for (const m of config.serve.models) {
    const uri = parseModelUri(m.uri);
    const name = m.name ?? (uri.kind === 'path' ? basename(uri.path.replace(/\/+$/, '')) : uri.name);
    if (models.has(name)) throw new DriftwatchError('DW_ERR_CONFIG_INVALID', `two served models are named ${name}; give each a distinct "name"`);
    models.set(name, new ServedModel(name, uri, { registry, onnx: config.serve.onnx, batching: config.serve.batching, logger, metrics }));
  }
  const scoring: ScoringServer = createScoringServer({
    config: config.serve,
    models,
    logger,
    metrics,
    version: VERSION,
    ...(deps.predictVia ? { predictVia: deps.predictVia } : {}),
  });

  const reload = async (): Promise<string[]> => {
    const swapped: string[] = [];
    await Promise.all(
      [...models.values()].map(async (m) => {
        if (await m.refresh().catch(() => false)) swapped.push(m.name);
      }),
    );
    return swapped;
  };
  const views = (): AdminModelView[] =>
    [...models.values()].map((m) => ({
      name: m.name,
      uri: m.uri.text,
      version: m.current?.version ?? null,
      loadedAtMs: m.current?.loadedAtMs ?? null,
      lastError: m.lastError,
      registryError: m.registryError,
    }));

  let admin: AdminServer | null = null;
  if (config.admin.enabled) {
    admin = createAdminServer({
      config: config.admin,
      logger,
      metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
      models: views,
      reload,
      ready: () => [...models.values()].every((m) => m.current !== null),
      ...(deps.traffic ? { traffic: deps.traffic } : {}),
      reference: (model, version) => registry.getReference(model, version),
      ...deps.admin,
    });
  }

  let poller: NodeJS.Timeout | null = null;
  return {
    models,
    metrics,
    reload,
    async start() {
      // Fail fast: every configured model must load before the port opens.
      await Promise.all([...models.values()].map((m) => m.refresh()));
      const scoringAddr = await scoring.listen();
      let adminAddr: AddressInfo | null = null;
      try {
        adminAddr = admin ? await admin.listen() : null;
      } catch (e) {
        // Do not leave a half-started process holding the scoring port.
        await scoring.close(0);
        await Promise.all([...models.values()].map((m) => m.close()));
        throw e;
      }
      const movable = [...models.values()].filter((m) => isMovable(m.uri));
      if (movable.length) {
        poller = setInterval(() => {
          for (const m of movable) void m.refresh().catch(() => undefined);
        }, config.registry.pollIntervalMs);
        poller.unref();
      }
      logger.info('scoring server listening', {
        url: `http://${scoringAddr.address}:${scoringAddr.port}`,
        admin: adminAddr ? `http://${adminAddr.address}:${adminAddr.port}` : null,
        models: views().map((v) => `${v.name}@${v.version} (${v.uri})`),
      });
      return { scoring: scoringAddr, admin: adminAddr };
    },
    async close() {
      if (poller) clearInterval(poller);
      await scoring.close(config.serve.shutdownGraceMs);
      await admin?.close();
      await Promise.all([...models.values()].map((m) => m.close()));
    },
  };
}

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
}

export interface ProxyApp {
  /** The live summary (in worker mode: the worker's latest snapshot). */
  readonly summary: TrafficSummaryView;
  readonly metrics: ProxyMetrics;
  readonly store: StatsStore;
  /** Window deltas held in memory (in worker mode: as the worker last reported). */
  readonly profiler: Pick<WindowProfiler, 'pending'>;
  /** Processes what the capture queue holds and writes every window delta to the store now. */
  flushStats(): Promise<void>;
  start(): Promise<{ proxy: AddressInfo; admin: AddressInfo | null }>;
  close(): Promise<void>;
}

/** The sidecar: proxy -> bounded queue -> drain (extraction, live summary), plus its admin API. */
export function createProxyApp(config: Config, deps: ProxyAppDeps = {}): ProxyApp {
  const logger = deps.logger ?? createLogger({ level: config.log.level });
  const upstream = deps.upstream ?? config.proxy.upstream;
  if (!upstream) throw new DriftwatchError('DW_ERR_CONFIG_INVALID', 'no upstream to proxy: pass --upstream URL or set proxy.upstream');
  const metrics = createProxyMetrics({ ...(deps.metricsRegistry ? { registry: deps.metricsRegistry } : {}), sloThresholdsMs: sloThresholdsMs(config) });
  const queue = new BoundedQueue<InferenceEvent>(config.proxy.capture.queueSize);
  const summary = new TrafficSummary(Date.now());
  const ownStore = !deps.store;
  const store = deps.store ?? createStore(config, { logger });
  const references = new ReferenceCache({ registry: deps.registry ?? createRegistry(config, { logger }), logger, refreshMs: config.registry.pollIntervalMs });
  const storeMetrics = createStoreMetrics(metrics.registry, () => store.health());
  const referenceFor = (model: string, version: string) => {
    const ref = references.get(model, version);
    // The InfluxDB store publishes each reference once (dw_reference) for the dashboards.
    if (ref !== null) store.noteReference?.(ref);
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
  const profiler = new WindowProfiler({ config: config.stats, extraLatencyBoundsMs: sloThresholdsMs(config), store, logger, referenceFor, metrics: profilerMetrics });
  const maintain = async () => {
    try {
      const r = await store.maintain(Date.now());
      if (r.rolledUp) storeMetrics.maintenance.inc({ action: 'rollup' }, r.rolledUp);
      if (r.deleted) storeMetrics.maintenance.inc({ action: 'retention' }, r.deleted);
    } catch (e) {
      logger.warn('statistics store maintenance failed', { error: (e as Error).message });
    }
  };
  let maintenance: NodeJS.Timeout | null = null;
  const drainOptions = {
    ...(config.proxy.version ? { defaultVersion: config.proxy.version } : {}),
    metrics,
    logger,
    extract: { maxDecompressedBytes: Math.max(config.proxy.capture.maxBodyBytes * 20, 1024 * 1024) },
    // Declared columns (a foreign upstream) first, else what the composition knows (start).
    ...(config.proxy.columns ? { columnsFor: () => config.proxy.columns ?? null } : deps.columnsFor ? { columnsFor: deps.columnsFor } : {}),
  };
  const drain = new CaptureDrain({ queue, summary, profiler, ...drainOptions });
  // proxy.capture.worker: extraction, the summary and the profiler run in a worker thread instead.
  const workerDrain = config.proxy.capture.worker
    ? new WorkerCaptureDrain({ queue, store, stats: config.stats, extraLatencyBoundsMs: sloThresholdsMs(config), referenceFor, profilerMetrics, ...drainOptions })
    : null;
  const proxy = createProxyServer({ config: { ...config.proxy, upstream }, logger, metrics, onEvent: (e) => queue.offer(e) });
  const admin =
    deps.admin !== false && config.admin.enabled
      ? createAdminServer({
          config: config.admin,
          logger,
          metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
          models: () => [],
          reload: async () => [],
          ready: () => proxy.server.listening,
          traffic: () => (workerDrain?.summary ?? summary).toJSON(),
          windows: (q) => store.readWindows(q),
          series: () => store.listSeries(),
          storeInfo: () => ({ store: store.describe, ...store.health(), pendingWindows: (workerDrain ?? profiler).pending }),
        })
      : null;
  let closed = false;
  return {
    summary: workerDrain?.summary ?? summary,
    metrics,
    store,
    profiler: workerDrain ?? profiler,
    async flushStats() {
      if (workerDrain) return workerDrain.flush();
      while (drain.drainOnce() > 0);
      await profiler.flush();
    },
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
      if (workerDrain) workerDrain.start();
      else {
        drain.start();
        profiler.start();
      }
      void maintain();
      maintenance = setInterval(() => void maintain(), MAINTENANCE_INTERVAL_MS);
      maintenance.unref();
      logger.info('proxy listening', {
        url: `http://${proxyAddr.address}:${proxyAddr.port}`,
        upstream,
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
      if (workerDrain) await workerDrain.stop(); // the same, through the worker
      else {
        drain.stop(); // everything queued is processed before exit
        await profiler.stop(); // ... and written to the store
      }
      if (ownStore) await store.close();
      await admin?.close();
    },
  };
}

/** Column names of a served model's column signature, for naming positional inputs. */
export function signatureColumns(app: ServeApp, model: string | null): readonly string[] | null {
  const served = model ? app.models.get(model) : undefined;
  const inputs = served?.current?.model.signature?.inputs;
  return inputs?.kind === 'column' ? inputs.specs.map((s, i) => s.name ?? `f${i}`) : null;
}

/** Every latency threshold the SLO targets name: each becomes an exact histogram boundary. */
export function sloThresholdsMs(config: Config): number[] {
  return config.checks.slo.targets.flatMap((t) => [t.p50Ms, t.p95Ms, t.p99Ms, t.latencyThresholdMs].filter((x): x is number => x !== undefined));
}

export interface AnalyzerDeps {
  store: StatsStore;
  /** Findings store (default: checks.findingsPath; the app closes only one it made). */
  findings?: FindingStore;
  registry?: ModelRegistry;
  logger?: Logger;
  /** Register the check metrics here (the scoring server's registry in `start`). */
  metricsRegistry?: ServeMetrics['registry'];
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

/** The analysis side's scheduled checks over a store and a registry, with findings kept locally. */
export function createAnalyzerApp(config: Config, deps: AnalyzerDeps): AnalyzerApp {
  const logger = deps.logger ?? createLogger({ level: config.log.level });
  const registry = deps.registry ?? createRegistry(config, { logger });
  const ownFindings = !deps.findings;
  const findings = deps.findings ?? new FindingStore(config.checks.findingsPath, config.checks.findingsRetentionDays);
  const metricsRegistry = deps.metricsRegistry ?? createServeMetrics().registry;
  // Findings become alerts (dedupe, repeat interval, resolve, silences) delivered from a durable outbox.
  const alerts = createAlertsService(config.alerts, { logger, metrics: createAlertMetrics(metricsRegistry), ...(deps.now ? { now: deps.now } : {}) });
  const runner = new CheckRunner({
    config: config.checks,
    store: deps.store,
    registry,
    findings,
    logger,
    metrics: createCheckMetrics(metricsRegistry),
    onFindings: async (f) => {
      // The InfluxDB store keeps findings next to the statistics (dw_finding) for the dashboards;
      // a store that cannot take them must not keep the alerts from going out.
      await deps.store.writeFindings?.(f).catch((e: unknown) => logger.warn('findings could not be written to the statistics store', { error: (e as Error).message }));
      return alerts.handle(f);
    },
    ...(deps.now ? { now: deps.now } : {}),
  });
  const admin =
    deps.admin && config.admin.enabled
      ? createAdminServer({
          config: config.admin,
          logger,
          metrics: async () => ({ contentType: metricsRegistry.contentType, body: await metricsRegistry.metrics() }),
          models: () => [],
          reload: async () => [],
          ready: () => true,
          windows: (q) => deps.store.readWindows(q),
          series: () => deps.store.listSeries(),
          storeInfo: () => ({ store: deps.store.describe, ...deps.store.health() }),
          findings,
          runChecks: () => runner.runAll(),
          reference: (model, version) => registry.getReference(model, version),
        })
      : null;
  let pruner: NodeJS.Timeout | null = null;
  return {
    runner,
    findings,
    alerts,
    async start() {
      const adminAddr = admin ? await admin.listen() : null;
      alerts.start();
      if (config.checks.enabled) runner.start();
      pruner = setInterval(() => {
        try {
          findings.prune(Date.now());
        } catch (e) {
          logger.warn('pruning old findings failed', { error: (e as Error).message });
        }
      }, 3_600_000);
      pruner.unref();
      logger.info('scheduled checks running', {
        drift: config.checks.drift.enabled ? config.checks.drift.schedule : 'off',
        slo: config.checks.slo.enabled ? config.checks.slo.schedule : 'off',
        staleness: config.checks.staleness.enabled ? config.checks.staleness.schedule : 'off',
        findings: findings.path,
        store: deps.store.describe,
      });
      return { admin: adminAddr };
    },
    async close() {
      if (pruner) clearInterval(pruner);
      await runner.stop();
      await alerts.stop(); // in-flight sends finish; pending ones stay in the outbox for the next start
      await admin?.close();
      if (ownFindings) findings.close();
    },
  };
}

export interface AllInOneDeps {
  logger?: Logger;
  registry?: ModelRegistry;
}

export interface AllInOneApp {
  readonly serveApp: ServeApp;
  readonly analyzer: AnalyzerApp;
  readonly store: StatsStore;
  readonly findings: FindingStore;
  /** The sidecar proxy; null until start() has put it in front of the scoring server. */
  proxy(): ProxyApp | null;
  start(): Promise<{ scoring: AddressInfo; proxy: AddressInfo; admin: AddressInfo | null; upstream: string }>;
  /** Stops the checks, then the proxy (flushing statistics), then the scoring server; once. */
  close(): Promise<void>;
}

/**
 * The all-in-one that `driftwatch start` (and the demo) run: the scoring server, the sidecar proxy
 * in front of it, the statistics store it feeds and the scheduled checks over that store, behind
 * one admin port. One composition, so the CLI, the demo and the tests cannot drift apart.
 */
export function createAllInOneApp(config: Config, deps: AllInOneDeps = {}): AllInOneApp {
  const logger = deps.logger ?? createLogger({ level: config.log.level });
  const registry = deps.registry ?? createRegistry(config, { logger });
  const store = createStore(config, { logger });
  const findings = new FindingStore(config.checks.findingsPath, config.checks.findingsRetentionDays);
  let proxyApp: ProxyApp | null = null;
  let analyzer: AnalyzerApp | null = null;
  const serveApp = createServeApp(config, {
    logger,
    registry,
    traffic: () => proxyApp?.summary.toJSON() ?? null,
    admin: {
      windows: (q) => store.readWindows(q),
      series: () => store.listSeries(),
      storeInfo: () => ({ store: store.describe, ...store.health(), pendingWindows: proxyApp?.profiler.pending ?? 0 }),
      findings,
      runChecks: async () => (analyzer ? analyzer.runner.runAll() : []),
    },
  });
  const theAnalyzer = createAnalyzerApp(config, { store, registry, findings, logger, metricsRegistry: serveApp.metrics.registry });
  analyzer = theAnalyzer;
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await theAnalyzer.close();
      if (proxyApp) await proxyApp.close();
      await serveApp.close(); // the admin API (which reads the stores) closes here
      findings.close();
      await store.close();
    })());
  return {
    serveApp,
    analyzer: theAnalyzer,
    store,
    findings,
    proxy: () => proxyApp,
    async start() {
      try {
        const { scoring, admin } = await serveApp.start();
        const upstream = `http://${scoring.family === 'IPv6' ? `[${scoring.address}]` : scoring.address}:${scoring.port}`;
        const defaultModel = serveApp.models.keys().next().value as string;
        proxyApp = createProxyApp({ ...config, proxy: { ...config.proxy, model: config.proxy.model ?? defaultModel } }, {
          logger,
          metricsRegistry: serveApp.metrics.registry,
          admin: false,
          upstream,
          store,
          registry,
          columnsFor: (model) => signatureColumns(serveApp, model),
          preloadReferences: () => [...serveApp.models.values()].flatMap((m) => (m.current ? [{ model: m.name, version: m.current.version }] : [])),
        });
        const { proxy } = await proxyApp.start();
        await theAnalyzer.start();
        return { scoring, proxy, admin, upstream };
      } catch (e) {
        await close().catch(() => undefined);
        throw e;
      }
    },
    close,
  };
}
