/**
 * One read of a model version's current window for the checks that judge the same window: the
 * drift and the data-quality checks both merge the last hour of a version's windows, on the same
 * schedule (every 5 minutes by default), so each would read and merge every window twice.
 * Measured with bench/analyzer-bench.ts (bench/RESULTS.md, analyzer-cost): parsing the stored
 * profiles and merging the sketches are most of a drift + data-quality cycle; sharing them takes it
 * to 0.40-0.62x of the time on the embedded store, and halves the queries and bytes on both stores.
 *
 * A read is shared when both ask for the same version and window length within toleranceMs of
 * each other (the runner gives each check its own "now", a few ms apart; within a flush interval
 * the store holds the same data). Concurrent asks share the read in flight. An entry is dropped
 * once `consumers` checks took it, when it is older than the tolerance, or when more than
 * maxEntries are held (oldest first): memory stays at a few merged windows, never the fleet's.
 * The two checks walk the versions in the same order, a few awaits apart, so they meet within
 * a handful of entries; a reader that falls further behind reads again (correct, only slower).
 */
import type { WindowProfile } from '../stats/types.js';
import { readMerged } from '../drift/drift-check.js';
import type { StatsStore } from '../store/types.js';

export interface WindowRange {
  model: string;
  version: string;
  fromMs: number;
  toMs: number;
}

/** The merged window of a version over [fromMs, toMs), or null when no window started in it. */
export type WindowReader = (q: WindowRange) => Promise<WindowProfile | null>;

export interface SharedWindowReaderOptions {
  /** How many checks take each read (drift and data quality: 2); after that it is dropped. */
  consumers?: number;
  /** Reads asked for this far apart (their toMs) are the same read. */
  toleranceMs?: number;
  maxEntries?: number;
}

interface Entry {
  toMs: number;
  taken: number;
  value: Promise<WindowProfile | null>;
}

export function createSharedWindowReader(store: StatsStore, opts: SharedWindowReaderOptions = {}): WindowReader {
  const consumers = opts.consumers ?? 2;
  const toleranceMs = opts.toleranceMs ?? 10_000;
  const maxEntries = opts.maxEntries ?? 32;
  // Insertion order is age order: the first key is the oldest.
  const entries = new Map<string, Entry>();
  return (q) => {
    const key = `${q.model}\u0000${q.version}\u0000${q.toMs - q.fromMs}`;
    const hit = entries.get(key);
    if (hit && Math.abs(hit.toMs - q.toMs) <= toleranceMs) {
      if (++hit.taken >= consumers) entries.delete(key);
      return hit.value;
    }
    const value = readMerged(store, q);
    // A failed read is not kept: the next asker tries again.
    value.catch(() => {
      if (entries.get(key)?.value === value) entries.delete(key);
    });
    entries.delete(key);
    if (consumers > 1) {
      entries.set(key, { toMs: q.toMs, taken: 1, value });
      while (entries.size > maxEntries) entries.delete(entries.keys().next().value as string);
    }
    return value;
  };
}
