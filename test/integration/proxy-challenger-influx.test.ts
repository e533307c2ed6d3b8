/**
 * The sidecar's shadow (`driftwatch proxy --shadow-upstream`) writing its comparison to a real
 * InfluxDB, as the scoring server's shadow does: two scoring servers on port 0 (the example model
 * as champion, a copy with its "sun" bias raised as challenger), the proxy in front with
 * store.kind influxdb and every request shadowed. At close, dw_challenger under the proxy's
 * instance tag holds exactly the pairs the proxy compared in memory (GET /api/challenger's
 * comparison). Without influxd it skips loudly;
 * DRIFTWATCH_TEST_REQUIRE_INFLUX=1 fails instead.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type ShadowingProxy, sendWeatherYear, settledShadow, shadowingProxy, weatherWithChallenger } from '../challenger-fixture.js';
import { tempDir } from '../helpers.js';
import { findBinary, serversRequired, startInfluxd } from '../influx-server.js';

const tmp = tempDir('dw-proxy-challenger-influx-');
after(() => tmp.cleanup());
const DATABASE = 'proxy_challenger';

test("the proxy's shadow comparison reaches dw_challenger: the in-memory pairs, written at close", async (t) => {
  if (findBinary('influxd') === null) {
    const msg = 'influxd not found on PATH (apt-get install influxdb)';
    if (serversRequired()) assert.fail(`${msg}, and DRIFTWATCH_TEST_REQUIRE_INFLUX=1 requires it`);
    console.warn(`WARNING: proxy-challenger-influx: ${msg}; the sidecar's dw_challenger is NOT tested against InfluxDB`);
    t.skip(msg);
    return;
  }
  const influx = await startInfluxd(join(tmp.dir, 'influx'), DATABASE);
  let proxy: ShadowingProxy | null = null;
  try {
    proxy = await shadowingProxy(await weatherWithChallenger(tmp.dir), {
      config: {
        store: {
          kind: 'influxdb',
          influxdb: { url: influx.url, apiVersion: 'v1', database: DATABASE, instance: 'sidecar-a', spoolDir: join(tmp.dir, 'spool'), retryDelayMs: 100 },
        },
      },
    });
    await sendWeatherYear(proxy.proxyUrl);
    const mem = await settledShadow(proxy.app);
    assert.equal(mem.shadow.scored, 73);
    // All pairs fell in one or two minute windows: merged per version pair, one comparison.
    assert.equal(mem.comparisons.length, 1);
    const c = mem.comparisons[0]!;
    assert.deepEqual([c.championVersion, c.challengerVersion, c.requests, c.rows], ['1', '2', 73, 365]);

    await proxy.close();
    const res = await influx.query(
      `SELECT sum("requests"), sum("rows"), sum("label_rows"), sum("agree") FROM "dw_challenger" WHERE "model" = 'weather' GROUP BY "instance", "champion_version", "challenger_version"`,
    );
    const series = res.results[0].series as any[];
    assert.ok(series, `dw_challenger has points: ${JSON.stringify(res)}`);
    assert.deepEqual(
      series.map((s) => s.tags),
      [{ instance: 'sidecar-a', champion_version: '1', challenger_version: '2' }],
    );
    assert.deepEqual(series[0].values[0].slice(1), [73, 365, c.labelRows, Math.round(c.agreement! * c.labelRows)]);
    assert.ok(c.agreement! > 0.5 && c.agreement! < 0.97, `a real share of disagreement: ${c.agreement}`);
  } finally {
    await proxy?.close();
    await influx.stop();
  }
});
