/**
 * The comparisons kept in memory: one per (model, champion version, challenger version) and
 * minute, pruned past the retention, merged over any span on read. Bounded: a pair of versions
 * holds at most retentionMs / windowMs windows, and a version pair that stopped receiving pairs
 * leaves with its last window. Pure: the time of each pair and of each read is passed in.
 */
import { addPair, type Comparison, emptyComparison, mergeComparisons, type PairObservation } from './comparison.js';

export interface ComparisonKey {
  model: string;
  championVersion: string;
  challengerVersion: string;
}

export interface ComparisonSpan extends ComparisonKey {
  fromMs: number;
  toMs: number;
  comparison: Comparison;
}

export const DEFAULT_WINDOW_MS = 60_000;

export class ComparisonWindows {
  private readonly windowMs: number;
  private readonly retentionMs: number;
  /** key -> window start -> comparison. */
  private readonly byKey = new Map<string, { key: ComparisonKey; windows: Map<number, Comparison> }>();

  constructor(opts: { retentionMs: number; windowMs?: number }) {
    this.windowMs = opts.windowMs ?? DEFAULT_WINDOW_MS;
    this.retentionMs = Math.max(opts.retentionMs, this.windowMs);
  }

  record(p: PairObservation): void {
    const key: ComparisonKey = { model: p.model, championVersion: p.champion.version, challengerVersion: p.challenger.version };
    const id = `${key.model}\u001f${key.championVersion}\u001f${key.challengerVersion}`;
    let entry = this.byKey.get(id);
    if (!entry) {
      entry = { key, windows: new Map() };
      this.byKey.set(id, entry);
    }
    const start = Math.floor(p.atMs / this.windowMs) * this.windowMs;
    let c = entry.windows.get(start);
    if (!c) {
      c = emptyComparison();
      entry.windows.set(start, c);
      this.prune(p.atMs);
    }
    addPair(c, p);
  }

  /**
   * Merges a window compared elsewhere (the sidecar's capture worker thread compares its pairs
   * and hands the main thread merged minute windows): the same as recording its pairs here.
   */
  addWindow(w: ComparisonKey & { startMs: number; comparison: Comparison }): void {
    const key: ComparisonKey = { model: w.model, championVersion: w.championVersion, challengerVersion: w.challengerVersion };
    const id = `${key.model}\u001f${key.championVersion}\u001f${key.challengerVersion}`;
    let entry = this.byKey.get(id);
    if (!entry) {
      entry = { key, windows: new Map() };
      this.byKey.set(id, entry);
    }
    const start = Math.floor(w.startMs / this.windowMs) * this.windowMs;
    const c = entry.windows.get(start);
    // Merged even into an empty one: a comparison that crossed threads lost its null-prototype maps.
    entry.windows.set(start, mergeComparisons(c ?? emptyComparison(), w.comparison));
    if (!c) this.prune(start);
  }

  /** Drops windows that ended before nowMs - retention. */
  prune(nowMs: number): void {
    const oldest = nowMs - this.retentionMs;
    for (const [id, entry] of this.byKey) {
      for (const start of entry.windows.keys()) if (start + this.windowMs <= oldest) entry.windows.delete(start);
      if (entry.windows.size === 0) this.byKey.delete(id);
    }
  }

  /** Every version pair with pairs in [fromMs, toMs), its windows merged (windows overlapping the span count whole). */
  read(fromMs: number, toMs: number, model?: string): ComparisonSpan[] {
    const out: ComparisonSpan[] = [];
    for (const { key, windows } of this.byKey.values()) {
      if (model !== undefined && key.model !== model) continue;
      let merged: Comparison | null = null;
      let first = Number.POSITIVE_INFINITY;
      let last = Number.NEGATIVE_INFINITY;
      for (const [start, c] of windows) {
        if (start + this.windowMs <= fromMs || start >= toMs) continue;
        merged = merged === null ? c : mergeComparisons(merged, c);
        first = Math.min(first, start);
        last = Math.max(last, start + this.windowMs);
      }
      if (merged !== null) out.push({ ...key, fromMs: first, toMs: last, comparison: merged });
    }
    return out;
  }
}
