/**
 * Drift-verdict calibration (issue 23): how often each rule calls drift when nothing changed (false
 * alarms, with a 95% Wilson interval) and how often it catches a real change (detection rate), at
 * 100 to 1,000,000 rows per window, for the default rule (test AND effect floor) and the test-only
 * rule, through both real paths:
 *
 *  - online: rows go through the capture side's WindowProfiler (the sketches and bins live traffic
 *    gets), are flushed to an embedded SQLite StatsStore, and the scheduled drift Check
 *    (src/checks/drift.ts) reads them back and judges them against a reference profile built as
 *    `driftwatch reference build` builds one (10 bins, KLL k = 2048);
 *  - offline: the same rows, as columns, through compareColumns (what `driftwatch drift` runs).
 *
 * Every trial draws a fresh reference (50,000 rows of N(0,1) per numeric column, and a 5-category
 * column) and a fresh window with one column per scenario, so one window carries all scenarios
 * (the columns are independent and no correction is applied across them: each column is judged as
 * it would be alone). Scenarios: 4 numeric null columns and 1 categorical null column (pooled for
 * the false-alarm rate), mean shifts of 0.05 to 0.5 sd, sd x1.25 and x1.5, and a new category
 * taking 5% of the rows. Seeded (mulberry32), so a run reproduces.
 *
 * Run: `npx tsx bench/drift-calibration.ts` (writes the table between the drift-calibration
 * markers of bench/RESULTS.md and docs/drift.md); `BENCH_QUICK=1` runs small windows with fewer
 * trials and only prints.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDriftCheck } from '../src/checks/drift.js';
import { driftCheckSchema, statsSchema } from '../src/config/schema.js';
import { compareColumns, type ColumnInput } from '../src/drift/offline.js';
import { DEFAULT_MIN_EFFECT } from '../src/drift/effect-rule.js';
import { WindowProfiler } from '../src/capture/window-profiler.js';
import type { ModelRegistry } from '../src/registry/types.js';
import { buildReference } from '../src/stats/reference.js';
import type { Cell } from '../src/stats/feature-profile.js';
import type { ReferenceProfile } from '../src/stats/types.js';
import { EmbeddedStore } from '../src/store/embedded.js';
import { createLogger } from '../src/telemetry/logger.js';
import { mulberry32, normal } from '../test/prng.js';

const QUICK = process.env.BENCH_QUICK === '1';
const REF_ROWS = 50_000;
const ALPHA = 0.05;
/** Trials per window size: chosen so the full run fits in ~10 minutes on 2 shared cores. */
const PLAN: ReadonlyArray<[rows: number, trials: number]> = QUICK
  ? [
      [100, 40],
      [1_000, 30],
      [10_000, 10],
    ]
  : [
      [100, 100],
      [1_000, 100],
      [10_000, 100],
      [100_000, 40],
      [1_000_000, 12],
    ];

const CATS = ['a', 'b', 'c', 'd', 'e'];
const CAT_P = [0.4, 0.25, 0.15, 0.12, 0.08];
function category(r: () => number, newShare: number): string {
  let u = r();
  if (u < newShare) return 'new';
  u = (u - newShare) / (1 - newShare);
  for (let i = 0; i < CATS.length - 1; i++) {
    if (u < CAT_P[i]!) return CATS[i]!;
    u -= CAT_P[i]!;
  }
  return CATS[CATS.length - 1]!;
}

interface Scenario {
  name: string;
  label: string;
  /** null columns count towards the false-alarm rate. */
  null: boolean;
  kind: 'numerical' | 'categorical';
  shift?: number;
  scale?: number;
  newShare?: number;
}
const SCENARIOS: Scenario[] = [
  ...[1, 2, 3, 4].map((i): Scenario => ({ name: `null${i}`, label: 'no drift', null: true, kind: 'numerical' })),
  { name: 'cat_null', label: 'no drift', null: true, kind: 'categorical', newShare: 0 },
  ...[0.05, 0.1, 0.2, 0.3, 0.5].map((s): Scenario => ({ name: `shift_${s}`, label: `+${s} sd`, null: false, kind: 'numerical', shift: s })),
  { name: 'sd_1.25', label: 'sd x1.25', null: false, kind: 'numerical', scale: 1.25 },
  { name: 'sd_1.5', label: 'sd x1.5', null: false, kind: 'numerical', scale: 1.5 },
  { name: 'cat_new', label: 'new category (5%)', null: false, kind: 'categorical', newShare: 0.05 },
];

/** Columns of n rows: reference-like (drift false) or the scenario's current distribution. */
function draw(r: () => number, n: number, current: boolean): Map<string, Float64Array | string[]> {
  const out = new Map<string, Float64Array | string[]>();
  for (const s of SCENARIOS) {
    if (s.kind === 'categorical') {
      const xs: string[] = new Array(n);
      for (let i = 0; i < n; i++) xs[i] = category(r, current ? (s.newShare ?? 0) : 0);
      out.set(s.name, xs);
    } else {
      const xs = new Float64Array(n);
      const shift = current ? (s.shift ?? 0) : 0;
      const scale = current ? (s.scale ?? 1) : 1;
      for (let i = 0; i < n; i++) xs[i] = shift + scale * normal(r);
      out.set(s.name, xs);
    }
  }
  return out;
}

function rowsOf(cols: Map<string, Float64Array | string[]>, from: number, to: number): Record<string, Cell>[] {
  const rows: Record<string, Cell>[] = [];
  for (let i = from; i < to; i++) {
    const row: Record<string, Cell> = {};
    for (const [k, v] of cols) row[k] = v[i]!;
    rows.push(row);
  }
  return rows;
}

function columnsOf(cols: Map<string, Float64Array | string[]>): ColumnInput[] {
  return [...cols].map(([name, v]) =>
    v instanceof Float64Array
      ? { name, numbers: v, cells: null, length: v.length, missing: 0 }
      : { name, numbers: null, cells: v, length: v.length, missing: 0 },
  );
}

/** 95% Wilson score interval of k successes in n trials (Wilson 1927). */
function wilson(k: number, n: number, z = 1.96): [number, number] {
  if (n === 0) return [0, 1];
  const p = k / n;
  const d = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / d;
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return [Math.max(0, c - h), Math.min(1, c + h)];
}

type Path = 'offline' | 'online';
type Rule = 'default' | 'test-only';
/** counts[path][rule][scenario] = drifted verdicts; n[scenario] = judged trials. */
interface Cell3 {
  hits: Record<Path, Record<Rule, Record<string, number>>>;
  trials: number;
  /** Columns that got no verdict (too few rows for the test). */
  insufficient: Record<Path, number>;
  /** Column-trials where the offline and the online verdict agree, per rule. */
  agree: Record<Rule, number>;
}

const silent = createLogger({ level: 'silent' });

async function runSize(rows: number, trials: number, seed: number): Promise<Cell3> {
  const dir = mkdtempSync(join(tmpdir(), 'dw-drift-cal-'));
  const store = new EmbeddedStore({ path: join(dir, 'stats.db'), retentionDays: 3650, rollupAfterHours: 24 * 3650 });
  let reference: ReferenceProfile | null = null;
  const registry = { getReference: async () => reference } as unknown as ModelRegistry;
  const profiler = new WindowProfiler({ config: statsSchema.parse({}), store, logger: silent, referenceFor: () => reference });
  const checks = {
    default: createDriftCheck(driftCheckSchema.parse({}), { store, registry }),
    'test-only': createDriftCheck(driftCheckSchema.parse({ rule: 'test-only' }), { store, registry }),
  } as const;
  const zero = () => Object.fromEntries(SCENARIOS.map((s) => [s.name, 0])) as Record<string, number>;
  const out: Cell3 = {
    hits: { offline: { default: zero(), 'test-only': zero() }, online: { default: zero(), 'test-only': zero() } },
    trials,
    insufficient: { offline: 0, online: 0 },
    agree: { default: 0, 'test-only': 0 },
  };
  const r = mulberry32(seed);
  const base = Date.UTC(2026, 0, 1);
  try {
    for (let t = 0; t < trials; t++) {
      const refCols = draw(r, REF_ROWS, false);
      const curCols = draw(r, rows, true);
      reference = buildReference({
        model: 'cal',
        version: '1',
        source: 'calibration',
        createdAtMs: base,
        rows: rowsOf(refCols, 0, REF_ROWS),
        bins: 10,
        sketchK: 2048,
        maxCategories: 100,
      });
      // Online: the capture side's profiler in 1,000-row batches (a request carries a few rows; the
      // batch size changes no statistic), one stored window, then the scheduled check.
      const atMs = base + t * 2 * 3600_000;
      for (let i = 0; i < rows; i += 1000) profiler.observeRows('cal', '1', atMs, rowsOf(curCols, i, Math.min(rows, i + 1000)), []);
      await profiler.flush();
      const onlineFail: Record<Rule, Set<string>> = { default: new Set(), 'test-only': new Set() };
      for (const rule of ['default', 'test-only'] as const) {
        const findings = await checks[rule].run(atMs + 60_000);
        for (const f of findings) {
          if (f.subject.name === '__dataset__') continue;
          if (f.insufficientData && rule === 'default') out.insufficient.online++;
          if (f.status === 'fail') {
            out.hits.online[rule][f.subject.name]!++;
            onlineFail[rule].add(f.subject.name);
          }
        }
      }
      // Offline: the same rows through what `driftwatch drift` runs. Its test-only verdict is the
      // decision's test half (decideDrift under test-only is exactly "significant").
      const report = compareColumns(columnsOf(refCols), columnsOf(curCols));
      for (const f of report.features) {
        if (f.drifted === null) {
          out.insufficient.offline++;
          continue;
        }
        if (f.drifted) out.hits.offline.default[f.name]!++;
        if (f.decision?.test.significant) out.hits.offline['test-only'][f.name]!++;
        if (f.drifted === onlineFail.default.has(f.name)) out.agree.default++;
        if ((f.decision?.test.significant ?? false) === onlineFail['test-only'].has(f.name)) out.agree['test-only']++;
      }
    }
  } finally {
    await profiler.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

const pct = (x: number) => `${(100 * x).toFixed(x > 0 && x < 0.01 ? 1 : 0)}%`;

function table(results: ReadonlyArray<[number, Cell3]>, path: Path): string {
  const effects = SCENARIOS.filter((s) => !s.null);
  const nulls = SCENARIOS.filter((s) => s.null);
  const head = ['rows / window', 'trials', 'false alarms, default [95% CI]', 'false alarms, test-only [95% CI]', ...effects.map((s) => s.label)];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const [rows, c] of results) {
    const fa = (rule: Rule) => {
      const k = nulls.reduce((a, s) => a + c.hits[path][rule][s.name]!, 0);
      const n = nulls.length * c.trials;
      const [lo, hi] = wilson(k, n);
      return `${pct(k / n)} (${k}/${n}) [${pct(lo)}, ${pct(hi)}]`;
    };
    const det = effects.map((s) => `${pct(c.hits[path].default[s.name]! / c.trials)} / ${pct(c.hits[path]['test-only'][s.name]! / c.trials)}`);
    lines.push(`| ${rows.toLocaleString('en-US')} | ${c.trials} | ${fa('default')} | ${fa('test-only')} | ${det.join(' | ')} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const started = Date.now();
  // The run time depends on what else the 2 cores do: the load average goes into the table.
  const load = loadavg()[0]!;
  const results: [number, Cell3][] = [];
  for (const [i, [rows, trials]] of PLAN.entries()) {
    const t0 = Date.now();
    results.push([rows, await runSize(rows, trials, 1000 + i)]);
    process.stderr.write(`drift-calibration: ${rows.toLocaleString('en-US')} rows x ${trials} trials in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  const seconds = (Date.now() - started) / 1000;
  const m = DEFAULT_MIN_EFFECT;
  const body = [
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npx tsx bench/drift-calibration.ts\` (node ${process.version}, ${seconds.toFixed(0)} s on this 2-core machine at a load average of ${load.toFixed(1)} when it started; seeded, so it reproduces).`,
    `Reference: ${REF_ROWS.toLocaleString('en-US')} rows per trial, drawn afresh; alpha ${ALPHA}, no correction (each column judged alone).`,
    `Default rule: test-and-effect with floors KS D ${m.ks}, PSI ${m.psi}, Wasserstein ${m.wasserstein} (normalised), Jensen-Shannon ${m.jensenShannon}.`,
    'False alarms pool 5 null columns per trial (4 numeric, 1 categorical). Detection cells: default / test-only, share of trials that called the column drifted.',
    '',
    '**Online** (capture-side WindowProfiler, k = 200 sketches, embedded SQLite store, the scheduled drift check; reference k = 2048):',
    '',
    table(results, 'online'),
    '',
    '**Offline** (`driftwatch drift`: compareColumns on the raw values; exact KS up to 10,000 rows):',
    '',
    table(results, 'offline'),
    '',
    '**Offline and online agree** (share of column-trials with the same verdict; they differ by the sketch error: the online KS is judged at D minus its error bound, D and W1 come from k = 200 sketches):',
    '',
    '| rows / window | default rule | test-only rule |',
    '|---|---|---|',
    ...results.map(([rows, c]) => {
      const n = c.trials * SCENARIOS.length;
      return `| ${rows.toLocaleString('en-US')} | ${pct(c.agree.default / n)} (${c.agree.default}/${n}) | ${pct(c.agree['test-only'] / n)} (${c.agree['test-only']}/${n}) |`;
    }),
  ].join('\n');
  console.log(body);
  if (QUICK) return;
  const section = `<!-- drift-calibration:start -->\n${body}\n<!-- drift-calibration:end -->`;
  for (const [file, heading] of [
    ['bench/RESULTS.md', '## Drift verdict calibration (`npx tsx bench/drift-calibration.ts`)'],
    ['docs/drift.md', ''],
  ] as const) {
    const text = readFileSync(file, 'utf8');
    const re = /<!-- drift-calibration:start -->[\s\S]*?<!-- drift-calibration:end -->/;
    // Replace the marked section only; append it (with a heading) when the file has none yet.
    const next = re.test(text) ? text.replace(re, section) : `${text.trimEnd()}\n\n${heading ? `${heading}\n\n` : ''}${section}\n`;
    writeFileSync(file, next);
  }
}

await main();
