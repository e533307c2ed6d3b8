import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { extract } from '../../src/capture/extract.js';
import type { InferenceEvent } from '../../src/capture/inference-event.js';
import { TrafficSummary } from '../../src/capture/traffic-summary.js';

function event(route: InferenceEvent['route'], req: string | Buffer, res: string, opts: { ct?: string; enc?: string; status?: number } = {}): InferenceEvent {
  return {
    requestId: 'r', startedAtMs: 0, method: 'POST', path: '/invocations', model: 'm', version: '3', route,
    status: opts.status ?? 200, upstreamMs: 1, totalMs: 2, requestBytes: 0, responseBytes: 0, skipped: null,
    request: { bytes: Buffer.isBuffer(req) ? req : Buffer.from(req), contentType: opts.ct ?? 'application/json', contentEncoding: opts.enc ?? 'identity' },
    response: { bytes: Buffer.from(res), contentType: 'application/json', contentEncoding: 'identity' },
  };
}
const OPTS = { maxDecompressedBytes: 1 << 20 };
const ANSWER = '{"predictions":[{"label":"sun","p":[0.5,0.5]},{"label":"rain","p":[0.1,0.9]}]}';

test('all four MLflow JSON formats and CSV give the same feature rows', () => {
  const want = [{ a: 1, b: 'x' }, { a: 2, b: null }];
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
    assert.deepEqual(r.value.predictions, [{ label: 'sun', p_0: 0.5, p_1: 0.5 }, { label: 'rain', p_0: 0.1, p_1: 0.9 }]);
    assert.equal(r.value.version, '3');
  }
  const csv = extract(event('invocations', 'a,b\n1,x\n2,\n', ANSWER, { ct: 'text/csv' }), OPTS);
  assert.ok(csv.ok);
  assert.deepEqual(csv.value.features, [{ a: 1, b: 'x' }, { a: 2, b: null }], 'CSV numbers are inferred as numbers');
});

test('positional rows take the signature names when known; gzip bodies are decoded on the copy', () => {
  const body = gzipSync(Buffer.from('{"instances":[[1,2],[3,4]]}'));
  const r = extract(event('invocations', body, '{"predictions":{"y":[7,8]}}', { enc: 'gzip' }), { ...OPTS, columnNames: ['a', 'b'] });
  assert.ok(r.ok);
  assert.deepEqual(r.value.features, [{ a: 1, b: 2 }, { a: 3, b: 4 }]);
  assert.deepEqual(r.value.predictions, [{ y: 7 }, { y: 8 }]);
});

test('Open Inference requests and responses: one input per feature, or a matrix', () => {
  const req = '{"inputs":[{"name":"a","shape":[2],"datatype":"FP32","data":[1,2]},{"name":"b","shape":[2,1],"datatype":"BYTES","data":["x","y"]}]}';
  const res = '{"model_name":"m","outputs":[{"name":"label","shape":[2],"datatype":"BYTES","data":["sun","rain"]}]}';
  const r = extract(event('infer', req, res), OPTS);
  assert.ok(r.ok);
  assert.deepEqual(r.value.features, [{ a: 1, b: 'x' }, { a: 2, b: 'y' }]);
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
  s.observeRows('m', '1', [{ a: 1, c: 'x' }, { a: 3, c: 'y' }, { a: null, c: 'x' }], [{ label: 'sun' }]);
  const view = s.toJSON().models[0]!;
  assert.equal(view.rows, 3);
  assert.deepEqual(view.features.a, { count: 3, missing: 1, numeric: { n: 2, mean: 2, std: Math.SQRT2, min: 1, max: 3 }, categories: null, other_categories: 0 });
  assert.deepEqual(view.features.c!.categories, { x: 2, y: 1 });
  const many = Array.from({ length: 100 }, (_, i) => ({ c: 'v' + i }));
  s.observeRows('m', '1', many, []);
  const c = s.toJSON().models[0]!.features.c!;
  assert.equal(Object.keys(c.categories!).length, 32);
  assert.equal(c.other_categories, 100 - 30);
});

test('names from traffic such as __proto__ and constructor stay ordinary own columns', () => {
  const body = '{"dataframe_split":{"columns":["__proto__","constructor","a"],"data":[[1,2,3]]}}';
  const answer = '{"predictions":[{"__proto__":[0.25,0.75],"toString":"x"}]}';
  const r = extract(event('invocations', body, answer), OPTS);
  assert.ok(r.ok);
  const row = r.value.features[0]!;
  assert.deepEqual(Object.keys(row), ['__proto__', 'constructor', 'a']);
  assert.equal(Object.getPrototypeOf(row), Object.prototype, 'the prototype is untouched');
  assert.equal(Object.getOwnPropertyDescriptor(row, '__proto__')?.value, 1);
  const pred = r.value.predictions[0]!;
  assert.deepEqual(Object.keys(pred), ['__proto___0', '__proto___1', 'toString']);
  assert.equal(pred.toString, 'x');
  const records = extract(event('invocations', '{"dataframe_records":[{"__proto__":5,"b":1}]}', '{"predictions":[1]}'), OPTS);
  assert.ok(records.ok);
  assert.deepEqual(Object.keys(records.value.features[0]!), ['__proto__', 'b']);
  assert.equal(Object.getPrototypeOf(records.value.features[0]!), Object.prototype);
});
