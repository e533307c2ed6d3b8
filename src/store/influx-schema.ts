/**
 * The InfluxDB measurement schema of the statistics store (docs/influxdb.md), both directions:
 * a WindowProfile delta -> point descriptions (PointSpec, turned into line protocol by influx.ts,
 * the one module that imports the InfluxDB client), and InfluxQL result rows -> merged
 * WindowProfiles. Pure: no I/O, no clock, no client import.
 *
 *   dw_requests  tags model, version, instance                    one point per delta
 *   dw_feature   tags model, version, instance, feature, role     one point per profiled column
 *   dw_reference tags model, version, feature, role               one point per binned reference feature
 *   dw_finding   tags check, model, version, subject, role, metric, status   one point per finding
 *                (quality findings add labelled_share, labelled, predictions, ... : qualityFields)
 *
 * The numeric fields are for dashboards (Grafana sums them across instances). What readWindows
 * merges is the lossless JSON in the string fields (`latency`, `profile`): a replayed or
 * re-read point carries the exact delta, so the merge is the same as the embedded store's.
 * Each field keeps one type forever (InfluxDB rejects a type change with a 400 per shard).
 */
import { emptyLatency, DEFAULT_LATENCY_BOUNDS_MS, latencyCount, latencyQuantile } from '../stats/latency-histogram.js';
import { momentsStd } from '../stats/moments.js';
import { setOwn } from '../stats/own-keys.js';
import type { Finding } from '../findings/finding.js';
import type { FeatureProfile, LatencyHistogram, ReferenceProfile, WindowProfile } from '../stats/types.js';
import { mergeWindows } from '../stats/window-profile.js';

export const REQUESTS_MEASUREMENT = 'dw_requests';
export const FEATURE_MEASUREMENT = 'dw_feature';
export const REFERENCE_MEASUREMENT = 'dw_reference';
export const FINDING_MEASUREMENT = 'dw_finding';

/**
 * InfluxDB 1.x caps a string field at 64 KiB; a profile above this is not written (its point is
 * dropped and counted). With sketchK = 200 a profile is about 10-15 KiB, so this is a guard, not a
 * limit anyone should meet: a bigger sketchK or maxCategories is the usual cause.
 */
export const MAX_STRING_FIELD_BYTES = 60 * 1024;

/** The longest window the config allows (stats.windowSeconds max): bounds how late a window's points lie. */
export const MAX_WINDOW_SECONDS = 86_400;

export type FieldSpec =
  | { name: string; type: 'int'; value: number }
  | { name: string; type: 'float'; value: number }
  | { name: string; type: 'string'; value: string };

export interface PointSpec {
  measurement: string;
  tags: Record<string, string>;
  fields: FieldSpec[];
  /** Epoch ms (the store writes with precision ms). */
  timeMs: number;
}

export interface DeltaPoints {
  points: PointSpec[];
  /** Feature points not written because their profile JSON exceeded MAX_STRING_FIELD_BYTES. */
  oversize: number;
}

/** Window span [startMs, endMs] (inclusive) a delta's points are clamped into. */
export function windowSpan(w: Pick<WindowProfile, 'startMs' | 'windowSeconds'>): { startMs: number; lastMs: number } {
  return { startMs: w.startMs, lastMs: w.startMs + w.windowSeconds * 1000 - 1 };
}

function finite(x: number | null | undefined): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}

function featurePoint(
  base: Record<string, string>,
  role: 'input' | 'prediction',
  name: string,
  f: FeatureProfile,
  windowSeconds: number,
  timeMs: number,
): PointSpec | null {
  const profile = JSON.stringify(f);
  if (Buffer.byteLength(profile, 'utf8') > MAX_STRING_FIELD_BYTES) return null;
  const m = f.moments;
  const fields: FieldSpec[] = [
    { name: 'count', type: 'int', value: f.count },
    { name: 'missing', type: 'int', value: f.missing },
    { name: 'n', type: 'int', value: m.n },
  ];
  if (m.n > 0 && finite(m.mean)) fields.push({ name: 'mean', type: 'float', value: m.mean });
  const std = momentsStd(m);
  if (finite(std)) fields.push({ name: 'std', type: 'float', value: std });
  if (finite(m.min)) fields.push({ name: 'min', type: 'float', value: m.min });
  if (finite(m.max)) fields.push({ name: 'max', type: 'float', value: m.max });
  if (f.bins !== null) fields.push(...binFields(f.bins.counts, 'int'));
  fields.push(...categoryFields(f));
  fields.push({ name: 'profile', type: 'string', value: profile }, { name: 'window_seconds', type: 'int', value: windowSeconds });
  return { measurement: FEATURE_MEASUREMENT, tags: { ...base, feature: name, role }, fields, timeMs };
}

/**
 * Field name of bin slot i of a BinnedCounts layout (counts.length = interior bins + 2): slot 0 is
 * `bin_under`, the last `bin_over`, interior bin j is `bin_<jjj>` (three digits: stats.referenceBins
 * is at most 1000, so names sort in bin order and `SELECT sum(/^bin_/)` covers any layout).
 */
export function binFieldName(slot: number, slots: number): string {
  if (slot === 0) return 'bin_under';
  if (slot === slots - 1) return 'bin_over';
  return `bin_${String(slot - 1).padStart(3, '0')}`;
}

/**
 * Per-bin counts (dw_feature, integers) or shares (dw_reference, floats) as one field per bin, plus
 * `bin_total`: InfluxQL cannot parse the JSON `profile`, and a field per bin keeps a delta one point
 * (a `bin` tag would multiply the series and the points per flush by the bin count).
 */
function binFields(counts: readonly number[], type: 'int' | 'float'): FieldSpec[] {
  const total = counts.reduce((a, b) => a + b, 0);
  const out: FieldSpec[] = [];
  counts.forEach((c, i) => {
    const name = binFieldName(i, counts.length);
    if (type === 'int') out.push({ name, type: 'int', value: c });
    else out.push({ name, type: 'float', value: total > 0 ? c / total : 0 });
  });
  if (type === 'int') out.push({ name: 'bin_total', type: 'int', value: total });
  return out;
}

/**
 * Category values that can be field names. A backslash is left as it is by the line-protocol
 * escaping, so a value ending in one would escape the `=` after it and InfluxDB would reject the
 * whole point, profile included (a value from traffic must never cost the drift check its data);
 * very long keys only bloat the point. Such values stay in the JSON profile, not in `cat.` fields.
 */
const SAFE_CATEGORY_KEY = /^[^\\]{1,200}$/;

/**
 * Categorical counts as integer fields `cat.<value>` (plus `cat_unseen`, `cat_other`): bounded by
 * the reference's categories or stats.maxCategories, so the field set stays bounded. The dot keeps
 * a value literally named "unseen" apart from the unseen bucket.
 */
function categoryFields(f: FeatureProfile): FieldSpec[] {
  const c = f.categories;
  const out: FieldSpec[] = [];
  // At most MAX_CATEGORY_FIELDS values, the most frequent (ties by name), so a point never carries
  // hundreds of columns (InfluxDB 3 and Cloud cap columns per table); the rest count in cat_other.
  // Exact counts of every value stay in the JSON profile, which is what the checks read.
  const keys = Object.keys(c.counts)
    .filter((k) => SAFE_CATEGORY_KEY.test(k))
    .sort((a, b) => c.counts[b]! - c.counts[a]! || (a < b ? -1 : a > b ? 1 : 0));
  const kept = keys.slice(0, MAX_CATEGORY_FIELDS);
  let rest = 0;
  for (const k of keys.slice(MAX_CATEGORY_FIELDS)) rest += c.counts[k]!;
  for (const k of kept.sort()) out.push({ name: `cat.${k}`, type: 'int', value: c.counts[k]! });
  if (out.length === 0 && c.unseen === 0 && c.other === 0 && rest === 0) return out;
  out.push({ name: 'cat_unseen', type: 'int', value: c.unseen }, { name: 'cat_other', type: 'int', value: c.other + rest });
  return out;
}

/** Category values written as `cat.` fields per point (the most frequent ones). */
export const MAX_CATEGORY_FIELDS = 20;

/**
 * The points of a reference profile (dw_reference): one per numeric feature with bin edges, the
 * share of the reference's values in each bin (`bin_*`, same names as dw_feature's counts) and
 * the edges (`lo`, `hi`, `edge_<jjj>` = lower edge of `bin_<jjj>` for j >= 1), so a panel puts the
 * reference next to the current distribution. Written when a store first sees the reference, at
 * that time (a reference's creation time may lie before the database's retention).
 */
export function referenceToPoints(ref: ReferenceProfile, timeMs: number): PointSpec[] {
  const out: PointSpec[] = [];
  for (const [role, rec] of [
    ['input', ref.features],
    ['prediction', ref.predictions],
  ] as const) {
    for (const name of Object.keys(rec).sort()) {
      const rf = rec[name]!;
      const bins = rf.profile.bins;
      if (rf.kind !== 'numerical' || rf.binEdges === null || bins === null) continue;
      const e = rf.binEdges;
      const fields: FieldSpec[] = [...binFields(bins.counts, 'float')];
      fields.push({ name: 'lo', type: 'float', value: e.lo }, { name: 'hi', type: 'float', value: e.hi });
      e.edges.forEach((c, j) => fields.push({ name: `edge_${String(j + 1).padStart(3, '0')}`, type: 'float', value: c }));
      fields.push(
        { name: 'n', type: 'int', value: bins.counts.reduce((a, b) => a + b, 0) },
        { name: 'rows', type: 'int', value: ref.rows },
        { name: 'created_at_ms', type: 'int', value: Math.floor(ref.createdAtMs) },
      );
      out.push({ measurement: REFERENCE_MEASUREMENT, tags: { model: ref.model, version: ref.version, feature: name, role }, fields, timeMs });
    }
  }
  return out;
}

const MAX_MESSAGE_CHARS = 1000;

/** dw_finding status_level: a number a panel can threshold and sort on (firing = level >= 1). */
export const STATUS_LEVEL: Record<Finding['status'], number> = { ok: 0, warn: 1, fail: 2, error: 3 };

/**
 * One dw_finding point per finding, at its `at`. Tags are bounded (check, model, version, subject,
 * role, metric, status); everything measured is a field. A version-less finding (SLO, a run
 * error) has no `version` tag. `stale` is 1 for a staleness finding that flags its version.
 * The drift statistics that drive the dashboards (PSI, KS) are fields of their own whatever the
 * headline metric was: a feature with too few rows for PSI's verdict still has its PSI plotted.
 */
export function findingToPoint(f: Finding): PointSpec {
  const tags: Record<string, string> = { check: f.check, model: f.subject.model, subject: f.subject.name, metric: f.metric, status: f.status };
  if (f.subject.version !== null && f.subject.version !== '') tags.version = f.subject.version;
  if (f.subject.role) tags.role = f.subject.role;
  const fields: FieldSpec[] = [];
  if (finite(f.value)) fields.push({ name: 'value', type: 'float', value: f.value });
  const t = f.threshold;
  const applied = f.status === 'warn' ? t.warn : (t.fail ?? t.warn);
  if (finite(applied)) fields.push({ name: 'threshold', type: 'float', value: applied });
  if (finite(t.warn)) fields.push({ name: 'threshold_warn', type: 'float', value: t.warn });
  if (finite(t.fail)) fields.push({ name: 'threshold_fail', type: 'float', value: t.fail });
  fields.push(
    { name: 'n', type: 'int', value: Math.max(0, Math.floor(f.sampleSize)) },
    { name: 'status_level', type: 'int', value: STATUS_LEVEL[f.status] },
    { name: 'stale', type: 'int', value: f.check === 'staleness' && (f.status === 'warn' || f.status === 'fail') ? 1 : 0 },
    { name: 'insufficient', type: 'int', value: f.insufficientData ? 1 : 0 },
  );
  const d = f.detail as { psi?: { value?: unknown } | null; ks?: { statistic?: unknown; pvalue?: unknown } | null } | undefined;
  if (f.check === 'drift' && d) {
    if (typeof d.psi?.value === 'number' && finite(d.psi.value)) fields.push({ name: 'psi', type: 'float', value: d.psi.value });
    if (typeof d.ks?.statistic === 'number' && finite(d.ks.statistic)) fields.push({ name: 'ks_statistic', type: 'float', value: d.ks.statistic });
    if (typeof d.ks?.pvalue === 'number' && finite(d.ks.pvalue)) fields.push({ name: 'ks_pvalue', type: 'float', value: d.ks.pvalue });
  }
  if (f.check === 'quality' && f.detail) fields.push(...qualityFields(f.detail));
  fields.push(
    { name: 'window_seconds', type: 'int', value: Math.max(0, Math.round((f.window.toMs - f.window.fromMs) / 1000)) },
    // For a table of firing findings; bounded so a point stays far below the 64 KiB string limit.
    { name: 'message', type: 'string', value: f.message.slice(0, MAX_MESSAGE_CHARS) },
  );
  return { measurement: FINDING_MEASUREMENT, tags, fields, timeMs: Math.floor(f.at) };
}

/**
 * What the quality panels plot beside a quality finding's value (outcomes/quality-check.ts puts
 * them in its detail): the window's predictions and labelled rows and their share, the median
 * label delay, the estimate's standard error and whether it was calibrated on the reference, and,
 * on the drop findings, the reference's own value. Each only when present: a field is never
 * written as null, and its type never changes (counts int, the rest float).
 */
function qualityFields(detail: Record<string, unknown>): FieldSpec[] {
  const out: FieldSpec[] = [];
  const d = detail as {
    predictions?: unknown;
    labelled?: unknown;
    labelled_share?: unknown;
    label_delay_p50_ms?: unknown;
    estimate?: { standard_error?: unknown; calibrated?: unknown } | null;
    reference?: { value?: unknown } | null;
  };
  const int = (name: string, v: unknown) => {
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) out.push({ name, type: 'int', value: v });
  };
  const float = (name: string, v: unknown) => {
    if (typeof v === 'number' && finite(v)) out.push({ name, type: 'float', value: v });
  };
  int('predictions', d.predictions);
  int('labelled', d.labelled);
  float('labelled_share', d.labelled_share);
  float('label_delay_p50_ms', d.label_delay_p50_ms);
  float('estimate_standard_error', d.estimate?.standard_error);
  if (typeof d.estimate?.calibrated === 'boolean') out.push({ name: 'estimate_calibrated', type: 'int', value: d.estimate.calibrated ? 1 : 0 });
  float('reference_value', d.reference?.value);
  return out;
}

/** The points of one delta, all at timeMs (the caller picks a distinct ms inside the window). */
export function deltaToPoints(w: WindowProfile, instance: string, timeMs: number): DeltaPoints {
  const base = { model: w.model, version: w.version, instance };
  let total = 0;
  const statusFields: FieldSpec[] = [];
  // 2xx, 4xx and 5xx are always written (0 when absent): a ratio over a window with no 2xx at
  // all (a total outage) must read 0/n, not null, or the error-rate panel goes blank exactly then.
  const counts: Record<string, number> = { '2xx': 0, '4xx': 0, '5xx': 0, ...w.requests };
  for (const cls of Object.keys(counts).sort()) {
    const n = counts[cls]!;
    total += n;
    statusFields.push({ name: `status_${cls}`, type: 'int', value: n });
  }
  const lat = w.latency;
  const fields: FieldSpec[] = [
    { name: 'requests', type: 'int', value: total },
    { name: 'rows', type: 'int', value: w.rows },
    ...statusFields,
    { name: 'latency_count', type: 'int', value: latencyCount(lat) },
    { name: 'latency_sum_ms', type: 'float', value: finite(lat.sumMs) ? lat.sumMs : 0 },
  ];
  for (const [q, name] of [
    [0.5, 'latency_p50_ms'],
    [0.95, 'latency_p95_ms'],
    [0.99, 'latency_p99_ms'],
  ] as const) {
    const v = latencyQuantile(lat, q);
    if (finite(v)) fields.push({ name, type: 'float', value: v });
  }
  fields.push(
    { name: 'latency', type: 'string', value: JSON.stringify(lat) },
    { name: 'dropped_features', type: 'int', value: w.droppedFeatures },
    { name: 'window_seconds', type: 'int', value: w.windowSeconds },
  );
  const points: PointSpec[] = [{ measurement: REQUESTS_MEASUREMENT, tags: base, fields, timeMs }];
  let oversize = 0;
  for (const [role, rec] of [
    ['input', w.features],
    ['prediction', w.predictions],
  ] as const) {
    for (const name of Object.keys(rec)) {
      const p = featurePoint(base, role, name, rec[name]!, w.windowSeconds, timeMs);
      if (p === null) oversize++;
      else points.push(p);
    }
  }
  return { points, oversize };
}

// ---------------------------------------------------------------------------------------------
// InfluxQL text. Spec: https://docs.influxdata.com/influxdb/v1/query_language/spec/ (strings are
// single-quoted with \' and \\ escapes; identifiers double-quoted with \" and \\).

export function influxqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}

export function influxqlIdent(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

export interface ReadRange {
  model: string;
  version?: string;
  fromMs: number;
  toMs: number;
}

/**
 * The two statements readWindows sends. A window starting before toMs has points up to
 * start + windowSeconds - 1 ms, so the time range reaches MAX_WINDOW_SECONDS past toMs; reads end
 * near "now" in practice, where that margin holds no data and costs nothing. Windows are then
 * filtered on their start.
 */
export function readStatements(q: ReadRange): string {
  const where = [
    `${influxqlIdent('model')} = ${influxqlString(q.model)}`,
    ...(q.version === undefined ? [] : [`${influxqlIdent('version')} = ${influxqlString(q.version)}`]),
    `time >= ${Math.floor(q.fromMs)}ms`,
    `time < ${Math.ceil(q.toMs) + MAX_WINDOW_SECONDS * 1000}ms`,
  ].join(' AND ');
  return [
    `SELECT * FROM ${influxqlIdent(REQUESTS_MEASUREMENT)} WHERE ${where} GROUP BY *`,
    `SELECT "profile", "window_seconds" FROM ${influxqlIdent(FEATURE_MEASUREMENT)} WHERE ${where} GROUP BY *`,
  ].join('; ');
}

export const LIST_SERIES_STATEMENTS = [
  `SELECT first("window_seconds") FROM ${influxqlIdent(REQUESTS_MEASUREMENT)} GROUP BY "model", "version"`,
  `SELECT last("window_seconds") FROM ${influxqlIdent(REQUESTS_MEASUREMENT)} GROUP BY "model", "version"`,
].join('; ');

// ---------------------------------------------------------------------------------------------
// Results -> profiles.

/** One series of an InfluxQL JSON result (epoch=ms). */
export interface QuerySeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

export interface Row {
  measurement: string;
  tags: Record<string, string>;
  timeMs: number;
  get(col: string): unknown;
}

export function* rowsOf(series: readonly QuerySeries[]): Generator<Row> {
  for (const s of series) {
    const idx = new Map<string, number>();
    s.columns.forEach((c, i) => idx.set(c, i));
    const ti = idx.get('time') ?? 0;
    for (const v of s.values) {
      yield {
        measurement: s.name,
        tags: s.tags ?? {},
        timeMs: Number(v[ti]),
        get: (col: string) => {
          const i = idx.get(col);
          return i === undefined ? null : v[i];
        },
      };
    }
  }
}

/** Columns of a dw_requests row, for the status classes. */
export function statusColumns(series: readonly QuerySeries[]): Set<string> {
  const out = new Set<string>();
  for (const s of series) for (const c of s.columns) if (c.startsWith('status_')) out.add(c);
  return out;
}

interface DeltaParts {
  version: string;
  startMs: number;
  windowSeconds: number;
  timeMs: number;
  instance: string;
  req: { requests: Record<string, number>; latency: LatencyHistogram; rows: number; droppedFeatures: number } | null;
  features: Record<string, FeatureProfile>;
  predictions: Record<string, FeatureProfile>;
}

function num(x: unknown): number {
  return typeof x === 'number' && Number.isFinite(x) ? x : 0;
}

export interface AssembleResult {
  windows: WindowProfile[];
  /** Points whose JSON could not be parsed (skipped; the caller reports them). */
  unreadable: number;
}

/**
 * Rebuilds each delta from its points (same version, instance and time), then merges the deltas
 * of each window (version, start, windowSeconds) with mergeWindows. Ordered by version, start,
 * windowSeconds; windows whose start is outside [fromMs, toMs) are left out.
 */
export function assembleWindows(
  model: string,
  requests: readonly QuerySeries[],
  features: readonly QuerySeries[],
  range: { fromMs: number; toMs: number },
): AssembleResult {
  const deltas = new Map<string, DeltaParts>();
  let unreadable = 0;
  const partsFor = (r: Row, windowSeconds: number): DeltaParts | null => {
    if (!(windowSeconds > 0) || !Number.isFinite(r.timeMs)) return null;
    const w = windowSeconds * 1000;
    const startMs = Math.floor(r.timeMs / w) * w;
    const version = r.tags.version ?? '';
    const instance = r.tags.instance ?? '';
    const key = JSON.stringify([version, startMs, windowSeconds, instance, r.timeMs]);
    let d = deltas.get(key);
    if (d === undefined) {
      d = { version, startMs, windowSeconds, timeMs: r.timeMs, instance, req: null, features: {}, predictions: {} };
      deltas.set(key, d);
    }
    return d;
  };
  const statusCols = statusColumns(requests);
  for (const r of rowsOf(requests)) {
    const d = partsFor(r, num(r.get('window_seconds')));
    const latencyJson = r.get('latency');
    if (d === null || typeof latencyJson !== 'string') {
      unreadable++;
      continue;
    }
    let latency: LatencyHistogram;
    try {
      latency = JSON.parse(latencyJson) as LatencyHistogram;
    } catch {
      unreadable++;
      continue;
    }
    const reqs: Record<string, number> = {};
    for (const c of statusCols) {
      const v = r.get(c);
      // Zeros are the always-written 2xx/4xx/5xx of deltas without them: not a class seen.
      if (typeof v === 'number' && v !== 0) setOwn(reqs, c.slice('status_'.length), v);
    }
    d.req = { requests: reqs, latency, rows: num(r.get('rows')), droppedFeatures: num(r.get('dropped_features')) };
  }
  for (const r of rowsOf(features)) {
    const d = partsFor(r, num(r.get('window_seconds')));
    const json = r.get('profile');
    if (d === null || typeof json !== 'string') {
      unreadable++;
      continue;
    }
    try {
      setOwn(r.tags.role === 'prediction' ? d.predictions : d.features, r.tags.feature ?? '', JSON.parse(json) as FeatureProfile);
    } catch {
      unreadable++;
    }
  }

  // Group deltas per window, in a stable order (time, then instance) so a read is deterministic.
  const windows = new Map<string, DeltaParts[]>();
  for (const d of deltas.values()) {
    if (d.startMs < range.fromMs || d.startMs >= range.toMs) continue;
    const key = JSON.stringify([d.version, d.startMs, d.windowSeconds]);
    const list = windows.get(key);
    if (list) list.push(d);
    else windows.set(key, [d]);
  }
  const out: WindowProfile[] = [];
  for (const list of windows.values()) {
    list.sort((a, b) => a.timeMs - b.timeMs || (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0));
    // A feature point whose dw_requests point is missing (dropped by a 400) still counts; it borrows
    // an empty histogram on the bounds of the window's other deltas (an identity for the merge).
    const bounds = list.find((d) => d.req !== null)?.req?.latency.boundsMs ?? DEFAULT_LATENCY_BOUNDS_MS;
    let acc: WindowProfile | null = null;
    for (const d of list) {
      const w: WindowProfile = {
        model,
        version: d.version,
        startMs: d.startMs,
        windowSeconds: d.windowSeconds,
        requests: d.req?.requests ?? {},
        latency: d.req?.latency ?? emptyLatency(bounds),
        rows: d.req?.rows ?? 0,
        features: d.features,
        predictions: d.predictions,
        droppedFeatures: d.req?.droppedFeatures ?? 0,
      };
      acc = acc === null ? w : mergeWindows(acc, w);
    }
    if (acc !== null) out.push(acc);
  }
  out.sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : a.startMs - b.startMs || a.windowSeconds - b.windowSeconds));
  return { windows: out, unreadable };
}

/** Series from the two LIST_SERIES_STATEMENTS results (first and last point per model version). */
export function seriesFromFirstLast(
  first: readonly QuerySeries[],
  last: readonly QuerySeries[],
): Array<{ model: string; version: string; firstMs: number; lastMs: number }> {
  const byKey = new Map<string, { model: string; version: string; firstMs: number; lastMs: number }>();
  const startOf = (r: Row, col: string): number => {
    const ws = num(r.get(col));
    return ws > 0 ? Math.floor(r.timeMs / (ws * 1000)) * ws * 1000 : r.timeMs;
  };
  for (const r of rowsOf(first)) {
    const model = r.tags.model ?? '';
    const version = r.tags.version ?? '';
    const s = startOf(r, 'first');
    byKey.set(JSON.stringify([model, version]), { model, version, firstMs: s, lastMs: s });
  }
  for (const r of rowsOf(last)) {
    const model = r.tags.model ?? '';
    const version = r.tags.version ?? '';
    const s = startOf(r, 'last');
    const k = JSON.stringify([model, version]);
    const e = byKey.get(k);
    if (e) e.lastMs = s;
    else byKey.set(k, { model, version, firstMs: s, lastMs: s });
  }
  return [...byKey.values()].sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : a.version < b.version ? -1 : a.version > b.version ? 1 : 0));
}
