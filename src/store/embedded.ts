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
import { resolve } from 'node:path';
import type { EmbeddedStoreConfig } from '../config/schema.js';
import { DriftwatchError, messageOf } from '../errors.js';
import { openDatabase, type SqliteDatabase, type SqliteStatement } from '../sqlite.js';
import { mergeWindows, rollupWindows } from '../stats/window-profile.js';
import type { WindowProfile } from '../stats/types.js';
import type { MaintenanceResult, SeriesInfo, StatsStore, StoreHealth, TrafficWindow, WindowQuery } from './types.js';

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
];

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
}

export class EmbeddedStore implements StatsStore {
  readonly describe: string;
  readonly path: string;
  private readonly db: SqliteDatabase;
  private readonly retentionMs: number;
  private readonly rollupAfterMs: number;
  private readonly now: () => number;
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
  };

  constructor(config: EmbeddedStoreConfig, deps: EmbeddedStoreDeps = {}) {
    this.path = resolve(config.path);
    this.describe = `embedded:${this.path}`;
    this.retentionMs = config.retentionDays * DAY_MS;
    this.rollupAfterMs = config.rollupAfterHours * HOUR_MS;
    this.now = deps.now ?? Date.now;
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

  async listSeries(): Promise<SeriesInfo[]> {
    return this.stmt.series.all().map((r) => ({ model: r.model, version: r.version, firstMs: r.first, lastMs: r.last }));
  }

  async maintain(nowMs: number): Promise<MaintenanceResult> {
    const retentionCutoff = nowMs - this.retentionMs;
    // Retention first: rolling up what is about to be deleted would be wasted work.
    // A window is kept while any part of it is inside retention.
    const deleted = this.db.prepare('DELETE FROM windows WHERE start_ms + resolution * 1000 <= ?').run(retentionCutoff).changes;
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
    if (rollupCutoff > this.rolledUpBeforeMs()) this.stmt.putMeta.run('rolled_up_before_ms', String(rollupCutoff));
    if (deleted > 0) this.db.pragma('wal_checkpoint(PASSIVE)');
    return { rolledUp, deleted };
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
