/**
 * The forwarding policy both engines call (src/proxy/forwarding.ts). The engines' own tests check
 * what reaches the upstream and the client end to end; these pin the policy's parts where the two
 * engines use different forms of it: the added fields as header lines (fast lane) and as a flat
 * [name, value] list (node path) must be the same fields in the same order, and the one intended
 * difference (`reframed`) must be the only one.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  addedRequestLines,
  addedResponseLines,
  addRequestPairs,
  addResponsePairs,
  forwardRequestField,
  forwardResponseField,
  hasDotSegment,
  hostPort,
  upstreamPath,
  upstreamTarget,
  withoutNamedLines,
  withoutNamedPairs,
  type ClientForwarding,
  type RequestForwarding,
  type ResponseForwarding,
} from '../../src/proxy/forwarding.js';
import { F, requestField, responseField } from '../../src/proxy/header-fields.js';

const freshRequest = (): RequestForwarding => ({
  requestId: null,
  xForwardedFor: null,
  xForwardedPort: null,
  xForwardedProto: null,
  xForwardedHost: null,
  named: null,
  connection: 0,
});
const freshResponse = (): ResponseForwarding => ({ named: null, connection: 0, hasRequestId: false });

/** Header lines ("name: value\r\n"...) as a flat [name, value] list. */
function pairsOf(lines: string): string[] {
  if (lines === '') return [];
  return lines
    .slice(0, -2)
    .split('\r\n')
    .flatMap((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]);
}

describe('the added request fields are the same in both forms', () => {
  const clients: ClientForwarding[] = [
    { requestId: null, xForwardedFor: null, xForwardedPort: null, xForwardedProto: null, xForwardedHost: null },
    { requestId: 'client-id', xForwardedFor: '10.0.0.1,10.0.0.2', xForwardedPort: '443', xForwardedProto: 'https', xForwardedHost: 'first.example' },
    { requestId: null, xForwardedFor: '10.0.0.1', xForwardedPort: null, xForwardedProto: 'https', xForwardedHost: null },
  ];
  for (const [k, c] of clients.entries()) {
    for (const host of ['x', 'api.example:8443', '[::1]:9000', '[::1]']) {
      test(`client ${k}, Host ${host}`, () => {
        const lines = addedRequestLines(c, 'gen-id', '127.0.0.1', host, 'http');
        const out: string[] = [];
        addRequestPairs(out, c, 'gen-id', '127.0.0.1', host, 'http', 'upstream:80');
        assert.deepEqual(out, pairsOf(lines));
      });
    }
  }

  test('values: this hop appended, the port from Host, the first X-Forwarded-Host kept', () => {
    assert.equal(
      addedRequestLines(clients[1]!, 'unused', '127.0.0.1', 'api.example:8443', 'http'),
      'x-forwarded-for: 10.0.0.1,10.0.0.2,127.0.0.1\r\nx-forwarded-port: 443,8443\r\nx-forwarded-proto: https,http\r\nx-forwarded-host: first.example\r\n',
    );
    assert.equal(
      addedRequestLines(clients[0]!, 'gen-id', '::1', '[::1]', 'http'),
      'x-request-id: gen-id\r\nx-forwarded-for: ::1\r\nx-forwarded-port: 80\r\nx-forwarded-proto: http\r\nx-forwarded-host: [::1]\r\n',
    );
  });

  test('a request without Host (node path, HTTP/1.0) gets the upstream host and an empty X-Forwarded-Host', () => {
    const out: string[] = [];
    addRequestPairs(out, clients[0]!, 'gen-id', '127.0.0.1', null, 'https', 'upstream:8080');
    assert.deepEqual(out, [
      'x-request-id',
      'gen-id',
      'x-forwarded-for',
      '127.0.0.1',
      'x-forwarded-port',
      '443',
      'x-forwarded-proto',
      'https',
      'x-forwarded-host',
      '',
      'host',
      'upstream:8080',
    ]);
  });

  test('hostPort', () => {
    assert.deepEqual(
      [hostPort('x:81', 'http'), hostPort('x', 'http'), hostPort('x', 'https'), hostPort('[::1]', 'http'), hostPort('[::1]:5', 'http'), hostPort(null, 'http')],
      ['81', '80', '443', '80', '5', '80'],
    );
  });
});

describe('the answer side', () => {
  test('the request id is added only when the upstream sent none, in both forms', () => {
    for (const has of [false, true]) {
      const out: string[] = [];
      addResponsePairs(out, has, 'the-id');
      assert.deepEqual(out, pairsOf(addedResponseLines(has, 'the-id')));
    }
    assert.equal(addedResponseLines(false, 'the-id'), 'x-request-id: the-id\r\n');
  });

  test('reframed drops Transfer-Encoding and Trailer and changes nothing else', () => {
    const names = [
      'Transfer-Encoding',
      'Trailer',
      'Connection',
      'Keep-Alive',
      'Proxy-Connection',
      'Upgrade',
      'X-Request-ID',
      'Content-Length',
      'Content-Type',
      'Content-Encoding',
      'X-Driftwatch-Model-Version',
      'Server',
      'Date',
    ];
    for (const name of names) {
      const f = responseField(name);
      const relayed = forwardResponseField(freshResponse(), f, 'v', 0, 1, false);
      const reframed = forwardResponseField(freshResponse(), f, 'v', 0, 1, true);
      if (f === F.TRANSFER_ENCODING || f === F.TRAILER) assert.deepEqual([relayed, reframed], [true, false], name);
      else assert.equal(reframed, relayed, name);
    }
  });

  test('Connection: its tokens are gathered, close and keep-alive are flags', () => {
    const fwd = freshResponse();
    const value = 'keep-alive, X-Hop , close';
    assert.equal(forwardResponseField(fwd, F.CONNECTION, value, 0, value.length, false), false);
    assert.deepEqual([...fwd.named!], ['x-hop']);
    assert.equal(fwd.connection, 3);
  });
});

describe('the request side', () => {
  test('one pass over a head: what is forwarded, and what the added fields build on', () => {
    const head: [string, string][] = [
      ['Host', 'x'],
      ['X-Request-ID', 'bad id'],
      ['X-Request-Id', 'good-1'],
      ['x-request-id', 'good-2'],
      ['Connection', 'keep-alive, X-A'],
      ['X-A', '1'],
      ['TE', 'trailers'],
      ['X-Forwarded-For', '1.1.1.1'],
      ['x-forwarded-for', '2.2.2.2'],
      ['X-Forwarded-Host', 'first'],
      ['X-Forwarded-Host', 'second'],
      ['Expect', '100-continue'],
      ['Accept', '*/*'],
    ];
    const fwd = freshRequest();
    const out: string[] = [];
    for (const [name, value] of head) if (forwardRequestField(fwd, requestField(name), value, 0, value.length)) out.push(name, value);
    withoutNamedPairs(out, fwd.named!);
    assert.deepEqual(out, ['Host', 'x', 'X-Request-Id', 'good-1', 'Expect', '100-continue', 'Accept', '*/*']);
    assert.equal(fwd.requestId, 'good-1');
    assert.equal(fwd.xForwardedFor, '1.1.1.1,2.2.2.2');
    assert.equal(fwd.xForwardedHost, 'first');
  });

  test('a value is read from text[a, b) only', () => {
    const fwd = freshRequest();
    const text = 'X-Forwarded-For: 10.0.0.9\r\n';
    assert.equal(forwardRequestField(fwd, F.X_FORWARDED_FOR, text, 17, 25), false);
    assert.equal(fwd.xForwardedFor, '10.0.0.9');
  });

  test('withoutNamedLines and withoutNamedPairs drop the same fields', () => {
    const lines = 'X-A: 1\r\nx-b: 2\r\nX-C: 3\r\nx-a: 4\r\n';
    const named = new Set(['x-a', 'x-b']);
    const out = pairsOf(lines);
    withoutNamedPairs(out, named);
    assert.deepEqual(out, pairsOf(withoutNamedLines(lines, named)));
    assert.equal(withoutNamedLines(lines, named), 'X-C: 3\r\n');
    assert.equal(withoutNamedLines('', named), '');
  });
});

describe('the upstream target', () => {
  test('upstreamTarget and upstreamPath', () => {
    assert.deepEqual(upstreamTarget('http://127.0.0.1:8080/model-a/'), {
      protocol: 'http:',
      tls: false,
      host: '127.0.0.1',
      port: 8080,
      hostHeader: '127.0.0.1:8080',
      basePath: '/model-a',
      origin: 'http://127.0.0.1:8080',
    });
    assert.deepEqual(upstreamTarget('https://[::1]/'), {
      protocol: 'https:',
      tls: true,
      host: '::1',
      port: 443,
      hostHeader: '[::1]',
      basePath: '',
      origin: 'https://[::1]',
    });
    assert.equal(upstreamPath('', '/invocations?x=1'), '/invocations?x=1');
    assert.equal(upstreamPath('/model-a', '/invocations?x=1'), '/model-a/invocations?x=1');
  });

  // Issue 18 item 3: the base path could be escaped, and absolute-form and '*' were glued onto it.
  test('dot-segments, raw or percent-encoded, are refused (null); other dots pass', () => {
    for (const t of ['/../x', '/%2e%2e/x', '/%2E%2e/x', '/..%2fx', '/..%2Fx', '/.%2e%2fx', '/./x', '/a/..', '/a/.', '/a/..?q', '/..#f']) {
      assert.equal(hasDotSegment(t), true, t);
      assert.equal(upstreamPath('', t), null, t);
      assert.equal(upstreamPath('/base', t), null, t);
    }
    for (const t of ['/', '/x', '/.well-known/a', '/a..b/c', '/.../x', '/a%2e/b', '/%2e%2e%2e', '/a?p=../..', '/a?%2e%2e/x', '/a%20b', '/%']) {
      assert.equal(hasDotSegment(t), false, t);
      assert.equal(upstreamPath('', t), t, t);
      assert.equal(upstreamPath('/base', t), `/base${t}`, t);
    }
  });

  test('absolute-form and asterisk-form targets', () => {
    assert.equal(upstreamPath('/base', 'http://h:1/p?q=1'), '/base/p?q=1');
    assert.equal(upstreamPath('/base', 'http://h?q=1'), '/base/?q=1');
    assert.equal(upstreamPath('/base', 'http://h'), '/base/');
    assert.equal(upstreamPath('/base', 'http://h/../x'), null);
    assert.equal(upstreamPath('/base', '*'), '/base');
    assert.equal(upstreamPath('', '*'), '*');
    assert.equal(upstreamPath('', 'http://h/p?q=1'), 'http://h/p?q=1');
    assert.equal(upstreamPath('', 'http://h/../x'), null);
  });
});
