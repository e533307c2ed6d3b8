/**
 * The Open Inference binary tensor extension end to end: a small client written from the
 * extension's documentation (docs/open-inference.md; bytes built here with Buffer's LE writers,
 * not with driftwatch's codec) against the scoring server on port 0 serving the example model on
 * onnxruntime, then the same traffic through the sidecar (both engines), whose capture must read a
 * binary request as it reads the same request sent as JSON.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import ort from 'onnxruntime-node';
import { BoundedQueue } from '../../src/capture/bounded-queue.js';
import { packBatch, unpackEvent } from '../../src/capture/event-columns.js';
import { extract } from '../../src/capture/extract.js';
import type { InferenceEvent } from '../../src/capture/inference-event.js';
import { loadConfig } from '../../src/config/load.js';
import { createProxyServer, type ProxyServer } from '../../src/proxy/proxy-server.js';
import { LocalRegistry } from '../../src/registry/local-registry.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { createProxyMetrics } from '../../src/telemetry/metrics.js';
import { EXAMPLE_MODEL_DIR, FEATURES, startServer, tempDir, weatherRows, type RunningServer } from '../helpers.js';

const rows = weatherRows('2014-02-01', '2014-02-12').map((r) => r.features);
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
  srv = await startServer({ registryRoot: join(tmp.dir, 'registry'), models: [{ uri: 'models:/weather/Production' }] });
});
after(async () => {
  await srv?.close();
  tmp.cleanup();
});

/* ---------- the test client: from the extension's text, nothing from src/protocol ---------- */

/** FP32 tensor data: little-endian, row-major, no padding. */
function fp32(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeFloatLE(v, i * 4));
  return b;
}

/** The JSON inference request, then each binary tensor in input order; the header gives the JSON's length. */
function binaryRequest(json: unknown, tensors: Buffer[]): { body: Buffer; headers: Record<string, string> } {
  const header = Buffer.from(JSON.stringify(json), 'utf8');
  return {
    body: Buffer.concat([header, ...tensors]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
  };
}

interface Answer {
  status: number;
  headers: Headers;
  json: any;
  /** Binary outputs by name, as raw bytes. */
  binary: Record<string, Buffer>;
}

/** Splits a response at its Inference-Header-Content-Length; binary outputs follow in output order. */
async function post(url: string, body: Buffer | string, headers: Record<string, string>): Promise<Answer> {
  const res = await fetch(url, { method: 'POST', body, headers });
  const bytes = Buffer.from(await res.arrayBuffer());
  const h = res.headers.get('inference-header-content-length');
  const jsonLength = h === null ? bytes.length : Number(h);
  const json = JSON.parse(bytes.subarray(0, jsonLength).toString('utf8'));
  const binary: Record<string, Buffer> = {};
  let at = jsonLength;
  for (const o of json.outputs ?? []) {
    const size = o.parameters?.binary_data_size;
    if (size === undefined) continue;
    binary[o.name] = bytes.subarray(at, at + size);
    at += size;
  }
  if (h !== null) assert.equal(at, bytes.length, 'the binary outputs fill the rest of the body');
  return { status: res.status, headers: res.headers, json, binary };
}

/** BYTES: each element a 4-byte little-endian length, then its bytes. */
function readBytesTensor(b: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at < b.length; ) {
    const n = b.readUInt32LE(at);
    out.push(b.subarray(at + 4, at + 4 + n).toString('utf8'));
    at += 4 + n;
  }
  return out;
}

const readFp32 = (b: Buffer) => Array.from({ length: b.length / 4 }, (_, i) => b.readFloatLE(i * 4));

const inputTensor = (extra: Record<string, unknown> = {}) => ({
  name: 'input',
  shape: [rows.length, 4],
  datatype: 'FP32',
  parameters: { binary_data_size: rows.length * 16 },
  ...extra,
});

function checkProbabilities(values: number[]): void {
  assert.equal(values.length, rows.length * 5);
  values.forEach((v, i) => assert.equal(Math.fround(v), direct.probabilities[i], `probability ${i}`));
}

describe('scoring server: binary requests and responses', () => {
  test('GET /v2 lists the extension', async () => {
    const meta = (await (await fetch(srv.url + '/v2')).json()) as { extensions: string[] };
    assert.deepEqual(meta.extensions, ['binary_tensor_data']);
  });

  test('a binary request, JSON answer', async () => {
    const { body, headers } = binaryRequest({ id: 'b1', inputs: [inputTensor()] }, [fp32(rows.flat())]);
    const r = await post(srv.url + '/v2/models/weather/infer', body, headers);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.match(r.headers.get('content-type') ?? '', /application\/json/);
    assert.equal(r.headers.get('inference-header-content-length'), null);
    assert.equal(r.json.id, 'b1');
    const byName = Object.fromEntries(r.json.outputs.map((o: any) => [o.name, o]));
    assert.deepEqual(byName.label.data, direct.label);
    checkProbabilities(byName.probabilities.data);
  });

  test('the tensor at every offset mod 8 after the JSON (views when aligned, copies when not) gives the same answer', async () => {
    for (let pad = 0; pad < 8; pad++) {
      const { body, headers } = binaryRequest({ id: 'x'.repeat(pad), inputs: [inputTensor()] }, [fp32(rows.flat())]);
      const r = await post(srv.url + '/v2/models/weather/infer', body, headers);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      const byName = Object.fromEntries(r.json.outputs.map((o: any) => [o.name, o]));
      assert.deepEqual(byName.label.data, direct.label, `pad ${pad}`);
      checkProbabilities(byName.probabilities.data);
    }
  });

  test('binary output asked for on one output: that output in binary, the other in JSON', async () => {
    const { body, headers } = binaryRequest(
      { inputs: [inputTensor()], outputs: [{ name: 'probabilities', parameters: { binary_data: true } }, { name: 'label' }] },
      [fp32(rows.flat())],
    );
    const r = await post(srv.url + '/v2/models/weather/infer', body, headers);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.headers.get('content-type'), 'application/octet-stream');
    const [p, l] = r.json.outputs;
    assert.deepEqual(p, { name: 'probabilities', datatype: 'FP32', shape: [rows.length, 5], parameters: { binary_data_size: rows.length * 20 } });
    checkProbabilities(readFp32(r.binary.probabilities!));
    assert.deepEqual(l.data, direct.label);
  });

  test('binary_data_output on the request: every output in binary, BYTES included; an output can opt out', async () => {
    const { body, headers } = binaryRequest({ inputs: [inputTensor()], parameters: { binary_data_output: true } }, [fp32(rows.flat())]);
    const r = await post(srv.url + '/v2/models/weather/infer', body, headers);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(readBytesTensor(r.binary.label!), direct.label);
    checkProbabilities(readFp32(r.binary.probabilities!));
    const out = r.json.outputs.find((o: any) => o.name === 'label');
    assert.equal(out.datatype, 'BYTES');
    assert.equal(out.data, undefined);

    const optOut = binaryRequest(
      {
        inputs: [inputTensor()],
        parameters: { binary_data_output: true },
        outputs: [{ name: 'label', parameters: { binary_data: false } }, { name: 'probabilities' }],
      },
      [fp32(rows.flat())],
    );
    const r2 = await post(srv.url + '/v2/models/weather/infer', optOut.body, optOut.headers);
    assert.deepEqual(r2.json.outputs[0].data, direct.label);
    checkProbabilities(readFp32(r2.binary.probabilities!));
  });

  test('a JSON request may ask for binary outputs', async () => {
    const json = { inputs: [{ name: 'input', shape: [rows.length, 4], datatype: 'FP32', data: rows.flat() }], parameters: { binary_data_output: true } };
    const r = await post(srv.url + '/v2/models/weather/infer', JSON.stringify(json), { 'content-type': 'application/json' });
    assert.equal(r.status, 200);
    assert.deepEqual(readBytesTensor(r.binary.label!), direct.label);
  });

  test('a binary tensor of another element type (FP64 into the float32 graph input) is converted through the input plan', async () => {
    const b = Buffer.alloc(rows.length * 32);
    rows.flat().forEach((v, i) => b.writeDoubleLE(v, i * 8));
    const { body, headers } = binaryRequest({ inputs: [inputTensor({ datatype: 'FP64', parameters: { binary_data_size: b.length } })] }, [b]);
    const r = await post(srv.url + '/v2/models/weather/infer', body, headers);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(r.json.outputs.find((o: any) => o.name === 'label').data, direct.label);
  });

  test('column inputs (one per signature column) in binary', async () => {
    const cols = FEATURES.map((f) => ({ name: f, shape: [rows.length], datatype: 'FP64', parameters: { binary_data_size: rows.length * 8 } }));
    const tensors = FEATURES.map((_, j) => {
      const b = Buffer.alloc(rows.length * 8);
      rows.forEach((r, i) => b.writeDoubleLE(r[j]!, i * 8));
      return b;
    });
    const { body, headers } = binaryRequest({ inputs: cols }, tensors);
    const r = await post(srv.url + '/v2/models/weather/infer', body, headers);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(r.json.outputs.find((o: any) => o.name === 'label').data, direct.label);
  });

  test('size mismatches are 400s with a JSON body saying which sizes disagree', async () => {
    const short = binaryRequest({ inputs: [inputTensor()] }, [fp32(rows.flat().slice(1))]);
    const a = await post(srv.url + '/v2/models/weather/infer', short.body, short.headers);
    assert.equal(a.status, 400);
    assert.match(a.json.error, /input input: "binary_data_size" \d+ runs past the body/);
    const wrong = binaryRequest({ inputs: [inputTensor({ parameters: { binary_data_size: 12 } })] }, [fp32([1, 2, 3])]);
    const b = await post(srv.url + '/v2/models/weather/infer', wrong.body, wrong.headers);
    assert.equal(b.status, 400);
    assert.match(b.json.error, /shape \[\d+, 4\] of FP32 is \d+ bytes, "binary_data_size" says 12/);
    const noHeader = binaryRequest({ inputs: [inputTensor()] }, [fp32(rows.flat())]);
    const c = await post(srv.url + '/v2/models/weather/infer', noHeader.body, { 'content-type': 'application/octet-stream' });
    assert.equal(c.status, 400);
    assert.match(c.json.error, /Inference-Header-Content-Length/);
    const badHeader = await post(srv.url + '/v2/models/weather/infer', noHeader.body, { ...noHeader.headers, 'inference-header-content-length': 'x' });
    assert.equal(badHeader.status, 400);
    assert.match(badHeader.json.error, /Inference-Header-Content-Length "x"/);
  });
});

describe('the all-express variant (predictVia: express) reads and answers binary the same way', () => {
  let ex: RunningServer;
  before(async () => {
    ex = await startServer({ registryRoot: join(tmp.dir, 'registry'), models: [{ uri: 'models:/weather/Production' }], predictVia: 'express' });
  });
  after(async () => {
    await ex?.close();
  });

  test('binary in, binary out', async () => {
    const { body, headers } = binaryRequest({ inputs: [inputTensor()], parameters: { binary_data_output: true } }, [fp32(rows.flat())]);
    const r = await post(ex.url + '/v2/models/weather/infer', body, headers);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(readBytesTensor(r.binary.label!), direct.label);
    checkProbabilities(readFp32(r.binary.probabilities!));
  });
});

/* ---------- the sidecar in front: capture reads binary as it reads JSON ---------- */

async function startProxy(engine: 'fast' | 'node'): Promise<{ proxy: ProxyServer; url: string; events: BoundedQueue<InferenceEvent> }> {
  const config = loadConfig({ env: {}, overrides: { proxy: { port: 0, upstream: srv.url, engine } } });
  const events = new BoundedQueue<InferenceEvent>(100);
  const proxy = createProxyServer({
    config: { ...config.proxy, upstream: srv.url },
    logger: createLogger({ level: 'silent' }),
    metrics: createProxyMetrics({ defaultMetrics: false }),
    onEvent: (e) => events.offer(e),
  });
  const addr = await proxy.listen();
  return { proxy, url: `http://127.0.0.1:${addr.port}`, events };
}

/** The event is offered when the answer's last byte went out, which may be just after the client read it. */
async function nextEvent(events: BoundedQueue<InferenceEvent>): Promise<InferenceEvent> {
  for (let i = 0; i < 500; i++) {
    const [e] = events.drain(1);
    if (e) return e;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('no event captured');
}

/** Through the hop to the capture worker (packed columns) and back, as the pipeline sees it. */
function viaWorkerHop(e: InferenceEvent): InferenceEvent {
  const { packed, bodies } = packBatch([e]);
  return unpackEvent(packed, 0, bodies);
}

for (const engine of ['fast', 'node'] as const) {
  describe(`sidecar (${engine} engine) capturing binary requests`, () => {
    let p: Awaited<ReturnType<typeof startProxy>>;
    before(async () => {
      p = await startProxy(engine);
    });
    after(async () => {
      await p?.proxy.close(1000);
    });

    test('features and predictions of a binary request equal those of the same request sent as JSON', async () => {
      const opts = { maxDecompressedBytes: 1 << 20, columnNames: FEATURES };
      const json = { inputs: [{ name: 'input', shape: [rows.length, 4], datatype: 'FP32', data: rows.flat() }] };
      const j = await post(p.url + '/v2/models/weather/infer', JSON.stringify(json), { 'content-type': 'application/json' });
      assert.equal(j.status, 200);
      const fromJson = extract(viaWorkerHop(await nextEvent(p.events)), opts);
      assert.ok(fromJson.ok);

      for (const ask of [{}, { parameters: { binary_data_output: true } }]) {
        const { body, headers } = binaryRequest({ inputs: [inputTensor()], ...ask }, [fp32(rows.flat())]);
        const b = await post(p.url + '/v2/models/weather/infer', body, headers);
        assert.equal(b.status, 200);
        const event = viaWorkerHop(await nextEvent(p.events));
        assert.equal(event.request!.bytes.length, body.length, 'the tap kept every byte of the binary body');
        assert.ok(event.request!.bytes.equals(body));
        const fromBinary = extract(event, opts);
        assert.ok(fromBinary.ok, JSON.stringify(fromBinary));
        assert.equal(fromBinary.value.features.length, rows.length);
        assert.deepEqual(fromBinary.value.features, fromJson.value.features);
        assert.deepEqual(fromBinary.value.features[0], Object.fromEntries(FEATURES.map((f, k) => [f, rows[0]![k]])));
        assert.equal(fromBinary.value.predictions.length, rows.length);
        assert.deepEqual(fromBinary.value.predictions, fromJson.value.predictions);
      }
    });
  });
}
