/**
 * What only the PostgreSQL prediction log (src/outcomes/pg-prediction-log.ts) has to get right,
 * on a real PostgreSQL 15 (test/pg-server.ts): outages. A server that accepts and never answers
 * cannot hang a call (the connect timeout); after a failure calls fail at once until the retry
 * (no connection attempted); a label batch that cannot finish is rolled back whole, never half
 * applied; a server stopped and started again is used again; the password is never logged.
 * The contract shared with the embedded log is test/prediction-log-suite.ts.
 */
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { isDriftwatchError } from '../../src/errors.js';
import { PgPredictionLog } from '../../src/outcomes/pg-prediction-log.js';
import type { PredictionRecord } from '../../src/outcomes/prediction-log.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { havePostgres, PG_PASSWORD, PG_USER, type PgServer, startPostgres } from '../pg-server.js';

const T0 = Date.UTC(2026, 11, 1);
const prediction = (id: string, atMs = T0): PredictionRecord => ({ id, atMs, model: 'm', version: '1', predicted: 'a', value: null, probabilities: null });
const unavailable = (e: unknown) => isDriftwatchError(e) && e.code === 'DW_ERR_PREDICTION_LOG_UNAVAILABLE' && e.status === 503;

let server: Promise<PgServer> | null = null;
let n = 0;
after(async () => {
  await (await server)?.destroy();
});
async function freshUrl(): Promise<string> {
  server ??= startPostgres();
  return (await server).createDatabase(`outage_${n++}`);
}

describe('PostgreSQL prediction log: outages', () => {
  test('a server that accepts and never answers cannot hang a call; during the backoff nothing is attempted', async () => {
    // A black hole: the TCP connection is accepted, no byte ever comes back.
    const sockets: Socket[] = [];
    let connections = 0;
    const hole = createServer((s) => {
      connections++;
      sockets.push(s);
    });
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    const port = (hole.address() as { port: number }).port;
    const log = new PgPredictionLog({ url: `postgres://dw@127.0.0.1:${port}/x`, password: 'p', connectTimeoutMs: 200, retryDelayMs: 60_000 });
    try {
      await assert.rejects(log.recordPredictions([prediction('a')]), unavailable);
      assert.equal(connections, 1);
      // In the backoff: refused at once, without a connection attempt.
      await assert.rejects(log.recordLabels([{ id: 'a', label: 'a', atMs: T0 }]), (e) => unavailable(e) && /retrying in/.test((e as Error).message));
      assert.equal(connections, 1);
    } finally {
      await log.close();
      for (const s of sockets) s.destroy();
      hole.close();
    }
  });

  test('a label batch that cannot finish is rolled back whole (503), and is applied whole when sent again', async (t) => {
    if (!havePostgres(t)) return;
    const url = await freshUrl();
    // Two handles: one whose statements give up after 300 ms (the batch under test), one with the
    // defaults for setting up and checking (a loaded machine must not fail those).
    const log = new PgPredictionLog({ url, password: PG_PASSWORD, statementTimeoutMs: 300, retryDelayMs: 10 });
    const other = new PgPredictionLog({ url, password: PG_PASSWORD });
    t.after(async () => {
      await log.close();
      await other.close();
    });
    // More ids than one statement of the join takes (10,000), so the batch spans statements.
    const ids = Array.from({ length: 12_000 }, (_, i) => `id-${String(i).padStart(5, '0')}`);
    await other.recordPredictions(ids.map((id) => prediction(id)));
    // Another session holds the last id's row: the batch's last statement waits past its timeout.
    const blocker = new pg.Client({
      host: '127.0.0.1',
      port: (await server!).port,
      user: PG_USER,
      password: PG_PASSWORD,
      database: new URL(url).pathname.slice(1),
    });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('SELECT 1 FROM predictions WHERE id = $1 FOR UPDATE', [ids[ids.length - 1]]);
    const labels = ids.map((id) => ({ id, label: 'a', atMs: T0 + 1 }));
    await assert.rejects(log.recordLabels(labels), unavailable);
    await blocker.query('ROLLBACK');
    await blocker.end();
    // Nothing of it was applied, not even the first 10,000 ids' statement that had run.
    assert.equal((await other.stats()).labelled, 0);
    assert.deepEqual(await other.recordLabels(labels), { matched: ids.length, replaced: 0, unmatched: 0, notRetained: 0 });
  });

  test('a stopped server: calls fail as unavailable (nothing half-applied); started again, the log is used again; the password is never logged', async (t) => {
    if (!havePostgres(t)) return;
    const url = await freshUrl();
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', write: (l) => lines.push(l) });
    // The password in the URL this time: it must not reach a log line either.
    const withPassword = url.replace(`${PG_USER}@`, `${PG_USER}:${PG_PASSWORD}@`);
    const log = new PgPredictionLog({ url: withPassword, retryDelayMs: 10, maxRetryDelayMs: 50, logger });
    t.after(() => log.close());
    assert.equal((await log.recordPredictions([prediction('before')])).kept, 1);
    const pgs = await server!;
    await pgs.stop();
    await assert.rejects(log.recordPredictions([prediction('during')]), unavailable);
    await assert.rejects(log.recordLabels([{ id: 'before', label: 'a', atMs: T0 }]), unavailable);
    await pgs.start();
    assert.equal((await waitAvailable(() => log.recordPredictions([prediction('after')]))).kept, 1);
    assert.deepEqual(await log.recordLabels([{ id: 'before', label: 'a', atMs: T0 }]), { matched: 1, replaced: 0, unmatched: 0, notRetained: 0 });
    const s = await log.stats();
    assert.equal(s.rows, 2, 'before and after; the record written during the outage is gone (dropped, not half-written)');
    assert.ok(lines.some((l) => /unreachable/.test(l)) && lines.some((l) => /reachable again/.test(l)), lines.join('\n'));
    assert.ok(!lines.some((l) => l.includes(PG_PASSWORD)), 'no password in the log');
    assert.ok(!log.describe.includes(PG_PASSWORD) && !log.describe.includes(PG_USER), log.describe);
  });
});

/** Calls fn until it stops failing as unavailable (the backoff after an outage); at most 200 tries. */
async function waitAvailable<T>(fn: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (!unavailable(e) || i >= 200) throw e;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

describe('PostgreSQL prediction log: configuration', () => {
  test('labels.store postgres needs a postgres:// URL; the password comes from the environment and never reaches a log line', async () => {
    const { loadConfig } = await import('../../src/config/load.js');
    const { describePredictionLog } = await import('../../src/app/backends.js');
    assert.throws(() => loadConfig({ env: { DRIFTWATCH_LABELS_STORE: 'postgres' } }), /labels\.postgres\.url/);
    assert.throws(
      () => loadConfig({ env: { DRIFTWATCH_LABELS_STORE: 'postgres', DRIFTWATCH_LABELS_POSTGRES_URL: 'http://db:5432/x' } }),
      /labels\.postgres\.url/,
    );
    const config = loadConfig({
      env: {
        DRIFTWATCH_LABELS_ENABLED: 'true',
        DRIFTWATCH_LABELS_STORE: 'postgres',
        DRIFTWATCH_LABELS_POSTGRES_URL: 'postgres://dw:in-the-url-secret@db.internal:5433/fleet?sslmode=require',
        DRIFTWATCH_LABELS_POSTGRES_PASSWORD: 'from-the-env-secret',
      },
    });
    assert.equal(config.labels.store, 'postgres');
    assert.equal(config.labels.postgres.password, 'from-the-env-secret');
    assert.equal(describePredictionLog(config), 'postgres db.internal:5433/fleet');
    // The effective configuration as `log.level: debug` writes it: both secrets redacted.
    const lines: string[] = [];
    createLogger({ level: 'debug', write: (l) => lines.push(l) }).debug('effective configuration', { config });
    assert.ok(lines.length === 1 && !/secret/.test(lines[0]!), lines[0]);
  });
});
