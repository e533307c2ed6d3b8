/**
 * The scoring server as an application: the served models (each following its registry URI),
 * the scoring listener, the registry poller for live swaps, and its admin port.
 */
import type { AddressInfo } from 'node:net';
import { basename } from 'node:path';
import type { AdminModelView } from '../admin/admin-server.js';
import type { Config } from '../config/schema.js';
import { DriftwatchError } from '../errors.js';
import { isMovable, parseModelUri } from '../registry/model-uri.js';
import type { ModelRegistry } from '../registry/types.js';
import { createScoringServer, type ScoringServer } from '../serve/scoring-server.js';
import { ServedModel } from '../serve/served-model.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import { createServeMetrics, type ServeMetrics } from '../telemetry/metrics.js';
import { VERSION } from '../version.js';
import { type AdminParts, createAdmin } from './admin.js';
import { createRegistry, sloThresholdsMs } from './backends.js';

export interface ServeAppDeps {
  /** Shown at /api/traffic on the admin port (the all-in-one `start` passes the proxy's summary). */
  traffic?: () => unknown;
  /** More admin parts (the all-in-one: the store's windows, the checks' findings). */
  admin?: Omit<Partial<AdminParts>, 'metrics' | 'ready' | 'models' | 'reload'>;
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

export function createServeApp(config: Config, deps: ServeAppDeps = {}): ServeApp {
  const logger = deps.logger ?? createLogger({ level: config.log.level });
  const registry = deps.registry ?? createRegistry(config, { logger });
  logger.debug('configuration', { config }); // secrets are redacted by the logger
  const metrics = createServeMetrics({ sloThresholdsMs: sloThresholdsMs(config) });
  if (config.serve.models.length === 0) {
    throw new DriftwatchError('DW_ERR_CONFIG_INVALID', 'no model to serve: pass --model URI or set serve.models in the config');
  }
  const models = new Map<string, ServedModel>();
  // An alias or stage that does not resolve is not a registry outage: the registry answered.
  metrics.setRegistryUpSource(() => [...models.values()].every((m) => m.registryError === null || m.registryErrorKind === 'unresolved'));
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
  const views = (): AdminModelView[] => [...models.values()].map(modelView);

  const admin = createAdmin(config, logger, {
    metrics: metrics.registry,
    models: views,
    reload,
    ready: () => [...models.values()].every((m) => m.current !== null),
    ...(deps.traffic ? { traffic: deps.traffic } : {}),
    reference: (model, version) => registry.getReference(model, version),
    ...deps.admin,
  });

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

/** Column names of a served model's column signature, for naming positional inputs. */
export function signatureColumns(app: ServeApp, model: string | null): readonly string[] | null {
  const served = model ? app.models.get(model) : undefined;
  const inputs = served?.current?.model.signature?.inputs;
  return inputs?.kind === 'column' ? inputs.specs.map((s, i) => s.name ?? `f${i}`) : null;
}

/**
 * Class names of a served model, in the order of its probabilities output: the MLmodel's
 * `metadata.classes` (a list, or a comma-separated text), which MLflow leaves to the model's author.
 */
export function modelClasses(app: ServeApp, model: string | null): string[] | null {
  const served = model ? app.models.get(model) : undefined;
  const raw = served?.current?.model.metadata.classes;
  if (Array.isArray(raw) && raw.every((c) => typeof c === 'string' || typeof c === 'number')) return raw.map(String);
  if (typeof raw === 'string' && raw.trim() !== '') return raw.split(',').map((c) => c.trim());
  return null;
}
