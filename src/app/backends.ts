/**
 * The one place that chooses implementations: the local or the MLflow registry, the embedded or
 * the InfluxDB statistics store (and, with InfluxDB, the publisher of findings and references
 * beside it). Everything else sees the interfaces.
 */
import { resolve as resolvePath } from 'node:path';
import type { Config } from '../config/schema.js';
import type { PredictionLog } from '../outcomes/prediction-log.js';
import { SqlitePredictionLog } from '../outcomes/sqlite-prediction-log.js';
import { LocalRegistry } from '../registry/local-registry.js';
import { createMlflowRegistry, REFERENCE_TAG } from '../registry/mlflow-registry.js';
import type { ModelRegistry } from '../registry/types.js';
import { EmbeddedStore } from '../store/embedded.js';
import { createInfluxStore, isInfluxStore } from '../store/influx.js';
import { InfluxPublisher } from '../store/influx-publisher.js';
import type { StatsStore } from '../store/types.js';
import type { Logger } from '../telemetry/logger.js';

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
 * The prediction log labels are joined to (labels.enabled), or null. Embedded SQLite: shared by
 * the processes of one host; a fleet's join is described in docs/quality.md.
 */
export function createPredictionLog(config: Config): PredictionLog | null {
  if (!config.labels.enabled) return null;
  return new SqlitePredictionLog(config.labels.path, { maxRows: config.labels.maxRows, horizonMs: config.labels.horizonMs });
}

/** Every latency threshold the SLO targets name: each becomes an exact histogram boundary. */
export function sloThresholdsMs(config: Config): number[] {
  return config.checks.slo.targets.flatMap((t) => [t.p50Ms, t.p95Ms, t.p99Ms, t.latencyThresholdMs].filter((x): x is number => x !== undefined));
}
