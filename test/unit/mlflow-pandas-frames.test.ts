/**
 * dataframe_split and text/csv as pandas builds them in MLflow (proto_json_utils
 * dataframe_from_parsed_json, scoring_server.parse_csv_input), checked on pandas 1.5.3: padding,
 * index broadcast, dict data, header mangling, the implicit index column; and the bound on what
 * the codec builds that the body did not send.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMlflowCsv, decodeMlflowJson } from '../../src/protocol/mlflow.js';

const split = (v: unknown) => decodeMlflowJson(JSON.stringify({ dataframe_split: v })).input;
const bad = (e: any) => e.code === 'DW_ERR_SERVE_BAD_REQUEST';

test('dataframe_split: ragged rows padded, index broadcast, dict data, null data', () => {
  assert.deepEqual(split({ columns: ['a', 'b'], data: [[1], [2, 3]] }), {
    kind: 'frame',
    columns: ['a', 'b'],
    rows: [
      [1, null],
      [2, 3],
    ],
  });
  assert.throws(() => split({ columns: ['a', 'b'], data: [[1]] }), bad); // 2 columns passed, passed data had 1 columns
  assert.deepEqual(split({ columns: ['a'], data: [[1]], index: [7, 8] }), { kind: 'frame', columns: ['a'], rows: [[1], [1]] });
  assert.deepEqual(split({ columns: ['a'], data: [], index: { x: 0 } }), { kind: 'frame', columns: ['a'], rows: [[null]] });
  assert.throws(() => split({ columns: ['a'], data: [[1], [2]], index: [0, 1, 2] }), bad);
  assert.deepEqual(split({ columns: ['b', 'z'], data: { a: [1, 2], b: [3, 4] } }), {
    kind: 'frame',
    columns: ['b', 'z'],
    rows: [
      [3, null],
      [4, null],
    ],
  });
  assert.throws(() => split({ data: { a: 1, b: 2 } }), bad); // all scalars need an index
  assert.deepEqual(split({ columns: ['a'], data: null }), { kind: 'frame', columns: ['a'], rows: [] });
  assert.throws(() => split({ columns: ['a', 'b'], data: [1, 2] }), bad); // shape (2, 1), indices imply (2, 2)
  assert.throws(() => split({ columns: ['a'], data: [[1], 2] }), bad);
});

test('a short body cannot make a large table through padding or broadcast', () => {
  const wide = Array.from({ length: 1000 }, () => 1);
  assert.throws(
    () => split({ data: [wide, ...Array.from({ length: 20_000 }, () => [])] }),
    (e: any) => bad(e) && /would make more than/.test(e.message),
  );
  const cols = Array.from({ length: 1000 }, (_, i) => `c${i}`);
  assert.throws(
    () => split({ columns: cols, data: [], index: Array.from({ length: 20_000 }, () => 0) }),
    (e: any) => bad(e) && /would make more than/.test(e.message),
  );
  assert.throws(
    () => split({ columns: cols, data: Object.fromEntries(cols.map((c) => [c, 1])), index: Array.from({ length: 20_000 }, () => 0) }),
    (e: any) => bad(e) && /would make more than/.test(e.message),
  );
});

test('CSV: mangled header names and the implicit index column', () => {
  assert.deepEqual(decodeMlflowCsv('a,a,,b\n1,2,3,4\n').input, { kind: 'frame', columns: ['a', 'a.1', 'Unnamed: 2', 'b'], rows: [['1', '2', '3', '4']] });
  // The first data row one field longer: that field is the index, dropped from every row.
  assert.deepEqual(decodeMlflowCsv('a,b\n9,1,2\n8,3\n').input, {
    kind: 'frame',
    columns: ['a', 'b'],
    rows: [
      ['1', '2'],
      ['3', null],
    ],
  });
  assert.throws(() => decodeMlflowCsv('a,b\n9,1,2\n8,3,4,5\n'), bad);
  assert.throws(() => decodeMlflowCsv('   \n\n'), bad); // No columns to parse from file
});
