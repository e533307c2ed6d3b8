/** `driftwatch proxy`: the sidecar alone, in front of any prediction endpoint. */
import cluster from 'node:cluster';
import { createRegistry } from '../app/backends.js';
import { runGroupPrimary, runGroupWorker } from '../app/cluster.js';
import { createProxyApp, type ProxyApp, proxyGroupSpec, proxyWorker } from '../app/proxy-app.js';
import type { Config } from '../config/schema.js';
import { isDriftwatchError, messageOf } from '../errors.js';
import { metadataClasses, readModelDir } from '../model/mlmodel.js';
import { parseModelUri } from '../registry/model-uri.js';
import type { ModelRegistry } from '../registry/types.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import { ADMIN_PORT_HELP, ADMIN_PORT_OPTION, adminOverride, configFrom, intFlag, parse, usage } from './args.js';
import { type Command, helpText, STOP_SIGNALS_HELP } from './command.js';
import { shadowSample } from './serve.js';
import { untilSignal } from './signals.js';

const HELP = helpText(
  `  driftwatch proxy --upstream URL [--host H] [--port P] [--model NAME] [--model-version V] [--workers N]
                   [--shadow-upstream URL [--shadow-sample S]] [--admin-port P] [--config FILE]
      The sidecar alone, in front of any prediction endpoint (MLflow, KServe, your own).`,
  [
    ['--upstream URL', 'the prediction endpoint behind the proxy, http(s)://host:port (or proxy.upstream)'],
    ['--host H', 'interface of the proxy (default 127.0.0.1)'],
    ['--port P', 'port of the proxy (default 5000)'],
    ['--model NAME', 'model name recorded for /invocations traffic'],
    [
      '--model-version V',
      'version recorded when the answer names none (so its reference profile applies); a stage (Production), latest or an alias (champion) is resolved through the registry at start and on every registry poll',
    ],
    [
      '--workers N',
      'processes sharing the proxy port (node:cluster; or proxy.workers; default 1), each with its own capture worker thread, all writing to the one store; one admin port and one /metrics (summed) for the group',
    ],
    [
      '--shadow-upstream URL',
      "a challenger's prediction endpoint: a sample of the answered prediction requests is sent to it too, after the client has its answer, and both answers are compared (GET /api/challenger on the admin port; or proxy.shadow.upstream; one worker only)",
    ],
    ['--shadow-sample S', 'share of the captured, answered prediction requests shadowed, 0..1 (default 0.1; or proxy.shadow.sample)'],
    ADMIN_PORT_HELP,
  ],
  STOP_SIGNALS_HELP,
);

/** A version label that names a registered version only through the registry: a stage, latest or an alias. */
function movableUri(model: string, label: string): string | null {
  if (/^\d+$/.test(label)) return null;
  try {
    const stageOrLatest = parseModelUri(`models:/${model}/${label}`);
    if (stageOrLatest.kind === 'stage' || stageOrLatest.kind === 'latest') return stageOrLatest.text;
  } catch {
    // Neither a stage nor latest: an alias, or a label of the operator's own (below).
  }
  try {
    return parseModelUri(`models:/${model}@${label}`).text;
  } catch {
    return null;
  }
}

/**
 * Follows `--model-version Production` (or an alias) through the registry: resolved at start and
 * on every registry poll, so the traffic is recorded under the version that actually answers and
 * its reference applies. An alias the registry does not know is the operator's own label (as
 * before: MLflow or KServe upstreams with versions of their own) and is kept as it is.
 */
async function followVersion(config: Config, registry: ModelRegistry, logger: Logger, model: string, label: string) {
  const uri = movableUri(model, label);
  if (!uri) return null;
  const isAlias = uri.includes('@');
  let current: string | null = null;
  const resolveNow = async (): Promise<void> => {
    try {
      const resolved = await registry.resolve(parseModelUri(uri));
      if (resolved.version !== current) logger.info('proxy model version resolved', { model, label, version: resolved.version, previous: current });
      current = resolved.version;
    } catch (e) {
      const notFound = isDriftwatchError(e) && e.code.startsWith('DW_ERR_REGISTRY_') && e.code.endsWith('_NOT_FOUND');
      if (notFound && isAlias && current === null) {
        current = label;
        return;
      }
      // Keep the last version known: a registry outage must not relabel the traffic.
      logger.warn('cannot resolve the proxy model version through the registry', { model, label, uri, error: messageOf(e), keeping: current });
    }
  };
  await resolveNow();
  const timer = setInterval(() => void resolveNow(), config.registry.pollIntervalMs);
  timer.unref();
  return { current: () => current, stop: () => clearInterval(timer) };
}

async function run(args: string[]): Promise<number> {
  const { values } = parse(args, {
    upstream: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    model: { type: 'string' },
    'model-version': { type: 'string' },
    workers: { type: 'string' },
    'shadow-upstream': { type: 'string' },
    'shadow-sample': { type: 'string' },
    ...ADMIN_PORT_OPTION,
  });
  const proxy: Record<string, unknown> = {};
  if (values.upstream) proxy.upstream = values.upstream;
  if (values.host) proxy.host = values.host;
  if (values.port !== undefined) proxy.port = intFlag(values.port, 'port');
  if (values.model) proxy.model = values.model;
  if (values['model-version']) proxy.version = values['model-version'];
  if (values.workers !== undefined) proxy.workers = intFlag(values.workers, 'workers');
  const shadow: Record<string, unknown> = {};
  if (values['shadow-upstream']) shadow.upstream = values['shadow-upstream'];
  if (values['shadow-sample'] !== undefined) shadow.sample = shadowSample(values['shadow-sample']);
  if (Object.keys(shadow).length) proxy.shadow = shadow;
  const config = configFrom(values, { proxy, ...adminOverride(values) });
  if (!config.proxy.upstream) usage('proxy needs --upstream URL (or proxy.upstream in the config)');
  if (values['shadow-sample'] !== undefined && !config.proxy.shadow.upstream)
    usage('--shadow-sample goes with --shadow-upstream URL (or proxy.shadow.upstream)');
  // The comparison lives in the process that shadows, and the group's admin port is the primary's.
  if (config.proxy.shadow.upstream && config.proxy.workers > 1)
    usage('--shadow-upstream (proxy.shadow.upstream) needs --workers 1 for now: each worker would compare alone');
  if (config.proxy.workers > 1) {
    if (cluster.isPrimary)
      return runGroupPrimary(config, proxyGroupSpec(config, { logger: createLogger({ level: config.log.level, base: { role: 'primary' } }) }));
    // A worker: the same sidecar as below, with the admin port left to the primary. An InfluxDB
    // instance tag set in the config gets the worker's id: two workers writing one window in the
    // same millisecond under one tag would overwrite each other's point (the default tag, host and
    // pid, is distinct per worker already).
    const instance = config.store.influxdb.instance;
    const workerConfig: Config = instance
      ? { ...config, store: { ...config.store, influxdb: { ...config.store.influxdb, instance: `${instance}-w${cluster.worker?.id ?? 0}` } } }
      : config;
    await runGroupWorker(workerConfig, async (logger) => {
      const { app, stop } = await startProxy(workerConfig, logger, false);
      return proxyWorker(app, stop);
    });
    return 0;
  }
  const logger = createLogger({ level: config.log.level });
  const { stop } = await startProxy(config, logger, true);
  await untilSignal(logger, config.serve.shutdownGraceMs, stop);
  return 0;
}

/**
 * With labels.enabled and no labels.classes, the class names of the model behind the proxy (its
 * MLmodel's metadata.classes, through the registry), so logged probability vectors are keyed by the
 * classes the labels name. A model the registry does not hold (a foreign upstream) has none: the
 * vectors are then keyed 0..k-1 and the quality check ignores them (docs/quality.md).
 */
async function servedClasses(config: Config, registry: ModelRegistry, logger: Logger, version: string | null): Promise<string[] | null> {
  if (!config.labels.enabled || config.labels.classes || !config.proxy.model) return null;
  try {
    const resolved = await registry.resolve(parseModelUri(`models:/${config.proxy.model}/${version ?? 'latest'}`));
    const classes = metadataClasses(readModelDir(resolved.dir).metadata);
    if (classes) logger.info('prediction log class names from the model', { model: config.proxy.model, version: resolved.version, classes });
    return classes;
  } catch (e) {
    logger.info('no class names for the prediction log from the registry (set labels.classes)', { model: config.proxy.model, error: messageOf(e) });
    return null;
  }
}

/** Builds and starts the sidecar (following a movable --model-version); `stop` drains and closes it. */
async function startProxy(config: Config, logger: Logger, admin: boolean): Promise<{ app: ProxyApp; stop: () => Promise<void> }> {
  const registry = createRegistry(config, { logger });
  const follow = config.proxy.model && config.proxy.version ? await followVersion(config, registry, logger, config.proxy.model, config.proxy.version) : null;
  // A followed label is not itself a version: the app gets the resolved one through versionFor.
  const { version: label, ...proxyRest } = config.proxy;
  const appConfig: Config = follow ? { ...config, proxy: proxyRest } : config;
  const fixed = follow ? null : (label ?? null);
  // With a model and version known, its reference is loaded before the first request, so the
  // first windows are binned too.
  const version = follow ? follow.current() : fixed;
  const preload = config.proxy.model && version ? [{ model: config.proxy.model, version }] : [];
  const classes = await servedClasses(config, registry, logger, version);
  const app = createProxyApp(appConfig, {
    logger,
    registry,
    admin,
    preloadReferences: () => preload,
    ...(classes ? { classes } : {}),
    ...(follow ? { versionFor: follow.current } : {}),
  });
  try {
    await app.start();
  } catch (e) {
    follow?.stop();
    throw e;
  }
  return {
    app,
    stop: () => {
      follow?.stop();
      return app.close();
    },
  };
}

export const proxy: Command = {
  name: 'proxy',
  summary: 'the sidecar alone, in front of any prediction endpoint (MLflow, KServe, your own)',
  help: HELP,
  run,
};
