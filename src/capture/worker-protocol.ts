/**
 * Messages between the proxy's main thread (worker-drain.ts) and the capture worker thread
 * (capture-worker.ts). Plain structured-cloneable values only. A batch's events travel in columns
 * with their bodies in one transferred ArrayBuffer (event-columns.ts says why).
 */
import type { LabelsPostgresConfig, StatsConfig } from '../config/schema.js';
import type { ReferenceProfile, WindowProfile } from '../stats/types.js';
import type { ExtractOptions } from './extract.js';
import type { PackedBatch } from './event-columns.js';
import type { PredictionRecordOptions } from './prediction-records.js';
import type { ShadowDelta } from './shadow-comparison.js';
import type { PackedShadows } from './shadow-columns.js';
import type { TrafficSnapshot } from './traffic-summary.js';

export interface CaptureWorkerData {
  stats: StatsConfig;
  extraLatencyBoundsMs: number[];
  extract: Omit<ExtractOptions, 'columnNames'>;
  defaultVersion: string | null;
  /** How long a reference the worker asked for (and did not get) waits before it asks again. */
  refAskEveryMs: number;
  /** Traffic summary snapshots to the main thread at most this often (when something changed). */
  snapshotEveryMs: number;
  sinceMs: number;
  /** Nice value added to the worker thread's scheduling priority (0: none). */
  niceness: number;
  /**
   * The prediction log (labels.enabled): the worker opens its own connection to it and writes
   * there, because SQLite's writes are CPU on the thread that makes them (docs/quality.md).
   */
  predictions: {
    options: PredictionRecordOptions;
    path: string;
    /** labels.store postgres: the fleet's log (pg-prediction-log.ts) instead of the file at `path`. */
    postgres: LabelsPostgresConfig | null;
    maxRows: number;
    horizonMs: number;
    maxPending: number;
    flushEveryMs: number;
  } | null;
  /**
   * The sidecar's shadow (proxy.shadow.upstream): the pairs are compared in this thread
   * (shadow-comparison.ts) and their windows go back as deltas; with `predictions` the
   * challenger's predictions are logged too (recordShadowPredictions). Versions for answers that
   * name none (proxy.version, proxy.shadow.version).
   */
  shadow: { championVersion: string | null; challengerVersion: string | null } | null;
}

export type ToWorker =
  | {
      t: 'batch';
      id: number;
      /** The batch's events in columns (event-columns.ts). */
      events: PackedBatch;
      bodies: ArrayBuffer;
      /** References for the batch's model versions that the worker has not got yet (or that changed). */
      refs: Array<[model: string, version: string, ref: ReferenceProfile | null]>;
      /** Column names per model that changed since the last batch. */
      columns: Array<[model: string | null, names: readonly string[] | null]>;
      /** Shadowed requests to compare (the champion's event and the challenger's answer); null: none. */
      shadows: PackedShadows | null;
    }
  | { t: 'ref'; model: string; version: string; ref: ReferenceProfile | null }
  | { t: 'written'; id: number; ok: boolean; error?: string }
  | { t: 'flush'; id: number }
  | { t: 'stop'; id: number };

export interface WorkerCounts {
  unparseable: Record<string, number>;
  rows: Record<string, number>;
  droppedWindows: number;
  pendingWindows: number;
  predictionsWritten: number;
  predictionsDropped: Record<string, number>;
}

export type FromWorker =
  | { t: 'ack'; id: number; counts: WorkerCounts }
  | { t: 'write'; id: number; deltas: WindowProfile[] }
  | { t: 'ref?'; model: string; version: string }
  | { t: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; msg: string; fields?: Record<string, unknown> }
  | { t: 'summary'; summary: TrafficSnapshot; pending: number }
  /** The shadow's comparison since the last one: sent with the snapshots (when there is one) and before every flushed/stopped. */
  | { t: 'shadow'; delta: ShadowDelta }
  | { t: 'flushed' | 'stopped'; id: number; summary: TrafficSnapshot; pending: number; counts: WorkerCounts };
