/** `driftwatch stats series|show`: what the statistics store holds. */
import { mergedByVersion, windowView } from '../admin/window-view.js';
import { createStore } from '../app/backends.js';
import { configFrom, parse, subcommand, timeFlag, usage } from './args.js';
import { type Command, groupHelp, optionNames, type SubcommandHelp, WHEN_HELP } from './command.js';
import { fmtTime } from './format.js';

const JSON_OPTION = ['--json', 'print JSON'] as const;

const SUBCOMMANDS = {
  series: {
    usage: `  driftwatch stats series [--json]
      The model versions that have windows in the statistics store.`,
    options: [JSON_OPTION],
  },
  show: {
    usage: `  driftwatch stats show --model NAME [--version V] [--since WHEN] [--until WHEN] [--total] [--json]
      Stored window profiles (per window, or --total merged over the span).
${WHEN_HELP}`,
    options: [
      ['--model NAME', 'the model whose windows to show'],
      ['--version V', 'only this version (default: every version)'],
      ['--since WHEN', 'the start of the span (default 1h)'],
      ['--until WHEN', 'its end (default now)'],
      ['--total', 'one profile per version merged over the span'],
      JSON_OPTION,
    ],
  },
} satisfies Record<string, SubcommandHelp>;
type Sub = keyof typeof SUBCOMMANDS;

async function run(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  const sub = subcommand('stats', first, Object.keys(SUBCOMMANDS) as Sub[], 'stats needs a subcommand: series or show');
  const { values, positionals } = parse(
    rest,
    {
      model: { type: 'string' },
      version: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      total: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    optionNames((SUBCOMMANDS[sub] as SubcommandHelp).options),
  );
  if (positionals.length) usage(`stats ${sub} takes no positional arguments (got ${positionals.join(' ')})`);
  const config = configFrom(values);
  if (sub === 'show' && !values.model) usage('stats show needs --model NAME');
  const store = createStore(config);
  try {
    if (sub === 'series') {
      const series = await store.listSeries();
      if (values.json) console.log(JSON.stringify({ store: store.describe, series }, null, 2));
      else if (!series.length) console.log(`No stored windows in ${store.describe}.`);
      else for (const s of series) console.log(`${s.model}  version ${s.version}  ${fmtTime(s.firstMs)} .. ${fmtTime(s.lastMs)}`);
      return 0;
    }
    const now = Date.now();
    const fromMs = timeFlag(values.since, 'since', '1h', now);
    const toMs = timeFlag(values.until, 'until', 'now', now);
    const windows = await store.readWindows({ model: values.model!, fromMs, toMs, ...(values.version ? { version: values.version } : {}) });
    const views = (values.total ? mergedByVersion(windows) : windows).map(windowView);
    if (values.json) {
      console.log(JSON.stringify({ store: store.describe, windows: views }, null, 2));
      return 0;
    }
    if (!views.length) console.log(`No windows for ${values.model} between ${fmtTime(fromMs)} and ${fmtTime(toMs)} in ${store.describe}.`);
    for (const v of views) {
      const reqs =
        Object.entries(v.requests)
          .map(([k, n]) => `${k}=${n}`)
          .join(' ') || 'no requests';
      const lat = v.latency_ms ? `p50 ${v.latency_ms.p50?.toFixed(2)} ms, p99 ${v.latency_ms.p99?.toFixed(2)} ms` : '-';
      console.log(`${v.model} v${v.version}  ${v.start}${values.total ? ' (merged)' : ''}  ${reqs}  rows ${v.rows}  latency ${lat}`);
      for (const [name, f] of Object.entries({ ...v.features, ...v.predictions })) {
        const num = f.numeric
          ? ` mean ${f.numeric.mean.toPrecision(4)} std ${f.numeric.std?.toPrecision(3) ?? '-'} p50 ${f.numeric.p50?.toPrecision(4) ?? '-'}`
          : '';
        const cats = f.categories
          ? ` categories ${Object.entries(f.categories.counts)
              .slice(0, 5)
              .map(([k, n]) => `${k}:${n}`)
              .join(' ')}`
          : '';
        console.log(`    ${name}: count ${f.count} missing ${f.missing}${num}${cats}`);
      }
    }
    return 0;
  } finally {
    await store.close();
  }
}

export const stats: Command = {
  name: 'stats',
  summary: 'what the statistics store holds: series, show (window profiles)',
  ...groupHelp(SUBCOMMANDS),
  run,
};
