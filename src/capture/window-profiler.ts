/**
 * The window profiler, on the analysis side: folds extracted rows and per-request metadata into
 * per-window profile deltas, and every stats.flushIntervalMs hands the deltas to the store, which
 * merges them into what it holds. Why deltas: a kill loses at most one flush interval, a flush
 * costs the same however long the window is, and replicas writing the same window add up.
 *
 * Nothing is lost to a store outage within the bound: deltas that fail to write are merged back
 * and retried at the next flush. Memory is bounded by maxPendingWindows (model versions x windows
 * waiting); beyond it the oldest windows are dropped and counted, so a store that stays down for
 * hours costs a bounded amount of memory and an honest counter, never the process.
 */
import type { StatsConfig } from '../config/schema.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../telemetry/logger.js';
import { latencyBounds } from '../stats/latency-histogram.js';
import type { Cell } from '../stats/feature-profile.js';
import type { ReferenceProfile, WindowProfile } from '../stats/types.js';
import type { Column } from '../stats/columns.js';
import { emptyWindow, mergeWindows, observeColumns, observeRequest, observeRows, windowStartMs } from '../stats/window-profile.js';
import type { StatsStore } from '../store/types.js';

export interface ProfilerMetrics {
  /** Window deltas written to the store. */
  flushed(n: number): void;
  /** A flush that failed (deltas kept for the next one). */
  flushFailed(): void;
  /** Windows dropped because too many were waiting for the store. */
  droppedWindows(n: number): void;
  pendingWindows(n: number): void;
}

export interface WindowProfilerDeps {
  config: StatsConfig;
  /** Only writes are needed: in the capture worker thread this forwards them to the main thread's store. */
  store: Pick<StatsStore, 'writeWindows' | 'describe'>;
  logger: Logger;
  /** The reference profile a model version's windows are binned against (null: none yet). */
  referenceFor: (model: string, version: string) => ReferenceProfile | null;
  metrics?: ProfilerMetrics;
  now?: () => number;
  /** Bound on windows held in memory (open ones plus those waiting for a failed store). */
  maxPendingWindows?: number;
  /** Bound on distinct (model, version) series this process profiles: the /v2/models/{name}
   *  routes take the name from the client, and made-up names must not crowd out real models. */
  maxSeries?: number;
  /** More latency thresholds to make exact histogram boundaries (the SLO targets'). */
  extraLatencyBoundsMs?: readonly number[];
}

export class WindowProfiler {
  private open = new Map<string, WindowProfile>();
  private readonly bounds: number[];
  private readonly now: () => number;
  private readonly maxPending: number;
  private readonly maxSeries: number;
  private readonly series = new Set<string>();
  /** Events not profiled because the series bound was reached. */
  rejectedSeries = 0;
  /** The window last looked up, valid while `gen` is unchanged: each event asks twice. */
  private last: { model: string; version: string; startMs: number; w: WindowProfile; gen: number } | null = null;
  /** Bumped whenever a window in `open` is removed or replaced. */
  private gen = 0;
  private readonly profileOptions: { sketchK: number; maxCategories: number; maxFeatures: number };
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private failingSinceMs: number | null = null;
  dropped = 0;

  constructor(private readonly deps: WindowProfilerDeps) {
    this.bounds = latencyBounds([...deps.config.latencySloMs, ...(deps.extraLatencyBoundsMs ?? [])]);
    this.now = deps.now ?? Date.now;
    this.maxPending = deps.maxPendingWindows ?? 1024;
    this.maxSeries = deps.maxSeries ?? 256;
    const { sketchK, maxCategories, maxFeatures } = deps.config;
    this.profileOptions = { sketchK, maxCategories, maxFeatures };
  }

  private window(model: string, version: string, atMs: number): WindowProfile | null {
    const windowSeconds = this.deps.config.windowSeconds;
    const startMs = windowStartMs(atMs, windowSeconds);
    const last = this.last;
    if (last !== null && last.gen === this.gen && last.startMs === startMs && last.model === model && last.version === version) return last.w;
    const key = `${model}\u0000${version}\u0000${startMs}`;
    let w = this.open.get(key);
    if (!w) {
      const seriesKey = `${model}\u0000${version}`;
      if (!this.series.has(seriesKey)) {
        // New series beyond the bound are refused (and counted), never admitted by evicting known ones.
        if (this.series.size >= this.maxSeries) {
          this.rejectedSeries++;
          this.deps.metrics?.droppedWindows(1);
          return null;
        }
        this.series.add(seriesKey);
      }
      if (this.open.size >= this.maxPending) this.dropOldest();
      w = emptyWindow({ model, version, startMs, windowSeconds }, this.bounds);
      this.open.set(key, w);
    }
    this.last = { model, version, startMs, w, gen: this.gen };
    return w;
  }

  private dropOldest(): void {
    let oldestKey: string | null = null;
    let oldest = Infinity;
    for (const [k, w] of this.open) {
      if (w.startMs < oldest) {
        oldest = w.startMs;
        oldestKey = k;
      }
    }
    if (oldestKey !== null) {
      this.open.delete(oldestKey);
      this.gen++;
      this.dropped++;
      this.deps.metrics?.droppedWindows(1);
    }
  }

  observeRequest(model: string, version: string, atMs: number, status: number, totalMs: number): void {
    const w = this.window(model, version, atMs);
    if (w) observeRequest(w, status, totalMs);
  }

  observeRows(
    model: string,
    version: string,
    atMs: number,
    features: ReadonlyArray<Record<string, Cell>>,
    predictions: ReadonlyArray<Record<string, Cell>>,
  ): void {
    const w = this.window(model, version, atMs);
    if (!w) return;
    observeRows(w, features, predictions, this.deps.referenceFor(model, version), this.profileOptions);
  }

  /** observeRows for a request read as columns (the lean codecs'): the same window afterwards. */
  observeColumns(model: string, version: string, atMs: number, rows: number, features: readonly Column[], predictions: readonly Column[]): void {
    const w = this.window(model, version, atMs);
    if (!w) return;
    observeColumns(w, rows, features, predictions, this.deps.referenceFor(model, version), this.profileOptions);
  }

  /** Windows waiting to be written. */
  get pending(): number {
    return this.open.size;
  }

  /** Writes every delta to the store; on failure keeps them (merged with anything newer) for the next flush. */
  flush(): Promise<void> {
    // One flush at a time: a slow store must not stack writes of the same deltas.
    this.flushing ??= this.flushNow().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async flushNow(): Promise<void> {
    if (this.open.size === 0) return;
    const batch = this.open;
    this.open = new Map();
    this.gen++;
    const deltas = [...batch.values()];
    try {
      await this.deps.store.writeWindows(deltas);
      this.deps.metrics?.flushed(deltas.length);
      if (this.failingSinceMs !== null) {
        this.deps.logger.info('statistics store writes recovered', { store: this.deps.store.describe, failingForMs: this.now() - this.failingSinceMs });
        this.failingSinceMs = null;
      }
    } catch (e) {
      this.deps.metrics?.flushFailed();
      if (this.failingSinceMs === null) {
        this.failingSinceMs = this.now();
        this.deps.logger.warn('statistics store write failed; keeping the deltas and retrying at the next flush', {
          store: this.deps.store.describe,
          error: messageOf(e),
        });
      }
      // Put the failed deltas back, merged with whatever arrived meanwhile.
      this.gen++;
      for (const [k, w] of batch) {
        const newer = this.open.get(k);
        if (newer) this.open.set(k, mergeWindows(w, newer));
        else {
          if (this.open.size >= this.maxPending) this.dropOldest();
          this.open.set(k, w);
        }
      }
    } finally {
      this.deps.metrics?.pendingWindows(this.open.size);
    }
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.deps.config.flushIntervalMs);
    this.timer.unref();
  }

  /** Stops the timer and writes what is left (shutdown: flush before exit). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flushing;
    await this.flush();
  }
}
