/**
 * A fleet of scoring servers shadowing one challenger, each writing its comparison to one real
 * InfluxDB (`driftwatch serve` with store.kind influxdb: a store of its own, spooling beside the
 * sidecar's): summed across the replicas' instance tags, dw_challenger holds exactly the pairs the
 * replicas compared in memory, written at shutdown for the windows still open; the store's backlog
 * is on /metrics. Without influxd it skips loudly; DRIFTWATCH_TEST_REQUIRE_INFLUX=1 fails instead.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createServeApp, type ServeApp } from '../../src/app/serve-app.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { findBinary, serversRequired, startInfluxd } from '../influx-server.js';
import { weatherWithChallenger } from '../challenger-fixture.js';
import { FEATURES, tempDir, weatherRows } from '../helpers.js';

const tmp = tempDir('dw-challenger-influx-');
after(() => tmp.cleanup());
const DATABASE = 'challenger_fleet';

test("two replicas: dw_challenger summed across instances is the replicas' comparisons, written at shutdown", async (t) => {
  if (findBinary('influxd') === null) {
    const msg = 'influxd not found on PATH (apt-get install influxdb)';
    if (serversRequired()) assert.fail(`${msg}, and DRIFTWATCH_TEST_REQUIRE_INFLUX=1 requires it`);
    console.warn(`WARNING: challenger-influx: ${msg}; dw_challenger is NOT tested against InfluxDB`);
    t.skip(msg);
    return;
  }
  const influx = await startInfluxd(join(tmp.dir, 'influx'), DATABASE);
  const { registry, registryRoot } = await weatherWithChallenger(tmp.dir);
  const spoolDir = join(tmp.dir, 'spool');
  const replica = (instance: string) =>
    createServeApp(
      loadConfig({
        env: {},
        overrides: {
          serve: { port: 0, models: [{ uri: 'models:/weather/1', challenger: 'models:/weather/2', shadowSample: 1 }], shadow: { queueSize: 10_000 } },
          registry: { root: registryRoot },
          admin: { port: 0 },
          store: { kind: 'influxdb', influxdb: { url: influx.url, apiVersion: 'v1', database: DATABASE, instance, spoolDir, retryDelayMs: 100 } },
          log: { level: 'silent' },
        },
      }),
      { registry, logger: createLogger({ level: 'silent' }) },
    );
  const apps: ServeApp[] = [replica('a'), replica('b')];
  try {
    const rows = weatherRows('2014-01-01', '2014-12-31').map((r) => r.features);
    const urls: string[] = [];
    const admins: string[] = [];
    for (const app of apps) {
      const { scoring, admin } = await app.start();
      urls.push(`http://127.0.0.1:${scoring.port}`);
      admins.push(`http://127.0.0.1:${admin!.port}`);
    }
    // Rows alternate between the replicas, 5 per request.
    for (let i = 0; i < rows.length; i += 5) {
      const res = await fetch(`${urls[(i / 5) % 2]}/invocations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ dataframe_split: { columns: FEATURES, data: rows.slice(i, i + 5) } }),
      });
      assert.equal(res.status, 200);
    }
    for (const app of apps) {
      const s = app.shadows.get('weather')!;
      for (let i = 0; i < 400 && (s.pending > 0 || s.counts.scored + s.counts.failed < s.counts.sampled); i++) await new Promise((r) => setTimeout(r, 25));
    }
    const metrics = await (await fetch(`${admins[0]}/metrics`)).text();
    assert.match(metrics, /^driftwatch_store_backend_pending \d+$/m, 'the own store is on /metrics');
    const mem = await Promise.all(apps.map(async (app) => (await app.challengerReport({ fromMs: 0, toMs: Date.now() + 1 })).models[0]!.comparisons[0]!));
    assert.deepEqual(
      mem.map((c) => c.requests),
      [37, 36],
    );
    // The open windows (and any that ended within the grace) are written by close().
    for (const app of apps) await app.close();
    apps.length = 0;
    assert.ok(existsSync(`${spoolDir}-serve`), 'the own store spools beside the configured spool directory');
    const res = await influx.query(
      `SELECT sum("requests"), sum("rows"), sum("label_rows"), sum("agree") FROM "dw_challenger" WHERE "model" = 'weather' GROUP BY "instance"`,
    );
    const byInstance = Object.fromEntries(res.results[0].series.map((s: any) => [s.tags.instance, s.values[0].slice(1)]));
    assert.deepEqual(Object.keys(byInstance).sort(), ['a', 'b']);
    const agreeA = Math.round(mem[0]!.agreement! * mem[0]!.labelRows);
    const agreeB = Math.round(mem[1]!.agreement! * mem[1]!.labelRows);
    assert.deepEqual(byInstance.a, [37, mem[0]!.rows, mem[0]!.labelRows, agreeA]);
    assert.deepEqual(byInstance.b, [36, mem[1]!.rows, mem[1]!.labelRows, agreeB]);
    const all = await influx.query(`SELECT sum("agree") / sum("label_rows") FROM "dw_challenger" WHERE "model" = 'weather'`);
    const fleet = all.results[0].series[0].values[0][1];
    assert.equal(fleet, (agreeA + agreeB) / 365, "the fleet's agreement is exact across replicas");
    assert.ok(fleet > 0.5 && fleet < 0.97, `a real share of disagreement: ${fleet}`);
  } finally {
    for (const app of apps) await app.close();
    await influx.stop();
  }
});
