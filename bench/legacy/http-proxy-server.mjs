/**
 * BENCH-ONLY: the http-proxy 1.18 implementation of the sidecar proxy as it was before the lean
 * data path (git HEAD 9930bf1 src/proxy/proxy-server.ts, types stripped by esbuild, imports
 * pointed at dist/). Kept here, not in src/, so the benchmark can compare old and new in the
 * same run (`BENCH_PROXY_TARGETS=... dw-old-off dw-old-on`) without dead code in the product.
 * Loaded instead of dist/src/proxy/proxy-server.js by bench/legacy/use-http-proxy.mjs.
 * Do not edit except to keep it loading; it is the baseline.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import httpProxy from 'http-proxy';
import { DriftwatchError, messageOf } from '../../dist/src/errors.js';
import { manageLifecycle } from '../../dist/src/http-lifecycle.js';
import { listen } from '../../dist/src/listen.js';
import { statusClass } from '../../dist/src/telemetry/metrics.js';
const INFER_PATH = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?\/infer$/;
const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,200}$/;
function tapChunk(tap, chunk, cap, state) {
  if (!tap) return null;
  if (tap.size + chunk.length > cap) {
    state.tooLarge = true;
    return null;
  }
  tap.chunks.push(chunk);
  tap.size += chunk.length;
  return tap;
}
function safeDecode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}
function createProxyServer(deps) {
  const { config, logger, metrics } = deps;
  const capture = config.capture;
  const random = deps.random ?? Math.random;
  const extra = new Set(capture.extraPaths);
  const target = new URL(config.upstream);
  const agentOptions = { keepAlive: true, maxSockets: config.maxSockets, keepAliveMsecs: 1e3 };
  const agent = target.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  const proxy = httpProxy.createProxyServer({ target: config.upstream, agent, xfwd: true, ws: true, preserveHeaderKeyCase: true });
  const states = /* @__PURE__ */ new WeakMap();
  let inflight = 0;
  let drained = null;
  const fail = (req, res, err) => {
    const state = states.get(req);
    const timedOut = state?.timedOut ?? false;
    const kind = timedOut ? 'timeout' : (err.code ?? 'error').toLowerCase();
    metrics.upstreamErrors.inc({ kind });
    if (!(res instanceof http.ServerResponse)) {
      res.destroy();
      return;
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const code = timedOut ? 'DW_ERR_PROXY_UPSTREAM_TIMEOUT' : 'DW_ERR_PROXY_UPSTREAM_UNAVAILABLE';
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
  proxy.on('error', (err, req, res) => fail(req, res, err));
  proxy.on('proxyReq', (proxyReq, req) => {
    const state = states.get(req);
    if (!state) return;
    proxyReq.setTimeout(config.upstreamTimeoutMs, () => {
      state.timedOut = true;
      proxyReq.destroy(new Error('upstream timeout'));
    });
    proxyReq.once('response', () => proxyReq.setTimeout(0));
  });
  proxy.on('proxyRes', (proxyRes, req, res) => {
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
    proxyRes.on('data', (chunk) => {
      state.responseBytes += chunk.length;
      state.resTap = tapChunk(state.resTap, chunk, capture.maxBodyBytes, state);
    });
  });
  const finish = (req, res, state) => {
    const totalMs = Number(process.hrtime.bigint() - state.t0) / 1e6;
    const sc = statusClass(res.statusCode);
    metrics.requests.inc({ route: state.route, status_class: sc });
    metrics.totalDuration.observe({ route: state.route }, totalMs / 1e3);
    if (state.upstreamMs > 0) metrics.upstreamDuration.observe({ route: state.route }, state.upstreamMs / 1e3);
    if (state.route === 'other') return;
    const aborted = !res.writableFinished;
    let skipped = null;
    if (!state.sampled) skipped = 'sampled_out';
    else if (aborted) skipped = 'aborted';
    else if (state.tooLarge || !state.reqTap || !state.resTap) skipped = 'too_large';
    metrics.capture.inc({ outcome: skipped ?? 'captured' });
    const body = (tap, headers) =>
      tap && skipped === null
        ? {
            bytes: tap.chunks.length === 1 ? tap.chunks[0] : Buffer.concat(tap.chunks, tap.size),
            contentType: String(headers['content-type'] ?? ''),
            contentEncoding: String(headers['content-encoding'] ?? 'identity'),
          }
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
    let route = 'other';
    let model = null;
    let version = null;
    if (req.method === 'POST') {
      if (path === '/invocations') {
        route = 'invocations';
        model = config.model ?? null;
      } else if (path.startsWith('/v2/models/')) {
        const m = INFER_PATH.exec(path);
        if (m) {
          route = 'infer';
          model = safeDecode(m[1]);
          version = m[2] === void 0 ? null : safeDecode(m[2]);
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
    const state = {
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
      req.on('data', (chunk) => {
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
  server.on('upgrade', (req, socket, head) => {
    proxy.ws(req, socket, head);
  });
  server.keepAliveTimeout = 65e3;
  const lifecycle = manageLifecycle(server);
  return {
    server,
    listen: () => listen(server, config.port, config.host, 'proxy'),
    async close(graceMs) {
      await lifecycle.close(graceMs, () => (inflight > 0 ? new Promise((resolve) => (drained = resolve)) : null));
      proxy.close();
      agent.destroy();
    },
  };
}
export { createProxyServer };
