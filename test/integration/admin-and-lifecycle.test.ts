/** Admin API auth and metrics, request timeouts, and draining on shutdown, on real servers. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { createAdminServer } from '../../src/admin/admin-server.js';
import { tokenMatches } from '../../src/admin/auth.js';
import { loadConfig } from '../../src/config/load.js';
import { adminSchema } from '../../src/config/schema.js';
import { RawConn } from '../fixtures/raw-http.js';
import { EXAMPLE_MODEL_DIR, FEATURES, memoryLogger, postJson, startServer, tempDir } from '../helpers.js';

const TOKEN = 's3cret-token-for-tests-0123456789';

test('tokenMatches: exact bearer token only', () => {
  assert.equal(tokenMatches(TOKEN, `Bearer ${TOKEN}`), true);
  assert.equal(tokenMatches(TOKEN, `bearer ${TOKEN}`), true);
  assert.equal(tokenMatches(TOKEN, `Bearer ${TOKEN}x`), false);
  assert.equal(tokenMatches(TOKEN, `Bearer ${TOKEN.slice(0, -1)}`), false);
  assert.equal(tokenMatches(TOKEN, TOKEN), false);
  assert.equal(tokenMatches(TOKEN, undefined), false);
  assert.equal(tokenMatches(TOKEN, 'Bearer '), false);
});

test('admin API: /api demands the token, /metrics and /healthz stay open, the token is never logged', async () => {
  const t = tempDir();
  const { logger, lines } = memoryLogger('debug');
  const s = await startServer({ registryRoot: join(t.dir, 'reg'), models: [{ uri: EXAMPLE_MODEL_DIR, name: 'weather' }], admin: { token: TOKEN }, logger });
  try {
    const none = await fetch(s.adminUrl + '/api/models');
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as any).code, 'DW_ERR_ADMIN_UNAUTHORIZED');
    const wrong = await fetch(s.adminUrl + '/api/reload', { method: 'POST', headers: { authorization: 'Bearer nope-nope-nope-nope' } });
    assert.equal(wrong.status, 401);
    const ok = await fetch(s.adminUrl + '/api/models', { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as any).models[0].name, 'weather');
    assert.equal((await fetch(s.adminUrl + '/healthz')).status, 200);

    for (let i = 0; i < 3; i++) await postJson(s.url + '/invocations', { instances: [[0, 12.8, 5, 4.7]] });
    await postJson(s.url + '/invocations', { instances: [[0, 12.8]] });
    const metrics = await (await fetch(s.adminUrl + '/metrics')).text();
    assert.match(metrics, /driftwatch_requests_total\{model="weather",route="invocations",status_class="2xx"\} 3/);
    assert.match(metrics, /driftwatch_requests_total\{model="weather",route="invocations",status_class="4xx"\} 1/);
    assert.match(metrics, /driftwatch_request_duration_seconds_count\{model="weather",version="1",route="invocations",status_class="2xx"\} 3/);
    assert.match(metrics, /driftwatch_predicted_rows_total\{model="weather",version="1"\} 3/);
    assert.match(metrics, /driftwatch_model_loaded\{model="weather",version="1"\} 1/);
    assert.ok(
      lines.some((l) => l.includes('"msg":"configuration"') && l.includes('"token":"[redacted]"')),
      'the configuration is logged at debug level, token redacted',
    );
    assert.ok(!lines.join('').includes(TOKEN), 'the token never reaches the log');
  } finally {
    await s.close();
    t.cleanup();
  }
});

test('the logger redacts credential-like fields even when passed by mistake', () => {
  const { logger, lines } = memoryLogger();
  logger.info('oops', { token: TOKEN, nested: { authorization: `Bearer ${TOKEN}`, ok: 1 } });
  assert.ok(!lines[0]!.includes(TOKEN));
  assert.match(lines[0]!, /"ok":1/);
});

test('the logger cuts credentials out of every URL it writes: config dump, plain fields, errors, arrays', () => {
  const { logger, lines } = memoryLogger('debug');
  // The configuration line serve-app writes at debug level: store.influxdb.url held the password.
  const config = loadConfig({ env: {}, overrides: { store: { kind: 'influxdb', influxdb: { url: 'http://dw:hunter2@influx.example:8086/' } } } });
  logger.debug('configuration', { config });
  logger.warn('upstream at https://svc:pa%40ss@up.example/x failed', {
    upstream: 'http://svc:pa%40ss@up.example:8080/invocations',
    error: new Error('connect to https://a:b-secret@c.example/ refused'),
    list: ['ftp://u:list-pw@files.example/'],
    plain: 'not a url: user@example.com',
  });
  const text = lines.join('');
  for (const secret of ['hunter2', 'pa%40ss', 'b-secret', 'list-pw']) assert.ok(!text.includes(secret), `${secret} leaked`);
  assert.match(lines[0]!, /"url":"http:\/\/\[redacted\]@influx\.example:8086\/"/, 'the URL stays readable without its credentials');
  assert.match(lines[1]!, /"upstream":"http:\/\/\[redacted\]@up\.example:8080\/invocations"/);
  assert.match(lines[1]!, /"plain":"not a url: user@example\.com"/, 'an e-mail address is not a URL');
});

test('a request whose turn comes after requestTimeoutMs answers 504 and the server carries on', async () => {
  const t = tempDir();
  const s = await startServer({
    registryRoot: join(t.dir, 'reg'),
    models: [{ uri: EXAMPLE_MODEL_DIR }],
    serve: { requestTimeoutMs: 100 },
    admin: { enabled: false },
  });
  try {
    // A client that stalls mid-body for longer than the deadline: by the time the body is in,
    // the request's time is up, so it must not be run.
    const body = JSON.stringify({ instances: [[0, 12.8, 5, 4.7]] });
    const port = Number(new URL(s.url).port);
    const c = await RawConn.open(port);
    c.write(
      `POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.slice(0, 10)}`,
    );
    setTimeout(() => c.write(body.slice(10)), 300);
    const reply = await c.response('POST');
    await c.closed;
    assert.equal(c.error, null);
    assert.deepEqual([reply.version, reply.status], ['1.1', 504]);
    const json = JSON.parse(reply.body.toString());
    assert.equal(json.error_code, 'DEADLINE_EXCEEDED');
    assert.match(json.message, /within 100 ms/);
    assert.equal((await postJson(s.url + '/invocations', { instances: [[0, 12.8, 5, 4.7]] })).status, 200);
  } finally {
    await s.close();
    t.cleanup();
  }
});

test('shutdown drains: an in-flight request completes, then the port closes', async () => {
  const t = tempDir();
  const s = await startServer({
    registryRoot: join(t.dir, 'reg'),
    models: [{ uri: EXAMPLE_MODEL_DIR }],
    serve: { maxBodyBytes: 64 * 1024 * 1024 },
    admin: { enabled: false },
  });
  const data = Array.from({ length: 200_000 }, (_, i) => [i % 7, 10 + (i % 13), 3, 4]);
  const inflight = postJson(s.url + '/invocations', { dataframe_split: { columns: FEATURES, data } });
  // Close once the request is being handled (bounded wait on the server's own counter).
  const scoring = s.app.metrics.inflight;
  for (let i = 0; i < 400; i++) {
    const v = (await scoring.get()).values[0]?.value ?? 0;
    if (v > 0) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const closing = s.close();
  const r = await inflight;
  await closing;
  assert.equal(r.status, 200);
  assert.equal(r.json.predictions.length, data.length);
  await assert.rejects(fetch(s.url + '/ping'), 'the listener is closed after the drain');
  t.cleanup();
});

/** The admin server alone on port 0 (bound to loopback, no token), with a checks-run endpoint. */
async function loopbackAdmin(admin: Record<string, unknown> = {}) {
  const runs: number[] = [];
  const server = createAdminServer({
    config: adminSchema.parse({ port: 0, ...admin }),
    logger: memoryLogger().logger,
    metrics: async () => ({ contentType: 'text/plain', body: 'driftwatch_up 1\n' }),
    models: () => [],
    reload: async () => [],
    ready: () => true,
    runChecks: async () => {
      runs.push(Date.now());
      return [];
    },
  });
  const { port } = await server.listen();
  /** One request on its own connection, with exactly these head lines. */
  const raw = async (head: string[], method = 'GET') => {
    const c = await RawConn.open(port);
    c.write(`${head.join('\r\n')}\r\nConnection: close\r\n\r\n`);
    const r = await c.response(method);
    c.socket.destroy();
    const type = r.headers.find(([k]) => k.toLowerCase() === 'content-type')?.[1] ?? '';
    return { status: r.status, type, json: type.startsWith('application/json') ? JSON.parse(r.body.toString()) : null };
  };
  return { server, port, runs, raw };
}

test('loopback admin without a token: DNS rebinding (foreign Host) and CSRF (cross-site Origin) are refused with 403 JSON', async () => {
  const a = await loopbackAdmin({ allowedHosts: ['admin.internal'] });
  try {
    // The reproduction: a rebinding host name and a foreign Origin.
    const evil = await a.raw(
      ['POST /api/checks/run HTTP/1.1', `Host: rebind.evil.example:${a.port}`, 'Origin: http://evil.example', 'Content-Length: 0'],
      'POST',
    );
    assert.equal(evil.status, 403);
    assert.equal(evil.json.code, 'DW_ERR_ADMIN_FORBIDDEN');
    assert.match(evil.json.message, /rebind\.evil\.example/);
    // A foreign Host is refused on reads too (a rebound page could read the API), status page included.
    for (const path of ['/metrics', '/ui', '/api/models', '/healthz']) {
      assert.equal((await a.raw([`GET ${path} HTTP/1.1`, `Host: rebind.evil.example:${a.port}`])).status, 403, path);
    }
    // Loopback names with or without the port, the configured extra name: readable.
    for (const host of ['localhost', `localhost:${a.port}`, `127.0.0.1:${a.port}`, `[::1]:${a.port}`, `ADMIN.internal:${a.port}`]) {
      const m = await a.raw(['GET /metrics HTTP/1.1', `Host: ${host}`]);
      assert.equal(m.status, 200, host);
      assert.equal((await a.raw(['GET /ui HTTP/1.1', `Host: ${host}`])).status, 200, host);
    }
    // A cross-site Origin on a loopback Host (a page on another site posting to localhost): refused.
    const csrf = await a.raw(['POST /api/checks/run HTTP/1.1', `Host: localhost:${a.port}`, 'Origin: http://evil.example', 'Content-Length: 0'], 'POST');
    assert.equal(csrf.status, 403);
    assert.match(csrf.json.message, /Origin/);
    // Another port on localhost is another origin too.
    assert.equal(
      (await a.raw(['POST /api/reload HTTP/1.1', `Host: localhost:${a.port}`, `Origin: http://localhost:${a.port + 1}`, 'Content-Length: 0'], 'POST')).status,
      403,
    );
    assert.equal((await a.raw(['POST /api/reload HTTP/1.1', `Host: localhost:${a.port}`, 'Origin: null', 'Content-Length: 0'], 'POST')).status, 403);
    // Sec-Fetch-Site: cross-site without an Origin.
    assert.equal(
      (await a.raw(['POST /api/checks/run HTTP/1.1', `Host: 127.0.0.1:${a.port}`, 'Sec-Fetch-Site: cross-site', 'Content-Length: 0'], 'POST')).status,
      403,
    );
    assert.equal(a.runs.length, 0, 'no refused request ran the checks');
    // Same origin (the status page's own button) and no Origin (curl, the CLI): allowed.
    assert.equal(
      (
        await a.raw(
          [
            'POST /api/checks/run HTTP/1.1',
            `Host: 127.0.0.1:${a.port}`,
            `Origin: http://127.0.0.1:${a.port}`,
            'Sec-Fetch-Site: same-origin',
            'Content-Length: 0',
          ],
          'POST',
        )
      ).status,
      200,
    );
    assert.equal((await a.raw(['POST /api/checks/run HTTP/1.1', `Host: localhost:${a.port}`, 'Content-Length: 0'], 'POST')).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${a.port}/api/checks/run`, { method: 'POST' })).status, 200);
    assert.equal(a.runs.length, 3);
  } finally {
    await a.server.close();
  }
});

test('admin bound off loopback with a token: no Host check, the bearer token decides as before', async () => {
  // 0.0.0.0 is reachable from elsewhere under any name (a pod IP, a service name): the token protects it.
  const a = await loopbackAdmin({ host: '0.0.0.0', token: TOKEN });
  try {
    assert.equal((await a.raw(['GET /metrics HTTP/1.1', 'Host: driftwatch.svc.cluster.local:9097'])).status, 200);
    const none = await a.raw(['POST /api/checks/run HTTP/1.1', 'Host: driftwatch.svc.cluster.local', 'Content-Length: 0'], 'POST');
    assert.equal(none.status, 401);
    const ok = await a.raw(
      ['POST /api/checks/run HTTP/1.1', 'Host: driftwatch.svc.cluster.local', `Authorization: Bearer ${TOKEN}`, 'Content-Length: 0'],
      'POST',
    );
    assert.equal(ok.status, 200);
  } finally {
    await a.server.close();
  }
});

test('admin port: malformed HTTP gets JSON 400, an oversized head 431, a stalled head 408; the server carries on', async () => {
  const a = await loopbackAdmin();
  try {
    const refusal = async (bytes: string) => {
      const c = await RawConn.open(a.port);
      c.write(bytes);
      const r = await c.response('GET');
      await c.closed;
      return { status: r.status, type: r.headers.find(([k]) => k.toLowerCase() === 'content-type')?.[1], json: JSON.parse(r.body.toString()) };
    };
    const bad = await refusal('GET /metrics HTTP/1.1\r\nHost: localhost\r\nBad Header Line\r\n\r\n');
    assert.equal(bad.status, 400);
    assert.equal(bad.type, 'application/json');
    assert.equal(bad.json.error_code, 'BAD_REQUEST');
    const big = await refusal(`GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.equal(big.status, 431);
    assert.equal(big.type, 'application/json');
    a.server.server.headersTimeout = 300;
    const slow = await refusal('GET /metrics HTTP/1.1\r\nHost: loc');
    assert.equal(slow.status, 408);
    assert.equal(slow.json.error_code, 'REQUEST_TIMEOUT');
    assert.equal((await fetch(`http://127.0.0.1:${a.port}/metrics`)).status, 200);
  } finally {
    await a.server.close();
  }
});
