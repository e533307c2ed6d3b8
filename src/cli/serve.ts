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
                   [--workers N] [--admin-port P] [--config FILE]
      URI: models:/NAME/VERSION | models:/NAME/STAGE | models:/NAME/latest | models:/NAME@ALIAS | DIR`,
  [
    ['--model URI', 'a model to serve (repeatable; or serve.models); the first answers /invocations'],
    ['--name NAME', 'the name the --model at the same position is served under (default: its registered name)'],
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

async function run(args: string[]): Promise<number> {
  const { values } = parse(args, {
    model: { type: 'string', multiple: true },
    name: { type: 'string', multiple: true },
    host: { type: 'string' },
    port: { type: 'string' },
    workers: { type: 'string' },
    ...ADMIN_PORT_OPTION,
  });
  const serve: Record<string, unknown> = {};
  if (values.model?.length) {
    if (values.name && values.name.length > values.model.length) usage('more --name than --model options');
    serve.models = values.model.map((uri, i) => ({ uri, ...(values.name?.[i] ? { name: values.name[i] } : {}) }));
  }
  if (values.host) serve.host = values.host;
  if (values.port !== undefined) serve.port = intFlag(values.port, 'port');
  if (values.workers !== undefined) serve.workers = intFlag(values.workers, 'workers');
  const config = configFrom(values, { serve, ...adminOverride(values) });
  for (const m of config.serve.models) parseModelUri(m.uri); // report a bad URI before anything starts
  return runServer(config);
}

export const serve: Command = {
  name: 'serve',
  summary: 'serve models (MLflow scoring protocol + Open Inference v2)',
  help: HELP,
  run,
};
