/**
 * The drain: takes captured events off the bounded queue in batches, on a timer, never on a
 * request's tick, and turns them into statistics (extraction + the traffic summary). A failure
 * here is counted and logged; it cannot reach the traffic, which finished before the event was
 * queued. Extraction runs on the proxy's event loop for now: bench/ has to say whether a worker
 * thread pays (issue 8).
 */
import type { Logger } from '../telemetry/logger.js';
import type { ProxyMetrics } from '../telemetry/metrics.js';
import type { BoundedQueue } from './bounded-queue.js';
import { extract, type ExtractOptions } from './extract.js';
import type { InferenceEvent } from './inference-event.js';
import type { TrafficSummary } from './traffic-summary.js';
import type { WindowProfiler } from './window-profiler.js';

export interface CaptureDrainDeps {
  queue: BoundedQueue<InferenceEvent>;
  summary: TrafficSummary;
  /** Windowed profiles for the statistics store (absent: only the live summary). */
  profiler?: WindowProfiler;
  metrics: ProxyMetrics;
  logger: Logger;
  extract: ExtractOptions;
  /** Names for positional columns of a model, e.g. its signature's (null: f0, f1, ...). */
  columnsFor?: (model: string | null) => readonly string[] | null;
  intervalMs?: number;
  /** Version label for traffic whose answer does not name one (an upstream that is not ours). */
  defaultVersion?: string;
  batchSize?: number;
}

export class CaptureDrain {
  private timer: NodeJS.Timeout | null = null;
  private lastDropped = 0;

  constructor(private readonly deps: CaptureDrainDeps) {}

  start(): void {
    this.timer ??= setInterval(() => this.drainOnce(), this.deps.intervalMs ?? 25);
    this.timer.unref();
  }

  /** Processes what is queued now (bounded by batchSize); returns how many events it handled. */
  drainOnce(): number {
    const { queue, summary, metrics, logger } = this.deps;
    const dropped = queue.dropped;
    if (dropped > this.lastDropped) {
      metrics.captureDropped.inc(dropped - this.lastDropped);
      this.lastDropped = dropped;
    }
    const batch = queue.drain(this.deps.batchSize ?? 512);
    metrics.queueDepth.set(queue.depth);
    for (const raw of batch) {
      // The upstream's own version header wins; else the configured label (proxy.version).
      const event = raw.version === null && this.deps.defaultVersion ? { ...raw, version: this.deps.defaultVersion } : raw;
      try {
        summary.observeRequest(event);
        const model = event.model ?? 'unknown';
        const version = event.version ?? 'unknown';
        this.deps.profiler?.observeRequest(model, version, event.startedAtMs, event.status, event.totalMs);
        if (!event.request || !event.response) continue;
        // Rows of rejected or failed requests are not the model's traffic (a 400 names columns
        // the model does not have): only answered predictions are profiled.
        if (event.status < 200 || event.status >= 300) continue;
        const columnNames = this.deps.columnsFor?.(event.model) ?? null;
        const r = extract(event, columnNames ? { ...this.deps.extract, columnNames } : this.deps.extract);
        if (!r.ok) {
          metrics.unparseable.inc({ reason: r.reason });
          continue;
        }
        summary.observeRows(r.value.model, r.value.version, r.value.features, r.value.predictions);
        this.deps.profiler?.observeRows(r.value.model, r.value.version, event.startedAtMs, r.value.features, r.value.predictions);
        metrics.extractedRows.inc({ model: r.value.model }, r.value.features.length);
      } catch (e) {
        metrics.unparseable.inc({ reason: 'internal' });
        logger.warn('capture drain failed on an event', { error: (e as Error).message });
      }
    }
    return batch.length;
  }

  /** Stops the timer and processes everything still queued (shutdown flushes, nothing is lost). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    while (this.drainOnce() > 0);
  }
}
