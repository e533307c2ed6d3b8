/**
 * ServedModel's swap protocol with real onnxruntime sessions: the old session stays usable while a
 * request holds it, and is released exactly when the last holder lets go. A version that keeps
 * failing to load, or a URI that stops resolving, is logged with backoff and its recovery once.
 */
import assert from 'node:assert/strict';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildInto } from '../../examples/seattle-weather/build-model.js';
import { LocalRegistry } from '../../src/registry/local-registry.js';
import { parseModelUri } from '../../src/registry/model-uri.js';
import { ServedModel } from '../../src/serve/served-model.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { createServeMetrics } from '../../src/telemetry/metrics.js';
import { EXAMPLE_MODEL_DIR, memoryLogger, tempDir, weatherRows } from '../helpers.js';

const feeds = { input: { type: 'float32' as const, data: Float32Array.from([0, 12.8, 5, 4.7]), dims: [1, 4] } };

test('the old session is released only after its last in-flight request', async () => {
  const t = tempDir();
  try {
    const reg = new LocalRegistry(join(t.dir, 'reg'));
    await reg.createModelVersion({ name: 'w', sourceDir: EXAMPLE_MODEL_DIR });
    await reg.setAlias('w', 'live', 1);
    const served = new ServedModel('w', parseModelUri('models:/w@live'), {
      registry: reg,
      onnx: { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' },
      logger: createLogger({ level: 'silent' }),
      metrics: createServeMetrics({ defaultMetrics: false }),
    });
    assert.equal(await served.refresh(), true);
    const v1 = served.acquire()!; // a request in flight on version 1
    const v1b = served.acquire()!; // and another
    const v2dir = join(t.dir, 'v2');
    buildInto(v2dir, weatherRows('2014-01-01', '2014-12-31'));
    await reg.createModelVersion({ name: 'w', sourceDir: v2dir });
    await reg.setAlias('w', 'live', 2);
    assert.equal(await served.refresh(), true, 'swapped');
    assert.equal(served.current!.version, '2');
    assert.equal(v1.retired, true);
    // Both holders can still run on version 1.
    assert.equal(((await v1.session.run(feeds)).label!.data as string[]).length, 1);
    served.release(v1);
    assert.equal(v1.disposed, undefined, 'not released while a holder remains');
    assert.equal(((await v1b.session.run(feeds)).label!.data as string[]).length, 1, 'still open while one holder remains');
    served.release(v1b);
    assert.ok(v1.disposed, 'release started with the last holder');
    await v1.disposed;
    await assert.rejects(v1.session.run(feeds), 'the old session is closed after the last holder');
    // Re-resolving to the same version is not a swap.
    assert.equal(await served.refresh(), false);
    await served.close();
  } finally {
    t.cleanup();
  }
});

test('a version that keeps failing to load is logged once, then with a doubling gap, and its recovery once; so is a URI that stops resolving', async () => {
  const t = tempDir();
  try {
    const reg = new LocalRegistry(join(t.dir, 'reg'));
    await reg.createModelVersion({ name: 'w', sourceDir: EXAMPLE_MODEL_DIR });
    await reg.setAlias('w', 'live', 1);
    // Version 2: a valid MLflow model directory whose ONNX file onnxruntime refuses.
    const broken = join(t.dir, 'broken');
    cpSync(EXAMPLE_MODEL_DIR, broken, { recursive: true });
    writeFileSync(join(broken, 'model.onnx'), 'not an onnx graph');
    await reg.createModelVersion({ name: 'w', sourceDir: broken });
    let now = 1_000_000;
    const { logger, lines } = memoryLogger('info');
    const served = new ServedModel('w', parseModelUri('models:/w@live'), {
      registry: reg,
      onnx: { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' },
      logger,
      metrics: createServeMetrics({ defaultMetrics: false }),
      now: () => now,
    });
    assert.equal(await served.refresh(), true);
    await reg.setAlias('w', 'live', 2);
    const loadLines = () => lines.filter((l) => l.includes('loading a new model version failed'));
    // Polls every 5 s for 10 minutes: logged at 0, then after 1 min, 2 more, 4 more (7 min).
    for (let i = 0; i < 120; i++) {
      assert.equal(await served.refresh(), false);
      now += 5_000;
    }
    assert.equal(served.current!.version, '1', 'the loaded version keeps serving');
    const logged = loadLines().map((l) => JSON.parse(l));
    assert.equal(logged.length, 4, logged.map((l) => JSON.stringify(l)).join('\n'));
    assert.deepEqual(
      logged.map((l) => l.failures),
      [1, 13, 37, 85],
    );
    assert.ok(logged.every((l) => l.version === '2'));
    // A third version that loads: one line says the failures are over.
    await reg.createModelVersion({ name: 'w', sourceDir: EXAMPLE_MODEL_DIR });
    await reg.setAlias('w', 'live', 3);
    assert.equal(await served.refresh(), true);
    const recovered = lines.filter((l) => l.includes('loads again after failed attempts')).map((l) => JSON.parse(l));
    assert.equal(recovered.length, 1);
    assert.equal(recovered[0].failedVersion, '2');
    assert.equal(recovered[0].failedAttempts, 120);

    // The alias goes away: the registry answered, so it is "unresolved", logged once, not per poll.
    await reg.deleteAlias('w', 'live');
    for (let i = 0; i < 10; i++) {
      assert.equal(await served.refresh(), false);
      now += 5_000;
    }
    assert.equal(served.registryErrorKind, 'unresolved');
    assert.equal(lines.filter((l) => l.includes('no longer resolves in the registry')).length, 1);
    await reg.setAlias('w', 'live', 3);
    assert.equal(await served.refresh(), false);
    assert.equal(served.registryError, null);
    assert.equal(served.registryErrorKind, null);
    const back = lines.filter((l) => l.includes('the registry answers again')).map((l) => JSON.parse(l));
    assert.equal(back.length, 1, 'one line marks the recovery');
    assert.equal(back[0].level, 'info');
    assert.equal(back[0].failedPolls, 10);
    await served.close();
  } finally {
    t.cleanup();
  }
});
