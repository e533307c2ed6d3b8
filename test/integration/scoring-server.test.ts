/**
 * The scoring server with the real example model on onnxruntime, on port 0, answering every MLflow
 * input format and the Open Inference Protocol. Expected values come from an independent path:
 * the same model file run directly through onnxruntime.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import ort from 'onnxruntime-node';
import { join } from 'node:path';
import { LocalRegistry } from '../../src/registry/local-registry.js';
import { header, RawConn } from '../fixtures/raw-http.js';
import { EXAMPLE_MODEL_DIR, FEATURES, postJson, startServer, tempDir, variantModel, weatherRows, type RunningServer } from '../helpers.js';

const rows = weatherRows('2014-01-01', '2014-01-20').map((r) => r.features);
let direct: { label: string[]; probabilities: Float32Array };
let srv: RunningServer;
const tmp = tempDir();

before(async () => {
  const session = await ort.InferenceSession.create(join(EXAMPLE_MODEL_DIR, 'model.onnx'));
  const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, 4]) });
  direct = { label: out.label!.data as string[], probabilities: out.probabilities!.data as Float32Array };
  await session.release();
  const reg = new LocalRegistry(join(tmp.dir, 'registry'));
  const mv = await reg.createModelVersion({ name: 'weather', sourceDir: EXAMPLE_MODEL_DIR });
  await reg.transitionStage('weather', mv.version, 'Production');
  const tensorDir = variantModel(tmp.dir, 'tensor-model', (m) =>
    m.replace(
      /signature:\n(.*\n)*? {2}params: null\n/,
      `signature:\n  inputs: '[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]'\n  outputs: null\n  params: null\n`,
    ),
  );
  srv = await startServer({
    registryRoot: join(tmp.dir, 'registry'),
    models: [{ uri: 'models:/weather/Production' }, { uri: tensorDir, name: 'tensor' }],
  });
});
after(async () => {
  await srv?.close();
  tmp.cleanup();
});

function checkRecords(predictions: any[]): void {
  assert.equal(predictions.length, rows.length);
  predictions.forEach((p, i) => {
    assert.equal(p.label, direct.label[i], `row ${i} label`);
    assert.equal(p.probabilities.length, 5);
    p.probabilities.forEach((v: number, k: number) => assert.equal(Math.fround(v), direct.probabilities[i * 5 + k], `row ${i} class ${k}`));
  });
}

describe('MLflow scoring protocol', () => {
  test('dataframe_split', async () => {
    const r = await postJson(srv.url + '/invocations', { dataframe_split: { columns: FEATURES, data: rows } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-driftwatch-model-version'), '1');
    checkRecords(r.json.predictions);
  });

  test('dataframe_split with shuffled columns and an extra one', async () => {
    const cols = ['wind', 'zzz', ...FEATURES.slice(0, 3).reverse()];
    const data = rows.map((r) => [r[3], 'ignored', r[2], r[1], r[0]]);
    const r = await postJson(srv.url + '/invocations', { dataframe_split: { columns: cols, data } });
    assert.equal(r.status, 200);
    checkRecords(r.json.predictions);
  });

  test('dataframe_records with numbers as strings (lenient cast)', async () => {
    const records = rows.map((r) => Object.fromEntries(FEATURES.map((f, j) => [f, String(r[j])])));
    const r = await postJson(srv.url + '/invocations', { dataframe_records: records });
    assert.equal(r.status, 200);
    checkRecords(r.json.predictions);
  });

  test('instances (rows) and inputs (columns)', async () => {
    const a = await postJson(srv.url + '/invocations', { instances: rows });
    assert.equal(a.status, 200);
    checkRecords(a.json.predictions);
    const cols = Object.fromEntries(FEATURES.map((f, j) => [f, rows.map((r) => r[j])]));
    const b = await postJson(srv.url + '/invocations', { inputs: cols, params: {} });
    assert.equal(b.status, 200);
    checkRecords(b.json.predictions);
  });

  test('text/csv', async () => {
    const csv = [FEATURES.join(','), ...rows.map((r) => r.join(','))].join('\n') + '\n';
    const res = await fetch(srv.url + '/invocations', { method: 'POST', headers: { 'content-type': 'text/csv; charset=utf-8' }, body: csv });
    assert.equal(res.status, 200);
    checkRecords(((await res.json()) as any).predictions);
  });

  test('schema failures are 400 INVALID_PARAMETER_VALUE naming the columns', async () => {
    const r = await postJson(srv.url + '/invocations', { dataframe_split: { columns: ['precipitation', 'wind'], data: [[1, 2]] } });
    assert.equal(r.status, 400);
    assert.equal(r.json.error_code, 'INVALID_PARAMETER_VALUE');
    assert.match(r.json.message, /missing inputs \['temp_max', 'temp_min'\]/);
    const bad = await postJson(srv.url + '/invocations', { dataframe_split: { columns: FEATURES, data: [[1, 'warm', 3, 4]] } });
    assert.equal(bad.status, 400);
    assert.match(bad.json.message, /column temp_max row 0/);
  });

  test('unparseable input is 400 BAD_REQUEST, wrong content type 415', async () => {
    const r = await postJson(srv.url + '/invocations', '{"dataframe_split": ');
    assert.equal(r.status, 400);
    assert.equal(r.json.error_code, 'BAD_REQUEST');
    const two = await postJson(srv.url + '/invocations', { instances: [], inputs: [] });
    assert.equal(two.status, 400);
    assert.match(two.json.message, /exactly one of/);
    const res = await fetch(srv.url + '/invocations', { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<a/>' });
    assert.equal(res.status, 415);
    const body = (await res.json()) as any;
    assert.equal(body.error_code, 'BAD_REQUEST');
    assert.match(body.message, /text\/csv/);
  });

  test('an empty frame gets an empty answer', async () => {
    const r = await postJson(srv.url + '/invocations', { dataframe_split: { columns: FEATURES, data: [] } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { predictions: [] });
  });

  test('tensor signature answers a dict of arrays', async () => {
    // The tensor model is not the default; reach it through its own name via OIP, and check dict
    // output through a dedicated server below.
    const r = await postJson(srv.url + '/v2/models/tensor/infer', { inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: rows.slice(0, 2) }] });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.outputs[0].data, direct.label.slice(0, 2));
  });

  test('health, ping, version and method errors', async () => {
    for (const p of ['/ping', '/health']) assert.equal((await fetch(srv.url + p)).status, 200);
    const v = await fetch(srv.url + '/version');
    assert.match(await v.text(), /^\d+\.\d+\.\d+/);
    const g = await fetch(srv.url + '/invocations');
    assert.equal(g.status, 405);
    assert.equal(((await g.json()) as any).error_code, 'BAD_REQUEST');
    const nf = await fetch(srv.url + '/nothing-here');
    assert.equal(nf.status, 404);
    assert.equal(((await nf.json()) as any).error_code, 'ENDPOINT_NOT_FOUND');
  });
});

describe('Open Inference Protocol v2', () => {
  test('columns as named inputs, answer as named outputs', async () => {
    const inputs = FEATURES.map((f, j) => ({ name: f, shape: [rows.length], datatype: 'FP64', data: rows.map((r) => r[j]) }));
    const r = await postJson(srv.url + '/v2/models/weather/infer', { id: 'req-1', inputs });
    assert.equal(r.status, 200);
    assert.equal(r.json.model_name, 'weather');
    assert.equal(r.json.model_version, '1');
    assert.equal(r.json.id, 'req-1');
    const label = r.json.outputs.find((o: any) => o.name === 'label');
    const probs = r.json.outputs.find((o: any) => o.name === 'probabilities');
    assert.deepEqual(label, { name: 'label', datatype: 'BYTES', shape: [rows.length], data: direct.label });
    assert.deepEqual(probs.shape, [rows.length, 5]);
    assert.equal(probs.datatype, 'FP32');
    probs.data.forEach((v: number, k: number) => assert.equal(Math.fround(v), direct.probabilities[k]));
  });

  test('the graph input as one tensor, one requested output, version path', async () => {
    const r = await postJson(srv.url + '/v2/models/weather/versions/1/infer', {
      inputs: [{ name: 'input', shape: [rows.length, 4], datatype: 'FP32', data: rows.flat() }],
      outputs: [{ name: 'label' }],
    });
    assert.equal(r.status, 200);
    assert.equal(r.json.outputs.length, 1);
    assert.deepEqual(r.json.outputs[0].data, direct.label);
  });

  test('errors are {"error"} with 4xx', async () => {
    const cases: Array<[string, unknown, number, RegExp]> = [
      ['/v2/models/weather/infer', { inputs: [] }, 400, /non-empty list/],
      ['/v2/models/weather/infer', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3] }] }, 400, /holds 4 values, "data" has 3/],
      ['/v2/models/weather/infer', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FLOAT', data: [1, 2, 3, 4] }] }, 400, /datatype/],
      [
        '/v2/models/weather/infer',
        { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }], outputs: [{ name: 'nope' }] },
        400,
        /unknown outputs/,
      ],
      [
        '/v2/models/weather/versions/7/infer',
        { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] },
        404,
        /version 7 is not served/,
      ],
      ['/v2/models/ghost/infer', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }, 404, /no such model/],
    ];
    for (const [path, body, status, re] of cases) {
      const r = await postJson(srv.url + path, body);
      assert.equal(r.status, status, path + JSON.stringify(body));
      assert.equal(typeof r.json.error, 'string');
      assert.match(r.json.error, re);
    }
  });

  test('health, server and model metadata, readiness', async () => {
    assert.deepEqual(await (await fetch(srv.url + '/v2/health/live')).json(), { live: true });
    assert.deepEqual(await (await fetch(srv.url + '/v2/health/ready')).json(), { ready: true });
    const meta = (await (await fetch(srv.url + '/v2/models/weather')).json()) as any;
    assert.equal(meta.name, 'weather');
    assert.deepEqual(meta.versions, ['1']);
    assert.deepEqual(
      meta.inputs.map((i: any) => i.name),
      FEATURES,
    );
    assert.deepEqual(
      meta.outputs.map((o: any) => [o.name, o.datatype]),
      [
        ['label', 'BYTES'],
        ['probabilities', 'FP32'],
      ],
    );
    assert.deepEqual(await (await fetch(srv.url + '/v2/models/weather/ready')).json(), { name: 'weather', ready: true });
    const missing = await fetch(srv.url + '/v2/models/ghost');
    assert.equal(missing.status, 404);
    assert.match(((await missing.json()) as any).error, /ghost not found/);
    const server = (await (await fetch(srv.url + '/v2')).json()) as any;
    assert.equal(server.name, 'driftwatch');
  });
});

describe('tensor-signature model as the default', () => {
  test('instances and inputs answer dict of arrays; shape errors are 400', async () => {
    const t = tempDir();
    const dir = variantModel(t.dir, 'tm', (m) =>
      m.replace(
        /signature:\n(.*\n)*? {2}params: null\n/,
        `signature:\n  inputs: '[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]'\n  outputs: null\n  params: null\n`,
      ),
    );
    const s = await startServer({ registryRoot: join(t.dir, 'reg'), models: [{ uri: dir }], admin: { enabled: false } });
    try {
      const a = await postJson(s.url + '/invocations', { instances: rows.slice(0, 3) });
      assert.equal(a.status, 200);
      assert.deepEqual(a.json.predictions.label, direct.label.slice(0, 3));
      assert.equal(a.json.predictions.probabilities.length, 3);
      const b = await postJson(s.url + '/invocations', { inputs: { input: rows.slice(0, 2) } });
      assert.deepEqual(b.json.predictions.label, direct.label.slice(0, 2));
      const c = await postJson(s.url + '/invocations', { inputs: [[1, 2, 3]] });
      assert.equal(c.status, 400);
      assert.equal(c.json.error_code, 'INVALID_PARAMETER_VALUE');
      assert.match(c.json.message, /Shape of input \(1, 3\) does not match expected shape \(-1, 4\)/);
    } finally {
      await s.close();
      t.cleanup();
    }
  });
});

describe('limits', () => {
  test('a body over maxBodyBytes is 413 with a JSON error, and the server keeps answering', async () => {
    const t = tempDir();
    const s = await startServer({
      registryRoot: join(t.dir, 'reg'),
      models: [{ uri: EXAMPLE_MODEL_DIR }],
      serve: { maxBodyBytes: 4096 },
      admin: { enabled: false },
    });
    try {
      const big = { dataframe_split: { columns: FEATURES, data: Array.from({ length: 500 }, () => [1, 2, 3, 4]) } };
      const r = await postJson(s.url + '/invocations', big);
      assert.equal(r.status, 413);
      assert.match(r.json.message, /exceeds the limit of 4096 bytes/);
      const ok = await postJson(s.url + '/invocations', { instances: [[1, 2, 3, 4]] });
      assert.equal(ok.status, 200);
    } finally {
      await s.close();
      t.cleanup();
    }
  });
});

describe('micro-batching', () => {
  test('concurrent requests are batched and each gets exactly its own answer', async () => {
    const t = tempDir();
    const s = await startServer({
      registryRoot: join(t.dir, 'reg'),
      models: [{ uri: EXAMPLE_MODEL_DIR, name: 'weather' }],
      serve: { batching: { enabled: true, maxBatchRows: 64, maxWaitMs: 2 } },
      admin: { enabled: false },
    });
    try {
      // 200 requests of 1-3 rows each, in flight together.
      const reqs = Array.from({ length: 200 }, (_, k) => rows.slice(k % rows.length, (k % rows.length) + 1 + (k % 3)));
      const answers = await Promise.all(reqs.map((r) => postJson(s.url + '/invocations', { dataframe_split: { columns: FEATURES, data: r } })));
      answers.forEach((a, k) => {
        assert.equal(a.status, 200);
        const start = k % rows.length;
        assert.equal(a.json.predictions.length, reqs[k]!.length);
        a.json.predictions.forEach((p: any, i: number) => {
          assert.equal(p.label, direct.label[start + i]);
          p.probabilities.forEach((v: number, c: number) => assert.equal(Math.fround(v), direct.probabilities[(start + i) * 5 + c]));
        });
      });
      const stats = s.app.models.get('weather')!.current!.batcher!.stats;
      assert.ok(stats.batches < stats.requests, `requests were batched: ${JSON.stringify(stats)}`);
    } finally {
      await s.close();
      t.cleanup();
    }
  });
});

describe('a graph with a free second dimension (no signature)', () => {
  test('batched requests of different widths each get their own sums; lying shapes are 400', async () => {
    const { writeRowSumModel } = await import('../dynamic-model.js');
    const t = tempDir();
    const dir = writeRowSumModel(join(t.dir, 'rowsum'));
    const s = await startServer({ registryRoot: join(t.dir, 'reg'), models: [{ uri: dir, name: 'rowsum' }], admin: { enabled: false } });
    try {
      const reqs = Array.from({ length: 120 }, (_, k) =>
        Array.from({ length: 1 + (k % 3) }, (_, r) => Array.from({ length: 3 + (k % 5) }, (_, j) => k + r + j)),
      );
      const answers = await Promise.all(reqs.map((x) => postJson(s.url + '/invocations', { inputs: { x } })));
      answers.forEach((a, k) => {
        assert.equal(a.status, 200, JSON.stringify(a.json));
        assert.deepEqual(
          a.json.predictions.s,
          reqs[k]!.map((row) => row.reduce((p, v) => p + v, 0)),
        );
      });
      const lying = [Array.from({ length: 20_000 }, () => 1), ...Array.from({ length: 50_000 }, () => [])];
      const bad = await postJson(s.url + '/invocations', { inputs: { x: lying } });
      assert.equal(bad.status, 400);
      assert.match(bad.json.message, /ragged or larger than its data/);
    } finally {
      await s.close();
      t.cleanup();
    }
  });
});

describe('client mistakes against fixed shapes and the OIP contract are 400s', () => {
  test('a [1, 4] graph fed 2 rows; OIP values not of their datatype; repeated outputs; absolute-form target', async () => {
    const { writeRowSumModel } = await import('../dynamic-model.js');
    const t = tempDir();
    const dir = writeRowSumModel(join(t.dir, 'fixed'), [1, 4]);
    const s = await startServer({ registryRoot: join(t.dir, 'reg'), models: [{ uri: dir, name: 'fixed' }], admin: { enabled: false } });
    try {
      const ok = await postJson(s.url + '/invocations', { inputs: { x: [[1, 2, 3, 4]] } });
      assert.equal(ok.status, 200, JSON.stringify(ok.json));
      assert.deepEqual(ok.json.predictions.s, [10]);
      const two = await postJson(s.url + '/invocations', {
        inputs: {
          x: [
            [1, 2, 3, 4],
            [5, 6, 7, 8],
          ],
        },
      });
      assert.equal(two.status, 400);
      assert.match(two.json.message, /Shape of input \(2, 4\) does not match the graph's shape \(1, 4\)/);
      const str = await postJson(s.url + '/v2/models/fixed/infer', { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: ['1', 2, 3, 4] }] });
      assert.equal(str.status, 400);
      assert.match(str.json.error, /value "1" at index 0 is not FP32/);
      const dup = await postJson(s.url + '/v2/models/fixed/infer', {
        inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }],
        outputs: [{ name: 's' }, { name: 's' }],
      });
      assert.equal(dup.status, 400);
      assert.match(dup.json.error, /more than once/);
    } finally {
      await s.close();
      t.cleanup();
    }
    // An absolute-form request target reaches the lean path like an origin-form one.
    const port = Number(new URL(srv.url).port);
    const body = JSON.stringify({ instances: [[0, 12.8, 5, 4.7]] });
    const c = await RawConn.open(port);
    c.write(
      `POST http://127.0.0.1:${port}/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    const reply = await c.response('POST');
    await c.closed;
    assert.equal(c.error, null);
    assert.deepEqual([reply.version, reply.status], ['1.1', 200], reply.body.toString());
  });
});

describe('issue 18: hostile values and slow or half-closing clients', () => {
  let s: RunningServer;
  let port: number;
  const t = tempDir();
  before(async () => {
    // requestTimeoutMs 500: the head timeout is 1.5 s, so the slow-head case is quick.
    s = await startServer({
      registryRoot: join(t.dir, 'reg'),
      models: [{ uri: EXAMPLE_MODEL_DIR, name: 'weather' }],
      serve: { requestTimeoutMs: 500 },
      admin: { enabled: false },
    });
    port = Number(new URL(s.url).port);
  });
  after(async () => {
    await s?.close();
    t.cleanup();
  });

  test('regression: values nested 3,000 to 200,000 levels deep in a record or a row are 400s with a short message, never a 500', async () => {
    const nest = (d: number) => '['.repeat(d) + '1' + ']'.repeat(d);
    const objNest = (d: number) => '{"a":'.repeat(d) + '1' + '}'.repeat(d);
    for (const d of [3000, 5000, 20_000, 200_000]) {
      for (const body of [
        `{"dataframe_records":[{"precipitation":${nest(d)},"temp_max":1,"temp_min":1,"wind":1}]}`,
        `{"dataframe_records":[{"precipitation":${objNest(d)},"temp_max":1,"temp_min":1,"wind":1}]}`,
        `{"dataframe_split":{"columns":${JSON.stringify(FEATURES)},"data":[[1,1,${nest(d)},1]]}}`,
        `{"inputs":{"precipitation":[1],"temp_max":[1],"temp_min":[1],"wind":[${objNest(d)}]}}`,
      ]) {
        const r = await postJson(s.url + '/invocations', body);
        assert.equal(r.status, 400, `depth ${d}: ${body.slice(0, 40)} -> ${JSON.stringify(r.json).slice(0, 200)}`);
        // A list or dict where a double belongs fails MLflow's cast while parsing (astype,
        // convert_data_type): BAD_REQUEST. (MLflow's own json.loads stops at Python's recursion
        // limit, about 1,000 levels, with a bare 500.)
        assert.equal(r.json.error_code, 'BAD_REQUEST');
        assert.match(r.json.message, /^column (precipitation|temp_min|wind) row 0: cannot convert [[{]/);
        assert.ok(r.json.message.length < 300, r.json.message);
      }
    }
    assert.equal((await fetch(s.url + '/ping')).status, 200);
  });

  test('NaN, infinity and overlong numeric text are scored as MLflow scores them (issue 19: a drop-in refuses nothing MLflow accepts)', async () => {
    const record = (v: unknown) => ({ dataframe_records: [{ precipitation: 0, temp_max: v, temp_min: 5, wind: 4.7 }] });
    for (const body of [record('NaN'), record('Infinity'), record('-inf'), record('1e400'), record('9'.repeat(1_000_000)), '{"instances":[[0,1e999,5,4.7]]}']) {
      const r = await postJson(s.url + '/invocations', body);
      assert.equal(r.status, 200, JSON.stringify(r.json).slice(0, 200));
      assert.equal(r.json.predictions.length, 1);
    }
    const csv = await fetch(s.url + '/invocations', {
      method: 'POST',
      headers: { 'content-type': 'text/csv' },
      body: `${FEATURES.join(',')}\n0,12.8,5,4.7\n0,${'1'.repeat(1_000_000)},5,4.7\n`,
    });
    assert.equal(csv.status, 200);
    assert.equal(((await csv.json()) as { predictions: unknown[] }).predictions.length, 2);
    // Text that is no number at all is still refused, naming the column, as MLflow refuses it.
    const text = await postJson(s.url + '/invocations', record('warm'));
    assert.equal(text.status, 400);
    assert.match(text.json.message, /temp_max/);
    // Missing values (null) are scored, as MLflow does.
    const missing = await postJson(s.url + '/invocations', record(null));
    assert.equal(missing.status, 200);
  });

  test('regression: a client that sends a whole request and then half-closes gets its answers', async () => {
    const body = JSON.stringify({ dataframe_split: { columns: FEATURES, data: [[0, 12.8, 5, 4.7]] } });
    const request = `POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    for (const pipelined of [1, 2]) {
      const c = await RawConn.open(port);
      c.write(request.repeat(pipelined));
      c.socket.end(); // FIN after the request: shutdown(SHUT_WR)
      for (let k = 0; k < pipelined; k++) {
        const reply = await c.response('POST', { timeoutMs: 5000 });
        assert.equal(reply.status, 200, reply.body.toString());
        assert.equal(JSON.parse(reply.body.toString()).predictions.length, 1);
      }
      // Then the server ends its side too: nothing waits on a client that has nothing more to say.
      assert.equal((await c.next({ timeoutMs: 5000 })).kind, 'eof');
      c.destroy();
    }
  });

  test('regression: a head still incomplete at the head timeout gets 408 with a JSON body; an oversized head 431', async () => {
    const c = await RawConn.open(port);
    c.write('POST /invocations HTTP/1.1\r\nHost: x\r\n'); // and nothing more
    const started = Date.now();
    const reply = await c.response('POST', { timeoutMs: 10_000 });
    assert.equal(reply.status, 408, reply.body.toString());
    assert.match(String(header(reply, 'content-type')), /application\/json/);
    assert.equal(typeof JSON.parse(reply.body.toString()).message, 'string');
    assert.ok(Date.now() - started < 8000, `answered ${Date.now() - started} ms after the head started`);
    c.destroy();
    const big = await RawConn.open(port);
    big.write(`GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    const tooLarge = await big.response('GET', { timeoutMs: 5000 });
    assert.equal(tooLarge.status, 431);
    assert.equal(typeof JSON.parse(tooLarge.body.toString()).message, 'string');
    big.destroy();
    assert.equal((await fetch(s.url + '/ping')).status, 200);
  });
});
