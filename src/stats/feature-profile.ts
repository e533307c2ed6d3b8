import { binIndex, mergeBinned } from './bins.js';
import { categoriesTotal, cloneCategories, emptyCategories, mergeCategories, observeCategory } from './categories.js';
import { emptyKll, kllMerge, kllUpdate, kllUpdateStrided } from './kll-sketch.js';
import { emptyMoments, mergeMoments, observeMoment } from './moments.js';
import type { BinEdges, FeatureProfile } from './types.js';

/** One cell of a feature row or a prediction, as extracted from a request. */
export type Cell = number | string | boolean | null;

/** What observing a column needs, resolved once per column (not per value). */
export interface FeatureContext {
  binEdges: BinEdges | null;
  /** binLayoutId(binEdges), precomputed so the hot path never hashes. */
  binLayout: string | null;
  /** Reference categories: live values outside them count as `unseen`. */
  categories: ReadonlySet<string> | null;
  sketchK: number;
  maxCategories: number;
}

export function emptyFeature(ctx: FeatureContext, seed = 1): FeatureProfile {
  return {
    count: 0,
    missing: 0,
    moments: emptyMoments(),
    sketch: emptyKll(ctx.sketchK, seed),
    bins: ctx.binEdges !== null && ctx.binLayout !== null ? { layout: ctx.binLayout, counts: new Array<number>(ctx.binEdges.edges.length + 3).fill(0) } : null,
    categories: emptyCategories(ctx.maxCategories),
  };
}

/**
 * Folds one cell in (mutates). Every cell counts in `count`; then exactly one of:
 *  - null / undefined / NaN (and anything that is not a Cell): `missing`;
 *  - a finite number: moments, sketch, and bins when the profile has them;
 *  - +-Infinity: only the bins (underflow / overflow), never moments or sketch (they would turn
 *    mean/m2 into NaN and are not JSON). So count = missing + moments.n + categories total +
 *    (number of infinities); the infinities are not lost when there are bins, and are the
 *    difference of those counts otherwise;
 *  - a string, or a boolean as "true" / "false": categories.
 * Bins are counted only when the context's layout is the profile's layout (a profile keeps the
 * layout it was created with, even if a newer reference arrives mid-window).
 */
export function observeValue(f: FeatureProfile, v: Cell | undefined, ctx: FeatureContext): void {
  f.count++;
  if (typeof v === 'number') {
    if (v - v === 0) {
      observeMoment(f.moments, v);
      kllUpdate(f.sketch, v);
    } else if (Number.isNaN(v)) {
      f.missing++;
      return;
    }
    const bins = f.bins;
    if (bins !== null && ctx.binEdges !== null && bins.layout === ctx.binLayout) {
      bins.counts[binIndex(ctx.binEdges, v)]! += 1;
    }
    return;
  }
  if (typeof v === 'string') {
    observeCategory(f.categories, v, ctx.categories);
    return;
  }
  if (typeof v === 'boolean') {
    observeCategory(f.categories, v ? 'true' : 'false', ctx.categories);
    return;
  }
  f.missing++;
}

/**
 * observeValue on count numbers values[offset], values[offset + stride], ..., in that order, with
 * the same result bit for bit: Welford's update on locals (the same operations in the same
 * order), bins when the layout matches, then the sketch in one strided pass (the moments and the
 * sketch do not depend on each other, only each on the order of its own values).
 */
export function observeNumbers(f: FeatureProfile, values: ArrayLike<number>, offset: number, stride: number, count: number, ctx: FeatureContext): void {
  f.count += count;
  const m = f.moments;
  let n = m.n;
  let mean = m.mean;
  let m2 = m.m2;
  let min = m.min;
  let max = m.max;
  let missing = 0;
  let finite = 0;
  const bins = f.bins !== null && ctx.binEdges !== null && f.bins.layout === ctx.binLayout ? f.bins.counts : null;
  const edges = ctx.binEdges;
  for (let i = 0, at = offset; i < count; i++, at += stride) {
    const v = values[at]!;
    if (v - v === 0) {
      n++;
      const d = v - mean;
      mean += d / n;
      m2 += d * (v - mean);
      if (min === null || v < min) min = v;
      if (max === null || v > max) max = v;
      finite++;
    } else if (Number.isNaN(v)) {
      missing++;
      continue;
    }
    if (bins !== null) bins[binIndex(edges!, v)]! += 1;
  }
  m.n = n;
  m.mean = mean;
  m.m2 = m2;
  m.min = min;
  m.max = max;
  f.missing += missing;
  if (finite > 0) kllUpdateStrided(f.sketch, values, offset, stride, count);
}

/** Values counted neither as missing nor categorical: finite numbers plus infinities. */
function numericCount(f: FeatureProfile): number {
  return f.count - f.missing - categoriesTotal(f.categories);
}

/**
 * Merge (new object, inputs untouched). count/missing/categories/moments/sketch merge as their
 * types do. Bins:
 *  - both present, same layout: exact sum;
 *  - only one side has bins and the other side saw no numeric value: keep (copy) those bins, exact;
 *  - otherwise (layouts differ, or numbers were seen without bins): null, because counts over
 *    different edges, or over a subset of the values, cannot be added into honest counts.
 */
export function mergeFeature(a: FeatureProfile, b: FeatureProfile): FeatureProfile {
  let bins: FeatureProfile['bins'] = null;
  if (a.bins !== null && b.bins !== null) {
    bins = a.bins.layout === b.bins.layout && a.bins.counts.length === b.bins.counts.length ? mergeBinned(a.bins, b.bins) : null;
  } else if (a.bins !== null && numericCount(b) === 0) {
    bins = { layout: a.bins.layout, counts: [...a.bins.counts] };
  } else if (b.bins !== null && numericCount(a) === 0) {
    bins = { layout: b.bins.layout, counts: [...b.bins.counts] };
  }
  return {
    count: a.count + b.count,
    missing: a.missing + b.missing,
    moments: mergeMoments(a.moments, b.moments),
    sketch: kllMerge(a.sketch, b.sketch),
    bins,
    categories: mergeCategories(a.categories, b.categories),
  };
}

/** Deep copy (the shapes are plain data; this is faster than structuredClone on the hot merge path). */
export function cloneFeature(f: FeatureProfile): FeatureProfile {
  return {
    count: f.count,
    missing: f.missing,
    moments: { ...f.moments },
    sketch: { ...f.sketch, levels: f.sketch.levels.map((l) => [...l]) },
    bins: f.bins === null ? null : { layout: f.bins.layout, counts: [...f.bins.counts] },
    categories: cloneCategories(f.categories),
  };
}
