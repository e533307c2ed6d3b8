/**
 * The model-quality math (src/quality/): realised classification and regression metrics checked
 * against a row-by-row computation and against scikit-learn itself (Debian's python3-sklearn, run
 * with /usr/bin/python3), merges checked to equal one pass, and the confidence-based estimate
 * checked on synthetic data with known calibration, including the calibration shift where it breaks.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { applyIsotonic, calibrate, fitClassCalibration, fitIsotonic } from '../../src/quality/calibration.js';
import {
  type ClassificationCounts,
  classificationMetrics,
  emptyClassification,
  mergeClassification,
  observeClassification,
} from '../../src/quality/classification.js';
import { emptyEstimate, estimatedAccuracy, mergeEstimates, observeEstimate } from '../../src/quality/estimate.js';
import { emptyRegression, mergeRegression, observeRegression, regressionMetrics } from '../../src/quality/regression.js';
import { mulberry32, normal } from '../prng.js';

interface LabelledRow {
  actual: string;
  predicted: string;
  probabilities: Record<string, number>;
}

const CLASSES = ['drizzle', 'fog', 'rain', 'snow', 'sun'];

/** Rows from a noisy classifier: a random probability vector, predicted = argmax, actual drawn from it. */
function classifierRows(seed: number, n: number, classes = CLASSES): LabelledRow[] {
  const r = mulberry32(seed);
  const rows: LabelledRow[] = [];
  for (let i = 0; i < n; i++) {
    const raw = classes.map(() => r() ** 3);
    const total = raw.reduce((a, b) => a + b, 0);
    const probabilities: Record<string, number> = {};
    classes.forEach((c, j) => {
      probabilities[c] = raw[j]! / total;
    });
    let predicted = classes[0]!;
    for (const c of classes) if (probabilities[c]! > probabilities[predicted]!) predicted = c;
    let u = r();
    let actual = classes[classes.length - 1]!;
    for (const c of classes) {
      u -= probabilities[c]!;
      if (u < 0) {
        actual = c;
        break;
      }
    }
    rows.push({ actual, predicted, probabilities });
  }
  return rows;
}

function countRows(rows: readonly LabelledRow[], maxClasses?: number): ClassificationCounts {
  const c = emptyClassification(maxClasses);
  for (const row of rows) observeClassification(c, row.actual, row.predicted, row.probabilities);
  return c;
}

const PYTHON = '/usr/bin/python3';

/** Why scikit-learn cannot be run here, or null when it can. */
function sklearnMissing(): string | null {
  if (!existsSync(PYTHON)) return `${PYTHON} not found (apt-get install python3-sklearn)`;
  const probe = spawnSync(PYTHON, ['-c', 'import sklearn'], { encoding: 'utf8' });
  return probe.status === 0 ? null : `${PYTHON} cannot import sklearn (apt-get install python3-sklearn): ${probe.stderr.trim().split('\n').pop()}`;
}

function sklearnSkip(t: { skip: (m: string) => void }): boolean {
  const missing = sklearnMissing();
  if (missing === null) return false;
  if (process.env.DRIFTWATCH_TEST_REQUIRE_PYTHON === '1') assert.fail(`DRIFTWATCH_TEST_REQUIRE_PYTHON=1 but ${missing}`);
  console.warn(`SKIPPED (loudly): scikit-learn cross-check: ${missing}`);
  t.skip(missing);
  return true;
}

function runPython(script: string, input: unknown): any {
  const out = spawnSync(PYTHON, ['-c', script], { input: JSON.stringify(input), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(out.status, 0, out.stderr);
  return JSON.parse(out.stdout);
}

describe('classification counts', () => {
  test('metrics equal a row-by-row computation', () => {
    const rows = classifierRows(7, 3000);
    const m = classificationMetrics(countRows(rows));
    assert.equal(m.n, rows.length);
    assert.equal(m.accuracy, rows.filter((r) => r.actual === r.predicted).length / rows.length);
    for (const cls of CLASSES) {
      const tp = rows.filter((r) => r.actual === cls && r.predicted === cls).length;
      const predicted = rows.filter((r) => r.predicted === cls).length;
      const actual = rows.filter((r) => r.actual === cls).length;
      assert.equal(m.perClass[cls]!.support, actual);
      assert.equal(m.perClass[cls]!.precision, predicted === 0 ? 0 : tp / predicted);
      assert.equal(m.perClass[cls]!.recall, actual === 0 ? 0 : tp / actual);
    }
    const logLoss = rows.reduce((s, r) => s - Math.log(r.probabilities[r.actual]!), 0) / rows.length;
    assert.ok(Math.abs(m.logLoss! - logLoss) < 1e-12, `${m.logLoss} vs ${logLoss}`);
    const brier = rows.reduce((s, r) => s + CLASSES.reduce((b, c) => b + (r.probabilities[c]! - (c === r.actual ? 1 : 0)) ** 2, 0), 0) / rows.length;
    assert.ok(Math.abs(m.brier! - brier) < 1e-12, `${m.brier} vs ${brier}`);
  });

  test('merging any split equals one pass, in either order', () => {
    const rows = classifierRows(11, 2000);
    const whole = countRows(rows);
    const r = mulberry32(3);
    const parts: LabelledRow[][] = [[], [], [], []];
    for (const row of rows) parts[Math.floor(r() * parts.length)]!.push(row);
    const counted = parts.map((p) => countRows(p));
    const forward = counted.reduce((a, b) => mergeClassification(a, b), emptyClassification());
    const backward = [...counted].reverse().reduce((a, b) => mergeClassification(a, b), emptyClassification());
    for (const merged of [forward, backward]) {
      assert.equal(merged.n, whole.n);
      assert.equal(merged.correct, whole.correct);
      assert.deepEqual(merged.confusion, whole.confusion);
      assert.ok(Math.abs(merged.logLossSum - whole.logLossSum) < 1e-9);
    }
    assert.deepEqual(classificationMetrics(forward).perClass, classificationMetrics(whole).perClass);
  });

  test('past the class bound the counts stay exact in n and accuracy; the rest goes to overflow', () => {
    const c = emptyClassification(2);
    observeClassification(c, 'a', 'a');
    observeClassification(c, 'b', 'a');
    observeClassification(c, 'c', 'c');
    observeClassification(c, 'a', 'z');
    assert.equal(c.n, 4);
    assert.equal(c.correct, 2);
    assert.equal(c.overflow, 2);
    assert.deepEqual(Object.keys(c.confusion).sort(), ['a', 'b']);
  });

  test('class names from traffic such as __proto__ stay ordinary keys', () => {
    const c = emptyClassification();
    observeClassification(c, '__proto__', '__proto__', { __proto__: 0.9, constructor: 0.1 } as Record<string, number>);
    observeClassification(c, 'constructor', '__proto__');
    const m = classificationMetrics(c);
    assert.equal(Object.getPrototypeOf(c.confusion), Object.prototype);
    assert.deepEqual(Object.keys(m.perClass).sort(), ['__proto__', 'constructor']);
    assert.equal(m.perClass.__proto__!.precision, 0.5);
    assert.equal(m.accuracy, 0.5);
  });

  test('the same numbers as scikit-learn', (t) => {
    if (sklearnSkip(t)) return;
    const rows = classifierRows(5, 1500);
    const m = classificationMetrics(countRows(rows));
    const py = runPython(
      `
import json, sys
from sklearn import metrics
rows = json.load(sys.stdin)
classes = sorted({c for r in rows for c in r["probabilities"]})
yt = [r["actual"] for r in rows]; yp = [r["predicted"] for r in rows]
P = [[r["probabilities"][c] for c in classes] for r in rows]
p, rc, f, s = metrics.precision_recall_fscore_support(yt, yp, average="macro", zero_division=0)
print(json.dumps({"accuracy": metrics.accuracy_score(yt, yp), "p": p, "r": rc, "f": f,
  "logloss": metrics.log_loss(yt, P, labels=classes)}))
`,
      rows,
    );
    const close = (a: number | null, b: number, what: string) => assert.ok(a !== null && Math.abs(a - b) < 1e-9, `${what}: ${a} vs sklearn ${b}`);
    close(m.accuracy, py.accuracy, 'accuracy');
    close(m.macroPrecision, py.p, 'macro precision');
    close(m.macroRecall, py.r, 'macro recall');
    close(m.macroF1, py.f, 'macro F1');
    close(m.logLoss, py.logloss, 'log loss');
  });
});

describe('regression sums', () => {
  function regressionRows(seed: number, n: number): { actual: number; predicted: number }[] {
    const r = mulberry32(seed);
    return Array.from({ length: n }, () => {
      const actual = 10 + 5 * normal(r);
      return { actual, predicted: actual + 0.5 + normal(r) };
    });
  }

  test('metrics equal a row-by-row computation, and a merge equals one pass', () => {
    const rows = regressionRows(2, 4000);
    const whole = emptyRegression();
    const a = emptyRegression();
    const b = emptyRegression();
    rows.forEach((row, i) => {
      observeRegression(whole, row.actual, row.predicted);
      observeRegression(i % 3 === 0 ? a : b, row.actual, row.predicted);
    });
    const m = regressionMetrics(whole);
    const mae = rows.reduce((s, r) => s + Math.abs(r.predicted - r.actual), 0) / rows.length;
    const mse = rows.reduce((s, r) => s + (r.predicted - r.actual) ** 2, 0) / rows.length;
    const mean = rows.reduce((s, r) => s + r.actual, 0) / rows.length;
    const ssTot = rows.reduce((s, r) => s + (r.actual - mean) ** 2, 0);
    assert.ok(Math.abs(m.mae! - mae) < 1e-9);
    assert.ok(Math.abs(m.rmse! - Math.sqrt(mse)) < 1e-9);
    assert.ok(Math.abs(m.r2! - (1 - (mse * rows.length) / ssTot)) < 1e-9);
    assert.ok(Math.abs(m.bias! - 0.5) < 0.1, `bias ${m.bias}`);
    const merged = regressionMetrics(mergeRegression(a, b));
    assert.equal(merged.n, m.n);
    for (const k of ['mae', 'rmse', 'mape', 'r2', 'bias'] as const) assert.ok(Math.abs(merged[k]! - m[k]!) < 1e-9, k);
  });

  test('non-finite values are refused, not counted; an empty window has no metrics', () => {
    const r = emptyRegression();
    assert.equal(observeRegression(r, Number.NaN, 1), false);
    assert.equal(observeRegression(r, 1, Number.POSITIVE_INFINITY), false);
    assert.deepEqual(regressionMetrics(r).mae, null);
    assert.equal(regressionMetrics(r).n, 0);
  });

  test('the same numbers as scikit-learn', (t) => {
    if (sklearnSkip(t)) return;
    const rows = regressionRows(9, 2000);
    const r = emptyRegression();
    for (const row of rows) observeRegression(r, row.actual, row.predicted);
    const m = regressionMetrics(r);
    const py = runPython(
      `
import json, sys
from sklearn import metrics
rows = json.load(sys.stdin)
yt = [r["actual"] for r in rows]; yp = [r["predicted"] for r in rows]
print(json.dumps({"mae": metrics.mean_absolute_error(yt, yp), "rmse": metrics.mean_squared_error(yt, yp) ** 0.5,
  "mape": metrics.mean_absolute_percentage_error(yt, yp), "r2": metrics.r2_score(yt, yp)}))
`,
      rows,
    );
    for (const k of ['mae', 'rmse', 'mape', 'r2'] as const) assert.ok(Math.abs(m[k]! - py[k]) < 1e-9, `${k}: ${m[k]} vs sklearn ${py[k]}`);
  });
});

describe('isotonic calibration', () => {
  test('the fitted map is non-decreasing and predicts what scikit-learn predicts', (t) => {
    const r = mulberry32(21);
    const scores = Array.from({ length: 800 }, () => Math.round(r() * 200) / 200);
    const targets = scores.map((s) => (r() < s * s ? 1 : 0));
    const map = fitIsotonic(scores, targets)!;
    for (let i = 1; i < map.x.length; i++) {
      assert.ok(map.x[i]! > map.x[i - 1]!);
      assert.ok(map.y[i]! >= map.y[i - 1]!);
    }
    const probes = Array.from({ length: 50 }, (_, i) => -0.1 + (i * 1.2) / 49);
    if (sklearnSkip(t)) return;
    const py = runPython(
      `
import json, sys
from sklearn.isotonic import IsotonicRegression
d = json.load(sys.stdin)
m = IsotonicRegression(out_of_bounds="clip").fit(d["x"], d["y"])
print(json.dumps([float(v) for v in m.predict(d["probes"])]))
`,
      { x: scores, y: targets, probes },
    );
    probes.forEach((p, i) => assert.ok(Math.abs(applyIsotonic(map, p) - py[i]) < 1e-9, `at ${p}: ${applyIsotonic(map, p)} vs sklearn ${py[i]}`));
  });

  test('calibrated vectors sum to 1 and keep unknown classes', () => {
    const maps = { a: { x: [0, 1], y: [0, 0.5] } };
    const out = calibrate({ a: 0.8, b: 0.2 }, maps);
    assert.ok(Math.abs(out.a! + out.b! - 1) < 1e-12);
    assert.ok(Math.abs(out.a! - 0.4 / 0.6) < 1e-12);
    assert.deepEqual(calibrate({ a: 0, b: 0 }, { a: { x: [0, 1], y: [0, 0] }, b: { x: [0, 1], y: [0, 0] } }), { a: 0, b: 0 });
  });
});

describe('estimated performance (CBPE)', () => {
  /** Binary rows where the model reports score s and the truth is positive with probability truth(s). */
  function binaryRows(seed: number, n: number, truth: (s: number) => number): LabelledRow[] {
    const r = mulberry32(seed);
    return Array.from({ length: n }, () => {
      const s = r();
      const probabilities = { yes: s, no: 1 - s };
      return { predicted: s >= 0.5 ? 'yes' : 'no', actual: r() < truth(s) ? 'yes' : 'no', probabilities };
    });
  }

  function estimateAndRealise(rows: readonly LabelledRow[], maps: ReturnType<typeof fitClassCalibration>) {
    const e = emptyEstimate();
    for (const row of rows) observeEstimate(e, row.predicted, calibrate(row.probabilities, maps));
    return { est: estimatedAccuracy(e), realised: rows.filter((r) => r.actual === r.predicted).length / rows.length, e };
  }

  test('with calibrated scores the realised accuracy falls inside the estimate band as often as it should', () => {
    let inside = 0;
    const windows = 200;
    for (let w = 0; w < windows; w++) {
      const { est, realised } = estimateAndRealise(
        binaryRows(100 + w, 500, (s) => s),
        null,
      );
      if (Math.abs(realised - est.accuracy!) <= 1.96 * est.standardError!) inside++;
    }
    // A 95% band: the count inside is Binomial(200, 0.95) if the estimate is right (mean 190, sd 3.1).
    assert.ok(inside >= 180 && inside <= 199, `${inside} of ${windows} windows inside the 95% band`);
  });

  test('estimates merge by adding, like the realised counts', () => {
    const rows = binaryRows(5, 1000, (s) => s);
    const a = estimateAndRealise(rows.slice(0, 300), null).e;
    const b = estimateAndRealise(rows.slice(300), null).e;
    const whole = estimateAndRealise(rows, null).e;
    const merged = estimatedAccuracy(mergeEstimates(a, b));
    assert.ok(Math.abs(merged.accuracy! - estimatedAccuracy(whole).accuracy!) < 1e-12);
    assert.ok(Math.abs(merged.standardError! - estimatedAccuracy(whole).standardError!) < 1e-12);
  });

  test('a calibration shift breaks the raw estimate; calibrating on a labelled reference with the same shift repairs it', () => {
    // The model is over-confident: it says s, the truth is positive with probability 0.5 + (s - 0.5) / 2.
    const truth = (s: number) => 0.5 + (s - 0.5) / 2;
    const live = binaryRows(42, 5000, truth);
    const raw = estimateAndRealise(live, null);
    assert.ok(Math.abs(raw.realised - raw.est.accuracy!) > 5 * raw.est.standardError!, `raw estimate ${raw.est.accuracy} vs realised ${raw.realised}`);
    const maps = fitClassCalibration(binaryRows(43, 5000, truth));
    const fixed = estimateAndRealise(live, maps);
    assert.ok(
      Math.abs(fixed.realised - fixed.est.accuracy!) <= 3 * fixed.est.standardError!,
      `calibrated estimate ${fixed.est.accuracy} +- ${fixed.est.standardError} vs realised ${fixed.realised}`,
    );
  });
});
