#!/usr/bin/env node
/**
 * The `driftwatch` command.
 *
 *   driftwatch start                         serve the bundled example model from the local registry
 *   driftwatch serve --model URI [...]       serve models (MLflow scoring protocol + Open Inference v2)
 *   driftwatch registry <subcommand> ...     the local model registry
 *   driftwatch version | help
 *
 * Exit codes: 0 success, 1 failure, 2 bad usage or configuration.
 */
import cluster from 'node:cluster';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createAllInOneApp, createAnalyzerApp, createProxyApp, createRegistry, createServeApp, createStore, signatureColumns, type AnalyzerApp } from './app.js';
import { loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { DriftwatchError, isDriftwatchError, messageOf } from './errors.js';
import { canonicalStage, parseModelUri } from './registry/model-uri.js';
import { buildReferenceFromFile, buildReferenceFromTraffic, type BuiltReference } from './reference/build-reference.js';
import { mergedByVersion, windowView } from './admin/window-view.js';
import { parseDurationMs, parseTimePoint, TIME_POINT_HELP } from './time-range.js';
import type { ReferenceProfile } from './stats/types.js';
import { FindingStore } from './store/findings-store.js';
import type { Finding } from './alerts/finding.js';
import { createAlertsService } from './alerts/alerts-service.js';
import { readColumns } from './data/table-file.js';
import { compareColumns, formatReport } from './drift/offline.js';
import type { ModelRegistry, ModelVersion, RegisteredModel } from './registry/types.js';
import { runClusterPrimary, runClusterWorker } from './serve/cluster.js';
import { createLogger } from './telemetry/logger.js';
import { packageRoot, VERSION } from './version.js';

export const EXAMPLE_MODEL_NAME = 'seattle-weather';

const HELP = `driftwatch ${VERSION}: scoring server and monitoring sidecar for ML models

Usage:
  driftwatch start [--config FILE] [--model URI] [--host H] [--port P] [--proxy-port P]
      The all-in-one: serve the model (default: register the bundled example model,
      examples/seattle-weather, in the local registry if it is not there yet, move it to Production,
      serve models:/${EXAMPLE_MODEL_NAME}/Production) on :8080, put the sidecar proxy in front of it on
      :5000, run the scheduled checks and alerts; admin API and status page (/ui) on :9100.
      With registry.kind mlflow, --model (or serve.models) is required.
  driftwatch proxy --upstream URL [--host H] [--port P] [--model NAME] [--model-version V] [--config FILE]
      The sidecar alone, in front of any prediction endpoint (MLflow, KServe, your own).
  driftwatch serve --model URI [--model URI ...] [--name NAME ...] [--host H] [--port P]
                   [--workers N] [--config FILE]
      URI: models:/NAME/VERSION | models:/NAME/STAGE | models:/NAME/latest | models:/NAME@ALIAS | DIR
  driftwatch registry register --name NAME --path DIR [--description TEXT]
  driftwatch registry list [--json]
  driftwatch registry show NAME [--json]
  driftwatch registry transition NAME VERSION --stage None|Staging|Production|Archived [--archive-existing]
  driftwatch registry set-alias NAME ALIAS VERSION
  driftwatch registry delete-alias NAME ALIAS
  driftwatch registry tag NAME VERSION KEY VALUE
  driftwatch registry delete-tag NAME VERSION KEY
  driftwatch reference build --model URI --data FILE [--bins N]
      Build the reference profile of a registered model version from its training data (CSV with a
      header, or JSON lines; columns matched to the model's signature) and store it in the registry.
  driftwatch reference build --model URI --from-traffic --since WHEN [--until WHEN]
      ... or from a span of live traffic in the statistics store.
  driftwatch reference show --model URI [--json]
  driftwatch stats series [--json]
      The model versions that have windows in the statistics store.
  driftwatch stats show --model NAME [--version V] [--since WHEN] [--until WHEN] [--total] [--json]
      Stored window profiles (per window, or --total merged over the span).
      WHEN: an ISO time, epoch ms, "now", or a duration back from now (90s, 15m, 2h, 7d).
  driftwatch drift --reference FILE --current FILE [--format table|json] [--psi-mode fixed|evidently]
                   [--ks-method auto|exact|asymp] [--bins N] [--stat test|psi] [--correction none|bonferroni|benjamini-hochberg]
      Compare two CSV / JSON-lines files column by column (PSI, KS, chi-square, Jensen-Shannon).
      Exit code 0 whether or not it drifted; 1 only on errors (the JSON says dataset_drifted).
  driftwatch analyze [--config FILE]
      The scheduled checks (drift, SLO, staleness) over the statistics store, with the admin API.
  driftwatch check --once [--format table|json] [--deliver-timeout 30s] [--config FILE]
      Run every check now against the store and registry and print the findings; alerts they
      raise are delivered before exiting, for at most --deliver-timeout (0: only queue them);
      what is left stays in the outbox for the next running analyzer.
  driftwatch alerts test RECEIVER        send a test alert and show what the receiver answered
  driftwatch alerts list [--json]        firing, resolved and undelivered alerts, silences
  driftwatch alerts silence --until WHEN [--model M] [--check C] [--name FEATURE] [--comment TEXT]
  driftwatch alerts unsilence ID
  driftwatch version

Common options:
  --config FILE          YAML or JSON config (also DRIFTWATCH_CONFIG); see docs/configuration.md
  --registry-root DIR    local registry directory (default .driftwatch/registry)
  --log-level LEVEL      debug | info | warn | error | silent

Signals: SIGTERM/SIGINT drain in-flight requests and exit; SIGHUP re-resolves served models now.
`;

function usage(message: string): never {
  throw new DriftwatchError('DW_ERR_CLI_USAGE', `${message}\nRun "driftwatch help" for usage.`);
}

const COMMON = {
  config: { type: 'string' },
  'registry-root': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  try {
    const config = { args, options: { ...COMMON, ...options } as typeof COMMON & T, allowPositionals: true as const, strict: true as const };
    return parseArgs(config);
  } catch (e) {
    return usage(messageOf(e));
  }
}

function configFrom(values: Record<string, unknown>, overrides: Record<string, unknown> = {}): Config {
  const o: Record<string, any> = { ...overrides };
  if (values['registry-root']) o.registry = { root: values['registry-root'] };
  if (values['log-level']) o.log = { level: values['log-level'] };
  return loadConfig({ file: values.config as string | undefined, overrides: o });
}

function intFlag(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) usage(`--${name} must be an integer, got ${JSON.stringify(v)}`);
  return n;
}

/** Resolves on the first SIGTERM/SIGINT, after `close` has drained; SIGHUP calls `reload`. */
function untilSignal(logger: ReturnType<typeof createLogger>, graceMs: number, close: () => Promise<void>, reload?: () => Promise<string[]>): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info('shutting down: draining in-flight requests', { signal, graceMs });
      close().then(resolve, (e: unknown) => {
        logger.error('shutdown failed', { error: messageOf(e) });
        resolve();
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    if (reload) process.on('SIGHUP', () => void reload().then((swapped) => logger.info('reload on SIGHUP', { swapped })));
  });
}

/** Runs a server until SIGTERM/SIGINT, then drains; SIGHUP reloads. Resolves the exit code. */
async function runServer(config: Config): Promise<number> {
  if (config.serve.workers > 1) {
    if (cluster.isPrimary) return runClusterPrimary(config);
    await runClusterWorker(config);
    return 0;
  }
  const logger = createLogger({ level: config.log.level });
  const app = createServeApp(config, { logger });
  await app.start();
  await untilSignal(logger, config.serve.shutdownGraceMs, () => app.close(), () => app.reload());
  return 0;
}

async function cmdProxy(args: string[]): Promise<number> {
  const { values } = parse(args, { upstream: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' }, model: { type: 'string' }, 'model-version': { type: 'string' } });
  const proxy: Record<string, unknown> = {};
  if (values.upstream) proxy.upstream = values.upstream;
  if (values.host) proxy.host = values.host;
  if (values.port !== undefined) proxy.port = intFlag(values.port, 'port');
  if (values.model) proxy.model = values.model;
  if (values['model-version']) proxy.version = values['model-version'];
  const config = configFrom(values, { proxy });
  if (!config.proxy.upstream) usage('proxy needs --upstream URL (or proxy.upstream in the config)');
  const logger = createLogger({ level: config.log.level });
  // With a model and version named, its reference is loaded before the first request, so the
  // first windows are binned too.
  const preload = config.proxy.model && config.proxy.version ? [{ model: config.proxy.model, version: config.proxy.version }] : [];
  const app = createProxyApp(config, { logger, preloadReferences: () => preload });
  await app.start();
  await untilSignal(logger, config.serve.shutdownGraceMs, () => app.close());
  return 0;
}

async function cmdServe(args: string[]): Promise<number> {
  const { values } = parse(args, {
    model: { type: 'string', multiple: true },
    name: { type: 'string', multiple: true },
    host: { type: 'string' },
    port: { type: 'string' },
    workers: { type: 'string' },
  });
  const serve: Record<string, unknown> = {};
  if (values.model?.length) {
    if (values.name && values.name.length > values.model.length) usage('more --name than --model options');
    serve.models = values.model.map((uri, i) => ({ uri, ...(values.name?.[i] ? { name: values.name[i] } : {}) }));
  }
  if (values.host) serve.host = values.host;
  if (values.port !== undefined) serve.port = intFlag(values.port, 'port');
  if (values.workers !== undefined) serve.workers = intFlag(values.workers, 'workers');
  const config = configFrom(values, { serve });
  for (const m of config.serve.models) parseModelUri(m.uri); // report a bad URI before anything starts
  return runServer(config);
}

/**
 * Registers the bundled example model once, and gives it a reference profile built from its
 * training period (examples/seattle-weather/training.csv), so `npm start` works on a fresh clone
 * and its windows are binned against the training data from the first request.
 */
export async function ensureExampleModel(registry: ModelRegistry, log: (m: string) => void, config?: Config): Promise<void> {
  const exists = await registry.getRegisteredModel(EXAMPLE_MODEL_NAME).then(
    () => true,
    (e: unknown) => {
      if (isDriftwatchError(e) && e.code === 'DW_ERR_REGISTRY_MODEL_NOT_FOUND') return false;
      throw e;
    },
  );
  const exampleDir = join(packageRoot(), 'examples', 'seattle-weather');
  if (!exists) {
    const dir = join(exampleDir, 'model');
    if (!existsSync(dir)) throw new DriftwatchError('DW_ERR_MODEL_INVALID', `bundled example model missing at ${dir}`);
    const mv = await registry.createModelVersion({ name: EXAMPLE_MODEL_NAME, sourceDir: dir, description: 'Bundled example: Seattle weather classifier (logistic regression)' });
    await registry.transitionStage(EXAMPLE_MODEL_NAME, mv.version, 'Production');
    log(`registered the bundled example model as ${EXAMPLE_MODEL_NAME} version ${mv.version} (Production)`);
  }
  const uri = `models:/${EXAMPLE_MODEL_NAME}/Production`;
  const resolved = await registry.resolve(parseModelUri(uri)).catch(() => null);
  if (!resolved || (await registry.getReference(resolved.name, resolved.version))) return;
  const stats = config?.stats;
  const built = await buildReferenceFromFile(
    { registry, now: Date.now },
    { modelUri: uri, dataPath: join(exampleDir, 'training.csv'), settings: { bins: stats?.referenceBins ?? 10, sketchK: stats?.referenceSketchK ?? 2048, maxCategories: stats?.maxCategories ?? 100 } },
  );
  log(`built its reference profile from the training period (${built.reference.rows} rows of examples/seattle-weather/training.csv)`);
}

async function cmdStart(args: string[]): Promise<number> {
  const { values } = parse(args, { host: { type: 'string' }, port: { type: 'string' }, 'proxy-port': { type: 'string' }, model: { type: 'string' } });
  const serve: Record<string, unknown> = {};
  if (values.model) serve.models = [{ uri: values.model }];
  const proxy: Record<string, unknown> = {};
  if (values.host) serve.host = proxy.host = values.host;
  if (values.port !== undefined) serve.port = intFlag(values.port, 'port');
  if (values['proxy-port'] !== undefined) proxy.port = intFlag(values['proxy-port'], 'proxy-port');
  let config = configFrom(values, { serve, proxy });
  if (config.serve.workers > 1) usage('start runs everything in one process; for several workers run `driftwatch serve --workers N` and `driftwatch proxy` side by side');
  if (config.serve.models.length === 0 && config.registry.kind === 'mlflow') {
    // Never upload the bundled example into a team's MLflow server behind their back.
    usage('with registry.kind mlflow, name the model to serve: driftwatch start --model models:/NAME/Production (or serve.models in the config)');
  }
  if (config.serve.models.length === 0) {
    await ensureExampleModel(createRegistry(config), (m) => process.stderr.write(`driftwatch: ${m}\n`), config);
    config = configFrom(values, { serve: { ...serve, models: [{ uri: `models:/${EXAMPLE_MODEL_NAME}/Production` }] }, proxy });
  }
  const logger = createLogger({ level: config.log.level });
  const app = createAllInOneApp(config, { logger });
  const { store, serveApp } = app;
  const { proxy: proxyAddr, upstream } = await app.start();
  const defaultModel = serveApp.models.keys().next().value as string;
  const url = `http://${config.proxy.host}:${proxyAddr.port}`;
  process.stderr.write(
    `driftwatch: sidecar proxy on ${url} -> scoring server on ${upstream}; admin API on http://${config.admin.host}:${config.admin.port}; try:\n` +
      `  curl -s ${url}/invocations -H 'Content-Type: application/json' \\\n` +
      `    -d '{"dataframe_split":{"columns":["precipitation","temp_max","temp_min","wind"],"data":[[0.0,12.8,5.0,4.7]]}}'\n` +
      `  curl -s http://${config.admin.host}:${config.admin.port}/api/traffic\n` +
      `  curl -s 'http://${config.admin.host}:${config.admin.port}/api/windows?model=${defaultModel}&from=15m&view=total'\n` +
      `  curl -s http://${config.admin.host}:${config.admin.port}/api/findings     # drift, SLO and staleness checks\n` +
      `status page: http://${config.admin.host}:${config.admin.port}/ui\n` +
      `statistics are written to ${store.describe} every ${config.stats.flushIntervalMs / 1000} s (driftwatch stats show --model ${defaultModel})\n`,
  );
  await untilSignal(
    logger,
    config.serve.shutdownGraceMs,
    () => app.close(),
    () => serveApp.reload(),
  );
  return 0;
}

function fmtTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function printVersions(versions: ModelVersion[]): void {
  const rows = versions.map((v) => [v.version, v.current_stage, v.aliases.join(',') || '-', fmtTime(v.creation_timestamp), v.tags.map((t) => `${t.key}=${t.value}`).join(' ') || '-']);
  const head = ['VERSION', 'STAGE', 'ALIASES', 'CREATED', 'TAGS'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
}

async function cmdRegistry(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  const { values, positionals } = parse(rest, {
    name: { type: 'string' },
    path: { type: 'string' },
    description: { type: 'string' },
    stage: { type: 'string' },
    'archive-existing': { type: 'boolean' },
    json: { type: 'boolean' },
  });
  const registry = createRegistry(configFrom(values));
  const need = (n: number, what: string) => {
    if (positionals.length !== n) usage(`registry ${sub} takes ${what}`);
  };
  switch (sub) {
    case 'register': {
      if (!values.name || !values.path) usage('registry register needs --name NAME --path DIR');
      const mv = await registry.createModelVersion({ name: values.name, sourceDir: values.path, ...(values.description ? { description: values.description } : {}) });
      if (values.json) console.log(JSON.stringify({ model_version: mv }, null, 2));
      else console.log(`Registered ${mv.name} version ${mv.version} (stage None)`);
      return;
    }
    case 'list': {
      const models = await registry.listRegisteredModels();
      if (values.json) {
        console.log(JSON.stringify({ registered_models: models }, null, 2));
        return;
      }
      if (!models.length) {
        console.log('No registered models.');
        return;
      }
      for (const m of models) {
        const latest = m.latest_versions.map((v) => `${v.current_stage}:v${v.version}`).join(' ');
        const aliases = m.aliases.map((a) => `@${a.alias}=v${a.version}`).join(' ');
        console.log(`${m.name}  ${latest}${aliases ? '  ' + aliases : ''}`);
      }
      return;
    }
    case 'show': {
      need(1, 'NAME');
      const name = positionals[0]!;
      const model: RegisteredModel = await registry.getRegisteredModel(name);
      const versions = await registry.listModelVersions(name);
      if (values.json) {
        console.log(JSON.stringify({ registered_model: model, model_versions: versions }, null, 2));
        return;
      }
      console.log(`${model.name}${model.description ? ': ' + model.description : ''}`);
      printVersions(versions);
      return;
    }
    case 'transition': {
      need(2, 'NAME VERSION --stage STAGE');
      const stage = canonicalStage(values.stage ?? '');
      if (!stage) usage('--stage must be one of None, Staging, Production, Archived');
      const mv = await registry.transitionStage(positionals[0]!, positionals[1]!, stage, { archiveExisting: values['archive-existing'] ?? false });
      console.log(`${mv.name} version ${mv.version} is now in stage ${mv.current_stage}`);
      return;
    }
    case 'set-alias':
      need(3, 'NAME ALIAS VERSION');
      await registry.setAlias(positionals[0]!, positionals[1]!, positionals[2]!);
      console.log(`${positionals[0]}@${positionals[1]} -> version ${positionals[2]}`);
      return;
    case 'delete-alias':
      need(2, 'NAME ALIAS');
      await registry.deleteAlias(positionals[0]!, positionals[1]!);
      console.log(`deleted alias ${positionals[0]}@${positionals[1]}`);
      return;
    case 'tag':
      need(4, 'NAME VERSION KEY VALUE');
      await registry.setModelVersionTag(positionals[0]!, positionals[1]!, positionals[2]!, positionals[3]!);
      console.log(`tagged ${positionals[0]} version ${positionals[1]}: ${positionals[2]}=${positionals[3]}`);
      return;
    case 'delete-tag':
      need(3, 'NAME VERSION KEY');
      await registry.deleteModelVersionTag(positionals[0]!, positionals[1]!, positionals[2]!);
      console.log(`deleted tag ${positionals[2]} from ${positionals[0]} version ${positionals[1]}`);
      return;
    default:
      usage(sub ? `unknown registry subcommand ${JSON.stringify(sub)}` : 'registry needs a subcommand');
  }
}

function timeFlag(v: unknown, name: string, fallback: string, nowMs: number): number {
  const text = typeof v === 'string' ? v : fallback;
  const ms = parseTimePoint(text, nowMs);
  if (ms === null) usage(`--${name} must be ${TIME_POINT_HELP}; got ${JSON.stringify(text)}`);
  return ms;
}

function describeReference(ref: ReferenceProfile): string {
  const lines = [`reference of ${ref.model} version ${ref.version}: ${ref.rows.toLocaleString('en-US')} rows from ${ref.source}, built ${fmtTime(ref.createdAtMs)}`];
  const part = (title: string, feats: ReferenceProfile['features']) => {
    for (const [name, f] of Object.entries(feats)) {
      const m = f.profile.moments;
      const detail =
        f.kind === 'numerical'
          ? `${(f.binEdges?.edges.length ?? 0) + 1} bins over [${m.min}, ${m.max}], mean ${m.n ? m.mean.toPrecision(4) : '-'}`
          : `${f.categories?.length ?? 0} categories (${(f.categories ?? []).slice(0, 6).join(', ')}${(f.categories?.length ?? 0) > 6 ? ', ...' : ''})`;
      lines.push(`  ${title} ${name}: ${f.kind}, ${detail}, missing ${f.profile.missing}`);
    }
  };
  part('input', ref.features);
  part('prediction', ref.predictions);
  return lines.join('\n');
}

async function cmdReference(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  const { values, positionals } = parse(rest, {
    model: { type: 'string' },
    data: { type: 'string' },
    bins: { type: 'string' },
    'from-traffic': { type: 'boolean' },
    since: { type: 'string' },
    until: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (positionals.length) usage(`reference ${sub} takes no positional arguments (got ${positionals.join(' ')})`);
  const bins = intFlag(values.bins, 'bins');
  const config = configFrom(values, bins === undefined ? {} : { stats: { referenceBins: bins } });
  const registry = createRegistry(config);
  if (!values.model) usage(`reference ${sub ?? ''} needs --model URI (models:/NAME/VERSION, /STAGE, /latest or @ALIAS)`.replace('  ', ' '));
  const settings = { bins: config.stats.referenceBins, sketchK: config.stats.referenceSketchK, maxCategories: config.stats.maxCategories };
  switch (sub) {
    case 'build': {
      let built: BuiltReference;
      if (values['from-traffic']) {
        if (values.data) usage('pass either --data FILE or --from-traffic, not both');
        if (!values.since) usage('--from-traffic needs --since WHEN (e.g. --since 24h)');
        const now = Date.now();
        const store = createStore(config);
        try {
          const r = await buildReferenceFromTraffic({ registry, store, now: Date.now }, { modelUri: values.model, fromMs: timeFlag(values.since, 'since', '1h', now), toMs: timeFlag(values.until, 'until', 'now', now), settings });
          process.stderr.write(`driftwatch: merged ${r.windows} stored window(s) from ${store.describe}\n`);
          built = r;
        } finally {
          await store.close();
        }
      } else {
        if (!values.data) usage('reference build needs --data FILE (CSV or JSON lines) or --from-traffic --since WHEN');
        built = await buildReferenceFromFile(
          { registry, now: Date.now, progress: (m) => process.stderr.write(`driftwatch: ${m}\n`) },
          { modelUri: values.model, dataPath: values.data, settings },
        );
      }
      if (values.json) console.log(JSON.stringify({ reference: built.reference }, null, 2));
      else {
        console.log(describeReference(built.reference));
        if (built.ignored.length) console.log(`ignored column(s) that are not model inputs or outputs: ${built.ignored.join(', ')}`);
        console.log(`stored with ${built.reference.model} version ${built.reference.version} in ${config.registry.root}`);
      }
      return;
    }
    case 'show': {
      const resolved = await registry.resolve(parseModelUri(values.model));
      const ref = await registry.getReference(resolved.name, resolved.version);
      if (!ref) throw new DriftwatchError('DW_ERR_REFERENCE_NOT_FOUND', `${resolved.name} version ${resolved.version} has no reference profile; build one with: driftwatch reference build --model ${values.model} --data FILE`);
      console.log(values.json ? JSON.stringify({ reference: ref }, null, 2) : describeReference(ref));
      return;
    }
    default:
      usage(sub ? `unknown reference subcommand ${JSON.stringify(sub)}` : 'reference needs a subcommand: build or show');
  }
}

async function cmdStats(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  const { values, positionals } = parse(rest, {
    model: { type: 'string' },
    version: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    total: { type: 'boolean' },
    json: { type: 'boolean' },
  });
  if (positionals.length) usage(`stats ${sub} takes no positional arguments (got ${positionals.join(' ')})`);
  const config = configFrom(values);
  if (sub !== 'series' && sub !== 'show') usage(sub ? `unknown stats subcommand ${JSON.stringify(sub)}` : 'stats needs a subcommand: series or show');
  if (sub === 'show' && !values.model) usage('stats show needs --model NAME');
  const store = createStore(config);
  try {
    if (sub === 'series') {
      const series = await store.listSeries();
      if (values.json) console.log(JSON.stringify({ store: store.describe, series }, null, 2));
      else if (!series.length) console.log(`No stored windows in ${store.describe}.`);
      else for (const s of series) console.log(`${s.model}  version ${s.version}  ${fmtTime(s.firstMs)} .. ${fmtTime(s.lastMs)}`);
      return;
    }
    const now = Date.now();
    const fromMs = timeFlag(values.since, 'since', '1h', now);
    const toMs = timeFlag(values.until, 'until', 'now', now);
    const windows = await store.readWindows({ model: values.model!, fromMs, toMs, ...(values.version ? { version: values.version } : {}) });
    const views = (values.total ? mergedByVersion(windows) : windows).map(windowView);
    if (values.json) {
      console.log(JSON.stringify({ store: store.describe, windows: views }, null, 2));
      return;
    }
    if (!views.length) console.log(`No windows for ${values.model} between ${fmtTime(fromMs)} and ${fmtTime(toMs)} in ${store.describe}.`);
    for (const v of views) {
      const reqs = Object.entries(v.requests).map(([k, n]) => `${k}=${n}`).join(' ') || 'no requests';
      const lat = v.latency_ms ? `p50 ${v.latency_ms.p50?.toFixed(2)} ms, p99 ${v.latency_ms.p99?.toFixed(2)} ms` : '-';
      console.log(`${v.model} v${v.version}  ${v.start}${values.total ? ' (merged)' : ''}  ${reqs}  rows ${v.rows}  latency ${lat}`);
      for (const [name, f] of Object.entries({ ...v.features, ...v.predictions })) {
        const num = f.numeric ? ` mean ${f.numeric.mean.toPrecision(4)} std ${f.numeric.std?.toPrecision(3) ?? '-'} p50 ${f.numeric.p50?.toPrecision(4) ?? '-'}` : '';
        const cats = f.categories ? ` categories ${Object.entries(f.categories.counts).slice(0, 5).map(([k, n]) => `${k}:${n}`).join(' ')}` : '';
        console.log(`    ${name}: count ${f.count} missing ${f.missing}${num}${cats}`);
      }
    }
  } finally {
    await store.close();
  }
}

async function cmdDrift(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    reference: { type: 'string' },
    current: { type: 'string' },
    format: { type: 'string' },
    'psi-mode': { type: 'string' },
    'ks-method': { type: 'string' },
    bins: { type: 'string' },
    stat: { type: 'string' },
    correction: { type: 'string' },
  });
  if (positionals.length) usage(`drift takes no positional arguments (got ${positionals.join(' ')})`);
  if (!values.reference || !values.current) usage('drift needs --reference FILE and --current FILE (CSV with a header, or JSON lines)');
  const oneOf = <T extends string>(v: string | undefined, name: string, allowed: readonly T[], dflt: T): T => {
    if (v === undefined) return dflt;
    if (!(allowed as readonly string[]).includes(v)) usage(`--${name} must be one of ${allowed.join(', ')}`);
    return v as T;
  };
  const format = oneOf(values.format, 'format', ['table', 'json'] as const, 'table');
  const bins = intFlag(values.bins, 'bins');
  if (bins !== undefined && bins < 2) usage('--bins must be at least 2');
  const progress = process.stderr.isTTY ? (m: string) => process.stderr.write(`\rdriftwatch: ${m}   `) : () => undefined;
  const read = (path: string, label: string) =>
    readColumns(path, { progressEvery: 200_000, onProgress: (rows, bytes, total) => progress(`${label}: ${rows.toLocaleString('en-US')} rows (${total ? Math.round((100 * bytes) / total) : 100}%)`) });
  const ref = await read(values.reference, 'reference');
  if (process.stderr.isTTY) process.stderr.write('\n');
  const cur = await read(values.current, 'current');
  if (process.stderr.isTTY) process.stderr.write('\n');
  const curNames = new Set(cur.columns.map((c) => c.name));
  const common = ref.columns.filter((c) => curNames.has(c.name));
  if (!common.length) {
    throw new DriftwatchError('DW_ERR_REFERENCE_DATA', `the files share no column: reference has ${ref.columns.map((c) => c.name).join(', ')}; current has ${cur.columns.map((c) => c.name).join(', ')}`);
  }
  progress(`comparing ${common.length} column(s)`);
  const report = compareColumns(ref.columns, cur.columns, {
    psiMode: oneOf(values['psi-mode'], 'psi-mode', ['fixed', 'evidently'] as const, 'fixed'),
    ksMethod: oneOf(values['ks-method'], 'ks-method', ['auto', 'exact', 'asymp'] as const, 'auto'),
    stat: oneOf(values.stat, 'stat', ['test', 'psi'] as const, 'test'),
    correction: oneOf(values.correction, 'correction', ['none', 'bonferroni', 'benjamini-hochberg'] as const, 'none'),
    ...(bins !== undefined ? { bins } : {}),
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  console.log(format === 'json' ? JSON.stringify(report, null, 2) : formatReport(report));
  return 0;
}

function formatFindings(findings: readonly Finding[]): string {
  if (!findings.length) return 'No findings (no model version with recent traffic and a reference, no SLO target, no Production version).';
  const order = { fail: 0, error: 1, warn: 2, ok: 3 };
  return [...findings]
    .sort((a, b) => order[a.status] - order[b.status] || a.check.localeCompare(b.check) || a.subject.model.localeCompare(b.subject.model))
    .map((f) => `${f.status.toUpperCase().padEnd(5)} ${f.check.padEnd(9)} ${f.message}`)
    .join('\n');
}

async function cmdCheck(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { once: { type: 'boolean' }, format: { type: 'string' }, 'deliver-timeout': { type: 'string' } });
  if (positionals.length) usage(`check takes no positional arguments (got ${positionals.join(' ')})`);
  if (!values.once) usage('check needs --once (for checks on a schedule run driftwatch analyze or driftwatch start)');
  if (values.format && !['table', 'json'].includes(values.format)) usage('--format must be table or json');
  const deliverMs = values['deliver-timeout'] === undefined ? 30_000 : values['deliver-timeout'] === '0' ? 0 : parseDurationMs(values['deliver-timeout']);
  if (deliverMs === null) usage(`--deliver-timeout must be a duration like 30s or 2m, or 0 (got ${JSON.stringify(values['deliver-timeout'])})`);
  const config = configFrom(values, { log: { level: 'warn' } });
  const store = createStore(config);
  const analyzer = createAnalyzerApp(config, { store, admin: false });
  try {
    const findings = await analyzer.runner.runAll();
    // A one-shot run delivers what it queued (bounded by --deliver-timeout); what is left stays
    // pending in the outbox, with its webhook-id, for the next analyzer on the same outboxPath.
    const delivery = config.alerts.enabled && config.alerts.receivers.length && deliverMs > 0 ? await analyzer.alerts.flush(deliverMs) : null;
    if (values.format === 'json') console.log(JSON.stringify({ findings, ...(delivery ? { alerts: delivery } : {}) }, null, 2));
    else {
      console.log(formatFindings(findings));
      if (delivery) {
        // Another process holds the outbox's delivery lease (src/alerts/delivery.ts): it sends them.
        const left = delivery.holder?.mode === 'long' && delivery.pending
          ? `; ${delivery.pending} left for the running analyzer (pid ${delivery.holder.pid}), which delivers ${config.alerts.outboxPath}`
          : delivery.outboxPending
            ? `; ${delivery.outboxPending} left pending in ${config.alerts.outboxPath} for the next running analyzer (driftwatch analyze or start on the same outboxPath) to deliver`
            : '';
        console.log(`alerts: ${delivery.delivered} delivered, ${delivery.failed} failed${delivery.timedOut ? ` (gave up waiting after ${values['deliver-timeout'] ?? '30s'})` : ''}${left}`);
      }
    }
    return 0;
  } finally {
    await analyzer.close();
    await store.close();
  }
}

async function cmdAnalyze(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {});
  if (positionals.length) usage(`analyze takes no positional arguments (got ${positionals.join(' ')})`);
  const config = configFrom(values);
  const logger = createLogger({ level: config.log.level });
  const store = createStore(config, { logger });
  const analyzer = createAnalyzerApp(config, { store, logger, admin: true });
  try {
    const { admin } = await analyzer.start();
    process.stderr.write(`driftwatch: checks scheduled over ${store.describe}; findings at http://${config.admin.host}:${admin?.port ?? config.admin.port}/api/findings\n`);
  } catch (e) {
    await analyzer.close().catch(() => undefined);
    await store.close();
    throw e;
  }
  await untilSignal(logger, config.serve.shutdownGraceMs, async () => {
    await analyzer.close();
    await store.close();
  });
  return 0;
}

async function cmdAlerts(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parse(rest, {
    json: { type: 'boolean' },
    until: { type: 'string' },
    model: { type: 'string' },
    check: { type: 'string' },
    name: { type: 'string' },
    status: { type: 'string' },
    comment: { type: 'string' },
  });
  const config = configFrom(values, { log: { level: 'warn' } });
  const logger = createLogger({ level: config.log.level });
  if (!['test', 'list', 'silence', 'unsilence'].includes(sub ?? '')) usage(sub ? `unknown alerts subcommand ${JSON.stringify(sub)}` : 'alerts needs a subcommand: test, list, silence or unsilence');
  if ((sub === 'test' || sub === 'unsilence') && positionals.length !== 1) usage(`alerts ${sub} takes one argument (${sub === 'test' ? 'a receiver name' : 'a silence id'})`);
  if (sub === 'silence' && !values.until) usage('alerts silence needs --until WHEN (e.g. 2h, or an ISO time) and at least one of --model, --check, --name');
  const alerts = createAlertsService(config.alerts, { logger });
  try {
    if (sub === 'test') {
      const r = await alerts.testReceiver(positionals[0]!);
      console.log(`${positionals[0]}: ${r.status === 0 ? 'no answer' : `HTTP ${r.status}`}${r.body ? `: ${r.body.slice(0, 500)}` : ''}`);
      return r.ok ? 0 : 1;
    }
    if (sub === 'list') {
      const l = alerts.list();
      if (values.json) {
        console.log(JSON.stringify(l, null, 2));
        return 0;
      }
      const line = (a: { status: string; severity: string; finding: Finding }) => `${a.status.toUpperCase().padEnd(8)} ${a.severity.padEnd(5)} ${a.finding.message}`;
      console.log(`firing: ${l.firing.length}, resolved: ${l.resolved.length}, undelivered: ${l.undelivered.length}, silences: ${l.silences.length}${l.disabledReceivers.length ? `, disabled receivers: ${l.disabledReceivers.join(', ')}` : ''}`);
      for (const a of [...l.firing, ...l.resolved]) console.log(line(a));
      for (const u of l.undelivered) console.log(`UNDELIVERED ${u.state} ${u.receiver} ${u.model} ${u.status} attempts=${u.attempts}${u.lastStatus ? ` last=HTTP ${u.lastStatus}` : ''}${u.lastError ? ` (${u.lastError})` : ''}`);
      return 0;
    }
    if (sub === 'silence') {
      const matchers: Record<string, string> = {};
      for (const k of ['model', 'check', 'name', 'status'] as const) if (values[k]) matchers[k] = values[k]!;
      if (!Object.keys(matchers).length) usage('alerts silence needs at least one of --model, --check, --name, --status');
      const until = /^\d{13}$/.test(values.until!) ? Number(values.until) : values.until!;
      const id = alerts.silence({ matchers, until, ...(values.comment ? { comment: values.comment } : {}) });
      console.log(`silenced ${JSON.stringify(matchers)} until ${values.until}: ${id}`);
      return 0;
    }
    const ok = alerts.unsilence(positionals[0]!);
    if (!ok) throw new DriftwatchError('DW_ERR_CLI_USAGE', `no silence ${positionals[0]}`);
    console.log(`removed silence ${positionals[0]}`);
    return 0;
  } finally {
    await alerts.stop();
  }
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  try {
    switch (cmd) {
      case 'start':
        return await cmdStart(args);
      case 'serve':
        return await cmdServe(args);
      case 'proxy':
        return await cmdProxy(args);
      case 'registry':
        await cmdRegistry(args);
        return 0;
      case 'reference':
        await cmdReference(args);
        return 0;
      case 'stats':
        await cmdStats(args);
        return 0;
      case 'drift':
        return await cmdDrift(args);
      case 'check':
        return await cmdCheck(args);
      case 'analyze':
        return await cmdAnalyze(args);
      case 'alerts':
        return await cmdAlerts(args);
      case 'version':
      case '--version':
        console.log(VERSION);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(HELP);
        return 0;
      default:
        return usage(`unknown command ${JSON.stringify(cmd)}`);
    }
  } catch (e) {
    if (isDriftwatchError(e)) {
      process.stderr.write(`driftwatch: ${e.code}: ${e.message}\n`);
      return e.code === 'DW_ERR_CLI_USAGE' || e.code.startsWith('DW_ERR_CONFIG') || e.code === 'DW_ERR_MODEL_URI_INVALID' ? 2 : 1;
    }
    process.stderr.write(`driftwatch: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  () => {
    process.exitCode = 1;
  },
);
