import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { extract } from '../../src/capture/extract.js';
import type { InferenceEvent } from '../../src/capture/inference-event.js';
import { processEvent } from '../../src/capture/process-event.js';
import { TrafficSummary } from '../../src/capture/traffic-summary.js';
import { createLogger } from '../../src/telemetry/logger.js';

function event(route: InferenceEvent['route'], req: string | Buffer, res: string, opts: { ct?: string; enc?: string; status?: number } = {}): InferenceEvent {
  return {
    requestId: 'r',
    startedAtMs: 0,
    method: 'POST',
    path: '/invocations',
    model: 'm',
    version: '3',
    route,
    status: opts.status ?? 200,
    upstreamMs: 1,
    totalMs: 2,
    requestBytes: 0,
    responseBytes: 0,
    skipped: null,
    request: { bytes: Buffer.isBuffer(req) ? req : Buffer.from(req), contentType: opts.ct ?? 'application/json', contentEncoding: opts.enc ?? 'identity' },
    response: { bytes: Buffer.from(res), contentType: 'application/json', contentEncoding: 'identity' },
  };
}
const OPTS = { maxDecompressedBytes: 1 << 20 };
const ANSWER = '{"predictions":[{"label":"sun","p":[0.5,0.5]},{"label":"rain","p":[0.1,0.9]}]}';

test('all four MLflow JSON formats and CSV give the same feature rows', () => {
  const want = [
    { a: 1, b: 'x' },
    { a: 2, b: null },
  ];
  const bodies: Array<[string, string]> = [
    ['{"dataframe_split":{"columns":["a","b"],"data":[[1,"x"],[2,null]]}}', 'application/json'],
    ['{"dataframe_records":[{"a":1,"b":"x"},{"a":2,"b":null}]}', 'application/json'],
    ['{"instances":[{"a":1,"b":"x"},{"a":2,"b":null}]}', 'application/json'],
    ['{"inputs":{"a":[1,2],"b":["x",null]}}', 'application/json'],
  ];
  for (const [body, ct] of bodies) {
    const r = extract(event('invocations', body, ANSWER, { ct }), OPTS);
    assert.ok(r.ok, body);
    assert.deepEqual(r.value.features, want, body);
    // Probability vectors become one numeric column per class, so each can be profiled.
    assert.deepEqual(r.value.predictions, [
      { label: 'sun', p_0: 0.5, p_1: 0.5 },
      { label: 'rain', p_0: 0.1, p_1: 0.9 },
    ]);
    assert.equal(r.value.version, '3');
  }
  const csv = extract(event('invocations', 'a,b\n1,x\n2,\n', ANSWER, { ct: 'text/csv' }), OPTS);
  assert.ok(csv.ok);
  assert.deepEqual(
    csv.value.features,
    [
      { a: 1, b: 'x' },
      { a: 2, b: null },
    ],
    'CSV numbers are inferred as numbers',
  );
});

test('positional rows take the signature names when known; gzip bodies are decoded on the copy', () => {
  const body = gzipSync(Buffer.from('{"instances":[[1,2],[3,4]]}'));
  const r = extract(event('invocations', body, '{"predictions":{"y":[7,8]}}', { enc: 'gzip' }), { ...OPTS, columnNames: ['a', 'b'] });
  assert.ok(r.ok);
  assert.deepEqual(r.value.features, [
    { a: 1, b: 2 },
    { a: 3, b: 4 },
  ]);
  assert.deepEqual(r.value.predictions, [{ y: 7 }, { y: 8 }]);
});

test('Open Inference requests and responses: one input per feature, or a matrix', () => {
  const req = '{"inputs":[{"name":"a","shape":[2],"datatype":"FP32","data":[1,2]},{"name":"b","shape":[2,1],"datatype":"BYTES","data":["x","y"]}]}';
  const res = '{"model_name":"m","outputs":[{"name":"label","shape":[2],"datatype":"BYTES","data":["sun","rain"]}]}';
  const r = extract(event('infer', req, res), OPTS);
  assert.ok(r.ok);
  assert.deepEqual(r.value.features, [
    { a: 1, b: 'x' },
    { a: 2, b: 'y' },
  ]);
  assert.deepEqual(r.value.predictions, [{ label: 'sun' }, { label: 'rain' }]);
  const m = extract(event('infer', '{"inputs":[{"name":"input","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}', res.replace('[2]', '[1]')), OPTS);
  assert.ok(m.ok);
  assert.deepEqual(m.value.features, [{ input_0: 1, input_1: 2, input_2: 3 }]);
});

test('failures are reasons, never exceptions', () => {
  const cases: Array<[InferenceEvent, string]> = [
    [event('invocations', '{nope', ANSWER), 'unparseable_request'],
    [event('invocations', '<xml/>', ANSWER, { ct: 'application/xml' }), 'unsupported_content_type'],
    [event('invocations', 'not gzip', ANSWER, { enc: 'gzip' }), 'decompress_failed'],
    [event('invocations', '{"instances":[[1]]}', 'not json'), 'unparseable_response'],
    [event('infer', '{"inputs":[]}', '{}'), 'unparseable_request'],
    [event('invocations', gzipSync(Buffer.alloc(4 << 20)), ANSWER, { enc: 'gzip' }), 'decompress_failed'], // zip bomb past the bound
  ];
  for (const [e, reason] of cases) {
    const r = extract(e, OPTS);
    assert.deepEqual(r, { ok: false, reason });
  }
  // An error answer still yields the features the client sent, without predictions.
  const r = extract(event('invocations', '{"instances":[[1]]}', '{"error_code":"X"}', { status: 400 }), OPTS);
  assert.ok(r.ok);
  assert.deepEqual(r.value.predictions, []);
});

test('the traffic summary counts, averages and bounds what it keeps', () => {
  const s = new TrafficSummary(0);
  s.observeRows(
    'm',
    '1',
    [
      { a: 1, c: 'x' },
      { a: 3, c: 'y' },
      { a: null, c: 'x' },
    ],
    [{ label: 'sun' }],
  );
  const view = s.toJSON().models[0]!;
  assert.equal(view.rows, 3);
  assert.deepEqual(view.features.a, {
    count: 3,
    missing: 1,
    numeric: { n: 2, mean: 2, std: Math.SQRT2, min: 1, max: 3 },
    categories: null,
    other_categories: 0,
  });
  assert.deepEqual(view.features.c!.categories, { x: 2, y: 1 });
  const many = Array.from({ length: 100 }, (_, i) => ({ c: 'v' + i }));
  s.observeRows('m', '1', many, []);
  const c = s.toJSON().models[0]!.features.c!;
  assert.equal(Object.keys(c.categories!).length, 32);
  assert.equal(c.other_categories, 100 - 30);
});

test('prototype names such as __proto__ and constructor never become features; output names stay ordinary own columns', () => {
  const body = '{"dataframe_split":{"columns":["__proto__","constructor","a"],"data":[[1,2,3]]}}';
  const answer = '{"predictions":[{"__proto__":[0.25,0.75],"toString":"x"}]}';
  const r = extract(event('invocations', body, answer), OPTS);
  assert.ok(r.ok);
  const row = r.value.features[0]!;
  assert.deepEqual(Object.keys(row), ['a']);
  assert.equal(Object.getPrototypeOf(row), Object.prototype, 'the prototype is untouched');
  // Output names are the upstream's, not the client's: kept, as own keys.
  const pred = r.value.predictions[0]!;
  assert.deepEqual(Object.keys(pred), ['__proto___0', '__proto___1', 'toString']);
  assert.equal(pred.toString, 'x');
  const bodies = [
    '{"dataframe_records":[{"__proto__":5,"b":1,"toString":2}]}',
    '{"instances":[{"__proto__":5,"b":1,"prototype":3}]}',
    '{"inputs":{"__proto__":[5],"b":[1],"hasOwnProperty":[4]}}',
    '{"dataframe_split":{"columns":["b","__proto__"],"data":[[1,5]]}}',
  ];
  for (const b of bodies) {
    const rec = extract(event('invocations', b, '{"predictions":[1]}'), OPTS);
    assert.ok(rec.ok, b);
    assert.deepEqual(Object.keys(rec.value.features[0]!), ['b'], b);
    assert.equal(Object.getPrototypeOf(rec.value.features[0]!), Object.prototype, b);
  }
  const csv = extract(event('invocations', 'constructor,b\n1,2\n', '{"predictions":[1]}', { ct: 'text/csv' }), OPTS);
  assert.ok(csv.ok);
  assert.deepEqual(csv.value.features, [{ b: 2 }]);
  const oip = extract(
    event(
      'infer',
      '{"inputs":[{"name":"__proto__","shape":[1],"datatype":"FP32","data":[1]},{"name":"b","shape":[1],"datatype":"FP32","data":[2]}]}',
      '{"outputs":[{"name":"y","shape":[1],"datatype":"FP32","data":[0]}]}',
    ),
    OPTS,
  );
  assert.ok(oip.ok);
  assert.deepEqual(oip.value.features, [{ b: 2 }]);
  assert.equal(Object.getPrototypeOf(oip.value.features[0]!), Object.prototype);
});

test('with known model columns (signature), names the model does not have never become features', () => {
  const known = { ...OPTS, columnNames: ['a', 'b'] };
  const bodies = [
    '{"dataframe_split":{"columns":["a","zzz","b"],"data":[[1,9,2]]}}',
    '{"dataframe_records":[{"a":1,"b":2,"made_up":3}]}',
    '{"instances":[{"a":1,"b":2,"x1":3}]}',
    '{"inputs":{"a":[1],"b":[2],"other":[3]}}',
  ];
  for (const b of bodies) {
    const r = extract(event('invocations', b, '{"predictions":[1]}'), known);
    assert.ok(r.ok, b);
    assert.deepEqual(r.value.features, [{ a: 1, b: 2 }], b);
  }
  const oip = extract(
    event(
      'infer',
      '{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1]},{"name":"junk","shape":[1],"datatype":"FP32","data":[2]}]}',
      '{"outputs":[{"name":"y","shape":[1],"datatype":"FP32","data":[0]}]}',
    ),
    known,
  );
  assert.ok(oip.ok);
  assert.deepEqual(oip.value.features, [{ a: 1 }]);
  // Without known columns, any ordinary name is a feature (a foreign upstream, no signature).
  const open = extract(event('invocations', bodies[1]!, '{"predictions":[1]}'), OPTS);
  assert.ok(open.ok);
  assert.deepEqual(open.value.features, [{ a: 1, b: 2, made_up: 3 }]);
});

test('a cell nested deeper than 32 levels makes the event unparseable, however deep (no RangeError)', () => {
  const nest = (d: number) => '['.repeat(d) + '1' + ']'.repeat(d);
  const objNest = (d: number) => '{"a":'.repeat(d) + '1' + '}'.repeat(d);
  for (const depth of [40, 3000, 5000, 200_000]) {
    const bodies = [
      `{"dataframe_records":[{"a":${nest(depth)}}]}`,
      `{"dataframe_records":[{"a":${objNest(depth)}}]}`,
      `{"dataframe_split":{"columns":["a"],"data":[[${nest(depth)}]]}}`,
      `{"instances":[[${nest(depth)}]]}`,
      `{"inputs":{"a":[${nest(depth)}]}}`,
    ];
    for (const b of bodies) {
      const r = extract(event('invocations', b, '{"predictions":[1]}'), { maxDecompressedBytes: 1 << 24 });
      assert.deepEqual(r, { ok: false, reason: 'unparseable_request' }, `depth ${depth}: ${b.slice(0, 40)}`);
    }
  }
  // Shallow nesting is still a category (its JSON text).
  const ok = extract(event('invocations', '{"dataframe_records":[{"a":[[1,2],[3]]}]}', '{"predictions":[1]}'), OPTS);
  assert.ok(ok.ok);
  assert.deepEqual(ok.value.features, [{ a: '[[1,2],[3]]' }]);
});

test('a /v2 version that is not a plain version token makes no series: the event counts as unparseable', () => {
  const req = '{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1]}]}';
  const res = '{"outputs":[{"name":"y","shape":[1],"datatype":"FP32","data":[0]}]}';
  for (const [version, series] of [
    ['../1', false],
    ['1/2', false],
    ['..', false],
    ['a b', false],
    ['%2e', false],
    ['x'.repeat(200), false],
    ['', false],
    ['3', true],
    ['v1.2.3-rc_1', true],
    ['2024-01-01', true],
  ] as Array<[string, boolean]>) {
    const summary = new TrafficSummary(0);
    const unparseable: string[] = [];
    const e = { ...event('infer', req, res), version };
    processEvent(e, {
      summary,
      extract: OPTS,
      counts: { unparseable: (r) => unparseable.push(r), rows: () => undefined },
      logger: createLogger({ level: 'silent' }),
    });
    const versions = summary.toJSON().models.map((m) => m.version);
    if (series) {
      assert.deepEqual(versions, [version], version);
      assert.deepEqual(unparseable, [], version);
    } else {
      assert.deepEqual(versions, [], version.slice(0, 20));
      assert.deepEqual(unparseable, ['unparseable_request'], version.slice(0, 20));
    }
  }
});
