/** `driftwatch drift`: compare two files column by column, offline. */
import { readColumns } from '../data/table-file.js';
import { DEFAULT_MIN_EFFECT } from '../drift/effect-rule.js';
import { compareColumns, formatReport } from '../drift/offline.js';
import { DriftwatchError } from '../errors.js';
import { EXIT_FINDINGS, intFlag, parse, usage } from './args.js';
import { type Command, helpText } from './command.js';

const HELP = helpText(
  `  driftwatch drift --reference FILE --current FILE [--format table|json] [--psi-mode fixed|evidently]
                   [--ks-method auto|exact|asymp] [--bins N] [--stat test|psi] [--correction none|bonferroni|benjamini-hochberg]
                   [--rule test-and-effect|test-only] [--min-effect STAT=V,...] [--fail-on column|dataset]
      Compare two CSV / JSON-lines files column by column (PSI, KS, chi-square, Jensen-Shannon).`,
  [
    ['--reference FILE', 'the baseline: CSV with a header, or JSON lines'],
    ['--current FILE', 'the data to compare with it'],
    ['--format table|json', 'output (default table)'],
    ['--psi-mode MODE', "fixed (the reference's quantile bins, as live traffic is binned; default) or evidently"],
    ['--ks-method METHOD', 'auto (default), exact or asymp'],
    ['--bins N', 'PSI bins (at least 2)'],
    ['--stat test|psi', 'what decides drift: the KS / chi-square test under --rule (default) or PSI alone'],
    ['--rule RULE', 'test-and-effect (default: the test is significant AND an effect reaches its floor, as the scheduled check) or test-only (the test alone)'],
    ['--min-effect STAT=V,...', 'effect floors: ks (D, default 0.1), psi (0.06), wasserstein (normalised, 0.25), js (Jensen-Shannon, 0.1)'],
    ['--correction C', 'none (default), bonferroni or benjamini-hochberg across columns'],
    ['--fail-on LEVEL', 'exit 3 when drifted: column (any column drifted) or dataset (dataset_drifted)'],
  ],
  `Exit codes: 0 compared (with --fail-on: and not drifted at that level); 1 error (unreadable
  file, no common column); 2 bad usage; 3 drifted at the --fail-on level. Without --fail-on the
  exit code is 0 whether or not it drifted (the JSON says dataset_drifted).
See docs/drift.md.`,
);

async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    reference: { type: 'string' },
    current: { type: 'string' },
    format: { type: 'string' },
    'psi-mode': { type: 'string' },
    'ks-method': { type: 'string' },
    bins: { type: 'string' },
    stat: { type: 'string' },
    correction: { type: 'string' },
    rule: { type: 'string' },
    'min-effect': { type: 'string' },
    'fail-on': { type: 'string' },
  });
  if (positionals.length) usage(`drift takes no positional arguments (got ${positionals.join(' ')})`);
  if (!values.reference || !values.current) usage('drift needs --reference FILE and --current FILE (CSV with a header, or JSON lines)');
  const oneOf = <T extends string>(v: string | undefined, name: string, allowed: readonly T[], dflt: T): T => {
    if (v === undefined) return dflt;
    if (!(allowed as readonly string[]).includes(v)) usage(`--${name} must be one of ${allowed.join(', ')}`);
    return v as T;
  };
  const format = oneOf(values.format, 'format', ['table', 'json'] as const, 'table');
  const failOn = values['fail-on'] === undefined ? undefined : oneOf(values['fail-on'], 'fail-on', ['column', 'dataset'] as const, 'dataset');
  const bins = intFlag(values.bins, 'bins');
  const minEffect = { ...DEFAULT_MIN_EFFECT };
  for (const part of values['min-effect']?.split(',') ?? []) {
    const [k = '', v = ''] = part.split('=');
    const keys = { ks: 'ks', psi: 'psi', wasserstein: 'wasserstein', js: 'jensenShannon' } as const;
    const x = Number(v);
    if (!Object.hasOwn(keys, k.trim()) || v.trim() === '' || !(x >= 0))
      usage(`--min-effect takes STAT=VALUE pairs (ks, psi, wasserstein, js; value >= 0), got ${part}`);
    minEffect[keys[k.trim() as keyof typeof keys]] = x;
  }
  if (bins !== undefined && bins < 2) usage('--bins must be at least 2');
  const progress = process.stderr.isTTY ? (m: string) => process.stderr.write(`\rdriftwatch: ${m}   `) : () => undefined;
  const read = (path: string, label: string) =>
    readColumns(path, {
      progressEvery: 200_000,
      onProgress: (rows, bytes, total) => progress(`${label}: ${rows.toLocaleString('en-US')} rows (${total ? Math.round((100 * bytes) / total) : 100}%)`),
    });
  const ref = await read(values.reference, 'reference');
  if (process.stderr.isTTY) process.stderr.write('\n');
  const cur = await read(values.current, 'current');
  if (process.stderr.isTTY) process.stderr.write('\n');
  const curNames = new Set(cur.columns.map((c) => c.name));
  const common = ref.columns.filter((c) => curNames.has(c.name));
  if (!common.length) {
    throw new DriftwatchError(
      'DW_ERR_REFERENCE_DATA',
      `the files share no column: reference has ${ref.columns.map((c) => c.name).join(', ')}; current has ${cur.columns.map((c) => c.name).join(', ')}`,
    );
  }
  progress(`comparing ${common.length} column(s)`);
  const report = compareColumns(ref.columns, cur.columns, {
    psiMode: oneOf(values['psi-mode'], 'psi-mode', ['fixed', 'evidently'] as const, 'fixed'),
    ksMethod: oneOf(values['ks-method'], 'ks-method', ['auto', 'exact', 'asymp'] as const, 'auto'),
    stat: oneOf(values.stat, 'stat', ['test', 'psi'] as const, 'test'),
    correction: oneOf(values.correction, 'correction', ['none', 'bonferroni', 'benjamini-hochberg'] as const, 'none'),
    rule: oneOf(values.rule, 'rule', ['test-and-effect', 'test-only'] as const, 'test-and-effect'),
    minEffect,
    ...(bins !== undefined ? { bins } : {}),
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  console.log(format === 'json' ? JSON.stringify(report, null, 2) : formatReport(report));
  // A column is "drifted" only when it had enough rows for a verdict (null: not judged).
  const drifted = failOn === 'dataset' ? report.dataset_drifted : failOn === 'column' ? report.features.some((f) => f.drifted === true) : false;
  return drifted ? EXIT_FINDINGS : 0;
}

export const drift: Command = {
  name: 'drift',
  summary: 'compare two CSV / JSON-lines files column by column, offline',
  help: HELP,
  run,
};
