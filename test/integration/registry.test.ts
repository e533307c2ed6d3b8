/**
 * The local registry on a real temp directory: versions, stages, aliases, tags, URI resolution,
 * atomic writes, and concurrent writers in separate processes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { LocalRegistry } from '../../src/registry/local-registry.js';
import { parseModelUri } from '../../src/registry/model-uri.js';
import { EXAMPLE_MODEL_DIR, ROOT, tempDir } from '../helpers.js';

const tmp = tempDir();
after(() => tmp.cleanup());
const code = (c: string) => (e: any) => e.code === c;

test('register, stages, aliases, tags and every URI form', async () => {
  let clock = 1_700_000_000_000;
  const reg = new LocalRegistry(join(tmp.dir, 'r1'), { now: () => clock++ });
  const v1 = await reg.createModelVersion({ name: 'weather', sourceDir: EXAMPLE_MODEL_DIR, description: 'first' });
  assert.equal(v1.version, '1');
  assert.equal(v1.current_stage, 'None');
  assert.equal(v1.status, 'READY');
  assert.equal(typeof v1.creation_timestamp, 'number');
  assert.ok(existsSync(join(tmp.dir, 'r1', 'models', 'weather', 'versions', '1', 'model.onnx')), 'artifacts are copied');
  const v2 = await reg.createModelVersion({ name: 'weather', sourceDir: EXAMPLE_MODEL_DIR, tags: { team: 'ml' } });
  assert.equal(v2.version, '2');
  assert.deepEqual(v2.tags, [{ key: 'team', value: 'ml' }]);

  await reg.transitionStage('weather', 1, 'Production');
  await reg.transitionStage('weather', 2, 'Staging');
  await reg.setAlias('weather', 'champion', 1);
  const resolve = async (u: string) => (await reg.resolve(parseModelUri(u))).version;
  assert.equal(await resolve('models:/weather/1'), '1');
  assert.equal(await resolve('models:/weather/production'), '1');
  assert.equal(await resolve('models:/weather/Staging'), '2');
  assert.equal(await resolve('models:/weather/latest'), '2');
  assert.equal(await resolve('models:/weather@champion'), '1');
  assert.equal((await reg.resolve(parseModelUri(EXAMPLE_MODEL_DIR))).dir, EXAMPLE_MODEL_DIR);

  // MLflow: several versions may share a stage; the stage URI means the newest of them.
  await reg.transitionStage('weather', 2, 'Production');
  assert.equal(await resolve('models:/weather/Production'), '2');
  assert.equal((await reg.getModelVersion('weather', 1)).current_stage, 'Production');
  await reg.transitionStage('weather', 1, 'Production', { archiveExisting: true });
  assert.equal((await reg.getModelVersion('weather', 2)).current_stage, 'Archived');

  await reg.setAlias('weather', 'champion', 2); // moves the alias
  assert.deepEqual((await reg.getModelVersion('weather', 2)).aliases, ['champion']);
  assert.deepEqual((await reg.getModelVersion('weather', 1)).aliases, []);
  await reg.setModelVersionTag('weather', 1, 'driftwatch.stale', 'true');
  assert.deepEqual((await reg.getModelVersion('weather', 1)).tags, [{ key: 'driftwatch.stale', value: 'true' }]);
  await reg.deleteModelVersionTag('weather', 1, 'driftwatch.stale');
  assert.deepEqual((await reg.getModelVersion('weather', 1)).tags, []);

  const model = await reg.getRegisteredModel('weather');
  assert.deepEqual(model.aliases, [{ alias: 'champion', version: '2' }]);
  assert.deepEqual(
    model.latest_versions.map((v) => [v.version, v.current_stage]),
    [
      ['1', 'Production'],
      ['2', 'Archived'],
    ],
  );
  assert.deepEqual(
    (await reg.listRegisteredModels()).map((m) => m.name),
    ['weather'],
  );
});

test('clear errors for unknown names, versions, stages and aliases', async () => {
  const reg = new LocalRegistry(join(tmp.dir, 'r2'));
  await assert.rejects(reg.getRegisteredModel('nope'), (e: any) => e.code === 'DW_ERR_REGISTRY_MODEL_NOT_FOUND' && /nope/.test(e.message));
  await reg.createModelVersion({ name: 'm', sourceDir: EXAMPLE_MODEL_DIR });
  await assert.rejects(reg.getModelVersion('m', 9), (e: any) => e.code === 'DW_ERR_REGISTRY_VERSION_NOT_FOUND' && /versions: 1/.test(e.message));
  await assert.rejects(reg.resolve(parseModelUri('models:/m/Production')), (e: any) => /no version in stage Production/.test(e.message));
  await assert.rejects(reg.resolve(parseModelUri('models:/m@gone')), code('DW_ERR_REGISTRY_ALIAS_NOT_FOUND'));
  await assert.rejects(reg.setAlias('m', 'latest', 1), code('DW_ERR_REGISTRY_INVALID'));
  await assert.rejects(reg.setAlias('m', 'v3', 1), code('DW_ERR_REGISTRY_INVALID'));
  await assert.rejects(reg.transitionStage('m', 1, 'Prod' as any), code('DW_ERR_REGISTRY_INVALID'));
  await assert.rejects(reg.createModelVersion({ name: '../evil', sourceDir: EXAMPLE_MODEL_DIR }), code('DW_ERR_REGISTRY_INVALID'));
  await assert.rejects(
    reg.createModelVersion({ name: 'm', sourceDir: tmp.dir }),
    (e: any) => e.code === 'DW_ERR_MODEL_INVALID' && /no MLmodel/.test(e.message),
  );
  // A corrupt document is reported with its path, not as a crash.
  writeFileSync(join(tmp.dir, 'r2', 'models', 'm', 'registered_model.json'), '{"torn');
  await assert.rejects(reg.getRegisteredModel('m'), (e: any) => e.code === 'DW_ERR_REGISTRY_CORRUPT' && /registered_model\.json/.test(e.message));
});

test('a model directory without an onnx flavor is refused with the flavors it has', async () => {
  const dir = join(tmp.dir, 'sk');
  mkdirSync(dir);
  writeFileSync(join(dir, 'MLmodel'), 'flavors:\n  sklearn:\n    pickled_model: model.pkl\n  python_function: {}\n');
  const reg = new LocalRegistry(join(tmp.dir, 'r3'));
  await assert.rejects(reg.createModelVersion({ name: 'sk', sourceDir: dir }), (e: any) =>
    /no "onnx" flavor \(flavors: sklearn, python_function\)/.test(e.message),
  );
});

test('concurrent writers in separate processes, starting from a stale lock, never lose a version or tear the file', async () => {
  const root = join(tmp.dir, 'r4');
  const script = `
    import { LocalRegistry } from ${JSON.stringify(join(ROOT, 'src/registry/local-registry.ts'))};
    const reg = new LocalRegistry(process.argv[2]);
    for (let i = 0; i < 5; i++) {
      await reg.createModelVersion({ name: 'race', sourceDir: process.argv[3] });
      await reg.setModelVersionTag('race', 1, 'writer-' + process.pid + '-' + i, 'x').catch(() => {});
    }
  `;
  const file = join(tmp.dir, 'writer.mts');
  writeFileSync(file, script);
  const run = () =>
    new Promise<number>((resolve) => {
      const p = spawn(process.execPath, ['--import', 'tsx', file, root, EXAMPLE_MODEL_DIR], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
      p.on('exit', (c) => resolve(c ?? 1));
    });
  // A lock left by a process that died (pid far above any live one): writers must take it over,
  // exactly one at a time.
  mkdirSync(join(root, 'models', 'race'), { recursive: true });
  writeFileSync(join(root, 'models', 'race', '.lock'), '2147483646');
  const codes = await Promise.all([run(), run(), run(), run()]);
  assert.deepEqual(codes, [0, 0, 0, 0]);
  const doc = JSON.parse(readFileSync(join(root, 'models', 'race', 'registered_model.json'), 'utf8'));
  assert.deepEqual(
    doc.model_versions.map((v: any) => Number(v.version)).sort((a: number, b: number) => a - b),
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  assert.deepEqual(
    readdirSync(join(root, 'models', 'race', 'versions')).sort((a, b) => Number(a) - Number(b)),
    Array.from({ length: 20 }, (_, i) => String(i + 1)),
  );
  assert.equal(readdirSync(join(root, 'models', 'race')).filter((f) => f.endsWith('.tmp') || f === '.lock').length, 0, 'no temp or lock files left');
});

test('regression: a lock left with our own pid (a previous process that had it) does not block', async () => {
  const root = join(tmp.dir, 'r5');
  const reg = new LocalRegistry(root);
  mkdirSync(join(root, 'models', 'mine'), { recursive: true });
  writeFileSync(join(root, 'models', 'mine', '.lock'), String(process.pid));
  const mv = await reg.createModelVersion({ name: 'mine', sourceDir: EXAMPLE_MODEL_DIR });
  assert.equal(mv.version, '1');
});

test('regression: registering a directory that contains the registry is a clear error, not a copy loop', async () => {
  const { cpSync } = await import('node:fs');
  const modelDir = join(tmp.dir, 'self-model');
  cpSync(EXAMPLE_MODEL_DIR, modelDir, { recursive: true });
  const reg = new LocalRegistry(join(modelDir, '.driftwatch', 'registry'));
  await assert.rejects(
    reg.createModelVersion({ name: 'self', sourceDir: modelDir }),
    (e: any) => e.code === 'DW_ERR_REGISTRY_INVALID' && /lies inside the model directory/.test(e.message),
  );
});
