/**
 * The sidecar: a transparent reverse proxy (node:http + http-proxy, the one http-proxy import) in
 * front of any prediction endpoint, with a passive tap on the routes that carry predictions.
 *
 * What it never does: consume or change the body it forwards (http-proxy pipes the request
 * stream; the tap only listens to the same 'data' events), wait for the analysis side (an event is
 * offered to a bounded queue in O(1) when the answer is done), or let its own failure reach the
 * client (every tap step is guarded; an upstream failure becomes a JSON 502/504 naming the
 * request id). Known http-proxy traps handled here: an 'error' listener always exists, no body
 * parser runs before proxying, the mirror is not http-proxy's `forward` option.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import httpProxy from 'http-proxy';
import type { InferenceEvent } from '../capture/inference-event.js';
import type { ProxyConfig } from '../config/schema.js';
import { DriftwatchError, messageOf, type ErrorCode } from '../errors.js';
import { manageLifecycle } from '../http-lifecycle.js';
import { listen } from '../listen.js';
import type { Logger } from '../telemetry/logger.js';
import { statusClass, type ProxyMetrics } from '../telemetry/metrics.js';

export interface ProxyServerDeps {
  config: ProxyConfig & { upstream: string };
  logger: Logger;
  metrics: ProxyMetrics;
  /** Receives each finished request; must be O(1) and never throw (BoundedQueue.offer). */
  onEvent: (event: InferenceEvent) => void;
  random?: () => number;
}

export interface ProxyServer {
  readonly server: http.Server;
  listen(): Promise<AddressInfo>;
  close(graceMs: number): Promise<void>;
}

const INFER_PATH = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?\/infer$/;
/** Client-supplied request ids are kept when they look like ids; anything else is replaced. */
const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,200}$/;

interface Tap {
  chunks: Buffer[] | null;
  size: number;
}

interface RequestState {
  id: string;
  startedAtMs: number;
  t0: bigint;
  route: InferenceEvent['route'];
  model: string | null;
  version: string | null;
  path: string;
  sampled: boolean;
  tooLarge: boolean;
  requestBytes: number;
  responseBytes: number;
  upstreamMs: number;
  reqTap: Tap | null;
  resTap: Tap | null;
  timedOut: boolean;
}

function tapChunk(tap: Tap | null, chunk: Buffer, cap: number, state: RequestState): Tap | null {
  if (!tap) return null;
  if (tap.size + chunk.length > cap) {
    state.tooLarge = true;
    return null; // drop what was collected: never buffer past the cap
  }
  tap.chunks!.push(chunk);
  tap.size += chunk.length;
  return tap;
}

function safeDecode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

export function createProxyServer(deps: ProxyServerDeps): ProxyServer {
  const { config, logger, metrics } = deps;
  const capture = config.capture;
  const random = deps.random ?? Math.random;
  const extra = new Set(capture.extraPaths);
  const target = new URL(config.upstream);
  const agentOptions = { keepAlive: true, maxSockets: config.maxSockets, keepAliveMsecs: 1000 };
  const agent = target.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  const proxy = httpProxy.createProxyServer({ target: config.upstream, agent, xfwd: true, ws: true, preserveHeaderKeyCase: true });
  const states = new WeakMap<http.IncomingMessage, RequestState>();
  let inflight = 0;
  let drained: (() => void) | null = null;

  const fail = (req: http.IncomingMessage, res: http.ServerResponse | Socket, err: Error): void => {
    const state = states.get(req as http.IncomingMessage);
    const timedOut = state?.timedOut ?? false;
    const kind = timedOut ? 'timeout' : ((err as NodeJS.ErrnoException).code ?? 'error').toLowerCase();
    metrics.upstreamErrors.inc({ kind });
    if (!(res instanceof http.ServerResponse)) {
      res.destroy(); // a failed upgrade: nothing to answer on a raw socket
      return;
    }
    if (res.headersSent) {
      // The upstream died mid-answer: cut the client's connection so it sees a truncated
      // response instead of waiting for bytes that will never come.
      res.destroy();
      return;
    }
    const code: ErrorCode = timedOut ? 'DW_ERR_PROXY_UPSTREAM_TIMEOUT' : 'DW_ERR_PROXY_UPSTREAM_UNAVAILABLE';
    const e = new DriftwatchError(
      code,
      timedOut
        ? `upstream ${target.origin} sent no response within ${config.upstreamTimeoutMs} ms`
        : `upstream ${target.origin} unavailable: ${messageOf(err)}`,
    );
    const body = JSON.stringify({ error_code: e.mlflowCode, message: e.message, request_id: state?.id ?? null });
    res.writeHead(e.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  proxy.on('error', (err, req, res) => fail(req, res as http.ServerResponse | Socket, err));

  proxy.on('proxyReq', (proxyReq, req) => {
    const state = states.get(req);
    if (!state) return;
    // Timeout to the response headers only: a long streamed answer is not cut once it started.
    proxyReq.setTimeout(config.upstreamTimeoutMs, () => {
      state.timedOut = true;
      proxyReq.destroy(new Error('upstream timeout'));
    });
    proxyReq.once('response', () => proxyReq.setTimeout(0));
  });

  proxy.on('proxyRes', (proxyRes, req, res) => {
    // http-proxy 1.18 does not notice an upstream dying mid-answer: the client would wait for
    // bytes that never come. Cut the client's connection so it sees the truncation at once.
    const cut = () => {
      if (!res.writableFinished) {
        metrics.upstreamErrors.inc({ kind: 'reset_mid_response' });
        res.destroy();
      }
    };
    proxyRes.once('aborted', cut);
    proxyRes.once('error', cut);
    const state = states.get(req);
    if (!state) return;
    state.upstreamMs = Number(process.hrtime.bigint() - state.t0) / 1e6;
    const v = proxyRes.headers['x-driftwatch-model-version'];
    if (typeof v === 'string' && !state.version) state.version = v;
    const declared = Number(proxyRes.headers['content-length']);
    if (state.sampled && !state.tooLarge) {
      if (Number.isFinite(declared) && declared > capture.maxBodyBytes) state.tooLarge = true;
      else state.resTap = { chunks: [], size: 0 };
    }
    proxyRes.on('data', (chunk: Buffer) => {
      state.responseBytes += chunk.length;
      state.resTap = tapChunk(state.resTap, chunk, capture.maxBodyBytes, state);
    });
  });

  const finish = (req: http.IncomingMessage, res: http.ServerResponse, state: RequestState): void => {
    const totalMs = Number(process.hrtime.bigint() - state.t0) / 1e6;
    const sc = statusClass(res.statusCode);
    metrics.requests.inc({ route: state.route, status_class: sc });
    metrics.totalDuration.observe({ route: state.route }, totalMs / 1000);
    if (state.upstreamMs > 0) metrics.upstreamDuration.observe({ route: state.route }, state.upstreamMs / 1000);
    if (state.route === 'other') return;
    const aborted = !res.writableFinished;
    let skipped: InferenceEvent['skipped'] = null;
    if (!state.sampled) skipped = 'sampled_out';
    else if (aborted) skipped = 'aborted';
    else if (state.tooLarge || !state.reqTap || !state.resTap) skipped = 'too_large';
    metrics.capture.inc({ outcome: skipped ?? 'captured' });
    const body = (tap: Tap | null, headers: http.IncomingHttpHeaders | http.OutgoingHttpHeaders) =>
      tap && skipped === null
        ? { bytes: tap.chunks!.length === 1 ? tap.chunks![0]! : Buffer.concat(tap.chunks!, tap.size), contentType: String(headers['content-type'] ?? ''), contentEncoding: String(headers['content-encoding'] ?? 'identity') }
        : null;
    deps.onEvent({
      requestId: state.id,
      startedAtMs: state.startedAtMs,
      method: req.method ?? 'POST',
      path: state.path,
      model: state.model,
      version: state.version,
      route: state.route,
      status: res.statusCode,
      upstreamMs: state.upstreamMs,
      totalMs,
      requestBytes: state.requestBytes,
      responseBytes: state.responseBytes,
      request: body(state.reqTap, req.headers),
      response: body(state.resTap, res.getHeaders()),
      skipped,
    });
  };

  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    let route: InferenceEvent['route'] = 'other';
    let model: string | null = null;
    let version: string | null = null;
    if (req.method === 'POST') {
      if (path === '/invocations') {
        route = 'invocations';
        model = config.model ?? null;
      } else if (path.startsWith('/v2/models/')) {
        const m = INFER_PATH.exec(path);
        if (m) {
          route = 'infer';
          model = safeDecode(m[1]!);
          version = m[2] === undefined ? null : safeDecode(m[2]);
        }
      } else if (extra.has(path)) {
        route = 'extra';
        model = config.model ?? null;
      }
    }
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    req.headers['x-request-id'] = id;
    res.setHeader('x-request-id', id);
    const sampled = route !== 'other' && capture.enabled && capture.sampleRate > 0 && (capture.sampleRate >= 1 || random() < capture.sampleRate);
    const state: RequestState = {
      id,
      startedAtMs: Date.now(),
      t0: process.hrtime.bigint(),
      route,
      model,
      version,
      path,
      sampled,
      tooLarge: false,
      requestBytes: Number(req.headers['content-length']) || 0,
      responseBytes: 0,
      upstreamMs: 0,
      reqTap: null,
      resTap: null,
      timedOut: false,
    };
    states.set(req, state);
    if (sampled) {
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > capture.maxBodyBytes) state.tooLarge = true;
      else state.reqTap = { chunks: [], size: 0 };
      state.requestBytes = 0;
      // Listening to 'data' alongside http-proxy's pipe: both see every chunk, flow control stays
      // with the pipe (it pauses the request when the upstream pushes back).
      req.on('data', (chunk: Buffer) => {
        state.requestBytes += chunk.length;
        state.reqTap = tapChunk(state.reqTap, chunk, capture.maxBodyBytes, state);
      });
    }
    inflight++;
    res.once('close', () => {
      try {
        finish(req, res, state);
      } catch (e) {
        logger.warn('capture failed for a request; traffic unaffected', { error: messageOf(e) });
      }
      if (--inflight === 0 && drained) drained();
    });
    proxy.web(req, res);
  });

  server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    proxy.ws(req, socket, head);
  });
  server.keepAliveTimeout = 65_000;
  const lifecycle = manageLifecycle(server);

  return {
    server,
    listen: () => listen(server, config.port, config.host, 'proxy'),
    async close(graceMs) {
      await lifecycle.close(graceMs, () => (inflight > 0 ? new Promise<void>((resolve) => (drained = resolve)) : null));
      proxy.close();
      agent.destroy();
    },
  };
}
