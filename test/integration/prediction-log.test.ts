/**
 * The prediction log's contract (test/prediction-log-suite.ts) on both implementations: the
 * embedded one on real SQLite files (src/outcomes/sqlite-prediction-log.ts), and the fleet's on a
 * real PostgreSQL 15 started in a temp dir (src/outcomes/pg-prediction-log.ts; test/pg-server.ts:
 * skips loudly without the binaries, fails under DRIFTWATCH_TEST_REQUIRE_POSTGRES=1).
 */
import { after } from 'node:test';
import { PgPredictionLog } from '../../src/outcomes/pg-prediction-log.js';
import { SqlitePredictionLog } from '../../src/outcomes/sqlite-prediction-log.js';
import { tempDir } from '../helpers.js';
import { havePostgres, PG_PASSWORD, type PgServer, startPostgres } from '../pg-server.js';
import { predictionLogSuite } from '../prediction-log-suite.js';

const { dir, cleanup } = tempDir('dw-predlog-');
after(cleanup);
let n = 0;

predictionLogSuite({
  name: 'embedded SQLite',
  available: () => true,
  async fresh() {
    const path = `${dir}/log-${n++}.db`;
    return { open: (opts) => new SqlitePredictionLog(path, opts) };
  },
});

// One server for the file, a new database per test.
let server: Promise<PgServer> | null = null;
after(async () => {
  await (await server)?.destroy();
});
predictionLogSuite({
  name: 'PostgreSQL',
  available: (t) => havePostgres(t),
  async fresh() {
    server ??= startPostgres();
    const url = await (await server).createDatabase(`log_${n++}`);
    return { open: (opts) => new PgPredictionLog({ url, password: PG_PASSWORD, ...opts }) };
  },
});
