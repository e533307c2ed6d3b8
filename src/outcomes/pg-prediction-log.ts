/**
 * The prediction log (prediction-log.ts) on PostgreSQL, for a fleet: every sidecar, wherever it
 * runs, writes its captured predictions to one database, a label posted to any of them (or loaded
 * with `driftwatch feedback load`) updates the row it belongs to, and the analyzer's quality check
 * reads the joined rows per prediction window (docs/quality.md, "Fleets"). The one `pg` import.
 *
 * The same semantics as the embedded log (sqlite-prediction-log.ts), row for row: the first record
 * of an id wins, a label replaces a label, unmatched / notRetained / replaced are counted, the
 * deterministic id sample (id-sample.ts) past `maxRows`, the horizon, keyset pages, quality
 * attributed to the prediction's time. What differs is built for many writers at once:
 *
 * - writes are one statement per batch: `INSERT ... SELECT FROM unnest($arrays) ON CONFLICT DO
 *   NOTHING` (a fixed eight parameters whatever the batch size, so no 65,535-parameter limit and
 *   one plan), labels one `UPDATE ... FROM unnest(...) RETURNING` per 10,000 ids, both in id order
 *   so two writers that touch the same ids mostly lock them in the same order; a deadlock the
 *   server still detects ends one transaction, which runs again (up to three times);
 * - the sample level and the row counts live in one `prediction_log_meta` table every process
 *   reads. A writer holds the level's row FOR SHARE while it inserts, and halving the sample holds
 *   it FOR UPDATE: no insert can slip a row past a halving that is deleting its hash range;
 * - halving runs after the insert that went over budget, not inside it (holding the level row for
 *   the whole insert would make every writer wait for every other), and deletes in chunks (see
 *   fitBudget): the log may stand over `maxRows` by the batches in flight for a moment;
 * - ids, models and versions are `COLLATE "C"`: byte order, as SQLite's, so pages and ties come
 *   out in the same order on both, and the indexes are cheaper;
 * - (model, version, at_ms, id) is the B-tree the window reads and the keyset pages walk; `at_ms`
 *   alone has a BRIN index (a few pages: rows arrive roughly in time order), for pruning and the
 *   series list.
 *
 * Outages: the database may be down, slow or unreachable, and this must never reach the proxied
 * traffic (the capture worker writes through a bounded buffer, prediction-buffer.ts). So every
 * connection attempt and every statement has a timeout, a failure starts a backoff (doubling to
 * `maxRetryDelayMs`) during which calls fail at once without touching the network, and such
 * failures are thrown as DW_ERR_PREDICTION_LOG_UNAVAILABLE (the label endpoint's 503, the
 * buffer's `unavailable` drop reason). A label batch is one transaction: all of it or none.
 */
import pg from 'pg';
import { DriftwatchError, isDriftwatchError } from '../errors.js';
import type { Logger } from '../telemetry/logger.js';
import { idHash, keeps, sampleBound } from './id-sample.js';
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

export interface PgPredictionLogOptions {
  /** postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=require|verify-full][&host=/socket/dir] */
  url: string;
  /** The password, when it is not in the URL (labels.postgres.password; never logged). */
  password?: string | null;
  maxRows?: number;
  horizonMs?: number;
  /** A connection attempt gives up after this long (default 5 s). */
  connectTimeoutMs?: number;
  /** A statement gives up after this long: the server cancels it, the client stops waiting (default 10 s). */
  statementTimeoutMs?: number;
  /** Connections this handle opens at most (default 4). */
  maxConnections?: number;
  /** First wait after a failure (default 500 ms), doubling up to maxRetryDelayMs (default 30 s). */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** Outages and recoveries are logged here (once per transition, not per call). */
  logger?: Logger;
}

/** The URL as it may be shown: no password (and no user name either: only where it points). */
export function describePostgresUrl(url: string): string {
  try {
    const u = new URL(url);
    return `postgres ${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}`;
  } catch {
    return 'postgres (no valid URL)';
  }
}

/** The `pg` connection settings from a postgres:// URL, parsed here so the password can come apart. */
function connectionOf(opts: PgPredictionLogOptions): pg.PoolConfig {
  const u = new URL(opts.url);
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new Error('labels.postgres.url must be a postgres:// URL');
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  const sslmode = u.searchParams.get('sslmode');
  const socketHost = u.searchParams.get('host');
  const password = opts.password ?? (u.password ? decodeURIComponent(u.password) : undefined);
  return {
    host: socketHost ?? (u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1'),
    port: u.port ? Number(u.port) : 5432,
    ...(database ? { database } : {}),
    ...(u.username ? { user: decodeURIComponent(u.username) } : {}),
    // Always a string when given: pg's SCRAM handshake refuses anything else.
    ...(password !== undefined ? { password } : {}),
    ...(sslmode === 'require' ? { ssl: { rejectUnauthorized: false } } : sslmode === 'verify-ca' || sslmode === 'verify-full' ? { ssl: true } : {}),
  };
}

// bigint columns (times, hashes, counts) as numbers: milliseconds and counts stay far below 2^53.
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE predictions (
     id text COLLATE "C" PRIMARY KEY,
     h bigint NOT NULL,                 -- fnv1a32(id), unsigned: the sample keeps h < 2^(32 - level)
     at_ms bigint NOT NULL,
     model text COLLATE "C" NOT NULL,
     version text COLLATE "C" NOT NULL,
     predicted text,
     value double precision,
     probs text,                        -- JSON class -> probability
     label text,
     label_num double precision,
     label_at_ms bigint,                -- null until labelled
     labels integer NOT NULL DEFAULT 0  -- labels received: 1 after the first (matched), more when replaced
   );
   -- With id: the keyset pages' order, read straight off the index (without it the planner sorts
   -- the window for every page: measured 5x the server's CPU per row in bench/labels-bench.ts).
   CREATE INDEX predictions_by_series_time ON predictions (model, version, at_ms, id);
   CREATE INDEX predictions_by_time ON predictions USING brin (at_ms);
   CREATE TABLE shadow_predictions (
     id text COLLATE "C" NOT NULL,
     version text COLLATE "C" NOT NULL, -- the challenger's version
     h bigint NOT NULL,
     at_ms bigint NOT NULL,
     model text COLLATE "C" NOT NULL,
     predicted text,
     value double precision,
     probs text,
     PRIMARY KEY (id, version)
   );
   CREATE INDEX shadow_predictions_by_time ON shadow_predictions USING brin (at_ms);
   CREATE TABLE prediction_log_meta (key text PRIMARY KEY, value bigint NOT NULL);
   INSERT INTO prediction_log_meta (key, value) VALUES ('sample_level', 0), ('rows', 0), ('shadow_rows', 0), ('sampled_out', 0);`,
];
// Any 64-bit number: the lock that serialises the schema set-up of processes starting together.
const MIGRATION_LOCK = 0x6477_7072_6564; // "dwpred"
// Ids per statement of the label join (one transaction holds them all).
const LABEL_CHUNK = 10_000;
// Rows per transaction of a bulk delete (the horizon, halving the sample).
const DELETE_CHUNK = 50_000;
// The session lock of the one process halving the sample at a time.
const HALVING_LOCK = 0x6477_6861_6c66; // "dwhalf"

// PostgreSQL's text cannot hold NUL; SQLite's can. The same replacement on every write and every
// lookup keeps such an id joinable (ids come from clients' headers and payloads).
const text = (s: string): string => (s.includes('\u0000') ? s.replaceAll('\u0000', '\uFFFD') : s);
const textOrNull = (s: string | null): string | null => (s === null ? null : text(s));

/**
 * Whether an error says the database is out of reach rather than that a statement is wrong: a
 * socket error (ECONNREFUSED, ECONNRESET, ...), the client's own connect or read timeout or a
 * connection that ended, or a SQLSTATE of class 08 (connection), 53 (resources: too many
 * connections, disk full), 57 (operator intervention: shutdown, statement timeout), or 3D000 (the
 * database does not exist yet). Anything else is a bug to see, not an outage to wait out.
 */
function isOutage(e: unknown): boolean {
  if (isDriftwatchError(e)) return e.code === 'DW_ERR_PREDICTION_LOG_UNAVAILABLE';
  const code = (e as { code?: unknown })?.code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code))
    return code.startsWith('08') || code.startsWith('53') || code.startsWith('57') || code === '3D000';
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return true;
  return /timeout|terminated|connection|not queryable/i.test((e as Error)?.message ?? '');
}

/** A deadlock (40P01) or serialization failure (40001): the transaction may simply run again. */
function isRetryable(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return code === '40P01' || code === '40001';
}

export class PgPredictionLog implements PredictionLog {
  readonly describe: string;
  private readonly pool: pg.Pool;
  private readonly maxRows: number;
  private readonly horizonMs: number;
  private readonly retryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly logger: Logger | null;
  private migrated: Promise<void> | null = null;
  private failures = 0;
  private retryAtMs = 0;
  private closed = false;

  constructor(opts: PgPredictionLogOptions) {
    this.maxRows = opts.maxRows ?? DEFAULT_MAX_ROWS;
    this.horizonMs = opts.horizonMs ?? DEFAULT_HORIZON_MS;
    if (!Number.isInteger(this.maxRows) || this.maxRows < 1) throw new Error(`maxRows must be a positive integer, got ${this.maxRows}`);
    if (!(this.horizonMs > 0)) throw new Error(`horizonMs must be positive, got ${this.horizonMs}`);
    this.retryDelayMs = opts.retryDelayMs ?? 500;
    this.maxRetryDelayMs = opts.maxRetryDelayMs ?? 30_000;
    this.logger = opts.logger ?? null;
    this.describe = describePostgresUrl(opts.url);
    const statementTimeoutMs = opts.statementTimeoutMs ?? 10_000;
    this.pool = new pg.Pool({
      ...connectionOf(opts),
      max: opts.maxConnections ?? 4,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5_000,
      // The server cancels a statement past it (and rolls its transaction back) ...
      statement_timeout: statementTimeoutMs,
      // ... and the client stops waiting a little later, for a server that does not answer at all.
      query_timeout: statementTimeoutMs + 2_000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: 'driftwatch',
      types,
    });
    // An idle connection the server drops (restart, network) must not become an uncaught error:
    // the pool discards it and opens another when asked.
    this.pool.on('error', () => undefined);
  }

  // ------------------------------------------------------------------ connections and outages

  private unavailable(message: string, cause?: unknown): DriftwatchError {
    return new DriftwatchError(
      'DW_ERR_PREDICTION_LOG_UNAVAILABLE',
      `prediction log (${this.describe}) unavailable: ${message}`,
      cause === undefined ? {} : { cause },
    );
  }

  private failed(e: unknown): void {
    this.failures++;
    const delay = Math.min(this.maxRetryDelayMs, this.retryDelayMs * 2 ** Math.min(this.failures - 1, 20));
    // Jitter: a fleet of sidecars that lost the database together does not come back in step.
    this.retryAtMs = Date.now() + delay * (0.75 + Math.random() * 0.5);
    if ((this.failures & (this.failures - 1)) === 0)
      this.logger?.warn('prediction log unreachable; calls fail until the retry', {
        store: this.describe,
        error: (e as Error).message,
        failures: this.failures,
        retryInMs: Math.round(delay),
      });
  }

  private succeeded(): void {
    if (this.failures > 0) this.logger?.info('prediction log reachable again', { store: this.describe, afterFailures: this.failures });
    this.failures = 0;
    this.retryAtMs = 0;
  }

  /**
   * Runs fn on one pooled connection (in a transaction when asked). An outage (see isOutage) is
   * thrown as DW_ERR_PREDICTION_LOG_UNAVAILABLE and starts the backoff; the connection it broke
   * is destroyed, never returned to the pool in an unknown state.
   */
  private async withClient<T>(fn: (c: pg.PoolClient) => Promise<T>, opts: { transaction?: boolean } = {}): Promise<T> {
    if (this.closed) throw new Error('prediction log is closed');
    if (Date.now() < this.retryAtMs) throw this.unavailable(`retrying in ${Math.ceil((this.retryAtMs - Date.now()) / 1000)} s`);
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      this.failed(e);
      throw this.unavailable((e as Error).message, e);
    }
    // A checked-out connection that breaks emits 'error' as well as failing its query.
    const onError = () => undefined;
    client.on('error', onError);
    let broken: unknown = null;
    try {
      await this.migrate(client);
      if (!opts.transaction) return await fn(client);
      for (let attempt = 1; ; attempt++) {
        await client.query('BEGIN');
        try {
          const out = await fn(client);
          await client.query('COMMIT');
          return out;
        } catch (e) {
          if (!isOutage(e)) await client.query('ROLLBACK').catch(() => undefined);
          // Two sidecars' transactions that met in a deadlock (the server ends one of them): the
          // loser runs again, from the start, as if it had come a moment later.
          if (!(isRetryable(e) && attempt < 4)) throw e;
        }
      }
    } catch (e) {
      if (!isOutage(e)) throw e;
      broken = e;
      this.failed(e);
      throw this.unavailable((e as Error).message, e);
    } finally {
      client.removeListener('error', onError);
      client.release(broken === null ? undefined : true);
      if (broken === null) this.succeeded();
    }
  }

  /** Creates or upgrades the tables once per handle, serialised across processes by an advisory lock. */
  private migrate(client: pg.PoolClient): Promise<void> {
    this.migrated ??= (async () => {
      await client.query('BEGIN');
      try {
        await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
        await client.query('CREATE TABLE IF NOT EXISTS prediction_log_schema (version integer NOT NULL)');
        const r = await client.query<{ version: number }>('SELECT version FROM prediction_log_schema');
        const at = r.rows[0]?.version ?? 0;
        if (at > MIGRATIONS.length) throw new Error(`the prediction log's schema (version ${at}) is newer than this driftwatch (${MIGRATIONS.length})`);
        for (let v = at; v < MIGRATIONS.length; v++) await client.query(MIGRATIONS[v]!);
        if (at === 0) await client.query('INSERT INTO prediction_log_schema (version) VALUES ($1)', [MIGRATIONS.length]);
        else if (at < MIGRATIONS.length) await client.query('UPDATE prediction_log_schema SET version = $1', [MIGRATIONS.length]);
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      }
    })().catch((e) => {
      this.migrated = null; // tried again on the next call (after the backoff)
      throw e;
    });
    return this.migrated;
  }

  // ------------------------------------------------------------------ writes

  async recordPredictions(records: readonly PredictionRecord[]): Promise<{ kept: number; sampledOut: number }> {
    return this.insert('predictions', 'rows', records);
  }

  async recordShadowPredictions(records: readonly PredictionRecord[]): Promise<{ kept: number; sampledOut: number }> {
    return this.insert('shadow_predictions', 'shadow_rows', records);
  }

  private async insert(
    table: 'predictions' | 'shadow_predictions',
    counter: 'rows' | 'shadow_rows',
    records: readonly PredictionRecord[],
  ): Promise<{ kept: number; sampledOut: number }> {
    if (records.length === 0) return { kept: 0, sampledOut: 0 };
    // In id order (stable: the first record of an id stays first), so concurrent writers lock
    // the same ids in the same order.
    const rows = records.map((r) => ({ r, id: text(r.id), h: idHash(r.id) })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const { kept, sampledOut, total } = await this.withClient(
      async (c) => {
        const level = (await c.query<{ value: number }>(`SELECT value FROM prediction_log_meta WHERE key = 'sample_level' FOR SHARE`)).rows[0]!.value;
        const cols = {
          id: [] as string[],
          h: [] as number[],
          at: [] as number[],
          model: [] as string[],
          version: [] as string[],
          predicted: [] as (string | null)[],
          value: [] as (number | null)[],
          probs: [] as (string | null)[],
        };
        let out = 0;
        for (const { r, id, h } of rows) {
          if (!keeps(h, level)) {
            out++;
            continue;
          }
          cols.id.push(id);
          cols.h.push(h);
          cols.at.push(Math.floor(r.atMs));
          cols.model.push(text(r.model));
          cols.version.push(text(r.version));
          cols.predicted.push(textOrNull(r.predicted));
          cols.value.push(r.value !== null && Number.isFinite(r.value) ? r.value : null);
          cols.probs.push(r.probabilities === null ? null : text(JSON.stringify(r.probabilities)));
        }
        let inserted = 0;
        if (cols.id.length > 0) {
          const conflict = table === 'predictions' ? '(id)' : '(id, version)';
          const res = await c.query(
            `INSERT INTO ${table} (id, h, at_ms, model, version, predicted, value, probs)
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::float8[], $8::text[])
             ON CONFLICT ${conflict} DO NOTHING`,
            [cols.id, cols.h, cols.at, cols.model, cols.version, cols.predicted, cols.value, cols.probs],
          );
          inserted = res.rowCount ?? 0;
        }
        if (inserted > 0) await c.query(`UPDATE prediction_log_meta SET value = value + $1 WHERE key = $2`, [inserted, counter]);
        if (out > 0) await c.query(`UPDATE prediction_log_meta SET value = value + $1 WHERE key = 'sampled_out'`, [out]);
        const sum = await c.query<{ n: number }>(`SELECT sum(value)::bigint AS n FROM prediction_log_meta WHERE key IN ('rows', 'shadow_rows')`);
        return { kept: inserted, sampledOut: out, total: sum.rows[0]!.n };
      },
      { transaction: true },
    );
    const halved = total > this.maxRows ? await this.fitBudget() : 0;
    return { kept, sampledOut: sampledOut + halved };
  }

  /**
   * Over budget (champion and shadow rows together, as in the embedded log): halves the sample
   * until the rows fit, and returns the rows deleted. One process halves at a time (a session
   * advisory lock; another that finds it taken leaves the work to the holder). Raising the level
   * is its own short transaction holding the level's row FOR UPDATE, so writers (FOR SHARE) wait
   * for it and from then on insert no id the new level drops; the rows already there that it
   * drops are then deleted in chunks of DELETE_CHUNK rows, each chunk a transaction of its own, so
   * no statement runs into `statementTimeoutMs` however large the log. Until the last chunk the
   * log holds a few more rows than its sample: the check reads them, a label for one of them
   * matches. Never thrown: the insert before it is written, a failed halving is tried again by the
   * next insert over budget.
   */
  private async fitBudget(): Promise<number> {
    try {
      return await this.withClient(async (c) => {
        const got = (await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [HALVING_LOCK])).rows[0]!.ok;
        if (!got) return 0;
        try {
          let dropped = 0;
          for (;;) {
            // First what the current level drops and is still there (the rest of a halving an
            // outage cut short: it is finished before the level may go up again).
            const level = (await c.query<{ value: number }>(`SELECT value FROM prediction_log_meta WHERE key = 'sample_level'`)).rows[0]!.value;
            if (level > 0) {
              dropped += await this.deleteInChunks(c, 'predictions', 'rows', 'h >= $1', sampleBound(level), true);
              dropped += await this.deleteInChunks(c, 'shadow_predictions', 'shadow_rows', 'h >= $1', sampleBound(level), true);
            }
            // The level goes up in a short transaction of its own (rolled back on any failure: this
            // connection goes back to the pool clean).
            const next = await (async () => {
              await c.query('BEGIN');
              try {
                const level = (await c.query<{ value: number }>(`SELECT value FROM prediction_log_meta WHERE key = 'sample_level' FOR UPDATE`)).rows[0]!.value;
                const total = (await c.query<{ n: number }>(`SELECT sum(value)::bigint AS n FROM prediction_log_meta WHERE key IN ('rows', 'shadow_rows')`))
                  .rows[0]!.n;
                const raise = total > this.maxRows && level < SAMPLE_LEVELS;
                if (raise) await c.query(`UPDATE prediction_log_meta SET value = $1 WHERE key = 'sample_level'`, [level + 1]);
                await c.query('COMMIT');
                return raise ? level + 1 : null;
              } catch (e) {
                if (!isOutage(e)) await c.query('ROLLBACK').catch(() => undefined);
                throw e;
              }
            })();
            if (next === null) return dropped;
          }
        } finally {
          await c.query('SELECT pg_advisory_unlock($1)', [HALVING_LOCK]).catch(() => undefined);
        }
      });
    } catch (e) {
      this.logger?.warn('prediction log: halving the sample failed; the next write over budget tries again', { error: (e as Error).message });
      return 0;
    }
  }

  /**
   * Deletes the rows of `table` matching `where` (with $1 = arg) in chunks of DELETE_CHUNK, each
   * with its counter update in one transaction; returns how many. `sampled`: they count as
   * sampled out (halving), else not (the horizon).
   */
  private async deleteInChunks(c: pg.PoolClient, table: string, counter: string, where: string, arg: number, sampled: boolean): Promise<number> {
    let total = 0;
    for (;;) {
      await c.query('BEGIN');
      try {
        const n =
          (await c.query(`DELETE FROM ${table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${table} WHERE ${where} LIMIT ${DELETE_CHUNK}))`, [arg])).rowCount ?? 0;
        if (n > 0) {
          await c.query(`UPDATE prediction_log_meta SET value = value - $1 WHERE key = $2`, [n, counter]);
          if (sampled) await c.query(`UPDATE prediction_log_meta SET value = value + $1 WHERE key = 'sampled_out'`, [n]);
        }
        await c.query('COMMIT');
        total += n;
        if (n < DELETE_CHUNK) return total;
      } catch (e) {
        if (!isOutage(e)) await c.query('ROLLBACK').catch(() => undefined);
        throw e;
      }
    }
  }

  async recordLabels(labels: readonly LabelRecord[]): Promise<LabelIngestResult> {
    const out: LabelIngestResult = { matched: 0, replaced: 0, unmatched: 0, notRetained: 0 };
    if (labels.length === 0) return out;
    // The last label of an id in the batch is the one kept (as if applied one after another).
    const last = new Map<string, LabelRecord>();
    for (const l of labels) last.set(text(l.id), l);
    const ids = [...last.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const state = new Map<string, number | null>(); // id -> non-null when it had a label before this batch (absent: no row)
    const level = await this.withClient(
      async (c) => {
        const lvl = (await c.query<{ value: number }>(`SELECT value FROM prediction_log_meta WHERE key = 'sample_level'`)).rows[0]!.value;
        state.clear(); // a retried transaction starts over
        for (let i = 0; i < ids.length; i += LABEL_CHUNK) {
          const chunk = ids.slice(i, i + LABEL_CHUNK);
          const ls = chunk.map((id) => last.get(id)!);
          // One statement per chunk. `labels` counts the labels a row received, computed on the
          // row as it is when this statement holds its lock (READ COMMITTED re-reads a row another
          // sidecar updated meanwhile): 1 is the first label (matched), more a replacement, also
          // when two sidecars label the same id at the same moment.
          const updated = await c.query<{ id: string; labels: number }>(
            `UPDATE predictions p SET label = v.label, label_num = v.label_num, label_at_ms = v.at, labels = p.labels + 1
             FROM unnest($1::text[], $2::text[], $3::float8[], $4::bigint[]) AS v(id, label, label_num, at) WHERE p.id = v.id
             RETURNING p.id, p.labels`,
            [
              chunk,
              ls.map((l) => (typeof l.label === 'number' ? null : text(l.label))),
              ls.map((l) => (typeof l.label === 'number' ? l.label : null)),
              ls.map((l) => Math.floor(l.atMs)),
            ],
          );
          for (const r of updated.rows) state.set(r.id, r.labels > 1 ? 1 : null);
        }
        return lvl;
      },
      { transaction: true },
    );
    // Counted as the embedded log counts, label by label in the order given.
    const seen = new Set<string>();
    for (const l of labels) {
      const id = text(l.id);
      if (!state.has(id)) {
        if (keeps(idHash(l.id), level)) out.unmatched++;
        else out.notRetained++;
        continue;
      }
      if (seen.has(id) || state.get(id) !== null) out.replaced++;
      else out.matched++;
      seen.add(id);
    }
    return out;
  }

  // ------------------------------------------------------------------ reads

  async joined(model: string, version: string | null, fromMs: number, toMs: number): Promise<JoinedRow[]> {
    const r = await this.withClient((c) =>
      c.query<StoredPrediction>(
        `SELECT * FROM predictions WHERE model = $1 AND at_ms >= $2 AND at_ms < $3 AND label_at_ms IS NOT NULL
         AND ($4::text IS NULL OR version = $4::text) ORDER BY at_ms, id`,
        [text(model), fromMs, toMs, version === null ? null : text(version)],
      ),
    );
    return r.rows.map(joinedOf);
  }

  async *scan(model: string, version: string, fromMs: number, toMs: number, pageSize = 10_000): AsyncIterable<LoggedRow[]> {
    // Keyset pages over (at_ms, id) on the (model, version, at_ms, id) index, as the embedded log:
    // each page starts in the index where the last one ended.
    let page = (
      await this.withClient((c) =>
        c.query<StoredPrediction>('SELECT * FROM predictions WHERE model = $1 AND version = $2 AND at_ms >= $3 AND at_ms < $4 ORDER BY at_ms, id LIMIT $5', [
          text(model),
          text(version),
          fromMs,
          toMs,
          pageSize,
        ]),
      )
    ).rows;
    while (page.length > 0) {
      yield page.map(loggedOf);
      if (page.length < pageSize) return;
      const last = page[page.length - 1]!;
      page = (
        await this.withClient((c) =>
          c.query<StoredPrediction>(
            'SELECT * FROM predictions WHERE model = $1 AND version = $2 AND (at_ms, id) > ($3, $4) AND at_ms < $5 ORDER BY at_ms, id LIMIT $6',
            [text(model), text(version), last.at_ms, last.id, toMs, pageSize],
          ),
        )
      ).rows;
    }
  }

  async *scanPairs(model: string, challengerVersion: string, fromMs: number, toMs: number, pageSize = 10_000): AsyncIterable<PairedLabelledRow[]> {
    const cols = `p.id, p.at_ms, p.version, p.predicted, p.value, p.probs, p.label, p.label_num, p.label_at_ms,
       s.version AS s_version, s.predicted AS s_predicted, s.value AS s_value, s.probs AS s_probs
       FROM predictions p JOIN shadow_predictions s ON s.id = p.id AND s.version = $1`;
    let page = (
      await this.withClient((c) =>
        c.query<StoredPair>(
          `SELECT ${cols} WHERE p.model = $2 AND p.at_ms >= $3 AND p.at_ms < $4 AND p.label_at_ms IS NOT NULL ORDER BY p.at_ms, p.id LIMIT $5`,
          [text(challengerVersion), text(model), fromMs, toMs, pageSize],
        ),
      )
    ).rows;
    while (page.length > 0) {
      yield page.map(pairOf);
      if (page.length < pageSize) return;
      const last = page[page.length - 1]!;
      page = (
        await this.withClient((c) =>
          c.query<StoredPair>(
            `SELECT ${cols} WHERE p.model = $2 AND (p.at_ms, p.id) > ($3, $4) AND p.at_ms < $5 AND p.label_at_ms IS NOT NULL ORDER BY p.at_ms, p.id LIMIT $6`,
            [text(challengerVersion), text(model), last.at_ms, last.id, toMs, pageSize],
          ),
        )
      ).rows;
    }
  }

  async series(fromMs: number, toMs: number): Promise<LoggedSeries[]> {
    const r = await this.withClient((c) =>
      c.query<LoggedSeries>(
        `SELECT model, version, count(*) AS predictions, count(label_at_ms) AS labelled FROM predictions
         WHERE at_ms >= $1 AND at_ms < $2 GROUP BY model, version ORDER BY model, version`,
        [fromMs, toMs],
      ),
    );
    return r.rows.map((s) => ({ model: s.model, version: s.version, predictions: s.predictions, labelled: s.labelled }));
  }

  async windowCounts(model: string, version: string | null, fromMs: number, toMs: number): Promise<WindowCounts> {
    const r = await this.withClient((c) =>
      c.query<WindowCounts>(
        `SELECT count(*) AS predictions, count(label_at_ms) AS labelled FROM predictions
         WHERE model = $1 AND at_ms >= $2 AND at_ms < $3 AND ($4::text IS NULL OR version = $4::text)`,
        [text(model), fromMs, toMs, version === null ? null : text(version)],
      ),
    );
    return { predictions: r.rows[0]!.predictions, labelled: r.rows[0]!.labelled };
  }

  async prune(nowMs: number): Promise<number> {
    // In chunks (deleteInChunks): a first prune after a long stop, or a shorter horizon, may have
    // millions of rows to delete, more than one statement may take. Every sidecar prunes; two at
    // once delete each row once (the second finds it gone).
    const cutoff = nowMs - this.horizonMs;
    return this.withClient(
      async (c) =>
        (await this.deleteInChunks(c, 'predictions', 'rows', 'at_ms < $1', cutoff, false)) +
        (await this.deleteInChunks(c, 'shadow_predictions', 'shadow_rows', 'at_ms < $1', cutoff, false)),
    );
  }

  async stats(): Promise<PredictionLogStats> {
    return this.withClient(async (c) => {
      const meta = new Map((await c.query<{ key: string; value: number }>('SELECT key, value FROM prediction_log_meta')).rows.map((r) => [r.key, r.value]));
      const labelled = (await c.query<{ n: number }>('SELECT count(label_at_ms) AS n FROM predictions')).rows[0]!.n;
      return {
        rows: meta.get('rows') ?? 0,
        labelled,
        sampleRate: 2 ** -(meta.get('sample_level') ?? 0),
        sampledOut: meta.get('sampled_out') ?? 0,
        shadowRows: meta.get('shadow_rows') ?? 0,
      };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
