import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSignature } from '../../src/model/signature.js';
import { buildInputPlan } from '../../src/serve/input-plan.js';
import type { TensorMeta } from '../../src/protocol/tensor.js';

const colSig = parseSignature({
  inputs: JSON.stringify([
    { type: 'double', name: 'a', required: true },
    { type: 'long', name: 'b', required: true },
    { type: 'double', name: 'c', required: false },
  ]),
  outputs: null,
});
const oneInput: TensorMeta[] = [{ name: 'input', type: 'float32', shape: [-1, 3] }];

test('column signature: reorder, drop extras, cast leniently, float64 -> float32 matrix', () => {
  const plan = buildInputPlan(colSig, oneInput);
  const p = plan.prepare({
    kind: 'frame',
    columns: ['zz', 'c', 'b', 'a'],
    rows: [
      ['x', 0.5, '2', '1.5'],
      [null, null, 3, 4],
    ],
  });
  assert.equal(p.rows, 2);
  assert.deepEqual(p.columnNames, ['a', 'b', 'c']);
  const t = p.feeds.input!;
  assert.equal(t.type, 'float32');
  assert.deepEqual(t.dims, [2, 3]);
  assert.deepEqual([...(t.data as Float32Array)], [1.5, 2, 0.5, 4, 3, NaN]);
});

test('missing required column is named, extra inputs noted (MLflow wording)', () => {
  const plan = buildInputPlan(colSig, oneInput);
  assert.throws(
    () => plan.prepare({ kind: 'frame', columns: ['a', 'x'], rows: [[1, 2]] }),
    (e: any) => e.code === 'DW_ERR_SERVE_SCHEMA' && e.message === "Model is missing inputs ['b']. Note that there were extra inputs: ['x']",
  );
});

test('uncastable values and non-integers for long columns are schema errors naming the column', () => {
  const plan = buildInputPlan(colSig, oneInput);
  assert.throws(() => plan.prepare({ kind: 'frame', columns: ['a', 'b'], rows: [['abc', 1]] }), /column a row 0: cannot convert "abc"/);
  assert.throws(() => plan.prepare({ kind: 'frame', columns: ['a', 'b'], rows: [[1, 1.5]] }), /column b row 0: 1.5 is not an integer/);
  assert.throws(() => plan.prepare({ kind: 'frame', columns: ['a', 'b'], rows: [[{}, 1]] }), /column a/);
});

test('positional rows only when the count matches the signature', () => {
  const plan = buildInputPlan(colSig, oneInput);
  const p = plan.prepare({ kind: 'raw', value: [[1, 2, 3]] });
  assert.deepEqual([...(p.feeds.input!.data as Float32Array)], [1, 2, 3]);
  assert.throws(() => plan.prepare({ kind: 'raw', value: [[1, 2]] }), /2 unnamed columns, the model expects 3/);
});

test('records, columnar dicts and a one-row dict of scalars all become rows', () => {
  const plan = buildInputPlan(colSig, oneInput);
  const a = plan.prepare({
    kind: 'raw',
    value: [
      { a: 1, b: 2, c: 3 },
      { c: 6, b: 5, a: 4 },
    ],
  });
  const b = plan.prepare({ kind: 'raw', value: { a: [1, 4], b: [2, 5], c: [3, 6] } });
  const c = plan.prepare({ kind: 'raw', value: { a: 1, b: 2, c: 3 } });
  assert.deepEqual([...(a.feeds.input!.data as Float32Array)], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...(b.feeds.input!.data as Float32Array)], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...(c.feeds.input!.data as Float32Array)], [1, 2, 3]);
  assert.throws(() => plan.prepare({ kind: 'raw', value: { a: [1], b: [2, 3] } }), /equal length/);
});

test('several graph inputs are fed one column each, by name', () => {
  const plan = buildInputPlan(colSig, [
    { name: 'a', type: 'float64', shape: [-1, 1] },
    { name: 'b', type: 'int64', shape: [-1] },
    { name: 'c', type: 'float32', shape: [-1, 1] },
  ]);
  const p = plan.prepare({ kind: 'frame', columns: ['a', 'b', 'c'], rows: [[1, 2, 3]] });
  assert.deepEqual(p.feeds.a!.dims, [1, 1]);
  assert.deepEqual(p.feeds.b!.dims, [1]);
  assert.equal((p.feeds.b!.data as BigInt64Array)[0], 2n);
});

test('tensor signature: shape checked against the spec, ragged input rejected', () => {
  const sig = parseSignature({ inputs: JSON.stringify([{ type: 'tensor', 'tensor-spec': { dtype: 'float32', shape: [-1, 3] } }]), outputs: null });
  const plan = buildInputPlan(sig, oneInput);
  const p = plan.prepare({
    kind: 'raw',
    value: [
      [1, 2, 3],
      [4, 5, 6],
    ],
  });
  assert.equal(p.outputStyle, 'dict');
  assert.deepEqual(p.feeds.input!.dims, [2, 3]);
  assert.throws(() => plan.prepare({ kind: 'raw', value: [[1, 2]] }), /Shape of input \(1, 2\) does not match expected shape \(-1, 3\)/);
  assert.throws(
    () =>
      plan.prepare({
        kind: 'raw',
        value: [
          [1, 2, 3],
          [4, 5],
        ],
      }),
    /ragged/,
  );
  assert.throws(() => plan.prepare({ kind: 'raw', value: [[1, 2, [3]]] }), /ragged/);
  assert.throws(() => plan.prepare({ kind: 'raw', value: { other: [[1, 2, 3]] } }), /missing inputs \['input'\]/);
});

test('deeply nested input is refused without recursion', () => {
  const plan = buildInputPlan(null, oneInput);
  let deep: unknown = 1;
  for (let i = 0; i < 100_000; i++) deep = [deep];
  assert.throws(() => plan.prepare({ kind: 'raw', value: deep }), /nested deeper than 32/);
});

test('records with a flood of distinct keys cost rows x signature columns, not rows x keys', () => {
  const plan = buildInputPlan(colSig, oneInput);
  const records = Array.from({ length: 50_000 }, (_, i) => ({ ['k' + i]: 0 }));
  assert.throws(
    () => plan.prepare({ kind: 'raw', value: records }),
    (e: any) => e.code === 'DW_ERR_SERVE_SCHEMA' && /missing inputs \['a', 'b'\]\. Note that there were extra inputs: \['k0'/.test(e.message),
  );
  const ok = plan.prepare({
    kind: 'raw',
    value: [
      { a: 1, b: 2, zz: 9 },
      { b: 4, a: 3 },
    ],
  });
  assert.deepEqual([...(ok.feeds.input!.data as Float32Array)], [1, 2, NaN, 3, 4, NaN]);
  // Without a signature to select by, the number of distinct keys is bounded.
  const free = buildInputPlan(null, [{ name: 'input', type: 'float32', shape: [-1, -1] }]);
  assert.throws(() => free.prepare({ kind: 'raw', value: records }), /more than 1024 distinct keys/);
});

test('a tensor shape claimed by first elements but not backed by data is refused before allocating', () => {
  const plan = buildInputPlan(null, [{ name: 'x', type: 'float32', shape: [-1, -1] }]);
  const lying = [Array.from({ length: 20_000 }, () => 1), ...Array.from({ length: 100_000 }, () => [])];
  assert.throws(
    () => plan.prepare({ kind: 'raw', value: { x: lying } }),
    (e: any) => e.code === 'DW_ERR_SERVE_SCHEMA' && /ragged or larger than its data/.test(e.message),
  );
});

test('a tensor signature answers a dict even for a data frame, as MLflow does', () => {
  const sig = parseSignature({ inputs: JSON.stringify([{ type: 'tensor', 'tensor-spec': { dtype: 'float32', shape: [-1, 3] } }]), outputs: null });
  const p = buildInputPlan(sig, oneInput).prepare({ kind: 'frame', columns: null, rows: [[1, 2, 3]] });
  assert.equal(p.outputStyle, 'dict');
});

test('keys named like Object.prototype members are plain names, never a crash', () => {
  const plan = buildInputPlan(null, [{ name: 'x', type: 'float32', shape: [-1] }]);
  for (const key of ['__proto__', 'toString', 'constructor', 'hasOwnProperty']) {
    const records = JSON.parse(`[{"${key}": 1}, {"${key}": 2}]`);
    assert.throws(
      () => plan.prepare({ kind: 'raw', value: records }),
      (e: any) => e.code === 'DW_ERR_SERVE_SCHEMA',
      key,
    );
  }
  const ok = plan.prepare({ kind: 'raw', value: JSON.parse('[{"x": 1, "__proto__": 5}, {"x": 2}]') });
  assert.deepEqual([...(ok.feeds.x!.data as Float32Array)], [1, 2]);
});

test('regression: tensors of more than 33 rows are not mistaken for ragged ones', () => {
  const plan = buildInputPlan(null, [{ name: 'x', type: 'float32', shape: [-1, 4] }]);
  const rows = Array.from({ length: 500 }, (_, i) => [i, 1, 2, 3]);
  assert.deepEqual(plan.prepare({ kind: 'raw', value: rows }).feeds.x!.dims, [500, 4]);
});

test('regression: dataframe_records feed unsigned and tensor-signature models as a data frame', () => {
  const free = buildInputPlan(null, [{ name: 'input', type: 'float32', shape: [-1, 4] }]);
  const p1 = free.prepare({
    kind: 'records',
    records: [
      { a: 1, b: 2, c: 3, d: 4 },
      { a: 5, b: 6, c: 7, d: 8 },
    ],
  });
  assert.deepEqual([...(p1.feeds.input!.data as Float32Array)], [1, 2, 3, 4, 5, 6, 7, 8]);
  const sig = parseSignature({ inputs: JSON.stringify([{ type: 'tensor', 'tensor-spec': { dtype: 'float32', shape: [-1, 4] } }]), outputs: null });
  const p2 = buildInputPlan(sig, [{ name: 'input', type: 'float32', shape: [-1, 4] }]).prepare({ kind: 'records', records: [{ a: 1, b: 2, c: 3, d: 4 }] });
  assert.deepEqual(p2.feeds.input!.dims, [1, 4]);
  assert.equal(p2.outputStyle, 'dict');
  // Without a signature, rows x distinct keys is bounded before anything is allocated.
  const flood = Array.from({ length: 200_000 }, (_, i) => ({ ['k' + (i % 1000)]: 0 }));
  assert.throws(() => free.prepare({ kind: 'records', records: flood }), /exceeds \d+ cells/);
});

test('integers out of their element type range are errors, not silent wraps; hex is not a number', () => {
  const plan = buildInputPlan(null, [
    { name: 'x', type: 'uint8', shape: [-1] },
    { name: 'y', type: 'int64', shape: [-1] },
  ]);
  assert.throws(() => plan.prepare({ kind: 'raw', value: { x: [300], y: [1] } }), /300 is out of range for uint8/);
  assert.throws(() => plan.prepare({ kind: 'raw', value: { x: [1], y: [1e20] } }), /out of range for int64/);
  const f = buildInputPlan(colSig, oneInput);
  assert.throws(() => f.prepare({ kind: 'frame', columns: ['a', 'b'], rows: [['0x10', 1]] }), /cannot convert "0x10"/);
  assert.deepEqual(
    [...(f.prepare({ kind: 'frame', columns: ['a', 'b'], rows: [['-1.5e2', ' 3 ']] }).feeds.input!.data as Float32Array)].slice(0, 2),
    [-150, 3],
  );
});

test('column path: feeds are checked against fixed graph dimensions before running', async () => {
  const { checkFeedShapes } = await import('../../src/serve/input-plan.js');
  const g = [{ name: 'input', type: 'float32' as const, shape: [1, 3] }];
  const p = buildInputPlan(colSig, g).prepare({
    kind: 'frame',
    columns: ['a', 'b', 'c'],
    rows: [
      [1, 2, 3],
      [4, 5, 6],
    ],
  });
  assert.throws(() => checkFeedShapes(p.feeds, g), /input input has shape \(2, 3\), the model takes \(1, 3\)/);
  assert.doesNotThrow(() => checkFeedShapes(p.feeds, [{ name: 'input', type: 'float32', shape: [-1, 3] }]));
});

test('regression: a value nested thousands of levels deep in a column is a 400 schema error, not a stack overflow', () => {
  const plan = buildInputPlan(colSig, oneInput);
  let deep: unknown = 1;
  for (let i = 0; i < 200_000; i++) deep = [deep];
  let deepObj: unknown = 1;
  for (let i = 0; i < 200_000; i++) deepObj = { a: deepObj };
  for (const v of [deep, deepObj]) {
    for (const input of [
      { kind: 'frame' as const, columns: ['a', 'b'], rows: [[v, 1]] },
      { kind: 'frame' as const, columns: ['a', 'b'], rows: [[1, v]] },
      { kind: 'records' as const, records: [{ a: v, b: 1 }] },
    ]) {
      assert.throws(
        () => plan.prepare(input),
        (e: any) => e.code === 'DW_ERR_SERVE_SCHEMA' && /^column [ab] row 0: /.test(e.message) && e.message.length < 300,
      );
    }
  }
});

test('numeric text is cast as MLflow casts it (Python float): NaN and infinity words, any length, non-finite numbers', () => {
  // MLflow's _enforce_mlflow_datatype casts an object column with numpy astype, i.e. float(): it
  // accepts these, so a drop-in does too (issue 19); docs/bad-input.md says what the model does with them.
  const plan = buildInputPlan(colSig, oneInput);
  const cases: Array<[unknown, number]> = [
    ['NaN', Number.NaN],
    ['nan', Number.NaN],
    ['-nan', Number.NaN],
    ['inf', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['+inf', Number.POSITIVE_INFINITY],
    [' Infinity ', Number.POSITIVE_INFINITY],
    ['1e999', Number.POSITIVE_INFINITY],
    [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY],
    [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY],
    [Number.NaN, Number.NaN],
    ['1'.repeat(1_000_000), Number.POSITIVE_INFINITY],
    [`0.${'0'.repeat(200)}1`, 0],
    ['0.100000000000000005551115123125782702118158340454101562', Math.fround(0.1)],
  ];
  for (const [v, want] of cases) {
    for (const input of [
      { kind: 'frame' as const, columns: ['a', 'b'], rows: [[v, 1]] },
      { kind: 'records' as const, records: [{ a: v, b: 1 }] },
    ]) {
      const got = (plan.prepare(input).feeds.input!.data as Float32Array)[0]!;
      assert.ok(Object.is(got, Math.fround(want)) || (Number.isNaN(want) && Number.isNaN(got)), `${String(v).slice(0, 20)}: ${got} vs ${want}`);
    }
  }
  // Still refused, as MLflow refuses them: text that is no number at all, naming the column.
  for (const v of ['abc', '0x10', '1,5', 'infinite']) {
    assert.throws(
      () =>
        plan.prepare({
          kind: 'frame',
          columns: ['a', 'b'],
          rows: [
            [1, 2],
            [v, 1],
          ],
        }),
      /column a row 1: cannot convert/,
      v,
    );
  }
  // The unsigned (tensor) path casts the same way.
  const unsigned = buildInputPlan(null, [{ name: 'input', type: 'float32', shape: [-1, 2] }]);
  assert.ok(Number.isNaN((unsigned.prepare({ kind: 'raw', value: [[1, 'NaN']] }).feeds.input!.data as Float32Array)[1]!));
  // Missing values (null) stay NaN, as pandas holds them.
  const ok = plan.prepare({ kind: 'frame', columns: ['a', 'b'], rows: [[null, 1]] });
  assert.ok(Number.isNaN((ok.feeds.input!.data as Float32Array)[0]!));
});
