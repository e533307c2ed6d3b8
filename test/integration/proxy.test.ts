/**
 * The sidecar proxy against real upstreams on port 0: byte-exact passthrough (compared with the
 * same request sent directly), failures (refused, timeout, reset mid-answer, client abort), the tap
 * and its bounds.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { BoundedQueue } from '../../src/capture/bounded-queue.js';
import type { InferenceEvent } from '../../src/capture/inference-event.js';
import { loadConfig } from '../../src/config/load.js';
import { createProxyServer, type ProxyServer } from '../../src/proxy/proxy-server.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { createProxyMetrics, type ProxyMetrics } from '../../src/telemetry/metrics.js';
import { RawConn } from '../fixtures/raw-http.js';
import { answerRelayRoute } from '../fixtures/relay-routes.js';

const BIG_MB = 100;
const binary = randomBytes(1024 * 1024 + 7);
let upstream: http.Server;
let upstreamUrl: string;
let slowClosed = 0;
const upstreamSockets = new Set<net.Socket>();
const seenByUpstream: Array<{ url: string; headers: http.IncomingHttpHeaders }> = [];

/** A deterministic 100 MB stream, written in 64 KiB chunks. */
function writeBig(res: http.ServerResponse): void {
  const chunk = Buffer.alloc(64 * 1024, 7);
  let left = BIG_MB * 16;
  const pump = () => {
    while (left > 0) {
      left--;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
}

function startUpstream(): Promise<void> {
  upstream = http.createServer((req, res) => {
    seenByUpstream.push({ url: req.url ?? '', headers: req.headers });
    const body: Buffer[] = [];
    req.on('data', (c) => body.push(c));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0]!;
      if (answerRelayRoute(path, req, Buffer.concat(body), res, binary)) return;
      switch (path) {
        case '/big':
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          writeBig(res);
          return;
        case '/slow':
          res.once('close', () => slowClosed++);
          return; // never answers
        case '/invocations':
          res.writeHead(200, { 'content-type': 'application/json', 'x-driftwatch-model-version': '7' });
          res.end('{"predictions":[{"label":"sun"}]}');
          return;
        default:
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end('{"error":"nope"}');
      }
    });
  });
  upstream.on('connection', (sock) => {
    upstreamSockets.add(sock);
    sock.once('close', () => upstreamSockets.delete(sock));
  });
  upstream.on('upgrade', (_req, socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
    socket.on('data', (d) => socket.write(Buffer.concat([Buffer.from('echo:'), d])));
  });
  return new Promise((r) =>
    upstream.listen(0, '127.0.0.1', () => {
      upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
      r();
    }),
  );
}

type Engine = 'fast' | 'node';

async function startProxy(
  engine: Engine,
  overrides: Record<string, unknown> = {},
  target = upstreamUrl,
): Promise<{ proxy: ProxyServer; url: string; events: BoundedQueue<InferenceEvent>; metrics: ProxyMetrics }> {
  const config = loadConfig({ env: {}, overrides: { proxy: { port: 0, upstream: target, upstreamTimeoutMs: 500, engine, ...overrides } } });
  const events = new BoundedQueue<InferenceEvent>(1000);
  const metrics = createProxyMetrics({ defaultMetrics: false });
  const proxy = createProxyServer({
    config: { ...config.proxy, upstream: target },
    logger: createLogger({ level: 'silent' }),
    metrics,
    onEvent: (e) => events.offer(e),
  });
  const addr = await proxy.listen();
  return { proxy, url: `http://127.0.0.1:${addr.port}`, events, metrics };
}

interface Raw {
  status: number;
  statusMessage: string;
  headers: Record<string, string | string[]>;
  sha: string;
  length: number;
  body: Buffer;
}

/** A raw HTTP exchange: no decompression, body hashed as it streams (100 MB is not kept). */
function raw(
  base: string,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: Buffer | string; keep?: boolean } = {},
): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = http.request(base + path, { method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      const hash = createHash('sha256');
      const kept: Buffer[] = [];
      let length = 0;
      res.on('data', (c: Buffer) => {
        hash.update(c);
        length += c.length;
        if (opts.keep !== false && length < 5_000_000) kept.push(c);
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          statusMessage: res.statusMessage!,
          headers: res.headers as Record<string, string | string[]>,
          sha: hash.digest('hex'),
          length,
          body: Buffer.concat(kept),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'date', 'x-request-id']);
const endToEnd = (h: Record<string, unknown>) => Object.fromEntries(Object.entries(h).filter(([k]) => !HOP.has(k)));

before(startUpstream);
after(async () => {
  for (const sock of upstreamSockets) sock.destroy();
  await new Promise((r) => upstream.close(r));
});

// Every suite runs on both engines: the fast lane (the default) and node:http, which the fast lane
// also hands unusual requests to. One upstream serves both.
for (const engine of ['fast', 'node'] as const)
  describe(`engine: ${engine}`, () => {
    let p: Awaited<ReturnType<typeof startProxy>>;
    before(async () => {
      p = await startProxy(engine, { model: 'weather', capture: { maxBodyBytes: 64 * 1024 } });
    });
    after(async () => {
      await p?.proxy.close(1000);
    });

    describe('byte-exact passthrough', () => {
      for (const [path, method] of [
        ['/chunked', 'GET'],
        ['/gzip', 'GET'],
        ['/binary', 'GET'],
        ['/teapot', 'GET'],
        ['/missing', 'GET'],
        ['/binary', 'HEAD'],
      ] as const) {
        test(`${method} ${path}: status, end-to-end headers and body equal the direct answer`, async () => {
          const direct = await raw(upstreamUrl, path, { method });
          const proxied = await raw(p.url, path, { method });
          assert.equal(proxied.status, direct.status);
          assert.equal(proxied.statusMessage, direct.statusMessage);
          assert.deepEqual(endToEnd(proxied.headers), endToEnd(direct.headers));
          assert.equal(proxied.sha, direct.sha);
          assert.equal(proxied.length, direct.length);
        });
      }

      test(`a ${BIG_MB} MB streamed body arrives byte for byte`, async () => {
        const direct = await raw(upstreamUrl, '/big', { keep: false });
        const proxied = await raw(p.url, '/big', { keep: false });
        assert.equal(proxied.length, BIG_MB * 1024 * 1024);
        assert.equal(proxied.sha, direct.sha);
      });

      test('request bodies reach the upstream unchanged, Expect: 100-continue included', async () => {
        const body = randomBytes(300_000);
        const r = await raw(p.url, '/echo', { method: 'POST', body, headers: { 'content-type': 'application/x-test', expect: '100-continue' } });
        assert.equal(r.status, 200);
        assert.ok(r.body.equals(body));
        // Proof of which engine ran: the fast lane hands Expect to node:http and counts that.
        const handovers = await p.metrics.registry.getSingleMetricAsString('driftwatch_proxy_handovers_total');
        if (engine === 'fast') assert.match(handovers, /reason="expect"\} 1/);
        else assert.doesNotMatch(handovers, /reason=/);
      });

      test('forwarding headers, a request id (kept or generated), traceparent untouched', async () => {
        const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
        seenByUpstream.length = 0;
        const kept = await raw(p.url, '/teapot', { headers: { 'x-request-id': 'client-id-42', traceparent: tp } });
        assert.equal(kept.headers['x-request-id'], 'client-id-42');
        const seen = seenByUpstream[0]!.headers;
        assert.equal(seen['x-request-id'], 'client-id-42');
        assert.equal(seen.traceparent, tp);
        assert.equal(seen['x-forwarded-for'], '127.0.0.1');
        assert.equal(seen['x-forwarded-proto'], 'http');
        assert.equal(seen['x-forwarded-host'], new URL(p.url).host);
        const generated = await raw(p.url, '/teapot', { headers: { 'x-request-id': 'bad id with spaces' } });
        assert.match(String(generated.headers['x-request-id']), /^[0-9a-f-]{36}$/);
      });

      test('connection upgrades (WebSocket) are proxied both ways', async () => {
        const c = await RawConn.open(Number(new URL(p.url).port));
        try {
          c.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
          const r = await c.message('GET', { timeoutMs: 5000 });
          assert.deepEqual([r.version, r.status], ['1.1', 101]);
          c.write('ping');
          assert.match(await c.waitFor('echo:ping', { timeoutMs: 5000 }), /echo:ping/);
        } finally {
          c.destroy();
        }
      });
    });

    describe('failures', () => {
      test('a refused upstream is a 502 JSON error with the request id; the proxy stays up', async () => {
        const dead = net.createServer();
        await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
        const port = (dead.address() as AddressInfo).port;
        dead.close();
        const q = await startProxy(engine, {}, `http://127.0.0.1:${port}`);
        try {
          const r = await raw(q.url, '/invocations', { method: 'POST', body: '{}', headers: { 'x-request-id': 'req-502' } });
          assert.equal(r.status, 502);
          const json = JSON.parse(r.body.toString());
          assert.equal(json.error_code, 'BAD_GATEWAY');
          assert.equal(json.request_id, 'req-502');
          assert.match(json.message, /ECONNREFUSED|unavailable/);
          assert.equal((await raw(q.url, '/x')).status, 502, 'still answering');
        } finally {
          await q.proxy.close(100);
        }
      });

      test('an upstream that does not answer in time is a 504', async () => {
        const r = await raw(p.url, '/slow');
        assert.equal(r.status, 504);
        assert.equal(JSON.parse(r.body.toString()).error_code, 'DEADLINE_EXCEEDED');
      });

      test('an upstream dying mid-answer cuts the client connection instead of hanging', async () => {
        await assert.rejects(raw(p.url, '/die-mid'), /aborted|socket hang up|ECONNRESET/);
        assert.equal((await raw(p.url, '/teapot')).status, 418, 'still proxying');
      });

      test('a client abort aborts the upstream request', async () => {
        const before = seenByUpstream.length;
        const closedBefore = slowClosed;
        await new Promise<void>((resolve) => {
          const req = http.request(p.url + '/slow', { agent: false });
          req.on('error', () => resolve());
          req.end();
          setTimeout(() => req.destroy(), 100);
        });
        // The upstream saw the request, and its side closes because the proxy aborted it (bounded
        // wait: well under the proxy's own 500 ms upstream timeout would be the proof, but only the
        // event is asserted, not a time).
        assert.equal(seenByUpstream.length, before + 1);
        for (let i = 0; i < 100 && slowClosed === closedBefore; i++) await new Promise((r) => setTimeout(r, 10));
        assert.equal(slowClosed, closedBefore + 1);
        assert.equal((await raw(p.url, '/teapot')).status, 418);
      });
    });

    describe('the tap', () => {
      test('prediction routes produce events with bodies, version and timings; others only metrics', async () => {
        p.events.drain(1000);
        const body = JSON.stringify({ dataframe_split: { columns: ['a'], data: [[1]] } });
        await raw(p.url, '/invocations', { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-request-id': 'tap-1' } });
        await raw(p.url, '/teapot');
        // The event is offered when the answer is done; give the close event a turn.
        await new Promise((r) => setImmediate(r));
        const events = p.events.drain(10);
        assert.equal(events.length, 1);
        const e = events[0]!;
        assert.equal(e.requestId, 'tap-1');
        assert.equal(e.route, 'invocations');
        assert.equal(e.model, 'weather');
        assert.equal(e.version, '7');
        assert.equal(e.status, 200);
        assert.equal(e.skipped, null);
        assert.equal(e.request!.bytes.toString(), body);
        assert.equal(e.request!.contentType, 'application/json');
        assert.equal(e.response!.bytes.toString(), '{"predictions":[{"label":"sun"}]}');
        assert.ok(e.upstreamMs > 0 && e.totalMs >= e.upstreamMs);
      });

      test('bodies over the cap are counted and skipped, not buffered; sampling skips by rate', async () => {
        p.events.drain(1000);
        const big = Buffer.alloc(100 * 1024, 32);
        await raw(p.url, '/v2/models/weather/versions/3/infer', { method: 'POST', body: big, headers: { 'content-type': 'application/json' } });
        await new Promise((r) => setImmediate(r));
        const [e] = p.events.drain(10);
        assert.equal(e!.skipped, 'too_large');
        assert.equal(e!.request, null);
        assert.equal(e!.model, 'weather');
        assert.equal(e!.version, '3');
        const metrics = await p.metrics.registry.getSingleMetricAsString('driftwatch_capture_events_total');
        assert.match(metrics, /outcome="too_large"\} 1/);

        const none = await startProxy(engine, { capture: { sampleRate: 0 } });
        try {
          await raw(none.url, '/invocations', { method: 'POST', body: '{}' });
          await new Promise((r) => setImmediate(r));
          const [s] = none.events.drain(10);
          assert.equal(s!.skipped, 'sampled_out');
          assert.equal(s!.request, null);
        } finally {
          await none.proxy.close(100);
        }
      });

      test('a full queue drops and counts; traffic is unaffected', async () => {
        const config = loadConfig({ env: {}, overrides: { proxy: { port: 0, upstream: upstreamUrl, engine } } });
        const q = new BoundedQueue<InferenceEvent>(2);
        const metrics = createProxyMetrics({ defaultMetrics: false });
        const proxy = createProxyServer({
          config: { ...config.proxy, upstream: upstreamUrl },
          logger: createLogger({ level: 'silent' }),
          metrics,
          onEvent: (e) => q.offer(e),
        });
        const addr = await proxy.listen();
        try {
          const results = await Promise.all(
            Array.from({ length: 10 }, () => raw(`http://127.0.0.1:${addr.port}`, '/invocations', { method: 'POST', body: '{}' })),
          );
          assert.ok(results.every((r) => r.status === 200));
          await new Promise((r) => setImmediate(r));
          assert.equal(q.depth, 2);
          assert.equal(q.dropped, 8);
        } finally {
          await proxy.close(100);
        }
      });
    });

    describe('the lean data path (node:http + http.request; http-proxy only for upgrades)', () => {
      /** Sends a request with exactly these headers (agent: false) and returns what the upstream saw. */
      async function seenFor(base: string, path: string, headers: Record<string, string>): Promise<{ url: string; headers: http.IncomingHttpHeaders }> {
        seenByUpstream.length = 0;
        await raw(base, path, { headers });
        return seenByUpstream[0]!;
      }

      test('hop-by-hop request headers (and the ones Connection names) are not forwarded; end-to-end ones are', async () => {
        const seen = await seenFor(p.url, '/teapot', {
          connection: 'keep-alive, x-hop-secret',
          'x-hop-secret': 'must not pass',
          'keep-alive': 'timeout=5',
          te: 'trailers',
          'proxy-connection': 'keep-alive',
          'x-end-to-end': 'passes',
        });
        assert.equal(seen.headers['x-hop-secret'], undefined);
        assert.equal(seen.headers['keep-alive'], undefined);
        assert.equal(seen.headers.te, undefined);
        assert.equal(seen.headers['proxy-connection'], undefined);
        assert.equal(seen.headers['x-end-to-end'], 'passes');
      });

      test('X-Forwarded-* append to what an earlier proxy wrote; X-Forwarded-Host is kept', async () => {
        const seen = await seenFor(p.url, '/teapot', { 'x-forwarded-for': '10.0.0.1', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com' });
        assert.equal(seen.headers['x-forwarded-for'], '10.0.0.1,127.0.0.1');
        assert.equal(seen.headers['x-forwarded-proto'], 'https,http');
        assert.equal(seen.headers['x-forwarded-host'], 'api.example.com');
        assert.equal(seen.headers['x-forwarded-port'], new URL(p.url).port);
      });

      test('generated request ids are UUID-shaped and distinct; the upstream sees the same id the client gets', async () => {
        const ids = new Set<string>();
        for (let i = 0; i < 20; i++) {
          seenByUpstream.length = 0;
          const r = await raw(p.url, '/teapot');
          const id = String(r.headers['x-request-id']);
          assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
          assert.equal(seenByUpstream[0]!.headers['x-request-id'], id);
          ids.add(id);
        }
        assert.equal(ids.size, 20);
      });

      test('hop-by-hop response headers are dropped, the rest arrive in order with their case', async () => {
        const rawUp = net.createServer((s) => {
          s.once('data', () =>
            s.end(
              'HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nX-First: a\r\nx-second: b\r\nContent-Length: 2\r\n\r\nok',
            ),
          );
        });
        await new Promise<void>((r) => rawUp.listen(0, '127.0.0.1', () => r()));
        const q = await startProxy(engine, {}, `http://127.0.0.1:${(rawUp.address() as AddressInfo).port}`);
        try {
          const r = await new Promise<http.IncomingMessage>((resolve, reject) => http.get(q.url + '/x', { agent: false }, resolve).on('error', reject));
          r.resume();
          assert.equal(r.headers['x-hop'], undefined);
          assert.notEqual(r.headers['keep-alive'], 'timeout=5');
          const names = r.rawHeaders.filter((_, i) => i % 2 === 0);
          assert.ok(names.indexOf('X-First') >= 0 && names.indexOf('X-First') < names.indexOf('x-second'), names.join(','));
        } finally {
          await q.proxy.close(100);
          rawUp.close();
        }
      });

      test('an upstream URL with a base path prefixes every request path', async () => {
        const q = await startProxy(engine, {}, `${upstreamUrl}/base/`);
        try {
          seenByUpstream.length = 0;
          await raw(q.url, '/echo?x=1', { method: 'POST', body: 'hi' });
          assert.equal(seenByUpstream[0]!.url, '/base/echo?x=1');
        } finally {
          await q.proxy.close(100);
        }
      });

      test('a chunked request body (no Content-Length) is streamed to the upstream unchanged and tapped', async () => {
        p.events.drain(1000);
        const parts = ['{"dataframe_split":', '{"columns":["a"],', '"data":[[1]]}}'];
        const echoed = await new Promise<string>((resolve, reject) => {
          const req = http.request(p.url + '/echo', { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
            let s = '';
            res.setEncoding('utf8');
            res.on('data', (d) => (s += d)).on('end', () => resolve(s));
          });
          req.on('error', reject);
          req.write(parts[0]);
          setTimeout(() => {
            req.write(parts[1]);
            req.end(parts[2]);
          }, 10);
        });
        assert.equal(echoed, parts.join(''));
        assert.equal(seenByUpstream.at(-1)!.headers['transfer-encoding'], 'chunked');
      });

      test('a 20 MB upload is streamed with flow control and arrives byte for byte', async () => {
        const body = randomBytes(20 * 1024 * 1024);
        const r = await raw(p.url, '/echo', { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' }, keep: false });
        assert.equal(r.status, 200);
        assert.equal(r.length, body.length);
        assert.equal(r.sha, createHash('sha256').update(body).digest('hex'));
      });

      test('with capture off, prediction routes still give metadata events, without bodies', async () => {
        const off = await startProxy(engine, { capture: { enabled: false } });
        try {
          await raw(off.url, '/invocations', { method: 'POST', body: '{"inputs":[[1]]}', headers: { 'content-type': 'application/json' } });
          await new Promise((r) => setImmediate(r));
          const [e] = off.events.drain(10);
          assert.equal(e!.skipped, 'sampled_out');
          assert.equal(e!.request, null);
          assert.equal(e!.status, 200);
          assert.equal(e!.requestBytes, 16);
          assert.ok(e!.responseBytes > 0);
        } finally {
          await off.proxy.close(100);
        }
      });
    });
  });
