/**
 * What a shadowing process has compared but not yet written to its statistics store: one delta
 * per (model, champion version, challenger version) and minute window, handed out once the window
 * ended plus a grace (a pair is recorded when the challenger answered, up to its timeout after the
 * pair's time), or all at once at shutdown. A store merges (embedded) or adds up (InfluxDB) the
 * deltas of one window, so handing a window out twice (a late pair) counts nothing twice.
 * Bounded: a store that keeps refusing the deltas (they come back through addWindow) costs at most
 * maxWindows windows; the oldest beyond that are dropped and counted. Pure: time is passed in.
 */
import { type ComparisonKey, DEFAULT_WINDOW_MS } from './comparison-windows.js';
import { addPair, type Comparison, emptyComparison, mergeComparisons, type PairObservation } from './comparison.js';

/** One window's comparison as it is written to a store (and read back per writer). */
export interface ComparisonWindowDelta extends ComparisonKey {
  /** Epoch ms, aligned to the window. */
  startMs: number;
  windowSeconds: number;
  comparison: Comparison;
}

const DEFAULT_MAX_WINDOWS = 4_096;

export class ComparisonDeltas {
  private readonly windowMs: number;
  private readonly maxWindows: number;
  /** (key, window start) -> delta, oldest inserted first. */
  private readonly pending = new Map<string, ComparisonWindowDelta>();
  /** Windows dropped because more than maxWindows waited. */
  dropped = 0;

  constructor(opts: { windowMs?: number; maxWindows?: number } = {}) {
    this.windowMs = opts.windowMs ?? DEFAULT_WINDOW_MS;
    this.maxWindows = opts.maxWindows ?? DEFAULT_MAX_WINDOWS;
  }

  get size(): number {
    return this.pending.size;
  }

  private slot(key: ComparisonKey, startMs: number): ComparisonWindowDelta {
    const id = `${key.model}\u0000${key.championVersion}\u0000${key.challengerVersion}\u0000${startMs}`;
    let w = this.pending.get(id);
    if (!w) {
      w = {
        model: key.model,
        championVersion: key.championVersion,
        challengerVersion: key.challengerVersion,
        startMs,
        windowSeconds: this.windowMs / 1000,
        comparison: emptyComparison(),
      };
      this.pending.set(id, w);
      if (this.pending.size > this.maxWindows) {
        this.pending.delete(this.pending.keys().next().value as string);
        this.dropped++;
      }
    }
    return w;
  }

  recordPair(p: PairObservation): void {
    const start = Math.floor(p.atMs / this.windowMs) * this.windowMs;
    addPair(this.slot({ model: p.model, championVersion: p.champion.version, challengerVersion: p.challenger.version }, start).comparison, p);
  }

  /** Adds an already merged window (one computed elsewhere, or one a store refused) to the pending ones. */
  addWindow(w: ComparisonWindowDelta): void {
    const start = Math.floor(w.startMs / this.windowMs) * this.windowMs;
    const mine = this.slot(w, start);
    mine.comparison = mergeComparisons(mine.comparison, w.comparison);
  }

  /** Removes and returns the windows that ended at least graceMs before nowMs, or every window with `all`. */
  take(nowMs: number, opts: { graceMs?: number; all?: boolean } = {}): ComparisonWindowDelta[] {
    const before = nowMs - (opts.graceMs ?? 0);
    const out: ComparisonWindowDelta[] = [];
    for (const [id, w] of this.pending) {
      if (!opts.all && w.startMs + this.windowMs > before) continue;
      this.pending.delete(id);
      out.push(w);
    }
    return out;
  }
}
