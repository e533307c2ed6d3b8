/**
 * The alert commands as a user runs them (real processes, a real receiver on port 0):
 * - `driftwatch check --once` delivers the alerts its findings raise before it exits, and says so;
 *   with the receiver down it gives up at --deliver-timeout, says what is left in the outbox, and
 *   the next run delivers that entry with its original webhook-id (and pages nothing twice);
 * - `driftwatch alerts test RECEIVER` reports the receiver's status and body (exit 1 when not 2xx);
 * - `driftwatch alerts list` shows firing and undelivered alerts;
 * - `check --once` next to a running sender on the same outbox (holding its delivery lease) sends
 *   nothing itself, says "left for the running analyzer (pid N)", and the receiver gets the entry
 *   once, from that process.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AlertOutbox } from '../../src/alerts/outbox.js';
import { LocalRegistry } from '../../src/registry/local-registry.js';
import { EXAMPLE_MODEL_DIR, ROOT, tempDir } from '../helpers.js';

const tmp = tempDir('dw-alerts-cli-');
const CLI = [process.execPath, '--import', import.meta.resolve('tsx'), join(ROOT, 'src', 'cli', 'main.ts')];
const SECRET = 'whsec_' + Buffer.from('alerts-cli-secret-0123456789').toString('base64');
const OUTBOX = join(tmp.dir, 'alerts.db');

interface Got {
  path: string;
  id: string;
  json: any;
}
const got: Got[] = [];
let answer: { status: number; body: string } = { status: 200, body: 'ok' };
/** While set, answers wait here (requests stay in flight) until the test releases them. */
let held: Array<() => void> | null = null;
const rx = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    got.push({ path: req.url!, id: String(req.headers['webhook-id']), json: JSON.parse(Buffer.concat(chunks).toString()) });
    const send = () => res.writeHead(answer.status).end(answer.body);
    if (held) return void held.push(send);
    send();
  });
});
let configPath = '';

before(async () => {
  await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(rx.address() as AddressInfo).port}`;
  // A Production version registered 200 days ago with a newer one not deployed: staleness fails.
  const root = join(tmp.dir, 'registry');
  const old = new LocalRegistry(root, { now: () => Date.now() - 200 * 86_400_000 });
  const v1 = await old.createModelVersion({ name: 'fraud', sourceDir: EXAMPLE_MODEL_DIR });
  await old.transitionStage('fraud', v1.version, 'Production');
  await old.createModelVersion({ name: 'fraud', sourceDir: EXAMPLE_MODEL_DIR });
  configPath = join(tmp.dir, 'config.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      registry: { root },
      store: { kind: 'embedded', embedded: { path: join(tmp.dir, 'stats.db') } },
      checks: { findingsPath: join(tmp.dir, 'findings.db'), staleness: { noTraffic: '' } },
      alerts: {
        outboxPath: OUTBOX,
        receivers: [{ name: 'ops', kind: 'webhook', url: `${url}/hook`, secret: SECRET, timeoutMs: 2000 }],
        retryInitialDelayMs: 50,
        retryMaxDelayMs: 100,
      },
    }),
  );
});
const children: ChildProcess[] = [];
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rx.closeAllConnections();
  await new Promise((r) => rx.close(r));
  tmp.cleanup();
});

/** Async on purpose: the receiver lives in this process and must answer while the CLI runs. */
function run(args: string[], config = configPath, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(CLI[0]!, [...CLI.slice(1), ...args, '--config', config], {
    cwd: tmp.dir,
    env: { ...process.env, DRIFTWATCH_LOG_LEVEL: 'silent', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  return new Promise((resolve) => child.on('close', (code) => (clearTimeout(timer), resolve({ code, stdout, stderr }))));
}
const cli = (...args: string[]) => run(args);

function outboxEntries() {
  const ob = new AlertOutbox(OUTBOX);
  try {
    return ob.entries({});
  } finally {
    ob.close();
  }
}

test('check --once with the receiver down: gives up at --deliver-timeout, says what is left; the next run delivers it with the same id', async () => {
  answer = { status: 503, body: 'down' };
  const r = await cli('check', '--once', '--deliver-timeout', '1s');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^WARN\s+staleness fraud v1 \(Production\): registered 200\.0 days ago/m);
  assert.match(r.stdout, /^alerts: 0 delivered, 0 failed \(gave up waiting after 1s\); 1 left pending in .*alerts\.db for the next running analyzer/m);
  const pending = outboxEntries();
  assert.equal(pending.length, 1);
  assert.equal(pending[0]!.state, 'pending');
  assert.ok(got.length >= 1 && got.every((g) => g.id === pending[0]!.webhookId), 'tried, with the queued id');

  // alerts list shows the firing alerts and the undelivered entry
  const list = await cli('alerts', 'list');
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^firing: 2, resolved: 0, undelivered: 1/m);
  assert.match(list.stdout, /^FIRING\s+warn\s+fraud v1 \(Production\): registered 200\.0 days ago/m);
  assert.match(list.stdout, /^UNDELIVERED pending ops fraud firing attempts=\d+ last=HTTP 503/m);
  const json = JSON.parse((await cli('alerts', 'list', '--json')).stdout);
  assert.deepEqual(
    json.undelivered.map((u: any) => u.webhookId),
    [pending[0]!.webhookId],
  );
  assert.deepEqual(json.firing.map((a: any) => a.finding.subject.name).sort(), ['age', 'newer_version']);

  answer = { status: 200, body: 'ok' };
  const before = got.length;
  const r2 = await cli('check', '--once', '--format', 'json');
  assert.equal(r2.code, 0, r2.stderr);
  const out = JSON.parse(r2.stdout);
  assert.ok(out.findings.some((f: any) => f.check === 'staleness' && f.status === 'warn'));
  // the left-over entry is delivered; the still-firing alerts are not paged again (repeatInterval)
  assert.deepEqual(out.alerts, { queued: 1, delivered: 1, failed: 0, pending: 0, outboxPending: 0, timedOut: false, holder: null });
  assert.deepEqual(
    got.slice(before).map((g) => g.id),
    [pending[0]!.webhookId],
  );
  const done = outboxEntries();
  assert.deepEqual(
    done.map((e) => [e.webhookId, e.state]),
    [[pending[0]!.webhookId, 'delivered']],
  );
  assert.equal((await cli('alerts', 'list')).stdout.match(/undelivered: (\d+)/)?.[1], '0');
});

test('check --once with the receiver up delivers before exiting (table output says so): the resolution', async () => {
  answer = { status: 204, body: '' };
  // Both rules turn ok: version 2 archived (not "newer"), and a longer maximum age.
  assert.equal((await cli('registry', 'transition', 'fraud', '2', '--stage', 'Archived')).code, 0);
  const quiet = join(tmp.dir, 'quiet.json');
  const cfg = JSON.parse(readFileSync(configPath, 'utf8'));
  cfg.checks.staleness = { noTraffic: '', maxProductionAgeDays: 1000 };
  writeFileSync(quiet, JSON.stringify(cfg));
  const before = got.length;
  const r = await run(['check', '--once'], quiet);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^alerts: 1 delivered, 0 failed$/m);
  const resolved = got.slice(before);
  assert.equal(resolved.length, 1);
  assert.equal(resolved[0]!.json.status, 'resolved');
  assert.deepEqual(resolved[0]!.json.alerts.map((a: any) => a.subject.name).sort(), ['age', 'newer_version']);
  assert.match((await cli('alerts', 'list')).stdout, /^firing: 0, resolved: 2, undelivered: 0/m);
});

test('alerts test RECEIVER reports what the receiver answered', async () => {
  answer = { status: 202, body: 'accepted by the test receiver' };
  const before = got.length;
  const r = await cli('alerts', 'test', 'ops');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'ops: HTTP 202: accepted by the test receiver');
  assert.equal(got.length, before + 1);
  assert.equal(got.at(-1)!.json.test, true);
  answer = { status: 500, body: 'receiver broke' };
  const bad = await cli('alerts', 'test', 'ops');
  assert.equal(bad.code, 1);
  assert.equal(bad.stdout.trim(), 'ops: HTTP 500: receiver broke');
  const none = await cli('alerts', 'test', 'nobody');
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no alert receiver named nobody \(configured: ops\)/);
});

test('secrets from the environment: a Slack receiver given in DRIFTWATCH_ALERTS_RECEIVERS works and its URL is never printed or logged', async () => {
  answer = { status: 200, body: 'ok' };
  const url = `http://127.0.0.1:${(rx.address() as AddressInfo).port}`;
  const secretPath = '/services/T0SECRET/B0SECRET/xoxSECRETtoken';
  const noReceivers = join(tmp.dir, 'no-receivers.json');
  const cfg = JSON.parse(readFileSync(configPath, 'utf8'));
  delete cfg.alerts.receivers;
  cfg.alerts.outboxPath = join(tmp.dir, 'env-alerts.db');
  writeFileSync(noReceivers, JSON.stringify(cfg));
  const before = got.length;
  const r = await run(['alerts', 'test', 'team-slack', '--log-level', 'debug'], noReceivers, {
    DRIFTWATCH_ALERTS_RECEIVERS: JSON.stringify([{ name: 'team-slack', kind: 'slack', url: url + secretPath }]),
    DRIFTWATCH_LOG_LEVEL: 'debug',
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'team-slack: HTTP 200: ok');
  assert.equal(got.length, before + 1);
  assert.equal(got.at(-1)!.path, secretPath);
  assert.match(got.at(-1)!.json.text, /\[TEST\]/);
  assert.ok(r.stderr.includes('test alert sent'), 'debug logging was on');
  assert.ok(!(r.stdout + r.stderr).includes('SECRET'), 'the Slack URL is never printed or logged');
});

test('alerts silence / list / unsilence from the command line', async () => {
  const s = await cli('alerts', 'silence', '--model', 'fraud', '--check', 'staleness', '--until', '2h', '--comment', 'maintenance');
  assert.equal(s.code, 0, s.stderr);
  const id = /: (sil_[A-Za-z0-9_-]+)$/m.exec(s.stdout)?.[1];
  assert.ok(id, s.stdout);
  const l = JSON.parse((await cli('alerts', 'list', '--json')).stdout);
  assert.deepEqual(
    l.silences.map((x: any) => [x.id, x.matchers, x.comment]),
    [[id, { model: 'fraud', check: 'staleness' }, 'maintenance']],
  );
  const bad = await cli('alerts', 'silence', '--until', '2h');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /at least one of --model/);
  const u = await cli('alerts', 'unsilence', id!);
  assert.equal(u.code, 0, u.stderr);
  assert.equal(JSON.parse((await cli('alerts', 'list', '--json')).stdout).silences.length, 0);
  const again = await cli('alerts', 'unsilence', id!);
  assert.equal(again.code, 2);
  assert.match(again.stderr, new RegExp(`no silence ${id}`));
});

test('check --once next to a running sender on the same outbox: leaves its entry to it (pid in the output); the receiver gets it once', async () => {
  answer = { status: 200, body: 'ok' };
  const url = `http://127.0.0.1:${(rx.address() as AddressInfo).port}`;
  const shared = join(tmp.dir, 'shared-alerts.db');
  const cfg = JSON.parse(readFileSync(configPath, 'utf8'));
  cfg.alerts.outboxPath = shared;
  const sharedConfig = join(tmp.dir, 'shared.json');
  writeFileSync(sharedConfig, JSON.stringify(cfg));
  // The running sender: the real alerts service, long-running, with the same receiver "ops".
  const holder = spawn(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), join(ROOT, 'test', 'fixtures', 'alerts-sender.ts'), shared, url, SECRET, 'hold'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DW_TEST_RECEIVERS: JSON.stringify([{ name: 'ops', kind: 'webhook', url: 'URL/hook', secret: SECRET, timeoutMs: 2000 }]) },
    },
  );
  children.push(holder);
  let out = '';
  holder.stdout.on('data', (d) => (out += d));
  let err = '';
  holder.stderr.on('data', (d) => (err += d));
  const end = Date.now() + 60_000;
  while (!out.includes('queued ')) {
    if (Date.now() > end) throw new Error(`the sender did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  const before = got.length;
  // The holder may pick the entry up before check --once looks: its answer waits until the
  // one-shot run is over, so the entry is still pending (in flight at the holder) when it looks.
  held = [];
  const r = await run(['check', '--once'], sharedConfig);
  const release = held;
  held = null;
  for (const send of release) send();
  assert.equal(r.code, 0, r.stderr);
  // a fresh outbox: the staleness alert fires again; the one-shot run leaves it to the holder
  assert.match(r.stdout, new RegExp(`^alerts: 0 delivered, 0 failed; 1 left for the running analyzer \\(pid ${holder.pid}\\)`, 'm'));
  const ob = () => {
    const o = new AlertOutbox(shared);
    try {
      return o.entries({});
    } finally {
      o.close();
    }
  };
  const [entry] = ob();
  assert.ok(entry);
  while (ob()[0]!.state !== 'delivered') {
    if (Date.now() > end) throw new Error('the running sender did not deliver the entry');
    await new Promise((r) => setTimeout(r, 10));
  }
  holder.kill('SIGTERM');
  await new Promise((r) => holder.once('close', r));
  assert.match(out, /^attempts 1$/m, 'the running sender made the one attempt');
  assert.deepEqual(
    got.slice(before).map((g) => g.id),
    [entry.webhookId],
    'the receiver got the entry once',
  );
  assert.equal(ob().length, 1);
});
