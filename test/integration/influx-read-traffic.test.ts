/**
 * The InfluxDB store's request-only read (readTraffic, issue 22), against a real InfluxDB 1.x: the
 * SLO check reads three days of windows every minute, and without it read every feature profile
 * of them too. It must give exactly the request side readWindows gives, for one version and for
 * all of a model's versions, merged across writers.
 *
 * Without `influxd` on PATH the test skips loudly; with DRIFTWATCH_TEST_REQUIRE_INFLUX=1 it fails.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { latencyBounds } from '../../src/stats/latency-histogram.js';
import type { WindowProfile } from '../../src/stats/types.js';
import { emptyWindow, observeRequest, observeRows } from '../../src/stats/window-profile.js';
import { createInfluxStore } from '../../src/store/influx.js';
import { tempDir } from '../helpers.js';
import { findBinary, serversRequired, startInfluxd } from '../influx-server.js';
import { mulberry32 } from '../prng.js';

const tmp = tempDir('dw-influx-traffic-');
after(() => tmp.cleanup());

test('InfluxDB readTraffic is the request side of readWindows, without the feature profiles', async (t) => {
  if (findBinary('influxd') === null) {
    const msg = 'influxd not found on PATH (apt-get install influxdb)';
    if (serversRequired()) assert.fail(`${msg}, and DRIFTWATCH_TEST_REQUIRE_INFLUX=1 requires it`);
    t.skip(`SKIPPED: ${msg}; set DRIFTWATCH_TEST_REQUIRE_INFLUX=1 to make this a failure`);
    return;
  }
  const influx = await startInfluxd(join(tmp.dir, 'influx'), 'traffic');
  t.after(() => influx.stop());
  const config = (instance: string) =>
    loadConfig({
      env: {},
      overrides: {
        store: { kind: 'influxdb', influxdb: { apiVersion: 'v1', url: influx.url, database: 'traffic', instance, spoolDir: join(tmp.dir, instance) } },
      },
    }).store.influxdb;
  const rand = mulberry32(9);
  const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);
  const delta = (version: string, k: number): WindowProfile => {
    const w = emptyWindow({ model: 'fraud', version, startMs: t0 + k * 60_000, windowSeconds: 60 }, latencyBounds([250]));
    for (let i = 0; i < 20; i++) observeRequest(w, rand() < 0.1 ? 503 : rand() < 0.1 ? 404 : 200, rand() * 400);
    observeRows(
      w,
      Array.from({ length: 20 }, () => ({ x: rand(), c: rand() < 0.5 ? 'a' : 'b' })),
      [{ p: 1 }],
      null,
      { sketchK: 200, maxCategories: 100, maxFeatures: 512 },
    );
    return w;
  };
  // Two writers (replicas), two versions, overlapping windows: the read merges them.
  for (const instance of ['a', 'b']) {
    const store = createInfluxStore(config(instance), { now: () => t0 + 30 * 60_000 });
    await store.writeWindows([...[0, 1, 2, 3].map((k) => delta('1', k)), ...[2, 3, 4].map((k) => delta('2', k))]);
    await store.flush();
    await store.close();
  }
  const reader = createInfluxStore(config('reader'), {});
  t.after(() => reader.close());
  assert.ok(reader.readTraffic, 'the InfluxDB store has a request-only read');
  for (const q of [
    { model: 'fraud', fromMs: t0, toMs: t0 + 3_600_000 },
    { model: 'fraud', version: '2', fromMs: t0, toMs: t0 + 3_600_000 },
    { model: 'fraud', fromMs: t0 + 120_000, toMs: t0 + 240_000 },
  ]) {
    const full = await reader.readWindows(q);
    const traffic = await reader.readTraffic(q);
    assert.ok(full.length > 0);
    assert.deepEqual(
      traffic,
      full.map((w) => ({
        model: w.model,
        version: w.version,
        startMs: w.startMs,
        windowSeconds: w.windowSeconds,
        requests: w.requests,
        latency: w.latency,
        rows: w.rows,
      })),
      JSON.stringify(q),
    );
  }
});
