/**
 * The lean MLflow JSON reader (protocol/lean-mlflow-json.ts) against the generic codec
 * (protocol/mlflow.ts, the reference): seeded, generated bodies across the four input formats,
 * valid and near-valid. For each body the lean reader must give null or exactly the generic
 * codec's table (same format, names, row count, and each cell the same double, -0 included); and
 * through real input plans (the example model's signature of four doubles feeding its float graph,
 * plus variants) the lean route (prepareFrame) must give the generic route's feeds exactly, or
 * null. The last test runs the real scoring server on the example model and compares response
 * bytes of the lean route with the generic route for the same data.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { decodeLeanMlflowJson, type LeanMlflowJson } from '../../src/protocol/lean-mlflow-json.js';
import { decodeMlflowJson, encodeMlflowPredictions, encodeMlflowPredictionsBytes, type MlflowRequest } from '../../src/protocol/mlflow.js';
import { formatFloat32, JsonBytes } from '../../src/protocol/json-out.js';
import type { HostTensor } from '../../src/protocol/tensor.js';
import { parseSignature, type Signature } from '../../src/model/signature.js';
import { buildInputPlan, type InputPlan, type PreparedInput } from '../../src/serve/input-plan.js';
import { createOnnxSession } from '../../src/serve/runtime.js';
import type { TensorMeta } from '../../src/protocol/tensor.js';
import { EXAMPLE_MODEL_DIR, FEATURES, startServer, tempDir, weatherRows, type RunningServer } from '../helpers.js';
// The same generator these suites always used, so the same cases (mulberry32 by seed).
import { mulberry32 as rng } from '../prng.js';
import { readFileSync } from 'node:fs';

/* ----------------------------- generation ----------------------------- */

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: Rand, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const digits = (r: Rand, n: number) => Array.from({ length: n }, () => String(int(r, 0, 9))).join('');

/** Number tokens: mostly valid JSON numbers of every form, some invalid ones and Python's tokens. */
function numberToken(r: Rand, valid = true): string {
  const x = r();
  if (valid || x < 0.85) {
    const y = r();
    if (y < 0.3) return (Math.round((r() * 60 - 20) * 10) / 10).toString(); // weather-like
    if (y < 0.4) return String(int(r, -1000, 1000));
    if (y < 0.5) return `${r() < 0.5 ? '-' : ''}${int(r, 0, 99)}.${digits(r, int(r, 1, 25))}`;
    if (y < 0.58) return `${r() < 0.5 ? '-' : ''}${int(r, 1, 9)}.${digits(r, int(r, 0, 8))}${pick(r, ['e', 'E'])}${pick(r, ['', '+', '-'])}${int(r, 0, 30)}`;
    if (y < 0.62) return pick(r, ['-0', '0', '-0.0', '0.0', '0e0', '-0E-5']);
    if (y < 0.66) return pick(r, ['1e400', '-1e400', '1e-400', '5e-324', '2.2250738585072014e-308', '1.7976931348623157e308', '4.9e-324']);
    if (y < 0.72) return pick(r, ['9007199254740992', '9007199254740993', '-9007199254740993', '18446744073709551616', '123456789012345678901234567890']);
    if (y < 0.78) return `${int(r, 1, 9)}${digits(r, int(r, 14, 22))}`; // around 2^53
    if (y < 0.84) return `0.${'0'.repeat(int(r, 0, 30))}${int(r, 1, 9)}${digits(r, int(r, 0, 20))}`;
    if (y < 0.9) return `${int(r, 1, 9)}${digits(r, int(r, 0, 5))}e${int(r, 15, 30)}`; // outside Clinger's exponents
    return String(r() * 10 ** int(r, -10, 10)); // shortest doubles
  }
  return pick(r, ['01', '-01', '00', '00.5', '1.', '.5', '+1', '1e', '1e+', '-', '--1', '0x10', 'NaN', 'Infinity', '-Infinity', '1_000', '１']);
}

/** A cell: a number, or (near-valid bodies) what the lean reader must leave to the generic codec. */
function cell(r: Rand, odd: number): string {
  if (r() >= odd) return numberToken(r);
  return pick(r, ['"1.5"', '"x"', 'null', 'true', 'false', '[1]', '{}', '{"a":1}', numberToken(r, false), '"\\u0031"']);
}

const WS = ['', '', '', ' ', '\n', '\t', '\r\n', '  '];
/** JSON.stringify-like joins with random whitespace around the punctuation. */
const w = (r: Rand) => pick(r, WS);
const arr = (r: Rand, xs: string[]) => `[${w(r)}${xs.join(`${w(r)},${w(r)}`)}${w(r)}]`;
const obj = (r: Rand, kv: Array<[string, string]>) => `{${w(r)}${kv.map(([k, v]) => `${k}${w(r)}:${w(r)}${v}`).join(`${w(r)},${w(r)}`)}${w(r)}}`;
const q = (s: string) => JSON.stringify(s);

/** A key as written on the wire: usually plain, sometimes with an escape that decodes to the same name. */
function keyToken(r: Rand, name: string): string {
  if (r() < 0.05 && name.length > 0) {
    const k = int(r, 0, name.length - 1);
    const hex = name.charCodeAt(k).toString(16).padStart(4, '0');
    return `"${name.slice(0, k)}\\u${hex}${name.slice(k + 1)}"`;
  }
  return q(name);
}

const NAME_POOL = [...FEATURES, 'extra', 'température', 'a"b', '', '0', '1', '__proto__', 'toString'];

function columnsFor(r: Rand): string[] {
  const base = r() < 0.7 ? [...FEATURES] : FEATURES.slice(0, int(r, 1, 4));
  if (r() < 0.3) base.push(pick(r, NAME_POOL));
  // Shuffle sometimes: the plan reorders by name.
  if (r() < 0.3) base.sort(() => r() - 0.5);
  return base;
}

interface Shape {
  rows: number;
  width: number;
  odd: number;
}

function rowsToken(r: Rand, s: Shape): string {
  const rows: string[] = [];
  for (let i = 0; i < s.rows; i++) {
    // Ragged rows now and then.
    const n = r() < s.odd / 2 ? Math.max(0, s.width + int(r, -1, 1)) : s.width;
    rows.push(
      arr(
        r,
        Array.from({ length: n }, () => cell(r, s.odd)),
      ),
    );
  }
  return arr(r, rows);
}

function recordsToken(r: Rand, names: string[], s: Shape): string {
  const recs: string[] = [];
  for (let i = 0; i < s.rows; i++) {
    let keys = [...names];
    if (r() < s.odd / 2) keys.sort(() => r() - 0.5); // reordered keys
    if (r() < s.odd / 3) keys = keys.slice(1); // a missing key
    if (r() < s.odd / 3) keys.push(pick(r, keys.length ? keys : names)); // a repeated key
    recs.push(
      obj(
        r,
        keys.map((k) => [keyToken(r, k), cell(r, s.odd)]),
      ),
    );
  }
  return arr(r, recs);
}

function inputValue(r: Rand, format: string, s: Shape): string {
  const names = columnsFor(r);
  const widthOf = (n: string[]) => n.length;
  switch (format) {
    case 'dataframe_split': {
      const kv: Array<[string, string]> = [];
      const withColumns = r() < 0.85;
      const width = withColumns ? widthOf(names) + (r() < s.odd / 3 ? 1 : 0) : pick(r, [4, 4, 4, 3, 5]);
      if (withColumns)
        kv.push([
          '"columns"',
          r() < 0.05
            ? 'null'
            : arr(
                r,
                names.map((n) => keyToken(r, n)),
              ),
        ]);
      kv.push(['"data"', rowsToken(r, { ...s, width })]);
      if (r() < 0.3) {
        const n = r() < s.odd ? s.rows + int(r, -1, 1) : s.rows;
        kv.push([
          '"index"',
          r() < 0.1
            ? 'null'
            : arr(
                r,
                Array.from({ length: Math.max(0, n) }, (_, i) => (r() < 0.8 ? String(i) : q(`r${i}`))),
              ),
        ]);
      }
      if (r() < s.odd / 3) kv.push([pick(r, ['"dtype"', '"data"', '"columns"']), '[]']);
      if (r() < 0.3) kv.reverse();
      return obj(r, kv);
    }
    default: {
      const kind = r();
      if (format !== 'dataframe_records' && kind < 0.15) {
        // A mapping of column name to values (or to one value each: one row).
        // Near-valid ones independently of odd cells: a list of another length, a scalar among lists.
        const scalars = r() < 0.3;
        const odd = s.odd / 4;
        return obj(
          r,
          names.map((n) => [
            keyToken(r, n),
            scalars !== r() < 0.08
              ? cell(r, odd)
              : arr(
                  r,
                  Array.from({ length: r() < 0.08 ? Math.max(0, s.rows + int(r, -1, 1)) : s.rows }, () => cell(r, odd)),
                ),
          ]),
        );
      }
      if (kind < 0.45) return rowsToken(r, { ...s, width: pick(r, [4, 4, 4, 1, 3]) });
      if (kind < 0.85) return recordsToken(r, names, s);
      return arr(
        r,
        Array.from({ length: s.rows }, () => cell(r, s.odd)),
      );
    }
  }
}

const FORMATS = ['dataframe_split', 'dataframe_records', 'instances', 'inputs'] as const;

function body(r: Rand): string {
  const odd = r() < 0.5 ? 0 : r() * 0.3;
  const s: Shape = { rows: pick(r, [0, 1, 1, 2, 3, 5, 10, 30]), width: 4, odd };
  const format = pick(r, FORMATS);
  const kv: Array<[string, string]> = [[keyToken(r, format), inputValue(r, format, s)]];
  if (r() < 0.2) kv.push(['"params"', pick(r, ['{"k":1}', '{"t":[1,2,{"x":null}],"s":"a\\"b\\u00e9"}', 'null', '[1]', '"x"', '{}'])]);
  if (r() < 0.1)
    kv.push([q(pick(r, ['other', 'meta', 'dataframe_split', 'instances', 'messages', 'prompt', 'input', 'params'])), pick(r, ['1', '"x"', '[]', 'true'])]);
  if (r() < 0.3) kv.reverse();
  let text = obj(r, kv);
  if (r() < 0.05) text = w(r) + text + w(r);
  // Near-valid: cut, a trailing comma, a byte changed.
  const m = r();
  if (m < 0.04) text = text.slice(0, int(r, 0, text.length - 1));
  else if (m < 0.07) {
    const at = text.lastIndexOf(']');
    if (at > 0) text = text.slice(0, at) + ',' + text.slice(at);
  } else if (m < 0.1) {
    const at = int(r, 0, text.length - 1);
    text = text.slice(0, at) + pick(r, ['"', ',', ']', '}', '[', '{', ' ', 'x', '\u0001', '\\']) + text.slice(at + 1);
  }
  return text;
}

/* ----------------------------- comparison ----------------------------- */

/** The generic codec's reading of a body as (names, rows of values), or null when it is no table of that kind. */
function genericTable(req: MlflowRequest): { names: string[] | null; rows: unknown[][] } | null {
  const input = req.input;
  if (input.kind === 'frame') return { names: input.columns, rows: input.rows };
  if (input.kind === 'raw' && typeof input.value === 'object' && input.value !== null && !Array.isArray(input.value)) {
    // A mapping of column name to values: rows as the input plan's tableFromColumns builds them.
    const map = input.value as Record<string, unknown>;
    const names = Object.keys(map);
    const cols = names.map((n) => map[n]);
    if (cols.every((c) => !Array.isArray(c))) return { names, rows: [cols] };
    const n = Math.max(...cols.map((c) => (Array.isArray(c) ? c.length : -1)));
    return { names, rows: Array.from({ length: n }, (_, i) => cols.map((c) => (Array.isArray(c) ? c[i] : c))) };
  }
  const list = input.kind === 'records' ? input.records : Array.isArray(input.value) ? input.value : null;
  if (list === null || list.length === 0) return null;
  if (list.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x))) {
    const names = Object.keys(list[0] as object);
    return {
      names,
      rows: list.map((rec) => (Object.keys(rec as object).length === names.length ? names.map((n) => (rec as Record<string, unknown>)[n]) : ['<keys differ>'])),
    };
  }
  if (list.every(Array.isArray)) return { names: null, rows: list as unknown[][] };
  return { names: null, rows: list.map((v) => [v]) };
}

function assertSameTable(text: string, lean: LeanMlflowJson, generic: MlflowRequest): void {
  assert.equal(generic.format, lean.format, text);
  assert.equal(generic.unwrapped, false, text);
  const t = genericTable(generic);
  assert.ok(t, `generic read no table: ${text}`);
  const f = lean.frame;
  assert.equal(f.rows, t.rows.length, text);
  assert.equal(f.values.length, f.rows * f.width, text);
  if (f.names === null) assert.equal(t.names, null, text);
  else {
    // Records: the same keys (the generic object's own order puts integer-like keys first).
    assert.ok(t.names, text);
    if (generic.input.kind === 'frame') assert.deepEqual(f.names, t.names, text);
    else assert.deepEqual([...f.names].sort(), [...t.names].sort(), text);
  }
  for (let i = 0; i < f.rows; i++) {
    const row: unknown[] = t.rows[i]!;
    assert.equal(row.length, f.width, text);
    for (let j = 0; j < f.width; j++) {
      const want =
        f.names === null || generic.input.kind === 'frame'
          ? row[j]
          : isColumnMap(generic)
            ? row[t.names!.indexOf(f.names[j]!)]
            : (genericRecord(generic, i) as Record<string, unknown>)[f.names[j]!];
      assert.ok(Object.is(f.values[i * f.width + j], want), `row ${i} col ${j}: lean ${f.values[i * f.width + j]} generic ${String(want)} in ${text}`);
    }
  }
}

const isColumnMap = (req: MlflowRequest) =>
  req.input.kind === 'raw' && typeof req.input.value === 'object' && req.input.value !== null && !Array.isArray(req.input.value);

function genericRecord(req: MlflowRequest, i: number): unknown {
  const input = req.input;
  return input.kind === 'records' ? input.records[i] : (input as { value: unknown[] }).value[i];
}

type Outcome = { ok: true; p: PreparedInput } | { ok: false; status: number; code: string; mlflowCode: string; message: string };

function genericOutcome(text: string, plan: InputPlan): Outcome {
  try {
    return { ok: true, p: plan.prepare(decodeMlflowJson(text).input) };
  } catch (e: any) {
    return { ok: false, status: e.status, code: e.code, mlflowCode: e.mlflowCode, message: e.message };
  }
}

function assertSameFeeds(text: string, lean: PreparedInput, generic: Outcome): void {
  assert.ok(generic.ok, `lean prepared a body the generic path refuses (${!generic.ok && generic.message}): ${text}`);
  const g = generic.p;
  assert.equal(lean.rows, g.rows, text);
  assert.equal(lean.outputStyle, g.outputStyle, text);
  assert.deepEqual(lean.columnNames, g.columnNames, text);
  assert.deepEqual(Object.keys(lean.feeds), Object.keys(g.feeds), text);
  for (const [name, t] of Object.entries(lean.feeds)) {
    const u = g.feeds[name]!;
    assert.equal(t.type, u.type, text);
    assert.deepEqual(t.dims, u.dims, text);
    const a = t.data as Float32Array;
    const b = u.data as Float32Array;
    assert.equal(a.constructor, b.constructor, text);
    // Bytes, so NaN payloads and -0 count.
    assert.deepEqual(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength), text);
  }
}

/* ----------------------------- plans ----------------------------- */

const mlmodel = readFileSync(join(EXAMPLE_MODEL_DIR, 'MLmodel'), 'utf8');
const exampleSignature = parseSignature({ inputs: /inputs: '(.*)'/.exec(mlmodel)![1], outputs: null })!;
let exampleInputs: readonly TensorMeta[] = [];

const cols = (specs: Array<[string, string]>, required = true): Signature =>
  parseSignature({ inputs: JSON.stringify(specs.map(([name, type]) => ({ name, type, required }))), outputs: null })!;

function plans(): Array<[string, InputPlan]> {
  return [
    ['example model (4 doubles -> float32 [-1, 4])', buildInputPlan(exampleSignature, exampleInputs)],
    [
      'two columns reordered -> float64 [-1, 2]',
      buildInputPlan(
        cols([
          ['wind', 'double'],
          ['precipitation', 'float'],
        ]),
        [{ name: 'x', type: 'float64', shape: [-1, 2] }],
      ),
    ],
    ['one column -> float32 [-1]', buildInputPlan(cols([['temp_max', 'double']]), [{ name: 'x', type: 'float32', shape: [-1] }])],
    [
      'optional columns, odd names',
      buildInputPlan(
        cols(
          [
            ['toString', 'double'],
            ['0', 'double'],
            ['température', 'double'],
            ['extra', 'double'],
          ],
          false,
        ),
        [{ name: 'x', type: 'float32', shape: [-1, 4] }],
      ),
    ],
  ];
}

before(async () => {
  const session = await createOnnxSession(join(EXAMPLE_MODEL_DIR, 'model.onnx'), {});
  exampleInputs = session.inputs;
  await session.release();
});

/* ----------------------------- tests ----------------------------- */

test('number tokens: the lean reader gives the very double JSON.parse gives, or null', () => {
  const r = rng(24);
  let read = 0;
  for (let n = 0; n < 20000; n++) {
    const tok = numberToken(r, n % 3 !== 0);
    let want: number | undefined;
    try {
      want = JSON.parse(tok) as number;
    } catch {
      want = undefined;
    }
    // Each place a number is read: a list of numbers, rows (first, last and middle cell), records.
    for (const [text, at] of [
      [`{"instances":[${tok}]}`, 0],
      [`{"instances":[[${tok}]]}`, 0],
      [`{"instances":[[1,${tok},2],[${tok},3,4]]}`, 3],
      [`{"dataframe_split":{"data":[[1,${tok}]]}}`, 1],
      [`{"dataframe_records":[{"a":${tok}}]}`, 0],
    ] as const) {
      const lean = decodeLeanMlflowJson(Buffer.from(text));
      if (typeof want !== 'number') {
        assert.equal(lean, null, text);
        continue;
      }
      assert.ok(lean, text);
      assert.ok(Object.is(lean.frame.values[at], want), `${text}: lean ${lean.frame.values[at]} JSON.parse ${want}`);
      read++;
    }
  }
  assert.ok(read > 50000, `only ${read} numbers read`);
});

test('hand-picked bodies: what is read lean and what is left to the generic codec', () => {
  const lean = (s: string) => decodeLeanMlflowJson(Buffer.from(s));
  const split = lean('{"dataframe_split":{"columns":["a","b"],"data":[[1,2.5],[-0,3e2]],"index":[7,8]},"params":{"x":[1,{"y":null}]}}');
  assert.deepEqual(split?.format, 'dataframe_split');
  assert.deepEqual(split?.frame.names, ['a', 'b']);
  assert.deepEqual([...split!.frame.values], [1, 2.5, -0, 300]);
  assert.ok(Object.is(split!.frame.values[2], -0));
  assert.deepEqual(lean('{"dataframe_records":[{"a":1,"b":2},{"a":3,"b":4}]}')?.frame.names, ['a', 'b']);
  assert.deepEqual(lean('{"inputs":[1,2,3]}')?.frame, { names: null, rows: 3, width: 1, values: Float64Array.from([1, 2, 3]) });
  assert.deepEqual(lean('{"inputs":{"a":[1,2],"b":[3,4]}}')?.frame, { names: ['a', 'b'], rows: 2, width: 2, values: Float64Array.from([1, 3, 2, 4]) });
  assert.deepEqual(lean('{"instances":{"a":1,"b":2}}')?.frame, { names: ['a', 'b'], rows: 1, width: 2, values: Float64Array.from([1, 2]) });
  assert.equal(lean('{"instances":[[1,2],[3,4]]}')?.frame.width, 2);
  // Mappings of columns say so (the capture side reads one whose columns are all filtered out as one row).
  assert.equal(lean('{"inputs":{"a":[1,2],"b":[3,4]}}')?.byColumn, true);
  assert.equal(lean('{"instances":{"a":1,"b":2}}')?.byColumn, true);
  for (const s of ['{"instances":[[1,2],[3,4]]}', '{"inputs":[{"a":1}]}', '{"dataframe_split":{"data":[[1]]}}', '{"dataframe_records":[1,2]}'])
    assert.equal(lean(s)?.byColumn, false, s);
  assert.deepEqual(lean('{"d\\u0061taframe_split":{"data":[[1]]}}')?.format, 'dataframe_split');
  for (const s of [
    '{"dataframe_split":{"columns":["a","b"],"data":[[1,null]]}}',
    '{"dataframe_split":{"columns":["a","b"],"data":[[1,2],[3]]}}',
    '{"dataframe_split":{"columns":["a"],"data":[[1,2]]}}',
    '{"dataframe_split":{"data":[[1,2]],"index":[0,1]}}',
    '{"dataframe_split":{"data":[]}}',
    '{"dataframe_split":{"data":[[1]],"data":[[2]]}}',
    '{"dataframe_split":{"data":[[NaN]]}}',
    '{"dataframe_records":[{"a":1,"b":2},{"b":3,"a":4}]}',
    '{"dataframe_records":[{"a":1,"a":2}]}',
    '{"dataframe_records":{"a":[1]}}',
    '{"inputs":{"a":[1,2],"b":[3]}}',
    '{"inputs":{"a":[1],"b":2}}',
    '{"inputs":{"a":1,"b":[2]}}',
    '{"inputs":{"a":[]}}',
    '{"inputs":{"a":[1],"a":[2]}}',
    '{"instances":[[1]],"inputs":[[1]]}',
    '{"instances":[[1]],"instances":[[1]]}',
    '{"instances":[[1]],"prompt":"x"}',
    '{"instances":[[1]],"params":NaN}',
    '{"instances":[[1,]]}',
    '{"instances":[[1]],}',
    '{"instances":[[1]]}x',
    '{"instances":[["1"]]}',
    '{"instances":[[[1]]]}',
    '[{"instances":[[1]]}]',
    '\ufeff{"instances":[[1]]}',
    '{"instances":[[01]]}',
  ]) {
    assert.equal(lean(s), null, s);
  }
});

test('names with non-ASCII and invalid UTF-8 bytes decode as the generic codec decodes the whole body', () => {
  const r = rng(8);
  let read = 0;
  const pieces = [[0xe2, 0x82], [0xff], [0xc3], [0xc3, 0xa9], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf0, 0x9f, 0x98, 0x80], [0x80], [0x61]];
  for (let n = 0; n < 500; n++) {
    const name = () => Buffer.from(Array.from({ length: int(r, 1, 4) }, () => pick(r, pieces)).flat());
    const a = name();
    const b = name();
    const split = Buffer.concat([Buffer.from('{"dataframe_split":{"columns":["'), a, Buffer.from('","'), b, Buffer.from('"],"data":[[1,2]]}}')]);
    const recs = Buffer.concat([Buffer.from('{"dataframe_records":[{"'), a, Buffer.from('":1,"'), b, Buffer.from('":2}]}')]);
    for (const body of [split, recs]) {
      const generic = decodeMlflowJson(body.toString('utf8'));
      const lean = decodeLeanMlflowJson(body);
      // Two names decoding to the same text are one key to JSON.parse: the lean reader gives up.
      if (lean === null) continue;
      assertSameTable(body.toString('hex'), lean, generic);
      read++;
    }
  }
  assert.ok(read > 500, `only ${read} bodies read lean`);
});

test('differential: generated bodies read lean are read the same by the generic codec, and feed the same', () => {
  const r = rng(20241208);
  const ps = plans();
  let leanBodies = 0;
  let leanFeeds = 0;
  const N = 6000;
  for (let n = 0; n < N; n++) {
    const text = body(r);
    const buf = Buffer.from(text, 'utf8');
    const lean = decodeLeanMlflowJson(buf);
    let generic: MlflowRequest | null = null;
    try {
      generic = decodeMlflowJson(text);
    } catch (e) {
      assert.equal(lean, null, `lean read a body the generic codec refuses (${(e as Error).message}): ${text}`);
    }
    if (lean === null) continue;
    leanBodies++;
    assertSameTable(text, lean, generic!);
    for (const [, plan] of ps) {
      assert.ok(plan.takesFrames);
      const p = plan.prepareFrame(lean.frame);
      if (p === null) continue;
      leanFeeds++;
      assertSameFeeds(text, p, genericOutcome(text, plan));
    }
  }
  // The generator must exercise the lean path, or this test proves nothing.
  assert.ok(leanBodies > N / 5, `only ${leanBodies} of ${N} bodies were read lean`);
  assert.ok(leanFeeds > N / 5, `only ${leanFeeds} feeds were prepared lean`);
});

test('plans without a numeric matrix take no frames', () => {
  const plan = buildInputPlan(
    cols([
      ['a', 'double'],
      ['b', 'string'],
    ]),
    [{ name: 'x', type: 'float32', shape: [-1, 2] }],
  );
  assert.equal(plan.takesFrames, false);
  assert.equal(plan.prepareFrame({ names: ['a', 'b'], rows: 1, width: 2, values: Float64Array.from([1, 2]) }), null);
});

/* ----------------------------- answers ----------------------------- */

test('answers: JsonBytes.float32 writes formatFloat32 exactly', () => {
  const r = rng(32);
  const bits = new Uint32Array(1);
  const f = new Float32Array(bits.buffer);
  const values: number[] = [0, -0, Number.NaN, Infinity, -Infinity, 1e-7, 1e21, 2 ** -149, 3.4028234663852886e38];
  for (let p = -149; p <= 127; p++) values.push(2 ** p, -(2 ** p), Math.fround(2 ** p * 1.5));
  for (let p = -45; p <= 38; p++) for (const m of [1, 9.999999, 1.0000001, 5]) values.push(Math.fround(m * 10 ** p));
  for (let i = 0; i < 120_000; i++) {
    bits[0] = Math.floor(r() * 2 ** 32);
    values.push(f[0]!);
    values.push(Math.fround(r() ** 3)); // probabilities
    values.push(Math.fround((r() - 0.5) * 10 ** int(r, -16, 24)));
  }
  const out = new JsonBytes(16);
  const want: string[] = [];
  for (const v of values) {
    out.float32(v);
    out.byte(0x2c);
    want.push(formatFloat32(v));
  }
  const got = out.bytes().toString('latin1').split(',');
  got.pop();
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) assert.fail(`${values[i]}: wrote ${got[i]}, formatFloat32 ${want[i]}`);
});

test('answers: the byte encoder writes encodeMlflowPredictions exactly', () => {
  const r = rng(99);
  const f32 = (n: number) =>
    Float32Array.from({ length: n }, () => (r() < 0.05 ? pick(r, [Number.NaN, Infinity, 0, -0, 1e-30]) : (r() - 0.3) * 10 ** int(r, -8, 8)));
  const labels = ['sun', 'rain', 'fog', 'é"\\\n', '☂', ''];
  for (let n = 0; n < 400; n++) {
    const rows = pick(r, [0, 1, 2, 7, 100]);
    const width = pick(r, [1, 3, 5]);
    const outputs: Record<string, HostTensor> = {};
    const kinds = ['label', 'probabilities', 'score', 'count', 'flag', 'wide', 'f64'].filter(() => r() < 0.5);
    for (const k of kinds) {
      if (k === 'label') outputs[k] = { type: 'string', data: Array.from({ length: rows }, () => pick(r, labels)), dims: [rows] };
      if (k === 'probabilities') outputs[k] = { type: 'float32', data: f32(rows * width), dims: [rows, width] };
      if (k === 'score') outputs[k] = { type: 'float32', data: f32(rows), dims: r() < 0.5 ? [rows] : [rows, 1] };
      if (k === 'count') outputs[k] = { type: 'int64', data: BigInt64Array.from({ length: rows }, () => BigInt(int(r, -1e6, 1e6))), dims: [rows] };
      if (k === 'flag') outputs[k] = { type: 'bool', data: Uint8Array.from({ length: rows * 2 }, () => int(r, 0, 1)), dims: [rows, 2] };
      if (k === 'wide') outputs[k] = { type: 'float32', data: f32(rows * 4), dims: [rows, 2, 2] };
      if (k === 'f64') outputs[k] = { type: 'float64', data: Float64Array.from({ length: rows }, () => r() * 1e3), dims: [rows] };
    }
    if (r() < 0.1) outputs.odd = { type: 'float32', data: f32(3), dims: [3] }; // not per row
    const style = r() < 0.8 ? 'records' : 'dict';
    const unwrapped = r() < 0.1;
    const want = encodeMlflowPredictions(outputs, style, rows, unwrapped);
    const got = encodeMlflowPredictionsBytes(outputs, style, rows, unwrapped);
    assert.equal(got.toString('utf8'), want, JSON.stringify(Object.keys(outputs)));
    assert.equal(got.length, Buffer.byteLength(want));
  }
});

/* ----------------------------- end to end ----------------------------- */

let srv: RunningServer;
const tmp = tempDir();
before(async () => {
  srv = await startServer({ registryRoot: join(tmp.dir, 'registry'), models: [{ uri: EXAMPLE_MODEL_DIR, name: 'weather' }] });
});
after(async () => {
  await srv?.close();
  tmp.cleanup();
});

async function post(text: string): Promise<{ status: number; body: string; type: string | null }> {
  const res = await fetch(srv.url + '/invocations', { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
}

test('scoring server: the lean route answers byte for byte what the generic route answers', async () => {
  const r = rng(7);
  const data = weatherRows('2014-01-01', '2014-03-31').map((x) => x.features);
  const plan = buildInputPlan(exampleSignature, exampleInputs);
  let leanRoute = 0;
  for (let n = 0; n < 84; n++) {
    const rows = data.slice(int(r, 0, 40), int(r, 41, data.length));
    const kind = n % 6;
    const numbers = rows.map((row) =>
      row.map((v) => (r() < 0.1 ? pick(r, [`${v}e0`, Number.isInteger(v) ? `${v}.0` : `${v}0`, '-0', '1e400', '1e-400']) : String(v))),
    );
    const names = [...FEATURES];
    if (kind === 3) names.reverse();
    const order = FEATURES.map((f) => names.indexOf(f));
    const cellsOf = (row: string[]) => names.map((_, j) => row[order.indexOf(j)]!);
    const records = numbers
      .map(
        (x) =>
          `{${cellsOf(x)
            .map((c, j) => `${q(names[j]!)}:${c}`)
            .join(',')}}`,
      )
      .join(',');
    const value =
      kind === 0
        ? `{"dataframe_split":{"columns":${JSON.stringify(names)},"data":[${numbers.map((x) => `[${cellsOf(x).join(',')}]`).join(',')}]}}`
        : kind === 1
          ? `{"dataframe_records":[${records}]}`
          : kind === 2
            ? `{"instances":[${numbers.map((x) => `[${x.join(',')}]`).join(',')}],"params":{"k":1}}`
            : kind === 3
              ? `{"inputs":[${records}]}`
              : kind === 4
                ? `{"dataframe_split":{"columns":${JSON.stringify(names)},"data":[${numbers.map((x) => `[${x.join(',')}]`).join(',')}],"index":[${numbers.map((_, i) => i).join(',')}]}}`
                : `{"inputs":{${FEATURES.map((f, j) => `${q(f)}:[${numbers.map((x) => x[j]).join(',')}]`).join(',')}}}`;
    // The same body with an ignored key written twice: the lean reader leaves it to the generic codec.
    const viaGeneric = `{"_":0,"_":0,${value.slice(1)}`;
    assert.equal(decodeLeanMlflowJson(Buffer.from(viaGeneric)), null);
    const lean = decodeLeanMlflowJson(Buffer.from(value));
    assert.ok(lean, value);
    if (plan.prepareFrame(lean.frame)) leanRoute++;
    const [a, b] = await Promise.all([post(value), post(viaGeneric)]);
    assert.equal(a.status, b.status, value);
    assert.equal(a.type, b.type);
    assert.equal(a.body, b.body, value);
  }
  assert.ok(leanRoute >= 60, `only ${leanRoute} bodies took the lean route`);
  // text/csv goes through the same wiring (decodeLeanCsv, then prepareFrame): the same rows answer
  // what their JSON answers on the generic route.
  for (const rows of [data.slice(0, 1), data.slice(5, 105)]) {
    const csv = await fetch(srv.url + '/invocations', {
      method: 'POST',
      headers: { 'content-type': 'text/csv' },
      body: `${FEATURES.join(',')}\n${rows.map((x) => x.join(',')).join('\n')}\n`,
    });
    const json = await post(`{"_":0,"_":0,"dataframe_split":{"columns":${JSON.stringify(FEATURES)},"data":${JSON.stringify(rows)}}}`);
    assert.equal(csv.status, 200);
    assert.equal(await csv.text(), json.body);
  }
  // Refusals keep their generic answers: the lean route never sees them.
  const bad = await post('{"dataframe_split":{"columns":["precipitation","temp_max","temp_min"],"data":[[1,2,3]]}}');
  assert.equal(bad.status, 400);
  assert.match(bad.body, /Model is missing inputs \['wind'\]/);
});
