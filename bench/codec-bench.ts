/**
 * What the MLflow codec costs per request on the scoring server, on one core, without sockets
 * (issue 24): the generic route (Buffer -> string -> JSON.parse -> rows -> input plan) against the
 * lean route (bytes -> NumericFrame -> input plan), and the answer as a string (then UTF-8 bytes,
 * as node writes it to the socket) against the byte encoder. Bodies are the first N rows of the
 * seattle-weather data set in MLflow's formats; answers are the example model's real outputs for
 * them (onnxruntime run once, not timed).
 *
 *   npx tsx bench/codec-bench.ts             ~20 s
 *   BENCH_QUICK=1 npx tsx bench/codec-bench.ts   ~2 s (fewer rounds and iterations)
 *   BENCH_CODEC_ROWS="1 100"                 rows per request (default "1 100")
 *   BENCH_CODEC_CLOCK=cpu                    process CPU time instead of the wall clock (steadier
 *                                            on a shared machine)
 *
 * Prints a markdown table: microseconds per request, median of ROUNDS rounds (a warm-up round
 * first), each round ITERS requests of every kind, interleaved.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { decodeLeanMlflowJson } from '../src/protocol/lean-mlflow-json.js';
import { decodeMlflowJson, encodeMlflowPredictions, encodeMlflowPredictionsBytes } from '../src/protocol/mlflow.js';
import { parseSignature } from '../src/model/signature.js';
import { buildInputPlan, type PreparedInput } from '../src/serve/input-plan.js';
import { createOnnxSession } from '../src/serve/runtime.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const MODEL = path.join(ROOT, 'examples/seattle-weather/model');
const quick = process.env.BENCH_QUICK === '1';
const ROUNDS = quick ? 3 : 7;
const ITERS = quick ? 300 : 1500;
const ROW_COUNTS = (process.env.BENCH_CODEC_ROWS ?? '1 100').split(/\s+/).filter(Boolean).map(Number);
const cpuClock = process.env.BENCH_CODEC_CLOCK === 'cpu';
const now = cpuClock
  ? () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    }
  : () => performance.now();

const FEATURES = ['precipitation', 'temp_max', 'temp_min', 'wind'];
const csv = readFileSync(path.join(ROOT, 'node_modules/vega-datasets/data/seattle-weather.csv'), 'utf8').trim().split('\n');
const header = csv[0]!.split(',');
const data = csv.slice(1).map((line) => {
  const c = line.split(',');
  return FEATURES.map((f) => Number(c[header.indexOf(f)]));
});

const mlmodel = readFileSync(path.join(MODEL, 'MLmodel'), 'utf8');
const signature = parseSignature({ inputs: /inputs: '(.*)'/.exec(mlmodel)![1], outputs: null });
const session = await createOnnxSession(path.join(MODEL, 'model.onnx'), {});
const plan = buildInputPlan(signature, session.inputs);

const bodies = (n: number): Array<[string, Buffer]> => {
  const rows = data.slice(0, n);
  const records = rows.map((r) => Object.fromEntries(FEATURES.map((f, j) => [f, r[j]])));
  return [
    ['dataframe_split', Buffer.from(JSON.stringify({ dataframe_split: { columns: FEATURES, data: rows } }))],
    ['dataframe_records', Buffer.from(JSON.stringify({ dataframe_records: records }))],
    ['instances', Buffer.from(JSON.stringify({ instances: rows }))],
  ];
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Median us per call of each named function, rounds interleaved so drift hits all alike. */
function measure(fns: Array<[string, () => unknown]>): Map<string, number> {
  const samples = new Map<string, number[]>(fns.map(([k]) => [k, []]));
  let sink = 0;
  for (let round = 0; round <= ROUNDS; round++) {
    for (const [name, fn] of fns) {
      const t0 = now();
      for (let i = 0; i < ITERS; i++) sink += fn() === null ? 0 : 1;
      const us = ((now() - t0) * 1000) / ITERS;
      if (round > 0) samples.get(name)!.push(us);
    }
  }
  if (sink < 0) console.log(sink);
  return new Map([...samples].map(([k, v]) => [k, median(v)]));
}

const lines = [
  `Codec cost per request, one core, no sockets (${cpuClock ? 'CPU time' : 'wall clock'}; median of ${ROUNDS} rounds of ${ITERS}; \`${quick ? 'BENCH_QUICK=1 ' : ''}npx tsx bench/codec-bench.ts\`):`,
  '',
  '| rows | format | body bytes | generic decode + prepare (us) | lean decode + prepare (us) | ratio | answer as string + UTF-8 (us) | answer as bytes (us) | ratio |',
  '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
];
for (const n of ROW_COUNTS) {
  const first = bodies(n)[0]![1];
  const prepared0 = plan.prepare(decodeMlflowJson(first.toString('utf8')).input);
  const outputs = await session.run(prepared0.feeds);
  for (const [format, body] of bodies(n)) {
    const generic = (): PreparedInput => plan.prepare(decodeMlflowJson(body.toString('utf8')).input);
    const lean = (): PreparedInput | null => {
      const f = decodeLeanMlflowJson(body);
      return f && plan.prepareFrame(f.frame);
    };
    if (lean() === null) throw new Error(`${format}: the lean route did not take the body`);
    const m = measure([
      ['generic', generic],
      ['lean', lean],
      ['string', () => Buffer.from(encodeMlflowPredictions(outputs, 'records', n), 'utf8')],
      ['bytes', () => encodeMlflowPredictionsBytes(outputs, 'records', n)],
    ]);
    const g = m.get('generic')!;
    const l = m.get('lean')!;
    const s = m.get('string')!;
    const b = m.get('bytes')!;
    lines.push(
      `| ${n} | ${format} | ${body.length} | ${g.toFixed(1)} | ${l.toFixed(1)} | ${(g / l).toFixed(1)}x | ${s.toFixed(1)} | ${b.toFixed(1)} | ${(s / b).toFixed(1)}x |`,
    );
  }
}
await session.release();
console.log(lines.join('\n'));
