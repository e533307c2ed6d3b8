/**
 * Rebuilds the bundled example model from real public data.
 *
 *   npm run example:build            (writes examples/seattle-weather/model/)
 *
 * Data: seattle-weather.csv from the npm package `vega-datasets` (daily Seattle weather 2012-2015:
 * precipitation, temp_max, temp_min, wind -> weather label). The model is trained on the training
 * period 2012-2013 only; 2014-2015 is kept back as "later traffic", which differs seasonally and
 * year to year, so the monitoring side has real drift to find.
 *
 * Model: multinomial logistic regression (softmax regression) on standardised features, fitted by
 * full-batch gradient descent with L2 regularisation. Deterministic: same data, same bytes.
 * Exported as an ONNX graph (opset 13) written with onnx-proto, in MLflow's model directory layout
 * (MLmodel with an `onnx` flavor and a column signature, input_example.json), so that both
 * `mlflow models serve` and driftwatch can serve it.
 */
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

export const FEATURES = ['precipitation', 'temp_max', 'temp_min', 'wind'] as const;
export const TRAIN_FROM = '2012-01-01';
export const TRAIN_TO = '2013-12-31';

export interface WeatherRow {
  date: string;
  features: number[];
  weather: string;
}

/** Reads the CSV shipped by vega-datasets. */
export function loadSeattleWeather(): WeatherRow[] {
  // The package's `exports` hide data/, so locate the package directory through its entry point.
  const entry = require.resolve('vega-datasets');
  const csvPath = join(entry.slice(0, entry.lastIndexOf('node_modules/vega-datasets') + 'node_modules/vega-datasets'.length), 'data', 'seattle-weather.csv');
  const lines = readFileSync(csvPath, 'utf8').trim().split(/\r?\n/);
  const header = lines[0]!.split(',');
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`seattle-weather.csv has no column ${name}`);
    return i;
  };
  const idx = FEATURES.map(col);
  const dateIdx = col('date');
  const labelIdx = col('weather');
  return lines.slice(1).map((line) => {
    const cells = line.split(',');
    return {
      date: cells[dateIdx]!,
      features: idx.map((i) => Number(cells[i])),
      weather: cells[labelIdx]!,
    };
  });
}

interface Fitted {
  classes: string[];
  mean: number[];
  std: number[];
  weights: number[][]; // [feature][class]
  bias: number[];
  trainAccuracy: number;
}

/** Softmax regression by gradient descent: the loss is convex, so plain GD converges. */
export function fit(rows: WeatherRow[], iterations = 4000, learningRate = 0.5, l2 = 1e-3): Fitted {
  const classes = [...new Set(rows.map((r) => r.weather))].sort();
  const d = FEATURES.length;
  const k = classes.length;
  const n = rows.length;
  const mean = new Array<number>(d).fill(0);
  const std = new Array<number>(d).fill(0);
  for (const r of rows) r.features.forEach((v, j) => (mean[j]! += v / n));
  for (const r of rows) r.features.forEach((v, j) => (std[j]! += (v - mean[j]!) ** 2 / n));
  for (let j = 0; j < d; j++) std[j] = Math.sqrt(std[j]!) || 1;
  const x = rows.map((r) => r.features.map((v, j) => (v - mean[j]!) / std[j]!));
  const y = rows.map((r) => classes.indexOf(r.weather));
  const w = Array.from({ length: d }, () => new Array<number>(k).fill(0));
  const b = new Array<number>(k).fill(0);
  const probs = (xi: number[]): number[] => {
    const z = b.map((bc, c) => bc + xi.reduce((s, v, j) => s + v * w[j]![c]!, 0));
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const s = e.reduce((a, v) => a + v, 0);
    return e.map((v) => v / s);
  };
  for (let it = 0; it < iterations; it++) {
    const gw = Array.from({ length: d }, () => new Array<number>(k).fill(0));
    const gb = new Array<number>(k).fill(0);
    for (let i = 0; i < n; i++) {
      const p = probs(x[i]!);
      for (let c = 0; c < k; c++) {
        const g = (p[c]! - (y[i] === c ? 1 : 0)) / n;
        gb[c]! += g;
        for (let j = 0; j < d; j++) gw[j]![c]! += g * x[i]![j]!;
      }
    }
    for (let c = 0; c < k; c++) {
      b[c]! -= learningRate * gb[c]!;
      for (let j = 0; j < d; j++) w[j]![c]! -= learningRate * (gw[j]![c]! + l2 * w[j]![c]!);
    }
  }
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const p = probs(x[i]!);
    if (p.indexOf(Math.max(...p)) === y[i]) correct++;
  }
  return { classes, mean, std, weights: w, bias: b, trainAccuracy: correct / n };
}

function floatTensor(name: string, dims: number[], values: number[]) {
  return onnx.TensorProto.create({
    name,
    dims,
    dataType: onnx.TensorProto.DataType.FLOAT,
    rawData: new Uint8Array(new Float32Array(values).buffer),
  });
}

function valueInfo(name: string, elemType: number, dims: Array<number | string>) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

/** The ONNX graph: standardise -> linear -> softmax -> argmax -> class name. */
export function toOnnx(m: Fitted): Uint8Array {
  const k = m.classes.length;
  const d = FEATURES.length;
  const T = onnx.TensorProto.DataType;
  const graph = onnx.GraphProto.create({
    name: 'seattle_weather_logreg',
    input: [valueInfo('input', T.FLOAT, ['batch', d])],
    output: [valueInfo('label', T.STRING, ['batch']), valueInfo('probabilities', T.FLOAT, ['batch', k])],
    initializer: [
      floatTensor('mean', [d], m.mean),
      floatTensor('std', [d], m.std),
      floatTensor('W', [d, k], m.weights.flat()),
      floatTensor('b', [k], m.bias),
      onnx.TensorProto.create({
        name: 'classes',
        dims: [k],
        dataType: T.STRING,
        stringData: m.classes.map((c) => new TextEncoder().encode(c)),
      }),
    ],
    node: [
      onnx.NodeProto.create({ opType: 'Sub', input: ['input', 'mean'], output: ['centered'] }),
      onnx.NodeProto.create({ opType: 'Div', input: ['centered', 'std'], output: ['scaled'] }),
      onnx.NodeProto.create({ opType: 'MatMul', input: ['scaled', 'W'], output: ['logits_nobias'] }),
      onnx.NodeProto.create({ opType: 'Add', input: ['logits_nobias', 'b'], output: ['logits'] }),
      onnx.NodeProto.create({
        opType: 'Softmax',
        input: ['logits'],
        output: ['probabilities'],
        attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
      }),
      onnx.NodeProto.create({
        opType: 'ArgMax',
        input: ['probabilities'],
        output: ['class_index'],
        attribute: [
          { name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 },
          { name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 },
        ],
      }),
      onnx.NodeProto.create({ opType: 'Gather', input: ['classes', 'class_index'], output: ['label'] }),
    ],
  });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    producerName: 'driftwatch-example',
    producerVersion: '1',
    opsetImport: [{ domain: '', version: 13 }],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

/** The MLmodel file as MLflow 2.x writes it for `mlflow.onnx.log_model` with a column signature. */
export function mlmodelYaml(opts: { classes: string[]; trainRows: number; createdUtc: string }): string {
  const inputs = JSON.stringify(FEATURES.map((name) => ({ type: 'double', name, required: true })));
  const outputs = JSON.stringify([
    { type: 'string', name: 'label', required: true },
    { type: 'array', items: { type: 'float' }, name: 'probabilities', required: true },
  ]);
  return `artifact_path: model
flavors:
  onnx:
    code: null
    data: model.onnx
    onnx_version: 1.14.1
    providers:
    - CPUExecutionProvider
  python_function:
    data: model.onnx
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.onnx
    python_version: 3.11.7
metadata:
  classes: '${opts.classes.join(',')}'
  training_data: vega-datasets seattle-weather.csv ${TRAIN_FROM}..${TRAIN_TO} (${opts.trainRows} rows)
mlflow_version: 2.16.2
model_uuid: 6f1c2b0e9a7d4d3c8b1e5a2f4c6d8e01
saved_input_example_info:
  artifact_path: input_example.json
  pandas_orient: split
  serving_input_path: serving_input_example.json
  type: dataframe
signature:
  inputs: '${inputs}'
  outputs: '${outputs}'
  params: null
utc_time_created: '${opts.createdUtc}'
`;
}

export function buildInto(outDir: string, rows: WeatherRow[]): Fitted {
  const fitted = fit(rows);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'model.onnx'), toOnnx(fitted));
  writeFileSync(join(outDir, 'MLmodel'), mlmodelYaml({ classes: fitted.classes, trainRows: rows.length, createdUtc: '2026-11-28 00:00:00.000000' }));
  const example = { columns: [...FEATURES], data: rows.slice(0, 3).map((r) => r.features) };
  writeFileSync(join(outDir, 'input_example.json'), JSON.stringify(example) + '\n');
  writeFileSync(join(outDir, 'serving_input_example.json'), JSON.stringify({ dataframe_split: example }, null, 2) + '\n');
  writeFileSync(join(outDir, 'requirements.txt'), 'mlflow==2.16.2\nonnx==1.14.1\nonnxruntime==1.16.3\n');
  // Plain weights, so non-ONNX baselines (bench/flask_baseline.py) compute the very same function.
  writeFileSync(
    join(outDir, '..', 'weights.json'),
    JSON.stringify({ features: FEATURES, classes: fitted.classes, mean: fitted.mean, std: fitted.std, weights: fitted.weights, bias: fitted.bias }, null, 1) +
      '\n',
  );
  return fitted;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const all = loadSeattleWeather();
  const train = all.filter((r) => r.date >= TRAIN_FROM && r.date <= TRAIN_TO);
  const fitted = buildInto(join(here, 'model'), train);
  console.log(
    `trained on ${train.length} rows (${TRAIN_FROM}..${TRAIN_TO}); classes ${fitted.classes.join(', ')}; ` +
      `train accuracy ${(fitted.trainAccuracy * 100).toFixed(1)}%; wrote ${join(here, 'model')}`,
  );
}
