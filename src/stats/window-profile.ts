import { binLayoutId } from './bins.js';
import type { Column } from './columns.js';
import { cloneFeature, emptyFeature, mergeFeature, observeNumbers, observeValue } from './feature-profile.js';
import type { Cell, FeatureContext } from './feature-profile.js';
import { cloneLatency, emptyLatency, mergeLatency, observeLatency } from './latency-histogram.js';
import { fnv1a32, getOwn, setOwn } from './own-keys.js';
import type { FeatureProfile, ReferenceFeature, ReferenceProfile, WindowKey, WindowProfile } from './types.js';

export interface ProfileOptions {
  sketchK: number;
  maxCategories: number;
  /** Bound on profiled columns per window, features and predictions together. */
  maxFeatures: number;
}

/** Start of the epoch-aligned window containing nowMs (time is passed in: this module has no clock). */
export function windowStartMs(nowMs: number, windowSeconds: number): number {
  if (!(windowSeconds > 0)) throw new Error(`windowSeconds must be > 0, got ${windowSeconds}`);
  const w = windowSeconds * 1000;
  return Math.floor(nowMs / w) * w;
}

export function emptyWindow(key: WindowKey, latencyBoundsMs: readonly number[]): WindowProfile {
  return {
    model: key.model,
    version: key.version,
    startMs: key.startMs,
    windowSeconds: key.windowSeconds,
    requests: {},
    latency: emptyLatency(latencyBoundsMs),
    rows: 0,
    features: {},
    predictions: {},
    droppedFeatures: 0,
  };
}

/** One request: its status class ("2xx", "5xx", ...) and its total latency. */
const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'];

export function observeRequest(w: WindowProfile, status: number, totalMs: number): void {
  const c = Math.floor(status / 100);
  // Built once: a template string per request is an allocation per request.
  const cls = STATUS_CLASSES[c] ?? `${c}xx`;
  setOwn(w.requests, cls, (getOwn(w.requests, cls) ?? 0) + 1);
  observeLatency(w.latency, totalMs);
}

// ---------------------------------------------------------------------------------------------
// Context caches. Both are caches only (never change a result): a WeakMap entry dies with its key.

/** Per reference profile: FeatureContext per (side, column, options), so Sets are built once. */
const refContexts = new WeakMap<ReferenceProfile, Map<string, FeatureContext>>();
/** Contexts without a reference, per options. Tiny and bounded by the distinct option pairs used. */
const plainContexts = new Map<string, FeatureContext>();

function contextFor(ref: ReferenceProfile | null, side: 'f' | 'p', name: string, opts: ProfileOptions): FeatureContext {
  const optKey = `${opts.sketchK}/${opts.maxCategories}`;
  const rf: ReferenceFeature | undefined = ref === null ? undefined : getOwn(side === 'f' ? ref.features : ref.predictions, name);
  if (ref === null || rf === undefined) {
    let c = plainContexts.get(optKey);
    if (c === undefined) {
      c = { binEdges: null, binLayout: null, categories: null, sketchK: opts.sketchK, maxCategories: opts.maxCategories };
      plainContexts.set(optKey, c);
    }
    return c;
  }
  let m = refContexts.get(ref);
  if (m === undefined) {
    m = new Map();
    refContexts.set(ref, m);
  }
  const key = `${side}/${optKey}/${name}`;
  let c = m.get(key);
  if (c === undefined) {
    c = {
      binEdges: rf.binEdges,
      binLayout: rf.binEdges === null ? null : binLayoutId(rf.binEdges),
      categories: rf.categories === null ? null : new Set(rf.categories),
      sketchK: opts.sketchK,
      // The reference's categories are all kept as keys even when there are more than the option.
      maxCategories: Math.max(opts.maxCategories, rf.categories?.length ?? 0),
    };
    m.set(key, c);
  }
  return c;
}

/** A column's profile and context in one window; prof null = not profiled (bound reached). */
interface Slot {
  prof: FeatureProfile | null;
  ctx: FeatureContext | null;
}

interface WindowCache {
  ref: ReferenceProfile | null;
  /** The options object last used (callers usually pass the same one): skips building optKey. */
  opts: ProfileOptions;
  optKey: string;
  f: Map<string, Slot>;
  p: Map<string, Slot>;
}

/** Per window object: the column -> slot maps, so the per-value path is one Map.get. */
const windowCaches = new WeakMap<WindowProfile, WindowCache>();

function cacheFor(w: WindowProfile, ref: ReferenceProfile | null, opts: ProfileOptions): WindowCache {
  let c = windowCaches.get(w);
  if (c !== undefined && c.ref === ref && c.opts === opts) return c;
  const optKey = `${opts.sketchK}/${opts.maxCategories}/${opts.maxFeatures}`;
  if (c === undefined || c.ref !== ref || c.optKey !== optKey) {
    c = { ref, opts, optKey, f: new Map(), p: new Map() };
    windowCaches.set(w, c);
  } else c.opts = opts;
  return c;
}

function slotFor(w: WindowProfile, cache: WindowCache, side: 'f' | 'p', name: string, ref: ReferenceProfile | null, opts: ProfileOptions): Slot {
  const rec = side === 'f' ? w.features : w.predictions;
  const existing = getOwn(rec, name);
  const ctx = contextFor(ref, side, name, opts);
  let slot: Slot;
  if (existing !== undefined) {
    slot = { prof: existing, ctx };
  } else if (Object.keys(w.features).length + Object.keys(w.predictions).length < opts.maxFeatures) {
    // Seed per column (FNV-1a of the name) so columns do not share coin-flip sequences; the
    // same column gets the same seed on every replica, which keeps runs reproducible.
    const prof = emptyFeature(ctx, fnv1a32(`${side}:${name}`) || 1);
    setOwn(rec, name, prof);
    slot = { prof, ctx };
  } else {
    slot = { prof: null, ctx: null };
  }
  (side === 'f' ? cache.f : cache.p).set(name, slot);
  return slot;
}

function observeSide(
  w: WindowProfile,
  cache: WindowCache,
  side: 'f' | 'p',
  rows: ReadonlyArray<Record<string, Cell>>,
  ref: ReferenceProfile | null,
  opts: ProfileOptions,
): void {
  const map = side === 'f' ? cache.f : cache.p;
  const rec = side === 'f' ? w.features : w.predictions;
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    for (const name in row) {
      let slot = map.get(name);
      // The identity check catches a profile replaced from outside (e.g. by a merge into w).
      if (slot === undefined || (slot.prof !== null && rec[name] !== slot.prof)) {
        slot = slotFor(w, cache, side, name, ref, opts);
      }
      if (slot.prof === null) {
        w.droppedFeatures++;
        continue;
      }
      observeValue(slot.prof, row[name], slot.ctx!);
    }
  }
}

/**
 * Folds a batch of rows in (mutates). rows += features.length. A column's FeatureProfile is
 * created on first sight with the context of the reference's feature of the same name (its bin
 * edges, its categories), while features + predictions hold fewer than maxFeatures columns.
 * Beyond the bound, `droppedFeatures` counts dropped VALUES (one per cell of an unprofiled column),
 * not column names: a count of cells is a plain sum across replicas and flushes, so it merges
 * exactly; a count of names would double-count the same column seen by two replicas.
 */
export function observeRows(
  w: WindowProfile,
  features: ReadonlyArray<Record<string, Cell>>,
  predictions: ReadonlyArray<Record<string, Cell>>,
  ref: ReferenceProfile | null,
  opts: ProfileOptions,
): void {
  w.rows += features.length;
  const cache = cacheFor(w, ref, opts);
  observeSide(w, cache, 'f', features, ref, opts);
  observeSide(w, cache, 'p', predictions, ref, opts);
}

function observeColumnSide(
  w: WindowProfile,
  cache: WindowCache,
  side: 'f' | 'p',
  rows: number,
  columns: readonly Column[],
  ref: ReferenceProfile | null,
  opts: ProfileOptions,
): void {
  const map = side === 'f' ? cache.f : cache.p;
  const rec = side === 'f' ? w.features : w.predictions;
  for (let c = 0; c < columns.length; c++) {
    const col = columns[c]!;
    const name = col.name;
    // The same lookup as observeSide's, once per column instead of once per cell.
    let slot = map.get(name);
    if (slot === undefined || (slot.prof !== null && rec[name] !== slot.prof)) slot = slotFor(w, cache, side, name, ref, opts);
    if (slot.prof === null) {
      w.droppedFeatures += rows;
      continue;
    }
    if (col.kind === 'number') observeNumbers(slot.prof, col.values, col.offset, col.stride, rows, slot.ctx!);
    else for (let r = 0; r < rows; r++) observeValue(slot.prof, col.cells[r], slot.ctx!);
  }
}

/**
 * observeRows for a request read as columns (stats/columns.ts): the same window afterwards, bit for
 * bit, as observeRows on the rows those columns hold, provided each side's names are distinct
 * and every row has every column (what a table is). Why that holds: each column's profile (its
 * moments, bins, categories and the sketch with its own seeded coin) depends only on its own
 * values in row order, and columns are created in the order the rows would first show them
 * (features before predictions, each in column order), which is what maxFeatures and the key
 * order of the window's records depend on.
 */
export function observeColumns(
  w: WindowProfile,
  rows: number,
  features: readonly Column[],
  predictions: readonly Column[],
  ref: ReferenceProfile | null,
  opts: ProfileOptions,
): void {
  w.rows += rows;
  if (rows === 0) return;
  const cache = cacheFor(w, ref, opts);
  observeColumnSide(w, cache, 'f', rows, features, ref, opts);
  observeColumnSide(w, cache, 'p', rows, predictions, ref, opts);
}

function mergeRecords(a: Record<string, FeatureProfile>, b: Record<string, FeatureProfile>): Record<string, FeatureProfile> {
  const out: Record<string, FeatureProfile> = {};
  for (const k in a) {
    const fb = getOwn(b, k);
    setOwn(out, k, fb === undefined ? cloneFeature(a[k]!) : mergeFeature(a[k]!, fb));
  }
  for (const k in b) {
    if (!Object.hasOwn(a, k)) setOwn(out, k, cloneFeature(b[k]!));
  }
  return out;
}

/**
 * Merge of two windows of the same model version (new object, inputs untouched). startMs is the
 * earlier start and windowSeconds the span covering both (so equal keys stay equal); use
 * rollupWindows to set the key explicitly. Counts, bins, categories (within their bound),
 * requests, latency and rows are exact sums; moments to rounding; sketches within their bound.
 * The union of columns may exceed one window's maxFeatures (at most twice): merges never drop data.
 */
export function mergeWindows(a: WindowProfile, b: WindowProfile): WindowProfile {
  if (a.model !== b.model || a.version !== b.version) {
    throw new Error(`cannot merge windows of different model versions (${a.model}@${a.version} vs ${b.model}@${b.version})`);
  }
  const startMs = Math.min(a.startMs, b.startMs);
  const endMs = Math.max(a.startMs + a.windowSeconds * 1000, b.startMs + b.windowSeconds * 1000);
  const requests: Record<string, number> = { ...a.requests };
  for (const k in b.requests) setOwn(requests, k, (getOwn(requests, k) ?? 0) + b.requests[k]!);
  return {
    model: a.model,
    version: a.version,
    startMs,
    windowSeconds: (endMs - startMs) / 1000,
    requests,
    latency: mergeLatency(a.latency, b.latency),
    rows: a.rows + b.rows,
    features: mergeRecords(a.features, b.features),
    predictions: mergeRecords(a.predictions, b.predictions),
    droppedFeatures: a.droppedFeatures + b.droppedFeatures,
  };
}

/** Merges parts (same model version, at least one) into one window with the given key span. */
export function rollupWindows(parts: readonly WindowProfile[], startMs: number, windowSeconds: number): WindowProfile {
  const first = parts[0];
  if (first === undefined) throw new Error('rollupWindows needs at least one window');
  let acc: WindowProfile = emptyWindow({ model: first.model, version: first.version, startMs, windowSeconds }, first.latency.boundsMs);
  for (const p of parts) acc = mergeWindows(acc, p);
  acc.startMs = startMs;
  acc.windowSeconds = windowSeconds;
  return acc;
}

/** Deep copy of a window (plain data). */
export function cloneWindow(w: WindowProfile): WindowProfile {
  return {
    ...w,
    requests: { ...w.requests },
    latency: cloneLatency(w.latency),
    features: mergeRecords(w.features, {}),
    predictions: mergeRecords(w.predictions, {}),
  };
}
