/** `driftwatch alerts test|list|silence|unsilence`: the alert outbox and its receivers. */
import { createAlertsService } from '../alerts/alerts-service.js';
import { DriftwatchError } from '../errors.js';
import type { Finding } from '../findings/finding.js';
import { createLogger } from '../telemetry/logger.js';
import { configFrom, parse, subcommand, usage } from './args.js';
import { type Command, groupHelp, optionNames, type SubcommandHelp, WHEN_HELP } from './command.js';

const SUBCOMMANDS = {
  test: { usage: '  driftwatch alerts test RECEIVER        send a test alert and show what the receiver answered' },
  list: { usage: '  driftwatch alerts list [--json]        firing, resolved and undelivered alerts, silences', options: [['--json', 'print JSON']] },
  silence: {
    usage: `  driftwatch alerts silence --until WHEN [--model M] [--check C] [--name FEATURE] [--comment TEXT]
${WHEN_HELP}`,
    options: [
      ['--until WHEN', 'when the silence ends (e.g. 2h, or an ISO time)'],
      ['--model M', 'matcher: the model (at least one matcher is required)'],
      ['--check C', 'matcher: the check (drift, slo or staleness)'],
      ['--name FEATURE', 'matcher: the feature or rule'],
      ['--status S', 'matcher: the finding status (ok, warn, fail or error)'],
      ['--comment TEXT', 'why, shown by alerts list'],
    ],
  },
  unsilence: { usage: '  driftwatch alerts unsilence ID' },
} satisfies Record<string, SubcommandHelp>;
type Sub = keyof typeof SUBCOMMANDS;

async function run(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  const sub = subcommand('alerts', first, Object.keys(SUBCOMMANDS) as Sub[], 'alerts needs a subcommand: test, list, silence or unsilence');
  const { values, positionals } = parse(
    rest,
    {
      json: { type: 'boolean' },
      until: { type: 'string' },
      model: { type: 'string' },
      check: { type: 'string' },
      name: { type: 'string' },
      status: { type: 'string' },
      comment: { type: 'string' },
    },
    optionNames((SUBCOMMANDS[sub] as SubcommandHelp).options),
  );
  const config = configFrom(values, { log: { level: 'warn' } });
  const logger = createLogger({ level: config.log.level });
  if ((sub === 'test' || sub === 'unsilence') && positionals.length !== 1)
    usage(`alerts ${sub} takes one argument (${sub === 'test' ? 'a receiver name' : 'a silence id'})`);
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
      const line = (a: { status: string; severity: string; finding: Finding }) =>
        `${a.status.toUpperCase().padEnd(8)} ${a.severity.padEnd(5)} ${a.finding.message}`;
      console.log(
        `firing: ${l.firing.length}, resolved: ${l.resolved.length}, undelivered: ${l.undelivered.length}, silences: ${l.silences.length}${l.disabledReceivers.length ? `, disabled receivers: ${l.disabledReceivers.join(', ')}` : ''}`,
      );
      for (const a of [...l.firing, ...l.resolved]) console.log(line(a));
      for (const u of l.undelivered)
        console.log(
          `UNDELIVERED ${u.state} ${u.receiver} ${u.model} ${u.status} attempts=${u.attempts}${u.lastStatus ? ` last=HTTP ${u.lastStatus}` : ''}${u.lastError ? ` (${u.lastError})` : ''}`,
        );
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

export const alerts: Command = {
  name: 'alerts',
  summary: 'alert receivers and the outbox: test, list, silence, unsilence',
  ...groupHelp(SUBCOMMANDS),
  run,
};
