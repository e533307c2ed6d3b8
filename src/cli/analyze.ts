/** `driftwatch analyze`: the scheduled checks over the statistics store, with the admin API. */
import { createAnalyzerApp } from '../app/analyzer-app.js';
import { createStore } from '../app/backends.js';
import { parseShard } from '../checks/shard.js';
import { createLogger } from '../telemetry/logger.js';
import { ADMIN_PORT_HELP, ADMIN_PORT_OPTION, adminOverride, configFrom, parse, usage } from './args.js';
import { type Command, helpText, STOP_SIGNALS_HELP } from './command.js';
import { untilSignal } from './signals.js';

const HELP = helpText(
  `  driftwatch analyze [--admin-port P] [--shard I/N] [--config FILE]
      The scheduled checks (drift, SLO, staleness, quality, data quality) over the statistics
      store, with the admin API.`,
  [
    ADMIN_PORT_HELP,
    [
      '--shard I/N',
      'check only the models a stable hash of the name gives to shard I of N (0-based; analyzer.shard; a StatefulSet pod ordinal, docs/deployment.md)',
    ],
  ],
  STOP_SIGNALS_HELP,
);

async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { ...ADMIN_PORT_OPTION, shard: { type: 'string' } });
  if (positionals.length) usage(`analyze takes no positional arguments (got ${positionals.join(' ')})`);
  const shard = values.shard;
  if (shard !== undefined && parseShard(shard) === null) usage(`--shard must be I/N with 0 <= I < N <= 1024 (e.g. 0/3), got ${JSON.stringify(shard)}`);
  const config = configFrom(values, { ...adminOverride(values), ...(shard !== undefined ? { analyzer: { shard } } : {}) });
  const logger = createLogger({ level: config.log.level });
  const store = createStore(config, { logger });
  const analyzer = createAnalyzerApp(config, { store, logger, admin: true });
  try {
    const { admin } = await analyzer.start();
    process.stderr.write(
      `driftwatch: checks scheduled over ${store.describe}; findings at http://${config.admin.host}:${admin?.port ?? config.admin.port}/api/findings\n`,
    );
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

export const analyze: Command = {
  name: 'analyze',
  summary: 'the scheduled checks (drift, SLO, staleness) with the admin API',
  help: HELP,
  run,
};
