/** `driftwatch serve`: the scoring server (MLflow scoring protocol + Open Inference v2). */
import cluster from 'node:cluster';
import { runClusterPrimary, runClusterWorker } from '../app/cluster.js';
import { createServeApp } from '../app/serve-app.js';
import type { Config } from '../config/schema.js';
import { parseModelUri } from '../registry/model-uri.js';
import { createLogger } from '../telemetry/logger.js';
import { ADMIN_PORT_HELP, ADMIN_PORT_OPTION, adminOverride, configFrom, intFlag, parse, usage } from './args.js';
import { type Command, helpText, SIGNALS_HELP } from './command.js';
import { untilSignal } from './signals.js';

const HELP = helpText(
  `  driftwatch serve --model URI [--model URI ...] [--name NAME ...] [--host H] [--port P]
                   [--challenger URI ...] [--shadow-sample S] [--workers N] [--admin-port P] [--config FILE]
      URI: models:/NAME/VERSION | models:/NAME/STAGE | models:/NAME/latest | models:/NAME@ALIAS | DIR`,
  [
    ['--model URI', 'a model to serve (repeatable; or serve.models); the first answers /invocations'],
    ['--name NAME', 'the name the --model at the same position is served under (default: its registered name)'],
    [
      '--challenger URI',
      'a challenger shadowing the --model at the same position: it scores a sample of its requests after they were answered (docs/challenger.md)',
    ],
    ['--shadow-sample S', 'share of requests the challengers also score, 0..1 (default 0.1)'],
    ['--host H', 'interface of the scoring listener (default 127.0.0.1)'],
    ['--port P', 'port of the scoring listener (default 8080; 0: any free port)'],
    ['--workers N', 'processes sharing the scoring port (node:cluster; default 1)'],
    ADMIN_PORT_HELP,
  ],
  SIGNALS_HELP,
);

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
  await untilSignal(
    logger,
    config.serve.shutdownGraceMs,
    () => app.close(),
    () => app.reload(),
  );
  return 0;
}

/** --shadow-sample: a share in [0, 1]. */
export function shadowSample(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) usage(`--shadow-sample must be a number from 0 to 1, got ${JSON.stringify(text)}`);
  return n;
}

async function run(args: string[]): Promise<number> {
  const { values } = parse(args, {
    model: { type: 'string', multiple: true },
    name: { type: 'string', multiple: true },
    challenger: { type: 'string', multiple: true },
    'shadow-sample': { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    workers: { type: 'string' },
    ...ADMIN_PORT_OPTION,
  });
  const serve: Record<string, unknown> = {};
  if (values.model?.length) {
    if (values.name && values.name.length > values.model.length) usage('more --name than --model options');
    if (values.challenger && values.challenger.length > values.model.length) usage('more --challenger than --model options');
    const sample = values['shadow-sample'] === undefined ? undefined : shadowSample(values['shadow-sample']);
    serve.models = values.model.map((uri, i) => ({
      uri,
      ...(values.name?.[i] ? { name: values.name[i] } : {}),
      ...(values.challenger?.[i] ? { challenger: values.challenger[i] } : {}),
      ...(sample !== undefined ? { shadowSample: sample } : {}),
    }));
  } else if (values.challenger?.length || values['shadow-sample'] !== undefined) usage('--challenger and --shadow-sample go with --model');
  if (values.host) serve.host = values.host;
  if (values.port !== undefined) serve.port = intFlag(values.port, 'port');
  if (values.workers !== undefined) serve.workers = intFlag(values.workers, 'workers');
  const config = configFrom(values, { serve, ...adminOverride(values) });
  for (const m of config.serve.models) {
    parseModelUri(m.uri); // report a bad URI before anything starts
    if (m.challenger) parseModelUri(m.challenger);
  }
  // The comparisons live in the process that scores; the cluster primary's admin port would not see them.
  if (config.serve.workers > 1 && config.serve.models.some((m) => m.challenger))
    usage('a challenger runs in one process: use --workers 1 (the default) with --challenger or serve.models[].challenger');
  return runServer(config);
}

export const serve: Command = {
  name: 'serve',
  summary: 'serve models (MLflow scoring protocol + Open Inference v2)',
  help: HELP,
  run,
};
