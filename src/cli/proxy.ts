/** `driftwatch proxy`: the sidecar alone, in front of any prediction endpoint. */
import { createProxyApp } from '../app/proxy-app.js';
import { createLogger } from '../telemetry/logger.js';
import { configFrom, intFlag, parse, usage } from './args.js';
import { type Command, helpText, STOP_SIGNALS_HELP } from './command.js';
import { untilSignal } from './signals.js';

const HELP = helpText(
  `  driftwatch proxy --upstream URL [--host H] [--port P] [--model NAME] [--model-version V] [--config FILE]
      The sidecar alone, in front of any prediction endpoint (MLflow, KServe, your own).`,
  [
    ['--upstream URL', 'the prediction endpoint behind the proxy, http(s)://host:port (or proxy.upstream)'],
    ['--host H', 'interface of the proxy (default 127.0.0.1)'],
    ['--port P', 'port of the proxy (default 5000)'],
    ['--model NAME', 'model name recorded for /invocations traffic'],
    ['--model-version V', 'version recorded when the answer names none (so its reference profile applies)'],
  ],
  STOP_SIGNALS_HELP,
);

async function run(args: string[]): Promise<number> {
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

export const proxy: Command = {
  name: 'proxy',
  summary: 'the sidecar alone, in front of any prediction endpoint (MLflow, KServe, your own)',
  help: HELP,
  run,
};
