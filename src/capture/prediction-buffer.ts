/**
 * Predictions on their way to the prediction log (outcomes/prediction-log.ts): collected by the
 * capture step as events are processed, written in batches on a timer, in whichever thread the
 * capture runs (the worker thread by default, so the writes never take the proxy's event loop).
 *
 * Bounded like everything on the analysis side: past `maxPending` records waiting (the log is slow
 * or failing) new records are dropped and counted; a failed write is logged, counted and its
 * records dropped (the log is a sample for quality estimates, not a ledger: retrying a write that
 * fails would hold memory for a store that may stay down). Counted, never thrown.
 */
import { isDriftwatchError } from '../errors.js';
import type { PredictionLog, PredictionRecord } from '../outcomes/prediction-log.js';
import type { Logger } from '../telemetry/logger.js';

export interface PredictionBufferCounts {
  /** Records written to the log (whether the log's sample kept them or not). */
  written(n: number): void;
  /**
   * Records dropped: over maxPending, in a write the log refused as unavailable (a networked log
   * that is down, timed out, or in its retry backoff: DW_ERR_PREDICTION_LOG_UNAVAILABLE), or in
   * another failed write.
   */
  dropped(n: number, reason: 'full' | 'unavailable' | 'write_failed'): void;
}

export interface PredictionBufferOptions {
  /** Where the records go: the log itself, or its shadow side ({ recordPredictions: (r) => log.recordShadowPredictions(r) }). */
  log: Pick<PredictionLog, 'recordPredictions'>;
  maxPending: number;
  flushEveryMs: number;
  /** Records per write transaction. */
  chunk?: number;
  counts: PredictionBufferCounts;
  logger: Logger;
}

export class PredictionBuffer {
  private pending: PredictionRecord[] = [];
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;
  private failuresLogged = 0;

  constructor(private readonly opts: PredictionBufferOptions) {}

  get size(): number {
    return this.pending.length;
  }

  add(records: readonly PredictionRecord[]): void {
    const room = this.opts.maxPending - this.pending.length;
    if (room <= 0) {
      this.opts.counts.dropped(records.length, 'full');
      return;
    }
    if (records.length > room) {
      this.opts.counts.dropped(records.length - room, 'full');
      for (let i = 0; i < room; i++) this.pending.push(records[i]!);
      return;
    }
    for (const r of records) this.pending.push(r);
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.opts.flushEveryMs);
    this.timer.unref();
  }

  /** Writes everything pending now (one write at a time; a second caller waits for the first). */
  async flush(): Promise<void> {
    while (this.writing !== null) await this.writing;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.writing = this.write(batch);
    try {
      await this.writing;
    } finally {
      this.writing = null;
    }
  }

  private async write(batch: PredictionRecord[]): Promise<void> {
    const chunk = this.opts.chunk ?? 5000;
    for (let i = 0; i < batch.length; i += chunk) {
      const part = batch.slice(i, i + chunk);
      try {
        await this.opts.log.recordPredictions(part);
        this.opts.counts.written(part.length);
      } catch (e) {
        this.opts.counts.dropped(part.length, isDriftwatchError(e) && e.code === 'DW_ERR_PREDICTION_LOG_UNAVAILABLE' ? 'unavailable' : 'write_failed');
        // Logged with backoff: a log that stays down must not write a line per flush.
        this.failuresLogged++;
        if ((this.failuresLogged & (this.failuresLogged - 1)) === 0) {
          this.opts.logger.warn('prediction log write failed; records dropped', {
            error: (e as Error).message,
            records: part.length,
            failures: this.failuresLogged,
          });
        }
      }
    }
  }

  /** Stops the timer and writes what is pending. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }
}
