/**
 * Readable views of stored window profiles for the admin API: per window the request counts,
 * latency quantiles and, per feature, counts, moments, a few sketch quantiles, bins and
 * categories; or everything merged over the queried range ("total"). The raw profiles (with
 * sketches) are available too, for tools that merge or test on them.
 */
import { latencyCount, latencyQuantile } from '../stats/latency-histogram.js';
import { kllQuantile } from '../stats/kll-sketch.js';
import { momentsStd } from '../stats/moments.js';
import type { FeatureProfile, WindowProfile } from '../stats/types.js';
import { mergeWindows } from '../stats/window-profile.js';

function featureView(f: FeatureProfile) {
  const n = f.moments.n;
  return {
    count: f.count,
    missing: f.missing,
    numeric: n
      ? {
          n,
          mean: f.moments.mean,
          std: momentsStd(f.moments),
          min: f.moments.min,
          max: f.moments.max,
          p05: kllQuantile(f.sketch, 0.05),
          p50: kllQuantile(f.sketch, 0.5),
          p95: kllQuantile(f.sketch, 0.95),
        }
      : null,
    bins: f.bins,
    categories: Object.keys(f.categories.counts).length || f.categories.unseen || f.categories.other ? f.categories : null,
  };
}

export function windowView(w: WindowProfile) {
  const total = latencyCount(w.latency);
  return {
    model: w.model,
    version: w.version,
    start: new Date(w.startMs).toISOString(),
    window_seconds: w.windowSeconds,
    requests: w.requests,
    latency_ms: total
      ? {
          count: total,
          mean: w.latency.sumMs / total,
          p50: latencyQuantile(w.latency, 0.5),
          p95: latencyQuantile(w.latency, 0.95),
          p99: latencyQuantile(w.latency, 0.99),
        }
      : null,
    rows: w.rows,
    features: Object.fromEntries(Object.entries(w.features).map(([k, f]) => [k, featureView(f)])),
    predictions: Object.fromEntries(Object.entries(w.predictions).map(([k, f]) => [k, featureView(f)])),
    dropped_features: w.droppedFeatures,
  };
}

/** All windows of one version merged into one (the range's total), per version. */
export function mergedByVersion(windows: readonly WindowProfile[]): WindowProfile[] {
  const byVersion = new Map<string, WindowProfile>();
  for (const w of windows) {
    const prev = byVersion.get(w.version);
    byVersion.set(w.version, prev ? mergeWindows(prev, w) : w);
  }
  return [...byVersion.values()];
}
