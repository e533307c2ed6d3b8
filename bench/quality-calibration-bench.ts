/**
 * What the reference's calibration costs the quality check: the same window of logged rows (5-class
 * probabilities, as the example model answers, half of them labelled) through the check's
 * accumulator without a baseline (the raw estimate) and with a reference baseline whose isotonic
 * maps calibrate every row before the estimate (outcomes/quality-check.ts). Interleaved repeats,
 * median rows/s of each and the ratio, in one run: only the ratio means much on a shared machine.
 * No I/O: the prediction log's own read cost is bench/labels-bench.ts's.
 *
 *   node --import tsx bench/quality-calibration-bench.ts [--rows 300000] [--repeats 7] [--out bench/RESULTS.md]
 *
 * Prints a markdown section; with --out it replaces the section between
 * <!-- quality-calibration-bench:start --> and <!-- quality-calibration-bench:end --> in FILE.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { qualityCheckSchema } from '../src/config/schema.js';
import type { LoggedRow } from '../src/outcomes/prediction-log.js';
import { type QualityBaseline, QualityAccumulator } from '../src/outcomes/quality-check.js';
import { measureReferencePerformance } from '../src/quality/reference-performance.js';
import { mulberry32 } from '../test/prng.js';

const { values } = parseArgs({ options: { rows: { type: 'string' }, repeats: { type: 'string' }, out: { type: 'string' } } });
const N = Number(values.rows ?? 300_000);
const REPEATS = Number(values.repeats ?? 7);
const CLASSES = ['drizzle', 'fog', 'rain', 'snow', 'sun'];

/** Rows of a classifier that is over-confident (its probabilities sharpened), with labels drawn from the true ones. */
function rows(seed: number, n: number): Array<{ actual: string; predicted: string; probabilities: Record<string, number> }> {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const raw = CLASSES.map(() => r() ** 2);
    const total = raw.reduce((a, b) => a + b, 0);
    const truth = raw.map((x) => x / total);
    const sharp = truth.map((p) => p ** 2);
    const sharpTotal = sharp.reduce((a, b) => a + b, 0);
    const probabilities = Object.fromEntries(CLASSES.map((c, i) => [c, sharp[i]! / sharpTotal]));
    let predicted = CLASSES[0]!;
    for (const c of CLASSES) if (probabilities[c]! > probabilities[predicted]!) predicted = c;
    let u = r();
    let actual = CLASSES[CLASSES.length - 1]!;
    for (const [i, c] of CLASSES.entries()) {
      u -= truth[i]!;
      if (u < 0) {
        actual = c;
        break;
      }
    }
    return { actual, predicted, probabilities };
  });
}

const reference = measureReferencePerformance(
  rows(1, 5000).map((x) => ({ label: x.actual, predicted: x.predicted, value: null, probabilities: x.probabilities })),
  { labelColumn: 'weather', predictionsFrom: 'model' },
);
const baseline: QualityBaseline = { performance: reference, source: 'bench' };
const mapPoints = Object.values(reference.calibration!).reduce((a, m) => a + m.x.length, 0);
const window: LoggedRow[] = rows(2, N).map((x, i) => ({
  id: `r${i}`,
  atMs: i,
  model: 'm',
  version: '1',
  predicted: x.predicted,
  value: null,
  probabilities: x.probabilities,
  label: i % 2 === 0 ? x.actual : null,
  labelAtMs: i % 2 === 0 ? i + 1000 : null,
}));
const config = qualityCheckSchema.parse({ minLabelled: 1 });

function once(b: QualityBaseline | null): { seconds: number; estimate: number } {
  const t0 = process.hrtime.bigint();
  const acc = new QualityAccumulator(b);
  for (const row of window) acc.observe(row);
  const findings = acc.findings('m', '1', config, 0, N);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { seconds, estimate: findings.find((f) => f.metric === 'estimated_accuracy')!.value! };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
once(null);
once(baseline); // warm-up: JIT both paths
const raw: number[] = [];
const cal: number[] = [];
const ratios: number[] = [];
let estimates = { raw: 0, cal: 0 };
const loadBefore = loadavg()[0]!;
for (let i = 0; i < REPEATS; i++) {
  const a = once(null);
  const b = once(baseline);
  raw.push(N / a.seconds);
  cal.push(N / b.seconds);
  ratios.push(a.seconds / b.seconds);
  estimates = { raw: a.estimate, cal: b.estimate };
}
const loadAfter = loadavg()[0]!;
const realised = window.filter((r) => r.label !== null && r.label === r.predicted).length / window.filter((r) => r.label !== null).length;
const f0 = (x: number) => Math.round(x).toLocaleString('en-US');
const us = (rowsPerS: number) => (1e6 / rowsPerS).toFixed(2);
const section = `<!-- quality-calibration-bench:start -->
## Quality check: the cost of calibrating the estimate on the reference

\`node --import tsx bench/quality-calibration-bench.ts --rows ${N} --repeats ${REPEATS}\` on ${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? '?'}), Node ${process.version}, ${new Date().toISOString().slice(0, 16)}Z, load average ${loadBefore.toFixed(2)} before and ${loadAfter.toFixed(2)} after (shared machine: read the ratio). ${N.toLocaleString('en-US')} logged rows of a 5-class classifier, half labelled, through the check's accumulator (realised counts, estimate, label delays); the reference's maps: ${Object.keys(reference.calibration!).length} classes, ${mapPoints} points in all, fitted on 5,000 rows.

| accumulator | rows/s (median of ${REPEATS}) | per row |
| --- | --: | --: |
| raw probabilities (no reference) | ${f0(median(raw))} | ${us(median(raw))} us |
| calibrated on the reference | ${f0(median(cal))} | ${us(median(cal))} us |

Calibrated / raw throughput: ${median(ratios).toFixed(2)}x (per repeat ${Math.min(...ratios).toFixed(2)}x-${Math.max(...ratios).toFixed(2)}x). What it buys on these rows (over-confident by construction): estimated accuracy ${estimates.raw.toFixed(3)} raw, ${estimates.cal.toFixed(3)} calibrated, against ${realised.toFixed(3)} realised. For scale: the whole check, reading its window from the SQLite prediction log, costs about 12 us a row (the labels-bench section), so calibrating adds under a tenth to it.
<!-- quality-calibration-bench:end -->`;
console.log(section);
if (values.out) {
  const text = readFileSync(values.out, 'utf8');
  const start = text.indexOf('<!-- quality-calibration-bench:start -->');
  const end = text.indexOf('<!-- quality-calibration-bench:end -->');
  const next =
    start >= 0 && end > start
      ? text.slice(0, start) + section + text.slice(end + '<!-- quality-calibration-bench:end -->'.length)
      : `${text.trimEnd()}\n\n${section}\n`;
  writeFileSync(values.out, next);
}
