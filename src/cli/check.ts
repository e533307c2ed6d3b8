/** `driftwatch check --once`: every check now, the findings printed, their alerts delivered. */
import { createAnalyzerApp } from '../app/analyzer-app.js';
import { createStore } from '../app/backends.js';
import type { Finding } from '../findings/finding.js';
import { parseDurationMs } from '../time-range.js';
import { configFrom, EXIT_FINDINGS, parse, usage } from './args.js';
import { type Command, helpText } from './command.js';

const HELP = helpText(
  `  driftwatch check --once [--format table|json] [--fail-on warn|fail] [--deliver-timeout 30s] [--config FILE]
      Run every check now against the store and registry and print the findings; alerts they
      raise are delivered before exiting, for at most --deliver-timeout (0: only queue them);
      what is left stays in the outbox for the next running analyzer.`,
  [
    ['--once', 'required: one run (checks on a schedule: driftwatch analyze or driftwatch start)'],
    ['--format table|json', 'output (default table)'],
    ['--fail-on warn|fail', 'exit 3 when a finding is at or above this level (warn: WARN or FAIL; fail: FAIL)'],
    ['--deliver-timeout D', 'how long to deliver the alerts raised (default 30s; 0: only queue them)'],
  ],
  `Exit codes: 0 ran (with --fail-on: and no finding at or above it); 1 error running (with
  --fail-on: also a check that could not run, an ERROR finding, and nothing at or above the level);
  2 bad usage or configuration; 3 a finding at or above --fail-on.`,
);

/**
 * The exit code of a run under --fail-on: a finding at or above the level wins (the gate fails for
 * a known reason); otherwise a check that could not run (ERROR) is 1, since the gate cannot say
 * the model is fine.
 */
function gateExitCode(findings: readonly Finding[], failOn: 'warn' | 'fail' | undefined): number {
  if (!failOn) return 0;
  const levels = failOn === 'warn' ? ['warn', 'fail'] : ['fail'];
  if (findings.some((f) => levels.includes(f.status))) return EXIT_FINDINGS;
  return findings.some((f) => f.status === 'error') ? 1 : 0;
}

function formatFindings(findings: readonly Finding[]): string {
  if (!findings.length) return 'No findings (no model version with recent traffic and a reference, no SLO target, no Production version).';
  const order = { fail: 0, error: 1, warn: 2, ok: 3 };
  return [...findings]
    .sort((a, b) => order[a.status] - order[b.status] || a.check.localeCompare(b.check) || a.subject.model.localeCompare(b.subject.model))
    .map((f) => `${f.status.toUpperCase().padEnd(5)} ${f.check.padEnd(9)} ${f.message}`)
    .join('\n');
}

async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    once: { type: 'boolean' },
    format: { type: 'string' },
    'fail-on': { type: 'string' },
    'deliver-timeout': { type: 'string' },
  });
  if (positionals.length) usage(`check takes no positional arguments (got ${positionals.join(' ')})`);
  if (!values.once) usage('check needs --once (for checks on a schedule run driftwatch analyze or driftwatch start)');
  if (values.format && !['table', 'json'].includes(values.format)) usage('--format must be table or json');
  const failOn = values['fail-on'];
  if (failOn !== undefined && failOn !== 'warn' && failOn !== 'fail') usage(`--fail-on must be warn or fail (got ${JSON.stringify(failOn)})`);
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
        const left =
          delivery.holder?.mode === 'long' && delivery.pending
            ? `; ${delivery.pending} left for the running analyzer (pid ${delivery.holder.pid}), which delivers ${config.alerts.outboxPath}`
            : delivery.outboxPending
              ? `; ${delivery.outboxPending} left pending in ${config.alerts.outboxPath} for the next running analyzer (driftwatch analyze or start on the same outboxPath) to deliver`
              : '';
        console.log(
          `alerts: ${delivery.delivered} delivered, ${delivery.failed} failed${delivery.timedOut ? ` (gave up waiting after ${values['deliver-timeout'] ?? '30s'})` : ''}${left}`,
        );
      }
    }
    return gateExitCode(findings, failOn);
  } finally {
    await analyzer.close();
    await store.close();
  }
}

export const check: Command = {
  name: 'check',
  summary: 'run every check once, print the findings, deliver the alerts they raise',
  help: HELP,
  run,
};
