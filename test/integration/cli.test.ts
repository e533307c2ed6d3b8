/**
 * The `driftwatch` command as a user runs it: real processes, a real registry directory, real
 * HTTP. Covers the README's promise end to end: start the example, score it, register a second
 * version, move Production, see the new version answer without a restart or a failed request.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { buildInto } from '../../examples/seattle-weather/build-model.js';
import { RawConn } from '../fixtures/raw-http.js';
import { FEATURES, EXAMPLE_MODEL_DIR, ROOT, postJson, tempDir, weatherRows } from '../helpers.js';

const tmp = tempDir();
after(() => tmp.cleanup());
// tsx resolved here: the commands run from a temp directory with no node_modules.
const CLI = [process.execPath, '--import', import.meta.resolve('tsx'), join(ROOT, 'src', 'cli', 'main.ts')];

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(CLI[0]!, [...CLI.slice(1), ...args], { cwd: tmp.dir, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts a long-running command and resolves once it logs that it listens; returns its URLs. */
function launch(args: string[], env: Record<string, string>): Promise<{ proc: ChildProcess; url: string; adminUrl: string | null; stderr: () => string }> {
  const proc = spawn(CLI[0]!, [...CLI.slice(1), ...args], { cwd: tmp.dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`did not start within 60 s:\n${err}`));
    }, 60_000);
    proc.stderr!.on('data', (d) => {
      err += d;
      const m = /"msg":"scoring server listening"[^\n]*?"url":"(http:[^"]+)","admin":(null|"http:[^"]+")/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, url: m[1]!, adminUrl: m[2] === 'null' ? null : JSON.parse(m[2]!), stderr: () => err });
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before listening:\n${err}`));
    });
  });
}

const exited = (p: ChildProcess) => new Promise<number | null>((r) => (p.exitCode !== null ? r(p.exitCode) : p.on('exit', (c) => r(c))));

test('registry commands and their errors', () => {
  const env = { DRIFTWATCH_REGISTRY_ROOT: join(tmp.dir, 'reg-cli') };
  let r = cli(['registry', 'register', '--name', 'weather', '--path', EXAMPLE_MODEL_DIR], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Registered weather version 1/);
  r = cli(['registry', 'transition', 'weather', '1', '--stage', 'production'], env);
  assert.match(r.stdout, /version 1 is now in stage Production/);
  r = cli(['registry', 'set-alias', 'weather', 'champion', '1'], env);
  assert.equal(r.code, 0, r.stderr);
  r = cli(['registry', 'tag', 'weather', '1', 'owner', 'ml-team'], env);
  assert.equal(r.code, 0, r.stderr);
  r = cli(['registry', 'show', 'weather'], env);
  assert.match(r.stdout, /^1\s+Production\s+champion\s+\S+ \S+\s+owner=ml-team$/m);
  r = cli(['registry', 'show', 'weather', '--json'], env);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.model_versions[0].version, '1');
  assert.deepEqual(doc.registered_model.aliases, [{ alias: 'champion', version: '1' }]);
  r = cli(['registry', 'list'], env);
  assert.match(r.stdout, /weather\s+Production:v1\s+@champion=v1/);

  r = cli(['registry', 'show', 'ghost'], env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /DW_ERR_REGISTRY_MODEL_NOT_FOUND: registered model "ghost" not found/);
  r = cli(['registry', 'transition', 'weather', '7', '--stage', 'Staging'], env);
  assert.match(r.stderr, /has no version "7" \(versions: 1\)/);
  r = cli(['registry', 'transition', 'weather', '1', '--stage', 'Live'], env);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--stage must be one of/);
  r = cli(['registry', 'frobnicate'], env);
  assert.equal(r.code, 2);
  r = cli(['serve', '--model', 's3://bucket/x'], env);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /DW_ERR_MODEL_URI_INVALID/);
});

test('a bad config is refused at start-up with every problem listed', () => {
  const file = join(tmp.dir, 'bad.yaml');
  writeFileSync(file, 'serve:\n  port: "eighty"\n  bogus: 1\nadmin:\n  host: 0.0.0.0\n');
  const r = cli(['serve', '--model', EXAMPLE_MODEL_DIR, '--config', file], { DRIFTWATCH_SERVE_WORKERZ: '2' });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /DW_ERR_CONFIG_INVALID/);
  assert.match(r.stderr, /serve\.port/);
  assert.match(r.stderr, /Unrecognized key: "bogus"/);
  assert.match(r.stderr, /admin\.token/);
  assert.match(r.stderr, /DRIFTWATCH_SERVE_WORKERZ: unknown/);
});

test('start: through the sidecar the example answers, a new Production version takes over live, the traffic shows on the admin API, SIGTERM drains', async () => {
  const env = {
    DRIFTWATCH_REGISTRY_ROOT: join(tmp.dir, 'reg-start'),
    DRIFTWATCH_SERVE_PORT: '0',
    DRIFTWATCH_PROXY_PORT: '0',
    DRIFTWATCH_ADMIN_PORT: '0',
    DRIFTWATCH_REGISTRY_POLL_INTERVAL_MS: '200',
  };
  const { proc, adminUrl, stderr } = await launch(['start'], env);
  // The proxy starts right after the scoring server: wait (bounded) for its line.
  for (let i = 0; i < 200 && !/"msg":"proxy listening"/.test(stderr()); i++) await new Promise((r) => setTimeout(r, 25));
  const url = /"msg":"proxy listening","url":"(http:[^"]+)"/.exec(stderr())?.[1] ?? '';
  try {
    assert.match(url, /^http:/, stderr());
    assert.match(stderr(), /registered the bundled example model as seattle-weather version 1/);
    const probe = weatherRows('2015-01-01', '2015-01-10').map((r) => r.features);
    const r1 = await postJson(url + '/invocations', { dataframe_split: { columns: FEATURES, data: probe } });
    assert.equal(r1.status, 200);
    assert.equal(r1.headers.get('x-driftwatch-model-version'), '1');

    const v2 = join(tmp.dir, 'v2');
    buildInto(v2, weatherRows('2014-01-01', '2015-12-31'));
    let failures = 0;
    let stop = false;
    const seen = new Set<string>();
    const load = (async () => {
      for (let i = 0; i < 5000 && !stop; i++) {
        const r = await postJson(url + '/invocations', { instances: probe });
        if (r.status !== 200) failures++;
        seen.add(r.headers.get('x-driftwatch-model-version') ?? '?');
      }
    })();
    assert.equal(cli(['registry', 'register', '--name', 'seattle-weather', '--path', v2], env).code, 0);
    assert.equal(cli(['registry', 'transition', 'seattle-weather', '2', '--stage', 'Production', '--archive-existing'], env).code, 0);
    for (let i = 0; i < 200 && !seen.has('2'); i++) await new Promise((r) => setTimeout(r, 50));
    stop = true;
    await load;
    assert.equal(failures, 0);
    assert.ok(seen.has('2'), 'the new version answered');
    const r2 = await postJson(url + '/invocations', { dataframe_split: { columns: FEATURES, data: probe } });
    assert.equal(r2.headers.get('x-driftwatch-model-version'), '2');
    assert.match(r2.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/, 'answered through the sidecar');
    // The drain runs on a timer: wait (bounded) until the summary has both versions.
    let traffic: any = null;
    for (let i = 0; i < 100; i++) {
      traffic = await (await fetch(adminUrl + '/api/traffic')).json();
      if (traffic.models.some((m: any) => m.version === '2' && m.rows > 0)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const v1 = traffic.models.find((m: any) => m.model === 'seattle-weather' && m.version === '1');
    // At least the first request (probe rows); how many more went to v1 depends on when the poll saw v2.
    assert.ok(v1.requests >= 1 && v1.rows >= probe.length, JSON.stringify(v1).slice(0, 300));
    assert.deepEqual(Object.keys(v1.features).sort(), [...FEATURES].sort());
    assert.equal(v1.features.wind.missing, 0);
    assert.ok(v1.predictions.label.categories, 'predicted labels are counted');
    const metrics = await (await fetch(adminUrl + '/metrics')).text();
    assert.match(metrics, /driftwatch_capture_events_total\{outcome="captured"\} \d+/);
    assert.match(metrics, /driftwatch_requests_total\{model="seattle-weather",route="invocations",status_class="2xx"\}/);
  } finally {
    proc.kill('SIGTERM');
  }
  assert.equal(await exited(proc), 0);
  assert.match(stderr(), /shutting down: draining in-flight requests/);
});

test('serve --workers 2: both processes answer, metrics are summed, SIGTERM stops all', async () => {
  const env = { DRIFTWATCH_SERVE_PORT: '0', DRIFTWATCH_ADMIN_PORT: '0', DRIFTWATCH_REGISTRY_ROOT: join(tmp.dir, 'reg-w') };
  // Port 0 in cluster mode: every worker shares the one port the primary's handle got.
  const { proc, url, stderr } = await launch(['serve', '--model', EXAMPLE_MODEL_DIR, '--name', 'weather', '--workers', '2'], env);
  try {
    const listening = () => (stderr().match(/scoring server listening/g) ?? []).length;
    for (let i = 0; i < 400 && listening() < 2; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(listening(), 2, stderr());
    const adminUrl = /"msg":"cluster primary started".*"admin":"(http:[^"]+)"/.exec(stderr())?.[1];
    assert.ok(adminUrl, stderr());
    const n = 200;
    const results = await Promise.all(Array.from({ length: n }, () => postJson(url + '/invocations', { instances: [[0, 12.8, 5, 4.7]] })));
    assert.deepEqual(
      results.filter((r) => r.status !== 200),
      [],
    );
    const metrics = await (await fetch(adminUrl + '/metrics')).text();
    assert.match(metrics, new RegExp(`driftwatch_requests_total\\{model="weather",route="invocations",status_class="2xx"\\} ${n}\\b`), metrics.slice(0, 2000));
    const reload = await fetch(adminUrl + '/api/reload', { method: 'POST' });
    assert.equal(reload.status, 200);
    assert.equal(((await reload.json()) as any).models[0].version, '1');
  } finally {
    proc.kill('SIGTERM');
  }
  assert.equal(await exited(proc), 0, stderr());
});

test('a port already in use is a clear error naming host and port, exit 1', async () => {
  const net = await import('node:net');
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  const port = (blocker.address() as import('node:net').AddressInfo).port;
  try {
    const r = cli(['serve', '--model', EXAMPLE_MODEL_DIR, '--port', String(port)], { DRIFTWATCH_ADMIN_ENABLED: 'false' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`DW_ERR_SERVE_LISTEN: cannot listen on 127\\.0\\.0\\.1:${port} for the scoring server`));
    // The admin port taken instead: the process must still exit, not hang holding the scoring port.
    const r2 = cli(['serve', '--model', EXAMPLE_MODEL_DIR, '--port', '0'], { DRIFTWATCH_ADMIN_PORT: String(port) });
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /DW_ERR_SERVE_LISTEN: cannot listen on 127\.0\.0\.1:\d+ for the admin API/);
  } finally {
    blocker.close();
  }
});

test('serve --workers 2 with a model that cannot load exits 1 (no hang, no orphan workers)', () => {
  const r = cli(['serve', '--model', join(tmp.dir, 'no-such-model'), '--workers', '2'], { DRIFTWATCH_SERVE_PORT: '0', DRIFTWATCH_ADMIN_PORT: '0' });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /worker failed to start; stopping/);
  assert.match(r.stderr, /does not exist or is not a directory/);
});

test('proxy: in front of a foreign MLflow-protocol server, byte-identical answers and per-feature counts', async () => {
  const http = await import('node:http');
  const answer = '{"predictions": [0, 1]}';
  const upstream = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', server: 'gunicorn' });
      res.end(answer);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const port = (upstream.address() as import('node:net').AddressInfo).port;
  const { proc, stderr } = await launchProxy(['proxy', '--upstream', `http://127.0.0.1:${port}`, '--port', '0', '--model', 'fraud'], {
    DRIFTWATCH_ADMIN_PORT: '0',
    DRIFTWATCH_PROXY_COLUMNS: '["amount","country"]',
  });
  try {
    const url = /"msg":"proxy listening","url":"(http:[^"]+)"/.exec(stderr())![1]!;
    const adminUrl = /"admin":"(http:[^"]+)"/.exec(stderr())![1]!;
    const res = await fetch(url + '/invocations', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"inputs":{"amount":[10.5,99],"country":["DE","FR"]}}',
    });
    assert.equal(await res.text(), answer);
    assert.equal(res.headers.get('server'), 'gunicorn');
    // Positional rows are named by the declared proxy.columns.
    const res2 = await fetch(url + '/invocations', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"instances":[[0.5,"DE"],[1.5,"DE"]]}',
    });
    assert.equal(await res2.text(), answer);
    let t: any = null;
    for (let i = 0; i < 100; i++) {
      t = await (await fetch(adminUrl + '/api/traffic')).json();
      if (t.models[0]?.rows >= 4) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(t.models[0].model, 'fraud');
    assert.equal(t.models[0].rows, 4);
    assert.ok(Math.abs(t.models[0].features.amount.numeric.mean - (10.5 + 99 + 0.5 + 1.5) / 4) < 1e-12);
    assert.deepEqual(t.models[0].features.country.categories, { DE: 3, FR: 1 });
    assert.deepEqual(t.models[0].predictions.prediction.numeric.n, 4);
  } finally {
    proc.kill('SIGTERM');
    upstream.close();
  }
  assert.equal(await exited(proc), 0);
  const r = cli(['proxy'], {});
  assert.equal(r.code, 2);
  assert.match(r.stderr, /proxy needs --upstream URL/);
});

function launchProxy(args: string[], env: Record<string, string>): Promise<{ proc: ChildProcess; stderr: () => string }> {
  const proc = spawn(CLI[0]!, [...CLI.slice(1), ...args], { cwd: tmp.dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`proxy did not start:\n${err}`));
    }, 30_000);
    proc.stderr!.on('data', (d) => {
      err += d;
      if (/"msg":"proxy listening"/.test(err)) {
        clearTimeout(timer);
        resolve({ proc, stderr: () => err });
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}:\n${err}`));
    });
  });
}

test('regression: a process-group SIGTERM in cluster mode lets the in-flight request finish', async () => {
  const env = { DRIFTWATCH_SERVE_PORT: '0', DRIFTWATCH_ADMIN_PORT: '0', DRIFTWATCH_REGISTRY_ROOT: join(tmp.dir, 'reg-pg') };
  // detached: the server leads its own process group, as under a shell or a container runtime.
  const proc = spawn(CLI[0]!, [...CLI.slice(1), 'serve', '--model', EXAMPLE_MODEL_DIR, '--workers', '2'], {
    cwd: tmp.dir,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  for (let i = 0; i < 600 && (err.match(/scoring server listening/g) ?? []).length < 2; i++) await new Promise((r) => setTimeout(r, 50));
  const port = Number(/"url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(err)?.[1]);
  assert.ok(port > 0, err);
  const body = JSON.stringify({ instances: [[0, 12.8, 5, 4.7]] });
  const c = await RawConn.open(port);
  c.write(
    `POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.slice(0, 10)}`,
  );
  // The whole group gets SIGTERM while the body is half sent (each worker receives it twice:
  // from the group and from the primary), then the rest of the body follows.
  setTimeout(() => process.kill(-proc.pid!, 'SIGTERM'), 200);
  setTimeout(() => c.write(body.slice(10)), 600);
  const answer = (await c.readToClose()).toString('latin1');
  assert.match(answer, /^HTTP\/1\.1 200 /, `got: ${answer.slice(0, 200)}\n${err.slice(-1500)}`);
  assert.equal(await exited(proc), 0, err.slice(-2000));
});
