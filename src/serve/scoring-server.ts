/**
 * The scoring server: MLflow's scoring protocol and the Open Inference Protocol v2 on one port.
 *
 * Prediction routes (POST /invocations, POST /v2/models/{name}[/versions/{v}]/infer) are handled
 * on a lean node:http path in front of express; everything else (health, metadata, errors) goes
 * through express, the user's framework for the HTTP surface. Why the split: express's router and
 * request/response decoration cost CPU on every request, and on a 1-row prediction that is a
 * visible share of the whole (bench/RESULTS.md has the numbers; `predictVia: 'express'` keeps the
 * all-express variant measurable).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { manageLifecycle } from '../http-lifecycle.js';
import { listen } from '../listen.js';
import type { ServeConfig } from '../config/schema.js';
import { DriftwatchError, isDriftwatchError, messageOf } from '../errors.js';
import type { Logger } from '../telemetry/logger.js';
import { statusClass, type ServeMetrics } from '../telemetry/metrics.js';
import { checkFeedShapes, type PreparedInput } from './input-plan.js';
import {
  checkMlflowContentType,
  decodeMlflowCsv,
  decodeMlflowJson,
  encodeMlflowPredictionsBytes,
  mlflowErrorBody,
  type MlflowRequest,
} from '../protocol/mlflow.js';
import { decodeLeanMlflowJson } from '../protocol/lean-mlflow-json.js';
import { decodeLeanCsv } from '../protocol/lean-csv.js';
import { oipDatatypeOfElement, oipErrorBody, wantsBinaryOutput, type OipInput } from '../protocol/oip.js';
import { decodeOipRequestBytes, encodeOipResponseBytes, INFERENCE_HEADER_CONTENT_LENGTH, inferenceHeaderLength } from '../protocol/oip-binary.js';
import { oipDatatype } from '../model/signature.js';
import type { LoadedVersion, ServedModel } from './served-model.js';
import type { HostTensor } from '../protocol/tensor.js';
import type { TensorSpec } from '../model/signature.js';
import type { Shadow, ShadowJob } from './shadow.js';

export interface ScoringServerDeps {
  config: Pick<ServeConfig, 'host' | 'port' | 'maxBodyBytes' | 'requestTimeoutMs'>;
  /** Served models by name; the first is the default for /invocations. */
  models: ReadonlyMap<string, ServedModel>;
  logger: Logger;
  metrics: ServeMetrics;
  version: string;
  predictVia?: 'lean' | 'express';
  /** Challengers shadowing served models, by the served model's name (shadow.ts); none: no shadow work at all. */
  shadows?: ReadonlyMap<string, Shadow>;
  /**
   * Hand each shadowed request's id (X-Request-ID from the sidecar in front) and body to the shadow,
   * so the challenger's rows can be logged under the champion's ids (labels.enabled).
   */
  shadowRequests?: boolean;
}

export interface ScoringServer {
  readonly server: http.Server;
  listen(): Promise<AddressInfo>;
  /** Stop accepting, let in-flight requests finish (up to graceMs), then close connections. */
  close(graceMs: number): Promise<void>;
  inflight(): number;
}

type Protocol = 'mlflow' | 'oip';

function errorBody(protocol: Protocol, e: DriftwatchError): string {
  return protocol === 'mlflow' ? mlflowErrorBody(e) : oipErrorBody(e);
}

/** Reads the body up to maxBytes; a larger body is a 413 and is not buffered. */
export function readBody(req: http.IncomingMessage, maxBytes: number): Promise<string> {
  return readBodyBytes(req, maxBytes).then((b) => b.toString('utf8'));
}

/** readBody's bytes, undecoded: a binary Open Inference body is not text. */
export function readBodyBytes(req: http.IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding !== 'identity') {
      reject(new DriftwatchError('DW_ERR_SERVE_UNSUPPORTED_MEDIA_TYPE', `Content-Encoding ${encoding} is not supported; send an uncompressed body`));
      return;
    }
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      reject(
        new DriftwatchError('DW_ERR_SERVE_BODY_TOO_LARGE', `request body of ${declared} bytes exceeds the limit of ${maxBytes} bytes (serve.maxBodyBytes)`),
      );
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > maxBytes) {
        failed = true;
        chunks.length = 0;
        reject(new DriftwatchError('DW_ERR_SERVE_BODY_TOO_LARGE', `request body exceeds the limit of ${maxBytes} bytes (serve.maxBodyBytes)`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    req.on('error', (e) => {
      if (!failed) {
        failed = true;
        reject(new DriftwatchError('DW_ERR_SERVE_BAD_REQUEST', `request body could not be read: ${messageOf(e)}`, { cause: e }));
      }
    });
  });
}

const timeoutError = (limitMs: number) =>
  new DriftwatchError('DW_ERR_SERVE_TIMEOUT', `inference did not finish within ${limitMs} ms of the request's arrival (serve.requestTimeoutMs)`);

function withTimeout<T>(p: Promise<T>, ms: number, limitMs: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeoutError(limitMs)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const INFER_PATH = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?\/infer$/;

/** As the capture bounds ids from traffic (capture/prediction-records.ts): a longer one is not a key. */
const MAX_REQUEST_ID_CHARS = 256;

/** The request id the sidecar in front forwarded (exactly one, proxy/forwarding.ts), when it looks like one. */
function requestIdOf(req: http.IncomingMessage): string | null {
  const id = req.headers['x-request-id'];
  return typeof id === 'string' && id.length > 0 && id.length <= MAX_REQUEST_ID_CHARS ? id : null;
}

/** The path without its query string, as the capture records it. */
function pathOf(req: http.IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

export function createScoringServer(deps: ScoringServerDeps): ScoringServer {
  const { config, models, logger, metrics } = deps;
  const defaultModel = models.values().next().value as ServedModel | undefined;
  // Null without challengers, so a server without one pays a single comparison per request.
  const shadows = deps.shadows && deps.shadows.size > 0 ? deps.shadows : null;
  let inflight = 0;
  let closing = false;
  let drained: (() => void) | null = null;

  const send = (res: http.ServerResponse, status: number, body: string | Buffer, headers: Record<string, string> = {}): void => {
    if (res.headersSent) return;
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      ...headers,
      ...(closing ? { connection: 'close' } : {}),
    });
    res.end(body);
  };

  const sendError = (res: http.ServerResponse, protocol: Protocol, e: unknown, model: string): void => {
    const err = isDriftwatchError(e) ? e : new DriftwatchError('DW_ERR_SERVE_INFERENCE', `inference failed: ${messageOf(e)}`, { cause: e });
    if (err.status >= 500) logger.warn('scoring request failed', { model, code: err.code, error: err.message });
    const headers: Record<string, string> = {};
    if (err.code === 'DW_ERR_SERVE_BODY_TOO_LARGE') headers.connection = 'close';
    send(res, err.status, errorBody(protocol, err), headers);
  };

  /** The shared prediction path: read, decode, enforce the signature, run, encode. */
  async function predict(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    protocol: Protocol,
    served: ServedModel | undefined,
    requestedVersion: string | null,
  ): Promise<void> {
    const started = process.hrtime.bigint();
    const deadline = Date.now() + config.requestTimeoutMs;
    const route = protocol === 'mlflow' ? 'invocations' : 'infer';
    const modelName = served?.name ?? 'unknown';
    let lv: LoadedVersion | null = null;
    inflight++;
    metrics.inflight.inc();
    // In flight until the last byte of the answer is handed to the socket (or it breaks), so a
    // drain on shutdown never cuts a response that is still being written.
    res.once('close', () => {
      metrics.inflight.dec();
      if (--inflight === 0 && drained) drained();
    });
    try {
      if (closing) throw new DriftwatchError('DW_ERR_SERVE_NOT_READY', 'server is shutting down');
      if (!served) throw new DriftwatchError('DW_ERR_SERVE_NOT_FOUND', 'no such model on this server');
      // Checked before the body is read, as scoring_server.invocations does first (415).
      const contentType = protocol === 'mlflow' ? checkMlflowContentType(req.headers['content-type']) : null;
      if (contentType && !contentType.ok) {
        req.resume();
        throw new DriftwatchError('DW_ERR_SERVE_UNSUPPORTED_MEDIA_TYPE', contentType.message);
      }
      const body = await readBodyBytes(req, config.maxBodyBytes);
      lv = served.acquire();
      if (!lv) throw new DriftwatchError('DW_ERR_SERVE_NOT_READY', `model ${served.name} is not loaded${served.lastError ? `: ${served.lastError}` : ''}`);
      if (requestedVersion !== null && requestedVersion !== lv.version) {
        throw new DriftwatchError('DW_ERR_SERVE_NOT_FOUND', `model ${served.name} version ${requestedVersion} is not served (serving version ${lv.version})`);
      }
      const versionHeaders = { 'x-driftwatch-model': served.name, 'x-driftwatch-model-version': lv.version };
      // Decided before the champion runs so only a sampled request reads the clock for the pair.
      const shadow = shadows === null ? undefined : shadows.get(served.name);
      const shadowed = shadow?.sample() === true;
      if (protocol === 'mlflow') {
        const csv = contentType?.ok === true && contentType.media === 'text/csv';
        // The lean codecs (issue 24) read a table of numbers straight from the bytes, for plans
        // that take one; anything they or the plan do not take exactly as the generic path would
        // (null) is decoded generically, which stays the reference for answers and errors.
        let generic: MlflowRequest | null = null;
        const decodeGeneric = () => (generic ??= csv ? decodeMlflowCsv(body.toString('utf8')) : decodeMlflowJson(body.toString('utf8')));
        const frame = lv.plan.takesFrames ? (csv ? decodeLeanCsv(body) : (decodeLeanMlflowJson(body)?.frame ?? null)) : null;
        const t0 = shadowed ? performance.now() : 0;
        const prepared = (frame && lv.plan.prepareFrame(frame)) ?? lv.plan.prepare(decodeGeneric().input);
        const unwrapped = generic !== null && (generic as MlflowRequest).unwrapped;
        const outputs = await runModel(lv, prepared, deadline);
        const championMs = shadowed ? performance.now() - t0 : 0;
        metrics.rows.inc({ model: served.name, version: lv.version }, prepared.rows);
        send(res, 200, encodeMlflowPredictionsBytes(outputs, prepared.outputStyle, prepared.rows, unwrapped), versionHeaders);
        // After the answer was handed to the socket: the challenger never touches this request's path.
        if (shadowed)
          shadow.offer({
            championVersion: lv.version,
            outputs,
            rows: prepared.rows,
            latencyMs: championMs,
            prepare: (c) => (frame && c.plan.prepareFrame(frame)) ?? c.plan.prepare(decodeGeneric().input),
            ...(deps.shadowRequests
              ? {
                  request: {
                    id: requestIdOf(req),
                    route: 'invocations',
                    path: pathOf(req),
                    body,
                    contentType: req.headers['content-type'] ?? '',
                    encode: (o, p) => ({ body: encodeMlflowPredictionsBytes(o, p.outputStyle, p.rows, unwrapped), contentType: 'application/json' }),
                  } satisfies ShadowJob['request'],
                }
              : {}),
          });
      } else {
        const request = decodeOipRequestBytes(body, inferenceHeaderLength(req.headers[INFERENCE_HEADER_CONTENT_LENGTH], body.length));
        const t0 = shadowed ? performance.now() : 0;
        const prepared = prepareOip(lv, request.inputs);
        if (request.outputs) {
          const unknown = request.outputs.filter((o) => !lv!.session.outputs.some((g) => g.name === o));
          if (unknown.length)
            throw new DriftwatchError(
              'DW_ERR_SERVE_SCHEMA',
              `unknown outputs requested: ${unknown.join(', ')}; the model has ${lv.session.outputs.map((g) => g.name).join(', ')}`,
            );
        }
        const outputs = await runModel(lv, prepared, deadline);
        const championMs = shadowed ? performance.now() - t0 : 0;
        metrics.rows.inc({ model: served.name, version: lv.version }, prepared.rows);
        const answer = encodeOipResponseBytes({
          modelName: served.name,
          modelVersion: lv.version,
          id: request.id,
          outputs,
          only: request.outputs,
          binary: (name) => wantsBinaryOutput(request, name),
        });
        if (answer.headerLength === null) send(res, 200, answer.body, versionHeaders);
        else
          send(res, 200, answer.body, {
            ...versionHeaders,
            'content-type': 'application/octet-stream',
            [INFERENCE_HEADER_CONTENT_LENGTH]: String(answer.headerLength),
          });
        if (shadowed) {
          const name = served.name;
          shadow.offer({
            championVersion: lv.version,
            outputs,
            rows: prepared.rows,
            latencyMs: championMs,
            prepare: (c) => prepareOip(c, request.inputs),
            ...(deps.shadowRequests
              ? {
                  request: {
                    id: requestIdOf(req),
                    route: 'infer',
                    path: pathOf(req),
                    body,
                    contentType: req.headers['content-type'] ?? '',
                    // JSON whatever the client asked for: the log needs the values, not the binary framing.
                    encode: (o) => {
                      const only = request.outputs?.filter((n) => Object.hasOwn(o, n)) ?? [];
                      const answer = encodeOipResponseBytes({
                        modelName: name,
                        modelVersion: '',
                        id: request.id,
                        outputs: o,
                        only: only.length > 0 ? only : null,
                        binary: () => false,
                      });
                      return { body: typeof answer.body === 'string' ? Buffer.from(answer.body, 'utf8') : answer.body, contentType: 'application/json' };
                    },
                  } satisfies ShadowJob['request'],
                }
              : {}),
          });
        }
      }
    } catch (e) {
      // A rejected request was still aimed at this version: say so, so the sidecar counts it there.
      if (lv && served && !res.headersSent) {
        res.setHeader('x-driftwatch-model', served.name);
        res.setHeader('x-driftwatch-model-version', lv.version);
      }
      sendError(res, protocol, e, modelName);
    } finally {
      if (lv && served) served.release(lv);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const sc = statusClass(res.statusCode);
      metrics.requestDuration.observe({ model: modelName, version: lv?.version ?? '', route, status_class: sc }, seconds);
      metrics.requests.inc({ model: modelName, route, status_class: sc });
    }
  }

  /**
   * The deadline counts from the request's arrival. onnxruntime-node runs a session synchronously
   * (behind a setImmediate), so a timer cannot interrupt a running inference: what the deadline
   * bounds is the wait before it. A request whose turn comes too late gets 504 and is not run,
   * which sheds load instead of queueing work whose client has likely given up.
   */
  function runModel(lv: LoadedVersion, prepared: PreparedInput, deadline: number): Promise<Record<string, HostTensor>> {
    if (prepared.rows === 0) {
      // onnxruntime rejects zero-sized batches in some kernels; an empty frame has empty answers.
      const empty: Record<string, HostTensor> = {};
      for (const o of lv.session.outputs) {
        const type = o.type === 'unknown' ? 'float32' : o.type;
        empty[o.name] = { type, data: type === 'string' ? [] : new Float32Array(0), dims: [0, ...o.shape.slice(1).map((d) => Math.max(d, 0))] };
      }
      return Promise.resolve(empty);
    }
    checkFeedShapes(prepared.feeds, lv.session.inputs);
    const remaining = deadline - Date.now();
    if (remaining <= 0) return Promise.reject(timeoutError(config.requestTimeoutMs));
    return withTimeout(lv.infer(prepared.feeds, prepared.rows), remaining, config.requestTimeoutMs);
  }

  /** OIP inputs named like graph inputs are tensors; named like signature columns, a frame. */
  function prepareOip(lv: LoadedVersion, inputs: OipInput[]): PreparedInput {
    const graphNames = new Set(lv.session.inputs.map((g) => g.name));
    const sig = lv.model.signature?.inputs;
    const columnNames = sig?.kind === 'column' ? new Set(sig.specs.map((s) => s.name)) : null;
    const allGraph = inputs.every((i) => graphNames.has(i.name));
    if (columnNames && !(allGraph && !inputs.every((i) => columnNames.has(i.name)))) {
      const cols: Record<string, unknown[]> = {};
      for (const i of inputs) {
        if (i.shape.length > 2 || (i.shape.length === 2 && i.shape[1] !== 1)) {
          throw new DriftwatchError('DW_ERR_SERVE_SCHEMA', `input ${i.name}: a column input must have shape [N] or [N, 1], got [${i.shape.join(', ')}]`);
        }
        cols[i.name] = i.flat;
      }
      return lv.plan.prepare({ kind: 'raw', value: cols });
    }
    const direct = directFeeds(lv, inputs);
    if (direct) return direct;
    const named: Record<string, unknown> = {};
    for (const i of inputs) named[i.name] = i.value;
    return lv.plan.prepareGraphTensors(named);
  }

  /**
   * Feeds without the plan's walk over nested lists: binary inputs already in the graph's element
   * types as they arrived (no JS value per element), and JSON numbers for a float graph input
   * copied into its typed array (the plan's own conversion: a typed array store). Anything else (a
   * binary tensor of another element type, BOOL or BYTES data, an empty or rank-0 tensor, a shape
   * the graph or a tensor signature refuses) takes the plan's path, which converts and words the
   * errors as before.
   */
  function directFeeds(lv: LoadedVersion, inputs: OipInput[]): PreparedInput | null {
    const sig = lv.model.signature?.inputs;
    const specs = sig?.kind === 'tensor' ? (sig.specs as TensorSpec[]) : null;
    const fits = (want: readonly number[], dims: readonly number[]) => want.length === dims.length && want.every((d, j) => d < 0 || d === dims[j]);
    const feeds: Record<string, HostTensor> = {};
    let rows = 0;
    for (const [k, g] of lv.session.inputs.entries()) {
      const input = inputs.find((i) => i.name === g.name);
      if (!input) return null;
      const dims = input.shape;
      if (dims.length === 0 || dims.includes(0) || (g.shape.length > 0 && !fits(g.shape, dims))) return null;
      const spec = specs?.find((s) => s.name === g.name) ?? (specs?.length === lv.session.inputs.length ? specs[k] : undefined);
      if (spec && !fits(spec.shape, dims)) return null;
      let t = input.tensor;
      if (t !== null) {
        if (t.type !== g.type) return null;
      } else if ((g.type === 'float32' || g.type === 'float64') && input.datatype !== 'BOOL' && input.datatype !== 'BYTES') {
        const flat = input.flat as number[]; // numbers: decodeOipRequest checked them against the datatype
        t = { type: g.type, data: g.type === 'float32' ? Float32Array.from(flat) : Float64Array.from(flat), dims };
      } else return null;
      feeds[g.name] = t;
      rows = Math.max(rows, dims[0]!);
    }
    return { feeds, rows, outputStyle: 'dict', columnNames: null };
  }

  const lean = (deps.predictVia ?? 'lean') === 'lean';
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  // Exact paths, as MLflow's Flask routes: POST /invocations/ is a 404, not "use POST".
  app.set('strict routing', true);
  app.set('case sensitive routing', true);

  const mlflowHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void predict(req, res, 'mlflow', defaultModel, null);
  /** name and version arrive decoded (express does it; the lean path below too). */
  const oipHandler = (req: http.IncomingMessage, res: http.ServerResponse, name: string, version: string | null) =>
    void predict(req, res, 'oip', models.get(name), version);
  if (!lean) {
    app.post('/invocations', (req, res) => mlflowHandler(req, res));
    app.post('/v2/models/:name/infer', (req, res) => oipHandler(req, res, req.params.name, null));
    app.post('/v2/models/:name/versions/:version/infer', (req, res) => oipHandler(req, res, req.params.name, req.params.version));
  }

  const ready = () => !closing && [...models.values()].every((m) => m.current !== null);
  // MLflow answers /ping and /health with 200 and a newline once the model is loaded.
  const health = (_req: express.Request, res: express.Response) => {
    // Registry unreachable: still 200 (the loaded versions serve; a probe must not pull the
    // replica), but the body says degraded, so monitoring can tell. The reason (which names the
    // registry's internal URI) is only on the admin port's /healthz, not on this public port.
    // registry: unreachable (no answer, 5xx, refused) or unresolved (it answered that a model,
    // version, stage or alias is missing); unreachable wins when models differ.
    const degraded = [...models.values()].filter((m) => m.registryError !== null);
    if (ready() && degraded.length) {
      const registry = degraded.some((m) => m.registryErrorKind !== 'unresolved') ? 'unreachable' : 'unresolved';
      res.status(200).json({ status: 'degraded', registry, models: degraded.map((m) => m.name), details: 'GET /healthz on the admin port' });
    } else if (ready()) res.status(200).type('application/json').send('\n');
    else
      res
        .status(503)
        .type('application/json')
        .send(mlflowErrorBody(new DriftwatchError('DW_ERR_SERVE_NOT_READY', 'model not loaded or server shutting down')));
  };
  app.get('/ping', health);
  app.get('/health', health);
  app.get('/version', (_req, res) => {
    res.type('text/plain').send(deps.version);
  });

  app.get('/v2', (_req, res) => {
    res.json({ name: 'driftwatch', version: deps.version, extensions: ['binary_tensor_data'] });
  });
  app.get('/v2/health/live', (_req, res) => {
    res.json({ live: true });
  });
  app.get('/v2/health/ready', (_req, res) => {
    res.status(ready() ? 200 : 503).json({ ready: ready() });
  });

  const metadata = (served: ServedModel, lv: LoadedVersion) => ({
    name: served.name,
    versions: [lv.version],
    platform: 'onnxruntime_onnx',
    inputs: lv.plan.describeInputs().map((i) => ({ name: i.name, datatype: oipDatatype(i.datatypeOf), shape: i.shape })),
    outputs: lv.session.outputs.map((o) => ({ name: o.name, datatype: oipDatatypeOfElement(o.type), shape: o.shape })),
    parameters: { uri: served.uri.text },
  });
  const withModel = (fn: (res: express.Response, served: ServedModel, lv: LoadedVersion) => void) => (req: express.Request, res: express.Response) => {
    const name = String(req.params.name);
    const served = models.get(name);
    const lv = served?.current;
    if (!served) {
      res.status(404).json({ error: `model ${name} not found; served models: ${[...models.keys()].join(', ')}` });
      return;
    }
    if (!lv) {
      res.status(503).json({ error: `model ${name} is not loaded` });
      return;
    }
    const v = req.params.version;
    if (v !== undefined && v !== lv.version) {
      res.status(404).json({ error: `model ${name} version ${v} is not served (serving version ${lv.version})` });
      return;
    }
    fn(res, served, lv);
  };
  app.get(
    '/v2/models/:name',
    withModel((res, s, lv) => res.json(metadata(s, lv))),
  );
  app.get(
    '/v2/models/:name/versions/:version',
    withModel((res, s, lv) => res.json(metadata(s, lv))),
  );
  app.get(
    '/v2/models/:name/ready',
    withModel((res, s) => res.json({ name: s.name, ready: true })),
  );
  app.get(
    '/v2/models/:name/versions/:version/ready',
    withModel((res, s) => res.json({ name: s.name, ready: true })),
  );

  // Known paths with the wrong method, then everything else: JSON errors in the path's protocol.
  const methodNotAllowed = (allow: string) => (req: express.Request, res: express.Response) => {
    const e = new DriftwatchError('DW_ERR_SERVE_METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${req.path}; use ${allow}`);
    res
      .status(405)
      .set('allow', allow)
      .type('application/json')
      .send(req.path.startsWith('/v2') ? oipErrorBody(e) : mlflowErrorBody(e));
  };
  app.all('/invocations', methodNotAllowed('POST'));
  app.all(/^\/v2\/models\/[^/]+(\/versions\/[^/]+)?\/infer$/, methodNotAllowed('POST'));
  app.all(['/ping', '/health', '/version', '/v2', '/v2/health/live', '/v2/health/ready'], methodNotAllowed('GET'));
  app.use((req, res) => {
    const e = new DriftwatchError('DW_ERR_SERVE_NOT_FOUND', `no route for ${req.method} ${req.path}`);
    res
      .status(404)
      .type('application/json')
      .send(req.path.startsWith('/v2') ? oipErrorBody(e) : mlflowErrorBody(e));
  });
  app.use((err: unknown, req: express.Request, res: express.Response, _next: express.NextFunction) => {
    // express reaches here for malformed URLs (bad percent-encoding) and handler bugs.
    const status = typeof (err as { status?: unknown })?.status === 'number' ? (err as { status: number }).status : 500;
    const e = new DriftwatchError(status < 500 ? 'DW_ERR_SERVE_BAD_REQUEST' : 'DW_ERR_SERVE_INFERENCE', messageOf(err), { status });
    if (status >= 500) logger.error('unhandled error in scoring server', { error: messageOf(err) });
    res
      .status(status)
      .type('application/json')
      .send(req.path.startsWith('/v2') ? oipErrorBody(e) : mlflowErrorBody(e));
  });

  // Slow-loris protection for headers and bodies; inference has its own timeout.
  const headersTimeout = Math.min(60_000, config.requestTimeoutMs + 1000);
  // node checks the two timeouts every connectionsCheckingInterval (30 s by default): a head that
  // is late gets its 408 within a quarter of the timeout after it, not up to 30 s later.
  const connectionsCheckingInterval = Math.max(250, Math.min(30_000, Math.floor(headersTimeout / 4)));
  const server = http.createServer({ connectionsCheckingInterval }, (req, res) => {
    if (lean && req.method === 'POST') {
      let url = req.url ?? '/';
      if (url[0] !== '/') {
        // absolute-form target (`POST http://host/invocations`), which proxies may send
        try {
          url = new URL(url).pathname;
        } catch {
          url = '/';
        }
        req.url = url;
      }
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      if (path === '/invocations') return mlflowHandler(req, res);
      const m = path.startsWith('/v2/models/') ? INFER_PATH.exec(path) : null;
      if (m) {
        let name: string;
        let version: string | null;
        try {
          name = decodeURIComponent(m[1]!);
          version = m[2] === undefined ? null : decodeURIComponent(m[2]);
        } catch {
          return send(res, 400, oipErrorBody('malformed percent-encoding in the model name or version'));
        }
        return oipHandler(req, res, name, version);
      }
    }
    app(req, res);
  });
  server.headersTimeout = headersTimeout;
  server.requestTimeout = config.requestTimeoutMs + 1000;
  server.keepAliveTimeout = 65_000; // longer than common load balancers' idle timeouts (60 s)
  // A client may send a whole request and then half-close (shutdown(SHUT_WR), `curl -T` style
  // clients, some load balancers): by default node then aborts the request and ends the socket, so
  // the answer was never written. With this (node's own switch, read in _http_server.js
  // socketOnEnd and not in its typings), the answers in progress go out and then the socket ends.
  (server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  const lifecycle = manageLifecycle(server);

  return {
    server,
    inflight: () => inflight,
    listen: () => listen(server, config.port, config.host, 'scoring server'),
    close(graceMs) {
      closing = true; // requests arriving now get 503 with `Connection: close`
      return lifecycle.close(graceMs, () => (inflight > 0 ? new Promise<void>((resolve) => (drained = resolve)) : null));
    },
  };
}
