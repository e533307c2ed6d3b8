/**
 * `npm run demo` end to end, as a child process on free ports: the winter reference, the replayed
 * seasons through the real sidecar, the drift check, and the signed notifications at the demo's
 * local receiver (issue 5's "done when"), and the model's accuracy by season from the quality
 * check, its labels posted late by request id (issue 20). What the demo reports is compared with
 * what the data says, computed here from the CSV on raw samples (the demo computes it from stored
 * sketches), and with what a scoring server of its own answers for the same days.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ksPvalueAsymp } from '../../src/drift/ks.js';
import { type DayRow, FEATURES, PHASES, phaseDays, readDays, winterReference, type Feature } from '../../examples/demo/season-data.js';
import { EXAMPLE_MODEL_DIR, ROOT, startServer, tempDir } from '../helpers.js';

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

/** The example model's answers for these days from a scoring server of the test's own: per day, correct or not, and the predicted class's probability. */
async function answersFor(url: string, days: readonly DayRow[]): Promise<Array<{ correct: boolean; pPredicted: number }>> {
  const res = await fetch(`${url}/invocations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ dataframe_split: { columns: FEATURES, data: days.map((d) => FEATURES.map((f) => d[f])) } }),
  });
  assert.equal(res.status, 200);
  const classes = ['drizzle', 'fog', 'rain', 'snow', 'sun'];
  const { predictions } = (await res.json()) as { predictions: Array<{ label: string; probabilities: number[] }> };
  return predictions.map((p, i) => ({ correct: p.label === days[i]!.weather, pPredicted: p.probabilities[classes.indexOf(p.label)]! }));
}

/** Accuracy of the model on the reference days and on each phase's days, and its raw confidence (the uncalibrated CBPE estimate). */
async function expectedQuality(): Promise<{ reference: number; phases: Array<{ n: number; accuracy: number; rawEstimate: number }> }> {
  const days = readDays();
  const server = await startServer({ registryRoot: join(tmp.dir, 'score-registry'), models: [{ uri: EXAMPLE_MODEL_DIR, name: 'seattle-weather' }] });
  try {
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const ref = await answersFor(server.url, winterReference(days));
    const phases = [];
    for (const p of PHASES) {
      const a = await answersFor(server.url, phaseDays(days, p));
      phases.push({ n: a.length, accuracy: a.filter((x) => x.correct).length / a.length, rawEstimate: mean(a.map((x) => x.pPredicted)) });
    }
    return { reference: ref.filter((x) => x.correct).length / ref.length, phases };
  } finally {
    await server.close();
  }
}

test('npm run demo: one signed firing notification naming the drifting features for summer, one resolved for winter; the accuracy of every season from its late labels', {
  timeout: 180_000,
}, async () => {
  const expected = expectedDrift();
  const quality = await expectedQuality();
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
    // The season's accuracy: every day's label arrived late by its request id and joined its prediction.
    const q = got.quality;
    const want = quality.phases[i]!;
    assert.deepEqual(q.labels, { matched: want.n, unmatched: 0 }, `${e.name}: labels joined`);
    assert.equal(q.predictions, want.n);
    assert.equal(q.labelled, want.n);
    assert.equal(q.labelledShareBefore, 0, `${e.name}: the estimate came before any label`);
    assert.ok(Math.abs(q.accuracy - want.accuracy) < 1e-12, `${e.name}: realised accuracy ${q.accuracy} vs ${want.accuracy} from the scoring server's answers`);
    assert.ok(q.estimatedAccuracy > 0 && q.estimatedAccuracy <= 1);
    // Uncalibrated, the estimate is the mean confidence of the predicted class; calibrated, it is
    // the reference's calibration of it (its own test: test/unit/reference-quality.test.ts).
    if (q.estimateCalibrated === false)
      assert.ok(Math.abs(q.estimatedAccuracy - want.rawEstimate) < 1e-9, `${e.name}: raw estimate ${q.estimatedAccuracy} vs ${want.rawEstimate}`);
    if (q.accuracyDrop !== null) assert.ok(Math.abs(q.accuracyDrop - (quality.reference - want.accuracy)) < 1e-12);
  }
  assert.ok(Math.abs(summary.referenceAccuracy - quality.reference) < 1e-12, `reference accuracy ${summary.referenceAccuracy} vs ${quality.reference}`);
  assert.match(stdout, /accuracy by season/);
  for (const p of PHASES) assert.match(stdout, new RegExp(`^ +${p.name} +\\d+ +0\\.\\d{3} +0\\.\\d{3} +[+-]\\d\\.\\d{3} `, 'm'));

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
