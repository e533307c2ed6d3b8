/**
 * Issue 23 through the real online path: rows folded by the capture side's WindowProfiler,
 * flushed to an embedded SQLite store, judged by the scheduled drift Check (src/checks/drift.ts)
 * against a reference profile as `driftwatch reference build` makes it. Each finding says which
 * test and which effect decided, with both values, and leads with the statistic that decided.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Registry } from 'prom-client';
import { WindowProfiler } from '../../src/capture/window-profiler.js';
import { createDriftCheck } from '../../src/checks/drift.js';
import { driftCheckSchema, statsSchema } from '../../src/config/schema.js';
import type { Finding } from '../../src/findings/finding.js';
import type { ModelRegistry } from '../../src/registry/types.js';
import { buildReference } from '../../src/stats/reference.js';
import type { ReferenceProfile } from '../../src/stats/types.js';
import { EmbeddedStore } from '../../src/store/embedded.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { createCheckMetrics } from '../../src/telemetry/metrics.js';
import { tempDir } from '../helpers.js';
import { mulberry32, normal } from '../prng.js';

const tmp = tempDir('dw-drift-effect-');
after(() => tmp.cleanup());

function rows(seed: number, n: number, shift: number): { x: number }[] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => ({ x: shift + normal(r) }));
}

test('the scheduled check: 0.1 sd at 200,000 rows is ok (significant but small), 0.3 sd at 1,000 rows fails, 50 rows is insufficient_data', async () => {
  const refs = new Map<string, ReferenceProfile>();
  for (const [model, n, seed] of [
    ['big', 50_000, 1],
    ['small', 1_000, 2],
    ['few', 1_000, 3],
  ] as const) {
    refs.set(
      model,
      buildReference({ model, version: '1', source: 'test', createdAtMs: 0, rows: rows(seed, n, 0), bins: 10, sketchK: 2048, maxCategories: 100 }),
    );
  }
  const store = new EmbeddedStore({ path: join(tmp.dir, 'stats.db'), retentionDays: 30, rollupAfterHours: 48 });
  const registry = { getReference: async (model: string) => refs.get(model) ?? null } as unknown as ModelRegistry;
  const profiler = new WindowProfiler({
    config: statsSchema.parse({}),
    store,
    logger: createLogger({ level: 'silent' }),
    referenceFor: (model) => refs.get(model) ?? null,
  });
  const now = Date.now();
  const feed = (model: string, data: { x: number }[]) => {
    for (let i = 0; i < data.length; i += 500) profiler.observeRows(model, '1', now - 30_000, data.slice(i, i + 500), []);
  };
  feed('big', rows(11, 200_000, 0.1));
  feed('small', rows(12, 1_000, 0.3));
  feed('few', rows(13, 50, 2));
  await profiler.flush();

  const metrics = createCheckMetrics(new Registry());
  const check = createDriftCheck(driftCheckSchema.parse({}), { store, registry, metrics });
  const findings = await check.run(now);
  const x = (model: string): Finding => findings.find((f) => f.subject.model === model && f.subject.name === 'x')!;

  const big = x('big');
  const bd = big.detail as any;
  assert.equal(big.status, 'ok', big.message);
  assert.equal(bd.rule, 'test-and-effect');
  assert.equal(bd.decision.decided_by, 'effect');
  assert.equal(bd.decision.test.stat, 'ks');
  assert.ok(bd.decision.test.pvalue < 1e-6 && bd.decision.test.significant, JSON.stringify(bd.decision));
  assert.equal(big.metric, bd.decision.effect.stat, 'leads with the effect that held the verdict back');
  assert.ok(big.value! < big.threshold.fail!, big.message);
  assert.equal(big.threshold.direction, 'above');
  assert.match(big.message, /: ok \[ks p .* < 0\.0500 but (ks_statistic|psi|wasserstein) \S+ < \S+\]$/);
  assert.ok(bd.wasserstein.value > 0.05 && bd.wasserstein.value < 0.15, `normalised Wasserstein of a 0.1-sd shift: ${JSON.stringify(bd.wasserstein)}`);

  const small = x('small');
  const sd = small.detail as any;
  assert.equal(small.status, 'fail', small.message);
  assert.equal(sd.decision.decided_by, 'both');
  assert.ok(sd.decision.test.pvalue < 0.05 && sd.decision.effect.value >= sd.decision.effect.floor, JSON.stringify(sd.decision));
  assert.equal(small.metric, sd.decision.effect.stat);
  assert.equal(small.value, sd.decision.effect.value);
  assert.match(small.message, /: fail \[ks p .* < 0\.0500 and /);

  const few = x('few');
  assert.equal(few.status, 'ok');
  assert.equal(few.insufficientData, true);
  assert.equal(few.metric, 'ks_pvalue');
  assert.equal(few.value, null);
  assert.equal((few.detail as any).decision, null);

  // The dataset verdicts follow the feature verdicts.
  const dataset = (model: string) => findings.find((f) => f.subject.model === model && f.subject.name === '__dataset__')!;
  assert.equal(dataset('big').status, 'ok');
  assert.equal(dataset('small').status, 'fail');

  // Under the test-only rule (before issue 23) the 0.1-sd shift fails: the store holds the same windows.
  const old = await createDriftCheck(driftCheckSchema.parse({ rule: 'test-only' }), { store, registry }).run(now);
  const oldBig = old.find((f) => f.subject.model === 'big' && f.subject.name === 'x')!;
  assert.equal(oldBig.status, 'fail', oldBig.message);
  assert.equal(oldBig.metric, 'ks_pvalue');

  // The gauges still carry PSI and KS per feature.
  check.exportGauges?.(findings);
  const psi = await metrics.psi.get();
  assert.ok(psi.values.some((v) => v.labels.model === 'small' && v.labels.feature === 'x' && v.value === sd.psi.value));
  await profiler.stop();
  await store.close();
});
