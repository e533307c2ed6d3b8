/**
 * The columnar capture path (issue 24) against the row path it replaces:
 *  - stats: observeColumns on a table's columns leaves the window exactly as observeRows on its
 *    rows (deepStrictEqual, so -0, NaN counts and every sketch level count), and kllUpdateStrided
 *    the sketch exactly as kllUpdate one value at a time;
 *  - capture: the same generated events through processEvent with the lean codecs and with the
 *    generic extract() only give the same traffic summary, window profiles, prediction-log records,
 *    row counts and unparseable reasons. Seeded, so every run sees the same cases.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ProcessEventDeps, processEvent } from '../../src/capture/process-event.js';
import { extractColumns } from '../../src/capture/extract.js';
import { decodeLeanMlflowJson } from '../../src/protocol/lean-mlflow-json.js';
import type { InferenceEvent } from '../../src/capture/inference-event.js';
import { TrafficSummary } from '../../src/capture/traffic-summary.js';
import { WindowProfiler } from '../../src/capture/window-profiler.js';
import type { PredictionRecord } from '../../src/outcomes/prediction-log.js';
import type { Column } from '../../src/stats/columns.js';
import type { Cell } from '../../src/stats/feature-profile.js';
import { emptyKll, kllUpdate, kllUpdateStrided } from '../../src/stats/kll-sketch.js';
import { buildReference } from '../../src/stats/reference.js';
import type { ReferenceProfile, WindowProfile } from '../../src/stats/types.js';
import { emptyWindow, observeColumns, observeRows } from '../../src/stats/window-profile.js';
import { mulberry32, normal } from '../prng.js';

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);

/** A value as traffic has them: mostly ordinary numbers, with ties, -0, NaN and infinities among them. */
function value(r: () => number): number {
  const u = r();
  if (u < 0.02) return Number.NaN;
  if (u < 0.03) return u < 0.025 ? Infinity : -Infinity;
  if (u < 0.05) return -0;
  if (u < 0.3) return Math.floor(r() * 5);
  return normal(r) * 10 + 3;
}

function reference(r: () => number, names: string[]): ReferenceProfile {
  const rows = Array.from({ length: 300 }, () => Object.fromEntries(names.map((n) => [n, normal(r) * 10 + 3])));
  const predictions = rows.map(() => ({ label: r() < 0.5 ? 'a' : 'b', p_0: r() }));
  return buildReference({ model: 'm', version: '1', source: 'test', createdAtMs: 0, rows, predictions, bins: 10, sketchK: 64, maxCategories: 10 });
}

test('kllUpdateStrided leaves the sketch as kllUpdate one value at a time does, bit for bit', () => {
  const r = mulberry32(11);
  for (let t = 0; t < 60; t++) {
    const k = [8, 16, 200][t % 3]!;
    const stride = 1 + (t % 4);
    const a = emptyKll(k, t + 1);
    const b = emptyKll(k, t + 1);
    for (let batch = 0; batch < 4; batch++) {
      const n = Math.floor(r() * 3000);
      const values = Float64Array.from({ length: n * stride }, () => value(r));
      const offset = t % stride;
      const count = Math.max(0, n - (offset > 0 ? 1 : 0));
      for (let i = 0; i < count; i++) kllUpdate(a, values[offset + i * stride]!);
      kllUpdateStrided(b, values, offset, stride, count);
      assert.deepStrictEqual(b, a, `case ${t} batch ${batch}`);
    }
    assert.ok(a.levels.length > 1 || a.n < 2 * k, 'the cases reach compaction');
  }
});

test('observeColumns on a table gives the window observeRows gives on its rows, bit for bit', () => {
  const r = mulberry32(7);
  let dropped = 0;
  for (let t = 0; t < 80; t++) {
    const width = 1 + Math.floor(r() * 6);
    const names = Array.from({ length: width }, (_, j) => (j === 1 && t % 7 === 0 ? '__proto__' : `c${j}`));
    const ref = t % 2 === 0 ? reference(r, names) : null;
    // A small bound sometimes, so that columns are dropped (and counted) the same way.
    const opts = { sketchK: [8, 32, 200][t % 3]!, maxCategories: 3 + (t % 5), maxFeatures: t % 5 === 0 ? 3 : 512 };
    const a = emptyWindow({ model: 'm', version: '1', startMs: T0, windowSeconds: 60 }, [5, 10]);
    const b = emptyWindow({ model: 'm', version: '1', startMs: T0, windowSeconds: 60 }, [5, 10]);
    for (let batch = 0; batch < 5; batch++) {
      const rows = Math.floor(r() * 400);
      const values = Float64Array.from({ length: rows * width }, () => value(r));
      const labels: Cell[] = Array.from({ length: rows }, () =>
        r() < 0.1 ? null : r() < 0.1 ? r() < 0.5 : ['a', 'b', 'c', 'd', 'e', 'f'][Math.floor(r() * 6)]!,
      );
      const pw = 2;
      const probs = Float64Array.from({ length: rows * pw }, () => r());
      const features: Column[] = names.map((name, j) => ({ kind: 'number', name, values, offset: j, stride: width }));
      const predictions: Column[] = [
        { kind: 'cells', name: 'label', cells: labels },
        { kind: 'number', name: 'p_0', values: probs, offset: 0, stride: pw },
        { kind: 'number', name: 'p_1', values: probs, offset: 1, stride: pw },
      ];
      const featureRows = Array.from({ length: rows }, (_, i) => {
        const row: Record<string, Cell> = {};
        names.forEach((name, j) => Object.defineProperty(row, name, { value: values[i * width + j]!, enumerable: true, writable: true, configurable: true }));
        return row;
      });
      const predictionRows = Array.from({ length: rows }, (_, i) => ({ label: labels[i]!, p_0: probs[i * pw]!, p_1: probs[i * pw + 1]! }));
      observeRows(a, featureRows, predictionRows, ref, opts);
      observeColumns(b, rows, features, predictions, ref, opts);
      assert.deepStrictEqual(b, a, `case ${t} batch ${batch}`);
    }
    dropped += a.droppedFeatures;
    if (ref !== null)
      assert.ok(
        Object.values(a.features).some((f) => f.bins !== null),
        'bins are counted against the reference',
      );
  }
  assert.ok(dropped > 0, 'some cases drop columns beyond maxFeatures');
});

// ---------------------------------------------------------------------------------------------
// The capture differential.

const COLUMNS = ['x0', 'x1', 'x2', 'x3'];

/** A number written as clients write them: integers, short decimals, 17 digits, exponents. */
function numberText(r: () => number): string {
  const u = r();
  if (u < 0.2) return String(Math.floor(r() * 100) - 50);
  if (u < 0.5) return (r() * 100 - 50).toFixed(1 + Math.floor(r() * 3));
  if (u < 0.8) return String(normal(r) * 1000);
  if (u < 0.9) return `${(r() * 9).toFixed(2)}e${Math.floor(r() * 10) - 5}`;
  return '-0';
}

/**
 * A request body of `rows` rows in one of the shapes the lean JSON reader accepts (every one of
 * them: src/protocol/lean-mlflow-json.ts lists them) or CSV, or a near miss of one (a shape the
 * lean reader must leave to the generic path, and the generic path may still read).
 */
/** Shapes 0 to 15 are accepted by the lean JSON reader (6 is CSV), 16 and above are near misses of them. */
const NEAR_MISS = 16;
const SHAPES = 24;

interface RequestBody {
  body: string;
  contentType: string;
  shape: number;
}

function requestBody(r: () => number, rows: number): RequestBody {
  const width = r() < 0.8 ? 4 : 1 + Math.floor(r() * 6);
  // Client-chosen names: the model's, others, a prototype name, and integer-like keys (an object's
  // own keys put those first, in numeric order, whatever the body's order).
  const odd = () => ['constructor', '1', '0', '10', '__proto__', 'x0'][Math.floor(r() * 6)]!;
  const named = width === 4 && r() < 0.8 ? COLUMNS : Array.from({ length: width }, (_, j) => (r() < 0.2 ? odd() : `y${j}`));
  const matrix = Array.from({ length: rows }, () => Array.from({ length: width }, () => numberText(r)));
  // Some bodies the lean codecs refuse (a null, a string, a boolean): those take the generic path.
  if (r() < 0.15 && rows > 0) {
    const odd = ['null', '"7"', 'true', 'NaN'][Math.floor(r() * 4)]!;
    matrix[Math.floor(r() * rows)]![Math.floor(r() * width)] = odd;
  }
  const shape = Math.floor(r() * SHAPES);
  const json = (body: string) => ({ body, contentType: r() < 0.2 ? 'application/json; charset=utf-8' : 'application/json', shape });
  const q = (s: string) => JSON.stringify(s);
  const rowsText = matrix.map((m) => `[${m.join(',')}]`).join(',');
  const records = () => matrix.map((m) => `{${m.map((v, j) => `${q(named[j]!)}:${v}`).join(',')}}`).join(',');
  const scalars = () => matrix.map((m) => m[0]).join(',');
  const columnLists = (cols = named) => cols.map((n, j) => `${q(n)}:[${matrix.map((m) => m[j]).join(',')}]`).join(',');
  const oneRow = (cols = named) => cols.map((n, j) => `${q(n)}:${matrix[0]?.[j] ?? '1'}`).join(',');
  switch (shape) {
    case 0:
      return json(`{"dataframe_split":{"columns":${JSON.stringify(named)},"data":[${rowsText}]}}`);
    case 1:
      return json(`{"dataframe_split":{"data":[${rowsText}]},"params":{"a":[1,{"b":null}]}}`);
    case 2:
      return json(`{"dataframe_records":[${records()}]}`);
    case 3:
      return json(`{"instances":[${rowsText}]}`);
    case 4:
      return json(`{"inputs":[${records()}]}`);
    case 5:
      return json(`{"instances":[${scalars()}]}`);
    case 6:
      return {
        body: `${named.join(',')}\n${matrix.map((m) => m.map((v) => (v === '"7"' ? '7' : v === 'true' ? 'True' : v === 'null' ? '' : v)).join(',')).join('\n')}\n`,
        contentType: 'text/csv',
        shape,
      };
    // The other accepted shapes.
    case 7:
      return json(`{"dataframe_split":{"columns":null,"data":[${rowsText}],"index":[${matrix.map((_, i) => i).join(',')}]}}`);
    case 8:
      return json(`{"dataframe_records":[${rowsText}]}`);
    case 9:
      return json(`{"dataframe_records":[${scalars()}]}`);
    case 10:
      return json(`{"instances":[${records()}]}`);
    case 11:
      return json(`{"inputs":[${rowsText}],"params":{"k":1}}`);
    case 12:
      return json(`{"inputs":[${scalars()}]}`);
    case 13:
      return json(`{"inputs":{${columnLists()}}}`);
    case 14:
      return json(`{"instances":{${columnLists()}}}`);
    case 15:
      // One row as a mapping of scalars (padded with an ignored key to reach the lean path's size).
      return json(`{"${r() < 0.5 ? 'instances' : 'inputs'}":{${oneRow()}},"pad":"${'x'.repeat(300)}"}`);
    // Near misses: each close to an accepted shape, left to the generic path by the lean reader.
    case 16:
      // A column map with one column a value shorter, or a scalar among the lists (repeated by the generic path).
      return json(
        r() < 0.5
          ? `{"inputs":{${columnLists()},"z":[${matrix
              .slice(1)
              .map((m) => m[0])
              .join(',')}]}}`
          : `{"inputs":{${columnLists()},"z":7}}`,
      );
    case 17:
      // A column map with an empty list, a nested list, or a repeated key.
      return json(
        [`{"inputs":{${columnLists()},"z":[]}}`, `{"instances":{${columnLists()},"z":[[1],[2]]}}`, `{"inputs":{${columnLists()},${columnLists()}}}`][
          Math.floor(r() * 3)
        ]!,
      );
    case 18:
      // A column map under dataframe_records or dataframe_split (not a table there).
      return json(r() < 0.5 ? `{"dataframe_records":{${columnLists()}}}` : `{"dataframe_split":{${columnLists()}}}`);
    case 19:
      // Records whose keys differ in order or number from the first's.
      return json(
        `{"${r() < 0.5 ? 'instances' : 'dataframe_records'}":[${records()}${
          rows > 0
            ? `,{${[...named]
                .reverse()
                .map((n, j) => `${q(n)}:${j}`)
                .join(',')},"zz":0}`
            : ''
        }]}`,
      );
    case 20:
      // Ragged rows, or rows mixed with scalars.
      return json(`{"${r() < 0.5 ? 'inputs' : 'dataframe_records'}":[${rowsText}${rows > 0 ? (r() < 0.5 ? ',[1,2,3,4,5,6,7]' : ',1') : ''}]}`);
    case 21:
      // A dataframe_split whose index or columns disagree with the data.
      return json(
        r() < 0.5
          ? `{"dataframe_split":{"columns":${JSON.stringify(named)},"data":[${rowsText}],"index":[${matrix.map((_, i) => i).join(',')},-1]}}`
          : `{"dataframe_split":{"columns":${JSON.stringify([...named, 'extra'])},"data":[${rowsText}]}}`,
      );
    case 22:
      // Two input keys, or an LLM key beside one.
      return json(r() < 0.5 ? `{"inputs":[${rowsText}],"instances":[${rowsText}]}` : `{"inputs":{${columnLists()}},"prompt":"hi"}`);
    default:
      // Empty tables and mappings, padded to reach the lean path's size.
      return json(`{${['"inputs":{}', '"instances":[]', '"dataframe_split":{"data":[]}', '"inputs":[[]]'][Math.floor(r() * 4)]},"pad":"${'x'.repeat(300)}"}`);
  }
}

const LABELS = ['drizzle', 'rain', 'sun', 'snow', 'fog'];

function responseBody(r: () => number, rows: number): string {
  const n = r() < 0.05 ? rows + 1 : rows; // a count that does not match: no predictions
  const probs = () => {
    const p = LABELS.map(() => r());
    const s = p.reduce((a, b) => a + b, 0);
    return p.map((v) => Math.fround(v / s));
  };
  switch (Math.floor(r() * 8)) {
    case 0:
      return JSON.stringify({ predictions: Array.from({ length: n }, () => normal(r)) });
    case 1:
      return JSON.stringify({ predictions: Array.from({ length: n }, () => LABELS[Math.floor(r() * 5)]) });
    case 2:
      return JSON.stringify(Array.from({ length: n }, () => ({ label: LABELS[Math.floor(r() * 5)], probabilities: probs() })));
    case 3:
      // Nulls and a key that differs in one row: the generic reading of the answer.
      return JSON.stringify({
        predictions: Array.from({ length: n }, (_, i) => (i === n - 1 && r() < 0.5 ? { other: 1 } : { label: r() < 0.1 ? null : 'a', score: r() })),
      });
    case 4:
      return JSON.stringify({ predictions: { label: Array.from({ length: n }, () => LABELS[Math.floor(r() * 5)]) } });
    case 5:
      return r() < 0.5 ? '{"predictions": [' : 'not json';
    case 6:
      return JSON.stringify({
        predictions: Array.from({ length: n }, () => ({ label: LABELS[Math.floor(r() * 5)], probabilities: probs(), probabilities_0: 1 })),
      });
    default:
      return JSON.stringify({
        predictions: Array.from({ length: n }, () => ({ label: LABELS[Math.floor(r() * 5)], probabilities: probs(), flag: r() < 0.5 })),
      });
  }
}

/** Generated events, each with the shape of its request body. */
function events(seed: number, n: number): Array<{ e: InferenceEvent; shape: number }> {
  const r = mulberry32(seed);
  return Array.from({ length: n }, (_, i) => {
    const rows = r() < 0.3 ? 1 : Math.floor(r() * 120);
    const { body, contentType, shape } = requestBody(r, rows);
    const res = Buffer.from(responseBody(r, rows));
    const e: InferenceEvent = {
      requestId: `req-${i}`,
      startedAtMs: T0 + i * 50,
      method: 'POST',
      path: '/invocations',
      model: 'm',
      version: '1',
      route: 'invocations',
      status: r() < 0.05 ? 400 : 200,
      upstreamMs: 1,
      totalMs: 2,
      requestBytes: body.length,
      responseBytes: res.length,
      request: { bytes: Buffer.from(body), contentType, contentEncoding: 'identity' },
      response: { bytes: res, contentType: 'application/json', contentEncoding: 'identity' },
      skipped: null,
    };
    return { e, shape };
  });
}

const silent = { debug() {}, info() {}, warn() {}, error() {} } as never;

/** `known`: the model's columns are known (names filter client columns); `maxFeatures`: the window's bound. */
function pipeline(lean: boolean, ref: ReferenceProfile, labels: boolean, idColumn: string | null, known = true, maxFeatures = 512) {
  const written: WindowProfile[] = [];
  const records: PredictionRecord[] = [];
  const counts = { rows: 0, unparseable: new Map<string, number>() };
  const summary = new TrafficSummary(T0);
  const profiler = new WindowProfiler({
    config: {
      windowSeconds: 60,
      flushIntervalMs: 3_600_000,
      sketchK: 32,
      maxCategories: 10,
      maxFeatures,
      latencySloMs: [],
      referenceSketchK: 64,
      referenceBins: 10,
    },
    store: { describe: 'test', writeWindows: async (d: readonly WindowProfile[]) => void written.push(...d) },
    logger: silent,
    referenceFor: () => ref,
    now: () => T0,
  });
  const deps: ProcessEventDeps = {
    summary,
    profiler,
    extract: { maxDecompressedBytes: 1 << 20, maxColumns: 5 },
    columnsFor: () => (known ? COLUMNS : null),
    logger: silent,
    lean,
    counts: {
      unparseable: (reason) => counts.unparseable.set(reason, (counts.unparseable.get(reason) ?? 0) + 1),
      rows: (_m, n) => {
        counts.rows += n;
      },
    },
    predictions: labels
      ? {
          options: { idColumn, predictionColumn: null, probabilitiesColumn: 'probabilities', classes: LABELS, task: 'auto' },
          add: (rs) => void records.push(...rs),
        }
      : undefined,
  };
  return { deps, summary, profiler, written, records, counts };
}

for (const [name, labels, idColumn, known, maxFeatures] of [
  ['without the prediction log', false, null, true, 512],
  ['with the prediction log', true, null, true, 512],
  ['with the prediction log and an id column', true, 'x0', true, 512],
  // Every client column a feature (integer-like names among them), and a window bound that drops some.
  ['model columns unknown', true, null, false, 512],
  ['model columns unknown, 3 features a window', false, null, false, 3],
] as const) {
  test(`lean and generic capture of the same events give the same summary, windows and records (${name})`, async () => {
    const r = mulberry32(3);
    const ref = reference(r, COLUMNS);
    const lean = pipeline(true, ref, labels, idColumn, known, maxFeatures);
    const generic = pipeline(false, ref, labels, idColumn, known, maxFeatures);
    let taken = 0;
    let tableAnswers = 0;
    const takenShapes = new Set<number>();
    for (const { e, shape } of events(labels ? 101 : 202, 1200)) {
      const x = extractColumns(e, lean.deps.extract, COLUMNS, '1');
      if (x !== null) {
        taken++;
        takenShapes.add(shape);
        if (x.ok && x.value.predictionColumns !== null) tableAnswers++;
      }
      // A near miss is the generic path's, whatever its size.
      if (shape >= NEAR_MISS) assert.equal(decodeLeanMlflowJson(e.request!.bytes), null, e.request!.bytes.toString());
      processEvent(e, lean.deps);
      processEvent(e, generic.deps);
    }
    await lean.profiler.stop();
    await generic.profiler.stop();
    // The lean path must carry most of the events, and read most answers as columns, or this test proves nothing.
    assert.ok(taken > 400, `lean path taken for ${taken} of 1200 events`);
    assert.ok(tableAnswers > 100, `answers read as columns: ${tableAnswers}`);
    // Every accepted shape went through the lean path, and no near miss did.
    assert.deepStrictEqual(
      [...takenShapes].sort((a, b) => a - b),
      Array.from({ length: NEAR_MISS }, (_, k) => k),
    );
    assert.deepStrictEqual(lean.summary.toJSON(), generic.summary.toJSON());
    assert.deepStrictEqual(lean.written, generic.written);
    assert.ok(generic.written.length > 0 && generic.written.some((w) => w.rows > 0));
    assert.deepStrictEqual(lean.records, generic.records);
    if (labels) assert.ok(generic.records.length > 0);
    assert.deepStrictEqual(lean.counts, generic.counts);
    assert.ok((generic.counts.unparseable.get('too_many_columns') ?? 0) > 0, 'the column bound is exercised');
    assert.ok((generic.counts.unparseable.get('unparseable_response') ?? 0) > 0, 'bad answers are exercised');
    if (maxFeatures < 512)
      assert.ok(
        generic.written.some((w) => w.droppedFeatures > 0),
        'the window bound drops columns',
      );
    else if (!known)
      assert.ok(
        generic.written.some((w) => Object.hasOwn(w.features, '1') || Object.hasOwn(w.features, '0')),
        'integer-like names become features',
      );
  });
}

test('named edge cases read the same both ways: repeated and prototype column names, CSV headers, positional columns', async () => {
  const r = mulberry32(9);
  const ref = reference(r, COLUMNS);
  const lean = pipeline(true, ref, true, null);
  const generic = pipeline(false, ref, true, null);
  const rows = (n: number, w: number) => Array.from({ length: n }, (_, i) => Array.from({ length: w }, (_, j) => i * 10 + j + 0.5));
  const answer = JSON.stringify({ predictions: Array.from({ length: 40 }, (_, i) => ({ label: LABELS[i % 5], probabilities: [0.25, 0.75] })) });
  const bodies: Array<[string, string]> = [
    [JSON.stringify({ dataframe_split: { columns: ['x0', 'x1', 'x0', 'x3'], data: rows(40, 4) } }), 'application/json'],
    [JSON.stringify({ dataframe_split: { columns: ['x0', '__proto__', 'toString', 'x3'], data: rows(40, 4) } }), 'application/json'],
    [JSON.stringify({ dataframe_split: { columns: ['x0', 'x1', 'unknown', 'x3'], data: rows(40, 4) } }), 'application/json'],
    [JSON.stringify({ instances: rows(40, 6) }), 'application/json'],
    [
      `x0,x0,,x3\n${rows(40, 4)
        .map((x) => x.join(','))
        .join('\n')}\n`,
      'text/csv',
    ],
  ];
  let taken = 0;
  for (const [i, [body, contentType]] of bodies.entries()) {
    const e: InferenceEvent = {
      requestId: `edge-${i}`,
      startedAtMs: T0 + i,
      method: 'POST',
      path: '/invocations',
      model: 'm',
      version: '1',
      route: 'invocations',
      status: 200,
      upstreamMs: 1,
      totalMs: 2,
      requestBytes: body.length,
      responseBytes: answer.length,
      request: { bytes: Buffer.from(body), contentType, contentEncoding: 'identity' },
      response: { bytes: Buffer.from(answer), contentType: 'application/json', contentEncoding: 'identity' },
      skipped: null,
    };
    if (extractColumns(e, { maxDecompressedBytes: 1 << 20 }, COLUMNS, '1') !== null) taken++;
    processEvent(e, { ...lean.deps, extract: { maxDecompressedBytes: 1 << 20 } });
    processEvent(e, { ...generic.deps, extract: { maxDecompressedBytes: 1 << 20 } });
  }
  await lean.profiler.stop();
  await generic.profiler.stop();
  assert.ok(taken >= 4, `lean path taken for ${taken} of ${bodies.length}`);
  assert.deepStrictEqual(lean.summary.toJSON(), generic.summary.toJSON());
  assert.deepStrictEqual(lean.written, generic.written);
  assert.deepStrictEqual(lean.records, generic.records);
  assert.deepStrictEqual(lean.counts, generic.counts);
  assert.equal(generic.counts.rows, 200);
});
