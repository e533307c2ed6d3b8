/**
 * The MLflow registry backend against an in-test MLflow server (test/fixtures/fake-mlflow-server.ts:
 * no real MLflow can be installed here). Adapter: every URI kind, paging, the 400 for a missing
 * alias, artifact download into the verified cache and its reuse across restarts, re-download of
 * a corrupt cache, tags, references, credentials never logged, start-up against a dead server.
 * End to end: the real scoring server serves a Production ONNX version from MLflow, follows a
 * stage and alias move without restart, keeps serving while MLflow is down (health degraded,
 * driftwatch_registry_up 0) and recovers; the staleness check writes driftwatch.stale* tags onto
 * the MLflow version; `driftwatch registry list/show` work against it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildInto } from '../../examples/seattle-weather/build-model.js';
import { createAnalyzerApp } from '../../src/app/analyzer-app.js';
import { createRegistry } from '../../src/app/backends.js';
import { createServeApp, type ServeApp } from '../../src/app/serve-app.js';
import { loadConfig } from '../../src/config/load.js';
import { MLFLOW_ENDPOINTS, MlflowRegistry } from '../../src/registry/mlflow-registry.js';
import { parseModelUri } from '../../src/registry/model-uri.js';
import { STALE_REASON_TAG, STALE_SINCE_TAG, STALE_TAG } from '../../src/registry/staleness-check.js';
import { EmbeddedStore } from '../../src/store/embedded.js';
import { createLogger, type Logger } from '../../src/telemetry/logger.js';
import { createServeMetrics } from '../../src/telemetry/metrics.js';
import { buildReferenceFromFile } from '../../src/reference/build-reference.js';
import { writeRowSumModel } from '../dynamic-model.js';
import { FakeMlflowServer } from '../fixtures/fake-mlflow-server.js';
import { EXAMPLE_MODEL_DIR, FEATURES, ROOT, memoryLogger, postJson, tempDir, weatherRows } from '../helpers.js';

const TOKEN = 'mlflow-secret-token-7f3a9c';
const tmp = tempDir('dw-mlflow-');
after(() => tmp.cleanup());
const silent = createLogger({ level: 'silent' });
let cacheN = 0;
const freshCache = () => join(tmp.dir, `cache-${++cacheN}`);

function registryFor(
  fake: FakeMlflowServer,
  opts: { cacheDir?: string; logger?: Logger; pageSize?: number; token?: string; retries?: number; username?: string; password?: string } = {},
) {
  return new MlflowRegistry({
    trackingUri: fake.url,
    credentials: opts.username ? { username: opts.username, password: opts.password } : { token: opts.token ?? TOKEN },
    cacheDir: opts.cacheDir ?? freshCache(),
    retries: opts.retries ?? 0,
    retryDelayMs: 1,
    timeoutMs: 5000,
    ...(opts.pageSize ? { pageSize: opts.pageSize } : {}),
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
}

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<Error> {
  let err: Error | null = null;
  try {
    await p;
  } catch (e) {
    err = e as Error;
  }
  assert.ok(err, `expected ${code}, got success`);
  assert.equal((err as { code?: string }).code, code, err.message);
  if (message) assert.match(err.message, message);
  return err;
}

/** Polls cond every 25 ms, at most `tries` times (a bound, not a wall-clock assertion). */
async function until(cond: () => boolean | Promise<boolean>, what: string, tries = 400): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`timed out waiting for: ${what}`);
}

describe('MLflow registry adapter', () => {
  const fake = new FakeMlflowServer({ auth: { token: TOKEN } });
  const rowSumDir = writeRowSumModel(join(tmp.dir, 'rowsum'));
  before(async () => {
    await fake.start();
    fake.addVersion('weather', EXAMPLE_MODEL_DIR); // v1, MLflow 2 layout (run artifacts)
    fake.addVersion('weather', rowSumDir, { style: 3 }); // v2, MLflow 3 layout (logged model)
    fake.addVersion('weather', EXAMPLE_MODEL_DIR, { status: 'PENDING_REGISTRATION' }); // v3, not READY
    fake.transition('weather', '1', 'Production');
    fake.transition('weather', '2', 'Staging');
    fake.setAlias('weather', 'champion', '2');
  });
  after(() => fake.close());

  test('resolves every URI kind to a verified local copy of the version', async () => {
    const reg = registryFor(fake);
    const cases: Array<[string, string]> = [
      ['models:/weather/1', '1'],
      ['models:/weather/Production', '1'],
      ['models:/weather/production', '1'],
      ['models:/weather/Staging', '2'],
      ['models:/weather/latest', '2'], // v3 is PENDING_REGISTRATION: not a version yet
      ['models:/weather@champion', '2'],
    ];
    for (const [uri, version] of cases) {
      const r = await reg.resolve(parseModelUri(uri));
      assert.equal(r.version, version, uri);
      assert.equal(r.name, 'weather');
      const src = version === '1' ? EXAMPLE_MODEL_DIR : rowSumDir;
      assert.deepEqual(readFileSync(join(r.dir, 'model.onnx')), readFileSync(join(src, 'model.onnx')), `${uri}: the downloaded model is the registered one`);
      assert.deepEqual(readFileSync(join(r.dir, 'MLmodel'), 'utf8'), readFileSync(join(src, 'MLmodel'), 'utf8'));
    }
    await rejectsWith(reg.resolve(parseModelUri('models:/weather@missing')), 'DW_ERR_REGISTRY_ALIAS_NOT_FOUND', /no alias "missing"/);
    // ... and the server really answered 400 INVALID_PARAMETER_VALUE for it, not 404.
    const aliasCall = fake.requests.filter((r) => r.path === '/api/2.0/mlflow/registered-models/alias' && r.query.alias?.[0] === 'missing');
    assert.equal(aliasCall.length, 1);
    await rejectsWith(reg.resolve(parseModelUri('models:/weather/Archived')), 'DW_ERR_REGISTRY_VERSION_NOT_FOUND', /no READY version in stage Archived/);
    await rejectsWith(reg.resolve(parseModelUri('models:/weather/9')), 'DW_ERR_REGISTRY_VERSION_NOT_FOUND', /no version "9"/);
    await rejectsWith(reg.resolve(parseModelUri('models:/weather/3')), 'DW_ERR_REGISTRY_VERSION_NOT_FOUND', /not READY/);
    await rejectsWith(reg.resolve(parseModelUri('models:/nope/Production')), 'DW_ERR_REGISTRY_MODEL_NOT_FOUND', /name=nope not found/);
    await rejectsWith(reg.resolve(parseModelUri('models:/nope@champion')), 'DW_ERR_REGISTRY_MODEL_NOT_FOUND');
  });

  test('every POST and DELETE carries Content-Type: application/json and a JSON body; GETs carry none', async () => {
    const reg = registryFor(fake);
    await reg.setModelVersionTag('weather', 1, 'team', 'forecast');
    assert.equal(fake.versionTags('weather', '1').team, 'forecast');
    await reg.deleteModelVersionTag('weather', '1', 'team');
    assert.equal(fake.versionTags('weather', '1').team, undefined);
    await reg.setAlias('weather', 'challenger', 1);
    assert.equal(fake.models.get('weather')!.aliases.get('challenger'), '1');
    await reg.deleteAlias('weather', 'challenger');
    assert.equal(fake.models.get('weather')!.aliases.has('challenger'), false);
    const writes = fake.requests.filter((r) => r.method === 'POST' || r.method === 'DELETE');
    assert.ok(writes.length >= 4);
    for (const w of writes) {
      assert.equal(w.contentType, 'application/json', `${w.method} ${w.path}`);
      assert.equal(typeof JSON.parse(w.body), 'object');
      assert.deepEqual(w.query, {}, 'parameters in the body, not the query string');
    }
    const del = fake.requests.find((r) => r.method === 'DELETE' && r.path.endsWith('/model-versions/delete-tag'))!;
    assert.deepEqual(JSON.parse(del.body), { name: 'weather', version: '1', key: 'team' });
    // The fake refuses what a real server refuses (so the checks above mean something).
    const bare = await fetch(`${fake.url}/api/2.0/mlflow/model-versions/set-tag`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: Buffer.from(JSON.stringify({ name: 'weather', version: '1', key: 'k', value: 'v' })),
    });
    assert.equal(bare.status, 400);
    assert.deepEqual(await bare.json(), { error_code: 'INVALID_PARAMETER_VALUE', message: 'Bad Request. Content-Type header is missing.' });
    const queryDelete = await fetch(`${fake.url}/api/2.0/mlflow/registered-models/alias?name=weather&alias=champion`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(queryDelete.status, 400, 'DELETE parameters in the query string are not read');
    // Tag and alias errors map to driftwatch codes.
    await rejectsWith(reg.setModelVersionTag('weather', 9, 'k', 'v'), 'DW_ERR_REGISTRY_VERSION_NOT_FOUND');
    await rejectsWith(reg.setAlias('weather', 'latest', 1), 'DW_ERR_REGISTRY_INVALID', /reserved/);
    await rejectsWith(reg.transitionStage('weather', 1, 'Bogus' as never), 'DW_ERR_REGISTRY_INVALID');
  });

  test('lists page through max_results/page_token and carry aliases although search does not', async () => {
    const paged = new FakeMlflowServer();
    await paged.start();
    try {
      for (let i = 0; i < 5; i++) paged.createModel(`m${i}`);
      for (let i = 0; i < 5; i++) paged.addVersion('m0', EXAMPLE_MODEL_DIR);
      paged.setAlias('m0', 'champion', '4');
      paged.transition('m0', '5', 'Production');
      const reg = registryFor(paged, { pageSize: 2 });
      const models = await reg.listRegisteredModels();
      assert.deepEqual(
        models.map((m) => m.name),
        ['m0', 'm1', 'm2', 'm3', 'm4'],
      );
      const searches = paged.calls('/api/2.0/mlflow/registered-models/search');
      assert.equal(searches.length, 3, '5 models in pages of 2');
      assert.ok(searches.slice(1).every((r) => r.query.page_token?.length === 1));
      assert.deepEqual(models[0]!.aliases, [{ alias: 'champion', version: '4' }]);
      const versions = await reg.listModelVersions('m0');
      assert.deepEqual(
        versions.map((v) => v.version),
        ['1', '2', '3', '4', '5'],
      );
      assert.equal(paged.calls('/api/2.0/mlflow/model-versions/search').length, 3);
      // search items carry no aliases: they come from registered-models/get
      const raw = (await (await fetch(`${paged.url}/api/2.0/mlflow/model-versions/search?filter=${encodeURIComponent("name='m0'")}`)).json()) as any;
      assert.ok(raw.model_versions.every((v: any) => !('aliases' in v)));
      assert.deepEqual(versions.find((v) => v.version === '4')!.aliases, ['champion']);
      assert.equal(typeof versions[0]!.creation_timestamp, 'number');
      assert.equal((await reg.resolve(parseModelUri('models:/m0/Production'))).version, '5');
      assert.equal((await reg.resolve(parseModelUri('models:/m0/latest'))).version, '5');
      // An empty search answers {} (proto3 leaves empty lists out)
      assert.deepEqual(await reg.listModelVersions('m1'), []);
      // The fake caps max_results as MLflow does
      const tooMany = await fetch(`${paged.url}/api/2.0/mlflow/registered-models/search?max_results=5000`);
      assert.equal(tooMany.status, 400);
    } finally {
      await paged.close();
    }
  });

  test('the cache is reused across restarts, and a corrupt cache is downloaded again', async () => {
    const cacheDir = freshCache();
    const first = registryFor(fake, { cacheDir });
    const before1 = fake.downloads();
    const r1 = await first.resolve(parseModelUri('models:/weather/Production'));
    const filesOfV1 = fake.downloads() - before1;
    assert.ok(filesOfV1 >= 3, `downloaded ${filesOfV1} files`);
    assert.ok(existsSync(join(r1.dir, '..', 'manifest.json')), 'a manifest is written after the download');
    // The same process asks again: no download, no listing.
    const lists = fake.calls('/api/2.0/mlflow-artifacts/artifacts').length;
    await first.resolve(parseModelUri('models:/weather/Production'));
    assert.equal(fake.downloads() - before1, filesOfV1);
    assert.equal(fake.calls('/api/2.0/mlflow-artifacts/artifacts').length, lists);
    // A restart (a new instance on the same cache directory): verified, not downloaded.
    const second = registryFor(fake, { cacheDir });
    const r2 = await second.resolve(parseModelUri('models:/weather/Production'));
    assert.equal(r2.dir, r1.dir);
    assert.equal(fake.downloads() - before1, filesOfV1, 'reused across restarts');
    // A truncated model file: the next process notices and downloads again.
    const onnx = join(r1.dir, 'model.onnx');
    writeFileSync(onnx, readFileSync(onnx).subarray(0, 10));
    const { logger, lines } = memoryLogger();
    const third = registryFor(fake, { cacheDir, logger });
    const r3 = await third.resolve(parseModelUri('models:/weather/Production'));
    assert.equal(fake.downloads() - before1, 2 * filesOfV1);
    assert.deepEqual(readFileSync(join(r3.dir, 'model.onnx')), readFileSync(join(EXAMPLE_MODEL_DIR, 'model.onnx')));
    assert.ok(
      lines.some((l) => l.includes('failed verification')),
      'the re-download is logged',
    );
    // Same size, different bytes: the hash catches it.
    const bytes = readFileSync(onnx);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    writeFileSync(onnx, bytes);
    await registryFor(fake, { cacheDir }).resolve(parseModelUri('models:/weather/Production'));
    assert.equal(fake.downloads() - before1, 3 * filesOfV1);
  });

  test('a missing artifact (500) fails the resolve and leaves no cache entry that looks complete', async () => {
    const broken = new FakeMlflowServer();
    await broken.start();
    try {
      const v = broken.addVersion('b', EXAMPLE_MODEL_DIR);
      const onnxKey = [...broken.artifacts.keys()].find((k) => k.endsWith('/model.onnx'))!;
      // Listed, but gone from the artifact store: the proxy answers 500 for it.
      broken.brokenArtifacts.add(onnxKey);
      const reg = registryFor(broken, { retries: 2 });
      const err = await rejectsWith(reg.resolve(parseModelUri(`models:/b/${v}`)), 'DW_ERR_REGISTRY_ARTIFACT', /INTERNAL_ERROR/);
      assert.match(err.message, /model\.onnx/);
      assert.equal(broken.requests.filter((r) => r.path.endsWith('/model.onnx')).length, 1, 'a 500 is not retried');
      assert.ok(!existsSync(join(reg.cache.root, 'b', v, 'manifest.json')), 'no entry for a failed download');
      assert.ok(!existsSync(join(reg.cache.root, 'b', v)), 'nothing at the final path');
      // An unsafe name in a listing is refused, not followed.
      broken.brokenArtifacts.clear();
      broken.artifacts.set(onnxKey.replace('model.onnx', '..'), Buffer.from('x'));
      await rejectsWith(reg.resolve(parseModelUri(`models:/b/${v}`)), 'DW_ERR_REGISTRY_ARTIFACT', /unsafe artifact name/);
      broken.artifacts.delete(onnxKey.replace('model.onnx', '..'));
      const ok = await reg.resolve(parseModelUri(`models:/b/${v}`));
      assert.deepEqual(readFileSync(join(ok.dir, 'model.onnx')), readFileSync(join(EXAMPLE_MODEL_DIR, 'model.onnx')));
    } finally {
      await broken.close();
    }
  });

  test('an artifact location outside the proxy is refused with a clear error', async () => {
    const other = new FakeMlflowServer();
    await other.start();
    try {
      other.addVersion('s3model', EXAMPLE_MODEL_DIR);
      other.models.get('s3model')!.versions.get('1')!.downloadUri = 's3://bucket/models/1';
      await rejectsWith(registryFor(other).resolve(parseModelUri('models:/s3model/1')), 'DW_ERR_REGISTRY_UNSUPPORTED', /s3:\/\/bucket.*--serve-artifacts/);
      // Something that is not an MLflow API at that URI (Flask's HTML 404 for every route).
      const notMlflow = new MlflowRegistry({ trackingUri: `${other.url}/not-mlflow`, cacheDir: freshCache(), retries: 0 });
      await rejectsWith(notMlflow.listRegisteredModels(), 'DW_ERR_REGISTRY_UNSUPPORTED', /HTTP 404: <!doctype html>.*is it an MLflow tracking server/);
    } finally {
      await other.close();
    }
  });

  test('createModelVersion uploads the directory, registers it, and it resolves back', async () => {
    const reg = registryFor(fake);
    const mv = await reg.createModelVersion({ name: 'uploaded', sourceDir: EXAMPLE_MODEL_DIR, description: 'from driftwatch', tags: { owner: 'tests' } });
    assert.equal(mv.version, '1');
    assert.match(mv.source, /^mlflow-artifacts:\/driftwatch\/uploads\/uploaded\//);
    assert.equal(mv.description, 'from driftwatch');
    assert.deepEqual(mv.tags, [{ key: 'owner', value: 'tests' }]);
    const moved = await reg.transitionStage('uploaded', '1', 'Production', { archiveExisting: true });
    assert.equal(moved.current_stage, 'Production');
    const r = await reg.resolve(parseModelUri('models:/uploaded/Production'));
    assert.deepEqual(readFileSync(join(r.dir, 'model.onnx')), readFileSync(join(EXAMPLE_MODEL_DIR, 'model.onnx')));
    const second = await reg.createModelVersion({ name: 'uploaded', sourceDir: EXAMPLE_MODEL_DIR });
    assert.equal(second.version, '2', 'an existing registered model gets a new version');
  });

  test('reference profiles are stored as MLflow artifacts behind a version tag, shared by every reader', async () => {
    const writer = registryFor(fake);
    const built = await buildReferenceFromFile(
      { registry: writer, now: Date.now },
      {
        modelUri: 'models:/weather/1',
        dataPath: join(ROOT, 'examples', 'seattle-weather', 'training.csv'),
        settings: { bins: 10, sketchK: 256, maxCategories: 100 },
      },
    );
    const pointer = fake.versionTags('weather', '1')['driftwatch.reference']!;
    assert.match(pointer, /^mlflow-artifacts:\/driftwatch\/references\/weather\/1\/[0-9a-f]{64}\.json$/);
    assert.ok(fake.artifacts.has(pointer.slice('mlflow-artifacts:/'.length)));
    // Another process, another cache: it reads the same profile from MLflow.
    const reader = registryFor(fake);
    const got = await reader.getReference('weather', '1');
    assert.deepEqual(got, JSON.parse(JSON.stringify(built.reference)));
    assert.equal(await reader.getReference('weather', '2'), null, 'no tag, no reference');
  });

  test('credentials: Bearer and Basic are sent, refused ones are a clear error, and none is ever logged', async () => {
    const { logger, lines } = memoryLogger('debug');
    // Bearer against the token server: every request so far carried it.
    assert.ok(fake.requests.length > 0 && fake.requests.every((r) => r.authorization === `Bearer ${TOKEN}`));
    const wrong = registryFor(fake, { token: 'wrong-token-value-123', logger });
    const e = await rejectsWith(wrong.listRegisteredModels(), 'DW_ERR_REGISTRY_UNAUTHORIZED', /HTTP 401.*MLFLOW_TRACKING_TOKEN/);
    assert.ok(!e.message.includes('wrong-token-value-123'));
    // Basic auth.
    const basicServer = new FakeMlflowServer({ auth: { username: 'alice', password: 'pa55-w0rd-s3cret' } });
    await basicServer.start();
    try {
      basicServer.addVersion('w', EXAMPLE_MODEL_DIR);
      const basic = registryFor(basicServer, { username: 'alice', password: 'pa55-w0rd-s3cret', logger });
      assert.equal((await basic.resolve(parseModelUri('models:/w/latest'))).version, '1');
      assert.ok(basicServer.requests.every((r) => r.authorization?.startsWith('Basic ')));
      await basicServer.down();
      await rejectsWith(
        registryFor(basicServer, { username: 'alice', password: 'pa55-w0rd-s3cret', logger, retries: 2 }).listRegisteredModels(),
        'DW_ERR_REGISTRY_UNAVAILABLE',
      );
    } finally {
      await basicServer.close();
    }
    // Through the whole composition: config with the token from the environment, logged config at debug.
    const cfg = loadConfig({
      env: { MLFLOW_TRACKING_URI: fake.url, MLFLOW_TRACKING_TOKEN: TOKEN },
      overrides: {
        registry: { kind: 'mlflow', cacheDir: freshCache(), retries: 0 },
        serve: { port: 0, models: [{ uri: 'models:/weather/Production' }] },
        admin: { enabled: false },
        log: { level: 'debug' },
      },
    });
    assert.equal(cfg.registry.token, TOKEN);
    const app = createServeApp(cfg, { logger });
    await app.start();
    await app.close();
    const secrets = [TOKEN, 'pa55-w0rd-s3cret', 'wrong-token-value-123', Buffer.from('alice:pa55-w0rd-s3cret').toString('base64')];
    assert.ok(lines.length > 3, 'something was logged');
    for (const s of secrets) for (const l of lines) assert.ok(!l.includes(s), `a secret reached the log: ${l}`);
  });

  test('transient 503s are retried with backoff; a dead server at start-up is an error naming the URI after the stated attempts', async () => {
    const reg = registryFor(fake, { retries: 2 });
    const n = fake.requests.length;
    fake.failNext(2, 503);
    assert.ok((await reg.listModelVersions('weather')).length >= 2, 'succeeded on the third attempt');
    assert.equal(fake.requests.slice(n).filter((r) => r.path === '/api/2.0/mlflow/registered-models/get').length, 3);
    fake.failNext(10, 503);
    const e = await rejectsWith(reg.getRegisteredModel('weather'), 'DW_ERR_REGISTRY_UNAVAILABLE');
    assert.match(e.message, new RegExp(`MLflow tracking server ${fake.url.replace(/[.]/g, '\\.')} unreachable .* after 3 attempts: HTTP 503`));
    fake.clearFailures();

    // The scoring server against a port nobody listens on: start() fails, naming the server.
    const dead = new FakeMlflowServer();
    await dead.start();
    const deadUrl = dead.url;
    await dead.close();
    const cfg = loadConfig({
      env: {},
      overrides: {
        registry: { kind: 'mlflow', trackingUri: deadUrl, cacheDir: freshCache(), retries: 2, retryDelayMs: 1 },
        serve: { port: 0, models: [{ uri: 'models:/weather/Production' }] },
        admin: { enabled: false },
        log: { level: 'silent' },
      },
    });
    const app = createServeApp(cfg, { logger: silent });
    await rejectsWith(
      app.start(),
      'DW_ERR_REGISTRY_UNAVAILABLE',
      new RegExp(`${deadUrl.replace(/[.]/g, '\\.')} unreachable \\(GET model-versions/search\\) after 3 attempts: ECONNREFUSED`),
    );
    await app.close();
  });

  test('every REST call made is one of MLFLOW_ENDPOINTS (the documented surface)', () => {
    const listed = new Set(MLFLOW_ENDPOINTS.map((e) => e.endpoint));
    const made = new Set(
      fake.requests.filter((r) => r.path.startsWith('/api/2.0/mlflow/')).map((r) => `${r.method} ${r.path.slice('/api/2.0/mlflow/'.length)}`),
    );
    assert.ok(made.size >= 10, [...made].join(', '));
    for (const m of made) assert.ok(listed.has(m as never), `${m} is not in MLFLOW_ENDPOINTS`);
    const artifactCalls = new Set(
      fake.requests
        .filter((r) => r.path.startsWith('/api/2.0/mlflow-artifacts/'))
        .map((r) => `${r.method} ${r.path === '/api/2.0/mlflow-artifacts/artifacts' ? 'list' : 'file'}`),
    );
    assert.deepEqual([...artifactCalls].sort(), ['GET file', 'GET list', 'PUT file']);
  });

  test('config: kind mlflow needs a tracking URI; MLFLOW_* fill only what is unset; credentials in the URI are refused', () => {
    assert.throws(() => loadConfig({ env: {}, overrides: { registry: { kind: 'mlflow' } } }), /registry\.trackingUri: registry\.kind mlflow needs trackingUri/);
    assert.throws(
      () => loadConfig({ env: {}, overrides: { registry: { kind: 'mlflow', trackingUri: 'http://u:p@mlflow:5000' } } }),
      /must not carry credentials/,
    );
    assert.throws(() => loadConfig({ env: {}, overrides: { registry: { kind: 'mlflow', trackingUri: 'file:./mlruns' } } }), /http:\/\/ or https:\/\//);
    assert.throws(
      () => loadConfig({ env: { MLFLOW_TRACKING_USERNAME: 'bob' }, overrides: { registry: { kind: 'mlflow', trackingUri: 'http://mlflow:5000' } } }),
      /needs both registry\.username and registry\.password/,
    );
    const fromEnv = loadConfig({
      env: { DRIFTWATCH_REGISTRY_KIND: 'mlflow', MLFLOW_TRACKING_URI: 'http://env:5000', MLFLOW_TRACKING_USERNAME: 'u', MLFLOW_TRACKING_PASSWORD: 'p' },
    });
    assert.equal(fromEnv.registry.trackingUri, 'http://env:5000');
    assert.equal(fromEnv.registry.username, 'u');
    const explicit = loadConfig({
      env: { MLFLOW_TRACKING_URI: 'http://env:5000' },
      overrides: { registry: { kind: 'mlflow', trackingUri: 'http://flag:5000' } },
    });
    assert.equal(explicit.registry.trackingUri, 'http://flag:5000');
    // A local-registry config ignores MLflow's variables, even a non-HTTP one.
    const local = loadConfig({ env: { MLFLOW_TRACKING_URI: 'file:./mlruns' } });
    assert.equal(local.registry.kind, 'local');
    assert.equal(local.registry.trackingUri, undefined);
  });

  test('config: MLFLOW_TRACKING_URI chooses MLflow when no registry is configured; an explicit kind or root wins', () => {
    const env = { MLFLOW_TRACKING_URI: 'http://env:5000', MLFLOW_TRACKING_TOKEN: 't' };
    const implicit = loadConfig({ env });
    assert.equal(implicit.registry.kind, 'mlflow');
    assert.equal(implicit.registry.trackingUri, 'http://env:5000');
    assert.equal(implicit.registry.token, 't');
    assert.equal(loadConfig({ env: { ...env, DRIFTWATCH_REGISTRY_KIND: 'local' } }).registry.kind, 'local');
    assert.equal(loadConfig({ env, overrides: { registry: { kind: 'local' } } }).registry.kind, 'local');
    assert.equal(
      loadConfig({ env, overrides: { registry: { root: join(tmp.dir, 'explicit-root') } } }).registry.kind,
      'local',
      'an explicit local root means the local registry',
    );
    // MLflow's other URI kinds (a directory, databricks) are not servers driftwatch can use.
    assert.equal(loadConfig({ env: { MLFLOW_TRACKING_URI: 'databricks' } }).registry.kind, 'local');
    // Start-up says which registry is in use, without credentials.
    const { logger, lines } = memoryLogger();
    createRegistry(
      loadConfig({ env: { MLFLOW_TRACKING_URI: 'https://mlflow.example:5000/prefix/', MLFLOW_TRACKING_USERNAME: 'u', MLFLOW_TRACKING_PASSWORD: 'secret-pw' } }),
      { logger },
    );
    const line = JSON.parse(lines.find((l) => l.includes('"msg":"model registry"'))!);
    assert.equal(line.registry, 'mlflow https://mlflow.example:5000/prefix');
    assert.ok(!lines.join('').includes('secret-pw'));
  });
});

describe('end to end: the scoring server follows a model that lives in MLflow', () => {
  const fake = new FakeMlflowServer({ auth: { token: TOKEN } });
  let app: ServeApp;
  let url: string;
  let adminUrl: string;
  const probe = weatherRows('2015-06-01', '2015-06-05').map((r) => r.features);
  const body = { dataframe_split: { columns: FEATURES, data: probe } };
  const v2Dir = join(tmp.dir, 'e2e-v2');

  before(async () => {
    await fake.start();
    fake.addVersion('weather', EXAMPLE_MODEL_DIR);
    fake.transition('weather', '1', 'Production');
    fake.setAlias('weather', 'champion', '1');
    buildInto(v2Dir, weatherRows('2014-01-01', '2015-12-31')); // trained on later years: different answers
    const config = loadConfig({
      env: { MLFLOW_TRACKING_URI: fake.url, MLFLOW_TRACKING_TOKEN: TOKEN },
      overrides: {
        registry: { kind: 'mlflow', cacheDir: join(tmp.dir, 'e2e-cache'), pollIntervalMs: 100, retries: 0, retryDelayMs: 1, timeoutMs: 2000 },
        serve: { port: 0, models: [{ uri: 'models:/weather/Production' }, { uri: 'models:/weather@champion', name: 'champion' }] },
        admin: { port: 0 },
        log: { level: 'silent' },
      },
    });
    app = createServeApp(config, { logger: silent });
    const addr = await app.start();
    url = `http://127.0.0.1:${addr.scoring.port}`;
    adminUrl = `http://127.0.0.1:${addr.admin!.port}`;
  });
  after(async () => {
    await app?.close();
    await fake.close();
  });

  const metric = async (name: string) => app.metrics.registry.getSingleMetricAsString(name);

  test('serves the Production version, swaps on a transition and an alias move, keeps serving while MLflow is down, recovers', async () => {
    const r1 = await postJson(url + '/invocations', body);
    assert.equal(r1.status, 200, JSON.stringify(r1.json));
    assert.equal(r1.headers.get('x-driftwatch-model-version'), '1');
    const v1Answer = r1.json.predictions;
    const health0 = await fetch(url + '/health');
    assert.equal(health0.status, 200);
    assert.equal(await health0.text(), '\n', 'healthy: MLflow scoring server answer');
    assert.match(await metric('driftwatch_registry_up'), /driftwatch_registry_up 1/);

    // A new version is registered in MLflow and promoted; the alias moves too.
    const v2 = fake.addVersion('weather', v2Dir, { style: 3 });
    fake.transition('weather', v2, 'Production', true);
    await until(() => app.models.get('weather')!.current?.version === '2', 'Production swap to v2');
    assert.equal(app.models.get('champion')!.current?.version, '1', 'the alias has not moved yet');
    fake.setAlias('weather', 'champion', v2);
    await until(() => app.models.get('champion')!.current?.version === '2', 'alias swap to v2');
    const r2 = await postJson(url + '/invocations', body);
    assert.equal(r2.headers.get('x-driftwatch-model-version'), '2');
    assert.notDeepEqual(r2.json.predictions, v1Answer, 'answers of the new model');
    const oip = await postJson(url + '/v2/models/champion/infer', {
      inputs: FEATURES.map((f, j) => ({ name: f, shape: [probe.length], datatype: 'FP64', data: probe.map((p) => p[j]) })),
    });
    assert.equal(oip.status, 200);
    assert.equal(oip.json.model_version, '2');
    assert.match(await metric('driftwatch_model_swaps_total'), /model="weather"\} 1/);

    // MLflow goes away: the loaded versions keep serving, health says degraded, metrics say so.
    await fake.down();
    await until(async () => ((await fetch(url + '/health').then((r) => r.text())) as string).includes('degraded'), 'health degraded');
    const h = await fetch(url + '/health');
    assert.equal(h.status, 200, 'still serving: a probe must not pull the replica');
    const hb = (await h.json()) as any;
    assert.equal(hb.status, 'degraded');
    assert.deepEqual(
      hb.models,
      ['weather', 'champion'].filter((n) => hb.models.includes(n)),
    );
    assert.ok(hb.models.includes('weather'));
    assert.ok(!JSON.stringify(hb).includes(fake.url), 'the public port does not name the internal registry URI');
    const r3 = await postJson(url + '/invocations', body);
    assert.equal(r3.status, 200);
    assert.equal(r3.headers.get('x-driftwatch-model-version'), '2');
    assert.match(await metric('driftwatch_registry_up'), /driftwatch_registry_up 0/);
    assert.match(await metric('driftwatch_registry_poll_errors_total'), /driftwatch_registry_poll_errors_total\{model="weather"\} [1-9]/);
    const hz = (await (await fetch(adminUrl + '/healthz')).json()) as any;
    assert.equal(hz.status, 'degraded');
    assert.ok(hz.models.every((m: any) => typeof m.registryError === 'string'));
    assert.match(hz.models[0].registryError, new RegExp(`${fake.url.replace(/[.]/g, '\\.')} unreachable`), 'the reason is on the admin port');
    assert.equal(hb.registry, 'unreachable');

    // MLflow comes back: it recovers by itself, and follows a move made meanwhile.
    fake.transition('weather', '1', 'Production', true); // a rollback made while we could not see it
    await fake.up();
    await until(async () => (await fetch(url + '/health').then((r) => r.text())) === '\n', 'health recovered');
    assert.match(await metric('driftwatch_registry_up'), /driftwatch_registry_up 1/);
    await until(() => app.models.get('weather')!.current?.version === '1', 'rollback followed after recovery');
    const hz2 = (await (await fetch(adminUrl + '/healthz')).json()) as any;
    assert.equal(hz2.status, 'ok');
    assert.ok(
      hz2.models.every((m: any) => m.lastError === null),
      'a resolve that works again clears its error',
    );
  });

  test('an alias that goes missing is "unresolved" on /health, not an unreachable registry', async () => {
    const before = fake.models.get('weather')!.aliases.get('champion')!;
    fake.models.get('weather')!.aliases.delete('champion');
    try {
      await until(async () => ((await fetch(url + '/health').then((r) => r.text())) as string).includes('degraded'), 'health degraded');
      const hb = (await (await fetch(url + '/health')).json()) as any;
      assert.equal(hb.registry, 'unresolved', JSON.stringify(hb));
      assert.deepEqual(hb.models, ['champion']);
      assert.match(await metric('driftwatch_registry_up'), /driftwatch_registry_up 1/, 'the registry answered: it is up');
      const hz = (await (await fetch(adminUrl + '/healthz')).json()) as any;
      assert.match(hz.models.find((m: any) => m.name === 'champion').registryError, /no alias "champion"/);
    } finally {
      fake.setAlias('weather', 'champion', before);
    }
    await until(async () => (await fetch(url + '/health').then((r) => r.text())) === '\n', 'health recovered');
  });
});

describe('staleness tags and the CLI against MLflow', () => {
  const fake = new FakeMlflowServer({ auth: { token: TOKEN } });
  const DAY = 86_400_000;
  before(async () => {
    await fake.start();
    fake.addVersion('fraud', EXAMPLE_MODEL_DIR, { createdAtMs: Date.now() - 100 * DAY });
    fake.transition('fraud', '1', 'Production');
  });
  after(() => fake.close());

  const config = () =>
    loadConfig({
      env: { MLFLOW_TRACKING_TOKEN: TOKEN },
      overrides: {
        registry: { kind: 'mlflow', trackingUri: fake.url, cacheDir: join(tmp.dir, 'stale-cache'), retries: 0 },
        admin: { port: 0 },
        log: { level: 'silent' },
        checks: { findingsPath: join(tmp.dir, 'stale-findings.db'), staleness: { noTraffic: '', maxProductionAgeDays: 90 } },
      },
    });

  test('the staleness check writes driftwatch.stale* tags onto the MLflow version and clears them after a promotion', async () => {
    const cfg = config();
    const store = new EmbeddedStore({ path: join(tmp.dir, 'stale.db'), retentionDays: 30, rollupAfterHours: 48 });
    const analyzer = createAnalyzerApp(cfg, { store, registry: createRegistry(cfg), logger: silent });
    try {
      const fs = await analyzer.runner.run('staleness');
      const age = fs.find((f) => f.subject.model === 'fraud' && f.subject.name === 'age')!;
      assert.equal(age.status, 'warn', age.message);
      const tags = fake.versionTags('fraud', '1');
      assert.equal(tags[STALE_TAG], 'true');
      assert.equal(tags[STALE_REASON_TAG], 'registered more than 90 days ago');
      assert.ok(Date.parse(tags[STALE_SINCE_TAG]!) > 0);
      // A newer version is promoted in MLflow: the old one's flags go away, the new one has none.
      const v2 = fake.addVersion('fraud', EXAMPLE_MODEL_DIR);
      fake.transition('fraud', v2, 'Production', true);
      await analyzer.runner.run('staleness');
      assert.ok(!Object.keys(fake.versionTags('fraud', '1')).some((k) => k.startsWith('driftwatch.stale')), JSON.stringify(fake.versionTags('fraud', '1')));
      assert.equal(fake.versionTags('fraud', v2)[STALE_TAG], undefined);
      const deletes = fake.requests.filter((r) => r.method === 'DELETE' && r.path.endsWith('/model-versions/delete-tag'));
      assert.equal(deletes.length, 3, 'stale, stale_reason and stale_since deleted with JSON bodies');
    } finally {
      await analyzer.close();
      await store.close();
    }
  });

  test('driftwatch reference build with only MLFLOW_TRACKING_URI set: stored in MLflow, and says so', async () => {
    const proc = spawn(
      process.execPath,
      [
        '--import',
        import.meta.resolve('tsx'),
        join(ROOT, 'src', 'cli', 'main.ts'),
        'reference',
        'build',
        '--model',
        'models:/fraud/1',
        '--data',
        join(ROOT, 'examples', 'seattle-weather', 'training.csv'),
      ],
      {
        cwd: tmp.dir,
        env: {
          ...process.env,
          DRIFTWATCH_REGISTRY_KIND: undefined,
          MLFLOW_TRACKING_URI: fake.url,
          MLFLOW_TRACKING_TOKEN: TOKEN,
          DRIFTWATCH_REGISTRY_CACHE_DIR: join(tmp.dir, 'ref-cli-cache'),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => proc.on('close', resolve));
    assert.equal(code, 0, stderr);
    const pointer = fake.versionTags('fraud', '1')['driftwatch.reference'];
    assert.ok(pointer, 'the reference went to MLflow, not to a local registry');
    const said = /^stored with fraud version 1 in (.*)$/m.exec(stdout)?.[1] ?? '';
    assert.equal(said, `MLflow ${fake.url}, artifact ${pointer} (model version tag driftwatch.reference)`, stdout);
    assert.ok(!existsSync(join(tmp.dir, '.driftwatch', 'registry')), 'no local registry was created');
  });

  test('driftwatch registry list and show work against MLflow', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        // Async spawn: the fake server answers from this process's event loop.
        const proc = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(ROOT, 'src', 'cli', 'main.ts'), ...args], {
          cwd: tmp.dir,
          env: {
            ...process.env,
            DRIFTWATCH_REGISTRY_KIND: 'mlflow',
            MLFLOW_TRACKING_URI: fake.url,
            MLFLOW_TRACKING_TOKEN: TOKEN,
            DRIFTWATCH_REGISTRY_CACHE_DIR: join(tmp.dir, 'cli-cache'),
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        proc.stdout.on('data', (d) => (stdout += d));
        proc.stderr.on('data', (d) => (stderr += d));
        proc.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    const list = await run(['registry', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^fraud\s+.*Production:v2/m);
    const show = await run(['registry', 'show', 'fraud', '--json']);
    assert.equal(show.code, 0, show.stderr);
    const doc = JSON.parse(show.stdout);
    assert.deepEqual(
      doc.model_versions.map((v: any) => [v.version, v.current_stage]),
      [
        ['1', 'Archived'],
        ['2', 'Production'],
      ],
    );
    assert.ok(!show.stderr.includes(TOKEN) && !list.stderr.includes(TOKEN));
  });
});

describe('registry corners, answered as a real MLflow 2.22 answers them', () => {
  const fake = new FakeMlflowServer({ auth: { token: TOKEN } });
  const DAY = 86_400_000;
  before(async () => {
    await fake.start();
    fake.addVersion('fraud', EXAMPLE_MODEL_DIR, { createdAtMs: Date.now() - 100 * DAY });
    fake.transition('fraud', '1', 'Production');
    fake.addVersion("o'brien", EXAMPLE_MODEL_DIR);
    fake.transition("o'brien", '1', 'Production');
    fake.addVersion('say "hi"', EXAMPLE_MODEL_DIR);
  });
  after(() => fake.close());

  test('a read-only MLflow user: the staleness findings are kept, failed tag writes counted and logged once per version and reason', async () => {
    const cfg = loadConfig({
      env: { MLFLOW_TRACKING_TOKEN: TOKEN },
      overrides: {
        registry: { kind: 'mlflow', trackingUri: fake.url, cacheDir: join(tmp.dir, 'ro-cache'), retries: 0 },
        admin: { port: 0 },
        log: { level: 'silent' },
        checks: { findingsPath: join(tmp.dir, 'ro-findings.db'), staleness: { noTraffic: '', maxProductionAgeDays: 90 } },
      },
    });
    const { logger, lines } = memoryLogger();
    const store = new EmbeddedStore({ path: join(tmp.dir, 'ro.db'), retentionDays: 30, rollupAfterHours: 48 });
    const metricsRegistry = createServeMetrics({ defaultMetrics: false }).registry;
    const analyzer = createAnalyzerApp(cfg, { store, registry: createRegistry(cfg), logger, metricsRegistry });
    fake.readOnly = true;
    try {
      for (let i = 0; i < 3; i++) {
        const fs = await analyzer.runner.run('staleness');
        const age = fs.find((f) => f.subject.model === 'fraud' && f.subject.name === 'age');
        assert.ok(age, JSON.stringify(fs));
        assert.equal(age.status, 'warn', age.message);
      }
      assert.deepEqual(fake.versionTags('fraud', '1'), {}, 'nothing written');
      const metrics = await metricsRegistry.getSingleMetricAsString('driftwatch_registry_tag_write_errors_total');
      assert.match(metrics, /driftwatch_registry_tag_write_errors_total\{reason="unauthorized"\} 3/);
      const warned = lines.filter((l) => l.includes('could not write the stale tags'));
      assert.equal(warned.length, 1, 'once per version and reason, not every run');
      const w = JSON.parse(warned[0]!);
      assert.equal(w.model, 'fraud');
      assert.equal(w.version, '1');
      assert.equal(w.reason, 'unauthorized');
      assert.ok(!lines.join('').includes(TOKEN));
      assert.equal(analyzer.findings.latest({ check: 'staleness' }).find((f) => f.subject.name === 'age')?.status, 'warn', 'the findings reached the history');
    } finally {
      fake.readOnly = false;
      await analyzer.close();
      await store.close();
    }
  });

  test('transitions to None/Archived do not ask MLflow to archive others; MLflow refusing a write is its error, not "unavailable"', async () => {
    const reg = registryFor(fake);
    const v2 = fake.addVersion('fraud', EXAMPLE_MODEL_DIR);
    const moved = await reg.transitionStage('fraud', v2, 'Archived', { archiveExisting: true });
    assert.equal(moved.current_stage, 'Archived');
    const sent = JSON.parse(fake.calls('/api/2.0/mlflow/model-versions/transition-stage').at(-1)!.body);
    assert.equal(sent.archive_existing_versions, false);
    await reg.transitionStage('fraud', v2, 'None', { archiveExisting: true });
    // The same call as MLflow's own client can make it: a 500 INTERNAL_ERROR with MLflow's message.
    const err = await rejectsWith(
      reg.client.call('POST model-versions/transition-stage', { name: 'fraud', version: v2, stage: 'Archived', archive_existing_versions: true }),
      'DW_ERR_REGISTRY_INVALID',
      /INTERNAL_ERROR: Model version transition cannot archive existing model versions because 'Archived' is not an Active stage/,
    );
    assert.doesNotMatch(err.message, /unreachable/);
    assert.equal(fake.versionTags('fraud', '1')['driftwatch.stale'], undefined);
  });

  test('deleting a tag the version does not have succeeds (200 {})', async () => {
    const reg = registryFor(fake);
    await reg.deleteModelVersionTag('fraud', '1', 'driftwatch.never-set');
  });

  test("names with a quote resolve by stage and latest: the search filter quotes them as MLflow's parser requires", async () => {
    const reg = registryFor(fake);
    for (const uri of ["models:/o'brien/Production", "models:/o'brien/latest"]) {
      const r = await reg.resolve(parseModelUri(uri));
      assert.equal(r.name, "o'brien", uri);
      assert.equal(r.version, '1', uri);
    }
    const latest = await reg.resolve(parseModelUri('models:/say "hi"/latest'));
    assert.equal(latest.version, '1');
    const filters = fake.calls('/api/2.0/mlflow/model-versions/search').map((r) => r.query.filter?.[0]);
    assert.ok(filters.includes(`name="o'brien"`), JSON.stringify(filters));
    assert.ok(filters.includes(`name='say "hi"'`), JSON.stringify(filters));
    assert.deepEqual(
      (await reg.listModelVersions("o'brien")).map((v) => v.version),
      ['1'],
    );
  });

  test('a missing model asked by version: MLflow says "Model Version ... not found"; driftwatch says the model is missing', async () => {
    const reg = registryFor(fake);
    const res = await fetch(`${fake.url}/api/2.0/mlflow/model-versions/get?name=nope&version=1`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), { error_code: 'RESOURCE_DOES_NOT_EXIST', message: 'Model Version (name=nope, version=1) not found' });
    await rejectsWith(reg.resolve(parseModelUri('models:/nope/1')), 'DW_ERR_REGISTRY_MODEL_NOT_FOUND', /name=nope not found/);
    await rejectsWith(reg.getModelVersion('fraud', '99'), 'DW_ERR_REGISTRY_VERSION_NOT_FOUND', /no version "99"/);
  });
});
