/**
 * `driftwatch proxy --model-version Production` (issue 19 item 7): the label is resolved through
 * the registry at start and on every registry poll, so the traffic is recorded under the version
 * that answers (and its reference applies); requests the upstream refuses (4xx) before scoring
 * never create a version of their own ("unknown"). Real processes, a real local registry, a
 * foreign upstream that names no version, as MLflow's does not.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EXAMPLE_MODEL_DIR, ROOT, tempDir } from '../helpers.js';

const tmp = tempDir('dw-proxy-version-');
const CLI = [process.execPath, '--import', import.meta.resolve('tsx'), join(ROOT, 'src', 'cli', 'main.ts')];
const ENV = {
  DRIFTWATCH_REGISTRY_ROOT: join(tmp.dir, 'reg'),
  DRIFTWATCH_REGISTRY_POLL_INTERVAL_MS: '200',
  DRIFTWATCH_ADMIN_PORT: '0',
  DRIFTWATCH_LOG_LEVEL: 'info',
};

function cli(...args: string[]) {
  const r = spawnSync(CLI[0]!, [...CLI.slice(1), ...args], { cwd: tmp.dir, env: { ...process.env, ...ENV }, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
}

let upstream: Server;
let upstreamUrl = '';
before(async () => {
  // Answers 400 to a body it cannot read (refused before scoring), 200 to the rest; no version header.
  upstream = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const refused = body.includes('"bad"');
      res.writeHead(refused ? 400 : 200, { 'content-type': 'application/json' });
      res.end(refused ? '{"error_code":"BAD_REQUEST","message":"no such column"}' : '{"predictions": ["sun"]}');
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  cli('registry', 'register', '--name', 'weather', '--path', EXAMPLE_MODEL_DIR);
  cli('registry', 'register', '--name', 'weather', '--path', EXAMPLE_MODEL_DIR);
  cli('registry', 'transition', 'weather', '1', '--stage', 'Production');
});
after(() => {
  upstream.close();
  tmp.cleanup();
});

async function launch(args: string[], env: Record<string, string> = {}): Promise<{ proc: ChildProcess; url: string; admin: string; stderr: () => string }> {
  const proc = spawn(CLI[0]!, [...CLI.slice(1), 'proxy', '--upstream', upstreamUrl, '--port', '0', ...args], {
    cwd: tmp.dir,
    env: { ...process.env, ...ENV, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  for (let i = 0; i < 600 && !/"msg":"proxy listening"/.test(err); i++) {
    if (proc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const m = /"msg":"proxy listening","url":"(http:[^"]+)".*?"admin":"(http:[^"]+)"/.exec(err);
  assert.ok(m, err);
  return { proc, url: m[1]!, admin: m[2]!, stderr: () => err };
}

const post = (url: string, body: string) =>
  fetch(`${url}/invocations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((r) => r.status);
const GOOD = '{"dataframe_split":{"columns":["precipitation","temp_max","temp_min","wind"],"data":[[0.0,12.8,5.0,4.7]]}}';
const BAD = '{"dataframe_split":{"columns":["bad"],"data":[[1]]}}';

async function versions(admin: string, until: (v: Record<string, number>) => boolean): Promise<Record<string, number>> {
  let seen: Record<string, number> = {};
  for (let i = 0; i < 100; i++) {
    const t = (await (await fetch(`${admin}/api/traffic`)).json()) as { models: Array<{ model: string; version: string; requests: number }> };
    seen = Object.fromEntries(t.models.filter((m) => m.model === 'weather').map((m) => [m.version, m.requests]));
    if (until(seen)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return seen;
}

test('--model-version Production follows the stage: version 1, then 2 after the transition; a refused request creates no version', async () => {
  const { proc, url, admin, stderr } = await launch(['--model', 'weather', '--model-version', 'Production']);
  try {
    assert.equal(await post(url, BAD), 400);
    assert.equal(await post(url, GOOD), 200);
    let seen = await versions(admin, (v) => (v['1'] ?? 0) >= 2);
    assert.deepEqual(seen, { '1': 2 }, 'recorded under the resolved version 1, never under "Production" or "unknown"');
    cli('registry', 'transition', 'weather', '2', '--stage', 'Production', '--archive-existing');
    for (let i = 0; i < 100 && !/"msg":"proxy model version resolved"[^\n]*"version":"2"/.test(stderr()); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await post(url, GOOD), 200);
    seen = await versions(admin, (v) => (v['2'] ?? 0) >= 1);
    assert.deepEqual(seen, { '1': 2, '2': 1 }, 'the registry poll moved the label to version 2');
  } finally {
    proc.kill('SIGTERM');
  }
});

test('without --model-version: answered traffic has no version; refused traffic creates none', async () => {
  const { proc, url, admin } = await launch(['--model', 'weather']);
  try {
    assert.equal(await post(url, BAD), 400);
    assert.equal(await post(url, BAD), 400);
    assert.equal(await post(url, GOOD), 200);
    const seen = await versions(admin, (v) => (v.unknown ?? 0) >= 1);
    assert.deepEqual(seen, { unknown: 1 }, 'only the scored request is counted, under no version');
  } finally {
    proc.kill('SIGTERM');
  }
});

test('an alias the registry does not know is kept as the operator label', async () => {
  const { proc, url, admin } = await launch(['--model', 'weather', '--model-version', 'canary-a']);
  try {
    assert.equal(await post(url, GOOD), 200);
    assert.deepEqual(await versions(admin, (v) => (v['canary-a'] ?? 0) >= 1), { 'canary-a': 1 });
  } finally {
    proc.kill('SIGTERM');
  }
});

test('with labels enabled, the prediction log takes the class names from the served model (MLmodel metadata.classes)', async () => {
  const { proc, stderr } = await launch(['--model', 'weather', '--model-version', 'Production'], {
    DRIFTWATCH_LABELS_ENABLED: 'true',
    DRIFTWATCH_LABELS_PATH: join(tmp.dir, 'predictions.db'),
  });
  try {
    const line = stderr()
      .split('\n')
      .find((l) => l.includes('"msg":"prediction log class names from the model"'));
    assert.ok(line, stderr());
    assert.deepEqual(JSON.parse(line).classes, ['drizzle', 'fog', 'rain', 'snow', 'sun']);
  } finally {
    proc.kill('SIGTERM');
  }
});
