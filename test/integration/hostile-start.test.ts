/**
 * The hostile-input table (test/hostile/cases.ts) against a real `driftwatch start` child process:
 * its scoring server, its proxy (the default fast lane, with capture on in its worker thread, so
 * hostile bodies also go through extraction) and its admin port. After every case the well-formed
 * request is answered; at the end the process is still running and logged no error.
 * Slow-client cases run against the scoring server only: the proxy's and the admin port's head
 * deadlines have no config key (docs/bad-input.md) and are 60 s here.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { destroyAllRawConns } from '../fixtures/raw-http.js';
import { BODY_CASES, HTTP_CASES, SLOW_CASES, type HostileCase } from '../hostile/cases.js';
import { attempt, judge } from '../hostile/run-case.js';
import { type PortName, targetsAt, type Targets } from '../hostile/targets.js';
import { ROOT, tempDir } from '../helpers.js';

const CLI = [process.execPath, '--import', import.meta.resolve('tsx'), join(ROOT, 'src', 'cli', 'main.ts')];
const tmp = tempDir('dw-hostile-start-');
let proc: ChildProcess;
let stderr = '';
let targets: Targets;

before(async () => {
  proc = spawn(CLI[0]!, [...CLI.slice(1), 'start'], {
    cwd: tmp.dir,
    env: {
      ...process.env,
      DRIFTWATCH_REGISTRY_ROOT: join(tmp.dir, 'reg'),
      DRIFTWATCH_SERVE_PORT: '0',
      DRIFTWATCH_PROXY_PORT: '0',
      DRIFTWATCH_ADMIN_PORT: '0',
      // The same limits as the in-process targets (targets.ts): 1 MiB bodies, 2 s deadlines.
      DRIFTWATCH_SERVE_REQUEST_TIMEOUT_MS: '1000',
      DRIFTWATCH_SERVE_MAX_BODY_BYTES: String(1024 * 1024),
      DRIFTWATCH_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  proc.stderr!.on('data', (d) => (stderr += d));
  const line = async (re: RegExp) => {
    for (let i = 0; i < 1200; i++) {
      const m = re.exec(stderr);
      if (m) return m;
      if (proc.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no ${re} in:\n${stderr}`);
  };
  const scoring = await line(/"msg":"scoring server listening","url":"(http:[^"]+)","admin":"(http:[^"]+)"/);
  const proxy = (await line(/"msg":"proxy listening","url":"(http:[^"]+)"/))[1]!;
  targets = await targetsAt({ serve: scoring[1]!, proxy, admin: scoring[2]! }, 'fast', 'seattle-weather');
});

after(async () => {
  destroyAllRawConns();
  if (proc && proc.exitCode === null) {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  }
  tmp.cleanup();
});

function cases(list: HostileCase[], ports: PortName[]): void {
  for (const c of list) {
    for (const port of ports) {
      const expect = c.expect[port];
      if (expect === undefined) continue;
      test(`${port}: ${c.name}`, { timeout: 20_000 }, async () => {
        judge(await attempt(targets, port, c.steps(port), c.method ?? 'GET', expect), expect, `driftwatch start, ${port}: ${c.name}`);
        await targets.wellFormed(port);
      });
    }
  }
}

describe('driftwatch start: hostile HTTP', () => cases(HTTP_CASES, ['serve', 'proxy-fast', 'admin']));
describe('driftwatch start: slow clients', { concurrency: true }, () => cases(SLOW_CASES, ['serve']));
describe('driftwatch start: hostile bodies through the capturing proxy', () => cases(BODY_CASES, ['proxy-fast']));

test('driftwatch start: still running, answering on all three ports, no error logged', async () => {
  for (const port of ['serve', 'proxy-fast', 'admin'] as const) await targets.wellFormed(port);
  assert.equal(proc.exitCode, null, 'the process is alive');
  assert.equal(proc.signalCode, null);
  const errors = stderr.split('\n').filter((l) => l.includes('"level":"error"'));
  assert.deepEqual(errors, [], 'nothing logged at error level');
});
