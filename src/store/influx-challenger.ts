/**
 * The champion/challenger comparison as InfluxDB points (dw_challenger, docs/influxdb.md), for a
 * fleet's dashboards: one point per (model, champion version, challenger version, instance) and
 * minute window. The counts are integer fields a panel sums across instances (agreement is
 * sum(agree) / sum(label_rows), exactly); the quantile fields describe the one window (for display:
 * quantiles do not add up); `comparison` is the whole mergeable value as JSON, lossless. Pure.
 * Read back (an analyzer's challenger check): each point's `comparison` is one writer's delta of
 * its window, summed across points and instances (stored-comparisons.ts); a point without it (a
 * confusion too wide for a string field) cannot be summed exactly and is skipped and counted.
 */
import type { ComparisonWindowDelta } from '../challenger/comparison-deltas.js';
import { type ComparisonKey, DEFAULT_WINDOW_MS } from '../challenger/comparison-windows.js';
import { type Comparison, summarizeComparison } from '../challenger/comparison.js';
import { parseComparison } from '../challenger/stored-comparisons.js';
import { latencyCount } from '../stats/latency-histogram.js';
import { type FieldSpec, influxqlIdent, influxqlString, MAX_STRING_FIELD_BYTES, type PointSpec, type QuerySeries } from './influx-schema.js';

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

/** Points are stamped inside their window, which is a minute (the publisher's). */
const COMPARISON_WINDOW_MS = DEFAULT_WINDOW_MS;

/**
 * The dw_challenger points whose window may overlap [fromMs, toMs): `comparison` and `requests`
 * (a point without the former still has the latter, so it is seen and counted as skipped). A
 * point is stamped up to a window after its window's start, so the time range is widened by one
 * window on both sides; the reader keeps the windows that overlap.
 */
export function comparisonStatement(q: { fromMs: number; toMs: number; model?: string }): string {
  const where = [
    ...(q.model === undefined ? [] : [`${influxqlIdent('model')} = ${influxqlString(q.model)}`]),
    `time > ${Math.floor(q.fromMs - COMPARISON_WINDOW_MS)}ms`,
    `time < ${Math.ceil(q.toMs + COMPARISON_WINDOW_MS)}ms`,
  ].join(' AND ');
  const keys = ['model', 'champion_version', 'challenger_version', 'instance'].map(influxqlIdent).join(', ');
  return `SELECT ${influxqlIdent('comparison')}, ${influxqlIdent('requests')}, ${influxqlIdent('window_seconds')} FROM ${influxqlIdent(CHALLENGER_MEASUREMENT)} WHERE ${where} GROUP BY ${keys}`;
}

/** One row per model with points in [fromMs, toMs) (the last point's `requests`: any field would do). */
export function comparisonModelsStatement(fromMs: number, toMs: number): string {
  return `SELECT last(${influxqlIdent('requests')}) FROM ${influxqlIdent(CHALLENGER_MEASUREMENT)} WHERE time > ${Math.floor(fromMs - COMPARISON_WINDOW_MS)}ms AND time < ${Math.ceil(toMs + COMPARISON_WINDOW_MS)}ms GROUP BY ${influxqlIdent('model')}`;
}

/** The windows in comparisonStatement's answer, and the points skipped (no readable `comparison`). */
export function comparisonsFromSeries(series: readonly QuerySeries[]): { windows: ComparisonWindowDelta[]; skipped: number } {
  const windows: ComparisonWindowDelta[] = [];
  let skipped = 0;
  for (const s of series) {
    const tags = s.tags ?? {};
    const at = (name: string) => s.columns.indexOf(name);
    const [iTime, iComparison, iWindow] = [at('time'), at('comparison'), at('window_seconds')];
    for (const row of s.values) {
      const text = row[iComparison];
      const comparison = typeof text === 'string' ? parseComparison(text) : null;
      const timeMs = Number(row[iTime]);
      const windowSeconds = Number(row[iWindow]);
      if (comparison === null || !Number.isFinite(timeMs) || !(windowSeconds > 0)) {
        skipped++;
        continue;
      }
      const windowMs = windowSeconds * 1000;
      windows.push({
        model: tags.model ?? '',
        championVersion: tags.champion_version ?? '',
        challengerVersion: tags.challenger_version ?? '',
        // Stamped at the window's start or a millisecond after it (a later delta of the same window).
        startMs: Math.floor(timeMs / windowMs) * windowMs,
        windowSeconds,
        comparison,
      });
    }
  }
  return { windows, skipped };
}
