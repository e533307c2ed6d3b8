/** `driftwatch feedback load`: ground-truth labels from a file, joined to logged predictions. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { createPredictionLog, describePredictionLog } from '../app/backends.js';
import { readTable } from '../data/table-file.js';
import { DriftwatchError } from '../errors.js';
import { DEFAULT_LABEL_FIELDS, labelsFromEntries } from '../outcomes/label-input.js';
import type { LabelIngestResult } from '../outcomes/prediction-log.js';
import { configFrom, parse, subcommand, usage } from './args.js';
import { type Command, groupHelp, optionNames, type SubcommandHelp } from './command.js';

const SUBCOMMANDS = {
  load: {
    usage: `  driftwatch feedback load --file FILE [--id-column NAME] [--label-column NAME] [--json]
      Joins the labels in FILE (CSV with a header, or JSON lines) to the predictions in the
      prediction log (labels.path; the sidecar writes it when labels.enabled is true). A label that
      matches no prediction is counted, not an error; a second label for an id replaces the first.
      Prints the counts: matched, replaced, unmatched, not retained (the log's sample dropped the
      id), invalid rows. Exit 0 when the file was read, 1 when it could not be.`,
    options: [
      ['--file FILE', 'the labels: CSV with a header row, or JSON lines'],
      ['--id-column NAME', `the column with the prediction's id (default ${DEFAULT_LABEL_FIELDS.idField})`],
      ['--label-column NAME', `the column with the observed label (default ${DEFAULT_LABEL_FIELDS.labelField})`],
      ['--json', 'print the counts as JSON'],
    ],
  },
} satisfies Record<string, SubcommandHelp>;
type Sub = keyof typeof SUBCOMMANDS;

/** Labels per write transaction: progress shows between them, and one bad file cannot hold a huge transaction. */
const CHUNK = 10_000;

async function run(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  subcommand('feedback', first, Object.keys(SUBCOMMANDS) as Sub[], 'feedback needs a subcommand: load');
  const { values, positionals } = parse(
    rest,
    { file: { type: 'string' }, 'id-column': { type: 'string' }, 'label-column': { type: 'string' }, json: { type: 'boolean' } },
    optionNames(SUBCOMMANDS.load.options),
  );
  if (positionals.length) usage(`feedback load takes no positional arguments (got ${positionals.join(' ')}); the file goes after --file`);
  if (!values.file) usage('feedback load needs --file FILE');
  const config = configFrom(values);
  const pg = config.labels.store === 'postgres';
  // Where the labels go, for the output: the file, or the fleet's database (without credentials).
  const path = pg ? describePredictionLog(config) : resolve(config.labels.path);
  // The log must exist: without it no prediction was ever logged, and every label would be "unmatched".
  // (A PostgreSQL log is created by the first process that connects; an unreachable one fails below, 503.)
  if (!pg && !existsSync(path)) {
    throw new DriftwatchError(
      'DW_ERR_CONFIG_INVALID',
      `no prediction log at ${path}: the sidecar writes it when labels.enabled is true (set labels.path if it writes elsewhere)`,
    );
  }
  const fields = { idField: values['id-column'] ?? DEFAULT_LABEL_FIELDS.idField, labelField: values['label-column'] ?? DEFAULT_LABEL_FIELDS.labelField };
  const progress = (m: string) => {
    if (!values.json) process.stderr.write(`driftwatch: ${m}\n`);
  };
  const table = await readTable(values.file, {
    onProgress: (rows, bytes, total) => {
      if (rows > 0 && total > 0 && bytes < total) progress(`read ${rows} rows (${Math.round((100 * bytes) / total)}%)`);
    },
  });
  for (const f of [fields.idField, fields.labelField]) {
    if (table.format === 'csv' && !table.columns.includes(f)) {
      usage(`${values.file} has no column ${f} (its columns: ${table.columns.join(', ')}); name it with --${f === fields.idField ? 'id' : 'label'}-column`);
    }
  }
  // CSV rows start on line 2 (after the header); JSON lines count from 1.
  const lineOf = (i: number) => `row ${i + 1}`;
  const parsed = labelsFromEntries(table.rows, Date.now(), fields, lineOf);
  const log = createPredictionLog({ ...config, labels: { ...config.labels, enabled: true } })!;
  const total: LabelIngestResult = { matched: 0, replaced: 0, unmatched: 0, notRetained: 0 };
  try {
    for (let i = 0; i < parsed.labels.length; i += CHUNK) {
      const r = await log.recordLabels(parsed.labels.slice(i, i + CHUNK));
      total.matched += r.matched;
      total.replaced += r.replaced;
      total.unmatched += r.unmatched;
      total.notRetained += r.notRetained;
      if (parsed.labels.length > CHUNK) progress(`joined ${Math.min(i + CHUNK, parsed.labels.length)} of ${parsed.labels.length} labels`);
    }
  } finally {
    await log.close();
  }
  if (values.json) {
    console.log(JSON.stringify({ file: values.file, log: path, ...total, invalid: parsed.invalid, errors: parsed.errors }, null, 2));
  } else {
    console.log(
      `${parsed.labels.length + parsed.invalid} rows from ${values.file}: ${total.matched} matched, ${total.replaced} replaced, ${total.unmatched} unmatched, ${total.notRetained} not retained, ${parsed.invalid} invalid (prediction log ${path})`,
    );
    for (const e of parsed.errors) console.log(`  invalid: ${e}`);
    if (parsed.invalid > parsed.errors.length) console.log(`  ... and ${parsed.invalid - parsed.errors.length} more invalid rows`);
  }
  return 0;
}

export const feedback: Command = {
  name: 'feedback',
  summary: 'ground truth: load labels from a file and join them to logged predictions',
  ...groupHelp(SUBCOMMANDS),
  run,
};
