/**
 * A live, bounded, in-memory summary of the traffic the sidecar saw since it started: per model
 * and version, requests by status class and a latency histogram; per feature, count, missing,
 * numeric moments (Welford) and the most frequent categories. It is what the admin API shows
 * today; the persistent, windowed, mergeable profiles are the statistics store's job.
 * Bounded: at most MAX_MODELS model versions, MAX_FEATURES features each, MAX_CATEGORIES values.
 */
import type { InferenceEvent } from './inference-event.js';
import type { Row } from './extract.js';
import type { Column } from '../stats/columns.js';

const MAX_MODELS = 64;
const MAX_FEATURES = 512;
const MAX_CATEGORIES = 32;
/** Upper bounds in milliseconds; the last bucket is open. */
export const SUMMARY_LATENCY_BUCKETS_MS = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];
/** "1xx".."5xx" built once (a template string per request is an allocation per request). */
const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'];

interface FeatureStats {
  count: number;
  missing: number;
  n: number;
  mean: number;
  m2: number;
  min: number;
  max: number;
  categories: Map<string, number>;
  otherCategories: number;
}

interface ModelStats {
  requests: number;
  byStatusClass: Record<string, number>;
  latencyBuckets: number[];
  rows: number;
  features: Map<string, FeatureStats>;
  predictions: Map<string, FeatureStats>;
  droppedFeatures: number;
}

function newFeature(): FeatureStats {
  return { count: 0, missing: 0, n: 0, mean: 0, m2: 0, min: Infinity, max: -Infinity, categories: new Map(), otherCategories: 0 };
}

function observe(f: FeatureStats, v: unknown): void {
  f.count++;
  if (v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v))) {
    f.missing++;
    return;
  }
  if (typeof v === 'number') {
    // Welford's online update (Knuth, TAOCP vol. 2, 4.2.2).
    f.n++;
    const d = v - f.mean;
    f.mean += d / f.n;
    f.m2 += d * (v - f.mean);
    if (v < f.min) f.min = v;
    if (v > f.max) f.max = v;
    return;
  }
  const key = String(v);
  const c = f.categories.get(key);
  if (c !== undefined) f.categories.set(key, c + 1);
  else if (f.categories.size < MAX_CATEGORIES) f.categories.set(key, 1);
  else f.otherCategories++;
}

/** observe() on rows numbers values[offset], values[offset + stride], ...: the same operations in the same order, on locals. */
function observeNumbers(f: FeatureStats, values: ArrayLike<number>, offset: number, stride: number, rows: number): void {
  let { missing, n, mean, m2, min, max } = f;
  for (let r = 0, at = offset; r < rows; r++, at += stride) {
    const v = values[at]!;
    if (Number.isNaN(v)) {
      missing++;
      continue;
    }
    n++;
    const d = v - mean;
    mean += d / n;
    m2 += d * (v - mean);
    if (v < min) min = v;
    if (v > max) max = v;
  }
  f.count += rows;
  f.missing = missing;
  f.n = n;
  f.mean = mean;
  f.m2 = m2;
  f.min = min;
  f.max = max;
}

function view(f: FeatureStats) {
  return {
    count: f.count,
    missing: f.missing,
    numeric: f.n ? { n: f.n, mean: f.mean, std: f.n > 1 ? Math.sqrt(f.m2 / (f.n - 1)) : 0, min: f.min, max: f.max } : null,
    categories: f.categories.size ? Object.fromEntries([...f.categories].sort((a, b) => b[1] - a[1])) : null,
    other_categories: f.otherCategories,
  };
}

/** What /api/traffic serves: a plain value (the capture worker thread posts it to the main thread). */
export type TrafficSnapshot = ReturnType<TrafficSummary['toJSON']>;

/** Anything that can answer /api/traffic: the summary itself, or the main thread's copy of a worker's. */
export interface TrafficSummaryView {
  toJSON(): TrafficSnapshot;
}

export class TrafficSummary {
  private readonly models = new Map<string, ModelStats>();
  readonly sinceMs: number;

  constructor(nowMs: number) {
    this.sinceMs = nowMs;
  }

  /** The last model version looked up: traffic is mostly one model, and each event asks twice. */
  private last: { name: string; version: string; m: ModelStats } | null = null;

  private model(name: string, version: string): ModelStats | null {
    const last = this.last;
    if (last !== null && last.name === name && last.version === version) return last.m;
    const key = `${name}\u0000${version}`;
    let m = this.models.get(key);
    if (!m) {
      if (this.models.size >= MAX_MODELS) return null;
      m = {
        requests: 0,
        byStatusClass: {},
        latencyBuckets: new Array(SUMMARY_LATENCY_BUCKETS_MS.length + 1).fill(0),
        rows: 0,
        features: new Map(),
        predictions: new Map(),
        droppedFeatures: 0,
      };
      this.models.set(key, m);
    }
    this.last = { name, version, m };
    return m;
  }

  /** `version`: the event's, or the label it is counted under when it has none (proxy.version). */
  observeRequest(e: InferenceEvent, version: string | null = e.version): void {
    const m = this.model(e.model ?? 'unknown', version ?? 'unknown');
    if (!m) return;
    m.requests++;
    const sc = STATUS_CLASSES[Math.floor(e.status / 100)] ?? `${Math.floor(e.status / 100)}xx`;
    m.byStatusClass[sc] = (m.byStatusClass[sc] ?? 0) + 1;
    const bounds = SUMMARY_LATENCY_BUCKETS_MS;
    let b = 0;
    while (b < bounds.length && !(e.totalMs <= bounds[b]!)) b++;
    m.latencyBuckets[b]!++;
  }

  observeRows(model: string, version: string, features: Row[], predictions: Row[]): void {
    const m = this.model(model, version);
    if (!m) return;
    m.rows += features.length;
    this.add(m, m.features, features);
    this.add(m, m.predictions, predictions);
  }

  private add(m: ModelStats, target: Map<string, FeatureStats>, rows: Row[]): void {
    for (let r = 0; r < rows.length; r++) {
      const row = rows[r]!;
      // for...in over a row's own keys (rows are plain objects; setOwn keeps "__proto__" own).
      for (const k in row) {
        let f = target.get(k);
        if (!f) {
          if (target.size >= MAX_FEATURES) {
            m.droppedFeatures++;
            continue;
          }
          f = newFeature();
          target.set(k, f);
        }
        observe(f, row[k]);
      }
    }
  }

  /** observeRows for a request read as columns (capture/extract.ts's lean path): the same summary afterwards. */
  observeColumns(model: string, version: string, rows: number, features: readonly Column[], predictions: readonly Column[]): void {
    const m = this.model(model, version);
    if (!m) return;
    m.rows += rows;
    this.addColumns(m, m.features, rows, features);
    this.addColumns(m, m.predictions, rows, predictions);
  }

  private addColumns(m: ModelStats, target: Map<string, FeatureStats>, rows: number, columns: readonly Column[]): void {
    // Each column's stats depend only on its own values in row order, and columns are created in
    // the order the rows would first show them: the same Map as add() would make of the rows.
    for (let c = 0; c < columns.length; c++) {
      const col = columns[c]!;
      let f = target.get(col.name);
      if (!f) {
        if (target.size >= MAX_FEATURES) {
          m.droppedFeatures += rows;
          continue;
        }
        f = newFeature();
        target.set(col.name, f);
      }
      if (col.kind === 'number') observeNumbers(f, col.values, col.offset, col.stride, rows);
      else for (let r = 0; r < rows; r++) observe(f, col.cells[r]);
    }
  }

  /** Approximate latency quantile from the buckets: the upper bound of the bucket holding it. */
  private quantile(m: ModelStats, q: number): number | null {
    const total = m.latencyBuckets.reduce((a, b) => a + b, 0);
    if (!total) return null;
    let seen = 0;
    for (let i = 0; i < m.latencyBuckets.length; i++) {
      seen += m.latencyBuckets[i]!;
      if (seen >= q * total) return SUMMARY_LATENCY_BUCKETS_MS[i] ?? Infinity;
    }
    return null;
  }

  toJSON() {
    return {
      since: new Date(this.sinceMs).toISOString(),
      models: [...this.models].map(([key, m]) => {
        const [model, version] = key.split('\u0000');
        return {
          model,
          version,
          requests: m.requests,
          by_status_class: m.byStatusClass,
          latency_ms: {
            p50_at_most: this.quantile(m, 0.5),
            p99_at_most: this.quantile(m, 0.99),
            bucket_upper_bounds: SUMMARY_LATENCY_BUCKETS_MS,
            counts: m.latencyBuckets,
          },
          rows: m.rows,
          features: Object.fromEntries([...m.features].map(([k, f]) => [k, view(f)])),
          predictions: Object.fromEntries([...m.predictions].map(([k, f]) => [k, view(f)])),
          dropped_features: m.droppedFeatures,
        };
      }),
    };
  }
}
