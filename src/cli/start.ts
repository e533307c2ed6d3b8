/** `driftwatch start`: the all-in-one (scoring server, sidecar proxy, checks, alerts, admin API). */
import { createAllInOneApp } from '../app/all-in-one.js';
import { createRegistry } from '../app/backends.js';
import { parseModelUri } from '../registry/model-uri.js';
import { createLogger } from '../telemetry/logger.js';
import { ADMIN_PORT_HELP, ADMIN_PORT_OPTION, adminOverride, configFrom, intFlag, parse, usage } from './args.js';
import { type Command, helpText, SIGNALS_HELP } from './command.js';
import { shadowSample } from './serve.js';
import { EXAMPLE_MODEL_NAME, EXAMPLE_SLO_TARGET, ensureExampleModel } from './example-model.js';
import { untilSignal } from './signals.js';

const HELP = helpText(
  `  driftwatch start [--config FILE] [--model URI] [--challenger URI] [--shadow-sample S]
                   [--host H] [--port P] [--proxy-port P] [--admin-port P]
      The all-in-one: serve the model (default: register the bundled example model,
      examples/seattle-weather, in the local registry if it is not there yet, move it to Production,
      serve models:/${EXAMPLE_MODEL_NAME}/Production) on :8080, put the sidecar proxy in front of it on
      :5000, run the scheduled checks and alerts; admin API and status page (/ui) on :9097.
      With registry.kind mlflow, --model (or serve.models) is required.`,
  [
    ['--model URI', 'the model to serve (default: the bundled example); URI as for driftwatch serve'],
    [
      '--challenger URI',
      'a challenger shadowing the served model (the --model, the one of serve.models, or the example): it scores a sample of its requests after they were answered, and the challenger check judges it (docs/challenger.md)',
    ],
    ['--shadow-sample S', 'share of requests the challenger also scores, 0..1 (default 0.1)'],
    ['--host H', 'interface of the scoring server and the proxy (default 127.0.0.1)'],
    ['--port P', 'port of the scoring server (default 8080; 0: any free port)'],
    ['--proxy-port P', 'port of the sidecar proxy (default 5000)'],
    ADMIN_PORT_HELP,
  ],
  SIGNALS_HELP,
);

async function run(args: string[]): Promise<number> {
  const { values } = parse(args, {
    host: { type: 'string' },
    port: { type: 'string' },
    'proxy-port': { type: 'string' },
    model: { type: 'string' },
    challenger: { type: 'string' },
    'shadow-sample': { type: 'string' },
    ...ADMIN_PORT_OPTION,
  });
  // One served model in start, so a challenger needs no position: it shadows that model.
  const sample = values['shadow-sample'] === undefined ? undefined : shadowSample(values['shadow-sample']);
  if (values.challenger) parseModelUri(values.challenger); // a bad URI is reported before anything starts
  const shadowing = { ...(values.challenger ? { challenger: values.challenger } : {}), ...(sample !== undefined ? { shadowSample: sample } : {}) };
  const serve: Record<string, unknown> = {};
  if (values.model) {
    if (sample !== undefined && !values.challenger) usage('--shadow-sample goes with --challenger');
    serve.models = [{ uri: values.model, ...shadowing }];
  }
  const proxy: Record<string, unknown> = {};
  if (values.host) serve.host = proxy.host = values.host;
  if (values.port !== undefined) serve.port = intFlag(values.port, 'port');
  if (values['proxy-port'] !== undefined) proxy.port = intFlag(values['proxy-port'], 'proxy-port');
  const admin = adminOverride(values);
  let config = configFrom(values, { serve, proxy, ...admin });
  if (!values.model && (values.challenger || sample !== undefined)) {
    const configured = config.serve.models;
    if (configured.length > 1)
      usage('--challenger and --shadow-sample shadow the one served model; with several in serve.models set serve.models[].challenger in the config');
    if (!values.challenger && !configured[0]?.challenger) usage('--shadow-sample goes with --challenger (or serve.models[].challenger)');
    if (configured.length === 1) {
      serve.models = [{ ...configured[0], ...shadowing }];
      config = configFrom(values, { serve, proxy, ...admin });
    }
  }
  if (config.serve.workers > 1)
    usage('start runs everything in one process; for several workers run `driftwatch serve --workers N` and `driftwatch proxy` side by side');
  // The all-in-one shares one metrics registry and one admin port between the scoring server, the
  // proxy and the checks in one process: a proxy group of its own would split all three.
  if (config.proxy.workers > 1)
    usage('start runs everything in one process; for several proxy workers run `driftwatch serve` and `driftwatch proxy --workers N` side by side');
  if (config.serve.models.length === 0 && config.registry.kind === 'mlflow') {
    // Never upload the bundled example into a team's MLflow server behind their back.
    usage('with registry.kind mlflow, name the model to serve: driftwatch start --model models:/NAME/Production (or serve.models in the config)');
  }
  if (config.serve.models.length === 0) {
    await ensureExampleModel(createRegistry(config), (m) => process.stderr.write(`driftwatch: ${m}\n`), config);
    // The quickstart shows every check: the example gets an SLO target unless the config has one
    // for it (by name or "*"). The config's own targets are kept (without the derived windowMs).
    const targets = config.checks.slo.targets;
    const slo = targets.some((t) => t.model === EXAMPLE_MODEL_NAME || t.model === '*')
      ? {}
      : { checks: { slo: { targets: [...targets.map(({ windowMs: _, ...t }) => t), EXAMPLE_SLO_TARGET] } } };
    config = configFrom(values, { serve: { ...serve, models: [{ uri: `models:/${EXAMPLE_MODEL_NAME}/Production`, ...shadowing }] }, proxy, ...admin, ...slo });
  }
  const logger = createLogger({ level: config.log.level });
  const app = createAllInOneApp(config, { logger });
  const { store, serveApp } = app;
  const { proxy: proxyAddr, upstream, admin: adminAddr } = await app.start();
  // The port it got (with --admin-port 0: the free one picked), not the one asked for.
  const adminUrl = `http://${config.admin.host}:${adminAddr?.port ?? config.admin.port}`;
  const defaultModel = serveApp.models.keys().next().value as string;
  const url = `http://${config.proxy.host}:${proxyAddr.port}`;
  process.stderr.write(
    `driftwatch: sidecar proxy on ${url} -> scoring server on ${upstream}; admin API on ${adminUrl}; try:\n` +
      `  curl -s ${url}/invocations -H 'Content-Type: application/json' \\\n` +
      `    -d '{"dataframe_split":{"columns":["precipitation","temp_max","temp_min","wind"],"data":[[0.0,12.8,5.0,4.7]]}}'\n` +
      `  curl -s ${adminUrl}/api/traffic\n` +
      `  curl -s '${adminUrl}/api/windows?model=${defaultModel}&from=15m&view=total'\n` +
      `  curl -s ${adminUrl}/api/findings     # drift, SLO, staleness and data-quality checks\n` +
      (serveApp.shadows.size ? `  curl -s ${adminUrl}/api/challenger   # champion vs challenger and the verdict (driftwatch challenger report)\n` : '') +
      (config.labels.enabled
        ? `  curl -s ${adminUrl}/api/labels -H 'Content-Type: application/json' -d '[{"request_id":"<x-request-id of an answer>","label":"rain"}]'\n`
        : `  (set DRIFTWATCH_LABELS_ENABLED=true to log predictions and join late labels to them: docs/quality.md)\n`) +
      `status page: ${adminUrl}/ui\n` +
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

export const start: Command = {
  name: 'start',
  summary: 'serve a model with the sidecar proxy in front, checks, alerts and the admin API',
  help: HELP,
  run,
};
