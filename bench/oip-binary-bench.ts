/**
 * Open Inference JSON versus the binary tensor extension (docs/open-inference.md), at 1 and 100
 * rows x 4 features of the seattle-weather data, answers shaped like the example model's (label,
 * probabilities[5]).
 *
 * In process, no sockets, microseconds per request (median of rounds, interleaved):
 *   decode   the scoring server's reading: body -> feeds for onnxruntime (JSON: decodeOipRequest
 *            and a typed copy of its numbers; binary: decodeOipRequestBytes, the typed array fed
 *            as it is); "decode (plan)": JSON through the input plan, as before issue 24
 *   encode   the answer: encodeOipResponse (JSON) vs encodeOipResponseBytes (all outputs binary)
 *   extract  the capture side: extract() of a captured JSON event vs the same event in binary
 * Over HTTP (keep-alive, one client, the real server and model on port 0): requests per second,
 * JSON vs binary request with a binary answer, alternating runs.
 *
 *   npx tsx bench/oip-binary-bench.ts           about 40 s
 *   BENCH_SHORT=1 npx tsx bench/oip-binary-bench.ts    about 10 s
 *   BENCH_OIP_HTTP=0                            skip the HTTP part
 */
import http from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { extract } from '../src/capture/extract.js';
import type { InferenceEvent } from '../src/capture/inference-event.js';
import { decodeOipRequestBytes, encodeOipResponseBytes } from '../src/protocol/oip-binary.js';
import { decodeOipRequest, encodeOipResponse } from '../src/protocol/oip.js';
import type { HostTensor } from '../src/protocol/tensor.js';
import { LocalRegistry } from '../src/registry/local-registry.js';
import { buildInputPlan } from '../src/serve/input-plan.js';
import { EXAMPLE_MODEL_DIR, startServer, tempDir, weatherRows } from '../test/helpers.js';

const SHORT = process.env.BENCH_SHORT === '1';
const ROUNDS = SHORT ? 3 : 7;
const ITER = SHORT ? 300 : 1000;
const HTTP_SECONDS = SHORT ? 1 : 4;
const all = weatherRows('2012-01-01', '2015-12-31').map((r) => r.features);

function bodies(rows: number) {
  const x = all.slice(0, rows);
  const flat = x.flat();
  const json = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [rows, 4], datatype: 'FP32', data: flat }] }));
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'input', shape: [rows, 4], datatype: 'FP32', parameters: { binary_data_size: rows * 16 } }],
      parameters: { binary_data_output: true },
    }),
  );
  const bin = Buffer.concat([header, Buffer.from(Float32Array.from(flat).buffer)]);
  const outputs: Record<string, HostTensor> = {
    label: { type: 'string', data: x.map((_, i) => ['sun', 'rain', 'fog', 'drizzle', 'snow'][i % 5]!), dims: [rows] },
    probabilities: { type: 'float32', data: Float32Array.from({ length: rows * 5 }, (_, i) => ((i * 7919) % 1000) / 1000), dims: [rows, 5] },
  };
  const base = { modelName: 'weather', modelVersion: '1', id: null, outputs, only: null };
  const resJson = Buffer.from(encodeOipResponse(base));
  const resBin = encodeOipResponseBytes({ ...base, binary: () => true }).body as Buffer;
  return { json, bin, headerLength: header.length, outputs, resJson, resBin };
}

const event = (req: Buffer, res: Buffer): InferenceEvent => ({
  requestId: 'r',
  startedAtMs: 0,
  method: 'POST',
  path: '/v2/models/weather/infer',
  model: 'weather',
  version: '1',
  route: 'infer',
  status: 200,
  upstreamMs: 1,
  totalMs: 1,
  requestBytes: req.length,
  responseBytes: res.length,
  request: { bytes: req, contentType: 'application/json', contentEncoding: 'identity' },
  response: { bytes: res, contentType: 'application/json', contentEncoding: 'identity' },
  skipped: null,
});

function time(fn: () => void): number {
  const t0 = performance.now();
  for (let i = 0; i < ITER; i++) fn();
  return ((performance.now() - t0) * 1000) / ITER;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function inProcess(rows: number): Record<string, [number, number]> {
  const b = bodies(rows);
  const plan = buildInputPlan(null, [{ name: 'input', type: 'float32', shape: [-1, 4] }]);
  const opts = { maxDecompressedBytes: 1 << 24, columnNames: ['precipitation', 'temp_max', 'temp_min', 'wind'] };
  const evJson = event(b.json, b.resJson);
  const evBin = event(b.bin, b.resBin);
  const pairs: Record<string, [() => void, () => void]> = {
    // JSON as the server reads it now (decode, then the numbers copied into the graph's typed
    // array: scoring-server.ts directFeeds) and through the input plan (before issue 24).
    decode: [
      () => Float32Array.from(decodeOipRequest(b.json.toString('utf8')).inputs[0]!.flat as number[]),
      () => decodeOipRequestBytes(b.bin, b.headerLength).inputs[0]!.tensor,
    ],
    'decode (plan)': [
      () => plan.prepareGraphTensors({ input: decodeOipRequest(b.json.toString('utf8')).inputs[0]!.value }),
      () => decodeOipRequestBytes(b.bin, b.headerLength).inputs[0]!.tensor,
    ],
    encode: [
      () => encodeOipResponse({ modelName: 'weather', modelVersion: '1', id: null, outputs: b.outputs, only: null }),
      () => encodeOipResponseBytes({ modelName: 'weather', modelVersion: '1', id: null, outputs: b.outputs, only: null, binary: () => true }),
    ],
    extract: [
      () => {
        if (!extract(evJson, opts).ok) throw new Error('json event unreadable');
      },
      () => {
        if (!extract(evBin, opts).ok) throw new Error('binary event unreadable');
      },
    ],
  };
  const out: Record<string, [number, number]> = {};
  for (const [name, [j, bi]] of Object.entries(pairs)) {
    for (let w = 0; w < 3; w++) {
      time(j);
      time(bi); // warm-up: the first thousands of calls run unoptimized code
    }
    const js: number[] = [];
    const bs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      js.push(time(j));
      bs.push(time(bi));
    }
    out[name] = [median(js), median(bs)];
  }
  return out;
}

function post(agent: http.Agent, port: number, body: Buffer, headers: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: '/v2/models/weather/infer', method: 'POST', agent, headers: { ...headers, 'content-length': body.length } },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function overHttp(rows: number): Promise<[number, number]> {
  const tmp = tempDir();
  const reg = new LocalRegistry(join(tmp.dir, 'registry'));
  const mv = await reg.createModelVersion({ name: 'weather', sourceDir: EXAMPLE_MODEL_DIR });
  await reg.transitionStage('weather', mv.version, 'Production');
  const srv = await startServer({ registryRoot: join(tmp.dir, 'registry'), models: [{ uri: 'models:/weather/Production' }] });
  const port = Number(new URL(srv.url).port);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const b = bodies(rows);
  const kinds: Array<[Buffer, Record<string, string>]> = [
    [b.json, { 'content-type': 'application/json' }],
    [b.bin, { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(b.headerLength) }],
  ];
  const rates: number[][] = [[], []];
  try {
    for (let r = 0; r < (SHORT ? 1 : 2); r++) {
      for (const [k, [body, headers]] of kinds.entries()) {
        const end = performance.now() + HTTP_SECONDS * 1000;
        let n = 0;
        while (performance.now() < end) {
          await post(agent, port, body, headers);
          n++;
        }
        rates[k]!.push(n / HTTP_SECONDS);
      }
    }
  } finally {
    agent.destroy();
    await srv.close();
    tmp.cleanup();
  }
  return [median(rates[0]!), median(rates[1]!)];
}

for (const rows of [1, 100]) {
  const r = inProcess(rows);
  for (const [name, [j, b]] of Object.entries(r)) {
    console.log(`${rows} rows  ${name.padEnd(13)} JSON ${j.toFixed(1).padStart(7)} us   binary ${b.toFixed(1).padStart(7)} us   (${(j / b).toFixed(1)}x)`);
  }
}
if (process.env.BENCH_OIP_HTTP !== '0') {
  for (const rows of [1, 100]) {
    const [j, b] = await overHttp(rows);
    console.log(`${rows} rows  http c=1  JSON ${j.toFixed(0)} req/s   binary ${b.toFixed(0)} req/s   (${(b / j).toFixed(2)}x)`);
  }
}
