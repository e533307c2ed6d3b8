/**
 * The reference's performance (quality/reference-performance.ts) and what the quality check does
 * with it (outcomes/quality-check.ts): the estimate calibrated by the reference's maps, and the
 * drop relative to the reference's value as a finding of its own. Synthetic rows with a known
 * calibration error, from a seeded PRNG, so every number is checked against a row-by-row count.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { qualityCheckSchema } from '../../src/config/schema.js';
import type { LoggedRow } from '../../src/outcomes/prediction-log.js';
import { QualityAccumulator } from '../../src/outcomes/quality-check.js';
import { calibrate, fitClassCalibration } from '../../src/quality/calibration.js';
import { classificationMetrics } from '../../src/quality/classification.js';
import { type LabelledPrediction, measureReferencePerformance } from '../../src/quality/reference-performance.js';
import { regressionMetrics } from '../../src/quality/regression.js';
import { buildReference, validateReference } from '../../src/stats/reference.js';
import type { ReferenceProfile } from '../../src/stats/types.js';
import { mulberry32, normal } from '../prng.js';

/** The model says s for "yes"; the truth is "yes" with probability truth(s): over-confident when truth flattens s. */
function binaryRows(seed: number, n: number, truth: (s: number) => number): LabelledPrediction[] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const s = r();
    return { label: r() < truth(s) ? 'yes' : 'no', predicted: s >= 0.5 ? 'yes' : 'no', value: null, probabilities: { yes: s, no: 1 - s } };
  });
}
const overConfident = (s: number) => 0.5 + (s - 0.5) / 2;

function logged(rows: readonly LabelledPrediction[], labelled: (i: number) => boolean): LoggedRow[] {
  return rows.map((r, i) => ({
    id: `p${i}`,
    atMs: 1_000 + i,
    model: 'm',
    version: '1',
    predicted: r.predicted,
    value: r.value,
    probabilities: r.probabilities,
    label: labelled(i) ? (r.label as string | number) : null,
    labelAtMs: labelled(i) ? 5_000 + i : null,
  }));
}

function run(rows: readonly LoggedRow[], baseline: ConstructorParameters<typeof QualityAccumulator>[0], config: Record<string, unknown> = {}) {
  const acc = new QualityAccumulator(baseline);
  for (const r of rows) acc.observe(r);
  const cfg = qualityCheckSchema.parse({ minLabelled: 50, ...config });
  return acc.findings('m', '1', cfg, 0, 10_000);
}

describe('reference performance', () => {
  test('classification counts equal a row-by-row count; maps are fitted on the labelled rows; unlabelled rows do not count', () => {
    const rows = [...binaryRows(1, 800, overConfident), { label: null, predicted: 'yes', value: null, probabilities: { yes: 0.9, no: 0.1 } }];
    const p = measureReferencePerformance(rows, { labelColumn: 'outcome', predictionsFrom: 'model' });
    const labelled = rows.filter((r) => r.label !== null);
    assert.equal(p.labelled, labelled.length);
    assert.equal(p.regression, null);
    const m = classificationMetrics(p.classification!);
    assert.equal(m.accuracy, labelled.filter((r) => r.label === r.predicted).length / labelled.length);
    assert.equal(p.classification!.n, labelled.length);
    assert.deepEqual(p.calibration, fitClassCalibration(labelled.map((r) => ({ actual: r.label as string, probabilities: r.probabilities! }))));
    assert.deepEqual(Object.keys(p.calibration!).sort(), ['no', 'yes']);
  });

  test('without probabilities (or with probabilities not keyed by class), or with too few rows, there are no calibration maps', () => {
    const noProbs = binaryRows(2, 500, (s) => s).map((r) => ({ ...r, probabilities: null }));
    assert.equal(measureReferencePerformance(noProbs, { labelColumn: 'y', predictionsFrom: 'file' }).calibration, null);
    const positional = binaryRows(2, 500, (s) => s).map((r) => ({ ...r, probabilities: { '0': r.probabilities!.no!, '1': r.probabilities!.yes! } }));
    const p = measureReferencePerformance(positional, { labelColumn: 'y', predictionsFrom: 'model' });
    assert.equal(p.calibration, null);
    assert.equal(p.classification!.probRows, 0);
    assert.equal(p.labelled, 500);
    assert.equal(
      measureReferencePerformance(
        binaryRows(3, 60, (s) => s),
        { labelColumn: 'y', predictionsFrom: 'model' },
      ).calibration,
      null,
    );
  });

  test('regression: the sums of the quality check, over rows with a numeric label', () => {
    const r = mulberry32(9);
    const rows: LabelledPrediction[] = Array.from({ length: 300 }, () => {
      const y = 10 + 3 * normal(r);
      return { label: y, predicted: null, value: y + normal(r), probabilities: null };
    });
    rows.push({ label: 'n/a', predicted: null, value: 3, probabilities: null });
    const p = measureReferencePerformance(rows, { labelColumn: 'y', predictionsFrom: 'model' });
    assert.equal(p.classification, null);
    assert.equal(p.calibration, null);
    assert.equal(p.labelled, 300);
    const m = regressionMetrics(p.regression!);
    const direct = Math.sqrt(rows.slice(0, 300).reduce((a, x) => a + ((x.value as number) - (x.label as number)) ** 2, 0) / 300);
    assert.ok(Math.abs(m.rmse! - direct) < 1e-9, `${m.rmse} vs ${direct}`);
  });
});

describe('the reference format', () => {
  const base = (): ReferenceProfile =>
    buildReference({
      model: 'm',
      version: '1',
      source: 'train.csv',
      createdAtMs: 0,
      rows: Array.from({ length: 50 }, (_, i) => ({ x: i })),
      bins: 5,
      sketchK: 64,
      maxCategories: 10,
    });

  test('a reference without performance (as older versions wrote it) still loads; one with it round-trips through JSON', () => {
    const old = JSON.parse(JSON.stringify(base()));
    assert.equal('performance' in old, false);
    assert.equal(validateReference(old).performance, undefined);
    const ref = base();
    ref.performance = measureReferencePerformance(binaryRows(4, 400, overConfident), { labelColumn: 'y', predictionsFrom: 'model' });
    const back = validateReference(JSON.parse(JSON.stringify(ref)));
    assert.deepEqual(back.performance, ref.performance);
  });

  test('a damaged performance section is refused with its path', () => {
    const ref = base();
    ref.performance = measureReferencePerformance(binaryRows(5, 400, overConfident), { labelColumn: 'y', predictionsFrom: 'model' });
    const cases: Array<[(p: any) => void, RegExp]> = [
      [(p) => p.calibration.yes.x.reverse(), /performance\.calibration\.yes\.x must be strictly increasing/],
      [(p) => (p.calibration.no.y = [1]), /performance\.calibration\.no must have arrays x and y/],
      [(p) => (p.classification.correct = p.classification.n + 1), /performance\.classification\.correct must be <= n/],
      [(p) => (p.predictionsFrom = 'guess'), /performance\.predictionsFrom/],
      [(p) => (p.classification.confusion.yes = 3), /performance\.classification\.confusion\.yes must be an object/],
    ];
    for (const [damage, message] of cases) {
      const copy = JSON.parse(JSON.stringify(ref));
      damage(copy.performance);
      assert.throws(() => validateReference(copy), message);
    }
  });
});

describe('the estimate', () => {
  test('rows whose predicted class is not among their probabilities (class names unknown) are not estimated, nor scored for log loss, as wrong', () => {
    const rows = binaryRows(12, 300, (s) => s);
    const named = run(
      logged(rows, () => false),
      null,
    ).find((f) => f.metric === 'estimated_accuracy')!;
    assert.ok(named.value! > 0.6, `${named.value}`);
    // The same answers with the vector keyed by position, as the log keeps them without labels.classes.
    const positional = rows.map((r) => ({ ...r, probabilities: { '0': r.probabilities!.no!, '1': r.probabilities!.yes! } }));
    const findings = run(
      logged(positional, () => false),
      null,
    );
    assert.equal(
      findings.find((f) => f.metric === 'estimated_accuracy'),
      undefined,
      'no estimate rather than an estimate of 0',
    );
    // Nor a log loss or Brier score from them (p of the actual class would read 0: log loss 34.5).
    const labelled = run(
      logged(positional, () => true),
      null,
      { thresholds: { log_loss: { warn: 1 }, brier: { warn: 1 } } },
    );
    assert.equal(labelled.find((f) => f.metric === 'log_loss')!.value, null);
    assert.equal(labelled.find((f) => f.metric === 'brier')!.value, null);
    assert.equal(labelled.find((f) => f.metric === 'accuracy')!.value, rows.filter((r) => r.label === r.predicted).length / rows.length);
    const byName = run(
      logged(rows, () => true),
      null,
      { thresholds: { log_loss: { warn: 1 } } },
    ).find((f) => f.metric === 'log_loss')!;
    assert.ok(byName.value! > 0 && byName.value! < 1, `log loss ${byName.value}`);
    // A window mixing both estimates over the rows it can read.
    const mixed = run(
      logged([...rows.slice(0, 150), ...positional.slice(150)], () => false),
      null,
    ).find((f) => f.metric === 'estimated_accuracy')!;
    assert.equal((mixed.detail!.estimate as { n: number }).n, 150);
  });
});

test('calibrating keeps a class named __proto__ an ordinary key (class names come from traffic)', () => {
  const maps = fitClassCalibration(binaryRows(13, 300, (s) => s).map((r) => ({ actual: r.label as string, probabilities: r.probabilities! })))!;
  const p = JSON.parse('{"__proto__": 0.25, "yes": 0.75}') as Record<string, number>;
  const q = calibrate(p, maps);
  assert.ok(Object.hasOwn(q, '__proto__') && Object.getPrototypeOf(q) === Object.prototype);
  assert.ok(Math.abs(q.yes! + (Object.getOwnPropertyDescriptor(q, '__proto__')!.value as number) - 1) < 1e-12);
});

describe('the quality check against the reference', () => {
  test('the estimate applies the reference calibration: an over-confident model is estimated within its error, and says calibrated', () => {
    const reference = measureReferencePerformance(binaryRows(43, 5000, overConfident), { labelColumn: 'y', predictionsFrom: 'model' });
    const live = logged(binaryRows(42, 5000, overConfident), () => true);
    const realised = live.filter((r) => r.label === r.predicted).length / live.length;

    const raw = run(live, null).find((f) => f.metric === 'estimated_accuracy')!;
    const rawSe = (raw.detail!.estimate as { standard_error: number }).standard_error;
    assert.equal((raw.detail!.estimate as { calibrated: boolean }).calibrated, false);
    assert.ok(Math.abs(raw.value! - realised) > 5 * rawSe, `uncalibrated ${raw.value} vs realised ${realised}`);

    const cal = run(live, { performance: reference, source: 'train.csv' }).find((f) => f.metric === 'estimated_accuracy')!;
    const est = cal.detail!.estimate as { calibrated: boolean; standard_error: number };
    assert.equal(est.calibrated, true);
    assert.ok(Math.abs(cal.value! - realised) <= 3 * est.standard_error, `calibrated ${cal.value} +- ${est.standard_error} vs realised ${realised}`);
  });

  test('the drop from the reference is a finding of its own, with the reference value in its detail, judged by maxDrop', () => {
    const reference = measureReferencePerformance(
      binaryRows(7, 2000, (s) => s),
      { labelColumn: 'y', predictionsFrom: 'model' },
    );
    const refAccuracy = classificationMetrics(reference.classification!).accuracy!;
    // Live: labels independent of the score: accuracy near 0.5, far below the reference's ~0.75.
    const live = logged(
      binaryRows(8, 1000, () => 0.5),
      (i) => i % 2 === 0,
    );
    const labelled = live.filter((r) => r.label !== null);
    const accuracy = labelled.filter((r) => r.label === r.predicted).length / labelled.length;
    const findings = run(live, { performance: reference, source: 'holdout.csv' }, { maxDrop: { warn: 0.05, fail: 0.1 } });
    const drop = findings.find((f) => f.metric === 'accuracy_drop')!;
    assert.ok(Math.abs(drop.value! - (refAccuracy - accuracy)) < 1e-12);
    assert.equal(drop.status, refAccuracy - accuracy >= 0.1 ? 'fail' : 'warn');
    assert.equal(drop.status, 'fail');
    assert.deepEqual(drop.threshold, { warn: 0.05, fail: 0.1, direction: 'above' });
    assert.equal(drop.sampleSize, labelled.length);
    const ref = drop.detail!.reference as Record<string, unknown>;
    assert.equal(ref.value, refAccuracy);
    assert.equal(ref.labelled, 2000);
    assert.equal(ref.source, 'holdout.csv');
    assert.equal(drop.detail!.current, accuracy);
    assert.match(drop.message, /accuracy_drop 0\.\d+ >= 0\.1: accuracy 0\.\d+ against 0\.\d+ on the reference/);
    // The estimate's drop is over every prediction, labelled or not.
    const estDrop = findings.find((f) => f.metric === 'estimated_accuracy_drop')!;
    assert.equal(estDrop.sampleSize, live.length);
    // Without limits the drop is reported, not judged.
    assert.equal(run(live, { performance: reference, source: 'x' }).find((f) => f.metric === 'accuracy_drop')!.status, 'ok');
    // Too few labelled rows: insufficient, status ok, whatever the drop.
    const few = run(
      live.map((r, i) => (i < 40 ? r : { ...r, label: null, labelAtMs: null })),
      { performance: reference, source: 'x' },
      { maxDrop: { warn: 0.05, fail: 0.1 } },
    ).find((f) => f.metric === 'accuracy_drop')!;
    assert.equal(few.insufficientData, true);
    assert.equal(few.status, 'ok');
  });

  test('regression: the RMSE increase over the reference; no baseline, no drop findings', () => {
    const r = mulberry32(11);
    const rows = (noise: number, n: number): LabelledPrediction[] =>
      Array.from({ length: n }, () => {
        const y = 5 * normal(r);
        return { label: y, predicted: null, value: y + noise * normal(r), probabilities: null };
      });
    const reference = measureReferencePerformance(rows(1, 1000), { labelColumn: 'y', predictionsFrom: 'model' });
    const live = logged(rows(2, 500), () => true);
    const findings = run(live, { performance: reference, source: 'x' }, { maxDrop: { warn: 0.5, fail: null } });
    const rise = findings.find((f) => f.metric === 'rmse_increase')!;
    const rmse = findings.find((f) => f.metric === 'rmse')!.value!;
    assert.ok(Math.abs(rise.value! - (rmse - regressionMetrics(reference.regression!).rmse!)) < 1e-12);
    assert.equal(rise.status, 'warn');
    assert.equal(findings.filter((f) => f.metric.endsWith('_drop')).length, 0);
    assert.equal(run(live, null).filter((f) => f.metric === 'rmse_increase' || f.metric.endsWith('_drop')).length, 0);
  });
});
