/**
 * The embedded prediction log (prediction-log.ts) in a local SQLite file: one row per prediction,
 * keyed by its id, with its label once it comes. It survives restarts (WAL, see sqlite.ts); two
 * sidecars on one host may share the file (SQLite's locking), which is how labels posted to either
 * find predictions captured by the other.
 *
 * Bounds: rows older than `horizonMs` are pruned; past `maxRows` the sample halves (the ids whose
 * hash falls in the upper half of the kept range are deleted and no longer kept), so the log's size
 * stays under `maxRows` rows and the kept ids remain a uniform, deterministic sample. The sample
 * level only grows; it is stored in the file, so a restart keeps the same rule.
 *
 * A challenger's (shadow's) predictions live in their own table keyed by (id, version): the
 * champion's row stays the one a label joins, and the pair is read back by joining the two on id.
 * They follow the same sample rule and horizon and count against the same `maxRows` budget (the
 * budget bounds the file, whichever model a row belongs to).
 */
import { openDatabase, type SqliteDatabase } from '../sqlite.js';
import { fnv1a32 } from '../stats/own-keys.js';
// The sample rule every implementation and process shares (id-sample.ts).
import { keeps } from './id-sample.js';
import { DEFAULT_HORIZON_MS, DEFAULT_MAX_ROWS, joinedOf, loggedOf, pairOf, type StoredPair, type StoredPrediction } from './log-rows.js';
import {
  type JoinedRow,
  type LabelIngestResult,
  type LabelRecord,
  type LoggedRow,
  type LoggedSeries,
  type PairedLabelledRow,
  type PredictionLog,
  type PredictionLogStats,
  type PredictionRecord,
  SAMPLE_LEVELS,
  type WindowCounts,
} from './prediction-log.js';

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE predictions (
     id TEXT PRIMARY KEY,
     h INTEGER NOT NULL,            -- fnv1a32(id), unsigned: the sample keeps h < 2^(32 - level)
     at_ms INTEGER NOT NULL,
     model TEXT NOT NULL,
     version TEXT NOT NULL,
     predicted TEXT,
     value REAL,
     probs TEXT,                    -- JSON class -> probability
     label TEXT,                    -- a class label
     label_num REAL,                -- or a numeric label
     label_at_ms INTEGER            -- null until labelled
   ) WITHOUT ROWID;
   CREATE INDEX predictions_by_model_time ON predictions (model, at_ms);
   CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;`,
  // 2: challengers' predictions for the champion's ids (the label stays on the champion's row).
  `CREATE TABLE shadow_predictions (
     id TEXT NOT NULL,
     version TEXT NOT NULL,         -- the challenger's version
     h INTEGER NOT NULL,            -- fnv1a32(id), as in predictions
     at_ms INTEGER NOT NULL,
     model TEXT NOT NULL,
     predicted TEXT,
     value REAL,
     probs TEXT,
     PRIMARY KEY (id, version)
   ) WITHOUT ROWID;
   CREATE INDEX shadow_predictions_by_time ON shadow_predictions (at_ms);`,
];

export interface SqlitePredictionLogOptions {
  /** Rows kept at most (default 1,000,000: about 200 bytes each on disk without probabilities). */
  maxRows?: number;
  /** How long a prediction waits for its label (default 30 days). */
  horizonMs?: number;
}

/**
 * How long a shadow row waits for its champion's row before pruning takes it: the champion's comes
 * from the capture's next flush (seconds), so an hour is a wide margin.
 */
export const ORPHAN_GRACE_MS = 3_600_000;

export class SqlitePredictionLog implements PredictionLog {
  readonly path: string;
  private readonly db: SqliteDatabase;
  private readonly maxRows: number;
  private readonly horizonMs: number;
  // The file's counters, re-read inside every write transaction: another process may share the
  // file (and raise the sample level or add rows) between two of ours.
  private level = 0;
  private rowCount = 0;
  private shadowRowCount = 0;
  private sampledOut = 0;

  constructor(path: string, opts: SqlitePredictionLogOptions = {}) {
    this.maxRows = opts.maxRows ?? DEFAULT_MAX_ROWS;
    this.horizonMs = opts.horizonMs ?? DEFAULT_HORIZON_MS;
    if (!Number.isInteger(this.maxRows) || this.maxRows < 1) throw new Error(`maxRows must be a positive integer, got ${this.maxRows}`);
    if (!(this.horizonMs > 0)) throw new Error(`horizonMs must be positive, got ${this.horizonMs}`);
    this.db = openDatabase(path, MIGRATIONS, 'prediction log');
    this.path = path;
    this.load();
  }

  private load(): void {
    this.level = this.meta('sample_level');
    this.rowCount = this.meta('rows');
    this.shadowRowCount = this.meta('shadow_rows');
    this.sampledOut = this.meta('sampled_out');
  }

  private save(): void {
    this.setMeta('sample_level', this.level);
    this.setMeta('rows', this.rowCount);
    this.setMeta('shadow_rows', this.shadowRowCount);
    this.setMeta('sampled_out', this.sampledOut);
  }

  private meta(key: string): number {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: number } | undefined;
    return row?.value ?? 0;
  }

  private setMeta(key: string, value: number): void {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  async recordPredictions(records: readonly PredictionRecord[]): Promise<{ kept: number; sampledOut: number }> {
    const ins = this.db.prepare(
      `INSERT INTO predictions (id, h, at_ms, model, version, predicted, value, probs) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO NOTHING`,
    );
    return this.insertSampled(records, (r, h, probs) => {
      const added = ins.run(r.id, h, r.atMs, r.model, r.version, r.predicted, r.value, probs).changes > 0;
      if (added) this.rowCount++;
      return added;
    });
  }

  /**
   * The sample, the budget and the counters around the insert of one table's rows (champion or
   * shadow), in one IMMEDIATE transaction: `insert` writes one kept row and says whether it was new.
   */
  private insertSampled(
    records: readonly PredictionRecord[],
    insert: (r: PredictionRecord, h: number, probs: string | null) => boolean,
  ): { kept: number; sampledOut: number } {
    let kept = 0;
    let dropped = 0;
    this.db
      .transaction(() => {
        this.load();
        for (const r of records) {
          const h = fnv1a32(r.id);
          if (!keeps(h, this.level)) {
            dropped++;
            continue;
          }
          if (insert(r, h, r.probabilities === null ? null : JSON.stringify(r.probabilities))) kept++;
        }
        dropped += this.fitBudget();
        this.sampledOut += dropped;
        this.save();
      })
      .immediate();
    return { kept, sampledOut: dropped };
  }

  /**
   * Over budget (champion and shadow rows together): halves the sample until the rows fit, each
   * halving deleting about half the rows of both tables. Returns the rows deleted. Inside a write
   * transaction.
   */
  private fitBudget(): number {
    let dropped = 0;
    while (this.rowCount + this.shadowRowCount > this.maxRows && this.level < SAMPLE_LEVELS) {
      this.level++;
      const bound = 2 ** (32 - this.level);
      const info = this.db.prepare('DELETE FROM predictions WHERE h >= ?').run(bound);
      const shadow = this.db.prepare('DELETE FROM shadow_predictions WHERE h >= ?').run(bound);
      this.rowCount -= info.changes;
      this.shadowRowCount -= shadow.changes;
      dropped += info.changes + shadow.changes;
    }
    return dropped;
  }

  async recordShadowPredictions(records: readonly PredictionRecord[]): Promise<{ kept: number; sampledOut: number }> {
    const ins = this.db.prepare(
      `INSERT INTO shadow_predictions (id, version, h, at_ms, model, predicted, value, probs) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id, version) DO NOTHING`,
    );
    return this.insertSampled(records, (r, h, probs) => {
      const added = ins.run(r.id, r.version, h, r.atMs, r.model, r.predicted, r.value, probs).changes > 0;
      if (added) this.shadowRowCount++;
      return added;
    });
  }

  async recordLabels(labels: readonly LabelRecord[]): Promise<LabelIngestResult> {
    const get = this.db.prepare('SELECT label_at_ms FROM predictions WHERE id = ?');
    const set = this.db.prepare('UPDATE predictions SET label = ?, label_num = ?, label_at_ms = ? WHERE id = ?');
    const out: LabelIngestResult = { matched: 0, replaced: 0, unmatched: 0, notRetained: 0 };
    this.db
      .transaction(() => {
        this.load();
        for (const l of labels) {
          const row = get.get(l.id) as { label_at_ms: number | null } | undefined;
          if (row === undefined) {
            if (keeps(fnv1a32(l.id), this.level)) out.unmatched++;
            else out.notRetained++;
            continue;
          }
          if (row.label_at_ms === null) out.matched++;
          else out.replaced++;
          set.run(typeof l.label === 'number' ? null : l.label, typeof l.label === 'number' ? l.label : null, l.atMs, l.id);
        }
      })
      .immediate();
    return out;
  }

  async joined(model: string, version: string | null, fromMs: number, toMs: number): Promise<JoinedRow[]> {
    const rows = this.db
      .prepare(
        `SELECT * FROM predictions WHERE model = ? AND at_ms >= ? AND at_ms < ? AND label_at_ms IS NOT NULL
         AND (? IS NULL OR version = ?) ORDER BY at_ms, id`,
      )
      .all(model, fromMs, toMs, version, version) as StoredPrediction[];
    return rows.map(joinedOf);
  }

  async *scan(model: string, version: string, fromMs: number, toMs: number, pageSize = 10_000): AsyncIterable<LoggedRow[]> {
    // Keyset pages over (at_ms, id) on the (model, at_ms) index: each page starts after the last
    // row of the one before, so no page re-reads what an OFFSET would skip.
    const first = this.db.prepare('SELECT * FROM predictions WHERE model = ? AND version = ? AND at_ms >= ? AND at_ms < ? ORDER BY at_ms, id LIMIT ?');
    const next = this.db.prepare('SELECT * FROM predictions WHERE model = ? AND version = ? AND (at_ms, id) > (?, ?) AND at_ms < ? ORDER BY at_ms, id LIMIT ?');
    let page = first.all(model, version, fromMs, toMs, pageSize) as StoredPrediction[];
    while (page.length > 0) {
      yield page.map(loggedOf);
      if (page.length < pageSize) return;
      const last = page[page.length - 1]!;
      page = next.all(model, version, last.at_ms, last.id, toMs, pageSize) as StoredPrediction[];
    }
  }

  async *scanPairs(model: string, challengerVersion: string, fromMs: number, toMs: number, pageSize = 10_000): AsyncIterable<PairedLabelledRow[]> {
    // Keyset pages over the champion's (at_ms, id), as scan does; each champion row finds its
    // challenger row by the shadow table's primary key (id, version).
    const cols = `p.id, p.at_ms, p.version, p.predicted, p.value, p.probs, p.label, p.label_num, p.label_at_ms,
       s.version AS s_version, s.predicted AS s_predicted, s.value AS s_value, s.probs AS s_probs
       FROM predictions p JOIN shadow_predictions s ON s.id = p.id AND s.version = ?`;
    const first = this.db.prepare(
      `SELECT ${cols} WHERE p.model = ? AND p.at_ms >= ? AND p.at_ms < ? AND p.label_at_ms IS NOT NULL ORDER BY p.at_ms, p.id LIMIT ?`,
    );
    const next = this.db.prepare(
      `SELECT ${cols} WHERE p.model = ? AND (p.at_ms, p.id) > (?, ?) AND p.at_ms < ? AND p.label_at_ms IS NOT NULL ORDER BY p.at_ms, p.id LIMIT ?`,
    );
    let page = first.all(challengerVersion, model, fromMs, toMs, pageSize) as StoredPair[];
    while (page.length > 0) {
      yield page.map(pairOf);
      if (page.length < pageSize) return;
      const last = page[page.length - 1]!;
      page = next.all(challengerVersion, model, last.at_ms, last.id, toMs, pageSize) as StoredPair[];
    }
  }

  async series(fromMs: number, toMs: number): Promise<LoggedSeries[]> {
    return this.db
      .prepare(
        `SELECT model, version, COUNT(*) AS predictions, COUNT(label_at_ms) AS labelled FROM predictions
         WHERE at_ms >= ? AND at_ms < ? GROUP BY model, version ORDER BY model, version`,
      )
      .all(fromMs, toMs) as LoggedSeries[];
  }

  async windowCounts(model: string, version: string | null, fromMs: number, toMs: number): Promise<WindowCounts> {
    const row = this.db
      .prepare(
        `SELECT COUNT(*) AS predictions, COUNT(label_at_ms) AS labelled FROM predictions
         WHERE model = ? AND at_ms >= ? AND at_ms < ? AND (? IS NULL OR version = ?)`,
      )
      .get(model, fromMs, toMs, version, version) as WindowCounts;
    return { predictions: row.predictions, labelled: row.labelled };
  }

  async prune(nowMs: number): Promise<number> {
    return this.db
      .transaction(() => {
        this.load();
        const info = this.db.prepare('DELETE FROM predictions WHERE at_ms < ?').run(nowMs - this.horizonMs);
        const shadow = this.db.prepare('DELETE FROM shadow_predictions WHERE at_ms < ?').run(nowMs - this.horizonMs);
        // A shadow row whose champion never came (the sidecar's capture sampled the request out, or
        // dropped it) can never be paired: kept to the horizon it would only take the budget.
        const orphans = this.db
          .prepare('DELETE FROM shadow_predictions WHERE at_ms < ? AND NOT EXISTS (SELECT 1 FROM predictions p WHERE p.id = shadow_predictions.id)')
          .run(nowMs - ORPHAN_GRACE_MS);
        this.rowCount -= info.changes;
        this.shadowRowCount -= shadow.changes + orphans.changes;
        this.save();
        return info.changes + shadow.changes + orphans.changes;
      })
      .immediate();
  }

  async stats(): Promise<PredictionLogStats> {
    this.load();
    const labelled = (this.db.prepare('SELECT COUNT(label_at_ms) AS n FROM predictions').get() as { n: number }).n;
    return { rows: this.rowCount, labelled, sampleRate: 2 ** -this.level, sampledOut: this.sampledOut, shadowRows: this.shadowRowCount };
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
