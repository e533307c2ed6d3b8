/**
 * The drain: takes captured events off the bounded queue in batches, on a timer, never on a
 * request's tick, and turns them into statistics (extraction + the traffic summary). A failure
 * here is counted and logged; it cannot reach the traffic, which finished before the event was
 * queued. This one runs extraction on the proxy's event loop; worker-drain.ts runs the same step
 * (process-event.ts) in a worker thread when proxy.capture.worker is set (bench/RESULTS.md,
 * 2026-12-02, measures both).
 */
import type { Logger } from '../telemetry/logger.js';
import type { ProxyMetrics } from '../telemetry/metrics.js';
import type { BoundedQueue } from './bounded-queue.js';
import type { ExtractOptions } from './extract.js';
import type { InferenceEvent } from './inference-event.js';
import type { PredictionBuffer } from './prediction-buffer.js';
import type { PredictionRecordOptions } from './prediction-records.js';
import { processEvent, type ProcessEventDeps } from './process-event.js';
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
  /** The prediction log's collector (labels.enabled, in-loop): records wait in the buffer, written on its timer. */
  predictions?: { options: PredictionRecordOptions; buffer: PredictionBuffer };
}

export class CaptureDrain {
  private timer: NodeJS.Timeout | null = null;
  private lastDropped = 0;
  private readonly processDeps: ProcessEventDeps;

  constructor(private readonly deps: CaptureDrainDeps) {
    const { metrics } = deps;
    this.processDeps = {
      summary: deps.summary,
      profiler: deps.profiler,
      extract: deps.extract,
      columnsFor: deps.columnsFor,
      defaultVersion: deps.defaultVersion,
      logger: deps.logger,
      predictions: deps.predictions ? { options: deps.predictions.options, add: (r) => deps.predictions!.buffer.add(r) } : undefined,
      counts: {
        unparseable: (reason) => metrics.unparseable.inc({ reason }),
        rows: (model, n) => metrics.extractedRows.inc({ model }, n),
      },
    };
  }

  start(): void {
    this.timer ??= setInterval(() => this.drainOnce(), this.deps.intervalMs ?? 25);
    this.timer.unref();
  }

  /** Processes what is queued now (bounded by batchSize); returns how many events it handled. */
  drainOnce(): number {
    const { queue, metrics } = this.deps;
    const dropped = queue.dropped;
    if (dropped > this.lastDropped) {
      metrics.captureDropped.inc(dropped - this.lastDropped);
      this.lastDropped = dropped;
    }
    const batch = queue.drain(this.deps.batchSize ?? 512);
    metrics.queueDepth.set(queue.depth);
    for (const raw of batch) processEvent(raw, this.processDeps);
    return batch.length;
  }

  /** Stops the timer and processes everything still queued (shutdown flushes, nothing is lost). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    while (this.drainOnce() > 0);
  }
}
