/**
 * The sidecar proxy in front of a real non-Node prediction server: gunicorn + Flask, which is what
 * `mlflow models serve` runs (test/fixtures/mlflow_flask_app.py speaks MLflow's scoring protocol).
 * This is the "done when": point the proxy at an MLflow-protocol server, send the usual
 * requests, get the same bytes back, and see per-feature counts and latency on the admin API.
 *
 * Two gunicorn modes, because they stress the proxy's upstream pool in opposite ways:
 * - the default sync worker answers `Connection: close` every time, so every request needs a fresh
 *   upstream connection while the client's connection to the proxy stays open;
 * - gthread with `--keep-alive 1` keeps connections but closes them itself after about a second
 *   idle (checked once per second, so anywhere in 1-2 s), which races the proxy reusing them.
 * Both engines (`fast`, `node`) run against each.
 *
 * Without gunicorn (or a python3 with flask that gunicorn can load the app with) every test skips
 * loudly; with DRIFTWATCH_TEST_REQUIRE_PYTHON=1 it fails instead (CI installs gunicorn and
 * python3-flask and must never pass by skipping).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { createProxyApp, type ProxyApp } from '../../src/app/proxy-app.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { header, RawConn } from '../fixtures/raw-http.js';
import { FEATURES, ROOT, tempDir, weatherRows } from '../helpers.js';
import { findBinary, freePort } from '../influx-server.js';

const FIXTURES = join(ROOT, 'test', 'fixtures');
const APP = 'mlflow_flask_app:app';
const MODEL = 'seattle-weather';
const VERSION = '4';
const CLASSES = ['drizzle', 'fog', 'rain', 'snow', 'sun'];
const REQUIRE_ENV = 'DRIFTWATCH_TEST_REQUIRE_PYTHON';

// ---------------------------------------------------------------------------------------------
// Is gunicorn + flask here? `--check-config` imports the app with gunicorn's own interpreter, so
// it answers exactly the question "can gunicorn serve this fixture" (a python3 on PATH with flask
// says nothing about the one in gunicorn's shebang).

const GUNICORN = findBinary('gunicorn');

function probeMissing(): string | null {
  if (GUNICORN === null) return 'gunicorn not found on PATH (apt-get install gunicorn python3-flask)';
  const r = spawnSync(GUNICORN, ['--check-config', '--chdir', FIXTURES, APP], { encoding: 'utf8', timeout: 30_000 });
  if (r.status === 0) return null;
  const err = `${r.stderr ?? ''}${r.stdout ?? ''}${r.error ? String(r.error) : ''}`;
  const noModule = /No module named '?(flask|werkzeug|jinja2|itsdangerous|click|markupsafe)/i.exec(err);
  if (noModule) return `gunicorn (${GUNICORN}) cannot import ${noModule[1]} for test/fixtures/mlflow_flask_app.py (apt-get install python3-flask)`;
  // Anything else is a broken fixture or install: that must fail, not hide behind a skip.
  throw new Error(`gunicorn --check-config failed on test/fixtures/mlflow_flask_app.py (status ${r.status}):\n${err.slice(-3000)}`);
}

const MISSING = probeMissing();
const REQUIRED = process.env[REQUIRE_ENV] === '1';
let announced = false;

/** true when gunicorn can be used; otherwise skips loudly, or fails when Python is required. */
function gate(t: TestContext): boolean {
  if (MISSING === null) return true;
  if (REQUIRED) assert.fail(`${MISSING}, and ${REQUIRE_ENV}=1 requires it`);
  const msg = `SKIPPED: ${MISSING}; set ${REQUIRE_ENV}=1 to make this a failure`;
  if (!announced) {
    announced = true;
    console.log(msg);
  }
  t.skip(msg);
  return false;
}

// ---------------------------------------------------------------------------------------------
// gunicorn, in its own process group so the master and its workers die together.

type Mode = 'sync' | 'gthread';

interface Gunicorn {
  mode: Mode;
  url: string;
  child: ChildProcess;
  log(): string;
}

const running = new Set<ChildProcess>();

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

// Last resort if the runner dies before `after`: a detached gunicorn would outlive this file
// (it gets neither the terminal's signals nor a hangup from its parent).
process.once('exit', () => {
  for (const c of running) killGroup(c);
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    for (const c of running) killGroup(c);
    process.kill(process.pid, sig);
  });
}

async function stopGunicorn(g: Gunicorn): Promise<void> {
  const c = g.child;
  if (c.exitCode === null && c.signalCode === null) {
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    killGroup(c);
    await Promise.race([exited, sleep(5_000)]);
  }
  running.delete(c);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function startGunicorn(mode: Mode): Promise<Gunicorn> {
  const extra = mode === 'gthread' ? ['--worker-class', 'gthread', '--threads', '4', '--keep-alive', '1'] : [];
  let lastErr: Error | null = null;
  // freePort() can lose the port to another process before gunicorn binds it: try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    let log = '';
    const child = spawn(GUNICORN!, ['-b', `127.0.0.1:${port}`, '--workers', '1', '--chdir', FIXTURES, ...extra, APP], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' },
    });
    running.add(child);
    const keep = (b: Buffer) => {
      log = (log + b.toString()).slice(-8_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const g: Gunicorn = { mode, url: `http://127.0.0.1:${port}`, child, log: () => log };
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) break;
      const ok = await send(g.url, { method: 'GET', path: '/ping' }, false, 1_000).then(
        (a) => a.status === 200,
        () => false,
      );
      if (ok) return g;
      await sleep(50);
    }
    lastErr = new Error(`gunicorn (${mode}) on port ${port} not ready (exit ${child.exitCode ?? child.signalCode}):\n${log}`);
    await stopGunicorn(g);
  }
  throw lastErr!;
}

// ---------------------------------------------------------------------------------------------
// Requests and answers.

interface Shape {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** For a prediction: the rows sent, in FEATURES order. */
  rows?: number[][];
}

interface Answer {
  status: number;
  statusMessage: string;
  /** Header fields in arrival order, names as sent. */
  fields: Array<[string, string]>;
  body: Buffer;
}

/** One exchange with node's client: bodies are not decompressed or re-framed, only de-chunked. */
function send(base: string, s: Pick<Shape, 'method' | 'path' | 'headers' | 'body'>, agent: http.Agent | false, timeoutMs = 15_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(base + s.path, { method: s.method, headers: s.headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const fields: Array<[string, string]> = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) fields.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
        resolve({ status: res.statusCode!, statusMessage: res.statusMessage ?? '', fields, body: Buffer.concat(chunks) });
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${s.method} ${s.path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(s.body);
  });
}

/**
 * What must be equal direct and proxied: everything but the fields that describe one connection
 * (each hop states its own), the Date and Server of that moment, and the id the proxy adds.
 * Content-Length stays in, so a proxy that re-framed a sized body as chunked is caught.
 */
const PER_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'date', 'server', 'x-request-id']);
const endToEnd = (a: Answer) => a.fields.filter(([k]) => !PER_HOP.has(k.toLowerCase()));
const field = (a: Answer, name: string) => a.fields.find(([k]) => k.toLowerCase() === name)?.[1];
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function assertSameAnswer(proxied: Answer, direct: Answer, what: string): void {
  assert.equal(proxied.status, direct.status, `${what}: status`);
  assert.equal(proxied.statusMessage, direct.statusMessage, `${what}: reason phrase`);
  assert.deepEqual(endToEnd(proxied), endToEnd(direct), `${what}: end-to-end header fields, in order`);
  assert.equal(proxied.body.length, direct.body.length, `${what}: body length`);
  assert.equal(sha(proxied.body), sha(direct.body), `${what}: body bytes`);
}

// Real rows of the data set the Seattle example model was trained on, in every MLflow input format.
const WEATHER = weatherRows('2012-01-01', '2015-12-31').map((r) => r.features);
const rowsAt = (from: number, n: number) => WEATHER.slice(from, from + n);
const json = (body: unknown) => ({ 'content-type': 'application/json' as string, body: JSON.stringify(body) });
const columnar = (rows: number[][], cols: readonly string[]) => Object.fromEntries(cols.map((c) => [c, rows.map((r) => r[FEATURES.indexOf(c)]!)]));
const recordsOf = (rows: number[][]) => rows.map((r) => Object.fromEntries(FEATURES.map((f, j) => [f, r[j]!])));

function prediction(name: string, rows: number[][], payload: { 'content-type': string; body: string }): Shape {
  return { name, method: 'POST', path: '/invocations', headers: { 'content-type': payload['content-type'] }, body: payload.body, rows };
}

const REORDERED = ['wind', 'temp_min', 'precipitation', 'temp_max'];
const PREDICTIONS: Shape[] = [
  prediction('dataframe_split', rowsAt(0, 6), json({ dataframe_split: { columns: FEATURES, data: rowsAt(0, 6) } })),
  prediction(
    'dataframe_split, columns in another order',
    rowsAt(10, 3),
    json({ dataframe_split: { columns: REORDERED, data: rowsAt(10, 3).map((r) => REORDERED.map((c) => r[FEATURES.indexOf(c)]!)) } }),
  ),
  prediction('dataframe_records', rowsAt(20, 5), json({ dataframe_records: recordsOf(rowsAt(20, 5)) })),
  prediction('instances, positional rows', rowsAt(30, 4), json({ instances: rowsAt(30, 4) })),
  prediction('instances, records', rowsAt(40, 2), json({ instances: recordsOf(rowsAt(40, 2)) })),
  prediction('inputs, columns', rowsAt(50, 3), json({ inputs: columnar(rowsAt(50, 3), FEATURES) })),
  prediction('inputs, positional rows', rowsAt(55, 2), json({ inputs: rowsAt(55, 2) })),
  prediction('text/csv', rowsAt(60, 4), {
    'content-type': 'text/csv',
    body: `${FEATURES.join(',')}\n${rowsAt(60, 4)
      .map((r) => r.join(','))
      .join('\n')}\n`,
  }),
  prediction('application/json; charset=utf-8', rowsAt(70, 1), {
    'content-type': 'application/json; charset=utf-8',
    body: JSON.stringify({ dataframe_split: { columns: FEATURES, data: rowsAt(70, 1) } }),
  }),
  prediction(`dataframe_split, all ${WEATHER.length} rows`, WEATHER, json({ dataframe_split: { columns: FEATURES, data: WEATHER } })),
];

function malformed(name: string, contentType: string, body: string): Shape {
  return { name, method: 'POST', path: '/invocations', headers: { 'content-type': contentType }, body };
}

const MALFORMED: Shape[] = [
  malformed('invalid JSON', 'application/json', '{"dataframe_split": {"columns": ['),
  malformed('empty JSON body', 'application/json', ''),
  malformed('no known input field', 'application/json', JSON.stringify({ rows: [[1, 2, 3, 4]] })),
  malformed('two input fields', 'application/json', JSON.stringify({ instances: [[1, 2, 3, 4]], inputs: [[1, 2, 3, 4]] })),
  malformed('a column the model lacks', 'application/json', JSON.stringify({ dataframe_split: { columns: ['nope'], data: [[1]] } })),
  malformed(
    'a text value for a numeric column',
    'application/json',
    JSON.stringify({ dataframe_records: [{ precipitation: 'lots', temp_max: 1, temp_min: 0, wind: 2 }] }),
  ),
  malformed('positional row of the wrong width', 'application/json', JSON.stringify({ instances: [[1, 2]] })),
  malformed('CSV without a needed column', 'text/csv', 'precipitation,temp_max\n1,2\n'),
  malformed('ragged CSV', 'text/csv', `${FEATURES.join(',')}\n1,2,3\n`),
  malformed('unsupported content type (415)', 'text/plain', 'precipitation=1'),
];

const UPLOAD = Buffer.concat(Array.from({ length: 64 }, (_, i) => createHash('sha256').update(`upload ${i}`).digest()));
const EDGES: Shape[] = [
  { name: 'GET /ping', method: 'GET', path: '/ping' },
  { name: 'GET /health', method: 'GET', path: '/health' },
  { name: 'HEAD /ping', method: 'HEAD', path: '/ping' },
  { name: 'HEAD /health', method: 'HEAD', path: '/health' },
  { name: 'a streamed (generator, chunked) answer', method: 'GET', path: '/stream' },
  { name: 'a gzip answer with its Content-Length', method: 'GET', path: '/gzip', headers: { 'accept-encoding': 'gzip' } },
  { name: 'a binary answer', method: 'GET', path: '/binary' },
  { name: 'a 4 MiB answer with a Content-Length', method: 'GET', path: '/large' },
  { name: 'a 4 MiB answer streamed in 64 KiB chunks', method: 'GET', path: '/large?stream=1' },
  {
    name: 'a 2 MiB upload echoed',
    method: 'POST',
    path: '/echo',
    headers: { 'content-type': 'application/octet-stream' },
    body: Buffer.concat(Array.from({ length: (2 * 1024 * 1024) / UPLOAD.length }, () => UPLOAD)),
  },
  { name: 'repeated Set-Cookie and a 201', method: 'GET', path: '/headers' },
  { name: "Flask's HTML 404", method: 'GET', path: '/no/such/route' },
  { name: "Flask's 405 with Allow (GET /invocations)", method: 'GET', path: '/invocations' },
  { name: 'a query string', method: 'GET', path: '/ping?probe=1&x=%20y' },
];

const CONN: Shape = { name: 'GET /conn', method: 'GET', path: '/conn' };

const isPrediction = (s: Pick<Shape, 'method' | 'path'>) => s.method === 'POST' && s.path.split('?')[0] === '/invocations';
const statusClass = (status: number) => `${Math.floor(status / 100)}xx`;

// ---------------------------------------------------------------------------------------------
// A proxy app in front of one gunicorn, and what was sent through it (to check the monitoring).

interface Tally {
  /** driftwatch_proxy_requests_total as it must read: "route status_class" -> count. */
  routes: Map<string, number>;
  predictionRequests: Map<string, number>;
  rows: number;
  sums: number[];
  labels: Map<string, number>;
}

interface Proxied {
  app: ProxyApp;
  url: string;
  port: number;
  admin: string;
  agent: http.Agent;
  tally: Tally;
}

async function startProxy(g: Gunicorn, engine: 'fast' | 'node', dir: string): Promise<Proxied> {
  // What `driftwatch proxy --upstream URL --model NAME --model-version V` builds, with the columns
  // a foreign upstream has to declare (proxy.columns) for positional payloads.
  const config = loadConfig({
    env: {},
    overrides: {
      proxy: { port: 0, upstream: g.url, engine, model: MODEL, version: VERSION, columns: FEATURES, upstreamTimeoutMs: 10_000 },
      admin: { port: 0 },
      registry: { root: join(dir, 'registry') },
      store: { embedded: { path: join(dir, `stats-${g.mode}-${engine}.db`) } },
      stats: { flushIntervalMs: 60_000 },
      log: { level: 'silent' },
    },
  });
  const app = createProxyApp(config, { logger: createLogger({ level: 'silent' }) });
  const { proxy, admin } = await app.start();
  return {
    app,
    url: `http://127.0.0.1:${proxy.port}`,
    port: proxy.port,
    admin: `http://127.0.0.1:${admin!.port}`,
    agent: new http.Agent({ keepAlive: true }),
    tally: { routes: new Map(), predictionRequests: new Map(), rows: 0, sums: FEATURES.map(() => 0), labels: new Map() },
  };
}

/** Counts one exchange through the proxy the way the admin API must then show it. */
function record(p: Proxied, s: Shape, status: number, body: Buffer): void {
  const t = p.tally;
  const route = isPrediction(s) ? 'invocations' : 'other';
  const key = `${route} ${statusClass(status)}`;
  t.routes.set(key, (t.routes.get(key) ?? 0) + 1);
  if (route !== 'invocations') return;
  t.predictionRequests.set(statusClass(status), (t.predictionRequests.get(statusClass(status)) ?? 0) + 1);
  if (status !== 200 || !s.rows) return;
  t.rows += s.rows.length;
  for (const r of s.rows) r.forEach((v, j) => (t.sums[j]! += v));
  for (const pr of JSON.parse(body.toString()).predictions as Array<{ label: string }>) t.labels.set(pr.label, (t.labels.get(pr.label) ?? 0) + 1);
}

async function viaProxy(p: Proxied, s: Shape): Promise<Answer> {
  const a = await send(p.url, s, p.agent);
  record(p, s, a.status, a.body);
  return a;
}

async function metricsOf(p: Proxied): Promise<Map<string, number>> {
  const text = await (await fetch(`${p.admin}/metrics`)).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^driftwatch_proxy_requests_total\{([^}]*)\} (\S+)$/gm)) {
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    out.set(`${labels.route} ${labels.status_class}`, Number(m[2]));
  }
  return out;
}

function counter(text: string, name: string): number {
  let n = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) n += Number(m[1]);
  return n;
}

/** The traffic entry for our model once every request sent has been counted (the tap is async). */
async function trafficOf(p: Proxied): Promise<any> {
  const want = [...p.tally.predictionRequests.values()].reduce((a, b) => a + b, 0);
  const deadline = Date.now() + 10_000;
  let last: any = null;
  for (;;) {
    await p.app.flushStats();
    const body: any = await (await fetch(`${p.admin}/api/traffic`)).json();
    last = body.models.find((m: any) => m.model === MODEL && m.version === VERSION) ?? null;
    if ((last?.requests ?? 0) >= want || Date.now() > deadline) return { entry: last, all: body.models };
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------

const tmp = tempDir('dw-gunicorn-');
const servers: Gunicorn[] = [];

after(async () => {
  await Promise.all(servers.map(stopGunicorn));
  for (const c of running) killGroup(c);
  tmp.cleanup();
});

for (const mode of ['sync', 'gthread'] as const)
  describe(`gunicorn ${mode === 'sync' ? 'sync worker (Connection: close)' : 'gthread --keep-alive 1'}`, () => {
    let g: Gunicorn | null = null;
    before(async () => {
      if (MISSING !== null) return;
      g = await startGunicorn(mode);
      servers.push(g);
    });

    test('gunicorn answers as the fixture says (the baseline the proxy is compared with)', async (t) => {
      if (!gate(t)) return;
      const ping = await send(g!.url, { method: 'GET', path: '/ping' }, false);
      assert.equal(ping.status, 200);
      assert.equal(ping.body.toString(), '\n');
      assert.equal(field(ping, 'server'), 'gunicorn');
      if (mode === 'sync') assert.equal(field(ping, 'connection'), 'close');
      const r = await send(g!.url, PREDICTIONS[0]!, false);
      assert.equal(r.status, 200);
      const preds = JSON.parse(r.body.toString()).predictions;
      assert.equal(preds.length, 6);
      for (const p of preds) {
        assert.ok(CLASSES.includes(p.label));
        assert.equal(p.probabilities.length, CLASSES.length);
      }
      assert.equal(field(await send(g!.url, EDGES.find((e) => e.path === '/stream')!, false), 'transfer-encoding'), 'chunked');
    });

    for (const engine of ['fast', 'node'] as const)
      describe(`engine: ${engine}`, () => {
        let p: Proxied | null = null;
        before(async () => {
          if (g === null) return;
          p = await startProxy(g, engine, tmp.dir);
        });
        after(async () => {
          p?.agent.destroy();
          await p?.app.close();
        });

        describe('byte-exact: every answer through the proxy equals the one straight from gunicorn', () => {
          for (const s of [...PREDICTIONS, ...EDGES]) {
            test(s.name, async (t) => {
              if (!gate(t)) return;
              const direct = await send(g!.url, s, false);
              const proxied = await viaProxy(p!, s);
              assertSameAnswer(proxied, direct, s.name);
              assert.match(field(proxied, 'x-request-id') ?? '', /^[0-9a-f-]{36}$/, 'the proxy names the request');
              if (isPrediction(s)) assert.equal(JSON.parse(direct.body.toString()).predictions.length, s.rows!.length);
            });
          }
        });

        test("malformed input reaches Flask, and Flask's MLflow-style error comes back unchanged", async (t) => {
          if (!gate(t)) return;
          for (const s of MALFORMED) {
            const direct = await send(g!.url, s, false);
            assert.equal(direct.status, s.headers!['content-type'] === 'text/plain' ? 415 : 400, `${s.name}: Flask's own answer`);
            assert.equal(JSON.parse(direct.body.toString()).error_code, 'BAD_REQUEST', s.name);
            const proxied = await viaProxy(p!, s);
            assertSameAnswer(proxied, direct, s.name);
          }
        });

        if (mode === 'sync') {
          test('Connection: close from gunicorn: a new upstream connection per request, the client connection stays open', async (t) => {
            if (!gate(t)) return;
            const c = await RawConn.open(p!.port);
            try {
              const ports: number[] = [];
              for (let i = 0; i < 5; i++) {
                c.write(`GET /conn HTTP/1.1\r\nHost: 127.0.0.1:${p!.port}\r\n\r\n`);
                const r = await c.response('GET', { timeoutMs: 10_000 });
                assert.equal(r.status, 200);
                assert.notEqual(header(r, 'connection')?.toLowerCase(), 'close', "gunicorn's close is about its own connection");
                record(p!, CONN, r.status, r.body);
                ports.push(JSON.parse(r.body.toString()).remote_port);
              }
              assert.equal(new Set(ports).size, ports.length, `each request on its own upstream connection: ${ports.join(',')}`);
              assert.equal(c.ended, false, 'the client connection is still open');
              // And a prediction on that same client connection, after five upstream closes.
              const s = PREDICTIONS[3]!;
              c.write(
                `POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(String(s.body))}\r\n\r\n${s.body}`,
              );
              const r = await c.response('POST', { timeoutMs: 10_000 });
              record(p!, s, r.status, r.body);
              const direct = await send(g!.url, s, false);
              assert.equal(r.status, 200);
              assert.ok(r.body.equals(direct.body));
            } finally {
              c.destroy();
            }
          });
        } else {
          test('keep-alive: sequential requests reuse one upstream connection', async (t) => {
            if (!gate(t)) return;
            const ports: number[] = [];
            for (let i = 0; i < 6; i++) {
              const r = await viaProxy(p!, CONN);
              assert.equal(r.status, 200);
              ports.push(JSON.parse(r.body.toString()).remote_port);
            }
            t.diagnostic(`upstream client ports: ${ports.join(',')}`);
            assert.ok(new Set(ports).size < ports.length, `some upstream connection was reused: ${ports.join(',')}`);
          });

          // This caught engine node answering 502 here (it kept idle sockets until gunicorn closed them
          // and never resent); it now closes idle sockets after proxy.upstreamIdleMs and resends once.
          test('the server closing idle connections (1-2 s) while the proxy holds them: nothing fails', async (t) => {
            if (!gate(t)) return;
            const mix: Shape[] = [PREDICTIONS[0]!, PREDICTIONS[2]!, PREDICTIONS[7]!, EDGES[0]!, EDGES[2]!, EDGES[4]!, PREDICTIONS[5]!, EDGES[5]!];
            const expected = await Promise.all(mix.map((s) => send(g!.url, s, false)));
            const failures: string[] = [];
            const round = async (label: string) => {
              const got = await Promise.allSettled(mix.map((s) => viaProxy(p!, s)));
              got.forEach((r, i) => {
                if (r.status === 'rejected') failures.push(`${label} ${mix[i]!.name}: ${(r.reason as Error).message}`);
                else if (r.value.status !== expected[i]!.status || !r.value.body.equals(expected[i]!.body)) {
                  failures.push(`${label} ${mix[i]!.name}: ${r.value.status} ${r.value.body.toString().slice(0, 200)}`);
                }
              });
            };
            await round('first burst');
            // Idle past gunicorn's keep-alive: it closes its side somewhere in the next second, so some
            // requests land just before, some just after, and some while it happens. A lone request
            // takes the most recently used pooled connection; a burst takes several.
            const idles = [1200, 1200, 1500, 1500, 1200];
            for (const [i, idleMs] of idles.entries()) {
              await sleep(idleMs);
              if (i % 2 === 0) {
                await round(`burst after ${idleMs} ms idle`);
                continue;
              }
              const r = await viaProxy(p!, PREDICTIONS[1]!).catch((e: Error) => e);
              if (r instanceof Error) failures.push(`lone after ${idleMs} ms: ${r.message}`);
              else if (r.status !== 200) failures.push(`lone after ${idleMs} ms: ${r.status} ${r.body.toString().slice(0, 200)}`);
            }
            const metrics = await (await fetch(`${p!.admin}/metrics`)).text();
            const retries = counter(metrics, 'driftwatch_proxy_upstream_retries_total');
            t.diagnostic(`resends on a fresh upstream connection: ${retries}`);
            assert.deepEqual(failures, [], `resends: ${retries}`);
            assert.equal(counter(metrics, 'driftwatch_proxy_upstream_errors_total'), 0, 'no upstream error answered by the proxy');
          });
        }

        test('the admin API shows that traffic: per-feature counts equal the rows sent, latency counts the requests', async (t) => {
          if (!gate(t)) return;
          const tally = p!.tally;
          assert.ok(tally.rows > WEATHER.length, 'the tests above sent their predictions');
          const { entry, all } = await trafficOf(p!);
          assert.ok(entry, `traffic for ${MODEL} version ${VERSION}: ${JSON.stringify(all.map((m: any) => [m.model, m.version]))}`);
          assert.deepEqual(
            all.map((m: any) => `${m.model}@${m.version}`),
            [`${MODEL}@${VERSION}`],
            'all of it under the named model and version',
          );
          const requests = [...tally.predictionRequests.values()].reduce((a, b) => a + b, 0);
          assert.equal(entry.requests, requests);
          assert.deepEqual(entry.by_status_class, Object.fromEntries(tally.predictionRequests));
          assert.equal(
            entry.latency_ms.counts.reduce((a: number, b: number) => a + b, 0),
            requests,
            'every request in a latency bucket',
          );
          assert.equal(entry.rows, tally.rows);
          // The declared columns name positional rows: no f0..f3 next to the real names.
          assert.deepEqual(Object.keys(entry.features).sort(), [...FEATURES].sort());
          FEATURES.forEach((f, j) => {
            const fs = entry.features[f];
            assert.equal(fs.count, tally.rows, `${f} count`);
            assert.equal(fs.missing, 0, `${f} missing`);
            assert.equal(fs.numeric.n, tally.rows, `${f} numeric`);
            const mean = tally.sums[j]! / tally.rows;
            assert.ok(Math.abs(fs.numeric.mean - mean) < 1e-9 * Math.max(1, Math.abs(mean)), `${f} mean ${fs.numeric.mean} vs ${mean}`);
          });
          // Predictions: Flask's labels, counted as they were answered; the probabilities one column each.
          assert.deepEqual(entry.predictions.label.categories, Object.fromEntries([...tally.labels].sort((a, b) => b[1] - a[1])));
          for (let k = 0; k < CLASSES.length; k++) assert.equal(entry.predictions[`probabilities_${k}`].count, tally.rows, `probabilities_${k}`);

          // The stored windows say the same (what /api/windows and the drift check read).
          const total: any = await (await fetch(`${p!.admin}/api/windows?model=${MODEL}&from=1h&view=total`)).json();
          assert.equal(total.versions.length, 1);
          const v = total.versions[0];
          assert.equal(v.version, VERSION);
          assert.equal(v.rows, tally.rows);
          for (const f of FEATURES) assert.equal(v.features[f].count, tally.rows, `stored ${f} count`);
          assert.equal(v.latency_ms.count, requests);
          assert.deepEqual(v.requests, Object.fromEntries(tally.predictionRequests));

          // And /metrics counts every request by route, the health checks and edge routes as "other".
          const counted = await metricsOf(p!);
          assert.deepEqual(Object.fromEntries([...counted].filter(([, n]) => n > 0).sort()), Object.fromEntries([...tally.routes].sort()));
        });
      });
  });
