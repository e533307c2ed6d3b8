/**
 * Throughput and size of the statistics hot path (src/stats): rows folded into a window profile
 * per second on one core, and bytes per model x feature. Run: `npx tsx bench/stats-bench.ts`.
 * Prints a markdown table; numbers are the median of RUNS runs (after one warm-up run).
 *
 * Data is generated with a seeded PRNG (mulberry32 + Box-Muller) before timing, so only
 * observeRows is measured. Batches of BATCH rows per call mimic requests carrying several rows;
 * a 1-row-per-call line shows the per-call overhead.
 */
import { buildReference } from '../src/stats/reference.js';
import { emptyWindow, observeRows } from '../src/stats/window-profile.js';
import type { ProfileOptions } from '../src/stats/window-profile.js';
import { DEFAULT_LATENCY_BOUNDS_MS } from '../src/stats/latency-histogram.js';
import { emptyFeature, observeValue } from '../src/stats/feature-profile.js';
import type { Cell, FeatureContext } from '../src/stats/feature-profile.js';
import { binLayoutId } from '../src/stats/bins.js';
import type { ReferenceProfile, WindowProfile } from '../src/stats/types.js';
import v8 from 'node:v8';
import vm from 'node:vm';

// Expose gc() without a node flag (so `npx tsx bench/stats-bench.ts` measures heap deltas).
v8.setFlagsFromString('--expose-gc');
const gcFn = vm.runInNewContext('gc') as (() => void) | undefined;

const ROWS = Number(process.argv[2] ?? 1_000_000);
const RUNS = 5;
const BATCH = 100;
const FEATURES = 10;

function mulberry32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function normal(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

const CATS = ['red', 'green', 'blue', 'cyan', 'magenta', 'yellow', 'black', 'white'];

function makeRows(n: number, categorical: number, seed: number): Record<string, Cell>[] {
  const r = mulberry32(seed);
  const rows: Record<string, Cell>[] = [];
  for (let i = 0; i < n; i++) {
    const row: Record<string, Cell> = {};
    for (let f = 0; f < FEATURES; f++) {
      row[`f${f}`] = f < FEATURES - categorical ? normal(r) * (f + 1) + f : CATS[Math.floor(r() * r() * CATS.length)]!;
    }
    rows.push(row);
  }
  return rows;
}

const opts: ProfileOptions = { sketchK: 200, maxCategories: 100, maxFeatures: 256 };
const key = { model: 'bench', version: '1', startMs: 0, windowSeconds: 60 };

function runOnce(
  rows: Record<string, Cell>[],
  preds: Record<string, Cell>[],
  ref: ReferenceProfile | null,
  batch: number,
): { rowsPerSec: number; w: WindowProfile } {
  const w = emptyWindow(key, DEFAULT_LATENCY_BOUNDS_MS);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < rows.length; i += batch) {
    observeRows(w, rows.slice(i, i + batch), preds.slice(i, i + batch), ref, opts);
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return { rowsPerSec: rows.length / s, w };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function bench(label: string, categorical: number, withRef: boolean, batch: number, n = ROWS): string {
  const rows = makeRows(n, categorical, 42);
  const preds = rows.map((_, i) => ({ score: (i % 1000) / 1000 }));
  const ref = withRef
    ? buildReference({
        model: 'bench',
        version: '1',
        source: 'bench',
        createdAtMs: 0,
        rows: makeRows(20_000, categorical, 7),
        predictions: preds.slice(0, 20_000),
        bins: 10,
        sketchK: 200,
        maxCategories: 100,
      })
    : null;
  runOnce(rows.slice(0, Math.min(n, 200_000)), preds, ref, batch); // warm-up
  const rates: number[] = [];
  let w: WindowProfile | null = null;
  for (let i = 0; i < RUNS; i++) {
    const r = runOnce(rows, preds, ref, batch);
    rates.push(r.rowsPerSec);
    w = r.w;
  }
  const bytes = JSON.stringify(w).length;
  return `| ${label} | ${batch} | ${Math.round(median(rates)).toLocaleString('en-US')} | ${Math.round(Math.min(...rates)).toLocaleString('en-US')}–${Math.round(Math.max(...rates)).toLocaleString('en-US')} | ${(bytes / 1024).toFixed(1)} KiB |`;
}

function featureSize(): string[] {
  const lines: string[] = [];
  const r = mulberry32(9);
  const edges = { lo: -4, hi: 4, edges: [-1.28, -0.84, -0.52, -0.25, 0, 0.25, 0.52, 0.84, 1.28] };
  const ctx: FeatureContext = { binEdges: edges, binLayout: binLayoutId(edges), categories: null, sketchK: 200, maxCategories: 100 };
  const values = new Float64Array(1_000_000);
  for (let i = 0; i < values.length; i++) values[i] = normal(r);
  const gc = gcFn;
  gc?.();
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const profiles = [];
  // 50 profiles of 2e5 values each: retained size grows only with log(n/k), so this is
  // representative of 1e6 within a few percent and keeps the run short.
  for (let p = 0; p < 50; p++) {
    const f = emptyFeature(ctx, p + 1);
    for (let i = p; i < values.length; i += 5) observeValue(f, values[i]!, ctx);
    profiles.push(f);
  }
  gc?.();
  gc?.();
  const heapPer = (process.memoryUsage().heapUsed - before) / profiles.length;
  const f = emptyFeature(ctx, 1);
  for (const v of values) observeValue(f, v, ctx);
  const json = JSON.stringify(f).length;
  lines.push(
    `| numeric feature, k=200, 10 bins, 1e6 values | ${json.toLocaleString('en-US')} B | ${gc ? `${Math.round(heapPer).toLocaleString('en-US')} B` : 'n/a (run with node --expose-gc)'} |`,
  );
  return lines;
}

const out: string[] = [];
out.push(`### stats hot path (node ${process.version}, ${ROWS.toLocaleString('en-US')} rows x ${FEATURES} features + 1 prediction, median of ${RUNS})`, '');
out.push('| workload | rows/call | rows/s (median) | range | window JSON |', '|---|---|---|---|---|');
out.push(bench('10 numeric, reference bins', 0, true, BATCH));
out.push(bench('10 numeric, no reference', 0, false, BATCH));
out.push(bench('7 numeric + 3 categorical, reference', 3, true, BATCH));
out.push(bench('10 numeric, reference bins', 0, true, 1, Math.min(ROWS, 300_000)));
out.push('', '| size | JSON | heap (approx.) |', '|---|---|---|');
out.push(...featureSize());
console.log(out.join('\n'));
