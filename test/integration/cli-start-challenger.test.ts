/**
 * `driftwatch start --challenger URI [--shadow-sample S]`: the one served model (here the bundled
 * example, registered on a fresh directory) gets the challenger, and the admin API of the running
 * process shows the comparison; the flags that cannot apply are refused with a usage error before
 * anything starts.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { EXAMPLE_MODEL_DIR, FEATURES, postJson, ROOT, tempDir, weatherRows } from '../helpers.js';

const tmp = tempDir('dw-start-challenger-');
after(() => tmp.cleanup());
const CLI = [process.execPath, '--import', import.meta.resolve('tsx'), join(ROOT, 'src', 'cli', 'main.ts')];
const ENV = {
  DRIFTWATCH_REGISTRY_ROOT: join(tmp.dir, 'reg'),
  DRIFTWATCH_SERVE_PORT: '0',
  DRIFTWATCH_PROXY_PORT: '0',
  DRIFTWATCH_LOG_LEVEL: 'info',
  DRIFTWATCH_CHECKS_FINDINGS_PATH: join(tmp.dir, 'findings.db'),
};

test('start --challenger DIR --shadow-sample 1: the example is shadowed, the admin API shows the comparison', async () => {
  const proc = spawn(CLI[0]!, [...CLI.slice(1), 'start', '--challenger', EXAMPLE_MODEL_DIR, '--shadow-sample', '1', '--admin-port', '0'], {
    cwd: tmp.dir,
    env: { ...process.env, ...ENV },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const line = async (re: RegExp) => {
    for (let i = 0; i < 1200; i++) {
      const m = re.exec(err);
      if (m) return m;
      if (proc.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no ${re} in:\n${err}`);
  };
  try {
    const admin = JSON.parse((await line(/"msg":"scoring server listening"[^\n]*?"admin":("http:[^"]+")/))[1]!) as string;
    const url = (await line(/"msg":"proxy listening","url":"(http:[^"]+)"/))[1]!;
    await line(/api\/challenger/);
    const rows = weatherRows('2015-01-01', '2015-01-10').map((r) => r.features);
    for (let i = 0; i < 10; i++) assert.equal((await postJson(`${url}/invocations`, { dataframe_split: { columns: FEATURES, data: rows } })).status, 200);
    let report: any = null;
    for (let i = 0; i < 100; i++) {
      report = await (await fetch(`${admin}/api/challenger`)).json();
      if (report.models[0]?.comparisons[0]?.requests === 10) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const m = report.models[0];
    assert.equal(m.model, 'seattle-weather');
    assert.equal(m.sampleRate, 1);
    assert.equal(m.challenger.uri, EXAMPLE_MODEL_DIR);
    const c = m.comparisons[0];
    // The challenger is the example's own directory: the same model, so every label agrees.
    assert.deepEqual([c.requests, c.rows, c.agreement], [10, 100, 1]);
    const models = (await (await fetch(`${admin}/api/models`)).json()) as any;
    assert.deepEqual(models.models[0].challenger, { uri: EXAMPLE_MODEL_DIR, version: '1', sampleRate: 1 });
  } finally {
    proc.kill('SIGTERM');
  }
  await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.on('exit', r)));
  assert.equal(proc.exitCode, 0, err.slice(-2000));
});

test('start refuses challenger flags that cannot apply, before anything starts', () => {
  const twoModels = join(tmp.dir, 'two.yaml');
  writeFileSync(twoModels, 'serve:\n  models:\n    - { uri: "models:/a/1" }\n    - { uri: "models:/b/1" }\n');
  const cases: Array<[string[], RegExp]> = [
    [['--model', 'models:/a/1', '--shadow-sample', '0.5'], /--shadow-sample goes with --challenger/],
    [['--shadow-sample', '0.5'], /--shadow-sample goes with --challenger/],
    [['--challenger', 'models:/a/1', '--shadow-sample', '2'], /--shadow-sample must be a number from 0 to 1/],
    [['--challenger', 'models:/a/nope'], /neither a version number/],
    [['--config', twoModels, '--challenger', 'models:/a/2'], /several in serve.models/],
  ];
  for (const [args, re] of cases) {
    const r = spawnSync(CLI[0]!, [...CLI.slice(1), 'start', ...args], { cwd: tmp.dir, env: { ...process.env, ...ENV }, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
  }
});
