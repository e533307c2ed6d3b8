/**
 * ServedModel's swap protocol with real onnxruntime sessions: the old session stays usable while a
 * request holds it, and is released exactly when the last holder lets go.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildInto } from '../../examples/seattle-weather/build-model.js';
import { LocalRegistry } from '../../src/registry/local-registry.js';
import { parseModelUri } from '../../src/registry/model-uri.js';
import { ServedModel } from '../../src/serve/served-model.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { createServeMetrics } from '../../src/telemetry/metrics.js';
import { EXAMPLE_MODEL_DIR, tempDir, weatherRows } from '../helpers.js';

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
