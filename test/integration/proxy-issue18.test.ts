/**
 * Issue 18, items 1, 3 and the proxy part of 7, on both engines with real upstreams:
 * - 3: dot-segments are refused with the proxy's JSON 400 and never reach the upstream; with a base
 *   path, an absolute-form target is reduced to its path and query, and `OPTIONS *` goes to the
 *   base path itself.
 * - 1: an upstream that answers early (413) and closes or resets while the request body is still
 *   being sent: the client gets that answer, then the connection closes; no upstream error counted.
 * - 7 (proxy part): a client that sends a whole request and then half-closes gets the answer, then
 *   the connection closes.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { after, afterEach, describe, test } from 'node:test';
import { startBareProxy, type BareProxy } from '../fixtures/bare-proxy.js';
import { TrackedServers } from '../fixtures/tracked-servers.js';
import { destroyAllRawConns, header, RawConn, rawRequest, type RawResponse } from '../fixtures/raw-http.js';

const ENGINES = ['fast', 'node'] as const;
type Engine = (typeof ENGINES)[number];
const T = { timeout: 5000 };

const proxies: BareProxy[] = [];

const upstreams = new TrackedServers();
const serve = (server: net.Server): Promise<number> => upstreams.listen(server);

async function startProxy(engine: Engine, target: string): Promise<BareProxy> {
  const p = await startBareProxy(engine, target);
  proxies.push(p);
  return p;
}

afterEach(() => destroyAllRawConns());
after(async () => {
  destroyAllRawConns();
  await Promise.all(proxies.map((p) => p.proxy.close(200)));
  await upstreams.closeAll();
});

/** A static-file-like upstream: answers every request with the target it received. */
async function pathEcho(): Promise<{ url: string; seen: string[] }> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(req.url);
  });
  const port = await serve(server);
  return { url: `http://127.0.0.1:${port}`, seen };
}

/** One request on a fresh connection; the answer, and whether the proxy closed the connection after it. */
async function send(port: number, method: string, target: string): Promise<{ r: RawResponse; closed: boolean }> {
  const c = await RawConn.open(port);
  try {
    c.write(rawRequest(method, target, { host: 'proxy.test' }));
    const r = await c.response(method);
    const next = await c.next({ timeoutMs: 300 });
    return { r, closed: next.kind === 'eof' };
  } finally {
    c.destroy();
  }
}

const DOT_SEGMENTS = ['/../x', '/%2e%2e/x', '/..%2fx', '/%2E%2E%2Fx', '/a/./x', '/a/..', '/a/.%2E/x'];

for (const engine of ENGINES) {
  describe(`issue 18 item 3: the upstream base path cannot be escaped, engine=${engine}`, () => {
    for (const base of ['/base', '']) {
      test(`dot-segments get the proxy's JSON 400 and never reach the upstream (base '${base}')`, T, async () => {
        const up = await pathEcho();
        const p = await startProxy(engine, up.url + base);
        for (const target of DOT_SEGMENTS) {
          const { r, closed } = await send(p.port, 'GET', target);
          assert.equal(r.status, 400, `${target}: ${r.body.toString()}`);
          assert.match(header(r, 'content-type') ?? '', /application\/json/);
          assert.equal((JSON.parse(r.body.toString()) as { error_code?: string }).error_code, 'BAD_REQUEST');
          assert.ok(closed, `${target}: the connection closes after the 400`);
        }
        assert.deepEqual(up.seen, []);
        // Dots that are not segments pass, and so does anything in the query.
        for (const target of ['/a/.well-known/x', '/v1.2/..x/x..', '/a%2e/b', '/x?p=../../etc', '/%2e%2e%2e/x']) {
          const { r } = await send(p.port, 'GET', target);
          assert.equal(r.status, 200, target);
          assert.equal(r.body.toString(), base + target);
        }
      });
    }

    test('with a base path: absolute-form is reduced to its path and query, OPTIONS * goes to the base path', T, async () => {
      const up = await pathEcho();
      const p = await startProxy(engine, `${up.url}/base/`);
      const cases: Array<[string, string, string]> = [
        ['GET', 'http://proxy.test/p/q?x=1', '/base/p/q?x=1'],
        ['GET', 'http://proxy.test:5000?x=1', '/base/?x=1'],
        ['GET', 'http://proxy.test', '/base/'],
        ['OPTIONS', '*', '/base'],
      ];
      for (const [method, target, expected] of cases) {
        const { r } = await send(p.port, method, target);
        assert.equal(r.status, 200, `${method} ${target}: ${r.body.toString()}`);
        assert.equal(r.body.toString(), expected, `${method} ${target}`);
      }
      const { r } = await send(p.port, 'GET', 'http://proxy.test/../x');
      assert.equal(r.status, 400, 'a dot-segment in an absolute-form target');
    });

    test('without a base path: absolute-form and OPTIONS * are sent on as they came', T, async () => {
      const up = await pathEcho();
      const p = await startProxy(engine, up.url);
      for (const [method, target] of [
        ['GET', 'http://proxy.test/p?x=1'],
        ['OPTIONS', '*'],
      ] as const) {
        const { r } = await send(p.port, method, target);
        assert.equal(r.status, 200);
        assert.equal(r.body.toString(), target);
      }
    });
  });
}

/**
 * An upstream like the scoring server with a body limit (node:http): `declared` answers 413 at once
 * for a Content-Length over the limit, as serve/ does; `read` reads a few KB first; `reset` reads a
 * few KB, answers and then resets the connection. The 413 says `Connection: close`, so node closes
 * the connection after it with the rest of the body unread.
 */
async function limitUpstream(mode: 'declared' | 'read' | 'reset'): Promise<{ url: string }> {
  const server = http.createServer((req, res) => {
    const answer = () => {
      const body = '{"error_code":"RESOURCE_EXHAUSTED","message":"too large"}';
      res.writeHead(413, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' });
      res.end(body);
      if (mode === 'reset') setTimeout(() => req.socket.resetAndDestroy(), 20);
    };
    if (mode === 'declared' && Number(req.headers['content-length']) > 4096) return answer();
    let got = 0;
    const onData = (d: Buffer) => {
      got += d.length;
      if (got < 4096) return;
      req.off('data', onData);
      req.pause();
      answer();
    };
    req.on('data', onData);
  });
  const port = await serve(server);
  return { url: `http://127.0.0.1:${port}` };
}

function upstreamErrors(p: BareProxy): Promise<number> {
  return p.metrics.upstreamErrors.get().then((m) => m.values.reduce((a, v) => a + v.value, 0));
}

for (const engine of ENGINES) {
  describe(`issue 18 item 1: an upstream's early answer reaches the client, engine=${engine}`, () => {
    for (const mode of ['declared', 'read', 'reset'] as const) {
      for (const size of [64 * 1024, 8 * 1024 * 1024]) {
        test(`413 (${mode}) to a ${size >> 10} KiB Content-Length body: the client gets the 413, then a close`, { timeout: 15000 }, async () => {
          const up = await limitUpstream(mode);
          const p = await startProxy(engine, up.url);
          const c = await RawConn.open(p.port);
          c.write(rawRequest('POST', '/invocations', { host: 'proxy.test', headers: { 'content-type': 'application/json' }, body: Buffer.alloc(size, 0x31) }));
          const r = await c.response();
          assert.equal(r.status, 413, r.body.toString());
          assert.equal((JSON.parse(r.body.toString()) as { error_code?: string }).error_code, 'RESOURCE_EXHAUSTED');
          if (size > 1024 * 1024) {
            // Most of the body was still on its way: the connection closes after the answer.
            const next = await c.next({ timeoutMs: 3000 });
            assert.equal(next.kind, 'eof', 'the connection closes after the early answer');
          }
          assert.equal(await upstreamErrors(p), 0, 'not an upstream error');
        });
      }
    }
  });
}

for (const engine of ENGINES) {
  describe(`issue 18 item 7: a client that half-closes after its request gets the answer, engine=${engine}`, () => {
    const cases: Array<[string, string, string | undefined]> = [
      ['GET', '/hello', undefined],
      ['POST', '/invocations', '{"inputs":[[1,2]]}'],
      ['GET', 'http://proxy.test/handed-over', undefined], // the fast lane hands absolute-form to node:http
    ];
    for (const [method, target, body] of cases) {
      test(`${method} then end(): the answer, then a close`, T, async () => {
        const up = await pathEcho();
        const p = await startProxy(engine, up.url);
        const c = await RawConn.open(p.port);
        c.socket.end(rawRequest(method, target, { host: 'proxy.test', body }));
        const r = await c.response(method);
        assert.equal(r.status, 200);
        assert.equal(r.body.toString(), target);
        const next = await c.next({ timeoutMs: 2000 });
        assert.equal(next.kind, 'eof', 'the proxy closes after the answer');
      });
    }

    test('two pipelined requests then end(): both answers in order, then a close', T, async () => {
      const up = await pathEcho();
      const p = await startProxy(engine, up.url);
      const c = await RawConn.open(p.port);
      c.socket.end(Buffer.concat([rawRequest('GET', '/a', { host: 'proxy.test' }), rawRequest('GET', '/b', { host: 'proxy.test' })]));
      assert.equal((await c.response()).body.toString(), '/a');
      assert.equal((await c.response()).body.toString(), '/b');
      assert.equal((await c.next({ timeoutMs: 2000 })).kind, 'eof');
    });
  });
}
