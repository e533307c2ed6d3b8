/**
 * The live traffic summaries of several sidecar processes (proxy.workers > 1) as one: what the
 * group's /api/traffic shows. Counts and latency buckets add up; numeric moments combine with
 * Chan, Golub and LeVeque's pairwise update ("Algorithms for computing the sample variance", 1979:
 * M2 = M2a + M2b + d^2 na nb / n); categories add up and the most frequent 32 are kept, the rest
 * counted as other (as one summary does). Each worker's summary is already bounded, so is this.
 */
import { SUMMARY_LATENCY_BUCKETS_MS, type TrafficSnapshot } from './traffic-summary.js';

const MAX_CATEGORIES = 32;

type ModelView = TrafficSnapshot['models'][number];
type FeatureView = ModelView['features'][string];
type Numeric = NonNullable<FeatureView['numeric']>;

function mergeNumeric(a: Numeric | null, b: Numeric | null): Numeric | null {
  if (!a) return b;
  if (!b) return a;
  const n = a.n + b.n;
  const d = b.mean - a.mean;
  const m2 = (a.n > 1 ? a.std ** 2 * (a.n - 1) : 0) + (b.n > 1 ? b.std ** 2 * (b.n - 1) : 0) + (d * d * a.n * b.n) / n;
  return { n, mean: a.mean + (d * b.n) / n, std: n > 1 ? Math.sqrt(m2 / (n - 1)) : 0, min: Math.min(a.min, b.min), max: Math.max(a.max, b.max) };
}

function mergeFeature(a: FeatureView, b: FeatureView): FeatureView {
  let other = a.other_categories + b.other_categories;
  let categories: Record<string, number> | null = null;
  if (a.categories || b.categories) {
    const counts = new Map<string, number>(Object.entries(a.categories ?? {}));
    for (const [k, c] of Object.entries(b.categories ?? {})) counts.set(k, (counts.get(k) ?? 0) + c);
    const sorted = [...counts].sort((x, y) => y[1] - x[1]);
    for (const [, c] of sorted.slice(MAX_CATEGORIES)) other += c;
    categories = Object.fromEntries(sorted.slice(0, MAX_CATEGORIES));
  }
  return { count: a.count + b.count, missing: a.missing + b.missing, numeric: mergeNumeric(a.numeric, b.numeric), categories, other_categories: other };
}

function mergeFeatures(a: Record<string, FeatureView>, b: Record<string, FeatureView>): Record<string, FeatureView> {
  const out = { ...a };
  for (const [k, f] of Object.entries(b)) out[k] = Object.hasOwn(out, k) ? mergeFeature(out[k]!, f) : f;
  return out;
}

/** The bucket's upper bound that holds quantile q of the merged counts (as TrafficSummary does). */
function quantile(counts: readonly number[], q: number): number | null {
  const total = counts.reduce((s, c) => s + c, 0);
  if (!total) return null;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i]!;
    if (seen >= q * total) return SUMMARY_LATENCY_BUCKETS_MS[i] ?? Infinity;
  }
  return null;
}

function mergeModel(a: ModelView, b: ModelView): ModelView {
  const byStatus = { ...a.by_status_class };
  for (const [k, c] of Object.entries(b.by_status_class)) byStatus[k] = (byStatus[k] ?? 0) + c;
  const counts = a.latency_ms.counts.map((c, i) => c + (b.latency_ms.counts[i] ?? 0));
  return {
    model: a.model,
    version: a.version,
    requests: a.requests + b.requests,
    by_status_class: byStatus,
    latency_ms: { p50_at_most: quantile(counts, 0.5), p99_at_most: quantile(counts, 0.99), bucket_upper_bounds: a.latency_ms.bucket_upper_bounds, counts },
    rows: a.rows + b.rows,
    features: mergeFeatures(a.features, b.features),
    predictions: mergeFeatures(a.predictions, b.predictions),
    dropped_features: a.dropped_features + b.dropped_features,
  };
}

/** One snapshot for several; `since` is the earliest (the oldest worker's start), `sinceIfNone` when there are none. */
export function mergeTrafficSnapshots(snapshots: readonly TrafficSnapshot[], sinceIfNone: string): TrafficSnapshot {
  const models = new Map<string, ModelView>();
  let since: string | null = null;
  for (const s of snapshots) {
    if (since === null || s.since < since) since = s.since;
    for (const m of s.models) {
      const key = `${m.model}\u0000${m.version}`;
      const seen = models.get(key);
      models.set(key, seen ? mergeModel(seen, m) : m);
    }
  }
  return { since: since ?? sinceIfNone, models: [...models.values()] };
}
