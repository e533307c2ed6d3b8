/**
 * The SLO check's sums of settled traffic by hour, kept between runs (issue 22: the check read and
 * parsed three days of minute windows per model every minute, about half of a 1,000-model
 * analyzer's CPU). Pure: windows in, sums out; the reads and the clock are slo-check.ts's.
 *
 * A span (the last 5 minutes, 6 hours, 3 days, ...) counts every window that overlaps it, so its
 * sums are the sums of whole hours after its start plus the windows of the hour it starts in. The
 * whole hours are what this keeps: per hour (by window start), the request counts, the 5xx count,
 * the merged latency histogram and the earliest and latest window end. Integer counts add in any
 * order and histograms with different bounds merge onto the bounds they share whatever the
 * grouping, so a span summed from hours equals the span summed window by window, exactly.
 */
import { mergeLatency } from '../stats/latency-histogram.js';
import type { LatencyHistogram } from '../stats/types.js';
import type { TrafficWindow } from '../store/types.js';

export const HOUR_MS = 3_600_000;

export interface SpanSums {
  requests: number;
  errors: number;
  latency: LatencyHistogram | null;
}

export interface HourSums extends SpanSums {
  /** Hour start (epoch ms, a multiple of HOUR_MS): the windows starting in [hourMs, hourMs + 1 h). */
  hourMs: number;
  /** Earliest and latest end of those windows: which spans count all of them, or none. */
  minEndMs: number;
  maxEndMs: number;
}

export function emptySpan(): SpanSums {
  return { requests: 0, errors: 0, latency: null };
}

export function windowEndMs(w: TrafficWindow): number {
  return w.startMs + w.windowSeconds * 1000;
}

export function addWindow(s: SpanSums, w: TrafficWindow): void {
  for (const [cls, n] of Object.entries(w.requests)) {
    s.requests += n;
    if (cls === '5xx') s.errors += n;
  }
  s.latency = s.latency ? mergeLatency(s.latency, w.latency) : w.latency;
}

export function addSums(s: SpanSums, h: SpanSums): void {
  s.requests += h.requests;
  s.errors += h.errors;
  if (h.latency) s.latency = s.latency ? mergeLatency(s.latency, h.latency) : h.latency;
}

/** The windows grouped by the hour they start in, summed. */
export function sumByHour(windows: readonly TrafficWindow[]): Map<number, HourSums> {
  const out = new Map<number, HourSums>();
  for (const w of windows) {
    const hourMs = Math.floor(w.startMs / HOUR_MS) * HOUR_MS;
    let h = out.get(hourMs);
    if (!h) out.set(hourMs, (h = { hourMs, ...emptySpan(), minEndMs: Infinity, maxEndMs: -Infinity }));
    addWindow(h, w);
    const end = windowEndMs(w);
    if (end < h.minEndMs) h.minEndMs = end;
    if (end > h.maxEndMs) h.maxEndMs = end;
  }
  return out;
}

/**
 * A span from fromMs: the windows given one by one, plus the hours (none of which may be the
 * hour fromMs falls in: its windows must be given one by one). null when an hour has windows on
 * both sides of fromMs (only windows longer than an hour can do that): the caller sums windows.
 */
export function spanFrom(fromMs: number, windows: readonly TrafficWindow[], hours: Iterable<HourSums>): SpanSums | null {
  const out = emptySpan();
  for (const w of windows) if (windowEndMs(w) > fromMs) addWindow(out, w);
  for (const h of hours) {
    if (h.hourMs >= fromMs || h.minEndMs > fromMs) addSums(out, h);
    else if (h.maxEndMs > fromMs) return null;
  }
  return out;
}
