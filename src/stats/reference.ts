import { binEdgesFromValues, binLayoutId } from './bins.js';
import { emptyFeature, observeValue, cloneFeature } from './feature-profile.js';
import type { Cell, FeatureContext } from './feature-profile.js';
import { categoriesTotal } from './categories.js';
import { kllIsExact, kllQuantile, kllSortedView } from './kll-sketch.js';
import { fnv1a32, getOwn, setOwn } from './own-keys.js';
import type { BinEdges, FeatureProfile, ReferenceFeature, ReferenceProfile, WindowProfile } from './types.js';

export interface BuildReferenceInput {
  model: string;
  version: string;
  source: string;
  createdAtMs: number;
  rows: ReadonlyArray<Record<string, Cell>>;
  predictions?: ReadonlyArray<Record<string, Cell>>;
  bins: number;
  sketchK: number;
  maxCategories: number;
  /** Restrict the features to these columns, in this order. */
  columns?: readonly string[];
}

function isMissing(v: unknown): boolean {
  return v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v));
}

function columnsOf(rows: ReadonlyArray<Record<string, Cell>>): string[] {
  const seen = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r)) seen.add(k);
  return [...seen];
}

/**
 * One column of a reference. numerical when every non-missing value is a number (+-Infinity
 * included: they land in the under/overflow bins); anything else (strings, booleans, or a mix) is
 * categorical. numerical: edges at the quantiles of the finite values; categorical: the distinct
 * strings ("true"/"false" for booleans) by count descending (ties by key), at most maxCategories;
 * categories beyond that bound are not reference categories, so in live windows (and in the
 * reference's own profile) they count as `unseen`. Numbers in a categorical column stay numbers
 * (moments/sketch), exactly as observeValue treats them in live traffic.
 */
function buildColumn(
  values: readonly (Cell | undefined)[],
  side: string,
  name: string,
  bins: number,
  sketchK: number,
  maxCategories: number,
): ReferenceFeature {
  let numerical = true;
  for (const v of values) {
    if (!isMissing(v) && typeof v !== 'number') {
      numerical = false;
      break;
    }
  }
  const seed = fnv1a32(`${side}:${name}`) || 1;
  if (numerical) {
    const binEdges = binEdgesFromValues(values as number[], bins);
    const ctx: FeatureContext = {
      binEdges,
      binLayout: binEdges === null ? null : binLayoutId(binEdges),
      categories: null,
      sketchK,
      maxCategories,
    };
    const profile = emptyFeature(ctx, seed);
    for (const v of values) observeValue(profile, v, ctx);
    return { kind: 'numerical', profile, binEdges, categories: null };
  }
  const freq = new Map<string, number>();
  for (const v of values) {
    if (typeof v === 'string' || typeof v === 'boolean') {
      const key = typeof v === 'string' ? v : v ? 'true' : 'false';
      freq.set(key, (freq.get(key) ?? 0) + 1);
    }
  }
  const categories = [...freq.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, maxCategories)
    .map(([k]) => k);
  const ctx: FeatureContext = { binEdges: null, binLayout: null, categories: new Set(categories), sketchK, maxCategories };
  const profile = emptyFeature(ctx, seed);
  for (const v of values) observeValue(profile, v, ctx);
  return { kind: 'categorical', profile, binEdges: null, categories };
}

function buildSide(
  rows: ReadonlyArray<Record<string, Cell>>,
  columns: readonly string[],
  side: string,
  input: BuildReferenceInput,
): Record<string, ReferenceFeature> {
  const out: Record<string, ReferenceFeature> = {};
  for (const name of columns) {
    const values = rows.map((r) => getOwn(r, name));
    setOwn(out, name, buildColumn(values, side, name, input.bins, input.sketchK, input.maxCategories));
  }
  return out;
}

/** A reference profile from training (or any tabular) data. Pure: createdAtMs is passed in. */
export function buildReference(input: BuildReferenceInput): ReferenceProfile {
  const featureCols = input.columns ? [...input.columns] : columnsOf(input.rows);
  const preds = input.predictions ?? [];
  return {
    format: 1,
    model: input.model,
    version: input.version,
    createdAtMs: input.createdAtMs,
    source: input.source,
    rows: input.rows.length,
    features: buildSide(input.rows, featureCols, 'f', input),
    predictions: buildSide(preds, columnsOf(preds), 'p', input),
  };
}

/**
 * Bin edges from a sketch: lo/hi are the exact min/max, cut points kllQuantile(i/bins) for
 * i = 1..bins-1 (inclusive, "inverted CDF" quantiles: these are retained values, not interpolated),
 * deduplicated like binEdgesFromValues.
 */
function edgesFromSketch(f: FeatureProfile, bins: number): BinEdges | null {
  const s = f.sketch;
  if (s.n === 0 || s.min === null || s.max === null) return null;
  const edges: number[] = [];
  for (let i = 1; i < bins; i++) {
    const c = kllQuantile(s, i / bins)!;
    const prev = edges.length > 0 ? edges[edges.length - 1]! : s.min;
    if (c > prev) edges.push(c);
  }
  return { lo: s.min, hi: s.max, edges };
}

/**
 * Bin counts estimated from the sketch: the total weight of retained items in each bin. Weights
 * are integers that sum to n exactly, so the counts are integers with the right total; each
 * bin's mass is off by at most the sketch's double-sided (PMF) rank error
 * kllRankErrorBound(k, true) * n at ~99% confidence, and exact while kllIsExact(sketch).
 * Infinities are not in the sketch and so not in these bins.
 */
function countsFromSketch(f: FeatureProfile, e: BinEdges): number[] {
  const counts = new Array<number>(e.edges.length + 3).fill(0);
  const { values, cumWeights } = kllSortedView(f.sketch);
  let prevCum = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    const w = cumWeights[i]! - prevCum;
    prevCum = cumWeights[i]!;
    // same rule as binIndex, inlined to avoid importing a private helper twice
    let bin: number;
    if (x < e.lo) bin = 0;
    else if (x > e.hi) bin = e.edges.length + 2;
    else {
      let j = 0;
      while (j < e.edges.length && e.edges[j]! <= x) j++;
      bin = j + 1;
    }
    counts[bin]! += w;
  }
  return counts;
}

function referenceFromFeature(f: FeatureProfile, bins: number): ReferenceFeature {
  const catTotal = categoriesTotal(f.categories);
  const numeric = f.count - f.missing - catTotal;
  // Mixed columns: whichever kind holds more values (ties numerical).
  if (numeric >= catTotal && f.moments.n > 0) {
    const binEdges = edgesFromSketch(f, bins);
    const profile = cloneFeature(f);
    profile.bins = binEdges === null ? null : { layout: binLayoutId(binEdges), counts: countsFromSketch(f, binEdges) };
    return { kind: 'numerical', profile, binEdges, categories: null };
  }
  if (catTotal === 0) {
    // nothing but missing values: numerical without edges (like buildReference on an empty column)
    return { kind: 'numerical', profile: cloneFeature(f), binEdges: null, categories: null };
  }
  const categories = Object.keys(f.categories.counts).sort((a, b) => {
    const d = f.categories.counts[b]! - f.categories.counts[a]!;
    return d !== 0 ? d : a < b ? -1 : a > b ? 1 : 0;
  });
  const profile = cloneFeature(f);
  profile.bins = null;
  return { kind: 'categorical', profile, binEdges: null, categories };
}

/**
 * A reference from a window of live traffic (e.g. "the first healthy day after a deploy").
 * Numerical features: edges from the sketch quantiles, and the reference's bin counts ESTIMATED
 * from the sketch (the raw values are gone, so they cannot be re-counted): exact while the sketch
 * is exact (kllIsExact), else within the sketch's rank error. Categorical features: the window's
 * category keys (if the window was itself counted against a reference, only that reference's
 * categories are keys: values it called unseen stay unseen).
 */
export function referenceFromWindow(w: WindowProfile, opts: { source: string; createdAtMs: number; bins: number }): ReferenceProfile {
  const side = (rec: Record<string, FeatureProfile>): Record<string, ReferenceFeature> => {
    const out: Record<string, ReferenceFeature> = {};
    for (const k in rec) setOwn(out, k, referenceFromFeature(rec[k]!, opts.bins));
    return out;
  };
  return {
    format: 1,
    model: w.model,
    version: w.version,
    createdAtMs: opts.createdAtMs,
    source: opts.source,
    rows: w.rows,
    features: side(w.features),
    predictions: side(w.predictions),
  };
}

/** True when every reference bin count was counted, not estimated from a sketch. */
export function referenceBinsExact(f: ReferenceFeature): boolean {
  return kllIsExact(f.profile.sketch);
}

// ---------------------------------------------------------------------------------------------
// Structural validation of a reference read back from disk.

function fail(path: string, what: string): never {
  throw new Error(`invalid reference profile: ${path} ${what}`);
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function num(x: unknown, path: string, opts: { int?: boolean; min?: number } = {}): number {
  if (typeof x !== 'number' || !Number.isFinite(x)) fail(path, 'must be a finite number');
  if (opts.int && !Number.isInteger(x)) fail(path, 'must be an integer');
  if (opts.min !== undefined && x < opts.min) fail(path, `must be >= ${opts.min}`);
  return x;
}

function numOrNull(x: unknown, path: string): void {
  if (x !== null) num(x, path);
}

function str(x: unknown, path: string): string {
  if (typeof x !== 'string') fail(path, 'must be a string');
  return x;
}

function obj(x: unknown, path: string): Record<string, unknown> {
  if (!isObj(x)) fail(path, 'must be an object');
  return x;
}

function checkEdges(x: unknown, path: string): BinEdges {
  const e = obj(x, path);
  const lo = num(e.lo, `${path}.lo`);
  const hi = num(e.hi, `${path}.hi`);
  if (lo > hi) fail(`${path}.lo`, 'must be <= hi');
  if (!Array.isArray(e.edges)) fail(`${path}.edges`, 'must be an array');
  let prev = lo;
  e.edges.forEach((c, i) => {
    const v = num(c, `${path}.edges[${i}]`);
    if (!(v > prev)) fail(`${path}.edges`, i === 0 ? 'must all be > lo' : 'must be strictly increasing');
    prev = v;
  });
  if (prev > hi) fail(`${path}.edges`, 'must all be <= hi');
  return e as unknown as BinEdges;
}

function checkMoments(x: unknown, path: string): void {
  const m = obj(x, path);
  num(m.n, `${path}.n`, { int: true, min: 0 });
  num(m.mean, `${path}.mean`);
  num(m.m2, `${path}.m2`);
  numOrNull(m.min, `${path}.min`);
  numOrNull(m.max, `${path}.max`);
}

function checkSketch(x: unknown, path: string): void {
  const s = obj(x, path);
  num(s.k, `${path}.k`, { int: true, min: 8 });
  const n = num(s.n, `${path}.n`, { int: true, min: 0 });
  num(s.seed, `${path}.seed`, { int: true, min: 0 });
  numOrNull(s.min, `${path}.min`);
  numOrNull(s.max, `${path}.max`);
  if (!Array.isArray(s.levels) || s.levels.length === 0) fail(`${path}.levels`, 'must be a non-empty array');
  let weight = 0;
  s.levels.forEach((lv, h) => {
    if (!Array.isArray(lv)) fail(`${path}.levels[${h}]`, 'must be an array');
    lv.forEach((v, i) => num(v, `${path}.levels[${h}][${i}]`));
    weight += lv.length * 2 ** h;
  });
  if (weight !== n) fail(`${path}.n`, `must equal the total weight of the levels (${weight})`);
}

function checkProfile(x: unknown, path: string, edges: BinEdges | null): void {
  const p = obj(x, path);
  const count = num(p.count, `${path}.count`, { int: true, min: 0 });
  const missing = num(p.missing, `${path}.missing`, { int: true, min: 0 });
  if (missing > count) fail(`${path}.missing`, 'must be <= count');
  checkMoments(p.moments, `${path}.moments`);
  checkSketch(p.sketch, `${path}.sketch`);
  if (p.bins !== null) {
    const b = obj(p.bins, `${path}.bins`);
    const layout = str(b.layout, `${path}.bins.layout`);
    if (!Array.isArray(b.counts)) fail(`${path}.bins.counts`, 'must be an array');
    b.counts.forEach((c, i) => num(c, `${path}.bins.counts[${i}]`, { min: 0 }));
    if (edges !== null) {
      if (b.counts.length !== edges.edges.length + 3) fail(`${path}.bins.counts`, `must have edges.length + 3 = ${edges.edges.length + 3} entries`);
      if (layout !== binLayoutId(edges)) fail(`${path}.bins.layout`, 'does not match binEdges');
    }
  }
  const c = obj(p.categories, `${path}.categories`);
  const counts = obj(c.counts, `${path}.categories.counts`);
  for (const k of Object.keys(counts)) num(counts[k], `${path}.categories.counts.${k}`, { min: 0 });
  num(c.unseen, `${path}.categories.unseen`, { min: 0 });
  num(c.other, `${path}.categories.other`, { min: 0 });
  num(c.maxDistinct, `${path}.categories.maxDistinct`, { int: true, min: 0 });
}

function checkFeature(x: unknown, path: string): void {
  const f = obj(x, path);
  if (f.kind !== 'numerical' && f.kind !== 'categorical') fail(`${path}.kind`, 'must be "numerical" or "categorical"');
  let edges: BinEdges | null = null;
  if (f.binEdges !== null) {
    if (f.kind !== 'numerical') fail(`${path}.binEdges`, 'must be null for a categorical feature');
    edges = checkEdges(f.binEdges, `${path}.binEdges`);
  }
  if (f.categories !== null) {
    if (f.kind !== 'categorical') fail(`${path}.categories`, 'must be null for a numerical feature');
    if (!Array.isArray(f.categories)) fail(`${path}.categories`, 'must be an array of strings or null');
    const seen = new Set<string>();
    f.categories.forEach((c, i) => {
      const s = str(c, `${path}.categories[${i}]`);
      if (seen.has(s)) fail(`${path}.categories[${i}]`, `is a duplicate (${JSON.stringify(s)})`);
      seen.add(s);
    });
  } else if (f.kind === 'categorical') {
    fail(`${path}.categories`, 'must be an array for a categorical feature');
  }
  checkProfile(f.profile, `${path}.profile`, edges);
}

/**
 * The reference's performance (types.ts ReferencePerformance), checked as strictly as the profiles:
 * the quality check divides by its counts and interpolates along its calibration maps, so a
 * hand-edited or truncated file must fail here with its path, not there as NaN.
 */
function checkPerformance(x: unknown, path: string): void {
  const p = obj(x, path);
  str(p.labelColumn, `${path}.labelColumn`);
  if (p.predictionsFrom !== 'model' && p.predictionsFrom !== 'file') fail(`${path}.predictionsFrom`, 'must be "model" or "file"');
  num(p.labelled, `${path}.labelled`, { int: true, min: 0 });
  if (p.classification !== null) {
    const c = obj(p.classification, `${path}.classification`);
    const n = num(c.n, `${path}.classification.n`, { int: true, min: 0 });
    const correct = num(c.correct, `${path}.classification.correct`, { min: 0 });
    if (correct > n) fail(`${path}.classification.correct`, 'must be <= n');
    num(c.overflow, `${path}.classification.overflow`, { min: 0 });
    num(c.maxClasses, `${path}.classification.maxClasses`, { int: true, min: 1 });
    num(c.probRows, `${path}.classification.probRows`, { int: true, min: 0 });
    num(c.logLossSum, `${path}.classification.logLossSum`, { min: 0 });
    num(c.brierSum, `${path}.classification.brierSum`, { min: 0 });
    const confusion = obj(c.confusion, `${path}.classification.confusion`);
    for (const actual of Object.keys(confusion)) {
      const row = obj(confusion[actual], `${path}.classification.confusion.${actual}`);
      for (const predicted of Object.keys(row)) num(row[predicted], `${path}.classification.confusion.${actual}.${predicted}`, { min: 0 });
    }
  }
  if (p.regression !== null) {
    const r = obj(p.regression, `${path}.regression`);
    checkMoments(r.actual, `${path}.regression.actual`);
    for (const k of ['sumError', 'sumAbsError', 'sumSqError', 'sumAbsPctError'] as const) num(r[k], `${path}.regression.${k}`);
    checkSketch(r.absErrors, `${path}.regression.absErrors`);
  }
  if (p.calibration !== null) {
    const maps = obj(p.calibration, `${path}.calibration`);
    for (const cls of Object.keys(maps)) {
      const at = `${path}.calibration.${cls}`;
      const m = obj(maps[cls], at);
      const xs = m.x;
      const ys = m.y;
      if (!Array.isArray(xs) || !Array.isArray(ys) || xs.length === 0 || xs.length !== ys.length)
        fail(at, 'must have arrays x and y of the same, non-zero length');
      let prevX = -Infinity;
      let prevY = -Infinity;
      xs.forEach((v, i) => {
        const xi = num(v, `${at}.x[${i}]`);
        const yi = num(ys[i], `${at}.y[${i}]`);
        if (!(xi > prevX)) fail(`${at}.x`, 'must be strictly increasing');
        if (yi < prevY) fail(`${at}.y`, 'must be non-decreasing');
        prevX = xi;
        prevY = yi;
      });
    }
  }
}

/** Structural check of a reference read back from storage; throws naming the first bad path. */
export function validateReference(x: unknown): ReferenceProfile {
  const r = obj(x, '(root)');
  if (r.format !== 1) fail('format', 'must be 1');
  str(r.model, 'model');
  str(r.version, 'version');
  str(r.source, 'source');
  num(r.createdAtMs, 'createdAtMs');
  num(r.rows, 'rows', { int: true, min: 0 });
  for (const side of ['features', 'predictions'] as const) {
    const rec = obj(r[side], side);
    for (const k of Object.keys(rec)) checkFeature(rec[k], `${side}.${k}`);
  }
  // Optional: references without labels, and those older versions built, have none.
  if (r.performance !== undefined) checkPerformance(r.performance, 'performance');
  return x as ReferenceProfile;
}

export type { ReferenceFeature };
