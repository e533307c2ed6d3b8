/** The champion/challenger comparison (pure): reading outputs, agreement, confusion, merging, windows, the verdict. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ComparisonWindows } from '../../src/challenger/comparison-windows.js';
import { addPair, emptyComparison, mergeComparisons, type PairObservation, readPredictions, summarizeComparison } from '../../src/challenger/comparison.js';
import { judge } from '../../src/challenger/verdict.js';
import type { HostTensor } from '../../src/protocol/tensor.js';
import { mulberry32 } from '../prng.js';

const labels = (xs: string[]): HostTensor => ({ type: 'string', data: xs, dims: [xs.length] });
const probs = (rows: number[][]): HostTensor => ({ type: 'float32', data: Float32Array.from(rows.flat()), dims: [rows.length, rows[0]!.length] });
const values = (xs: number[]): HostTensor => ({ type: 'float32', data: Float32Array.from(xs), dims: [xs.length] });

function pair(a: Record<string, HostTensor>, b: Record<string, HostTensor> | null, rows: number, atMs = 0, error: string | null = null): PairObservation {
  return {
    model: 'm',
    atMs,
    rows,
    champion: { version: '1', outputs: a, latencyMs: 2 },
    challenger: { version: '2', outputs: b, latencyMs: b ? 4 : null, error },
  };
}

test('readPredictions: a label output wins, probabilities give the label when there is none', () => {
  const withLabel = readPredictions(
    {
      label: labels(['a', 'b']),
      probabilities: probs([
        [0.9, 0.1],
        [0.2, 0.8],
      ]),
    },
    2,
  );
  assert.deepEqual(withLabel.labels, ['a', 'b']);
  assert.equal(withLabel.probs?.k, 2);
  assert.equal(withLabel.values, null);
  const onlyProbs = readPredictions(
    {
      p: probs([
        [0.9, 0.1],
        [0.2, 0.8],
        [0.3, 0.7],
      ]),
    },
    3,
  );
  assert.deepEqual(onlyProbs.labels, ['0', '1', '1']);
  const regression = readPredictions({ y: values([1.5, 2]) }, 2);
  assert.equal(regression.labels, null);
  assert.deepEqual([...(regression.values as Float32Array)], [1.5, 2]);
});

test('agreement and confusion count rows; errors count requests; differences are sketched', () => {
  const c = emptyComparison();
  addPair(c, pair({ label: labels(['a', 'b', 'a']) }, { label: labels(['a', 'a', 'a']) }, 3));
  addPair(c, pair({ label: labels(['b']) }, { label: labels(['b']) }, 1));
  addPair(c, pair({ label: labels(['b']) }, null, 1, 0, 'boom'));
  const s = summarizeComparison(c);
  assert.equal(s.requests, 3);
  assert.equal(s.pairs, 2);
  assert.equal(s.rows, 4);
  assert.equal(s.agreement, 3 / 4);
  assert.deepEqual(JSON.parse(JSON.stringify(s.confusion)), { a: { a: 2 }, b: { a: 1, b: 1 } });
  assert.equal(s.challenger.errors, 1);
  assert.equal(s.challenger.errorRate, 1 / 3);
  const r = emptyComparison();
  addPair(r, pair({ y: values([1, 2, 3]) }, { y: values([1.5, 2, 2]) }, 3));
  const rs = summarizeComparison(r);
  assert.equal(rs.agreement, null);
  assert.equal(rs.valueDiff?.count, 3);
  assert.equal(rs.valueDiff?.min, -1);
  assert.equal(rs.valueDiff?.max, 0.5);
});

test('merging windows equals adding every pair to one comparison', () => {
  const rnd = mulberry32(7);
  const cls = ['a', 'b', 'c'];
  const pairs = Array.from({ length: 300 }, (_, i) => {
    const n = 1 + Math.floor(rnd() * 3);
    const a = Array.from({ length: n }, () => cls[Math.floor(rnd() * 3)]!);
    const b = a.map((x) => (rnd() < 0.2 ? cls[Math.floor(rnd() * 3)]! : x));
    return pair({ label: labels(a) }, { label: labels(b) }, n, i * 1000);
  });
  const one = emptyComparison();
  for (const p of pairs) addPair(one, p);
  const w = new ComparisonWindows({ retentionMs: 3_600_000, windowMs: 60_000 });
  for (const p of pairs) w.record(p);
  const spans = w.read(0, 300_000);
  assert.equal(spans.length, 1);
  const merged = summarizeComparison(spans[0]!.comparison);
  const direct = summarizeComparison(one);
  assert.equal(merged.agreement, direct.agreement);
  assert.deepEqual(merged.confusion, direct.confusion);
  assert.equal(merged.requests, 300);
  // A later span sees only its windows; a merge of two halves equals the whole.
  const late = w.read(240_000, 300_000);
  assert.equal(late[0]!.comparison.requests, 60);
  const half1 = emptyComparison();
  const half2 = emptyComparison();
  pairs.forEach((p, i) => addPair(i % 2 ? half1 : half2, p));
  assert.equal(summarizeComparison(mergeComparisons(half1, half2)).agreement, direct.agreement);
});

test('windows past the retention are pruned', () => {
  const w = new ComparisonWindows({ retentionMs: 120_000, windowMs: 60_000 });
  w.record(pair({ label: labels(['a']) }, { label: labels(['a']) }, 1, 0));
  w.record(pair({ label: labels(['a']) }, { label: labels(['b']) }, 1, 600_000));
  const all = w.read(0, 700_000);
  assert.equal(all.length, 1);
  assert.equal(all[0]!.comparison.requests, 1);
  assert.equal(summarizeComparison(all[0]!.comparison).agreement, 0);
});

test('the verdict: ready, or the rules that fail, and too few pairs is never ready', () => {
  const rules = { minPairs: 10, maxDisagreement: 0.1, maxLatencyRatio: 1.5, maxErrorRate: 0.05, minLabelledPairs: 100, maxQualityDrop: 0.01 };
  const agreeing = emptyComparison();
  for (let i = 0; i < 20; i++) addPair(agreeing, pair({ label: labels(['a']) }, { label: labels(['a']) }, 1));
  // Challenger latency 4 ms vs champion 2 ms: 2x, past 1.5x.
  const slow = judge(summarizeComparison(agreeing), rules);
  assert.equal(slow.ready, false);
  assert.deepEqual(
    slow.rules.filter((r) => !r.ok).map((r) => r.rule),
    ['latency_p99_ratio'],
  );
  const ok = judge(summarizeComparison(agreeing), { ...rules, maxLatencyRatio: 3 });
  assert.equal(ok.ready, true);
  assert.match(ok.message, /^ready to promote: 20 paired requests, disagreement 0\.0%/);
  const few = judge(summarizeComparison(agreeing), { ...rules, minPairs: 21, maxLatencyRatio: 3 });
  assert.equal(few.ready, false);
  assert.equal(few.insufficient, true);
  const failing = emptyComparison();
  for (let i = 0; i < 20; i++) addPair(failing, pair({ label: labels(['a']) }, null, 1, 0, 'boom'));
  const f = judge(summarizeComparison(failing), rules);
  assert.equal(f.insufficient, false, 'failed requests count towards the minimum: the error rate decides');
  assert.match(f.message, /error rate 100\.0% > 5\.0%/);
});
