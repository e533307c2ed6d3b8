/**
 * The current-window read shared by the drift and data-quality checks (src/checks/window-reader.ts)
 * over a real embedded store: the two checks get the same merged window from one store read, the
 * findings are the ones each check gives reading alone, and the memo stays bounded.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createSharedWindowReader } from '../../src/checks/window-reader.js';
import { configSchema } from '../../src/config/schema.js';
import { runDriftCheck } from '../../src/drift/drift-check.js';
import { runDataQualityCheck } from '../../src/quality/data-quality-check.js';
import { latencyBounds } from '../../src/stats/latency-histogram.js';
import { buildReference } from '../../src/stats/reference.js';
import type { ReferenceProfile } from '../../src/stats/types.js';
import { emptyWindow, observeRequest, observeRows } from '../../src/stats/window-profile.js';
import { EmbeddedStore } from '../../src/store/embedded.js';
import type { StatsStore } from '../../src/store/types.js';
import { tempDir } from '../helpers.js';
import { mulberry32 } from '../prng.js';

const tmp = tempDir('dw-window-reader-');
after(() => tmp.cleanup());

const PROFILE = { sketchK: 200, maxCategories: 100, maxFeatures: 512 };
const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);

async function fixture(models: string[]): Promise<{ store: EmbeddedStore; refs: Map<string, ReferenceProfile> }> {
  const store = new EmbeddedStore({ path: join(tmp.dir, `stats-${models.length}.db`), retentionDays: 30, rollupAfterHours: 48 });
  const rand = mulberry32(5);
  const row = (shift: number) => ({ x: rand() * 10 + shift, c: ['a', 'b'][Math.floor(rand() * 2)]! });
  const refs = new Map<string, ReferenceProfile>();
  for (const model of models) {
    const ref = buildReference({ model, version: '1', source: 't', createdAtMs: 0, rows: Array.from({ length: 500 }, () => row(0)), bins: 10, ...PROFILE });
    refs.set(model, ref);
    const deltas = [];
    for (let k = 1; k <= 20; k++) {
      const w = emptyWindow({ model, version: '1', startMs: NOW - k * 60_000, windowSeconds: 60 }, latencyBounds([250]));
      for (let i = 0; i < 30; i++) observeRequest(w, 200, 10);
      observeRows(
        w,
        Array.from({ length: 30 }, () => row(k % 2)),
        [],
        ref,
        PROFILE,
      );
      deltas.push(w);
    }
    await store.writeWindows(deltas);
  }
  return { store, refs };
}

function counting(store: StatsStore): { store: StatsStore; reads: () => number } {
  let reads = 0;
  return {
    store: {
      describe: store.describe,
      writeWindows: (d) => store.writeWindows(d),
      readWindows: (q) => {
        reads++;
        return store.readWindows(q);
      },
      listSeries: () => store.listSeries(),
      maintain: (n) => store.maintain(n),
      health: () => store.health(),
      close: () => store.close(),
    },
    reads: () => reads,
  };
}

test('drift and data quality share one read per version, with the findings each gives alone', async () => {
  const models = ['a', 'b', 'c', 'd', 'e'];
  const { store, refs } = await fixture(models);
  after(() => store.close());
  const config = configSchema.parse({}).checks;
  const referenceFor = async (m: string) => refs.get(m) ?? null;

  const alone = counting(store);
  const driftAlone = await runDriftCheck({ store: alone.store, referenceFor }, config.drift, NOW);
  const dqAlone = await runDataQualityCheck({ store: alone.store, referenceFor }, config.dataQuality, NOW);
  assert.equal(alone.reads(), 2 * models.length);

  const shared = counting(store);
  const reader = createSharedWindowReader(shared.store, { consumers: 2 });
  // As the scheduler fires them: at the same tick, concurrently, each with its own "now" a few ms apart.
  const [drift, dq] = await Promise.all([
    runDriftCheck({ store: shared.store, referenceFor, currentWindow: reader }, config.drift, NOW),
    runDataQualityCheck({ store: shared.store, referenceFor, currentWindow: reader }, config.dataQuality, NOW + 3),
  ]);
  assert.equal(shared.reads(), models.length, 'one read per version for both checks');
  assert.deepEqual(drift, driftAlone);
  assert.deepEqual(
    dq.map((f) => ({ ...f, at: NOW, window: { ...f.window, fromMs: f.window.fromMs - 3, toMs: f.window.toMs - 3 } })),
    dqAlone,
  );

  // One after the other (no overlap): within the memo's bound the second check reads nothing; a
  // memo too small for the fleet makes it read again (slower, never wrong).
  for (const [maxEntries, expected] of [
    [32, models.length],
    [2, 2 * models.length],
  ] as const) {
    const seq = counting(store);
    const reader2 = createSharedWindowReader(seq.store, { consumers: 2, maxEntries });
    assert.deepEqual(await runDriftCheck({ store: seq.store, referenceFor, currentWindow: reader2 }, config.drift, NOW), driftAlone);
    assert.deepEqual(await runDataQualityCheck({ store: seq.store, referenceFor, currentWindow: reader2 }, config.dataQuality, NOW), dqAlone);
    assert.equal(seq.reads(), expected, `maxEntries ${maxEntries}`);
  }

  // Beyond the tolerance it is a new read.
  const late = counting(store);
  const tol = createSharedWindowReader(late.store, { consumers: 2, toleranceMs: 1_000 });
  await tol({ model: 'a', version: '1', fromMs: NOW - 3_600_000, toMs: NOW });
  await tol({ model: 'a', version: '1', fromMs: NOW - 3_600_000 + 5_000, toMs: NOW + 5_000 });
  assert.equal(late.reads(), 2);
});
