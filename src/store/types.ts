/**
 * The feature-statistics store: where window profiles live between the sidecar that measures them
 * and the checks that judge them. Checks read this interface, never an implementation; only
 * app/backends.ts picks one (embedded by default, InfluxDB for fleets).
 *
 * Writes are deltas: the sidecar flushes what it saw since its last flush (every few seconds), and
 * the store merges it into what it holds for that window. So a hard kill loses at most one flush
 * interval, and N replicas writing the same window add up to the fleet's profile.
 */
import type { ComparisonWindowDelta } from '../challenger/comparison-deltas.js';
import type { ComparisonSpan } from '../challenger/comparison-windows.js';
import type { ReferenceProfile, WindowProfile } from '../stats/types.js';

export interface WindowQuery {
  model: string;
  /** Omitted: every version of the model, each returned apart. */
  version?: string;
  /** Epoch ms, inclusive: windows whose start is in [fromMs, toMs). */
  fromMs: number;
  toMs: number;
}

export interface SeriesInfo {
  model: string;
  version: string;
  /** Start of the first and the last window stored, epoch ms. */
  firstMs: number;
  lastMs: number;
}

export interface MaintenanceResult {
  /** Minute windows merged into hour windows. */
  rolledUp: number;
  /** Windows deleted past retention. */
  deleted: number;
}

export interface StoreHealth {
  /** Points/windows accepted but not yet durable in the backend (buffered or spilled). */
  pending: number;
  /** Deltas lost because every buffer was full (counted, never silent). */
  dropped: number;
  /** Last write error, if the most recent attempt failed. */
  lastError: string | null;
}

/** The request side of a window only (what SLO checks need), without the feature profiles. */
export type TrafficWindow = Pick<WindowProfile, 'model' | 'version' | 'startMs' | 'windowSeconds' | 'requests' | 'latency' | 'rows'>;

export interface StatsStore {
  /** Human name for logs and /api: "embedded:/path/stats.db", "influxdb:http://host:8086 (v1)". */
  readonly describe: string;
  /**
   * Merges each delta into the stored profile of its window (model, version, startMs). Resolves
   * once the deltas are durable, or buffered within the store's stated bound; never rejects for a
   * backend outage that the buffer absorbs.
   */
  writeWindows(deltas: readonly WindowProfile[]): Promise<void>;
  /**
   * Windows in the range, one profile per (version, window start), merged across writers
   * (replicas and flushes), ordered by version then start. Minute windows past the roll-up age are
   * returned as hour windows (windowSeconds 3600).
   */
  readWindows(q: WindowQuery): Promise<WindowProfile[]>;
  /**
   * Like readWindows, but only requests, latency and row counts: cheap enough to read three days
   * of minute windows every minute (the SLO check's burn rates). Optional: a store without it is
   * read with readWindows.
   */
  readTraffic?(q: WindowQuery): Promise<TrafficWindow[]>;
  /** The model versions that have stored windows. */
  listSeries(): Promise<SeriesInfo[]>;
  /**
   * The champion/challenger comparisons shadowing processes wrote (ComparisonWriter), per version
   * pair: the windows overlapping [fromMs, toMs) summed across windows and writers (instances).
   * `skipped`: stored windows that could not be read back (InfluxDB points without the lossless
   * `comparison` field). Optional: a store without it has no comparisons.
   */
  readComparisons?(q: ComparisonQuery): Promise<ComparisonRead>;
  /** The models with comparisons in [fromMs, toMs), without reading them. */
  comparisonModels?(fromMs: number, toMs: number): Promise<string[]>;
  /** Retention and roll-up, as of nowMs (time is passed in; the scheduler calls this). */
  maintain(nowMs: number): Promise<MaintenanceResult>;
  health(): StoreHealth;
  /** Flushes what is buffered and releases the backend. Idempotent. */
  close(): Promise<void>;
}

export interface ComparisonQuery {
  fromMs: number;
  toMs: number;
  /** Omitted: every model. */
  model?: string;
}

export interface ComparisonRead {
  spans: ComparisonSpan[];
  skipped: number;
}

/**
 * Where a shadowing process (the scoring server's challenger, the sidecar's shadow upstream)
 * writes its closed comparison windows (app/comparison-publishing.ts): the embedded store's table,
 * or dw_challenger points through the InfluxDB store's buffer (store/influx-publisher.ts).
 * Synchronous: both take the deltas in one local transaction or into memory. Throws when it cannot
 * take them (the caller keeps them for the next attempt).
 */
export interface ComparisonWriter {
  /** Merges (embedded) or adds (InfluxDB) each delta to what this writer stored for its window. */
  writeComparisons(deltas: readonly ComparisonWindowDelta[]): void;
}

/**
 * Publishes the reference profiles the sidecar bins against where dashboards can draw them next to
 * the current windows (InfluxDB: store/influx-publisher.ts). Synchronous and cheap on repeats: the
 * profiler calls it for every batch of rows.
 */
export interface ReferencePublisher {
  noteReference(ref: ReferenceProfile): void;
}
