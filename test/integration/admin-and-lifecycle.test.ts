/** Admin API auth and metrics, request timeouts, and draining on shutdown, on real servers. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { tokenMatches } from '../../src/admin/auth.js';
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
    assert.ok(lines.some((l) => l.includes('"msg":"configuration"') && l.includes('"token":"[redacted]"')), 'the configuration is logged at debug level, token redacted');
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

test('a request whose turn comes after requestTimeoutMs answers 504 and the server carries on', async () => {
  const t = tempDir();
  const s = await startServer({ registryRoot: join(t.dir, 'reg'), models: [{ uri: EXAMPLE_MODEL_DIR }], serve: { requestTimeoutMs: 100 }, admin: { enabled: false } });
  try {
    // A client that stalls mid-body for longer than the deadline: by the time the body is in,
    // the request's time is up, so it must not be run.
    const body = JSON.stringify({ instances: [[0, 12.8, 5, 4.7]] });
    const port = Number(new URL(s.url).port);
    const c = await RawConn.open(port);
    c.write(`POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.slice(0, 10)}`);
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
  const s = await startServer({ registryRoot: join(t.dir, 'reg'), models: [{ uri: EXAMPLE_MODEL_DIR }], serve: { maxBodyBytes: 64 * 1024 * 1024 }, admin: { enabled: false } });
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
