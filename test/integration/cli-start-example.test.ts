/**
 * `driftwatch start` on a fresh directory shows every check (issue 19 item 8): the example's
 * reference carries the model's own predictions (so prediction drift is judged), the example gets
 * an SLO target when the config names none, and --admin-port puts the admin API where it says,
 * over the config and the environment.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FEATURES, postJson, ROOT, tempDir, weatherRows } from '../helpers.js';
import { LocalRegistry } from '../../src/registry/local-registry.js';

const tmp = tempDir('dw-start-example-');
after(() => tmp.cleanup());
const CLI = [process.execPath, '--import', import.meta.resolve('tsx'), join(ROOT, 'src', 'cli', 'main.ts')];

function launch(args: string[], env: Record<string, string>): { proc: ChildProcess; stderr: () => string; line: (re: RegExp) => Promise<RegExpExecArray> } {
  const proc = spawn(CLI[0]!, [...CLI.slice(1), ...args], { cwd: tmp.dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const line = async (re: RegExp) => {
    for (let i = 0; i < 1200; i++) {
      const m = re.exec(err);
      if (m) return m;
      if (proc.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no ${re} in:\n${err}`);
  };
  return { proc, stderr: () => err, line };
}

test('start: --admin-port wins over DRIFTWATCH_ADMIN_PORT; the example has an SLO target and a reference with predictions', async () => {
  // DRIFTWATCH_ADMIN_PORT names a port that is taken: start only comes up if the flag wins.
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const takenPort = (taken.address() as { port: number }).port;
  const { proc, stderr, line } = launch(['start', '--admin-port', '0'], {
    DRIFTWATCH_REGISTRY_ROOT: join(tmp.dir, 'reg'),
    DRIFTWATCH_SERVE_PORT: '0',
    DRIFTWATCH_PROXY_PORT: '0',
    DRIFTWATCH_ADMIN_PORT: String(takenPort),
    DRIFTWATCH_STATS_FLUSH_INTERVAL_MS: '200',
    DRIFTWATCH_LOG_LEVEL: 'info',
  });
  try {
    const admin = JSON.parse((await line(/"msg":"scoring server listening"[^\n]*?"admin":("http:[^"]+")/))[1]!) as string;
    assert.notEqual(new URL(admin).port, String(takenPort));
    const url = (await line(/"msg":"proxy listening","url":"(http:[^"]+)"/))[1]!;
    assert.match(stderr(), /with the model's predictions and its accuracy on the observed weather/);

    const ref = (await (await fetch(`${admin}/api/reference?model=seattle-weather&version=1`)).json()) as any;
    assert.ok(ref.reference, JSON.stringify(ref));
    assert.equal(ref.reference.rows, 731);
    assert.ok(ref.reference.predictions.label, `the reference has the predicted label: ${JSON.stringify(Object.keys(ref.reference.predictions))}`);
    // The training data holds the observed weather: the reference carries the model's performance on it.
    const stored = await new LocalRegistry(join(tmp.dir, 'reg')).getReference('seattle-weather', '1');
    assert.equal(stored?.performance?.labelled, 731, JSON.stringify(Object.keys(stored?.performance ?? {})));

    // Enough requests for an SLO verdict (checks.slo.minRequests, 20), then one run of the checks.
    const rows = weatherRows('2015-01-01', '2015-01-30').map((r) => r.features);
    for (let i = 0; i < 25; i++) assert.equal((await postJson(`${url}/invocations`, { dataframe_split: { columns: FEATURES, data: rows } })).status, 200);
    let slo: any[] = [];
    for (let i = 0; i < 50 && !slo.length; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const run = (await (await fetch(`${admin}/api/checks/run`, { method: 'POST' })).json()) as any;
      slo = run.findings.filter((f: any) => f.check === 'slo' && f.subject.model === 'seattle-weather');
    }
    assert.ok(slo.length, 'the SLO check judged the example model');
    assert.ok(
      slo.some((f: any) => f.subject.name === 'latency_p95'),
      JSON.stringify(slo.map((f: any) => f.subject.name)),
    );
  } finally {
    proc.kill('SIGTERM');
    taken.close();
  }
  await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.on('exit', r)));
});
