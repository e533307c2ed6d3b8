/**
 * Alert handover when the shard count changes (issue 22, src/alerts/handover.ts): ten models with
 * stale Production versions (so each fires one staleness alert), two analyzers `0/2` and `1/2`
 * with their own findings history and outbox, then a restart as three (`0/3`, `1/3` on the old
 * outboxes, `2/3` on a new one) with a higher age limit under which one of the moved models is no
 * longer stale. The new analyzer starts and runs first (a StatefulSet scale-up creates the new pod
 * before it restarts the old ones), so its first firing would reach a receiver before the old
 * owner's handover unless it is held back.
 *
 * - A real webhook receiver (the sender told apart by the URL path) sees, per moved model: firing
 *   (old owner), resolved once with `handover` naming the new owner, then firing once from the
 *   new owner after the grace, under the same key; the model no longer stale is resolved once and
 *   never fired again; models that did not move fire once and never resolve.
 * - A real Alertmanager (Debian's prometheus-alertmanager) keeps one alert per model: the new
 *   owner's posts merge into the old owner's alert (its startsAt kept), and the alert of the model
 *   no longer stale ends at the endsAt of the old owner's last post, nobody resolving it twice.
 *   Skips loudly without the binary unless DRIFTWATCH_TEST_REQUIRE_ALERTMANAGER=1.
 *
 * The webhook test steps a logical clock past the grace (deps.now); the Alertmanager one runs on
 * the real clock (Alertmanager compares startsAt and endsAt with its own) and waits for endsAt.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createAnalyzerApp, type AnalyzerApp } from '../../src/app/analyzer-app.js';
import { shardOf } from '../../src/checks/shard.js';
import { loadConfig } from '../../src/config/load.js';
import { LocalRegistry } from '../../src/registry/local-registry.js';
import { EmbeddedStore } from '../../src/store/embedded.js';
import { createInfluxStore, type InfluxStore } from '../../src/store/influx.js';
import { createServeMetrics } from '../../src/telemetry/metrics.js';
import { EXAMPLE_MODEL_DIR, tempDir } from '../helpers.js';
import { findBinary, freePort, serversRequired, startInfluxd } from '../influx-server.js';

const tmp = tempDir('dw-alert-handover-');
after(() => tmp.cleanup());

const MODELS = ['fraud', 'churn', 'ltv', 'spam', 'eta', 'ranker', 'pricing', 'credit', 'search', 'ads'];
const MOVED = MODELS.filter((m) => shardOf(m, 3) === 2);
/** Registered 100 days ago: stale under the first age limit (90 days), not under the second (150). */
const CLEARED = MOVED[MOVED.length - 1]!;
const DAY_MS = 86_400_000;
const SECRET = `whsec_${Buffer.from('driftwatch-handover-test-secret').toString('base64')}`;

test('the models and shards exercise both old analyzers and a model that clears', () => {
  assert.ok(MOVED.length >= 3, `moved ${MOVED}`);
  assert.ok(new Set(MOVED.map((m) => shardOf(m, 2))).size === 2, 'models move from both old analyzers');
  // Rendezvous hashing: 2 -> 3 moves models only to the new analyzer.
  for (const m of MODELS) if (!MOVED.includes(m)) assert.equal(shardOf(m, 3), shardOf(m, 2), m);
});

/** The registry: every model's v1 in Production, registered 200 days ago (CLEARED: 100). */
async function fleetRegistry(root: string): Promise<void> {
  for (const model of MODELS) {
    const reg = new LocalRegistry(root, { now: () => Date.now() - (model === CLEARED ? 100 : 200) * DAY_MS });
    const v = await reg.createModelVersion({ name: model, sourceDir: EXAMPLE_MODEL_DIR });
    await reg.transitionStage(model, v.version, 'Production');
  }
}

interface Fleet {
  start(shard: string, maxAgeDays: number): Promise<AnalyzerApp>;
  closeAll(): Promise<void>;
}

function fleet(dir: string, receivers: unknown[], now?: () => number): Fleet {
  const apps: Array<{ app: AnalyzerApp; store: EmbeddedStore }> = [];
  const root = join(dir, 'registry');
  return {
    async start(shard, maxAgeDays) {
      const state = join(dir, `analyzer-${shard.split('/')[0]}`); // the pod's volume: same ordinal, same files
      const config = loadConfig({
        env: {},
        overrides: {
          log: { level: 'silent' },
          registry: { root },
          analyzer: { shard },
          checks: {
            enabled: false,
            findingsPath: join(state, 'findings.db'),
            staleness: { maxProductionAgeDays: maxAgeDays, noTraffic: '', driftFailRuns: 0, writeTags: false },
          },
          alerts: { outboxPath: join(state, 'alerts.db'), receivers, retryInitialDelayMs: 20, retryMaxDelayMs: 200 },
        },
      });
      const store = new EmbeddedStore({ path: join(dir, 'stats.db'), retentionDays: 30, rollupAfterHours: 48 });
      const app = createAnalyzerApp(config, { store, registry: new LocalRegistry(root), admin: false, ...(now ? { now } : {}) });
      await app.start();
      apps.push({ app, store });
      return app;
    },
    async closeAll() {
      for (const { app, store } of apps.splice(0)) {
        await app.close();
        await store.close();
      }
    },
  };
}

interface Seen {
  from: string;
  status: string;
  model: string;
  key: string;
  handover?: { from: string; to: string };
  startsAt: string;
}

test('webhook: the old owner resolves a moved model’s alert once, the new owner fires it once after, same key', async (t) => {
  const dir = join(tmp.dir, 'webhook');
  await fleetRegistry(join(dir, 'registry'));
  const seen: Seen[] = [];
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { alerts: Array<Seen & { subject: { model: string } }> };
      for (const a of body.alerts)
        seen.push({
          from: req.url!.slice(1),
          status: a.status,
          model: a.subject.model,
          key: a.key,
          startsAt: a.startsAt,
          ...(a.handover ? { handover: a.handover } : {}),
        });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => receiver.close(() => r())));
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  // The logical clock (alert decisions) starts 22 minutes back and steps up to the real one: the
  // outbox makes an entry due at its logical enqueue time, and delivery waits on the real clock.
  let offsetMs = -22 * 60_000;
  const now = () => Date.now() + offsetMs;
  // Each analyzer's URL names it (the same receiver otherwise), so the test sees who sent what.
  const analyzers = new Map<string, Fleet>();
  const start = (shard: string, maxAgeDays: number) => {
    const f = fleet(dir, [{ name: 'ops', kind: 'webhook', url: `${hook}/${shard}`, secret: SECRET }], now);
    analyzers.set(shard, f);
    return f.start(shard, maxAgeDays);
  };
  t.after(async () => {
    for (const f of analyzers.values()) await f.closeAll();
  });
  const staleness = (apps: AnalyzerApp[]) => Promise.all(apps.map((a) => a.runner.run('staleness')));
  const flush = async (apps: AnalyzerApp[]) => {
    for (const a of apps) assert.equal((await a.alerts.flush(15_000)).pending, 0);
  };

  // Two analyzers on new outboxes and the embedded store (no fleet findings to read, see the
  // InfluxDB test below): any model may have been someone else's, so the first run holds the
  // webhook back for the grace (10 minutes by default) ...
  const two = [await start('0/2', 90), await start('1/2', 90)];
  await staleness(two);
  await flush(two);
  assert.equal(seen.length, 0, 'held back within the grace');
  // ... and the first run after it sends every alert once.
  offsetMs += 11 * 60_000;
  const firstFindings = (await staleness(two)).flat().filter((f) => f.status !== 'ok');
  assert.deepEqual([...new Set(firstFindings.map((f) => f.subject.model))].sort(), [...MODELS].sort(), 'every model is stale');
  await flush(two);
  for (const f of [analyzers.get('0/2')!, analyzers.get('1/2')!]) await f.closeAll();
  const phase1 = seen.length;
  assert.equal(phase1, MODELS.length);

  // Restart as three, with a 150-day age limit (CLEARED is no longer stale). The new one first.
  const c = await start('2/3', 150);
  const cFirst = (await staleness([c])).flat();
  assert.deepEqual(
    cFirst
      .filter((f) => f.status !== 'ok')
      .map((f) => f.subject.model)
      .sort(),
    MOVED.filter((m) => m !== CLEARED).sort(),
    'the new analyzer checks the moved models',
  );
  await flush([c]);
  assert.equal(seen.length, phase1, 'the new analyzer holds back its first firing');
  const old = [await start('0/3', 150), await start('1/3', 150)]; // handover at start
  await flush(old);
  await staleness(old); // the models they kept: still firing, nothing to send (no repeat)
  await flush(old);
  offsetMs += 11 * 60_000; // past the new analyzer's grace
  await staleness([c]);
  await flush([c]);
  await new Promise((r) => setTimeout(r, 500)); // would anything more arrive?

  const keyOf = new Map<string, Set<string>>();
  for (const s of seen) keyOf.set(s.model, (keyOf.get(s.model) ?? new Set()).add(s.key));
  for (const [model, keys] of keyOf) assert.equal(keys.size, 1, `${model}: one alert key throughout`);
  for (const model of MODELS) {
    const story = seen.filter((s) => s.model === model).map((s) => `${s.status}@${s.from}${s.handover ? `->${s.handover.to}` : ''}`);
    const owner = `${shardOf(model, 2)}/2`;
    const restarted = `${shardOf(model, 2)}/3`; // the same pod (ordinal, outbox) with the new n
    if (model === CLEARED) assert.deepEqual(story, [`firing@${owner}`, `resolved@${restarted}->2/3`], model);
    else if (MOVED.includes(model)) assert.deepEqual(story, [`firing@${owner}`, `resolved@${restarted}->2/3`, 'firing@2/3'], model);
    else assert.deepEqual(story, [`firing@${owner}`], model);
  }
  const handedOver = seen.filter((s) => s.handover);
  assert.ok(handedOver.every((s) => s.handover!.from === s.from && s.status === 'resolved'));
});

// ---- InfluxDB: the fleet's findings -------------------------------------------------------------

/**
 * The same fleet on one real InfluxDB, where every analyzer publishes its findings (dw_finding)
 * and reads what a model's previous owner had firing (handover.ts). A fresh fleet of three sends
 * its first alerts on its first run; then a scale-down to two, whose removed analyzer (2/3) never
 * restarts to resolve anything: the analyzers that take its models adopt its alerts, the one whose
 * model cleared sends the resolve once, and the ones still stale are not fired a second time.
 */
test('InfluxDB: a fresh fleet alerts at once; 3 -> 2, the removed analyzer’s cleared alert is resolved once', async (t) => {
  if (findBinary('influxd') === null) {
    const msg = 'influxd not found on PATH (apt-get install influxdb)';
    if (serversRequired()) assert.fail(`${msg}, and DRIFTWATCH_TEST_REQUIRE_INFLUX=1 requires it`);
    t.skip(`SKIPPED: ${msg}; set DRIFTWATCH_TEST_REQUIRE_INFLUX=1 to make this a failure`);
    return;
  }
  const dir = join(tmp.dir, 'influx-fleet');
  const root = join(dir, 'registry');
  await fleetRegistry(root);
  const influx = await startInfluxd(join(dir, 'influxd'), 'fleet');
  t.after(() => influx.stop());
  const seen: Seen[] = [];
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { alerts: Array<Seen & { subject: { model: string } }> };
      for (const a of body.alerts) seen.push({ from: req.url!.slice(1), status: a.status, model: a.subject.model, key: a.key, startsAt: a.startsAt });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => receiver.close(() => r())));
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

  const running: Array<{ app: AnalyzerApp; store: InfluxStore; metrics: ReturnType<typeof createServeMetrics>['registry'] }> = [];
  const start = async (shard: string, maxAgeDays: number) => {
    const state = join(dir, `analyzer-${shard.split('/')[0]}`); // the pod's volume
    const config = loadConfig({
      env: {},
      overrides: {
        log: { level: 'silent' },
        registry: { root },
        analyzer: { shard },
        store: { kind: 'influxdb', influxdb: { apiVersion: 'v1', url: influx.url, database: 'fleet', spoolDir: join(state, 'spool') } },
        checks: {
          enabled: false,
          findingsPath: join(state, 'findings.db'),
          staleness: { maxProductionAgeDays: maxAgeDays, noTraffic: '', driftFailRuns: 0, writeTags: false },
        },
        alerts: {
          outboxPath: join(state, 'alerts.db'),
          receivers: [{ name: 'ops', kind: 'webhook', url: `${hook}/${shard}`, secret: SECRET }],
          retryInitialDelayMs: 20,
          retryMaxDelayMs: 200,
        },
      },
    });
    const store = createInfluxStore(config.store.influxdb, {});
    const metrics = createServeMetrics().registry;
    const app = createAnalyzerApp(config, { store, registry: new LocalRegistry(root), admin: false, metricsRegistry: metrics });
    await app.start();
    running.push({ app, store, metrics });
    return app;
  };
  const stopAll = async () => {
    for (const { app, store } of running.splice(0)) {
      await app.close();
      await store.close(); // sends the findings still buffered
    }
  };
  t.after(stopAll);
  const cycle = async (apps: AnalyzerApp[]) => {
    const findings = (await Promise.all(apps.map((a) => a.runner.run('staleness')))).flat();
    for (const a of apps) assert.equal((await a.alerts.flush(15_000)).pending, 0);
    return findings;
  };

  // A fleet's first start: nobody published a finding of any model before, so nothing is held.
  const three = [await start('0/3', 90), await start('1/3', 90), await start('2/3', 90)];
  await cycle(three);
  assert.deepEqual(
    seen.map((s) => `${s.status}@${s.from}:${s.model}`).sort(),
    MODELS.map((m) => `firing@${shardOf(m, 3)}/3:${m}`).sort(),
    'every alert on the first run, from its model’s analyzer',
  );
  await stopAll();

  // Scale down to two, with a 150-day age limit (CLEARED is no longer stale). 2/3 is gone.
  const before = seen.length;
  const two = [await start('0/2', 150), await start('1/2', 150)];
  const findings = await cycle(two);
  assert.deepEqual(
    findings
      .filter((f) => f.status !== 'ok')
      .map((f) => f.subject.model)
      .sort(),
    MODELS.filter((m) => m !== CLEARED).sort(),
  );
  await cycle(two); // a second run changes nothing
  await new Promise((r) => setTimeout(r, 500)); // would anything more arrive?
  const after = seen.slice(before);
  const firstKey = seen.find((s) => s.model === CLEARED)!.key;
  assert.deepEqual(
    after.map((s) => `${s.status}@${s.from}:${s.model}:${s.key === firstKey}`),
    [`resolved@${shardOf(CLEARED, 2)}/2:${CLEARED}:true`],
    'the removed analyzer’s alert that cleared is resolved once, under its key; the others are not fired again',
  );
  let adopted = 0;
  for (const { metrics } of running) {
    const m = /driftwatch_alerts_handovers_total\{direction="in"\} (\d+)/.exec(await metrics.metrics());
    adopted += Number(m?.[1] ?? 0);
  }
  assert.equal(adopted, MOVED.length, 'each alert 2/3 had firing adopted once');
});

// ---- Alertmanager -------------------------------------------------------------------------------

const AM_BINARY = ['prometheus-alertmanager', 'alertmanager'].map(findBinary).find((b) => b !== null) ?? null;
const AM_REQUIRED = process.env.DRIFTWATCH_TEST_REQUIRE_ALERTMANAGER === '1';

/** Alertmanager ends an alert not re-posted within 4 of these; a restart between phases must fit. */
const RESEND_MS = 3000;

interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
}

test('alertmanager-api: one alert per model across the handover; a model that cleared ends at its endsAt', async (t) => {
  if (!AM_BINARY) {
    if (AM_REQUIRED) assert.fail('DRIFTWATCH_TEST_REQUIRE_ALERTMANAGER=1 but no prometheus-alertmanager or alertmanager on PATH');
    t.skip(
      'SKIPPED: no prometheus-alertmanager on PATH (apt-get install prometheus-alertmanager); DRIFTWATCH_TEST_REQUIRE_ALERTMANAGER=1 makes this a failure',
    );
    return;
  }
  const dir = join(tmp.dir, 'am');
  await fleetRegistry(join(dir, 'registry'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  writeFileSync(join(tmp.dir, 'am.yml'), "route:\n  receiver: 'null'\n  group_wait: 1s\nreceivers:\n  - name: 'null'\n");
  let amLog = '';
  const child: ChildProcess = spawn(
    AM_BINARY,
    [
      `--config.file=${join(tmp.dir, 'am.yml')}`,
      `--storage.path=${join(tmp.dir, 'am-data')}`,
      '--cluster.listen-address=',
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (d) => (amLog += d));
  child.stderr?.on('data', (d) => (amLog += d));
  t.after(async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  });
  const active = async (): Promise<AmAlert[]> => {
    const res = await fetch(`${base}/api/v2/alerts`, { signal: AbortSignal.timeout(3000) });
    assert.equal(res.status, 200);
    return ((await res.json()) as AmAlert[]).filter((a) => a.labels.alertname === 'DriftwatchStaleness');
  };
  const waitFor = async <T>(what: string, probe: () => Promise<T | null | false>): Promise<T> => {
    const until = Date.now() + 30_000;
    for (;;) {
      const v = await probe().catch(() => null);
      if (v) return v;
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}; alertmanager log:\n${amLog.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  await waitFor('alertmanager /-/ready', async () => (await fetch(`${base}/-/ready`)).status === 200);

  const f = fleet(dir, [{ name: 'am', kind: 'alertmanager-api', url: `${base}/`, resendIntervalMs: RESEND_MS }]);
  t.after(() => f.closeAll());
  const two = [await f.start('0/2', 90), await f.start('1/2', 90)];
  await Promise.all(two.map((a) => a.runner.run('staleness')));
  const before = await waitFor('every model’s alert', async () => {
    const list = await active();
    return list.length === MODELS.length && list;
  });
  const startsAt = new Map(before.map((a) => [a.labels.model!, a.startsAt]));
  await f.closeAll();

  const c = await f.start('2/3', 150);
  await c.runner.run('staleness');
  const handoverAt = Date.now();
  const old = [await f.start('0/3', 150), await f.start('1/3', 150)];
  for (const a of old) await a.runner.run('staleness');
  // The cleared model's alert is not posted by anyone after the handover: it ends at endsAt.
  const afterHandover = await waitFor(`${CLEARED}'s alert to end`, async () => {
    const list = await active();
    return !list.some((a) => a.labels.model === CLEARED) && list;
  });
  // Past the handover post's endsAt (4 resend intervals) by more than one interval: the moved
  // models are still active because the new owner posts them, as one alert each.
  await new Promise((r) => setTimeout(r, RESEND_MS + 500));
  const final = await active();
  assert.deepEqual(final.map((a) => a.labels.model).sort(), MODELS.filter((m) => m !== CLEARED).sort(), 'one active alert per model still stale');
  assert.ok(afterHandover.length >= final.length);
  for (const a of final) assert.equal(a.startsAt, startsAt.get(a.labels.model!), `${a.labels.model}: the alert that fired before the handover, continued`);
  // After the handover the old owners posted each moved alert once (with the annotation), never again.
  const since = old.flatMap((a) =>
    a.alerts.outbox
      .entries({ receiver: 'am', limit: 10_000 })
      .filter((e) => e.createdMs >= handoverAt)
      .flatMap((e) => e.notification.alerts)
      .filter((i) => MOVED.includes(i.subject.model)),
  );
  assert.ok(
    since.every((i) => i.handover?.to === '2/3'),
    'no re-post of a handed-over alert',
  );
  const allHandovers = old.flatMap((a) =>
    a.alerts.outbox
      .entries({ receiver: 'am', limit: 10_000 })
      .flatMap((e) => e.notification.alerts)
      .filter((i) => i.handover)
      .map((i) => i.subject.model),
  );
  assert.deepEqual(allHandovers.sort(), [...MOVED].sort(), 'each moved alert handed over once');
});
