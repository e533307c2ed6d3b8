/**
 * The challenger comparisons' way to the statistics store for both shadowing processes, the
 * scoring server and the sidecar: one publisher that keeps each minute window's delta
 * (challenger/comparison-deltas.ts) and hands a window to the store's ComparisonWriter once it
 * ended plus the grace (a pair is recorded when the challenger answered, up to its timeout after
 * the pair's time), on a timer, and every window, the open ones too, when the process stops. Two
 * writers: the embedded store's comparisons table (an analyzer on the same file runs the
 * challenger check over it) and InfluxDB's dw_challenger points (dashboards, and analyzers reading
 * them back). One place, so the two processes and the two stores cannot differ in when a window
 * becomes visible.
 */
import { ComparisonDeltas, type ComparisonWindowDelta } from '../challenger/comparison-deltas.js';
import { DEFAULT_WINDOW_MS } from '../challenger/comparison-windows.js';
import type { PairObservation } from '../challenger/comparison.js';
import { messageOf } from '../errors.js';
import type { ComparisonWriter } from '../store/types.js';
import { silentLogger, type Logger } from '../telemetry/logger.js';

/**
 * Where a shadowing process (the scoring server's challenger, the sidecar's shadow upstream) hands
 * its champion/challenger pairs for the store, besides its own in-memory windows.
 */
export interface ComparisonPublisher {
  /** Adds a pair to its minute window's delta: synchronous, in memory, no I/O. */
  recordPair(pair: PairObservation): void;
  /** Adds a window compared elsewhere (the sidecar's capture worker thread): as if its pairs were recorded here. */
  addWindow(w: Omit<ComparisonWindowDelta, 'windowSeconds'> & { windowSeconds?: number }): void;
  /**
   * Writes the windows that ended at least `graceMs` before nowMs, or every window with `all`
   * (shutdown). Returns the windows written; a store that refuses them keeps them for the next
   * call (logged, never thrown into the shadow).
   */
  publishComparisons(nowMs: number, opts?: { graceMs?: number; all?: boolean }): number;
}

export function createComparisonPublisher(writer: ComparisonWriter, deps: { logger?: Logger } = {}): ComparisonPublisher {
  const logger = deps.logger ?? silentLogger;
  const deltas = new ComparisonDeltas();
  let warnedDrops = 0;
  return {
    recordPair: (pair) => deltas.recordPair(pair),
    addWindow: (w) => deltas.addWindow({ ...w, windowSeconds: w.windowSeconds ?? DEFAULT_WINDOW_MS / 1000 }),
    publishComparisons(nowMs, opts = {}) {
      const due = deltas.take(nowMs, opts);
      if (due.length === 0) return 0;
      try {
        writer.writeComparisons(due);
        return due.length;
      } catch (e) {
        // Kept for the next attempt (bounded: the oldest beyond the bound are dropped and counted).
        for (const w of due) deltas.addWindow(w);
        logger.warn('challenger comparisons not written to the statistics store; kept for the next attempt', {
          windows: due.length,
          error: messageOf(e),
        });
        if (deltas.dropped > warnedDrops) {
          logger.warn('challenger comparison windows dropped: the statistics store kept refusing them', { dropped: deltas.dropped - warnedDrops });
          warnedDrops = deltas.dropped;
        }
        return 0;
      }
    },
  };
}

export interface ComparisonPublishing {
  /** Starts the timer (unref'd: it never keeps the process alive); again is a no-op. */
  start(): void;
  /** Stops the timer and writes every window not written yet; returns the windows written. */
  stop(): number;
}

export function comparisonPublishing(publisher: ComparisonPublisher, opts: { everyMs: number; graceMs: number }): ComparisonPublishing {
  let timer: NodeJS.Timeout | null = null;
  return {
    start() {
      if (timer) return;
      timer = setInterval(() => publisher.publishComparisons(Date.now(), { graceMs: opts.graceMs }), opts.everyMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
      // Every window, the open one too: InfluxDB gets a point of its own for a later delta (the
      // next free ms, or a new instance tag after a restart), the embedded store merges it.
      return publisher.publishComparisons(Date.now(), { all: true });
    },
  };
}
