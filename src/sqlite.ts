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
  let db: SqliteDatabase | null = null;
  try {
    mkdirSync(dirname(path), { recursive: true });
    db = new Database(path, { timeout: 5000 });
    // Refuse a foreign database before changing anything in it (journal mode included).
    const tables0 = db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number };
    if ((db.pragma('user_version', { simple: true }) as number) === 0 && tables0.n > 0) {
      throw new DriftwatchError('DW_ERR_STORE_OPEN', `${path} is an SQLite database but not a driftwatch ${what}`);
    }
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > migrations.length) {
      throw new DriftwatchError(
        'DW_ERR_STORE_OPEN',
        `the ${what} ${path} has schema version ${current}, newer than this driftwatch understands (${migrations.length}); upgrade driftwatch or point it at another file`,
      );
    }
    if (current === 0) {
      const tables = db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number };
      if (tables.n > 0) throw new DriftwatchError('DW_ERR_STORE_OPEN', `${path} is an SQLite database but not a driftwatch ${what}`);
    }
    const conn = db;
    // Under the write lock, re-reading the version: two processes opening a fresh file at once
    // must not both run the same migration.
    conn
      .transaction(() => {
        for (let v = conn.pragma('user_version', { simple: true }) as number; v < migrations.length; v++) {
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
