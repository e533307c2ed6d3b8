/** `driftwatch reference build|show`: a model version's reference profile. */
import { createRegistry, createStore, referenceLocation } from '../app/backends.js';
import { DriftwatchError } from '../errors.js';
import { buildReferenceFromFile, buildReferenceFromTraffic, type BuiltReference } from '../reference/build-reference.js';
import { classificationMetrics } from '../quality/classification.js';
import { regressionMetrics } from '../quality/regression.js';
import { parseModelUri } from '../registry/model-uri.js';
import type { ReferencePerformance, ReferenceProfile } from '../stats/types.js';
import { configFrom, intFlag, parse, subcommand, timeFlag, usage } from './args.js';
import { type Command, groupHelp, optionNames, type SubcommandHelp, WHEN_HELP } from './command.js';
import { fmtTime } from './format.js';
import { scoreRows } from './model-scorer.js';

const MODEL_OPTION = ['--model URI', 'models:/NAME/VERSION, models:/NAME/STAGE, models:/NAME/latest or models:/NAME@ALIAS'] as const;
const JSON_OPTION = ['--json', 'print JSON'] as const;

const SUBCOMMANDS = {
  build: {
    usage: `  driftwatch reference build --model URI --data FILE [--label-column NAME] [--bins N]
      Build the reference profile of a registered model version from its training data (CSV with a
      header, or JSON lines; columns matched to the model's signature) and store it in the registry.
      The model scores the rows (unless the file holds its outputs), so the reference has its
      predictions; with --label-column it also measures the model's performance on the rows (and
      calibrates its probabilities) for the quality check's drop and estimate (docs/quality.md).
  driftwatch reference build --model URI --from-traffic --since WHEN [--until WHEN]
      ... or from a span of live traffic in the statistics store.
${WHEN_HELP}`,
    options: [
      MODEL_OPTION,
      ['--data FILE', 'the training data: CSV with a header, or JSON lines'],
      ['--label-column NAME', "the column holding the observed outcome: measure the model's performance on the rows (better: holdout rows)"],
      ['--bins N', 'bins per numeric feature (default 10: stats.referenceBins)'],
      ['--from-traffic', 'profile stored traffic instead of a file'],
      ['--since WHEN', 'with --from-traffic: the start of the span'],
      ['--until WHEN', 'with --from-traffic: its end (default now)'],
      JSON_OPTION,
    ],
  },
  show: { usage: '  driftwatch reference show --model URI [--json]', options: [MODEL_OPTION, JSON_OPTION] },
} satisfies Record<string, SubcommandHelp>;
type Sub = keyof typeof SUBCOMMANDS;

function describeReference(ref: ReferenceProfile): string {
  const lines = [
    `reference of ${ref.model} version ${ref.version}: ${ref.rows.toLocaleString('en-US')} rows from ${ref.source}, built ${fmtTime(ref.createdAtMs)}`,
  ];
  const part = (title: string, feats: ReferenceProfile['features']) => {
    for (const [name, f] of Object.entries(feats)) {
      const m = f.profile.moments;
      const detail =
        f.kind === 'numerical'
          ? `${(f.binEdges?.edges.length ?? 0) + 1} bins over [${m.min}, ${m.max}], mean ${m.n ? m.mean.toPrecision(4) : '-'}`
          : `${f.categories?.length ?? 0} categories (${(f.categories ?? []).slice(0, 6).join(', ')}${(f.categories?.length ?? 0) > 6 ? ', ...' : ''})`;
      lines.push(`  ${title} ${name}: ${f.kind}, ${detail}, missing ${f.profile.missing}`);
    }
  };
  part('input', ref.features);
  part('prediction', ref.predictions);
  if (ref.performance) lines.push(describePerformance(ref.performance));
  return lines.join('\n');
}

const f3 = (v: number | null) => (v === null ? '-' : v.toFixed(3));

function describePerformance(p: ReferencePerformance): string {
  const head = `  performance against ${p.labelColumn} (${p.labelled.toLocaleString('en-US')} labelled rows, predictions from the ${p.predictionsFrom === 'model' ? 'model' : 'file'}):`;
  if (p.classification) {
    const m = classificationMetrics(p.classification);
    const cal = p.calibration ? `calibration maps for ${Object.keys(p.calibration).length} class(es)` : 'no calibration (no probabilities, or under 100 rows)';
    return `${head} accuracy ${f3(m.accuracy)}, macro F1 ${f3(m.macroF1)}${m.logLoss === null ? '' : `, log loss ${f3(m.logLoss)}`}; ${cal}`;
  }
  const m = regressionMetrics(p.regression!);
  return `${head} RMSE ${f3(m.rmse)}, MAE ${f3(m.mae)}, R2 ${f3(m.r2)}`;
}

async function run(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  const sub = subcommand('reference', first, Object.keys(SUBCOMMANDS) as Sub[], 'reference needs a subcommand: build or show');
  const { values, positionals } = parse(
    rest,
    {
      model: { type: 'string' },
      data: { type: 'string' },
      'label-column': { type: 'string' },
      bins: { type: 'string' },
      'from-traffic': { type: 'boolean' },
      since: { type: 'string' },
      until: { type: 'string' },
      json: { type: 'boolean' },
    },
    optionNames((SUBCOMMANDS[sub] as SubcommandHelp).options),
  );
  if (positionals.length) usage(`reference ${sub} takes no positional arguments (got ${positionals.join(' ')})`);
  const bins = intFlag(values.bins, 'bins');
  const config = configFrom(values, bins === undefined ? {} : { stats: { referenceBins: bins } });
  const registry = createRegistry(config);
  if (!values.model) usage(`reference ${sub} needs --model URI (models:/NAME/VERSION, /STAGE, /latest or @ALIAS)`);
  const settings = { bins: config.stats.referenceBins, sketchK: config.stats.referenceSketchK, maxCategories: config.stats.maxCategories };
  switch (sub) {
    case 'build': {
      let built: BuiltReference;
      if (values['from-traffic']) {
        if (values.data) usage('pass either --data FILE or --from-traffic, not both');
        if (values['label-column']) usage('--label-column needs --data FILE: stored traffic holds no labels');
        if (!values.since) usage('--from-traffic needs --since WHEN (e.g. --since 24h)');
        const now = Date.now();
        const store = createStore(config);
        try {
          const r = await buildReferenceFromTraffic(
            { registry, store, now: Date.now },
            { modelUri: values.model, fromMs: timeFlag(values.since, 'since', '1h', now), toMs: timeFlag(values.until, 'until', 'now', now), settings },
          );
          process.stderr.write(`driftwatch: merged ${r.windows} stored window(s) from ${store.describe}\n`);
          built = r;
        } finally {
          await store.close();
        }
      } else {
        if (!values.data) usage('reference build needs --data FILE (CSV or JSON lines) or --from-traffic --since WHEN');
        if (values['label-column'] === '') usage('--label-column needs a column name');
        built = await buildReferenceFromFile(
          { registry, now: Date.now, progress: (m) => process.stderr.write(`driftwatch: ${m}\n`), score: scoreRows },
          {
            modelUri: values.model,
            dataPath: values.data,
            settings,
            reading: config.labels,
            ...(values['label-column'] ? { labelColumn: values['label-column'] } : {}),
          },
        );
      }
      if (values.json) console.log(JSON.stringify({ reference: built.reference }, null, 2));
      else {
        console.log(describeReference(built.reference));
        if (built.ignored.length) console.log(`ignored column(s) that are not model inputs or outputs: ${built.ignored.join(', ')}`);
        console.log(
          `stored with ${built.reference.model} version ${built.reference.version} in ${await referenceLocation(config, registry, built.reference.model, built.reference.version)}`,
        );
      }
      return 0;
    }
    case 'show': {
      const resolved = await registry.resolve(parseModelUri(values.model));
      const ref = await registry.getReference(resolved.name, resolved.version);
      if (!ref)
        throw new DriftwatchError(
          'DW_ERR_REFERENCE_NOT_FOUND',
          `${resolved.name} version ${resolved.version} has no reference profile; build one with: driftwatch reference build --model ${values.model} --data FILE`,
        );
      console.log(values.json ? JSON.stringify({ reference: ref }, null, 2) : describeReference(ref));
      return 0;
    }
  }
}

export const reference: Command = {
  name: 'reference',
  summary: "build or show a model version's reference profile",
  ...groupHelp(SUBCOMMANDS),
  run,
};
