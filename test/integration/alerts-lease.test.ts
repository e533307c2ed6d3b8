/**
 * One sender per outbox file (the delivery lease, src/alerts/delivery.ts). Before it, two
 * processes on one outbox both picked the same pending head and sent each notification twice
 * (same webhook-id; Slack and most Alertmanager consumers do not deduplicate), and a one-shot run
 * orphaned the entries of receivers its config lacked.
 * - two long-running alerts services in two real processes on one outbox file, one slow receiver,
 *   both enqueueing: every notification arrives exactly once (by webhook-id and in total), all of
 *   them sent by the process holding the lease, none by the other;
 * - the lease rules on a real file: another holder's live lease is respected, an expired one is
 *   taken over (the TTL fallback for a holder on another host), a dead pid on this host is taken
 *   over at once, a release frees it;
 * - flush() in a process without the lease returns at once and says whom it left the entries to;
 *   it does not orphan anything;
 * - a one-shot flush() that holds the lease does not orphan the entries of receivers its config
 *   lacks; the same service turned long-running (start()) does.
 * (kill -9 of the holder: alerts-kill.test.ts; `check --once` next to a holder: alerts-cli.test.ts.)
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createAlertsService } from '../../src/alerts/alerts-service.js';
import { processHostKey } from '../../src/alerts/delivery.js';
import { pidAlive } from '../../src/pid-alive.js';
import { AlertOutbox } from '../../src/alerts/outbox.js';
import { alertsSchema } from '../../src/config/schema.js';
import { memoryLogger, tempDir } from '../helpers.js';
import { spawnSender as spawnChild } from '../fixtures/spawn-sender.js';

const tmp = tempDir('dw-alerts-lease-');
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  tmp.cleanup();
});
const SECRET = 'whsec_' + Buffer.from('lease-test-signing-key-0123456789').toString('base64');

function spawnSender(args: string[], env: Record<string, string> = {}) {
  return spawnChild(args, children, env);
}

async function until(cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function stopChild(s: ReturnType<typeof spawnSender>): Promise<number> {
  s.child.kill('SIGTERM');
  await new Promise((r) => s.child.once('close', r));
  const n = s.line('attempts');
  assert.ok(n !== undefined, `attempts line (${s.stderr()})`);
  return Number(n);
}

function pendingIn(path: string): number {
  const ob = new AlertOutbox(path);
  try {
    return ob.pendingCount();
  } finally {
    ob.close();
  }
}

test('two alerts services in two processes on one outbox file: every notification delivered exactly once, by the lease holder', async () => {
  const got: string[] = [];
  // A slow receiver widens the window in which two senders would both send the same head.
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      got.push(String(req.headers['webhook-id']));
      setTimeout(() => res.writeHead(200).end('ok'), 15);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const outbox = join(tmp.dir, 'shared.db');
  const env = { DW_TEST_RECEIVERS: JSON.stringify([{ name: 'one', kind: 'webhook', url: 'URL/one', secret: SECRET, timeoutMs: 10_000 }]) };
  try {
    const p = spawnSender([outbox, url, SECRET, 'share', 'p', '12'], env);
    await until(() => p.line('lease') !== undefined, `the first process to start (${p.stderr()})`);
    const q = spawnSender([outbox, url, SECRET, 'share', 'q', '12'], env);
    await until(() => p.line('queued') !== undefined && q.line('queued') !== undefined, `both to queue (${p.stderr()} ${q.stderr()})`);
    const queued = [...JSON.parse(p.line('queued')!), ...JSON.parse(q.line('queued')!)] as Array<{ webhookId: string }>;
    assert.equal(queued.length, 24);
    await until(() => new Set(got).size === 24 && pendingIn(outbox) === 0, 'all 24 delivered');
    const [pAttempts, qAttempts] = [await stopChild(p), await stopChild(q)];

    // exactly once: by webhook-id, and in total (no second request for any id)
    assert.deepEqual(new Set(got), new Set(queued.map((e) => e.webhookId)));
    assert.equal(got.length, 24, `total requests ${got.length} = distinct ids 24`);
    // one process sent them all (the first started, holding the lease), the other none
    assert.deepEqual(JSON.parse(p.line('lease')!), { held: true, pid: p.child.pid });
    assert.deepEqual(JSON.parse(q.line('lease')!), { held: true, pid: p.child.pid }, 'the second saw the first as holder');
    assert.deepEqual([pAttempts, qAttempts], [24, 0]);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test('lease rules on a real outbox file: live holder kept, expired or dead holder taken over, release frees it', () => {
  const ob = new AlertOutbox(join(tmp.dir, 'rules.db'));
  const here = processHostKey();
  const t = 1_000_000;
  try {
    const a = { holder: 'A', pid: process.pid, host: 'other-host/pid:[1]', mode: 'long' as const };
    const b = { holder: 'B', pid: process.pid, host: here, mode: 'flush' as const };
    assert.deepEqual(ob.acquireLease(a, t, 3000, pidAlive), { held: true, previous: null });
    // A lives on another host: its pid means nothing here; only its TTL counts
    const refused = ob.acquireLease(b, t + 2999, 3000, () => false);
    assert.equal(refused.held, false);
    assert.equal(!refused.held && refused.by.holder, 'A');
    // A renews (same holder): the expiry moves, the acquisition time stays
    assert.equal(ob.acquireLease(a, t + 2000, 3000, pidAlive).held, true);
    assert.deepEqual([ob.leaseHolder()!.acquiredMs, ob.leaseHolder()!.expiresAtMs], [t, t + 5000]);
    assert.equal(ob.acquireLease(b, t + 4999, 3000, () => false).held, false);
    // expired: taken over, and the caller learns from whom
    const took = ob.acquireLease(b, t + 5000, 3000, pidAlive);
    assert.equal(took.held && took.previous?.holder, 'A');
    assert.deepEqual(
      { ...ob.leaseHolder()!, host: '' },
      { holder: 'B', pid: process.pid, host: '', mode: 'flush', acquiredMs: t + 5000, expiresAtMs: t + 8000 },
    );
    // B is on this host: a live pid is kept until its TTL, a dead pid is taken over at once
    const c = { holder: 'C', pid: process.pid, host: here, mode: 'long' as const };
    assert.equal(ob.acquireLease(c, t + 5001, 3000, pidAlive).held, false, 'this process is alive');
    assert.equal(ob.acquireLease(c, t + 5001, 3000, () => false).held, true, 'a dead pid on this host');
    // release: only by the holder
    assert.equal(ob.releaseLease('B'), false);
    assert.equal(ob.releaseLease('C'), true);
    assert.equal(ob.leaseHolder(), null);
    assert.equal(ob.acquireLease(a, t + 5002, 3000, pidAlive).held, true);
    // liveness helper
    assert.equal(pidAlive(process.pid), true);
    assert.equal(pidAlive(0), false);
  } finally {
    ob.close();
  }
});

test('flush() without the lease: returns at once, leaves the entries to the running holder, orphans nothing', async () => {
  const path = join(tmp.dir, 'flush-standby.db');
  const got: string[] = [];
  // While set, answers wait (requests stay in flight) until the test releases them.
  let held: Array<() => void> | null = null;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      got.push(`${req.url} ${req.headers['webhook-id']}`);
      const send = () => res.writeHead(req.url === '/side' ? 503 : 200).end();
      if (held && req.url === '/one') return void held.push(send);
      send();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // The holder knows receivers "one" and "side" ("side" answers 503, so its entry stays pending).
  const holder = spawnSender([join(path), url, SECRET, 'hold', 'h1'], {
    DW_TEST_RECEIVERS: JSON.stringify([
      { name: 'one', kind: 'webhook', url: 'URL/one', secret: SECRET, timeoutMs: 10_000 },
      { name: 'side', kind: 'webhook', url: 'URL/side', secret: SECRET, timeoutMs: 10_000 },
    ]),
  });
  try {
    await until(() => holder.line('queued') !== undefined, `the holder to queue (${holder.stderr()})`);
    await until(() => got.some((g) => g.startsWith('/one ')) && got.some((g) => g.startsWith('/side ')), 'the holder to send');
    // A one-shot service whose config lacks "side", in this process: not started, only flush().
    const cfg = alertsSchema.parse({
      outboxPath: path,
      receivers: [{ name: 'one', kind: 'webhook', url: `${url}/one`, secret: SECRET, timeoutMs: 10_000 }],
      retryInitialDelayMs: 20,
      retryMaxDelayMs: 50,
    });
    const s = createAlertsService(cfg, { logger: memoryLogger().logger, pollIntervalMs: 20 });
    let id = '';
    // The receiver has seen the holder's request to "one"; wait until the holder has also recorded
    // it as delivered, or flush() below would count that entry as still queued (a race seen in CI).
    await until(() => !s.outbox.entries({ state: 'pending' }).some((e) => e.receiver === 'one'), 'the holder to record its delivery to one');
    // the holder may send x1 before flush() looks: its answer waits until flush() returned
    held = [];
    try {
      await s.handle([
        {
          check: 'drift',
          subject: { model: 'x1', version: '1', name: 'f', role: 'input' },
          status: 'fail',
          metric: 'psi',
          value: 0.4,
          threshold: { warn: 0.1, fail: 0.25, direction: 'above' },
          window: { fromMs: 0, toMs: 1, label: '1h' },
          sampleSize: 100,
          at: Date.now(),
          message: 'm',
        },
      ]);
      id = s.outbox.entries({ state: 'pending' }).find((e) => e.model === 'x1')!.webhookId;
      // a timeout no run could reach: flush must return because the holder is a running analyzer
      const r = await s.flush(600_000);
      assert.deepEqual(
        { ...r, outboxPending: r.outboxPending >= 1 },
        { queued: 1, delivered: 0, failed: 0, pending: 1, outboxPending: true, timedOut: false, holder: { pid: holder.child.pid, mode: 'long' } },
      );
      // nothing orphaned: the side entry is still pending for the holder
      assert.deepEqual(s.outbox.entries({ state: 'orphaned' }), []);
      assert.ok(s.outbox.entries({ state: 'pending' }).some((e) => e.receiver === 'side'));
    } finally {
      await s.stop();
      const release = held ?? [];
      held = null;
      for (const send of release) send();
    }
    await until(() => got.includes(`/one ${id}`) && pendingIn(path) === 1, 'the holder to deliver the left entry');
    const attempts = await stopChild(holder);
    assert.equal(got.filter((g) => g === `/one ${id}`).length, 1, 'the left entry arrived once');
    assert.ok(attempts >= 3, `the holder sent h1 to both receivers and x1 (${attempts} attempts)`);
    const ob = new AlertOutbox(path);
    try {
      assert.deepEqual(
        ob.entries({}).map((e) => [e.model, e.receiver, e.state]),
        [
          ['h1', 'one', 'delivered'],
          ['h1', 'side', 'pending'],
          ['x1', 'one', 'delivered'],
        ],
      );
    } finally {
      ob.close();
    }
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test('a one-shot flush() holding the lease orphans nothing; start() (long-running) then does', async () => {
  const path = join(tmp.dir, 'oneshot-orphans.db');
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(req.url === '/gone' ? 503 : 200).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const rcv = (name: string) => ({ name, kind: 'webhook', url: `${url}/${name}`, secret: SECRET, timeoutMs: 10_000 });
  const cfg = (names: string[]) => alertsSchema.parse({ outboxPath: path, receivers: names.map(rcv), retryInitialDelayMs: 1000 });
  const f = {
    check: 'drift' as const,
    subject: { model: 'm', version: '1', name: 'f', role: 'input' as const },
    status: 'fail' as const,
    metric: 'psi',
    value: 0.4,
    threshold: { warn: 0.1, fail: 0.25, direction: 'above' as const },
    window: { fromMs: 0, toMs: 1, label: '1h' },
    sampleSize: 100,
    at: Date.now(),
    message: 'm',
  };
  try {
    // an analyzer with receivers one + gone queued for both; "gone" is down, its entry stays pending
    const a = createAlertsService(cfg(['one', 'gone']), { logger: memoryLogger().logger, pollIntervalMs: 20 });
    await a.handle([f]);
    const r0 = await a.flush(200);
    assert.deepEqual([r0.delivered, r0.pending], [1, 1]);
    await a.stop();
    // a one-shot run whose config lacks "gone": it holds the lease (nobody else runs) and flushes
    const s = createAlertsService(cfg(['one']), { logger: memoryLogger().logger, pollIntervalMs: 20 });
    try {
      const r = await s.flush(5_000);
      assert.equal(r.holder, null, 'this process holds the lease');
      assert.equal(s.outbox.leaseHolder()?.mode, 'flush');
      assert.deepEqual(
        s.outbox.entries({ state: 'pending' }).map((e) => e.receiver),
        ['gone'],
        'not orphaned by a one-shot run',
      );
      // the same process turning long-running (as analyze/start do): now it decides
      s.start();
      assert.deepEqual(
        s.outbox.entries({ state: 'orphaned' }).map((e) => e.receiver),
        ['gone'],
      );
      assert.equal(s.outbox.leaseHolder()?.mode, 'long');
    } finally {
      await s.stop();
    }
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
