/**
 * Expect: 100-continue on a pipelined request whose answer waits behind an earlier one, through both
 * engines (the fast lane hands such a connection to the node path). Found by the differential run
 * (DIFF_SEED=99, sequence 274): node's writeContinue() queued the 100 in the response, and the first
 * Buffer write of the final answer put its head in front of it, so the client read
 * "head, 100 Continue, body". src/http-lifecycle.ts ('checkContinue') has the why.
 *
 * The client is a raw socket (node's client never pipelines and would hide the order); the upstream
 * is a node:http server that holds the first answer until the later one has been answered, which is
 * what leaves the later answer queued in the proxy while its head and body are written.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { ProxyServer } from '../../src/proxy/proxy-server.js';
import { startBareProxy } from '../fixtures/bare-proxy.js';

const T = { timeout: 5000 };
/**
 * How long the held answer waits after the later one left the upstream: time for the proxy to read
 * that answer and write it into its queued response. Not a performance bound: a slower proxy makes
 * the test exercise less (the answer is no longer queued), never fail.
 */
const SETTLE_MS = 100;

const clientSockets = new Set<net.Socket>();
const serverSockets = new Set<net.Socket>();
const proxies: ProxyServer[] = [];
const timers = new Set<NodeJS.Timeout>();
let upstream: http.Server;
let target = '';
/** What the upstream parsed, in arrival order. */
const seen: Array<{ method: string; url: string; expect: string | undefined; body: string }> = [];
let releaseHeld: (() => void) | null = null;

function upstreamHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('latin1');
    seen.push({ method: req.method ?? '', url: req.url ?? '', expect: req.headers.expect, body });
    if (req.url === '/held' || req.url === '*') {
      releaseHeld = () => {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 4 });
        res.end('held');
      };
      return;
    }
    const text = `${req.method} ${req.url} ${body}`;
    res.writeHead(201, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
    res.end(text);
    res.once('finish', () => {
      const t = setTimeout(() => {
        timers.delete(t);
        releaseHeld?.();
        releaseHeld = null;
      }, SETTLE_MS);
      timers.add(t);
    });
  });
}

async function startProxy(engine: 'fast' | 'node'): Promise<number> {
  const p = await startBareProxy(engine, target);
  proxies.push(p.proxy);
  return p.port;
}

before(async () => {
  upstream = http.createServer(upstreamHandler);
  upstream.on('connection', (s: net.Socket) => {
    serverSockets.add(s);
    s.on('error', () => {});
    s.once('close', () => serverSockets.delete(s));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  target = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});

after(async () => {
  for (const t of timers) clearTimeout(t);
  for (const s of clientSockets) s.destroy();
  await Promise.all(proxies.map((p) => p.close(200)));
  for (const s of serverSockets) s.destroy();
  await new Promise((r) => upstream.close(r));
});

/** Writes the bytes in one go and reads until the proxy closes (the last request says close). */
function exchange(port: number, bytes: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    clientSockets.add(s);
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.once('error', reject);
    s.once('close', () => {
      clientSockets.delete(s);
      resolve(Buffer.concat(chunks));
    });
    s.once('connect', () => s.write(bytes, 'latin1'));
  });
}

/**
 * The messages in what the client read, each as "status body", parsed strictly in order (1xx have
 * no body, the rest a Content-Length): a 100 in the wrong place shows up as a wrong body or as
 * unparsable bytes, never as a pass.
 */
function messages(wire: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < wire.length) {
    const end = wire.indexOf('\r\n\r\n', at);
    if (end < 0) {
      out.push(`unparsable: ${JSON.stringify(wire.toString('latin1', at))}`);
      break;
    }
    const lines = wire.toString('latin1', at, end).split('\r\n');
    const m = /^HTTP\/1\.1 (\d{3}) /.exec(lines[0]!);
    if (m === null) {
      out.push(`unparsable: ${JSON.stringify(wire.toString('latin1', at))}`);
      break;
    }
    const status = Number(m[1]);
    at = end + 4;
    if (status < 200) {
      out.push(String(status));
      continue;
    }
    const cl = lines.find((l) => /^content-length:/i.test(l));
    const n = cl === undefined ? 0 : Number(cl.slice(cl.indexOf(':') + 1));
    out.push(`${status} ${wire.toString('latin1', at, at + n)}`);
    at += n;
  }
  return out;
}

for (const engine of ['fast', 'node'] as const) {
  describe(`engine ${engine}: Expect: 100-continue on a pipelined request queued behind an answer`, () => {
    let port = 0;
    before(async () => {
      port = await startProxy(engine);
    });

    test('the 100 Continue comes after the earlier answer and before its own final head', T, async () => {
      const mark = seen.length;
      // Expect on the first request too: it is where the fast lane hands the connection over, so on
      // both engines the node path holds both requests at once.
      const wire = await exchange(
        port,
        'GET /held HTTP/1.1\r\nHost: proxy.test\r\nExpect: 100-continue\r\n\r\n' +
          'GET /after HTTP/1.1\r\nHost: proxy.test\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n',
      );
      assert.deepEqual(messages(wire), ['100', '200 held', '100', '201 GET /after '], JSON.stringify(wire.toString('latin1')));
      assert.deepEqual(
        seen
          .slice(mark)
          .map((s) => s.url)
          .sort(),
        ['/after', '/held'],
        'both requests reached the upstream',
      );
    });

    test('the seed-99 shape: GET * held, then a POST with Expect and its body pipelined behind it', T, async () => {
      const mark = seen.length;
      const body = 'posted without waiting for the 100';
      const wire = await exchange(
        port,
        'GET * HTTP/1.1\r\nHost: proxy.test\r\n\r\n' +
          `POST /after HTTP/1.1\r\nHost: proxy.test\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n${body}`,
      );
      assert.deepEqual(messages(wire), ['200 held', '100', `201 POST /after ${body}`], JSON.stringify(wire.toString('latin1')));
      const post = seen.slice(mark).find((s) => s.url === '/after');
      assert.equal(post?.body, body, 'the upstream got the whole body');
    });

    test('an Expect request that is not queued: 100, then its answer, and the connection stays usable', T, async () => {
      const wire = await exchange(
        port,
        'POST /first HTTP/1.1\r\nHost: proxy.test\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi' +
          'GET /next HTTP/1.1\r\nHost: proxy.test\r\nConnection: close\r\n\r\n',
      );
      assert.deepEqual(messages(wire), ['100', '201 POST /first hi', '201 GET /next '], JSON.stringify(wire.toString('latin1')));
    });
  });
}
