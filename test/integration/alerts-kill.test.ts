/**
 * kill -9 with undelivered alerts (issue 5): a child process runs the real alerts service on a
 * durable outbox while its receivers are down (connections reset, then 503s), then hang with
 * requests in flight; it is killed with SIGKILL. A second process on the same outbox file, with
 * the receivers up, delivers everything. Deduplicated by webhook-id, the receivers got exactly the
 * set the first process queued, every one at least once, the ones in flight at the kill again with
 * the same id and body, in order per receiver; the second process takes the dead one's delivery
 * lease over at once (pid gone on this host); every request's Standard Webhooks signature
 * verifies with an HMAC written here from SHA-256 (RFC 2104), not the one the code uses.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { AlertOutbox } from '../../src/alerts/outbox.js';
import { tempDir } from '../helpers.js';
import { spawnSender as spawnChild } from '../fixtures/spawn-sender.js';

const tmp = tempDir('dw-alerts-kill-');
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  tmp.cleanup();
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest();
/** HMAC-SHA256 per RFC 2104: H((K ^ opad) || H((K ^ ipad) || m)), block size 64. */
function hmacSha256(key: Buffer, msg: Buffer): Buffer {
  const k0 = key.length > 64 ? sha256(key) : key;
  const k = Buffer.concat([k0, Buffer.alloc(64 - k0.length)]);
  const ipad = Buffer.from(k.map((b) => b ^ 0x36));
  const opad = Buffer.from(k.map((b) => b ^ 0x5c));
  return sha256(Buffer.concat([opad, sha256(Buffer.concat([ipad, msg]))]));
}

const KEY = Buffer.from('kill-nine-test-signing-key-0123456789');
const SECRET = 'whsec_' + KEY.toString('base64');

interface Req {
  phase: 'down' | 'up';
  path: string;
  id: string;
  ts: string;
  sig: string;
  body: string;
  answer: number | 'reset' | 'hang';
}

function spawnSender(outbox: string, url: string, mode: 'enqueue' | 'resume') {
  return spawnChild([outbox, url, SECRET, mode], children);
}

async function until(cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('RFC 4231 test case 2 for the test HMAC', () => {
  assert.equal(
    hmacSha256(Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?')).toString('hex'),
    '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
  );
});

test('kill -9 with alerts pending and in flight; a second process on the same outbox delivers exactly the queued set', async () => {
  const reqs: Req[] = [];
  let phase: 'down' | 'up' = 'down';
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const r: Req = {
        phase,
        path: req.url!,
        id: String(req.headers['webhook-id']),
        ts: String(req.headers['webhook-timestamp']),
        sig: String(req.headers['webhook-signature']),
        body: Buffer.concat(chunks).toString('utf8'),
        answer: 200,
      };
      reqs.push(r);
      if (phase === 'up') return void res.writeHead(200).end('ok');
      const downSoFar = reqs.filter((x) => x.phase === 'down').length;
      // down: connections reset, then 503s, then requests that hang (in flight at the kill)
      if (downSoFar <= 4) (r.answer = 'reset'), req.socket.destroy();
      else if (downSoFar <= 8) (r.answer = 503), res.writeHead(503).end('down');
      else r.answer = 'hang';
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const outboxPath = join(tmp.dir, 'alerts.db');
  try {
    const first = spawnSender(outboxPath, url, 'enqueue');
    await until(() => first.lines.some((l) => l.startsWith('queued ')), `the first process to queue (${first.stderr()})`);
    const queued = JSON.parse(first.lines.find((l) => l.startsWith('queued '))!.slice(7)) as Array<{ receiver: string; webhookId: string }>;
    // 5 models fire, 2 resolve: 7 notifications per receiver
    assert.equal(queued.length, 14);
    assert.equal(new Set(queued.map((q) => q.webhookId)).size, 14);
    // kill once both receivers' heads hang in flight
    await until(() => new Set(reqs.filter((r) => r.answer === 'hang').map((r) => r.path)).size === 2, 'a request in flight to each receiver');
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('close', r));
    assert.equal(first.child.signalCode, 'SIGKILL');
    const down = reqs.filter((r) => r.phase === 'down');
    assert.ok(down.some((r) => r.answer === 'reset') && down.some((r) => r.answer === 503), 'the receivers were down before hanging');
    assert.ok(!down.some((r) => r.answer === 200), 'nothing was acknowledged before the kill');

    // the first process held the outbox's delivery lease when it was killed
    assert.deepEqual(JSON.parse(first.lines.find((l) => l.startsWith('lease '))!.slice(6)), { held: true, pid: first.child.pid });
    const ob0 = new AlertOutbox(outboxPath);
    try {
      assert.equal(ob0.leaseHolder()?.pid, first.child.pid, 'the dead process still holds the lease on file');
    } finally {
      ob0.close();
    }

    phase = 'up';
    const second = spawnSender(outboxPath, url, 'resume');
    await until(() => second.lines.includes('drained'), `the second process to drain the outbox (${second.stderr()})`);
    // the second process took the dead holder's lease over in its first pass (its pid is gone on
    // this host), not after the lease's TTL
    assert.deepEqual(JSON.parse(second.lines.find((l) => l.startsWith('lease '))!.slice(6)), { held: true, pid: second.child.pid });
    second.child.kill('SIGTERM');
    await new Promise((r) => second.child.once('close', r));
    assert.ok(
      second.lines.some((l) => /^attempts [1-9]\d*$/.test(l)),
      'the second process sent',
    );

    const queuedIds = new Set(queued.map((q) => q.webhookId));
    const acked = reqs.filter((r) => r.phase === 'up');
    // exactly the queued set, each acknowledged once (the second process never resends a 2xx)
    assert.deepEqual(new Set(acked.map((r) => r.id)), queuedIds);
    assert.equal(acked.length, queuedIds.size, 'each id acknowledged once');
    // every id the first process tried is one it queued, and was delivered after the kill with the same id and body
    for (const r of down) {
      assert.ok(queuedIds.has(r.id), `attempt before the kill carried a queued id (${r.id})`);
      const again = acked.find((a) => a.id === r.id);
      assert.ok(again, `${r.id} redelivered after the kill`);
      assert.equal(again.body, r.body, 'same body after the restart');
    }
    const hung = down.filter((r) => r.answer === 'hang');
    assert.equal(hung.length, 2);
    // in order per receiver, as queued
    for (const rx of ['a', 'b']) {
      assert.deepEqual(
        acked.filter((r) => r.path === `/${rx}`).map((r) => r.id),
        queued.filter((q) => q.receiver === rx).map((q) => q.webhookId),
      );
    }
    // every request, before and after the kill, is signed per Standard Webhooks
    for (const r of reqs) {
      const want = 'v1,' + hmacSha256(KEY, Buffer.from(`${r.id}.${r.ts}.${r.body}`)).toString('base64');
      assert.ok(r.sig.split(' ').includes(want), `signature of ${r.id} (${r.phase}) verifies`);
    }
    // the payloads are what was decided: 5 firing models, then 2 resolved, per receiver
    const statuses = acked.filter((r) => r.path === '/a').map((r) => [JSON.parse(r.body).model, JSON.parse(r.body).status]);
    assert.deepEqual(statuses, [
      ['m1', 'firing'],
      ['m2', 'firing'],
      ['m3', 'firing'],
      ['m4', 'firing'],
      ['m5', 'firing'],
      ['m1', 'resolved'],
      ['m2', 'resolved'],
    ]);
    const ob = new AlertOutbox(outboxPath);
    try {
      const entries = ob.entries({});
      assert.equal(entries.length, 14);
      assert.ok(entries.every((e) => e.state === 'delivered' && e.lastStatus === 200));
      assert.equal(ob.leaseHolder(), null, 'the lease is released when the second process stops');
    } finally {
      ob.close();
    }
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
