/**
 * Live swap under load: clients hammer the server while Production (and an alias) move to a new
 * version. Every request must succeed, each client sees version 1 then version 2 (never back), and
 * after the swap the answers are the new model's (checked against onnxruntime directly).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { buildInto } from '../../examples/seattle-weather/build-model.js';
import { LocalRegistry } from '../../src/registry/local-registry.js';
import { EXAMPLE_MODEL_DIR, FEATURES, postJson, startServer, tempDir, weatherRows, type RunningServer } from '../helpers.js';

const tmp = tempDir();
let srv: RunningServer;
let reg: LocalRegistry;
let v2Dir: string;
const probe = weatherRows('2015-06-01', '2015-06-05').map((r) => r.features);

before(async () => {
  reg = new LocalRegistry(join(tmp.dir, 'registry'));
  await reg.createModelVersion({ name: 'weather', sourceDir: EXAMPLE_MODEL_DIR });
  await reg.transitionStage('weather', 1, 'Production');
  await reg.setAlias('weather', 'champion', 1);
  // Version 2: the same pipeline trained on later years, so its answers differ.
  v2Dir = join(tmp.dir, 'v2');
  buildInto(v2Dir, weatherRows('2014-01-01', '2015-12-31'));
  srv = await startServer({
    registryRoot: join(tmp.dir, 'registry'),
    models: [{ uri: 'models:/weather/Production' }, { uri: 'models:/weather@champion', name: 'champion' }],
    pollIntervalMs: 100,
  });
});
after(async () => {
  await srv?.close();
  tmp.cleanup();
});

async function direct(dir: string): Promise<number[]> {
  const s = await ort.InferenceSession.create(join(dir, 'model.onnx'));
  const out = await s.run({ input: new ort.Tensor('float32', Float32Array.from(probe.flat()), [probe.length, 4]) });
  await s.release();
  return [...(out.probabilities!.data as Float32Array)];
}

test('no request fails while Production and an alias move to a new version', async () => {
  const body = JSON.stringify({ dataframe_split: { columns: FEATURES, data: probe } });
  const failures: string[] = [];
  const seen: string[][] = [];
  let stop = false;
  let total = 0;
  const client = async (k: number) => {
    const versions: string[] = [];
    seen[k] = versions;
    // Bounded: at most 4000 requests per client even if the swap never came.
    for (let i = 0; i < 4000 && !stop; i++) {
      const path = k % 2 === 0 ? '/invocations' : '/v2/models/champion/infer';
      const r =
        k % 2 === 0
          ? await postJson(srv.url + path, body)
          : await postJson(srv.url + path, {
              inputs: FEATURES.map((f, j) => ({ name: f, shape: [probe.length], datatype: 'FP64', data: probe.map((p) => p[j]) })),
            });
      total++;
      if (r.status !== 200) failures.push(`${r.status} ${JSON.stringify(r.json)}`);
      const v = r.headers.get('x-driftwatch-model-version')!;
      if (versions[versions.length - 1] !== v) versions.push(v);
    }
  };
  const clients = Array.from({ length: 8 }, (_, k) => client(k));
  // Let traffic flow, then move the stage and the alias to a freshly registered version 2.
  await new Promise((r) => setTimeout(r, 300));
  const mv = await reg.createModelVersion({ name: 'weather', sourceDir: v2Dir });
  await reg.transitionStage('weather', mv.version, 'Production', { archiveExisting: true });
  await reg.setAlias('weather', 'champion', mv.version);
  // Wait (bounded) until both served names report version 2, keep traffic going a little longer.
  for (let i = 0; i < 200; i++) {
    if ([...srv.app.models.values()].every((m) => m.current?.version === '2')) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 300));
  stop = true;
  await Promise.all(clients);

  assert.deepEqual(failures, [], `${failures.length} of ${total} requests failed`);
  assert.ok(total > 50, `only ${total} requests ran`);
  for (const versions of seen) assert.deepEqual(versions, ['1', '2'], 'each client sees v1 then v2, never back');
  const expected = await direct(v2Dir);
  const now = await postJson(srv.url + '/invocations', { dataframe_split: { columns: FEATURES, data: probe } });
  assert.deepEqual(
    now.json.predictions.flatMap((p: any) => p.probabilities.map(Math.fround)),
    expected,
  );
  const before1 = await direct(EXAMPLE_MODEL_DIR);
  assert.notDeepEqual(expected, before1, 'the probe rows must tell the versions apart');
  const metrics = await srv.app.metrics.registry.getSingleMetricAsString('driftwatch_model_swaps_total');
  assert.match(metrics, /driftwatch_model_swaps_total\{model="weather"\} 1/);
});

test('a version that cannot load never replaces the serving one', async () => {
  // Register a broken version 3 (a corrupt ONNX file) and move Production to it.
  const bad = join(tmp.dir, 'broken');
  buildInto(bad, weatherRows('2014-01-01', '2014-03-31'));
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(bad, 'model.onnx'), 'not an onnx model');
  const mv = await reg.createModelVersion({ name: 'weather', sourceDir: bad });
  await reg.transitionStage('weather', mv.version, 'Production', { archiveExisting: true });
  const swapped = await srv.app.reload();
  assert.deepEqual(swapped, []);
  const r = await postJson(srv.url + '/invocations', { instances: probe });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-driftwatch-model-version'), '2');
  const weather = srv.app.models.get('weather')!;
  assert.match(weather.lastError ?? '', /onnxruntime could not load/);
  // Admin API reports it, and the reload trigger works over HTTP.
  const res = await fetch(srv.adminUrl + '/api/reload', { method: 'POST' });
  assert.equal(res.status, 200);
  const body = (await res.json()) as any;
  const view = body.models.find((m: any) => m.name === 'weather');
  assert.equal(view.version, '2');
  assert.match(view.lastError, /could not load/);
});
