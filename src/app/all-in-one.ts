/**
 * The all-in-one that `driftwatch start` (and the demo) run: the scoring server, the sidecar proxy
 * in front of it, the statistics store it feeds and the scheduled checks over that store, behind
 * one admin port. One composition, so the CLI, the demo and the tests cannot drift apart.
 */
import type { AddressInfo } from 'node:net';
import type { Config } from '../config/schema.js';
import { createChallengerCheck } from '../checks/challenger.js';
import { CheckRunner } from '../checks/check-runner.js';
import { FindingStore, historySink } from '../findings/history.js';
import type { ModelRegistry } from '../registry/types.js';
import type { StatsStore } from '../store/types.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import { type AnalyzerApp, createAnalyzerApp } from './analyzer-app.js';
import { createPredictionLog, createRegistry, createStore, publisherFor } from './backends.js';
import { createProxyApp, type ProxyApp } from './proxy-app.js';
import { createServeApp, modelClasses, type ServeApp, signatureColumns } from './serve-app.js';

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

export function createAllInOneApp(config: Config, deps: AllInOneDeps = {}): AllInOneApp {
  const logger = deps.logger ?? createLogger({ level: config.log.level });
  const registry = deps.registry ?? createRegistry(config, { logger });
  const store = createStore(config, { logger });
  const findings = new FindingStore(config.checks.findingsPath, config.checks.findingsRetentionDays);
  // labels.enabled: one main-thread connection for label ingestion, pruning and the quality check
  // (the capture worker writes predictions through its own).
  const predictionLog = createPredictionLog(config, { logger });
  let proxyApp: ProxyApp | null = null;
  let analyzer: AnalyzerApp | null = null;
  let challengerRunner: CheckRunner | null = null;
  const serveApp = createServeApp(config, {
    logger,
    registry,
    // The challenger comparisons go to the same store (its comparisons table, or dw_challenger).
    store,
    // The challenger's rows go to the same log as the champion's (the proxy's capture writes those).
    predictionLog,
    traffic: () => proxyApp?.summary.toJSON() ?? null,
    admin: {
      store: { store, pendingWindows: () => proxyApp?.profiler.pending ?? 0 },
      findings,
      runChecks: async () => [...(analyzer ? await analyzer.runner.runAll() : []), ...(challengerRunner ? await challengerRunner.runAll() : [])],
      alertHistory: (limit) => (analyzer ? analyzer.alerts.history(limit) : []),
      ...(predictionLog ? { recordLabels: (labels) => predictionLog.recordLabels(labels) } : {}),
    },
  });
  const theAnalyzer = createAnalyzerApp(config, {
    store,
    registry,
    findings,
    logger,
    metricsRegistry: serveApp.metrics.registry,
    predictionLog,
    // With a challenger here the check runs below over the scoring server's memory (the freshest
    // pairs, the open minute included), so the analyzer must not judge the same comparisons again
    // from the store, where this process writes them too.
    ...(serveApp.shadows.size > 0 ? { challenger: false as const } : {}),
  });
  analyzer = theAnalyzer;
  // The challenger check reads the scoring server's in-memory comparisons, so it runs here, beside
  // the analyzer's checks, with the same sinks (history, alerts: a finding missing from another
  // check's run changes nothing there).
  if (serveApp.shadows.size > 0) {
    const check = createChallengerCheck(config.checks.challenger, {
      models: () => [...serveApp.shadows.keys()],
      spans: (fromMs, toMs) => serveApp.comparisons.read(fromMs, toMs),
      // labels.enabled: both models' quality on the labelled pairs is one more rule.
      ...(serveApp.pairedQuality ? { pairedQuality: serveApp.pairedQuality } : {}),
    });
    // With InfluxDB the verdict also goes to dw_finding, where the dashboards read it.
    const publisher = publisherFor(store, { logger });
    challengerRunner = new CheckRunner({
      checks: [check],
      timeoutMs: config.checks.timeoutMs,
      sinks: [historySink(findings, logger), ...(publisher ? [publisher] : []), { name: 'alerts', accept: (run) => theAnalyzer.alerts.handle(run.findings) }],
      logger,
    });
  }
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await challengerRunner?.stop();
      await theAnalyzer.close();
      if (proxyApp) await proxyApp.close();
      await serveApp.close(); // the admin API (which reads the stores) closes here
      findings.close();
      await store.close();
      await predictionLog?.close();
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
        proxyApp = createProxyApp(
          { ...config, proxy: { ...config.proxy, model: config.proxy.model ?? defaultModel } },
          {
            logger,
            metricsRegistry: serveApp.metrics.registry,
            admin: false,
            upstream,
            store,
            registry,
            // With labels.idColumn the id column is kept too: the rows' ids key their predictions.
            columnsFor: (model) => signatureColumns(serveApp, model, config.labels.enabled ? (config.labels.idColumn ?? null) : null),
            predictionLog,
            classes: modelClasses(serveApp, config.proxy.model ?? defaultModel),
            preloadReferences: () => [...serveApp.models.values()].flatMap((m) => (m.current ? [{ model: m.name, version: m.current.version }] : [])),
          },
        );
        const { proxy } = await proxyApp.start();
        await theAnalyzer.start();
        if (config.checks.enabled) challengerRunner?.start();
        return { scoring, proxy, admin, upstream };
      } catch (e) {
        await close().catch(() => undefined);
        throw e;
      }
    },
    close,
  };
}
