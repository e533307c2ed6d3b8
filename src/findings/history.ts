/**
 * Findings with history, in a local SQLite file (always local, whichever statistics store is in
 * use: the checks' verdicts and the alert state they drive must survive restarts even when
 * InfluxDB is down). `findings` keeps every run's findings for history panels and "failed N runs
 * in a row"; `latest` keeps the newest finding per check and subject for the admin API.
 */
import type { Finding, FindingStatus } from './finding.js';
import { findingKey } from './finding.js';
import { messageOf } from '../errors.js';
import { openDatabase, type SqliteDatabase } from '../sqlite.js';
import type { Logger } from '../telemetry/logger.js';
import type { FindingSink } from './sink.js';

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE findings (
     id INTEGER PRIMARY KEY,
     key TEXT NOT NULL,
     at_ms INTEGER NOT NULL,
     check_name TEXT NOT NULL,
     model TEXT NOT NULL,
     status TEXT NOT NULL,
     finding TEXT NOT NULL          -- JSON Finding (src/findings/finding.ts)
   );
   CREATE INDEX findings_by_key ON findings (key, at_ms);
   CREATE INDEX findings_by_time ON findings (at_ms);
   CREATE TABLE latest (
     key TEXT PRIMARY KEY,
     check_name TEXT NOT NULL,
     model TEXT NOT NULL,
     status TEXT NOT NULL,
     at_ms INTEGER NOT NULL,
     finding TEXT NOT NULL
   ) WITHOUT ROWID;`,
];

export interface FindingFilter {
  check?: string;
  model?: string;
  status?: FindingStatus;
}

export class FindingStore {
  readonly path: string;
  private readonly db: SqliteDatabase;
  private closed = false;

  constructor(
    path: string,
    private readonly retentionDays = 90,
  ) {
    this.db = openDatabase(path, MIGRATIONS, 'findings store');
    this.path = path;
  }

  /** Records one run's findings (history and latest) in one transaction. */
  record(findings: readonly Finding[]): void {
    const ins = this.db.prepare('INSERT INTO findings (key, at_ms, check_name, model, status, finding) VALUES (?, ?, ?, ?, ?, ?)');
    const up = this.db.prepare(
      `INSERT INTO latest (key, check_name, model, status, at_ms, finding) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET status = excluded.status, at_ms = excluded.at_ms, finding = excluded.finding
       WHERE excluded.at_ms >= latest.at_ms`,
    );
    this.db.transaction(() => {
      for (const f of findings) {
        const key = findingKey(f);
        const json = JSON.stringify(f);
        ins.run(key, f.at, f.check, f.subject.model, f.status, json);
        up.run(key, f.check, f.subject.model, f.status, f.at, json);
      }
    })();
  }

  /** Drops the check's latest findings whose subjects this run did not report. */
  retainLatest(check: string, findings: readonly Finding[]): void {
    const keep = new Set(findings.map((f) => findingKey(f)));
    const rows = this.db.prepare('SELECT key FROM latest WHERE check_name = ?').all(check) as Array<{ key: string }>;
    const del = this.db.prepare('DELETE FROM latest WHERE key = ?');
    this.db.transaction(() => {
      for (const r of rows) if (!keep.has(r.key)) del.run(r.key);
    })();
  }

  latest(filter: FindingFilter = {}): Finding[] {
    const where: string[] = [];
    const args: string[] = [];
    if (filter.check) where.push('check_name = ?'), args.push(filter.check);
    if (filter.model) where.push('model = ?'), args.push(filter.model);
    if (filter.status) where.push('status = ?'), args.push(filter.status);
    const sql = `SELECT finding FROM latest ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY check_name, model, key`;
    return (this.db.prepare(sql).all(...args) as Array<{ finding: string }>).map((r) => JSON.parse(r.finding) as Finding);
  }

  history(filter: FindingFilter & { sinceMs: number; limit?: number }): Finding[] {
    const where: string[] = ['at_ms >= ?'];
    const args: Array<string | number> = [filter.sinceMs];
    if (filter.check) where.push('check_name = ?'), args.push(filter.check);
    if (filter.model) where.push('model = ?'), args.push(filter.model);
    if (filter.status) where.push('status = ?'), args.push(filter.status);
    args.push(Math.min(filter.limit ?? 1000, 10_000));
    return (
      this.db.prepare(`SELECT finding FROM findings WHERE ${where.join(' AND ')} ORDER BY at_ms DESC, id DESC LIMIT ?`).all(...args) as Array<{
        finding: string;
      }>
    ).map((r) => JSON.parse(r.finding) as Finding);
  }

  /** How many of the newest findings for this key in a row have one of these statuses. */
  streak(key: string, statuses: readonly FindingStatus[], limit = 1000): number {
    const rows = this.db.prepare('SELECT status FROM findings WHERE key = ? ORDER BY at_ms DESC, id DESC LIMIT ?').all(key, limit) as Array<{
      status: FindingStatus;
    }>;
    let n = 0;
    for (const r of rows) {
      if (!statuses.includes(r.status)) break;
      n++;
    }
    return n;
  }

  prune(nowMs: number): number {
    const cutoff = nowMs - this.retentionDays * 86_400_000;
    this.db.prepare('DELETE FROM latest WHERE at_ms < ?').run(cutoff);
    return this.db.prepare('DELETE FROM findings WHERE at_ms < ?').run(cutoff).changes;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}

/**
 * The history as a sink: every run's findings are recorded; a run that completed replaces the
 * check's latest view (subjects it no longer reports, such as a run error that has cleared or a
 * retired version, leave it). A failure to record is logged and never fails the run: the alerts
 * must still go out.
 */
export function historySink(history: FindingStore, logger: Logger): FindingSink {
  return {
    name: 'history',
    accept(run) {
      try {
        history.record(run.findings);
        if (run.completed) history.retainLatest(run.check, run.findings);
      } catch (e) {
        logger.warn('findings could not be recorded', { check: run.check, error: messageOf(e) });
      }
    },
  };
}
