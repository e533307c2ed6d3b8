/**
 * Issue 7's "done when", as a user runs it: `driftwatch start --model models:/NAME/Production`
 * with only MLflow's own MLFLOW_TRACKING_URI / _TOKEN set (like MLflow's own clients: no
 * registry configured, so models:/ goes to MLflow, and start-up says so) serves the
 * version MLflow holds in Production through the sidecar, follows a transition without a restart,
 * and the staleness check writes its tags onto the MLflow model version. The MLflow server is the
 * in-test fake (test/fixtures/fake-mlflow-server.ts): no real one can be installed here.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildInto } from '../../examples/seattle-weather/build-model.js';
import { FakeMlflowServer } from '../fixtures/fake-mlflow-server.js';
import { EXAMPLE_MODEL_DIR, FEATURES, ROOT, postJson, tempDir, weatherRows } from '../helpers.js';

const tmp = tempDir();
const TOKEN = 'mlflow-start-token-7f3a';
const fake = new FakeMlflowServer({ auth: { token: TOKEN } });
const CLI = [process.execPath, '--import', import.meta.resolve('tsx'), join(ROOT, 'src', 'cli', 'main.ts')];
let proc: ChildProcess | null = null;
let stderr = '';

before(async () => {
  await fake.start();
});
after(async () => {
  if (proc && proc.exitCode === null) proc.kill('SIGKILL');
  await fake.close();
  tmp.cleanup();
});

async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}\n${stderr}`);
}

test('driftwatch start with registry.kind mlflow: serves Production through the sidecar, follows a transition, tags a stale version in MLflow', async () => {
  fake.addVersion('weather', EXAMPLE_MODEL_DIR);
  fake.transition('weather', '1', 'Production');
  proc = spawn(CLI[0]!, [...CLI.slice(1), 'start', '--model', 'models:/weather/Production'], {
    cwd: tmp.dir,
    env: {
      ...process.env,
      MLFLOW_TRACKING_URI: fake.url,
      MLFLOW_TRACKING_TOKEN: TOKEN,
      DRIFTWATCH_REGISTRY_CACHE_DIR: join(tmp.dir, 'cache'),
      DRIFTWATCH_REGISTRY_POLL_INTERVAL_MS: '200',
      DRIFTWATCH_SERVE_PORT: '0',
      DRIFTWATCH_PROXY_PORT: '0',
      DRIFTWATCH_ADMIN_PORT: '0',
      DRIFTWATCH_LOG_LEVEL: 'debug',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stderr!.on('data', (d) => (stderr += d));
  await until(() => /"msg":"proxy listening"/.test(stderr) || proc!.exitCode !== null, 'the proxy to listen');
  const url = /"msg":"proxy listening","url":"(http:[^"]+)"/.exec(stderr)?.[1];
  const admin = /"msg":"scoring server listening"[^\n]*?"admin":"(http:[^"]+)"/.exec(stderr)?.[1];
  assert.ok(url && admin, stderr);
  assert.doesNotMatch(stderr, /registered the bundled example/, 'nothing uploaded into MLflow');
  assert.match(stderr, new RegExp(`"msg":"model registry","registry":"mlflow ${fake.url.replace(/[.]/g, '\\.')}"`), 'start-up says which registry');

  const probe = { dataframe_split: { columns: FEATURES, data: weatherRows('2015-01-01', '2015-01-05').map((r) => r.features) } };
  const r1 = await postJson(url + '/invocations', probe);
  assert.equal(r1.status, 200, JSON.stringify(r1.json));
  assert.equal(r1.headers.get('x-driftwatch-model-version'), '1');

  // A newer version appears in MLflow: Production (v1) is now stale by the newer-version rule.
  const v2Dir = join(tmp.dir, 'v2');
  buildInto(v2Dir, weatherRows('2014-01-01', '2015-12-31'));
  const v2 = fake.addVersion('weather', v2Dir, { style: 3 });
  const run1 = await fetch(admin + '/api/checks/run', { method: 'POST' });
  assert.equal(run1.status, 200);
  const tags1 = fake.versionTags('weather', '1');
  assert.equal(tags1['driftwatch.stale'], 'true', JSON.stringify(tags1));
  assert.match(tags1['driftwatch.stale_reason'] ?? '', /newer|version/);

  // The team promotes v2 in MLflow: the running start follows it, no restart, no failed request.
  fake.transition('weather', v2, 'Production', true);
  await until(async () => (await postJson(url + '/invocations', probe)).headers.get('x-driftwatch-model-version') === '2', 'the sidecar to answer from v2');
  const run2 = await fetch(admin + '/api/checks/run', { method: 'POST' });
  assert.equal(run2.status, 200);
  assert.equal(fake.versionTags('weather', v2)['driftwatch.stale'], undefined, 'the new Production version is not stale');

  // MLflow goes away: the admin API says so with the error's own status, not a 500.
  await fake.down();
  const ref = await fetch(admin + `/api/reference?model=weather&version=${v2}`);
  const refBody = (await ref.json()) as { code?: string; message?: string };
  assert.equal(ref.status, 503, JSON.stringify(refBody));
  assert.equal(refBody.code, 'DW_ERR_REGISTRY_UNAVAILABLE');
  await fake.up();

  assert.ok(!stderr.includes(TOKEN), 'the token never reaches the log (debug level included)');
  proc.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => (proc!.exitCode !== null ? r(proc!.exitCode) : proc!.on('exit', (c) => r(c))));
  assert.equal(code, 0, stderr);
});
