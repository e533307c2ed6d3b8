/**
 * The capture pipeline behind the proxy's bounded queue: events off the queue -> extraction ->
 * live summary and window profiles -> the statistics store. Two implementations: InLoopCapture
 * (on the proxy's event loop, below) and WorkerCaptureDrain (worker-drain.ts, in a worker thread:
 * proxy.capture.worker, the default). The composition root picks one; nothing else branches on it.
 */
import { CaptureDrain, type CaptureDrainDeps } from './drain.js';
import type { TrafficSummary, TrafficSummaryView } from './traffic-summary.js';
import type { WindowProfiler } from './window-profiler.js';

export interface CapturePipeline {
  /** The live summary since start (worker mode: the worker's latest snapshot). */
  readonly summary: TrafficSummaryView;
  /** Window deltas held in memory, not yet written to the store. */
  readonly pending: number;
  start(): void;
  /** Processes what the queue holds and writes every window delta to the store now. */
  flush(): Promise<void>;
  /** Stops; everything queued is processed and written to the store first (shutdown loses nothing). */
  stop(): Promise<void>;
}

/** The in-loop pipeline: the drain's timer and the profiler's flushes on the proxy's event loop. */
export class InLoopCapture implements CapturePipeline {
  private readonly drain: CaptureDrain;

  constructor(private readonly deps: CaptureDrainDeps & { summary: TrafficSummary; profiler: WindowProfiler }) {
    this.drain = new CaptureDrain(deps);
  }

  get summary(): TrafficSummaryView {
    return this.deps.summary;
  }

  get pending(): number {
    return this.deps.profiler.pending;
  }

  start(): void {
    this.drain.start();
    this.deps.profiler.start();
    this.deps.predictions?.buffer.start();
  }

  async flush(): Promise<void> {
    while (this.drain.drainOnce() > 0);
    await Promise.all([this.deps.profiler.flush(), this.deps.predictions?.buffer.flush()]);
  }

  async stop(): Promise<void> {
    this.drain.stop(); // everything queued is processed before exit
    await Promise.all([this.deps.profiler.stop(), this.deps.predictions?.buffer.stop()]); // ... and written to the stores
  }
}
