/** `driftwatch challenger report`: the champion/challenger comparison of a running scoring server. */
import { messageOf } from '../errors.js';
import { configFrom, EXIT_FINDINGS, parse, subcommand, usage } from './args.js';
import { type Command, groupHelp, optionNames, type SubcommandHelp } from './command.js';

const SUBCOMMANDS = {
  report: {
    usage: `  driftwatch challenger report [--url URL] [--token T] [--model NAME] [--from WHEN] [--json] [--fail-on warn|fail]
      Reads GET /api/challenger from a running driftwatch serve or start (its admin port) and
      prints, per shadowed model and version pair: paired requests, agreement and the label
      confusion (classifiers), prediction differences (regression, probabilities), both models'
      p50/p99 latency on the same requests, the challenger's errors, both models' quality on
      the same labelled requests (labels.enabled: accuracy, macro F1, log loss or RMSE, MAE)
      and the verdict of the challenger check's rules (checks.challenger): "ready to promote"
      or why not.`,
    options: [
      ['--url URL', "the admin port's base URL (default http://admin.host:admin.port from the config)"],
      ['--token T', 'bearer token for the admin API (default admin.token)'],
      ['--model NAME', 'only this served model'],
      ['--from WHEN', "pairs since WHEN (default: the server's checks.challenger.window, 1h): an ISO time, epoch ms or a duration back from now"],
      ['--json', 'print the API answer as JSON'],
      ['--fail-on warn|fail', "exit 3 when a model's latest verdict is not ready and its status (checks.challenger.notReadyStatus) is at or above this level"],
    ],
  },
} satisfies Record<string, SubcommandHelp>;
type Sub = keyof typeof SUBCOMMANDS;

const { help, subcommands } = groupHelp(
  SUBCOMMANDS,
  `Exit codes: 0 printed (with --fail-on: and no model at or above it); 1 the server could not be read;
  2 bad usage or configuration; 3 a model not ready at or above --fail-on.`,
);

/** The parts of GET /api/challenger this command reads (challenger/report.ts ChallengerReport). */
interface Report {
  from: string;
  to: string;
  models: Array<{
    model: string;
    champion: { uri: string; version: string | null };
    challenger: { uri: string; version: string | null; lastError: string | null };
    sampleRate: number;
    shadow: { sampled: number; scored: number; failed: number; dropped: number; notLoaded: number; pending: number };
    comparisons: Array<{
      championVersion: string;
      challengerVersion: string;
      to: string;
      requests: number;
      pairs: number;
      rows: number;
      agreement: number | null;
      confusion: Record<string, Record<string, number>>;
      valueDiff: { count: number; p50: number | null; p95: number | null; max: number | null; min: number | null } | null;
      probDiff: { count: number; p50: number | null; p95: number | null; max: number | null } | null;
      champion: { p50Ms: number | null; p99Ms: number | null };
      challenger: { p50Ms: number | null; p99Ms: number | null; errors: number; errorRate: number | null };
      quality?: {
        from: string;
        to: string;
        labelledPairs: number;
        task: 'classification' | 'regression' | null;
        champion: QualityNumbers;
        challenger: QualityNumbers;
      } | null;
      verdict: { ready: boolean; message: string };
      status: 'ok' | 'warn' | 'fail';
    }>;
  }>;
}

interface QualityNumbers {
  accuracy: number | null;
  macroF1: number | null;
  logLoss: number | null;
  rmse: number | null;
  mae: number | null;
}

/** Both models' numbers on the labelled pairs, one line per model. */
function qualityLines(q: NonNullable<Report['models'][number]['comparisons'][number]['quality']>): string[] {
  const out = [`    quality on ${q.labelledPairs} labelled requests (predictions ${q.from} .. ${q.to}):`];
  for (const role of ['champion', 'challenger'] as const) {
    const m = q[role];
    const numbers =
      q.task === 'classification'
        ? `accuracy ${pct(m.accuracy)}, macro F1 ${num(m.macroF1, 3)}${m.logLoss === null ? '' : `, log loss ${num(m.logLoss, 4)}`}`
        : q.task === 'regression'
          ? `RMSE ${num(m.rmse, 4)}, MAE ${num(m.mae, 4)}`
          : '-';
    out.push(`      ${role.padEnd(10)} ${numbers}`);
  }
  return out;
}

const num = (x: number | null, digits = 2) => (x === null ? '-' : x.toFixed(digits));
const pct = (x: number | null) => (x === null ? '-' : `${(x * 100).toFixed(1)}%`);

export function formatReport(r: Report): string {
  if (!r.models.length) return 'No challenger shadows a served model.';
  const out: string[] = [`Champion vs challenger, ${r.from} .. ${r.to}`];
  for (const m of r.models) {
    out.push('');
    out.push(
      `${m.model}: champion ${m.champion.version ?? '(not loaded)'} (${m.champion.uri}), challenger ${m.challenger.version ?? '(not loaded)'} (${m.challenger.uri}), sample ${m.sampleRate}`,
    );
    if (m.challenger.lastError) out.push(`  challenger error: ${m.challenger.lastError}`);
    out.push(
      `  shadow since start: ${m.shadow.sampled} sampled, ${m.shadow.scored} scored, ${m.shadow.failed} failed, ${m.shadow.dropped} dropped, ${m.shadow.notLoaded} not loaded`,
    );
    if (!m.comparisons.length) out.push('  no paired requests in this span');
    for (const c of m.comparisons) {
      out.push(`  versions ${c.championVersion} -> ${c.challengerVersion}: ${c.requests} requests, ${c.pairs} paired, ${c.rows} rows`);
      out.push(`    agreement ${pct(c.agreement)}`);
      const labels = [...new Set([...Object.keys(c.confusion), ...Object.values(c.confusion).flatMap((row) => Object.keys(row))])].sort();
      if (labels.length > 0 && labels.length <= 12) {
        const w = Math.max(9, ...labels.map((l) => l.length)) + 1;
        out.push(`    confusion (rows: champion, columns: challenger)`);
        out.push(`    ${''.padEnd(w)}${labels.map((l) => l.padStart(w)).join('')}`);
        for (const a of labels) out.push(`    ${a.padEnd(w)}${labels.map((b) => String(c.confusion[a]?.[b] ?? 0).padStart(w)).join('')}`);
      }
      if (c.probDiff)
        out.push(`    probability difference (max per row): p50 ${num(c.probDiff.p50, 4)}, p95 ${num(c.probDiff.p95, 4)}, max ${num(c.probDiff.max, 4)}`);
      if (c.valueDiff)
        out.push(
          `    prediction difference (challenger - champion): p50 ${num(c.valueDiff.p50, 4)}, p95 ${num(c.valueDiff.p95, 4)}, min ${num(c.valueDiff.min, 4)}, max ${num(c.valueDiff.max, 4)}`,
        );
      out.push(
        `    latency p50/p99 ms: champion ${num(c.champion.p50Ms)}/${num(c.champion.p99Ms)}, challenger ${num(c.challenger.p50Ms)}/${num(c.challenger.p99Ms)}; challenger errors ${c.challenger.errors} (${pct(c.challenger.errorRate)})`,
      );
      if (c.quality && c.quality.labelledPairs > 0) out.push(...qualityLines(c.quality));
      out.push(`    ${c.status.toUpperCase()} ${c.verdict.message}`);
    }
  }
  return out.join('\n');
}

/** --fail-on over the latest version pair of each model (the one the challenger check judges). */
export function reportExitCode(r: Report, failOn: 'warn' | 'fail' | undefined): number {
  if (!failOn) return 0;
  const levels = failOn === 'warn' ? ['warn', 'fail'] : ['fail'];
  for (const m of r.models) {
    const latest = [...m.comparisons].sort((a, b) => a.to.localeCompare(b.to)).at(-1);
    if (latest && levels.includes(latest.status)) return EXIT_FINDINGS;
  }
  return 0;
}

async function run(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  subcommand('challenger', first, Object.keys(SUBCOMMANDS) as Sub[], 'challenger needs a subcommand: report');
  const { values, positionals } = parse(
    rest,
    {
      url: { type: 'string' },
      token: { type: 'string' },
      model: { type: 'string' },
      from: { type: 'string' },
      json: { type: 'boolean' },
      'fail-on': { type: 'string' },
    },
    optionNames(SUBCOMMANDS.report.options),
  );
  if (positionals.length) usage(`challenger report takes no positional arguments (got ${positionals.join(' ')})`);
  const failOn = values['fail-on'];
  if (failOn !== undefined && failOn !== 'warn' && failOn !== 'fail') usage(`--fail-on must be warn or fail (got ${JSON.stringify(failOn)})`);
  const config = configFrom(values);
  const base = values.url ?? `http://${config.admin.host.includes(':') ? `[${config.admin.host}]` : config.admin.host}:${config.admin.port}`;
  let url: URL;
  try {
    url = new URL('/api/challenger', base);
  } catch {
    usage(`--url must be an http:// URL of the admin port, got ${JSON.stringify(base)}`);
  }
  if (values.model) url.searchParams.set('model', values.model);
  if (values.from) url.searchParams.set('from', values.from);
  const token = values.token ?? config.admin.token;
  let res: Response;
  try {
    res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(30_000) });
  } catch (e) {
    process.stderr.write(`driftwatch: could not reach the admin API at ${url.origin}: ${messageOf(e)}\n`);
    return 1;
  }
  const text = await res.text();
  if (!res.ok) {
    let message = text.slice(0, 300);
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? message;
    } catch {
      // not JSON: the text as it came
    }
    process.stderr.write(`driftwatch: ${url.pathname} answered ${res.status}: ${message}\n`);
    return res.status === 400 ? 2 : 1;
  }
  const report = JSON.parse(text) as Report;
  console.log(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
  return reportExitCode(report, failOn as 'warn' | 'fail' | undefined);
}

export const challenger: Command = {
  name: 'challenger',
  summary: 'compare a challenger shadowing a served model with its champion',
  help,
  subcommands,
  run,
};
