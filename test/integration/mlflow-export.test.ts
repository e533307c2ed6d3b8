/** A model directory as MLflow exports it loads unchanged: registered, served, answered. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { readModelDir } from '../../src/model/mlmodel.js';
import { LocalRegistry } from '../../src/registry/local-registry.js';
import { sessionOptionsFor } from '../../src/serve/runtime.js';
import { postJson, ROOT, startServer, tempDir } from '../helpers.js';

const FIXTURE = join(ROOT, 'test', 'fixtures', 'mlflow-onnx-tensor');

test('MLmodel fields MLflow writes are read, unknown ones ignored', () => {
  const m = readModelDir(FIXTURE);
  assert.equal(m.onnx.onnxVersion, '1.15.0');
  assert.equal(m.runId, '4f0a3c9d1e2b4c6a8d7e5f3a1b2c4d6e');
  assert.equal(m.mlflowVersion, '2.9.2');
  assert.equal(m.signature?.inputs?.kind, 'tensor');
  assert.deepEqual(m.signature?.inputs?.specs[0], { kind: 'tensor', name: null, dtype: 'float32', shape: [-1, 4], required: true });
  assert.deepEqual(m.inputExample, {
    inputs: [
      [0, 12.8, 5, 4.7],
      [10.9, 10.6, 2.8, 4.5],
    ],
  });
  const opts = sessionOptionsFor(
    { intraOpNumThreads: 4, interOpNumThreads: 4, graphOptimizationLevel: 'basic', executionMode: 'parallel' },
    m.onnx.sessionOptions,
  );
  assert.equal(opts.intraOpNumThreads, 1);
  assert.equal(opts.graphOptimizationLevel, 'all');
  assert.equal(opts.executionMode, 'sequential');
});

test('registered from the export directory and served: tensor answers as a dict of arrays', async () => {
  const t = tempDir();
  try {
    const reg = new LocalRegistry(join(t.dir, 'reg'));
    const mv = await reg.createModelVersion({ name: 'exported', sourceDir: FIXTURE });
    assert.equal(mv.run_id, '4f0a3c9d1e2b4c6a8d7e5f3a1b2c4d6e', 'run_id comes from MLmodel');
    await reg.setAlias('exported', 'champion', mv.version);
    const s = await startServer({ registryRoot: join(t.dir, 'reg'), models: [{ uri: 'models:/exported@champion' }], admin: { enabled: false } });
    try {
      const r = await postJson(s.url + '/invocations', {
        inputs: [
          [0.0, 12.8, 5.0, 4.7],
          [10.9, 10.6, 2.8, 4.5],
        ],
      });
      assert.equal(r.status, 200);
      assert.deepEqual(r.json.predictions.label, ['sun', 'rain']);
      assert.equal(r.json.predictions.probabilities.length, 2);
      assert.equal(r.json.predictions.probabilities[0].length, 5);
      // A data frame against a tensor signature: still a dict of arrays (MLflow's ONNX flavor).
      const split = await postJson(s.url + '/invocations', { dataframe_split: { data: [[0.0, 12.8, 5.0, 4.7]] } });
      assert.equal(split.status, 200);
      assert.deepEqual(split.json.predictions.label, ['sun']);
    } finally {
      await s.close();
    }
  } finally {
    t.cleanup();
  }
});
