/**
 * The sidecar shadow's sender (proxy/shadow-upstream.ts) on its own, against a real HTTP server on
 * port 0: one sweep timer (not a timer per request) fails a request past proxy.shadow.timeoutMs
 * and closes connections idle for proxy.upstreamIdleMs, and keep-alive connections are reused
 * in between; requests sampled in one turn all leave, each on its own connection up to maxInFlight.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { InferenceEvent } from '../../src/capture/inference-event.js';
import { type ShadowExchange, UpstreamShadow } from '../../src/proxy/shadow-upstream.js';

const body = Buffer.from('{"dataframe_split":{"columns":["a"],"data":[[1]]}}');
const event = (i: number): InferenceEvent => ({
  requestId: `r-${i}`,
  startedAtMs: Date.now(),
  method: 'POST',
  path: '/invocations',
  model: 'm',
  version: '1',
  route: 'invocations',
  status: 200,
  upstreamMs: 1,
  totalMs: 1,
  requestBytes: body.length,
  responseBytes: 2,
  request: { bytes: body, contentType: 'application/json', contentEncoding: 'identity' },
  response: { bytes: Buffer.from('{}'), contentType: 'application/json', contentEncoding: 'identity' },
  skipped: null,
});

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), what);
}

test('keep-alive reuse, idle connections closed by the sweep, a silent answer timed out by it', async () => {
  let connections = 0;
  let open = 0;
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(String(req.headers['x-request-id']));
    req.resume();
    req.on('end', () => {
      if (req.headers['x-request-id'] === 'r-silent') return; // never answers
      res.writeHead(200, { 'content-type': 'application/json', 'x-driftwatch-model-version': '2' });
      res.end('{"predictions":[1]}');
    });
  });
  server.on('connection', (s) => {
    connections++;
    open++;
    s.on('close', () => open--);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const results: ShadowExchange[] = [];
  const shadow = new UpstreamShadow({
    upstream: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sampleRate: 1,
    maxInFlight: 4,
    timeoutMs: 300,
    idleMs: 150,
    maxBodyBytes: 1 << 20,
    onResult: (r) => results.push(r),
  });
  try {
    // One after another: one connection, reused.
    for (let i = 0; i < 5; i++) {
      shadow.consider(event(i));
      await until(() => results.length === i + 1, `answer ${i}`);
    }
    assert.equal(connections, 1);
    assert.ok(results.every((r) => r.challenger.error === null && r.challenger.status === 200 && r.challenger.version === '2'));
    assert.equal(results[0]!.challenger.response!.bytes.toString(), '{"predictions":[1]}');
    // Idle past idleMs: the sweep closes it.
    await until(() => open === 0, 'the idle connection is closed');
    // Three sampled in one turn leave together, on three connections.
    for (let i = 5; i < 8; i++) shadow.consider(event(i));
    await until(() => results.length === 8, 'three answers');
    assert.equal(connections, 4);
    assert.deepEqual(seen.slice(5).sort(), ['r-5', 'r-6', 'r-7']);
    // A request the server never answers fails as a timeout, from the sweep.
    const silent = { ...event(9), requestId: 'r-silent' };
    shadow.consider(silent);
    await until(() => results.length === 9, 'the silent request is reported');
    assert.match(results[8]!.challenger.error ?? '', /did not answer within 300 ms/);
    assert.equal(shadow.pending, 0);
  } finally {
    shadow.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
