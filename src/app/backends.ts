/**
 * The one place that chooses implementations: the local or the MLflow registry, the embedded or
 * the InfluxDB statistics store (and, with InfluxDB, the publisher of findings and references
 * beside it). Everything else sees the interfaces.
 */
import { resolve as resolvePath } from 'node:path';
import type { FleetFindings } from '../alerts/handover.js';
import type { Config } from '../config/schema.js';
import type { PredictionLog } from '../outcomes/prediction-log.js';
import { describePostgresUrl, PgPredictionLog, type PgPredictionLogOptions } from '../outcomes/pg-prediction-log.js';
import { SqlitePredictionLog } from '../outcomes/sqlite-prediction-log.js';
import { LocalRegistry } from '../registry/local-registry.js';
import { createMlflowRegistry, REFERENCE_TAG } from '../registry/mlflow-registry.js';
import type { ModelRegistry } from '../registry/types.js';
import { EmbeddedStore } from '../store/embedded.js';
import { createInfluxStore, isInfluxStore } from '../store/influx.js';
import { InfluxPublisher } from '../store/influx-publisher.js';
import type { StatsStore } from '../store/types.js';
import type { Logger } from '../telemetry/logger.js';
import { type ComparisonPublisher, createComparisonPublisher } from './comparison-publishing.js';

export function createRegistry(config: Config, deps: { logger?: Logger } = {}): ModelRegistry {
  // Said at start-up: with MLFLOW_TRACKING_URI choosing MLflow by itself, which registry a
  // models:/ URI goes to is not obvious from the command line.
  deps.logger?.info('model registry', { registry: describeRegistry(config) });
  if (config.registry.kind === 'mlflow') return createMlflowRegistry(config.registry, deps.logger ? { logger: deps.logger } : {});
  return new LocalRegistry(config.registry.root);
}

/**
 * The registry the config chooses, for people: `mlflow URL` (without credentials, which config
 * refuses in the URL anyway) or `local DIR` (absolute).
 */
export function describeRegistry(config: Config): string {
  if (config.registry.kind === 'mlflow') {
    const raw = config.registry.trackingUri ?? '';
    try {
      const url = new URL(raw);
      url.username = '';
      url.password = '';
      return `mlflow ${url.toString().replace(/\/+$/, '')}`;
    } catch {
      return 'mlflow (no valid tracking URI)';
    }
  }
  return `local ${resolvePath(config.registry.root)}`;
}

/**
 * Where a reference profile was stored, for `reference build`: the local registry's directory, or
 * the MLflow server with the artifact the version's driftwatch.reference tag points at.
 */
export async function referenceLocation(config: Config, registry: ModelRegistry, model: string, version: string): Promise<string> {
  if (config.registry.kind !== 'mlflow') return resolvePath(config.registry.root);
  const where = describeRegistry(config).replace(/^mlflow /, 'MLflow ');
  try {
    const mv = await registry.getModelVersion(model, version);
    const pointer = mv.tags.find((t) => t.key === REFERENCE_TAG)?.value;
    return pointer ? `${where}, artifact ${pointer} (model version tag ${REFERENCE_TAG})` : where;
  } catch {
    return where; // stored already; the location is a courtesy
  }
}

/** The statistics store the config asks for: embedded (default, one local file) or InfluxDB. */
export function createStore(config: Config, deps: { logger?: Logger } = {}): StatsStore {
  if (config.store.kind === 'influxdb') return createInfluxStore(config.store.influxdb, deps.logger ? { logger: deps.logger } : {});
  return new EmbeddedStore(config.store.embedded);
}

/**
 * With the InfluxDB store, findings and references are published next to the statistics for the
 * dashboards (dw_finding, dw_reference); the embedded store has the findings history instead.
 */
export function publisherFor(store: StatsStore, deps: { logger?: Logger } = {}): InfluxPublisher | null {
  return isInfluxStore(store) ? new InfluxPublisher(store, deps) : null;
}

/**
 * The fleet's published findings (dw_finding) the alert handover reads to tell what a model's
 * previous analyzer had firing (alerts/handover.ts); null with the embedded store, where each
 * analyzer's findings stay in its own history.
 */
export function fleetFindingsFor(store: StatsStore): FleetFindings | null {
  return isInfluxStore(store) ? store : null;
}

/**
 * Where a shadowing process writes its comparison windows: the embedded store's comparisons
 * table, or dw_challenger points through the InfluxDB publisher (one publisher, two writers). The
 * analyzer reads them back through StatsStore.readComparisons. Null for a store that keeps none.
 */
export function comparisonPublisherFor(store: StatsStore, deps: { logger?: Logger } = {}): ComparisonPublisher | null {
  if (isInfluxStore(store)) return createComparisonPublisher(new InfluxPublisher(store, deps), deps);
  if (store instanceof EmbeddedStore) return createComparisonPublisher(store, deps);
  return null;
}

/**
 * The prediction log labels are joined to (labels.enabled), or null. Embedded SQLite (shared by
 * the processes of one host), or PostgreSQL for a fleet (docs/quality.md, "Fleets"). The capture
 * worker thread opens its own with the same choice (capture-worker.ts).
 */
export function createPredictionLog(config: Config, deps: { logger?: Logger } = {}): PredictionLog | null {
  if (!config.labels.enabled) return null;
  if (config.labels.store === 'postgres') return new PgPredictionLog(pgLogOptions(config.labels, deps.logger));
  return new SqlitePredictionLog(config.labels.path, { maxRows: config.labels.maxRows, horizonMs: config.labels.horizonMs });
}

/** The PostgreSQL log's options from labels.* (the capture worker gets the same, as plain data). */
export function pgLogOptions(labels: Config['labels'], logger?: Logger): PgPredictionLogOptions {
  const pg = labels.postgres;
  if (!pg.url) throw new Error('labels.store postgres needs labels.postgres.url');
  return {
    url: pg.url,
    password: pg.password ?? null,
    maxRows: labels.maxRows,
    horizonMs: labels.horizonMs,
    connectTimeoutMs: pg.connectTimeoutMs,
    statementTimeoutMs: pg.statementTimeoutMs,
    maxConnections: pg.maxConnections,
    retryDelayMs: pg.retryDelayMs,
    ...(logger ? { logger } : {}),
  };
}

/** Where the prediction log is, for people: the SQLite file, or the PostgreSQL server and database (no credentials). */
export function describePredictionLog(config: Config): string {
  if (config.labels.store === 'postgres') return describePostgresUrl(config.labels.postgres.url ?? '');
  return `sqlite ${resolvePath(config.labels.path)}`;
}

/** Every latency threshold the SLO targets name: each becomes an exact histogram boundary. */
export function sloThresholdsMs(config: Config): number[] {
  return config.checks.slo.targets.flatMap((t) => [t.p50Ms, t.p95Ms, t.p99Ms, t.latencyThresholdMs].filter((x): x is number => x !== undefined));
}
