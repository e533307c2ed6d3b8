/**
 * The scoring server as an application: the served models (each following its registry URI),
 * the scoring listener, the registry poller for live swaps, and its admin port.
 */
import type { AddressInfo } from 'node:net';
import { basename } from 'node:path';
import type { AdminModelView } from '../admin/admin-server.js';
import { ComparisonWindows } from '../challenger/comparison-windows.js';
import type { PairedQualitySummary } from '../challenger/paired-quality.js';
import { type ChallengerReport, challengerGaugeRows, challengerReport as buildReport, type PairQuality } from '../challenger/report.js';
import type { Config } from '../config/schema.js';
import { DriftwatchError, messageOf } from '../errors.js';
import { metadataClasses } from '../model/mlmodel.js';
import type { PairedQualityQuery } from '../outcomes/paired-quality-source.js';
import type { PredictionLog } from '../outcomes/prediction-log.js';
import { isMovable, parseModelUri } from '../registry/model-uri.js';
import type { ModelRegistry } from '../registry/types.js';
import { createScoringServer, type ScoringServer } from '../serve/scoring-server.js';
import { ServedModel } from '../serve/served-model.js';
import { Shadow } from '../serve/shadow.js';
import { isInfluxStore } from '../store/influx.js';
import type { StatsStore } from '../store/types.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import {
  createChallengerMetrics,
  createChallengerQualityMetrics,
  createServeMetrics,
  createShadowPredictionMetrics,
  createStoreMetrics,
  type ServeMetrics,
} from '../telemetry/metrics.js';
import { VERSION } from '../version.js';
import { type AdminParts, createAdmin } from './admin.js';
import { comparisonPublisherFor, createPredictionLog, createRegistry, createStore, sloThresholdsMs } from './backends.js';
import { challengerQualityDep, ShadowPredictionLogging, sharedQualityReads } from './challenger-quality.js';
import { type ComparisonPublisher, type ComparisonPublishing, comparisonPublishing } from './comparison-publishing.js';

export interface ServeAppDeps {
  /** Shown at /api/traffic on the admin port (the all-in-one `start` passes the proxy's summary). */
  traffic?: () => unknown;
  /** More admin parts (the all-in-one: the store's windows, the checks' findings). */
  admin?: Omit<Partial<AdminParts>, 'metrics' | 'ready' | 'models' | 'reload'>;
  logger?: Logger;
  registry?: ModelRegistry;
  /** For the benchmark: serve predictions through express instead of the lean path. */
  predictVia?: 'lean' | 'express';
  /**
   * The statistics store the challenger comparisons are written to (the embedded store's table, or
   * dw_challenger with InfluxDB; the all-in-one passes its own). Without it, a server with a
   * challenger and store.kind influxdb opens one of its own; the caller closes one it passed.
   */
  store?: StatsStore;
  /**
   * The prediction log the challenger's rows go to, under the champion's ids, and both models'
   * quality is read from (labels.enabled; the all-in-one passes its own, null: none). Without it, a
   * server with a challenger and labels.enabled opens one of its own.
   */
  predictionLog?: PredictionLog | null;
}

export interface ServeApp {
  readonly models: ReadonlyMap<string, ServedModel>;
  /** Challengers shadowing served models, by the served model's name (empty without any). */
  readonly shadows: ReadonlyMap<string, Shadow>;
  /** The champion/challenger comparisons in memory (the challenger check and /api/challenger read them). */
  readonly comparisons: ComparisonWindows;
  /** GET /api/challenger's body: each shadowed model, its challenger and the comparisons of [fromMs, toMs), with both models' labelled quality. */
  challengerReport(q: { fromMs: number; toMs: number; model?: string }): Promise<ChallengerReport>;
  /** The challenger's rows on their way to the prediction log (null without a log or a challenger). */
  readonly shadowPredictions: ShadowPredictionLogging | null;
  /** Both models' quality on the labelled pairs (the challenger check's dep; null without a prediction log). */
  readonly pairedQuality: ((q: PairedQualityQuery) => Promise<PairedQualitySummary>) | null;
  readonly metrics: ServeMetrics;
  /**
   * Writes every comparison window not written yet to the store now (the open ones too; later
   * pairs of a window become a second point in InfluxDB, or merge into its row in the embedded
   * store) and, with a store of its own, sends it; resolves with the windows written (0 without a
   * store). Otherwise ended windows go every stats.flushIntervalMs.
   */
  publishComparisons(): Promise<number>;
  start(): Promise<{ scoring: AddressInfo; admin: AddressInfo | null }>;
  reload(): Promise<string[]>;
  close(): Promise<void>;
}

/** What the admin API and the cluster primary show of a served model. */
export function modelView(m: ServedModel): AdminModelView {
  return {
    name: m.name,
    uri: m.uri.text,
    version: m.current?.version ?? null,
    loadedAtMs: m.current?.loadedAtMs ?? null,
    lastError: m.lastError,
    registryError: m.registryError,
  };
}

/** serve.models[].shadowSample when absent (docs/configuration.md). */
export const DEFAULT_SHADOW_SAMPLE = 0.1;

export function createServeApp(config: Config, deps: ServeAppDeps = {}): ServeApp {
  const logger = deps.logger ?? createLogger({ level: config.log.level });
  const registry = deps.registry ?? createRegistry(config, { logger });
  logger.debug('configuration', { config }); // secrets are redacted by the logger
  const metrics = createServeMetrics({ sloThresholdsMs: sloThresholdsMs(config) });
  if (config.serve.models.length === 0) {
    throw new DriftwatchError('DW_ERR_CONFIG_INVALID', 'no model to serve: pass --model URI or set serve.models in the config');
  }
  const models = new Map<string, ServedModel>();
  const challengers = new Map<string, ServedModel>();
  const shadows = new Map<string, Shadow>();
  const checkRules = config.checks.challenger;
  // At least an hour, and the check's whole window, so the check and the report see the same pairs.
  const comparisons = new ComparisonWindows({ retentionMs: Math.max(checkRules.windowMs, 3_600_000) });
  const challengerMetrics = () =>
    createChallengerMetrics(metrics.registry, () => {
      const now = Date.now();
      return challengerGaugeRows(comparisons.read(now - checkRules.windowMs, now + 1));
    });
  let shadowCounter: ReturnType<typeof createChallengerMetrics>['shadowRequests'] | null = null;
  // Set below once the shadows are known: the challenger's rows for the prediction log (labels.enabled).
  let shadowPredictions: ShadowPredictionLogging | null = null;
  // Set below once the shadows are known: the fleet's copy of the comparisons (InfluxDB only).
  let comparisonPublisher: ComparisonPublisher | null = null;
  // An alias or stage that does not resolve is not a registry outage: the registry answered.
  metrics.setRegistryUpSource(() => [...models.values()].every((m) => m.registryError === null || m.registryErrorKind === 'unresolved'));
  for (const m of config.serve.models) {
    const uri = parseModelUri(m.uri);
    const name = m.name ?? (uri.kind === 'path' ? basename(uri.path.replace(/\/+$/, '')) : uri.name);
    if (models.has(name)) throw new DriftwatchError('DW_ERR_CONFIG_INVALID', `two served models are named ${name}; give each a distinct "name"`);
    models.set(name, new ServedModel(name, uri, { registry, onnx: config.serve.onnx, batching: config.serve.batching, logger, metrics }));
    if (m.challenger) {
      // Its own ServedModel: loaded, warmed and live-swapped like the champion, under "<name>.challenger"
      // in logs and metrics so the two never share a series.
      const challenger = new ServedModel(`${name}.challenger`, parseModelUri(m.challenger), {
        registry,
        onnx: config.serve.onnx,
        batching: config.serve.batching,
        logger,
        metrics,
      });
      challengers.set(name, challenger);
      shadowCounter ??= challengerMetrics().shadowRequests;
      const counter = shadowCounter;
      const shadow: Shadow = new Shadow(name, {
        challenger,
        sampleRate: m.shadowSample ?? DEFAULT_SHADOW_SAMPLE,
        queueSize: config.serve.shadow.queueSize,
        maxConcurrent: config.serve.shadow.maxConcurrent,
        timeoutMs: config.serve.shadow.timeoutMs,
        onPair: (pair) => {
          comparisons.record(pair);
          comparisonPublisher?.recordPair(pair);
          shadowPredictions?.offer(pair);
        },
        onOutcome: (outcome) => counter.inc({ model: name, outcome }),
      });
      shadows.set(name, shadow);
    }
  }
  // With InfluxDB the comparisons also go to dw_challenger, so a fleet's dashboards see every
  // replica's shadow. A store of its own (driftwatch serve) spools beside the sidecar's, not in
  // it: two processes replaying one spool directory would take each other's batches.
  let ownStore: StatsStore | null = null;
  if (shadows.size > 0) {
    let publishTo = deps.store ?? null;
    if (!publishTo && config.store.kind === 'influxdb') {
      const influxdb = { ...config.store.influxdb, spoolDir: `${config.store.influxdb.spoolDir}-serve` };
      const opened = createStore({ ...config, store: { ...config.store, influxdb } }, { logger });
      // Its backlog and drops on /metrics, as a sidecar's store has them (an outage must show);
      // a composition that shares the registry with a sidecar should pass its store instead.
      if (!metrics.registry.getSingleMetric('driftwatch_store_backend_pending')) createStoreMetrics(metrics.registry, () => opened.health());
      ownStore = opened;
      publishTo = opened;
    }
    // The embedded store (the all-in-one's) keeps them too, for an analyzer on the same file.
    comparisonPublisher = publishTo ? comparisonPublisherFor(publishTo, { logger }) : null;
  }
  // labels.enabled: the challenger's rows go to the prediction log under the champion's ids (the
  // sidecar in front logs the champion's), and both models' quality is read back from it.
  const ownLog = deps.predictionLog === undefined && shadows.size > 0;
  const predictionLog = shadows.size === 0 ? null : deps.predictionLog === undefined ? createPredictionLog(config, { logger }) : deps.predictionLog;
  const pairedQuality = predictionLog ? challengerQualityDep(predictionLog, createChallengerQualityMetrics(metrics.registry)) : null;
  // The report's reads are shared for a minute (open status pages ask every 10 s); the check's are fresh.
  const reportQuality = pairedQuality ? sharedQualityReads(pairedQuality, 60_000) : null;
  if (predictionLog) {
    shadowPredictions = new ShadowPredictionLogging({
      log: predictionLog,
      config,
      logger,
      counter: createShadowPredictionMetrics(metrics.registry),
      columnsFor: (model) => signatureColumns({ models }, model, config.labels.idColumn ?? null),
      classesFor: (model) => modelClasses({ models: challengers }, model),
    });
  }
  const scoring: ScoringServer = createScoringServer({
    config: config.serve,
    models,
    logger,
    metrics,
    version: VERSION,
    ...(deps.predictVia ? { predictVia: deps.predictVia } : {}),
    ...(shadows.size ? { shadows } : {}),
    ...(shadowPredictions ? { shadowRequests: true } : {}),
  });

  const challengerReport = async (q: { fromMs: number; toMs: number; model?: string }): Promise<ChallengerReport> => {
    const shadowed = [...shadows.values()]
      .filter((s) => q.model === undefined || s.model === q.model)
      .map((s) => {
        const champion = models.get(s.model)!;
        return {
          model: s.model,
          champion: { uri: champion.uri.text, version: champion.current?.version ?? null },
          challenger: { uri: s.challenger.uri.text, version: s.challenger.current?.version ?? null, lastError: s.challenger.lastError },
          sampleRate: s.sampleRate,
          shadow: { ...s.counts, pending: s.pending },
          spans: comparisons.read(q.fromMs, q.toMs, s.model),
        };
      });
    return buildReport(
      q,
      checkRules,
      shadowed,
      reportQuality ? await readPairQuality(reportQuality, shadowed, q.toMs - checkRules.qualityWindowMs, q.toMs) : null,
    );
  };

  const reload = async (): Promise<string[]> => {
    const swapped: string[] = [];
    await Promise.all(
      [...models.values(), ...challengers.values()].map(async (m) => {
        if (await m.refresh().catch(() => false)) swapped.push(m.name);
      }),
    );
    return swapped;
  };
  const views = (): AdminModelView[] =>
    [...models.values()].map((m) => {
      const s = shadows.get(m.name);
      return s
        ? { ...modelView(m), challenger: { uri: s.challenger.uri.text, version: s.challenger.current?.version ?? null, sampleRate: s.sampleRate } }
        : modelView(m);
    });

  const admin = createAdmin(config, logger, {
    metrics: metrics.registry,
    models: views,
    reload,
    ready: () => [...models.values()].every((m) => m.current !== null),
    ...(deps.traffic ? { traffic: deps.traffic } : {}),
    reference: (model, version) => registry.getReference(model, version),
    ...(shadows.size ? { challenger: challengerReport } : {}),
    ...deps.admin,
  });

  let poller: NodeJS.Timeout | null = null;
  // A pair is recorded when the challenger answered, up to its timeout after the pair's time.
  const publishing: ComparisonPublishing | null = comparisonPublisher
    ? comparisonPublishing(comparisonPublisher, { everyMs: config.stats.flushIntervalMs, graceMs: config.serve.shadow.timeoutMs + 1_000 })
    : null;
  return {
    models,
    shadows,
    comparisons,
    challengerReport,
    shadowPredictions,
    pairedQuality,
    metrics,
    reload,
    async publishComparisons() {
      const n = comparisonPublisher?.publishComparisons(Date.now(), { all: true }) ?? 0;
      if (ownStore && isInfluxStore(ownStore)) await ownStore.flush();
      return n;
    },
    async start() {
      // Fail fast: every configured model must load before the port opens.
      await Promise.all([...models.values()].map((m) => m.refresh()));
      // A challenger that cannot load is logged and retried by the poll; it never keeps the champion from serving.
      await Promise.all(
        [...challengers.values()].map((c) =>
          c
            .refresh()
            .catch((e: unknown) =>
              logger.warn('the challenger could not load; the champion serves alone until it does', { model: c.name, uri: c.uri.text, error: messageOf(e) }),
            ),
        ),
      );
      const scoringAddr = await scoring.listen();
      let adminAddr: AddressInfo | null = null;
      try {
        adminAddr = admin ? await admin.listen() : null;
      } catch (e) {
        // Do not leave a half-started process holding the scoring port.
        await scoring.close(0);
        await Promise.all([...models.values(), ...challengers.values()].map((m) => m.close()));
        throw e;
      }
      // A challenger that has not loaded yet is retried even from a directory URI.
      const movable = [...models.values()].filter((m) => isMovable(m.uri)).concat([...challengers.values()]);
      if (movable.length) {
        poller = setInterval(() => {
          for (const m of movable) if (isMovable(m.uri) || m.current === null) void m.refresh().catch(() => undefined);
        }, config.registry.pollIntervalMs);
        poller.unref();
      }
      publishing?.start();
      shadowPredictions?.start();
      logger.info('scoring server listening', {
        url: `http://${scoringAddr.address}:${scoringAddr.port}`,
        admin: adminAddr ? `http://${adminAddr.address}:${adminAddr.port}` : null,
        models: views().map((v) => `${v.name}@${v.version} (${v.uri})`),
        ...(challengers.size
          ? {
              challengers: [...shadows.values()].map(
                (s) => `${s.model}: ${s.challenger.current?.version ?? 'not loaded'} (${s.challenger.uri.text}), sample ${s.sampleRate}`,
              ),
            }
          : {}),
      });
      return { scoring: scoringAddr, admin: adminAddr };
    },
    async close() {
      if (poller) clearInterval(poller);
      await scoring.close(config.serve.shutdownGraceMs);
      await Promise.all([...shadows.values()].map((s) => s.close()));
      // After the shadows: the pairs they finished on the way out are written too.
      await shadowPredictions?.close().catch((e: unknown) => logger.warn('the shadow predictions could not be written', { error: messageOf(e) }));
      if (ownLog) await predictionLog?.close();
      publishing?.stop();
      await ownStore?.close();
      await admin?.close();
      await Promise.all([...models.values(), ...challengers.values()].map((m) => m.close()));
    },
  };
}

/**
 * Both models' labelled quality for every version pair of the report, over the check's quality
 * window ending at the report's end (so the report judges what the check judges).
 */
async function readPairQuality(
  read: (q: PairedQualityQuery) => Promise<PairedQualitySummary>,
  shadowed: ReadonlyArray<{ spans: ReadonlyArray<{ model: string; championVersion: string; challengerVersion: string }> }>,
  fromMs: number,
  toMs: number,
): Promise<PairQuality> {
  const keyOf = (k: { model: string; championVersion: string; challengerVersion: string }) => JSON.stringify([k.model, k.championVersion, k.challengerVersion]);
  const found = new Map<string, PairedQualitySummary | string>();
  for (const m of shadowed) {
    for (const s of m.spans) {
      const key = keyOf(s);
      if (found.has(key)) continue;
      found.set(
        key,
        await read({ model: s.model, championVersion: s.championVersion, challengerVersion: s.challengerVersion, fromMs, toMs }).catch(
          (e: unknown) => `the prediction log could not be read: ${messageOf(e)}`,
        ),
      );
    }
  }
  return { fromMs, toMs, quality: (k) => found.get(keyOf(k)) };
}

/**
 * Column names of a served model's column signature, for naming positional inputs. The capture
 * keeps only these columns of a request, so `idColumn` (labels.idColumn), when given, is added: the
 * rows' ids must survive extraction to key their predictions (the capture drops it from the features).
 */
export function signatureColumns(app: Pick<ServeApp, 'models'>, model: string | null, idColumn: string | null = null): readonly string[] | null {
  const served = model ? app.models.get(model) : undefined;
  const inputs = served?.current?.model.signature?.inputs;
  if (inputs?.kind !== 'column') return null;
  const names = inputs.specs.map((s, i) => s.name ?? `f${i}`);
  return idColumn !== null && !names.includes(idColumn) ? [...names, idColumn] : names;
}

/**
 * Class names of a served model, in the order of its probabilities output: the MLmodel's
 * `metadata.classes` (a list, or a comma-separated text), which MLflow leaves to the model's author.
 */
export function modelClasses(app: Pick<ServeApp, 'models'>, model: string | null): string[] | null {
  const served = model ? app.models.get(model) : undefined;
  return served?.current ? metadataClasses(served.current.model.metadata) : null;
}
