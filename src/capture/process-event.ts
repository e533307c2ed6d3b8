/**
 * One captured event -> the live traffic summary and the window profiler: the analysis step both
 * drains run, the in-loop one (drain.ts) and the worker thread's (capture-worker.ts), so the two
 * cannot drift apart. Counts go to a small sink instead of prom-client, because the worker thread
 * has no metrics registry: it adds them up and reports them to the main thread with each batch.
 */
import type { Logger } from '../telemetry/logger.js';
import { extract, type ExtractFailure, type ExtractOptions } from './extract.js';
import type { InferenceEvent } from './inference-event.js';
import type { TrafficSummary } from './traffic-summary.js';
import type { WindowProfiler } from './window-profiler.js';

export interface CaptureCounts {
  unparseable(reason: ExtractFailure | 'internal'): void;
  rows(model: string, n: number): void;
}

export interface ProcessEventDeps {
  summary: TrafficSummary;
  profiler?: WindowProfiler | undefined;
  extract: ExtractOptions;
  columnsFor?: ((model: string | null) => readonly string[] | null) | undefined;
  defaultVersion?: string | undefined;
  counts: CaptureCounts;
  logger: Logger;
}

export function processEvent(event: InferenceEvent, deps: ProcessEventDeps): void {
  // The upstream's own version header wins; else the configured label (proxy.version). Passed
  // along as a value, not by copying the event: this runs once per captured request.
  const version = event.version ?? deps.defaultVersion ?? null;
  try {
    deps.summary.observeRequest(event, version);
    const model = event.model ?? 'unknown';
    deps.profiler?.observeRequest(model, version ?? 'unknown', event.startedAtMs, event.status, event.totalMs);
    if (!event.request || !event.response) return;
    // Rows of rejected or failed requests are not the model's traffic (a 400 names columns
    // the model does not have): only answered predictions are profiled.
    if (event.status < 200 || event.status >= 300) return;
    const r = extract(event, deps.extract, deps.columnsFor?.(event.model) ?? null, version);
    if (!r.ok) {
      deps.counts.unparseable(r.reason);
      return;
    }
    deps.summary.observeRows(r.value.model, r.value.version, r.value.features, r.value.predictions);
    deps.profiler?.observeRows(r.value.model, r.value.version, event.startedAtMs, r.value.features, r.value.predictions);
    deps.counts.rows(r.value.model, r.value.features.length);
  } catch (e) {
    deps.counts.unparseable('internal');
    deps.logger.warn('capture drain failed on an event', { error: (e as Error).message });
  }
}
