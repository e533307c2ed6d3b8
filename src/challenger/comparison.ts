/**
 * Champion versus challenger on the same requests, as a mergeable value (like the window
 * profiles in stats/): counts add up, the sketches and histograms merge, so per-minute windows
 * combine into any span and two processes' comparisons into one. Pure: no I/O, no clock.
 *
 * Per paired row: for classifiers (a label output, or probabilities whose argmax is the label)
 * whether the two labels agree and the confusion between them; for probabilities the largest
 * per-class difference (a KLL sketch); for regression outputs the signed difference challenger
 * minus champion (a KLL sketch). Both models' latencies (prepare + inference on the same input)
 * go into latency histograms; the challenger's failures are counted against its requests.
 */
import { emptyKll, kllMerge, kllQuantile, kllUpdate } from '../stats/kll-sketch.js';
import { DEFAULT_LATENCY_BOUNDS_MS, emptyLatency, latencyCount, latencyQuantile, mergeLatency, observeLatency } from '../stats/latency-histogram.js';
import type { KllSketch, LatencyHistogram } from '../stats/types.js';
import type { HostTensor } from '../protocol/tensor.js';

/** A pair as the analysis side receives it (app/ maps the scoring server's pair onto this). */
export interface PairObservation {
  model: string;
  atMs: number;
  rows: number;
  champion: { version: string; outputs: Record<string, HostTensor>; latencyMs: number };
  challenger: { version: string; outputs: Record<string, HostTensor> | null; latencyMs: number | null; error: string | null };
}

export interface Comparison {
  /** Shadowed requests the challenger answered or failed on. */
  requests: number;
  challengerErrors: number;
  /** Answered pairs whose outputs could not be compared (different row counts or output kinds). */
  incomparable: number;
  /** Rows compared. */
  rows: number;
  /** Rows with a label from both models, and those where the labels are equal. */
  labelRows: number;
  agree: number;
  /** champion label -> challenger label -> rows. At most MAX_LABELS labels per side, the rest under "(other)". */
  confusion: Record<string, Record<string, number>>;
  /** Regression: challenger minus champion, per row. */
  valueDiff: KllSketch;
  /** Probabilities: the largest absolute per-class difference, per row. */
  probDiff: KllSketch;
  championLatency: LatencyHistogram;
  challengerLatency: LatencyHistogram;
}

export const MAX_LABELS = 50;
const OTHER = '(other)';
const KLL_K = 200;

export function emptyComparison(): Comparison {
  return {
    requests: 0,
    challengerErrors: 0,
    incomparable: 0,
    rows: 0,
    labelRows: 0,
    agree: 0,
    confusion: Object.create(null) as Record<string, Record<string, number>>,
    valueDiff: emptyKll(KLL_K),
    probDiff: emptyKll(KLL_K),
    championLatency: emptyLatency(DEFAULT_LATENCY_BOUNDS_MS),
    challengerLatency: emptyLatency(DEFAULT_LATENCY_BOUNDS_MS),
  };
}

/** What a model's outputs say per row: labels, probabilities (k per row) and/or a numeric value. */
export interface RowPredictions {
  labels: string[] | null;
  probs: { k: number; data: ArrayLike<number> } | null;
  values: ArrayLike<number> | null;
}

const FLOAT_TYPES = new Set(['float32', 'float64', 'float16']);
const INT_TYPES = new Set(['int64', 'int32', 'int16', 'int8', 'uint8', 'uint16', 'uint32', 'uint64']);

function size(t: HostTensor): number {
  return t.data.length;
}

/**
 * Reads a model's outputs for `rows` rows: the first string (or else integer) output with one
 * element per row is the label; the first float output with k >= 2 per row the probabilities
 * (their argmax is the label when there is no label output); the first float output with one
 * element per row the value.
 */
export function readPredictions(outputs: Record<string, HostTensor>, rows: number): RowPredictions {
  let labels: string[] | null = null;
  let intLabels: string[] | null = null;
  let probs: RowPredictions['probs'] = null;
  let values: ArrayLike<number> | null = null;
  for (const t of Object.values(outputs)) {
    const n = size(t);
    if (t.type === 'string' && n === rows && labels === null) labels = (t.data as string[]).slice();
    else if (INT_TYPES.has(t.type) && n === rows && intLabels === null) intLabels = Array.from(t.data as ArrayLike<number | bigint>, (v) => String(v));
    else if (FLOAT_TYPES.has(t.type) && rows > 0 && n === rows && values === null) values = t.data as ArrayLike<number>;
    else if (FLOAT_TYPES.has(t.type) && rows > 0 && n > rows && n % rows === 0 && probs === null) probs = { k: n / rows, data: t.data as ArrayLike<number> };
  }
  labels ??= intLabels;
  if (labels === null && probs !== null) {
    const { k, data } = probs;
    labels = new Array<string>(rows);
    for (let i = 0; i < rows; i++) {
      let best = 0;
      for (let j = 1; j < k; j++) if (data[i * k + j]! > data[i * k + best]!) best = j;
      labels[i] = String(best);
    }
  }
  // A label output next to a float output of one per row: that float is a score, not a regression value.
  if (labels !== null) values = null;
  return { labels, probs, values };
}

function bounded(confusion: Record<string, Record<string, number>>, label: string, inner: boolean, outer?: Record<string, number>): string {
  const keys = inner ? outer! : confusion;
  if (label in keys) return label;
  return Object.keys(keys).length >= MAX_LABELS ? OTHER : label;
}

/** Adds one pair to the comparison (in place). */
export function addPair(c: Comparison, p: PairObservation): void {
  c.requests++;
  observeLatency(c.championLatency, p.champion.latencyMs);
  if (p.challenger.error !== null || p.challenger.outputs === null) {
    c.challengerErrors++;
    return;
  }
  if (p.challenger.latencyMs !== null) observeLatency(c.challengerLatency, p.challenger.latencyMs);
  const a = readPredictions(p.champion.outputs, p.rows);
  const b = readPredictions(p.challenger.outputs, p.rows);
  const comparable = (a.labels && b.labels) || (a.values && b.values) || (a.probs && b.probs && a.probs.k === b.probs.k);
  if (!comparable) {
    c.incomparable++;
    return;
  }
  c.rows += p.rows;
  if (a.labels && b.labels) {
    for (let i = 0; i < p.rows; i++) {
      const x = a.labels[i]!;
      const y = b.labels[i]!;
      c.labelRows++;
      if (x === y) c.agree++;
      const row = bounded(c.confusion, x, false);
      const inner = (c.confusion[row] ??= Object.create(null) as Record<string, number>);
      const col = bounded(c.confusion, y, true, inner);
      inner[col] = (inner[col] ?? 0) + 1;
    }
  }
  if (a.probs && b.probs && a.probs.k === b.probs.k) {
    const k = a.probs.k;
    for (let i = 0; i < p.rows; i++) {
      let max = 0;
      for (let j = 0; j < k; j++) max = Math.max(max, Math.abs(b.probs.data[i * k + j]! - a.probs.data[i * k + j]!));
      if (Number.isFinite(max)) kllUpdate(c.probDiff, max);
    }
  }
  if (a.values && b.values) {
    for (let i = 0; i < p.rows; i++) {
      const d = b.values[i]! - a.values[i]!;
      if (Number.isFinite(d)) kllUpdate(c.valueDiff, d);
    }
  }
}

/** a + b as a new comparison (neither is changed). */
export function mergeComparisons(a: Comparison, b: Comparison): Comparison {
  const confusion = Object.create(null) as Record<string, Record<string, number>>;
  for (const src of [a.confusion, b.confusion])
    for (const [x, row] of Object.entries(src)) {
      const rx = bounded(confusion, x, false);
      const inner = (confusion[rx] ??= Object.create(null) as Record<string, number>);
      for (const [y, n] of Object.entries(row)) {
        const cy = bounded(confusion, y, true, inner);
        inner[cy] = (inner[cy] ?? 0) + n;
      }
    }
  return {
    requests: a.requests + b.requests,
    challengerErrors: a.challengerErrors + b.challengerErrors,
    incomparable: a.incomparable + b.incomparable,
    rows: a.rows + b.rows,
    labelRows: a.labelRows + b.labelRows,
    agree: a.agree + b.agree,
    confusion,
    valueDiff: kllMerge(a.valueDiff, b.valueDiff),
    probDiff: kllMerge(a.probDiff, b.probDiff),
    championLatency: mergeLatency(a.championLatency, b.championLatency),
    challengerLatency: mergeLatency(a.challengerLatency, b.challengerLatency),
  };
}

export interface DiffSummary {
  count: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  min: number | null;
  max: number | null;
}

/** What people, the API and the gauges read of a comparison. */
export interface ComparisonSummary {
  requests: number;
  /** Requests both models answered. */
  pairs: number;
  rows: number;
  labelRows: number;
  /** Share of label rows where both models answered the same label; null without label rows. */
  agreement: number | null;
  confusion: Record<string, Record<string, number>>;
  valueDiff: DiffSummary | null;
  probDiff: DiffSummary | null;
  incomparable: number;
  champion: { p50Ms: number | null; p99Ms: number | null };
  challenger: { p50Ms: number | null; p99Ms: number | null; errors: number; errorRate: number | null };
}

function diffSummary(s: KllSketch): DiffSummary | null {
  if (s.n === 0) return null;
  return { count: s.n, p50: kllQuantile(s, 0.5), p95: kllQuantile(s, 0.95), p99: kllQuantile(s, 0.99), min: s.min, max: s.max };
}

export function summarizeComparison(c: Comparison): ComparisonSummary {
  return {
    requests: c.requests,
    pairs: c.requests - c.challengerErrors,
    rows: c.rows,
    labelRows: c.labelRows,
    agreement: c.labelRows > 0 ? c.agree / c.labelRows : null,
    confusion: c.confusion,
    valueDiff: diffSummary(c.valueDiff),
    probDiff: diffSummary(c.probDiff),
    incomparable: c.incomparable,
    champion: { p50Ms: latencyQuantile(c.championLatency, 0.5), p99Ms: latencyQuantile(c.championLatency, 0.99) },
    challenger: {
      p50Ms: latencyCount(c.challengerLatency) > 0 ? latencyQuantile(c.challengerLatency, 0.5) : null,
      p99Ms: latencyCount(c.challengerLatency) > 0 ? latencyQuantile(c.challengerLatency, 0.99) : null,
      errors: c.challengerErrors,
      errorRate: c.requests > 0 ? c.challengerErrors / c.requests : null,
    },
  };
}
