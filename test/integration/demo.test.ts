/**
 * `npm run demo` end to end, as a child process on free ports: the winter reference, the replayed
 * seasons through the real sidecar, the drift check, and the signed notifications at the demo's
 * local receiver (issue 5's "done when"). What the demo reports is compared with what the data
 * says, computed here from the CSV on raw samples (the demo computes it from stored sketches).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ksPvalueAsymp } from '../../src/drift/ks.js';
import { FEATURES, PHASES, phaseDays, readDays, winterReference, type Feature } from '../../examples/demo/season-data.js';
import { ROOT, tempDir } from '../helpers.js';

const tmp = tempDir('dw-demo-');
after(() => tmp.cleanup());

/** The two-sample KS statistic, sup |F_a - F_b| over the pooled values, written out plainly. */
function ksStatistic(a: readonly number[], b: readonly number[]): number {
  const sa = [...a].sort((x, y) => x - y);
  const sb = [...b].sort((x, y) => x - y);
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < sa.length && j < sb.length) {
    const v = Math.min(sa[i]!, sb[j]!);
    while (i < sa.length && sa[i]! <= v) i++;
    while (j < sb.length && sb[j]! <= v) j++;
    d = Math.max(d, Math.abs(i / sa.length - j / sb.length));
  }
  return d;
}

/** Per phase, the features whose KS p-value (Bonferroni over the features) is below 0.01. */
function expectedDrift(): Array<{ name: string; drifted: Feature[]; d: Record<Feature, number> }> {
  const days = readDays();
  const ref = winterReference(days);
  return PHASES.map((p) => {
    const cur = phaseDays(days, p);
    const d = {} as Record<Feature, number>;
    const drifted: Feature[] = [];
    for (const f of FEATURES) {
      d[f] = ksStatistic(
        ref.map((r) => r[f]),
        cur.map((r) => r[f]),
      );
      if (Math.min(1, FEATURES.length * ksPvalueAsymp(d[f], ref.length, cur.length)) < 0.01) drifted.push(f);
    }
    return { name: p.name, drifted, d };
  });
}

test('npm run demo: one signed firing notification naming the drifting features for summer, one resolved for winter', { timeout: 180_000 }, async () => {
  const expected = expectedDrift();
  const [winter, summer, december] = expected;
  // What the data says, before looking at driftwatch: summer drifts in the temperatures at least.
  assert.deepEqual(winter!.drifted, [], 'winter 2014 is like the 2012-13 winter reference');
  assert.ok(
    summer!.drifted.includes('temp_max') && summer!.drifted.includes('temp_min'),
    `summer drifts in the temperatures (got ${summer!.drifted.join(', ')})`,
  );
  assert.deepEqual(december!.drifted, [], 'December 2015 is back at the reference');

  const summaryPath = join(tmp.dir, 'summary.json');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'examples', 'demo', 'run-demo.ts'), '--exit', '--ports', '0', '--dir', join(tmp.dir, 'demo'), '--summary-json', summaryPath],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  // However the test ends (a timeout included), the demo's servers do not outlive it.
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 0, `the demo exits 0\nstdout:\n${stdout}\nstderr:\n${stderr}`);

  const summary = JSON.parse(readFileSync(summaryPath, 'utf8'));
  assert.equal(summary.failedRequests, 0);
  assert.equal(
    summary.rowsReplayed,
    PHASES.reduce((n, p) => n + phaseDays(readDays(), p).length, 0),
  );
  for (const [i, e] of expected.entries()) {
    const got = summary.phases[i];
    assert.equal(got.name, e.name);
    assert.deepEqual([...got.drifted].sort(), [...e.drifted].sort(), `${e.name}: driftwatch's drifted features match the data's`);
    for (const f of FEATURES)
      assert.ok(Math.abs(got.features[f].ksStatistic - e.d[f]) <= 1e-9, `${e.name} ${f}: KS D ${got.features[f].ksStatistic} vs ${e.d[f]} from the raw days`);
  }

  const notes = summary.notifications as Array<{
    status: string;
    model: string;
    signatureValid: boolean;
    alerts: Array<{ name: string; status: string; check: string }>;
  }>;
  assert.deepEqual(
    notes.map((n) => n.status),
    ['firing', 'resolved'],
    `exactly one firing then one resolved notification:\n${stdout}`,
  );
  const features = (n: (typeof notes)[number]) =>
    n.alerts
      .filter((a) => a.name !== '__dataset__')
      .map((a) => a.name)
      .sort();
  for (const n of notes) {
    assert.equal(n.model, 'seattle-weather');
    assert.equal(n.signatureValid, true, 'Standard Webhooks signature verified by the receiver');
    assert.ok(n.alerts.every((a) => a.check === 'drift' && a.status === n.status));
  }
  assert.deepEqual(features(notes[0]!), [...summer!.drifted].sort(), 'the firing notification names the drifting features');
  assert.ok(
    notes[0]!.alerts.some((a) => a.name === '__dataset__'),
    'and the model-level drift share',
  );
  assert.deepEqual(features(notes[1]!), features(notes[0]!), 'the resolved notification resolves the same alerts');
  assert.match(stdout, /status page\s+http:\/\/127\.0\.0\.1:\d+\/ui/);
});
