/**
 * The champion/challenger comparison as InfluxDB points (dw_challenger, docs/influxdb.md), for a
 * fleet's dashboards: one point per (model, champion version, challenger version, instance) and
 * minute window. The counts are integer fields a panel sums across instances (agreement is
 * sum(agree) / sum(label_rows), exactly); the quantile fields describe the one window (for display:
 * quantiles do not add up); `comparison` is the whole mergeable value as JSON, lossless. Pure.
 */
import type { ComparisonKey } from '../challenger/comparison-windows.js';
import { type Comparison, summarizeComparison } from '../challenger/comparison.js';
import { latencyCount } from '../stats/latency-histogram.js';
import { type FieldSpec, MAX_STRING_FIELD_BYTES, type PointSpec } from './influx-schema.js';

export const CHALLENGER_MEASUREMENT = 'dw_challenger';

export interface ComparisonPointInput extends ComparisonKey {
  /** The window's start (epoch ms) and length. */
  startMs: number;
  windowSeconds: number;
  comparison: Comparison;
}

/** One window's comparison as a point stamped `timeMs` (inside the window: the publisher picks it). */
export function comparisonToPoint(w: ComparisonPointInput, instance: string, timeMs: number): PointSpec {
  const c = w.comparison;
  const s = summarizeComparison(c);
  const fields: FieldSpec[] = [];
  const int = (name: string, value: number) => fields.push({ name, type: 'int', value });
  const float = (name: string, value: number | null) => {
    // A field is never written as null (no row) and never changes type.
    if (value !== null && Number.isFinite(value)) fields.push({ name, type: 'float', value });
  };
  int('requests', c.requests);
  int('pairs', s.pairs);
  int('challenger_errors', c.challengerErrors);
  int('incomparable', c.incomparable);
  int('rows', c.rows);
  int('label_rows', c.labelRows);
  int('agree', c.agree);
  int('champion_latency_count', latencyCount(c.championLatency));
  float('champion_latency_sum_ms', c.championLatency.sumMs);
  int('challenger_latency_count', latencyCount(c.challengerLatency));
  float('challenger_latency_sum_ms', c.challengerLatency.sumMs);
  if (latencyCount(c.championLatency) > 0) {
    float('champion_latency_p50_ms', s.champion.p50Ms);
    float('champion_latency_p99_ms', s.champion.p99Ms);
  }
  float('challenger_latency_p50_ms', s.challenger.p50Ms);
  float('challenger_latency_p99_ms', s.challenger.p99Ms);
  if (s.agreement !== null) float('agreement', s.agreement);
  for (const [prefix, d] of [
    ['prob_diff', s.probDiff],
    ['value_diff', s.valueDiff],
  ] as const) {
    if (d === null) continue;
    int(`${prefix}_count`, d.count);
    float(`${prefix}_p50`, d.p50);
    float(`${prefix}_p95`, d.p95);
    float(`${prefix}_p99`, d.p99);
    float(`${prefix}_min`, d.min);
    float(`${prefix}_max`, d.max);
  }
  int('window_seconds', w.windowSeconds);
  // The lossless value, unless a wide confusion table makes it too big for a string field (the
  // numeric fields above still carry what the dashboards read).
  const json = JSON.stringify(c);
  if (Buffer.byteLength(json, 'utf8') <= MAX_STRING_FIELD_BYTES) fields.push({ name: 'comparison', type: 'string', value: json });
  return {
    measurement: CHALLENGER_MEASUREMENT,
    tags: { model: w.model, champion_version: w.championVersion, challenger_version: w.challengerVersion, instance },
    fields,
    timeMs,
  };
}
