/**
 * Both models' quality on the same labelled requests (quality/paired-quality.ts, pure) and the
 * verdict's quality rule (challenger/verdict.ts): the counts equal the quality loop's own metrics
 * computed on each model's rows, merging pages equals one pass, rows one model cannot be scored on
 * are skipped for both, and the rule is judged, failed or reported as not evaluated.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyComparison, summarizeComparison } from '../../src/challenger/comparison.js';
import type { LabelledPair, PairedQualitySummary } from '../../src/challenger/paired-quality.js';
import { judge, qualityRule } from '../../src/challenger/verdict.js';
import { classificationMetrics, emptyClassification, observeClassification } from '../../src/quality/classification.js';
import { emptyPairedQuality, mergePairedQuality, observePair, summarizePairedQuality } from '../../src/quality/paired-quality.js';
import { emptyRegression, observeRegression, regressionMetrics } from '../../src/quality/regression.js';
import { mulberry32 } from '../prng.js';

const CLASSES = ['rain', 'sun', 'fog'];
const side = (version: string, predicted: string | null, value: number | null = null, probabilities: Record<string, number> | null = null) => ({
  version,
  predicted,
  value,
  probabilities,
});

function randomClassPairs(n: number, seed: number): LabelledPair[] {
  const rnd = mulberry32(seed);
  const pick = () => CLASSES[Math.floor(rnd() * CLASSES.length)]!;
  const probs = (c: string) => Object.fromEntries(CLASSES.map((k) => [k, k === c ? 0.6 : 0.2]));
  return Array.from({ length: n }, () => {
    const a = pick();
    const b = pick();
    return { label: pick(), champion: side('1', a, null, probs(a)), challenger: side('2', b, null, rnd() < 0.5 ? probs(b) : null) };
  });
}

test('classification: each model’s numbers are the quality loop’s on its own rows; merged pages equal one pass', () => {
  const rows = randomClassPairs(500, 7);
  const q = emptyPairedQuality();
  for (const r of rows) observePair(q, r);
  const s = summarizePairedQuality(q);
  assert.equal(s.task, 'classification');
  assert.equal(s.labelledPairs, 500);
  for (const role of ['champion', 'challenger'] as const) {
    const c = emptyClassification();
    for (const r of rows) observeClassification(c, String(r.label), r[role].predicted!, r[role].probabilities);
    const m = classificationMetrics(c);
    assert.equal(s[role].accuracy, m.accuracy);
    assert.equal(s[role].macroF1, m.macroF1);
    assert.equal(s[role].logLoss, m.logLoss);
    assert.equal(s[role].rmse, null);
  }
  // Pages of any size add up to the same counts.
  const a = emptyPairedQuality();
  const b = emptyPairedQuality();
  rows.forEach((r, i) => observePair(i < 137 ? a : b, r));
  const merged = summarizePairedQuality(mergePairedQuality(a, b));
  // Sums of per-row log losses in another order: equal up to rounding.
  for (const role of ['champion', 'challenger'] as const) {
    assert.ok(Math.abs(merged[role].logLoss! - s[role].logLoss!) < 1e-12);
    merged[role].logLoss = s[role].logLoss;
  }
  assert.deepEqual(merged, s);
});

test('regression: RMSE and MAE per model; a row one model cannot be scored on is skipped for both', () => {
  const rows: LabelledPair[] = [
    { label: 10, champion: side('1', null, 11), challenger: side('2', null, 13) },
    { label: 20, champion: side('1', null, 19), challenger: side('2', null, 20) },
    { label: 30, champion: side('1', null, 30), challenger: side('2', null, null) },
    { label: 'rain', champion: side('1', null, 1), challenger: side('2', null, 2) },
    { label: 40, champion: side('1', 'rain'), challenger: side('2', null, 40) },
  ];
  const q = emptyPairedQuality();
  for (const r of rows) observePair(q, r);
  const s = summarizePairedQuality(q);
  assert.deepEqual([s.task, s.labelledPairs, s.skipped], ['regression', 2, 3]);
  const champion = emptyRegression();
  observeRegression(champion, 10, 11);
  observeRegression(champion, 20, 19);
  assert.equal(s.champion.rmse, regressionMetrics(champion).rmse);
  assert.equal(s.champion.rmse, 1);
  assert.equal(s.challenger.rmse, Math.sqrt(9 / 2));
  assert.equal(s.challenger.mae, 1.5);
  assert.equal(s.champion.accuracy, null);
});

test('probabilities not keyed by the predicted class are left out of the log loss, as in the quality check', () => {
  const q = emptyPairedQuality();
  observePair(q, { label: 'sun', champion: side('1', 'sun', null, { '0': 0.9, '1': 0.1 }), challenger: side('2', 'sun', null, { sun: 0.9, rain: 0.1 }) });
  const s = summarizePairedQuality(q);
  assert.equal(s.champion.logLoss, null);
  assert.ok(Math.abs(s.challenger.logLoss! + Math.log(0.9)) < 1e-12);
});

const summary = (
  champion: Partial<PairedQualitySummary['champion']>,
  challenger: Partial<PairedQualitySummary['challenger']>,
  n = 200,
): PairedQualitySummary => {
  const none = { accuracy: null, macroF1: null, logLoss: null, rmse: null, mae: null };
  return {
    labelledPairs: n,
    skipped: 0,
    task: champion.accuracy !== undefined ? 'classification' : 'regression',
    champion: { ...none, ...champion },
    challenger: { ...none, ...challenger },
  };
};

test('the quality rule: accuracy points or relative RMSE; not evaluated below the minimum or without labels, and never silent', () => {
  const rules = { minLabelledPairs: 100, maxQualityDrop: 0.01 };
  assert.deepEqual(qualityRule(summary({ accuracy: 0.8 }, { accuracy: 0.795 }), rules), {
    rule: 'quality',
    limit: 0.01,
    value: 0.8 - 0.795,
    ok: true,
    evaluated: true,
  });
  assert.equal(qualityRule(summary({ accuracy: 0.8 }, { accuracy: 0.78 }), rules).ok, false);
  assert.equal(qualityRule(summary({ rmse: 2 }, { rmse: 2.01 }), rules).ok, true);
  const worse = qualityRule(summary({ rmse: 2 }, { rmse: 2.1 }), rules);
  assert.deepEqual([worse.ok, Math.abs(worse.value! - 0.05) < 1e-12], [false, true]);
  assert.deepEqual(qualityRule(summary({ rmse: 0 }, { rmse: 0.5 }), rules), {
    rule: 'quality',
    limit: 0.01,
    value: null,
    ok: false,
    evaluated: true,
    note: "the champion's RMSE is 0",
  });
  assert.deepEqual(qualityRule(summary({ accuracy: 1 }, { accuracy: 0 }, 99), rules), {
    rule: 'quality',
    limit: 0.01,
    value: null,
    ok: true,
    evaluated: false,
    note: '99 labelled pairs < 100 needed',
  });
  assert.match(qualityRule(null, rules).note!, /labels\.enabled/);
  assert.deepEqual(qualityRule('the prediction log could not be read: boom', rules).evaluated, false);

  // In the verdict: a failing quality rule makes "not ready"; one not evaluated is named, never blocks.
  const s = summarizeComparison(emptyComparison());
  const base = { minPairs: 0, maxDisagreement: 1, maxLatencyRatio: 1000, maxErrorRate: 1, ...rules };
  const failing = judge(s, base, summary({ accuracy: 0.9 }, { accuracy: 0.8 }));
  assert.equal(failing.ready, false);
  assert.match(failing.message, /not ready: accuracy 80\.0% vs the champion's 90\.0% \(drop 10\.0% > 1\.0%, 200 labelled pairs\)/);
  const unjudged = judge(s, base, summary({ accuracy: 0.9 }, { accuracy: 0.1 }, 5));
  assert.equal(unjudged.ready, true);
  assert.match(unjudged.message, /; quality not evaluated: 5 labelled pairs < 100 needed$/);
  // Without a prediction log the rule is in the rules (with its note), not in every message.
  const noLabels = judge(s, base, null);
  assert.doesNotMatch(noLabels.message, /quality/);
  assert.equal(noLabels.rules.find((r) => r.rule === 'quality')!.evaluated, false);
  const passing = judge(s, base, summary({ rmse: 2 }, { rmse: 1.5 }));
  assert.match(passing.message, /ready to promote: .*RMSE 1\.500 vs the champion's 2\.000 \(-25\.0% <= \+1\.0%, 200 labelled pairs\)$/);
});
