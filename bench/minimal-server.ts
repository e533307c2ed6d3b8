/**
 * The "limit" baseline for the benchmark: the least code that can answer the MLflow scoring
 * protocol for the seattle-weather model. node:http, JSON.parse, one Float32Array, one
 * onnxruntime-node session, JSON.stringify. No validation beyond what it needs not to crash,
 * no metrics, no logging. driftwatch is measured against this.
 *
 *   node --import tsx bench/minimal-server.ts PORT [MODEL_DIR]
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';

const port = Number(process.argv[2] ?? 8080);
const modelDir = process.argv[3] ?? 'examples/seattle-weather/model';
const FEATURES = ['precipitation', 'temp_max', 'temp_min', 'wind'];
const NF = FEATURES.length;

const session = await ort.InferenceSession.create(join(modelDir, 'model.onnx'), {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
});
const inputName = session.inputNames[0] ?? 'input';

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function invocations(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  let columns: string[];
  let rows: number[][];
  try {
    const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    columns = parsed.dataframe_split.columns;
    rows = parsed.dataframe_split.data;
    if (!Array.isArray(columns) || !Array.isArray(rows)) throw new Error('bad dataframe_split');
  } catch (e) {
    return send(res, 400, JSON.stringify({ error_code: 'BAD_REQUEST', message: String(e) }));
  }
  const idx = FEATURES.map((f) => columns.indexOf(f));
  if (idx.some((i) => i < 0)) return send(res, 400, JSON.stringify({ error_code: 'BAD_REQUEST', message: 'missing column' }));
  const n = rows.length;
  const x = new Float32Array(n * NF);
  for (let r = 0; r < n; r++) {
    const row = rows[r]!;
    for (let c = 0; c < NF; c++) x[r * NF + c] = row[idx[c]!]!;
  }
  const out = await session.run({ [inputName]: new ort.Tensor('float32', x, [n, NF]) });
  const labels = out.label!.data as string[];
  const probs = out.probabilities!.data as Float32Array;
  const k = probs.length / n;
  const predictions = new Array(n);
  for (let r = 0; r < n; r++) {
    predictions[r] = { label: labels[r], probabilities: Array.from(probs.subarray(r * k, (r + 1) * k)) };
  }
  send(res, 200, JSON.stringify({ predictions }));
}

const server = createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/invocations') {
    invocations(req, res).catch((e) => send(res, 500, JSON.stringify({ error_code: 'INTERNAL_ERROR', message: String(e) })));
  } else if (req.url === '/ping' || req.url === '/health') {
    send(res, 200, '\n');
  } else {
    send(res, 404, '{"error_code":"NOT_FOUND"}');
  }
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => console.error(`minimal-server listening on 127.0.0.1:${port}`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
