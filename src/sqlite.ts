/**
 * The one better-sqlite3 import: opens a local SQLite database the way every driftwatch file
 * store wants it (WAL, synchronous=NORMAL, a busy timeout so processes sharing a file wait instead
 * of failing) and applies its schema migrations. Used by the embedded statistics store and the
 * local stores of findings, alerts and predictions awaiting their labels.
 *
 * Why WAL + NORMAL: a commit is one append to the log, readers never block the writer, and a
 * process killed at any instant leaves the database at its last commit. (A *power* loss may lose
 * the last commits under NORMAL; a process crash loses nothing committed.)
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { DriftwatchError, messageOf } from './errors.js';

export type SqliteDatabase = Database.Database;
export type SqliteStatement<P extends unknown[] = unknown[], R = unknown> = Database.Statement<P, R>;

/**
 * Opens (creating if needed) the database at path and runs the migrations it has not run yet;
 * PRAGMA user_version counts how many ran. `what` names the file in errors ("statistics store").
 * Refuses a non-empty database that is not ours, and one written by a newer driftwatch.
 */
export function openDatabase(pathIn: string, migrations: readonly string[], what: string): SqliteDatabase {
  const path = resolve(pathIn);
  // Why a retry around the whole open: SQLite does not call the busy handler for every lock the
  // open needs. Switching to WAL while another process is switching or writing, and reading while
  // another recovers the WAL index, fail with SQLITE_BUSY at once whatever the busy timeout is
  // (CI saw it with two processes opening one fresh file). Each attempt starts from a new
  // connection; the budget is the busy timeout the connection itself uses.
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      return openOnce(path, migrations, what);
    } catch (e) {
      const busy = (e as { cause?: { code?: unknown } }).cause?.code;
      if (!(typeof busy === 'string' && (busy.startsWith('SQLITE_BUSY') || busy.startsWith('SQLITE_LOCKED'))) || Date.now() >= deadline) throw e;
      // Jittered so two processes retrying together do not collide again.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.min(200, 5 * 2 ** attempt) * (0.5 + Math.random()));
    }
  }
}

const BUSY_TIMEOUT_MS = 5000;

function openOnce(path: string, migrations: readonly string[], what: string): SqliteDatabase {
  let db: SqliteDatabase | null = null;
  try {
    mkdirSync(dirname(path), { recursive: true });
    db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
    const conn = db;
    // The version and the table count are read in one transaction: read apart, another process
    // opening the same fresh file could commit its first migration between them and this one
    // would take the file for a foreign database.
    const foreign = () => {
      const tables = conn.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number };
      return (conn.pragma('user_version', { simple: true }) as number) === 0 && tables.n > 0;
    };
    const refuse = () => new DriftwatchError('DW_ERR_STORE_OPEN', `${path} is an SQLite database but not a driftwatch ${what}`);
    // Refuse a foreign database before changing anything in it (journal mode included).
    if (conn.transaction(foreign).deferred()) throw refuse();
    conn.pragma('journal_mode = WAL');
    conn.pragma('synchronous = NORMAL');
    // Under the write lock, re-reading the version: two processes opening a fresh file at once
    // must not both run the same migration.
    conn
      .transaction(() => {
        if (foreign()) throw refuse();
        const current = conn.pragma('user_version', { simple: true }) as number;
        if (current > migrations.length) {
          throw new DriftwatchError(
            'DW_ERR_STORE_OPEN',
            `the ${what} ${path} has schema version ${current}, newer than this driftwatch understands (${migrations.length}); upgrade driftwatch or point it at another file`,
          );
        }
        for (let v = current; v < migrations.length; v++) {
          conn.exec(migrations[v]!);
          conn.pragma(`user_version = ${v + 1}`);
        }
      })
      .immediate();
    return db;
  } catch (e) {
    db?.close();
    if (e instanceof DriftwatchError) throw e;
    throw new DriftwatchError('DW_ERR_STORE_OPEN', `cannot open the ${what} ${path}: ${messageOf(e)}`, { cause: e });
  }
}
