/**
 * The alert handover between analyzers (src/alerts/handover.ts): which models a restarted analyzer
 * took over (from the shard recorded in its outbox), the old owner ending its alerts for models it
 * no longer checks exactly once (resolved with the new owner named; for alertmanager-api one last
 * firing post and no more re-posts), and the new owner holding back its first firing notification
 * of a taken-over model from explicit-resolve receivers for the grace.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { webhookBody } from '../../src/alerts/formats/webhook.js';
import { postableAlerts } from '../../src/alerts/formats/alertmanager-api.js';
import { alertKeyHash } from '../../src/alerts/notification.js';
import { type FleetFindings, type Handover, handoverFrom } from '../../src/alerts/handover.js';
import { AlertOutbox } from '../../src/alerts/outbox.js';
import { AlertRouter } from '../../src/alerts/router.js';
import { shardOf, shardView } from '../../src/checks/shard.js';
import { alertsSchema } from '../../src/config/schema.js';
import { type Finding, findingKey } from '../../src/findings/finding.js';
import { tempDir } from '../helpers.js';
import { psiFinding } from '../fixtures/findings.js';

const tmp = tempDir('dw-handover-');
after(() => tmp.cleanup());

/** Alertmanager re-posts (by handle and refresh) only after this: the steps below fall within it. */
const RESEND_MS = 3_600_000;
const NAMES = Array.from({ length: 300 }, (_, i) => `model-${i}`);
let files = 0;

function outbox(): AlertOutbox {
  return new AlertOutbox(join(tmp.dir, `alerts-${files++}.db`));
}

function router(box: AlertOutbox, handover: Handover): AlertRouter {
  const config = alertsSchema.parse({
    outboxPath: box.path,
    receivers: [
      { name: 'ops', kind: 'webhook', url: 'http://127.0.0.1:9/hook' },
      { name: 'am', kind: 'alertmanager-api', url: 'http://127.0.0.1:9/', resendIntervalMs: RESEND_MS },
    ],
  });
  return new AlertRouter(config, box, { handover });
}

const f = (model: string, status: Finding['status'], at: number) =>
  psiFinding({ model, version: '1', name: 'x', status, at, message: `x on ${model}: ${status}` });

test('a restarted analyzer took over exactly the models its shard gained (rendezvous: 0/2 -> 0/3 gains none)', () => {
  const box = outbox();
  try {
    const first = handoverFrom(shardView({ index: 0, count: 2 }, 60_000), box.recordOwnership('0/2', 1000));
    // A new outbox in a shared fleet: any of its models may have been another analyzer's.
    for (const m of NAMES.filter((m) => shardOf(m, 2) === 0)) assert.equal(first.arrivedMs(m), 1000, m);
    for (const m of NAMES.filter((m) => shardOf(m, 2) === 1)) assert.equal(first.arrivedMs(m), null, m);
    // A plain restart keeps the record (and the grace's start).
    const again = handoverFrom(shardView({ index: 0, count: 2 }, 60_000), box.recordOwnership('0/2', 5000));
    assert.equal(again.arrivedMs(NAMES.find((m) => shardOf(m, 2) === 0)!), 1000);
    // 0/2 -> 0/3: rendezvous hashing only moves models to the new shard, so shard 0 gains none.
    const narrowed = handoverFrom(shardView({ index: 0, count: 3 }, 60_000), box.recordOwnership('0/3', 9000));
    assert.deepEqual(
      NAMES.filter((m) => narrowed.arrivedMs(m) !== null),
      [],
    );
    // 0/3 -> 0/1 (scale down to one): every model shard 0 of 3 did not have came from an analyzer
    // that was removed (1/3, 2/3): nobody will resolve its alerts, so nothing waits for that, and
    // those models are the ones whose alerts are adopted (from the fleet's findings).
    const alone = handoverFrom(shardView({ index: 0, count: 1 }, 60_000), box.recordOwnership('0/1', 12_000));
    assert.deepEqual(
      NAMES.filter((m) => alone.arrivedMs(m) !== null),
      [],
    );
    assert.deepEqual(
      alone.unsettled(NAMES, 12_001),
      NAMES.filter((m) => shardOf(m, 3) !== 0),
    );
    assert.equal(alone.arrivedMs('*'), null, 'a run finding is nobody else’s');
  } finally {
    box.close();
  }
  // A lone analyzer on a new outbox took nothing over from anyone.
  const single = outbox();
  try {
    const h = handoverFrom(shardView({ index: 0, count: 1 }, 60_000), single.recordOwnership('0/1', 1000));
    assert.ok(NAMES.every((m) => h.arrivedMs(m) === null));
  } finally {
    single.close();
  }
});

test('the old owner ends a moved model’s alerts once: resolved to the webhook, one last post to Alertmanager', () => {
  const box = outbox();
  let moved = false;
  const h: Handover = {
    self: '0/2',
    owns: (m) => !(moved && m === 'moved'),
    ownerOf: (m) => (m === 'moved' ? '2/3' : '0/3'),
    arrivedMs: () => null,
    graceMs: 600_000,
  };
  const r = router(box, h);
  try {
    const t0 = 1_000_000;
    const fired = r.handle([f('moved', 'fail', t0), f('kept', 'fail', t0), f('*', 'error', t0)], t0);
    assert.equal(fired.notifications.length, 4, 'ops and am, per model (error is not routed by default)');

    moved = true; // restarted with a shard that no longer has `moved`
    const t1 = t0 + 60_000;
    const { notifications } = r.handOver(t1);
    assert.deepEqual(notifications.map((n) => `${n.receiver}:${n.model}:${n.status}`).sort(), ['am:moved:firing', 'ops:moved:resolved']);
    const ops = notifications.find((n) => n.receiver === 'ops')!;
    const body = webhookBody(ops, { externalUrl: 'http://dw' }) as { alerts: Array<Record<string, unknown>> };
    assert.deepEqual(body.alerts[0]!.handover, { from: '0/2', to: '2/3' });
    assert.equal(body.alerts[0]!.startsAt, new Date(t0).toISOString(), 'the episode it ends');
    assert.equal(body.alerts[0]!.endsAt, new Date(t1).toISOString());
    assert.match(String(body.alerts[0]!.message), /handed over: model moved is checked by analyzer 2\/3 now \(was 0\/2\)/);
    const am = notifications.find((n) => n.receiver === 'am')!;
    const [posted] = postableAlerts(am, { externalUrl: 'http://dw' }, t1, RESEND_MS);
    assert.equal(posted!.endsAt, new Date(t1 + 4 * RESEND_MS).toISOString(), 'left to run out at endsAt unless the new owner continues it');
    assert.match(String((posted!.annotations as Record<string, string>).handover), /0\/2 handed this alert over to analyzer 2\/3/);

    assert.deepEqual(
      box.alerts({ status: 'resolved' }).map((a) => a.model),
      ['moved'],
    );
    const episode = box.history.list(10).find((e) => e.model === 'moved')!;
    assert.equal(episode.state, 'resolved');
    assert.equal(episode.transitions.at(-1)!.reason, 'handed over to 2/3');

    // Exactly once: neither another sweep, nor a run, nor Alertmanager's re-post timer repeats it.
    assert.equal(r.handOver(t1 + 1).notifications.length, 0);
    assert.equal(r.handle([f('kept', 'fail', t1 + 2)], t1 + 2).notifications.length, 0);
    // (a re-post waits for a pending entry of its model: deliver them all first)
    for (const e of box.entries({ state: 'pending' })) box.recordAttempt(e.id, { state: 'delivered', nowMs: t1 + 3, status: 200 });
    const reposts = r.refresh(t0 + RESEND_MS).notifications;
    assert.deepEqual(
      reposts.map((n) => n.model),
      ['kept'],
      'only the kept model is re-posted',
    );
  } finally {
    box.close();
  }
});

test('the new owner holds back a taken-over model’s first firing from the webhook for the grace, not from Alertmanager', () => {
  const box = outbox();
  const t0 = 5_000_000;
  const grace = 600_000;
  const h: Handover = { self: '2/3', owns: () => true, ownerOf: () => '2/3', arrivedMs: (m) => (m === 'came' ? t0 : null), graceMs: grace };
  const r = router(box, h);
  try {
    const first = r.handle([f('came', 'fail', t0 + 1), f('had', 'fail', t0 + 1)], t0 + 1);
    assert.deepEqual(first.notifications.map((n) => `${n.receiver}:${n.model}`).sort(), ['am:came', 'am:had', 'ops:had']);
    assert.equal(box.alerts({ status: 'firing' }).length, 2, 'the state fires meanwhile');
    assert.equal(r.handle([f('came', 'fail', t0 + grace - 1)], t0 + grace - 1).notifications.length, 0);
    const after = r.handle([f('came', 'fail', t0 + grace)], t0 + grace).notifications;
    assert.deepEqual(
      after.map((n) => `${n.receiver}:${n.model}:${n.status}`),
      ['ops:came:firing'],
    );
    assert.equal(after[0]!.alerts[0]!.startsAtMs, t0 + 1, 'it fires since this analyzer first saw it');

    // Cleared within the grace: the webhook never heard of it here, so it hears nothing here.
    const t2 = t0 + 10 * grace;
    const again = router(box, { ...h, arrivedMs: (m) => (m === 'came2' ? t2 : null) });
    assert.deepEqual(
      again.handle([f('came2', 'warn', t2)], t2).notifications.map((n) => n.receiver),
      ['am'],
    );
    assert.deepEqual(
      again.handle([f('came2', 'ok', t2 + 1)], t2 + 1).notifications.map((n) => `${n.receiver}:${n.status}`),
      ['am:resolved'],
    );
  } finally {
    box.close();
  }
});

test('an alert Alertmanager has ended already (an old owner down for 4 resend intervals) is not posted again', () => {
  const box = outbox();
  let moved = false;
  const h: Handover = { self: '0/2', owns: () => !moved, ownerOf: () => '2/3', arrivedMs: () => null, graceMs: 0 };
  const r = router(box, h);
  try {
    const t0 = 9_000_000;
    r.handle([f('moved', 'fail', t0)], t0);
    moved = true;
    const late = r.handOver(t0 + 4 * RESEND_MS).notifications;
    assert.deepEqual(
      late.map((n) => `${n.receiver}:${n.status}`),
      ['ops:resolved'],
    );
  } finally {
    box.close();
  }
});

/** The fleet's published findings, as a list (InfluxDB's dw_finding in the integration test). */
function fleetOf(published: Finding[]): FleetFindings & { reads: string[][] } {
  const reads: string[][] = [];
  return {
    reads,
    async latestFindings(models, fromMs, toMs) {
      reads.push([...models]);
      const newest = new Map<string, Finding>();
      for (const x of published) {
        if (!models.includes(x.subject.model) || x.at < fromMs || x.at >= toMs || x.insufficientData) continue;
        const had = newest.get(findingKey(x));
        if (!had || had.at <= x.at) newest.set(findingKey(x), x);
      }
      return [...newest.values()];
    },
  };
}

test('a fresh sharded fleet alerts on its first run; a new analyzer whose models fired elsewhere still waits', async () => {
  const t0 = 20_000_000;
  const mine = NAMES.find((m) => shardOf(m, 2) === 0)!;
  // A fleet's first start: a new outbox, and nobody published a finding of its models before.
  const box = outbox();
  try {
    const h = handoverFrom(shardView({ index: 0, count: 2 }, 600_000), box.recordOwnership('0/2', t0));
    const fleet = fleetOf([]);
    assert.deepEqual(h.unsettled([mine, mine, '*'], t0 + 1), [mine]);
    assert.deepEqual((await h.settle([mine], fleet)).adopt, []);
    assert.deepEqual(h.unsettled([mine], t0 + 1), [], 'read once');
    const first = router(box, h).handle([f(mine, 'fail', t0 + 1)], t0 + 1).notifications;
    assert.deepEqual(first.map((n) => `${n.receiver}:${n.model}:${n.status}`).sort(), [`am:${mine}:firing`, `ops:${mine}:firing`]);
  } finally {
    box.close();
  }
  // A new pod of a scale-up (2 -> 3): the model it gets fired at its previous owner, which resolves
  // it when it restarts, so the webhook waits; one that did not fire there goes out at once.
  const moved = NAMES.filter((m) => shardOf(m, 3) === 2).slice(0, 2);
  const [fired, quiet] = moved as [string, string];
  const box3 = outbox();
  try {
    const h = handoverFrom(shardView({ index: 2, count: 3 }, 600_000), box3.recordOwnership('2/3', t0));
    const fleet = fleetOf([f(fired, 'fail', t0 - 120_000), f(quiet, 'fail', t0 - 240_000), f(quiet, 'ok', t0 - 120_000)]);
    assert.deepEqual(h.unsettled(moved, t0 + 1), moved);
    assert.deepEqual((await h.settle(moved, fleet)).adopt, [], 'its previous owners run: they hand over, nothing is adopted');
    const r = router(box3, h);
    const got = r.handle([f(fired, 'fail', t0 + 1), f(quiet, 'fail', t0 + 1)], t0 + 1).notifications;
    assert.deepEqual(got.map((n) => `${n.receiver}:${n.model}`).sort(), [`am:${fired}`, `am:${quiet}`, `ops:${quiet}`]);
    assert.equal(h.arrivedMs(fired), t0);
  } finally {
    box3.close();
  }
});

test('3 -> 2: the alert a removed analyzer left firing is adopted, and resolved once at the receiver', async () => {
  // A model analyzer 2/3 had, which goes to 0/2 when 2/3 is removed.
  const gone = NAMES.find((m) => shardOf(m, 3) === 2 && shardOf(m, 2) === 0)!;
  const still = NAMES.filter((m) => shardOf(m, 3) === 2 && shardOf(m, 2) === 0)[1]!;
  const t0 = 30_000_000;
  const t1 = t0 + 3_600_000;
  const box = outbox();
  try {
    box.recordOwnership('0/3', t0);
    const published = [f(gone, 'warn', t1 - 300_000), f(gone, 'fail', t1 - 60_000), f(still, 'fail', t1 - 60_000)];
    const fleet = fleetOf(published);
    const h = handoverFrom(shardView({ index: 0, count: 2 }, 600_000), box.recordOwnership('0/2', t1));
    assert.equal(h.arrivedMs(gone), null, 'nobody will resolve it first: no wait');
    const { adopt, from } = await h.settle(h.unsettled([gone, still], t1 + 1), fleet);
    assert.deepEqual(adopt.map((x) => `${x.subject.model}:${x.status}`).sort(), [`${gone}:fail`, `${still}:fail`]);
    const r = router(box, h);
    assert.equal(r.adopt(adopt, t1 + 1, from), 2);
    assert.equal(box.history.list(10).find((e) => e.model === gone)!.transitions[0]!.reason, 'adopted from 2/3');

    // The condition cleared: one resolve per receiver, under the removed analyzer's key; the model
    // still firing is not fired again (it was, by 2/3, a minute ago).
    const t2 = t1 + 60_000;
    const out = r.handle([f(gone, 'ok', t2), f(still, 'fail', t2)], t2).notifications;
    assert.deepEqual(out.map((n) => `${n.receiver}:${n.model}:${n.status}`).sort(), [`am:${gone}:resolved`, `ops:${gone}:resolved`]);
    const resolved = out.find((n) => n.receiver === 'ops')!.alerts[0]!;
    assert.equal(resolved.key, alertKeyHash(findingKey(published[1]!)));
    assert.equal(resolved.severity, 'fail');

    // Once: a restart reads the fleet again (same record) and adopts nothing; later runs send nothing.
    const again = handoverFrom(shardView({ index: 0, count: 2 }, 600_000), box.recordOwnership('0/2', t2 + 1));
    const second = await again.settle(again.unsettled([gone, still], t2 + 1), fleet);
    assert.equal(router(box, again).adopt(second.adopt, t2 + 1, second.from), 0);
    assert.equal(router(box, again).handle([f(gone, 'ok', t2 + 2), f(still, 'fail', t2 + 2)], t2 + 2).notifications.length, 0);
  } finally {
    box.close();
  }
});
