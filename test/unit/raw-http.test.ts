/**
 * The raw HTTP/1.1 client fixture (test/fixtures/raw-http.ts) that the proxy tests trust to say
 * what came back on the wire. The parser is fed the same bytes split at every position (and at
 * every pair of positions) and must give the same responses each time; then RawConn is checked
 * against a real loopback server.
 */
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { destroyAllRawConns, header, parseResponse, RawConn, rawRequest, ResponseReader, type Outcome, type ReadOptions } from '../fixtures/raw-http.js';

/** What a reader hands out, in a form deepEqual can compare (bodies as latin1 text). */
function summary(o: Exclude<Outcome, { kind: 'timeout' }>): unknown {
  if (o.kind !== 'response') return o;
  const r = o.response;
  return {
    status: r.status,
    version: r.version,
    reason: r.reason,
    headers: r.headers,
    body: r.body.toString('latin1'),
    chunked: r.chunked,
    trailers: r.trailers,
    interim: r.interim.map((m) => m.status),
  };
}

/**
 * Pushes the pieces one by one, reading after each push with the per-response options in turn,
 * then closes and reads until something other than a response. Returns everything read.
 */
function readAll(pieces: Buffer[], perResponse: ReadOptions[] = []): unknown[] {
  const reader = new ResponseReader();
  const out: unknown[] = [];
  const drain = (): boolean => {
    for (;;) {
      const o = reader.next(perResponse[out.length] ?? {});
      if (o === null) return true;
      out.push(summary(o));
      if (o.kind !== 'response') return false;
    }
  };
  for (const p of pieces) {
    reader.push(p);
    if (!drain()) return out;
  }
  reader.end();
  drain();
  return out;
}

/** Asserts that every way of cutting `bytes` in two, and in three, reads the same as one piece. */
function sameAtEverySplit(bytes: string, expected: unknown[], perResponse: ReadOptions[] = []): void {
  const b = Buffer.from(bytes, 'latin1');
  assert.deepEqual(readAll([b], perResponse), expected, 'in one piece');
  for (let i = 0; i <= b.length; i++) {
    assert.deepEqual(readAll([b.subarray(0, i), b.subarray(i)], perResponse), expected, `split at ${i}`);
  }
  for (let i = 1; i < b.length; i++) {
    for (let j = i + 1; j < b.length; j++) {
      const got = readAll([b.subarray(0, i), b.subarray(i, j), b.subarray(j)], perResponse);
      // Formatting a message per pair would dominate the run time: only on failure.
      if (JSON.stringify(got) !== JSON.stringify(expected)) assert.deepEqual(got, expected, `split at ${i} and ${j}`);
    }
  }
  assert.deepEqual(
    readAll(
      [...b].map((x) => Buffer.from([x])),
      perResponse,
    ),
    expected,
    'byte by byte',
  );
}

const response = (
  status: number,
  headers: Array<[string, string]>,
  body: string,
  extra: Partial<{ reason: string; version: string; chunked: boolean; trailers: Array<[string, string]>; interim: number[] }> = {},
) => ({
  status,
  version: extra.version ?? '1.1',
  reason: extra.reason ?? '',
  headers,
  body,
  chunked: extra.chunked ?? false,
  trailers: extra.trailers ?? [],
  interim: extra.interim ?? [],
});
const EOF = { kind: 'eof' };

describe('ResponseReader at every split', () => {
  test('Content-Length bodies, pipelined, then EOF', () => {
    const bytes = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  spaced  \r\n\r\nhelloHTTP/1.0 404 Not Found\r\ncontent-length: 0\r\n\r\n';
    sameAtEverySplit(bytes, [
      response(
        200,
        [
          ['Content-Length', '5'],
          ['X-A', 'spaced'],
        ],
        'hello',
        { reason: 'OK' },
      ),
      response(404, [['content-length', '0']], '', { reason: 'Not Found', version: '1.0' }),
      EOF,
    ]);
  });

  test('chunked: extensions, a chunk split mid-CRLF, trailers; the next response follows', () => {
    const bytes =
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n' +
      'A;ext="q v"\r\n0123456789\r\n3\r\nabc\r\n0;last\r\nX-Sum: 12\r\nx-two:b\r\n\r\n' +
      'HTTP/1.1 200\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n';
    sameAtEverySplit(bytes, [
      response(200, [['Transfer-Encoding', 'gzip, chunked']], '0123456789abc', {
        reason: 'OK',
        chunked: true,
        trailers: [
          ['X-Sum', '12'],
          ['x-two', 'b'],
        ],
      }),
      response(200, [['Transfer-Encoding', 'Chunked']], '', { chunked: true }),
      EOF,
    ]);
  });

  test('1xx answers are collected on the final one; 101 is final and has no body', () => {
    const bytes =
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n';
    sameAtEverySplit(bytes, [
      response(200, [['Content-Length', '2']], 'ok', { reason: 'OK', interim: [100, 103] }),
      response(101, [['Upgrade', 'x']], '', { reason: 'Switching Protocols' }),
      EOF,
    ]);
  });

  test("interim: 'return' hands out each 1xx by itself", () => {
    const bytes = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
    sameAtEverySplit(
      bytes,
      [response(100, [], '', { reason: 'Continue' }), response(200, [['Content-Length', '2']], 'ok', { reason: 'OK' }), EOF],
      [{ interim: 'return' }],
    );
  });

  test('no body for HEAD, 204 and 304 whatever their headers say', () => {
    const bytes =
      'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n' + // the answer to the HEAD
      'HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n' +
      'HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world';
    sameAtEverySplit(
      bytes,
      [
        response(200, [['Content-Length', '11']], '', { reason: 'OK' }),
        response(204, [['Content-Length', '3']], '', { reason: 'No Content' }),
        response(304, [['Transfer-Encoding', 'chunked']], '', { reason: 'Not Modified' }),
        response(200, [['Content-Length', '11']], 'hello world', { reason: 'OK' }),
        EOF,
      ],
      [{ method: 'HEAD' }, { method: 'GET' }, { method: 'GET' }, { method: 'GET' }],
    );
  });

  test('methods are case-sensitive: "head" is not HEAD, so its answer has a body', () => {
    sameAtEverySplit(
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
      [response(200, [['Content-Length', '2']], 'ok', { reason: 'OK' }), EOF],
      [{ method: 'head' }],
    );
  });

  test('close-delimited: the body is everything up to the close', () => {
    const bytes = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this, HTTP/1.1 200 OK\r\n\r\n too';
    sameAtEverySplit(bytes, [response(200, [['Content-Type', 'text/plain']], 'all of this, HTTP/1.1 200 OK\r\n\r\n too', { reason: 'OK' }), EOF]);
  });

  test('an unframed 400 to a HEAD: no body by default, read to the close with headRefusalHasBody', () => {
    const bytes = 'HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n{"error":"bad"}';
    const head400 = response(400, [['Content-Type', 'application/json']], '', { reason: 'Bad Request' });
    sameAtEverySplit(bytes, [head400, { kind: 'garbage', what: 'eof inside a head: {"error":"bad"}' }], [{ method: 'HEAD' }]);
    sameAtEverySplit(bytes, [{ ...head400, body: '{"error":"bad"}' }, EOF], [{ method: 'HEAD', headRefusalHasBody: true }]);
    // A framed 400 keeps the HEAD rule even with the option.
    const framed = 'HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\n';
    sameAtEverySplit(framed, [response(400, [['Content-Length', '2']], '', { reason: 'Bad Request' }), EOF], [{ method: 'HEAD', headRefusalHasBody: true }]);
  });
});

describe('what is not a response', () => {
  const garbage = (bytes: string, what: RegExp, opts: ReadOptions = {}) => {
    const b = Buffer.from(bytes, 'latin1');
    // Garbage is found once the bytes that show it are in, even before the close.
    const r = parseResponse(b, false, opts);
    assert.equal(r.kind, 'garbage', `${JSON.stringify(bytes)}: ${JSON.stringify(r)}`);
    assert.match(r.kind === 'garbage' ? r.what : '', what);
    const all = readAll([b], [opts]);
    assert.equal(all.length, 1);
    assert.match((all[0] as { what: string }).what, what);
  };

  test('broken status lines, field lines, chunk framing and lengths', () => {
    garbage('HTTP/1.1 20 OK\r\n\r\n', /^status line "HTTP\/1\.1 20 OK"$/);
    garbage('HTTP/2 200 OK\r\n\r\n', /^status line/);
    garbage('{"json":"without a head"}\r\n\r\n', /^status line/);
    garbage('HTTP/1.1 200 OK\r\nNoColon\r\n\r\n', /^field line "NoColon"$/);
    garbage('HTTP/1.1 200 OK\r\n: empty name\r\n\r\n', /^field line/);
    garbage('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /^chunk size "zz"$/);
    garbage('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n', /^chunk data not followed by CRLF/);
    garbage('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nno colon\r\n\r\n', /^trailer line/);
    garbage('HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello', /^content-length "5, 5"$/);
    garbage('HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', /^content-length/);
  });

  test('a close at every position inside a response is garbage, except before its first byte', () => {
    const framings = [
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n',
    ];
    for (const full of framings) {
      const b = Buffer.from(full, 'latin1');
      for (let i = 0; i <= b.length; i++) {
        const got = readAll([b.subarray(0, i)]);
        if (i === 0) assert.deepEqual(got, [EOF]);
        else if (i === b.length) assert.deepEqual((got[0] as { body: string }).body, 'hello');
        else {
          assert.equal(got.length, 1, `cut at ${i}`);
          assert.equal((got[0] as { kind?: string }).kind, 'garbage', `cut at ${i}: ${JSON.stringify(got)}`);
          assert.match((got[0] as { what: string }).what, /^eof in/, `cut at ${i}`);
        }
      }
    }
  });

  test('interim answers followed by the close are an EOF, not a response', () => {
    assert.deepEqual(readAll([Buffer.from('HTTP/1.1 100 Continue\r\n\r\n')]), [EOF]);
  });

  test('parseResponse consumes nothing and says how long the message was', () => {
    const b = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 204 No Content\r\n\r\n', 'latin1');
    const first = parseResponse(b, false);
    assert.equal(first.kind, 'message');
    assert.equal(first.kind === 'message' ? first.size : -1, 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'.length);
    assert.deepEqual(parseResponse(b, false), first);
    assert.equal(parseResponse(b.subarray(0, 10), false).kind, 'incomplete');
  });
});

test('rawRequest writes exactly the request asked for', () => {
  assert.equal(rawRequest('GET', '/a?b').toString('latin1'), 'GET /a?b HTTP/1.1\r\nHost: localhost\r\n\r\n');
  assert.equal(
    rawRequest('POST', '/p', { host: 'h.test', headers: { 'X-A': '1', 'x-b': 'two' }, body: 'caf\xe9' }).toString('latin1'),
    'POST /p HTTP/1.1\r\nHost: h.test\r\nX-A: 1\r\nx-b: two\r\nContent-Length: 4\r\n\r\ncaf\xe9',
  );
  assert.equal(rawRequest('GET', '/', { host: null, version: '1.0' }).toString('latin1'), 'GET / HTTP/1.0\r\n\r\n');
  assert.equal(header([['Content-Length', '3']], 'content-length'), '3');
});

describe('RawConn over a loopback server', () => {
  const servers: net.Server[] = [];
  const serverSockets = new Set<net.Socket>();
  after(async () => {
    destroyAllRawConns();
    for (const s of serverSockets) s.destroy();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  /** A server that runs `onConnection` for each client, and that the test closes at the end. */
  async function server(onConnection: (s: net.Socket) => void): Promise<number> {
    const srv = net.createServer((s) => {
      serverSockets.add(s);
      s.on('error', () => {});
      s.once('close', () => serverSockets.delete(s));
      onConnection(s);
    });
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    return (srv.address() as AddressInfo).port;
  }

  const tick = () => new Promise((r) => setTimeout(r, 5));

  test('responses written in pieces across TCP segments, then the close', async () => {
    const port = await server((s) => {
      s.setNoDelay(true);
      // Written from an async loop the server callback does not wait for: a failure ends the socket.
      void (async () => {
        for (const piece of [
          'HTTP/1.1 103 Early',
          ' Hints\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r',
          '\nok\r\n0\r\n\r',
          '\nHTTP/1.1 200 OK\r\n\r\nto the close',
        ]) {
          s.write(piece);
          await tick();
        }
        s.end();
      })().catch(() => s.destroy());
    });
    const c = await RawConn.open(port);
    const first = await c.response();
    assert.deepEqual([first.status, first.body.toString(), first.chunked, first.interim.map((m) => m.status)], [200, 'ok', true, [103]]);
    const second = await c.response();
    assert.equal(second.body.toString(), 'to the close');
    assert.deepEqual(await c.next(), { kind: 'eof' });
    await c.closed;
    assert.equal(c.ended, true);
    await assert.rejects(c.response(), /connection closed before a response/);
  });

  test('a read with a deadline that passes is a timeout with what was buffered; the connection still works after', async () => {
    let peer!: net.Socket;
    const port = await server((s) => {
      peer = s;
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab');
    });
    const c = await RawConn.open(port);
    const o = await c.next({ timeoutMs: 100 });
    assert.equal(o.kind, 'timeout');
    assert.match(o.kind === 'timeout' ? o.unread : '', /Content-Length: 4\r\n\r\nab$/);
    await assert.rejects(c.response('GET', { timeoutMs: 50 }), /timed out waiting for a response/);
    peer.write('cd');
    assert.equal((await c.response('GET', { timeoutMs: 2000 })).body.toString(), 'abcd');
  });

  test('write sends exact bytes; waitFor and readToClose see raw bytes after a 101', async () => {
    const port = await server((s) => {
      let got = '';
      s.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        if (got === 'GET /ws HTTP/1.1\r\nHost: localhost\r\n\r\n') s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n');
        else if (got.endsWith('ping\xff')) s.end(`echo:${got.slice(got.indexOf('\r\n\r\n') + 4)}`, 'latin1');
      });
    });
    const c = await RawConn.open(port);
    c.write(rawRequest('GET', '/ws'));
    assert.equal((await c.message('GET', { timeoutMs: 2000 })).status, 101);
    c.write('ping\xff');
    assert.match(await c.waitFor('echo:', { timeoutMs: 2000 }), /^echo:/);
    assert.equal((await c.readToClose({ timeoutMs: 2000 })).toString('latin1'), 'echo:ping\xff');
    await assert.rejects(c.waitFor('more'), /connection closed while waiting for "more"/);
    c.write('ignored once closed'); // must not throw
  });
});
