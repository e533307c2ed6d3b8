/**
 * The fast lane's chunked-body scanner. It relays bytes as framed, so what matters is that it
 * stops exactly where the message stops (however the bytes are split across reads), reports exactly
 * the payload, and gives up on framings it cannot be sure of. node:http decodes the same encodings
 * as the reference.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { ChunkedScanner } from '../../src/proxy/chunked-scanner.js';
import { mulberry32 } from '../prng.js';

interface Encoded {
  payload: Buffer;
  wire: Buffer;
  trailers: Array<[string, string]>;
}

/** A random body, chunked with random sizes, hex case, leading zeros, extensions and trailers. */
function encode(r: () => number, maxBody: number, maxChunk: number): Encoded {
  const int = (n: number) => Math.floor(r() * n);
  const payload = Buffer.alloc(int(maxBody + 1));
  for (let k = 0; k < payload.length; k++) payload[k] = int(256);
  const parts: Buffer[] = [];
  const sizeLine = (n: number) => {
    let hex = n.toString(16);
    if (r() < 0.5) hex = hex.toUpperCase();
    if (r() < 0.2) hex = '0'.repeat(1 + int(15 - hex.length)) + hex;
    const ext = r() < 0.3 ? Array.from({ length: 1 + int(3) }, () => (r() < 0.5 ? `;a${int(100)}=b${int(100)}` : `;flag${int(9)}`)).join('') : '';
    return Buffer.from(`${hex}${ext}\r\n`, 'latin1');
  };
  for (let at = 0; at < payload.length; ) {
    const n = Math.min(1 + int(maxChunk), payload.length - at);
    // Payload bytes are random, so CR, LF and hex digits land inside chunk data too.
    parts.push(sizeLine(n), payload.subarray(at, at + n), Buffer.from('\r\n'));
    at += n;
  }
  parts.push(sizeLine(0));
  const trailers: Array<[string, string]> = r() < 0.3 ? Array.from({ length: 1 + int(3) }, (_, k) => [`x-trailer-${k}`, `v${int(1000)}`]) : [];
  for (const [k, v] of trailers) parts.push(Buffer.from(`${k}: ${v}\r\n`));
  parts.push(Buffer.from('\r\n'));
  return { payload, wire: Buffer.concat(parts), trailers };
}

/** Feeds the pieces in order; returns where the message ended (as an index into the whole) and the payload seen. */
function scan(pieces: Buffer[]): { end: number; data: Buffer; error: string | null } {
  const s = new ChunkedScanner();
  const data: Buffer[] = [];
  let offset = 0;
  for (const piece of pieces) {
    const end = s.feed(piece, 0, (b, from, to) => {
      assert.equal(b, piece, 'ranges are into the buffer that was fed');
      assert.ok(from >= 0 && from < to && to <= piece.length, `range ${from}..${to} of ${piece.length}`);
      data.push(Buffer.from(b.subarray(from, to)));
    });
    if (s.error !== null) return { end: -1, data: Buffer.concat(data), error: s.error };
    if (end >= 0) {
      assert.equal(s.done, true);
      return { end: offset + end, data: Buffer.concat(data), error: null };
    }
    assert.equal(s.done, false);
    offset += piece.length;
  }
  return { end: -1, data: Buffer.concat(data), error: null };
}

/** Cuts buf at the given positions into separate Buffers (copies: no shared memory between reads). */
function cut(buf: Buffer, at: number[]): Buffer[] {
  const points = [0, ...[...new Set(at)].sort((a, b) => a - b), buf.length];
  const out: Buffer[] = [];
  for (let k = 1; k < points.length; k++) if (points[k]! > points[k - 1]!) out.push(Buffer.from(buf.subarray(points[k - 1]!, points[k]!)));
  return out;
}

/** Scans a complete wire text in one go and expects the framing to be refused with this reason. */
function refused(wire: string | Buffer, reason: string): void {
  const buf = typeof wire === 'string' ? Buffer.from(wire, 'latin1') : wire;
  const whole = new ChunkedScanner();
  assert.equal(whole.feed(buf, 0), -1);
  assert.equal(whole.error, reason, JSON.stringify(buf.toString('latin1').slice(0, 60)));
  // Byte by byte, the same verdict.
  const bytewise = new ChunkedScanner();
  for (let k = 0; k < buf.length && bytewise.error === null; k++) assert.equal(bytewise.feed(buf.subarray(k, k + 1), 0), -1);
  assert.equal(bytewise.error, reason, 'byte by byte');
}

describe('framing found exactly, however the bytes are split', () => {
  test('small encodings: one split at every byte position, and byte by byte', () => {
    const r = mulberry32(0xc0ffee);
    for (let iter = 0; iter < 120; iter++) {
      const e = encode(r, 40, 9);
      const whole = scan([e.wire]);
      assert.equal(whole.end, e.wire.length);
      assert.ok(whole.data.equals(e.payload));
      for (let k = 0; k <= e.wire.length; k++) {
        const split = scan(cut(e.wire, [k]));
        assert.equal(split.end, e.wire.length, `split at ${k} of ${JSON.stringify(e.wire.toString('latin1'))}`);
        assert.ok(split.data.equals(e.payload), `payload, split at ${k}`);
      }
      const bytes = scan(
        cut(
          e.wire,
          Array.from({ length: e.wire.length }, (_, k) => k),
        ),
      );
      assert.equal(bytes.end, e.wire.length);
      assert.ok(bytes.data.equals(e.payload));
    }
  });

  test('the start argument: scanning resumes mid-buffer and indexes stay in that buffer', () => {
    const r = mulberry32(7);
    for (let iter = 0; iter < 50; iter++) {
      const e = encode(r, 60, 20);
      const prefix = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
      const buf = Buffer.concat([prefix, e.wire]);
      for (let k = prefix.length; k <= buf.length; k += 1 + Math.floor(r() * 5)) {
        const s = new ChunkedScanner();
        const data: Buffer[] = [];
        const first = s.feed(buf.subarray(0, k), prefix.length, (b, from, to) => data.push(Buffer.from(b.subarray(from, to))));
        const end = first >= 0 ? first : s.feed(buf, k, (b, from, to) => data.push(Buffer.from(b.subarray(from, to))));
        assert.equal(end, buf.length);
        assert.ok(Buffer.concat(data).equals(e.payload));
      }
    }
  });

  test('large encodings split at random positions', () => {
    const r = mulberry32(0xb16);
    for (let iter = 0; iter < 12; iter++) {
      const e = encode(r, 600_000, iter % 2 === 0 ? 70_000 : 900);
      const at = Array.from({ length: 1 + Math.floor(r() * 200) }, () => Math.floor(r() * e.wire.length));
      const got = scan(cut(e.wire, at));
      assert.equal(got.error, null);
      assert.equal(got.end, e.wire.length);
      assert.ok(got.data.equals(e.payload), `payload of ${e.payload.length} bytes`);
    }
  });

  test('without onData the end is found all the same', () => {
    const e = encode(mulberry32(3), 5000, 300);
    const s = new ChunkedScanner();
    assert.equal(s.feed(e.wire, 0), e.wire.length);
  });

  test('an empty body is "0" CRLF CRLF; a 15-digit size is read; whitespace before an extension is refused', () => {
    assert.equal(new ChunkedScanner().feed(Buffer.from('0\r\n\r\n'), 0), 5);
    const padded = '000000000000005\r\nhello\r\n0\r\n\r\n';
    assert.deepEqual(scan([Buffer.from(padded)]), { end: padded.length, data: Buffer.from('hello'), error: null });
    // node:http refuses whitespace before ';', and so does the scanner: both ends read the framing alike.
    for (const bws of ['5 ;a=b\r\nhello\r\n0\r\n\r\n', '5\t;a=b\r\nhello\r\n0\r\n\r\n']) {
      const s = new ChunkedScanner();
      assert.equal(s.feed(Buffer.from(bws), 0), -1);
      assert.equal(s.error, 'bad chunk size');
    }
  });
});

describe('bytes after the end', () => {
  test('the returned index is the first byte after the message; the rest is not payload', () => {
    const r = mulberry32(99);
    const next = Buffer.from('POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}');
    for (let iter = 0; iter < 40; iter++) {
      const e = encode(r, 100, 30);
      const buf = Buffer.concat([e.wire, next]);
      const got = scan([buf]);
      assert.equal(got.end, e.wire.length);
      assert.ok(buf.subarray(got.end).equals(next));
      assert.ok(got.data.equals(e.payload));
      // The end inside a later piece: the index is into that piece.
      const k = Math.floor(r() * e.wire.length);
      const s = new ChunkedScanner();
      assert.equal(s.feed(buf.subarray(0, k), 0), -1);
      assert.equal(s.feed(buf.subarray(k), 0), e.wire.length - k);
    }
  });

  test('once done, further feeds consume nothing', () => {
    const s = new ChunkedScanner();
    assert.equal(s.feed(Buffer.from('0\r\n\r\nGET'), 0), 5);
    assert.equal(s.done, true);
    assert.equal(s.feed(Buffer.from('more'), 1), 1);
    assert.equal(s.error, null);
  });
});

describe('invalid framings set error and return -1', () => {
  test('chunk size: not hex, missing, too many digits, junk after', () => {
    refused('g\r\nhello\r\n0\r\n\r\n', 'chunk size expected');
    refused('\r\n', 'chunk size expected');
    refused(';a=b\r\n', 'chunk size expected');
    refused(' 5\r\n', 'chunk size expected');
    refused('-5\r\n', 'chunk size expected');
    refused('0x5\r\nhello\r\n', 'bad chunk size');
    refused('5g\r\nhello\r\n', 'bad chunk size');
    refused('1000000000000000\r\n', 'chunk size too large');
    // Digits are counted, not the value: 16 digits with leading zeros are refused too (node:http
    // accepts them; refusing is the safe side).
    refused('0000000000000005\r\nhello\r\n0\r\n\r\n', 'chunk size too large');
    refused('fffffffffffffffff\r\n', 'chunk size too large');
  });

  test('CRLF after the size line and after the data', () => {
    refused('5\rXhello\r\n', 'CRLF expected after chunk size');
    refused('5;a=b\rX', 'CRLF expected after chunk size');
    refused('5\r\nhelloX\r\n0\r\n\r\n', 'CRLF expected after chunk data');
    refused('5\r\nhello\rX0\r\n\r\n', 'CRLF expected after chunk data');
    refused('5\r\nhello!\r\n0\r\n\r\n', 'CRLF expected after chunk data');
    refused('3\r\nhello\r\n0\r\n\r\n', 'CRLF expected after chunk data');
    refused('5\r\nhello\r\n0\r\n\rX', 'CRLF expected at the end of a chunked body');
    refused('5\r\nhello\r\n0\r\nX-T: 1\rX', 'CRLF expected after a trailer');
  });

  test('bare LF', () => {
    refused('5\nhello\r\n0\r\n\r\n', 'bad chunk size');
    refused('5;a=b\nhello\r\n0\r\n\r\n', 'bare LF in chunk line');
    refused('5\r\nhello\n0\r\n\r\n', 'CRLF expected after chunk data');
    refused('5\r\nhello\r\n0\n\n', 'bad chunk size');
    refused('5\r\nhello\r\n0\r\n\r\r\n', 'CRLF expected at the end of a chunked body');
  });

  test('a huge extension: the line limit holds at the boundary and across reads', () => {
    // The limit counts the extension bytes from the ';' (the size digits are not counted).
    const atLimit = `5;${'a'.repeat(4095)}\r\nhello\r\n0\r\n\r\n`;
    assert.equal(scan([Buffer.from(atLimit)]).end, atLimit.length);
    refused(`5;${'a'.repeat(4096)}\r\nhello\r\n0\r\n\r\n`, 'chunk extension too long');
    refused(`5;${'a'.repeat(100_000)}`, 'chunk extension too long');
    // Each line has its own budget: many long extensions are fine.
    const many = `${'1;'.padEnd(4000, 'x')}\r\nA\r\n`.repeat(10) + '0\r\n\r\n';
    assert.equal(scan([Buffer.from(many)]).end, many.length);
  });

  test('huge trailers, in one line or spread over many', () => {
    refused(`0\r\nX-Big: ${'a'.repeat(17_000)}\r\n\r\n`, 'trailers too large');
    refused('0\r\n' + `X-T: ${'b'.repeat(995)}\r\n`.repeat(20) + '\r\n', 'trailers too large');
    const fits = '0\r\n' + `X-T: ${'b'.repeat(995)}\r\n`.repeat(16) + '\r\n';
    assert.equal(scan([Buffer.from(fits)]).end, fits.length);
  });

  // A bare LF in the trailer section: node:http refuses it, but a lenient upstream reads "0\r\n\n"
  // as the end of the body and the bytes after it as a second request the proxy never saw.
  test('bare LF in the trailer section', () => {
    const s = new ChunkedScanner();
    const smuggle = Buffer.from('5\r\nhello\r\n0\r\n\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n');
    const end = s.feed(smuggle, 0);
    assert.equal(end, -1, `ended at ${end}`);
    assert.notEqual(s.error, null);
  });
});

describe('node:http decodes the same encodings', () => {
  test('a raw client sends each encoding to http.createServer; the body it reads is the payload', async () => {
    const server = http.createServer((req, res) => {
      const hash = createHash('sha256');
      let length = 0;
      req.on('data', (c: Buffer) => {
        hash.update(c);
        length += c.length;
      });
      req.on('end', () => res.end(JSON.stringify({ length, sha: hash.digest('hex'), trailers: req.trailers })));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    try {
      const r = mulberry32(0xd00d);
      for (let iter = 0; iter < 40; iter++) {
        const e = encode(r, iter < 30 ? 300 : 200_000, iter < 30 ? 40 : 20_000);
        const ours = scan(cut(e.wire, [Math.floor(r() * e.wire.length)]));
        assert.equal(ours.end, e.wire.length);
        const answer = await new Promise<string>((resolve, reject) => {
          const sock = net.connect(port, '127.0.0.1', () => {
            sock.write('POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n');
            sock.end(e.wire);
          });
          let got = '';
          sock.setEncoding('latin1');
          sock.on('data', (d) => (got += d));
          sock.on('close', () => resolve(got));
          sock.on('error', reject);
        });
        assert.match(answer, /^HTTP\/1\.1 200 /, answer);
        const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
        assert.equal(body.length, e.payload.length);
        assert.equal(body.sha, createHash('sha256').update(e.payload).digest('hex'));
        assert.equal(body.sha, createHash('sha256').update(ours.data).digest('hex'));
        assert.deepEqual(body.trailers, Object.fromEntries(e.trailers));
      }
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
