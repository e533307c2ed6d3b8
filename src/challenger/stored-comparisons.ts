/**
 * Comparison windows as a statistics store gives them back (the embedded store's rows, InfluxDB's
 * dw_challenger points): each writer's (instance's) delta of a window, as JSON. Read back, they are
 * checked, then summed per version pair over the asked span the way ComparisonWindows.read sums
 * its minutes in memory (a window overlapping the span counts whole), so an analyzer reading the
 * store and the process that shadowed see the same comparison. Pure.
 */
import type { ComparisonWindowDelta } from './comparison-deltas.js';
import type { ComparisonSpan } from './comparison-windows.js';
import { type Comparison, mergeComparisons } from './comparison.js';

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0;
const isNum = (x: unknown): boolean => x === null || (typeof x === 'number' && Number.isFinite(x));

function isKll(x: unknown): boolean {
  const s = x as Record<string, unknown> | null;
  return (
    typeof s === 'object' &&
    s !== null &&
    isCount(s.k) &&
    isCount(s.n) &&
    isCount(s.seed) &&
    isNum(s.min) &&
    isNum(s.max) &&
    Array.isArray(s.levels) &&
    s.levels.every((l) => Array.isArray(l) && l.every((v) => typeof v === 'number'))
  );
}

function isLatency(x: unknown): boolean {
  const h = x as Record<string, unknown> | null;
  return (
    typeof h === 'object' &&
    h !== null &&
    Array.isArray(h.boundsMs) &&
    Array.isArray(h.counts) &&
    h.counts.length === h.boundsMs.length + 1 &&
    h.counts.every(isCount) &&
    typeof h.sumMs === 'number'
  );
}

/**
 * A stored comparison's JSON as a Comparison, or null when it is not one (a truncated or foreign
 * value: the reader skips and counts it). The confusion is rebuilt without a prototype, as
 * emptyComparison makes it, so a label named "constructor" is a label and nothing else.
 */
export function parseComparison(text: string): Comparison | null {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  for (const k of ['requests', 'challengerErrors', 'incomparable', 'rows', 'labelRows', 'agree'] as const) if (!isCount(v[k])) return null;
  if (!isKll(v.valueDiff) || !isKll(v.probDiff) || !isLatency(v.championLatency) || !isLatency(v.challengerLatency)) return null;
  if (typeof v.confusion !== 'object' || v.confusion === null) return null;
  const confusion = Object.create(null) as Record<string, Record<string, number>>;
  for (const [x, row] of Object.entries(v.confusion as Record<string, unknown>)) {
    if (typeof row !== 'object' || row === null) return null;
    const inner = (confusion[x] = Object.create(null) as Record<string, number>);
    for (const [y, n] of Object.entries(row as Record<string, unknown>)) {
      if (!isCount(n)) return null;
      inner[y] = n;
    }
  }
  return { ...(v as unknown as Comparison), confusion };
}

/**
 * Per version pair, the stored windows overlapping [fromMs, toMs) summed across windows and
 * writers; ordered by model, champion version, challenger version.
 */
export function spansOf(windows: Iterable<ComparisonWindowDelta>, fromMs: number, toMs: number): ComparisonSpan[] {
  const byKey = new Map<string, ComparisonSpan>();
  for (const w of windows) {
    const endMs = w.startMs + w.windowSeconds * 1000;
    if (endMs <= fromMs || w.startMs >= toMs) continue;
    const id = `${w.model}\u0000${w.championVersion}\u0000${w.challengerVersion}`;
    const span = byKey.get(id);
    if (!span) {
      byKey.set(id, {
        model: w.model,
        championVersion: w.championVersion,
        challengerVersion: w.challengerVersion,
        fromMs: w.startMs,
        toMs: endMs,
        comparison: w.comparison,
      });
      continue;
    }
    span.comparison = mergeComparisons(span.comparison, w.comparison);
    span.fromMs = Math.min(span.fromMs, w.startMs);
    span.toMs = Math.max(span.toMs, endMs);
  }
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...byKey.values()].sort(
    (a, b) => cmp(a.model, b.model) || cmp(a.championVersion, b.championVersion) || cmp(a.challengerVersion, b.challengerVersion),
  );
}
