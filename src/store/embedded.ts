/**
 * The embedded statistics store (the default): one SQLite file on local disk, no service to run
 * (opened by sqlite.ts: WAL, atomic commits). With the sidecar flushing deltas every
 * stats.flushIntervalMs, a kill -9 loses at most one flush interval of statistics and never
 * corrupts what was flushed.
 *
 * Layout: one row per (model, version, resolution, window start) holding the merged profile as
 * JSON. A delta is merged into its row in the same transaction that reads it (read-merge-write),
 * so two processes sharing the file still add up (SQLite serialises writers; busy_timeout waits).
 * Roll-up merges minute windows older than rollupAfterHours into hour rows and deletes them, in
 * one transaction per hour: a crash mid-roll-up leaves either the minutes or the hour, never both.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { ComparisonWindowDelta } from '../challenger/comparison-deltas.js';
import { mergeComparisons } from '../challenger/comparison.js';
import { parseComparison, spansOf } from '../challenger/stored-comparisons.js';
import type { EmbeddedStoreConfig } from '../config/schema.js';
import { DriftwatchError, messageOf } from '../errors.js';
import { openDatabase, type SqliteDatabase, type SqliteStatement } from '../sqlite.js';
import { mergeWindows, rollupWindows } from '../stats/window-profile.js';
import type { WindowProfile } from '../stats/types.js';
import type {
  ComparisonQuery,
  ComparisonRead,
  ComparisonWriter,
  MaintenanceResult,
  SeriesInfo,
  StatsStore,
  StoreHealth,
  TrafficWindow,
  WindowQuery,
} from './types.js';

const HOUR_SECONDS = 3600;
const HOUR_MS = HOUR_SECONDS * 1000;
const DAY_MS = 24 * HOUR_MS;

/** Schema migrations, applied in order; user_version records how many ran. Never edit one that shipped. */
const MIGRATIONS: ReadonlyArray<string> = [
  `CREATE TABLE windows (
     model TEXT NOT NULL,
     version TEXT NOT NULL,
     resolution INTEGER NOT NULL,   -- window length in seconds
     start_ms INTEGER NOT NULL,     -- epoch ms, aligned to the resolution
     profile TEXT NOT NULL,         -- JSON WindowProfile (src/stats/types.ts)
     traffic TEXT NOT NULL,         -- JSON of its requests, latency and rows only (cheap SLO reads)
     updated_ms INTEGER NOT NULL,
     -- start_ms before resolution: roll-up and reads select a time range of one version
     PRIMARY KEY (model, version, start_ms, resolution)
   ) WITHOUT ROWID;
   CREATE INDEX windows_by_time ON windows (model, start_ms);
   CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;`,
  // The champion/challenger comparisons of the processes that shadow (docs/challenger.md), kept
  // per writer (instance) like InfluxDB's dw_challenger points, summed on read.
  `CREATE TABLE comparisons (
     model TEXT NOT NULL,
     champion_version TEXT NOT NULL,
     challenger_version TEXT NOT NULL,
     start_ms INTEGER NOT NULL,      -- epoch ms, aligned to window_seconds
     window_seconds INTEGER NOT NULL, -- 60, or 3600 once rolled up
     instance TEXT NOT NULL,         -- the writing process
     comparison TEXT NOT NULL,       -- JSON Comparison (src/challenger/comparison.ts)
     updated_ms INTEGER NOT NULL,
     PRIMARY KEY (model, champion_version, challenger_version, start_ms, window_seconds, instance)
   ) WITHOUT ROWID;
   CREATE INDEX comparisons_by_time ON comparisons (start_ms, model);`,
];

/** Comparison windows are at most an hour long (a rolled-up hour): a read reaches back this far for windows overlapping its start. */
const MAX_COMPARISON_WINDOW_MS = HOUR_MS;

/**
 * listSeries as a skip-scan over the primary key (model, version, start_ms, resolution): each step
 * seeks to the next (model, version) after the current one, then MIN/MAX(start_ms) are one seek
 * each at either end of that series. Cost grows with the number of series, not of windows.
 * Why not `GROUP BY model, version`: that reads every row, profiles included (WITHOUT ROWID keeps
 * them in the key's b-tree), and every check calls listSeries every run (issue 22).
 * Why not a series table kept by the writers: this needs no migration, and it answers from the
 * windows themselves, so retention, roll-up and a second process on the file cannot make it drift.
 * Same answers as the GROUP BY: the seeks compare with the columns' BINARY collation, the order
 * GROUP BY used. The step after the last series yields one (NULL, NULL) row that ends the
 * recursion and is filtered out. Exported for the test that reads its query plan.
 */
export const SERIES_SQL = `WITH RECURSIVE s(model, version) AS (
    SELECT model, version FROM (SELECT model, version FROM windows ORDER BY model, version LIMIT 1)
    UNION ALL
    SELECT coalesce(
             (SELECT w.model FROM windows w WHERE w.model = s.model AND w.version > s.version LIMIT 1),
             (SELECT MIN(w.model) FROM windows w WHERE w.model > s.model)),
           coalesce(
             (SELECT MIN(w.version) FROM windows w WHERE w.model = s.model AND w.version > s.version),
             (SELECT MIN(w.version) FROM windows w WHERE w.model = (SELECT MIN(n.model) FROM windows n WHERE n.model > s.model)))
    FROM s WHERE s.model IS NOT NULL)
  SELECT model, version,
    (SELECT MIN(w.start_ms) FROM windows w WHERE w.model = s.model AND w.version = s.version) AS first,
    (SELECT MAX(w.start_ms) FROM windows w WHERE w.model = s.model AND w.version = s.version) AS last
  FROM s WHERE model IS NOT NULL ORDER BY model, version`;

export interface EmbeddedStoreDeps {
  /** Clock for updated_ms only (never for window placement: that comes with the delta). */
  now?: () => number;
  /** This process's name on the comparison windows it writes (default host-pid). */
  instance?: string;
}

type ComparisonRow = {
  model: string;
  champion_version: string;
  challenger_version: string;
  start_ms: number;
  window_seconds: number;
  comparison: string;
};

export class EmbeddedStore implements StatsStore, ComparisonWriter {
  readonly describe: string;
  readonly path: string;
  private readonly db: SqliteDatabase;
  private readonly retentionMs: number;
  private readonly rollupAfterMs: number;
  private readonly now: () => number;
  readonly instance: string;
  private closed = false;
  private failures = 0;
  private lastError: string | null = null;
  private readonly stmt: {
    get: SqliteStatement<[string, string, number, number], { profile: string }>;
    put: SqliteStatement<[string, string, number, number, string, string, number]>;
    traffic: SqliteStatement<[string, number, number], { traffic: string }>;
    trafficVersion: SqliteStatement<[string, string, number, number], { traffic: string }>;
    range: SqliteStatement<[string, number, number], { profile: string }>;
    rangeVersion: SqliteStatement<[string, string, number, number], { profile: string }>;
    series: SqliteStatement<[], { model: string; version: string; first: number; last: number }>;
    getMeta: SqliteStatement<[string], { value: string }>;
    putMeta: SqliteStatement<[string, string]>;
    getComparison: SqliteStatement<[string, string, string, number, number, string], { comparison: string }>;
    putComparison: SqliteStatement<[string, string, string, number, number, string, string, number]>;
    comparisons: SqliteStatement<[number, number], ComparisonRow>;
    comparisonsOf: SqliteStatement<[number, number, string], ComparisonRow>;
    comparisonModels: SqliteStatement<[number, number], { model: string }>;
  };

  constructor(config: EmbeddedStoreConfig, deps: EmbeddedStoreDeps = {}) {
    this.path = resolve(config.path);
    this.describe = `embedded:${this.path}`;
    this.retentionMs = config.retentionDays * DAY_MS;
    this.rollupAfterMs = config.rollupAfterHours * HOUR_MS;
    this.now = deps.now ?? Date.now;
    this.instance = deps.instance ?? `${hostname()}-${process.pid}`;
    this.db = openDatabase(this.path, MIGRATIONS, 'statistics store');
    this.stmt = {
      get: this.db.prepare('SELECT profile FROM windows WHERE model = ? AND version = ? AND resolution = ? AND start_ms = ?'),
      put: this.db.prepare(
        `INSERT INTO windows (model, version, resolution, start_ms, profile, traffic, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (model, version, start_ms, resolution) DO UPDATE SET profile = excluded.profile, traffic = excluded.traffic, updated_ms = excluded.updated_ms`,
      ),
      traffic: this.db.prepare('SELECT traffic FROM windows WHERE model = ? AND start_ms >= ? AND start_ms < ? ORDER BY version, start_ms, resolution'),
      trafficVersion: this.db.prepare(
        'SELECT traffic FROM windows WHERE model = ? AND version = ? AND start_ms >= ? AND start_ms < ? ORDER BY start_ms, resolution',
      ),
      range: this.db.prepare('SELECT profile FROM windows WHERE model = ? AND start_ms >= ? AND start_ms < ? ORDER BY version, start_ms, resolution'),
      rangeVersion: this.db.prepare(
        'SELECT profile FROM windows WHERE model = ? AND version = ? AND start_ms >= ? AND start_ms < ? ORDER BY start_ms, resolution',
      ),
      series: this.db.prepare(SERIES_SQL),
      getMeta: this.db.prepare('SELECT value FROM meta WHERE key = ?'),
      putMeta: this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      getComparison: this.db.prepare(
        'SELECT comparison FROM comparisons WHERE model = ? AND champion_version = ? AND challenger_version = ? AND start_ms = ? AND window_seconds = ? AND instance = ?',
      ),
      putComparison: this.db.prepare(
        `INSERT INTO comparisons (model, champion_version, challenger_version, start_ms, window_seconds, instance, comparison, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (model, champion_version, challenger_version, start_ms, window_seconds, instance) DO UPDATE SET comparison = excluded.comparison, updated_ms = excluded.updated_ms`,
      ),
      comparisons: this.db.prepare(
        'SELECT model, champion_version, challenger_version, start_ms, window_seconds, comparison FROM comparisons WHERE start_ms >= ? AND start_ms < ?',
      ),
      comparisonsOf: this.db.prepare(
        'SELECT model, champion_version, challenger_version, start_ms, window_seconds, comparison FROM comparisons WHERE start_ms >= ? AND start_ms < ? AND model = ?',
      ),
      comparisonModels: this.db.prepare('SELECT DISTINCT model FROM comparisons WHERE start_ms >= ? AND start_ms < ? ORDER BY model'),
    };
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  /** Windows starting before this were rolled up; a late delta for them goes to its hour row. */
  private rolledUpBeforeMs(): number {
    const row = this.stmt.getMeta.get('rolled_up_before_ms');
    return row ? Number(row.value) : -Infinity;
  }

  private mergeInto(w: WindowProfile, updatedMs: number): void {
    const existing = this.stmt.get.get(w.model, w.version, w.windowSeconds, w.startMs);
    const merged = existing ? mergeWindows(JSON.parse(existing.profile) as WindowProfile, w) : w;
    const traffic: TrafficWindow = {
      model: merged.model,
      version: merged.version,
      startMs: merged.startMs,
      windowSeconds: merged.windowSeconds,
      requests: merged.requests,
      latency: merged.latency,
      rows: merged.rows,
    };
    this.stmt.put.run(w.model, w.version, w.windowSeconds, w.startMs, JSON.stringify(merged), JSON.stringify(traffic), updatedMs);
  }

  async writeWindows(deltas: readonly WindowProfile[]): Promise<void> {
    if (this.closed) throw new DriftwatchError('DW_ERR_STORE_UNAVAILABLE', 'the statistics store is closed');
    if (!deltas.length) return;
    try {
      // IMMEDIATE: take the write lock before reading, so a second process on the file waits
      // (busy timeout) instead of failing with SQLITE_BUSY_SNAPSHOT after its read.
      this.db
        .transaction(() => {
          const cutoff = this.rolledUpBeforeMs();
          const updated = this.now();
          for (const d of deltas) {
            if (d.windowSeconds < HOUR_SECONDS && d.startMs < cutoff) {
              const hourStart = Math.floor(d.startMs / HOUR_MS) * HOUR_MS;
              this.mergeInto(rollupWindows([d], hourStart, HOUR_SECONDS), updated);
            } else this.mergeInto(d, updated);
          }
        })
        .immediate();
      this.lastError = null;
    } catch (e) {
      this.failures++;
      this.lastError = messageOf(e);
      throw new DriftwatchError('DW_ERR_STORE_UNAVAILABLE', `writing to the statistics store ${this.path} failed: ${messageOf(e)}`, { cause: e });
    }
  }

  async readWindows(q: WindowQuery): Promise<WindowProfile[]> {
    const rows = q.version === undefined ? this.stmt.range.all(q.model, q.fromMs, q.toMs) : this.stmt.rangeVersion.all(q.model, q.version, q.fromMs, q.toMs);
    return rows.map((r) => JSON.parse(r.profile) as WindowProfile);
  }

  async readTraffic(q: WindowQuery): Promise<TrafficWindow[]> {
    const rows =
      q.version === undefined ? this.stmt.traffic.all(q.model, q.fromMs, q.toMs) : this.stmt.trafficVersion.all(q.model, q.version, q.fromMs, q.toMs);
    return rows.map((r) => JSON.parse(r.traffic) as TrafficWindow);
  }

  /**
   * Merges each comparison delta into this instance's row of its window, in one IMMEDIATE
   * transaction (a second process on the file waits). A minute that was rolled up already goes
   * to its hour row, as a late window delta does.
   */
  writeComparisons(deltas: readonly ComparisonWindowDelta[]): void {
    if (this.closed) throw new DriftwatchError('DW_ERR_STORE_UNAVAILABLE', 'the statistics store is closed');
    if (!deltas.length) return;
    try {
      this.db
        .transaction(() => {
          const cutoff = this.rolledUpBeforeMs();
          const updated = this.now();
          for (const d of deltas) {
            const late = d.windowSeconds < HOUR_SECONDS && d.startMs < cutoff;
            this.mergeComparisonInto(
              late ? { ...d, startMs: Math.floor(d.startMs / HOUR_MS) * HOUR_MS, windowSeconds: HOUR_SECONDS } : d,
              this.instance,
              updated,
            );
          }
        })
        .immediate();
      this.lastError = null;
    } catch (e) {
      this.failures++;
      this.lastError = messageOf(e);
      throw new DriftwatchError('DW_ERR_STORE_UNAVAILABLE', `writing comparisons to the statistics store ${this.path} failed: ${messageOf(e)}`, { cause: e });
    }
  }

  private mergeComparisonInto(d: ComparisonWindowDelta, instance: string, updatedMs: number): void {
    const key = [d.model, d.championVersion, d.challengerVersion, d.startMs, d.windowSeconds, instance] as const;
    const existing = this.stmt.getComparison.get(...key);
    // A row that does not parse (never written by this code) is replaced rather than kept failing.
    const stored = existing ? parseComparison(existing.comparison) : null;
    const merged = stored ? mergeComparisons(stored, d.comparison) : d.comparison;
    this.stmt.putComparison.run(...key, JSON.stringify(merged), updatedMs);
  }

  async readComparisons(q: ComparisonQuery): Promise<ComparisonRead> {
    // Windows overlapping fromMs started up to a window length before it.
    const from = q.fromMs - MAX_COMPARISON_WINDOW_MS;
    const rows = q.model === undefined ? this.stmt.comparisons.all(from, q.toMs) : this.stmt.comparisonsOf.all(from, q.toMs, q.model);
    let skipped = 0;
    const windows: ComparisonWindowDelta[] = [];
    for (const r of rows) {
      const comparison = parseComparison(r.comparison);
      if (comparison === null) {
        skipped++;
        continue;
      }
      windows.push({
        model: r.model,
        championVersion: r.champion_version,
        challengerVersion: r.challenger_version,
        startMs: r.start_ms,
        windowSeconds: r.window_seconds,
        comparison,
      });
    }
    return { spans: spansOf(windows, q.fromMs, q.toMs), skipped };
  }

  async comparisonModels(fromMs: number, toMs: number): Promise<string[]> {
    return this.stmt.comparisonModels.all(fromMs - MAX_COMPARISON_WINDOW_MS, toMs).map((r) => r.model);
  }

  async listSeries(): Promise<SeriesInfo[]> {
    return this.stmt.series.all().map((r) => ({ model: r.model, version: r.version, firstMs: r.first, lastMs: r.last }));
  }

  async maintain(nowMs: number): Promise<MaintenanceResult> {
    const retentionCutoff = nowMs - this.retentionMs;
    // Retention first: rolling up what is about to be deleted would be wasted work.
    // A window is kept while any part of it is inside retention.
    const deleted =
      this.db.prepare('DELETE FROM windows WHERE start_ms + resolution * 1000 <= ?').run(retentionCutoff).changes +
      this.db.prepare('DELETE FROM comparisons WHERE start_ms + window_seconds * 1000 <= ?').run(retentionCutoff).changes;
    // Only whole hours roll up, so an hour row never receives minutes from both sides of the cut.
    const rollupCutoff = Math.floor((nowMs - this.rollupAfterMs) / HOUR_MS) * HOUR_MS;
    let rolledUp = 0;
    const hours = this.db
      .prepare(
        `SELECT model, version, (start_ms / ${HOUR_MS}) * ${HOUR_MS} AS hour, COUNT(*) AS n FROM windows
         WHERE resolution < ${HOUR_SECONDS} AND start_ms < ? GROUP BY model, version, hour`,
      )
      .all(rollupCutoff) as Array<{ model: string; version: string; hour: number; n: number }>;
    const minutes = this.db.prepare(
      `SELECT profile FROM windows WHERE model = ? AND version = ? AND resolution < ${HOUR_SECONDS} AND start_ms >= ? AND start_ms < ?`,
    );
    const drop = this.db.prepare(`DELETE FROM windows WHERE model = ? AND version = ? AND resolution < ${HOUR_SECONDS} AND start_ms >= ? AND start_ms < ?`);
    for (const [i, h] of hours.entries()) {
      // A backlog of many hours must not hold the sidecar's event loop: yield between hours.
      if (i > 0) await new Promise((r) => setImmediate(r));
      if (this.closed) break;
      this.db
        .transaction(() => {
          const parts = (minutes.all(h.model, h.version, h.hour, h.hour + HOUR_MS) as Array<{ profile: string }>).map(
            (r) => JSON.parse(r.profile) as WindowProfile,
          );
          if (!parts.length) return;
          this.mergeInto(rollupWindows(parts, h.hour, HOUR_SECONDS), this.now());
          drop.run(h.model, h.version, h.hour, h.hour + HOUR_MS);
          rolledUp += parts.length;
        })
        .immediate();
    }
    rolledUp += await this.rollUpComparisons(rollupCutoff);
    if (rollupCutoff > this.rolledUpBeforeMs()) this.stmt.putMeta.run('rolled_up_before_ms', String(rollupCutoff));
    if (deleted > 0) this.db.pragma('wal_checkpoint(PASSIVE)');
    return { rolledUp, deleted };
  }

  /**
   * Minute comparison rows before the cutoff merged into hour rows, per version pair and writer,
   * one IMMEDIATE transaction per hour (the windows' roll-up, for the comparisons: a month of
   * minutes would be a row per minute per writer).
   */
  private async rollUpComparisons(cutoffMs: number): Promise<number> {
    const hours = this.db
      .prepare(
        `SELECT model, champion_version, challenger_version, instance, (start_ms / ${HOUR_MS}) * ${HOUR_MS} AS hour FROM comparisons
         WHERE window_seconds < ${HOUR_SECONDS} AND start_ms < ? GROUP BY model, champion_version, challenger_version, instance, hour`,
      )
      .all(cutoffMs) as Array<{ model: string; champion_version: string; challenger_version: string; instance: string; hour: number }>;
    const where = `model = ? AND champion_version = ? AND challenger_version = ? AND instance = ? AND window_seconds < ${HOUR_SECONDS} AND start_ms >= ? AND start_ms < ?`;
    const minutes = this.db.prepare(`SELECT comparison FROM comparisons WHERE ${where}`);
    const drop = this.db.prepare(`DELETE FROM comparisons WHERE ${where}`);
    let rolledUp = 0;
    for (const [i, h] of hours.entries()) {
      if (i > 0) await new Promise((r) => setImmediate(r));
      if (this.closed) break;
      const args = [h.model, h.champion_version, h.challenger_version, h.instance, h.hour, h.hour + HOUR_MS] as const;
      this.db
        .transaction(() => {
          const parts = (minutes.all(...args) as Array<{ comparison: string }>).map((r) => parseComparison(r.comparison));
          const readable = parts.filter((c) => c !== null);
          if (readable.length > 0) {
            const merged = readable.reduce((a, b) => mergeComparisons(a, b));
            const key = { model: h.model, championVersion: h.champion_version, challengerVersion: h.challenger_version };
            this.mergeComparisonInto({ ...key, startMs: h.hour, windowSeconds: HOUR_SECONDS, comparison: merged }, h.instance, this.now());
          }
          drop.run(...args);
          rolledUp += parts.length;
        })
        .immediate();
    }
    return rolledUp;
  }

  health(): StoreHealth {
    return { pending: 0, dropped: 0, lastError: this.lastError };
  }

  /** Failed write transactions since open (the caller keeps and retries the deltas). */
  get writeFailures(): number {
    return this.failures;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
