/**
 * The challenger comparisons' way to InfluxDB (dw_challenger) for both shadowing processes, the
 * scoring server and the sidecar: a window is written once it ended plus the grace (a pair is
 * recorded when the challenger answered, up to its timeout after the pair's time), on a timer, and
 * every window, the open ones too, when the process stops. One place, so the two cannot differ in
 * when a fleet's dashboards see a window.
 */
import type { ComparisonPublisher } from '../store/influx-publisher.js';

export interface ComparisonPublishing {
  /** Starts the timer (unref'd: it never keeps the process alive); again is a no-op. */
  start(): void;
  /** Stops the timer and writes every window not written yet; returns the points written. */
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
      // Every window, the open one too: a restart writes under a new instance tag, so nothing overwrites it.
      return publisher.publishComparisons(Date.now(), { all: true });
    },
  };
}
