import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMlflowCsv, decodeMlflowJson, encodeMlflowPredictions } from '../../src/protocol/mlflow.js';
import { preview } from '../../src/protocol/preview.js';

const code = (c: string) => (e: any) => e.code === c;

test('dataframe_split with and without columns', () => {
  const r = decodeMlflowJson('{"dataframe_split":{"columns":["a","b"],"data":[[1,2],[3,4]],"index":[0,1]}}');
  assert.deepEqual(r.input, {
    kind: 'frame',
    columns: ['a', 'b'],
    rows: [
      [1, 2],
      [3, 4],
    ],
  });
  assert.equal(r.format, 'dataframe_split');
  const noCols = decodeMlflowJson('{"dataframe_split":{"data":[[1,2]]}}');
  assert.deepEqual(noCols.input, { kind: 'frame', columns: null, rows: [[1, 2]] });
});

test('dataframe_records stay records (the input plan picks the columns it needs)', () => {
  const r = decodeMlflowJson('{"dataframe_records":[{"a":1,"b":2},{"b":3,"c":"x"}]}');
  assert.deepEqual(r.input, {
    kind: 'records',
    records: [
      { a: 1, b: 2 },
      { b: 3, c: 'x' },
    ],
  });
  assert.equal(r.format, 'dataframe_records');
});

test('instances and inputs pass through raw, params are kept', () => {
  assert.deepEqual(decodeMlflowJson('{"instances":[[1,2]]}').input, { kind: 'raw', value: [[1, 2]] });
  const r = decodeMlflowJson('{"inputs":{"a":[1]},"params":{"k":1}}');
  assert.deepEqual(r.input, { kind: 'raw', value: { a: [1] } });
  assert.deepEqual(r.params, { k: 1 });
});

test('exactly one input field, as MLflow demands', () => {
  assert.throws(
    () => decodeMlflowJson('{"instances":[1],"inputs":[1]}'),
    (e: any) => e.code === 'DW_ERR_SERVE_BAD_REQUEST' && /exactly one of/.test(e.message),
  );
  assert.throws(() => decodeMlflowJson('{}'), code('DW_ERR_SERVE_BAD_REQUEST'));
  assert.throws(
    () => decodeMlflowJson('{"data":[[1]]}'),
    (e: any) => /'data'/.test(e.message),
  );
  assert.throws(() => decodeMlflowJson('[1,2]'), code('DW_ERR_SERVE_BAD_REQUEST'));
  assert.throws(() => decodeMlflowJson('{"dataframe_split":{"data":"x"}}'), code('DW_ERR_SERVE_BAD_REQUEST'));
  assert.throws(() => decodeMlflowJson('{"dataframe_records":[{"a":1},1]}'), code('DW_ERR_SERVE_BAD_REQUEST'));
  // What pandas and MLflow accept (scoring_server._split_data_and_params, pd.DataFrame): repeated
  // column names, a list of values as one column named 0, params that are no dict (ignored, the
  // ONNX flavor has no params schema), other top-level keys (ignored).
  assert.deepEqual(decodeMlflowJson('{"dataframe_split":{"columns":["a","a"],"data":[]}}').input, { kind: 'frame', columns: ['a', 'a'], rows: [] });
  assert.deepEqual(decodeMlflowJson('{"dataframe_records":[1]}').input, { kind: 'frame', columns: null, rows: [[1]] });
  assert.equal(decodeMlflowJson('{"instances":[1],"params":[1]}').params, null);
  assert.deepEqual(decodeMlflowJson('{"instances":[1],"signature_name":"x"}').input, { kind: 'raw', value: [1] });
  assert.throws(() => decodeMlflowJson('{"instances":1'), /valid JSON/);
});

test('CSV: header, quoting, CRLF, BOM, empty cells as missing', () => {
  const r = decodeMlflowCsv('\ufeffa,b,"c,d"\r\n1,"x ""y""",\r\n2,z,3\n');
  assert.deepEqual(r.input, {
    kind: 'frame',
    columns: ['a', 'b', 'c,d'],
    rows: [
      ['1', 'x "y"', null],
      ['2', 'z', '3'],
    ],
  });
  assert.throws(() => decodeMlflowCsv(''), /empty/);
  // pandas.read_csv pads a short row with missing values and refuses a row longer than the first.
  assert.deepEqual(decodeMlflowCsv('a,b\n1\n').input, { kind: 'frame', columns: ['a', 'b'], rows: [['1', null]] });
  assert.throws(() => decodeMlflowCsv('a,b\n1,2\n1,2,3\n'), /Expected 2 fields in line 3, saw 3/);
  assert.throws(() => decodeMlflowCsv('a\n"open\n'), /unterminated/);
});

test('records output: scalar per row for width 1, arrays for wider outputs', () => {
  const body = encodeMlflowPredictions(
    {
      label: { type: 'string', data: ['sun', 'rain'], dims: [2] },
      p: { type: 'float32', data: Float32Array.from([0.25, 0.75, 0.5, 0.5]), dims: [2, 2] },
      s: { type: 'float32', data: Float32Array.from([1, 2]), dims: [2, 1] },
    },
    'records',
    2,
  );
  assert.deepEqual(JSON.parse(body), {
    predictions: [
      { label: 'sun', p: [0.25, 0.75], s: 1 },
      { label: 'rain', p: [0.5, 0.5], s: 2 },
    ],
  });
});

test('dict output for tensor-style requests', () => {
  const body = encodeMlflowPredictions({ y: { type: 'int64', data: BigInt64Array.from([1n, 2n]), dims: [2] } }, 'dict', 2);
  assert.deepEqual(JSON.parse(body), { predictions: { y: [1, 2] } });
});

test("CSV missing-value words read as missing, as pandas' defaults do", () => {
  const r = decodeMlflowCsv('a,b\nNA,1\nnull,N/A\n');
  assert.deepEqual(r.input, {
    kind: 'frame',
    columns: ['a', 'b'],
    rows: [
      [null, '1'],
      [null, null],
    ],
  });
});

test('the "exactly one input field" error lists at most 20 fields, each cut short', () => {
  const body: Record<string, number> = {};
  for (let i = 0; i < 100_000; i++) body[`field_${i}_${'x'.repeat(100)}`] = i;
  assert.throws(
    () => decodeMlflowJson(JSON.stringify(body)),
    (e: any) => e.code === 'DW_ERR_SERVE_BAD_REQUEST' && e.message.includes('... 99980 more') && e.message.length < 2500,
  );
});

test('preview: bounded JSON-like text of any value, however deep or wide', () => {
  let deep: unknown = 1;
  for (let i = 0; i < 500_000; i++) deep = [deep];
  assert.equal(preview(deep, 10), '[[[[[[[[[[...');
  assert.equal(preview({ a: [1, 'x', null], b: { c: true } }), '{"a":[1,"x",null],"b":{"c":true}}');
  assert.equal(preview(new Array(1_000_000).fill(7), 12), '[7,7,7,7,7,7...');
  assert.equal(preview('y'.repeat(1_000_000), 5), '"yyyy...');
  assert.equal(preview(Number.NaN), 'NaN');
  assert.equal(preview([]), '[]');
});
