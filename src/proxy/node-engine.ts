/**
 * The node engine: the proxy's data path on node:http. It handles every request with
 * `proxy.engine: node` or an https upstream, and every request on a connection the fast lane hands
 * over (upgrades excepted: http-proxy relays those; proxy-server.ts creates the node:http server and
 * dispatches). http.request through a keep-alive http.Agent, both bodies streamed chunk by chunk
 * with flow control, headers copied from rawHeaders into flat arrays as the forwarding policy has
 * them (forwarding.ts, the fast lane's too). It replaced http-proxy here because http-proxy's
 * per-request machinery (its pass pipeline, Object.assign'd header objects, pipe() closures,
 * setHeader per response header, per-request URL handling) cost ~95-115 us of CPU per 1-row
 * request against nginx's ~11 us; measured in bench/PROXY-RESULTS-NEW.md, old and new in the same
 * run.
 *
 * What it never does: consume or change the body it forwards (the tap copies chunk references as
 * they pass), wait for the analysis side (an event is offered to a bounded queue in O(1) when the
 * answer is done), or let its own failure reach the client (every tap step is guarded; an upstream
 * failure becomes a JSON 502/504 naming the request id). Upstream dying mid-answer cuts the client
 * connection; a client going away aborts the upstream request.
 *
 * Hot-path rules (why the code looks the way it does): no closure is created per request (the
 * listeners are shared functions that find their Exchange through a symbol on the emitter), no
 * `new URL` per request, headers are scanned once from rawHeaders (no lower-casing except for the
 * few lengths that can matter), request ids are a per-process random prefix plus a counter, the
 * upstream deadline is one shared timer over a FIFO set (not a socket timeout per request), and
 * nothing is copied for capture when capture is off or the request is not sampled.
 */
import http from 'node:http';
import https from 'node:https';
import net, { type Socket } from 'node:net';
import type { InferenceEvent } from '../capture/inference-event.js';
import type { ProxyConfig } from '../config/schema.js';
import { DriftwatchError, messageOf, type ErrorCode } from '../errors.js';
import type { ProxyMetrics } from '../telemetry/metrics.js';
import {
  classifyRoute,
  errorBody,
  keepForReplay,
  mayResend,
  recordExchange,
  requestIdGenerator,
  tapRequest,
  tapResponse,
  TapState,
  type ProxyEngineDeps,
  type Replayable,
} from './exchange.js';
import {
  addRequestPairs,
  addResponsePairs,
  forwardRequestField,
  forwardResponseField,
  upstreamPath,
  upstreamTarget,
  withoutNamedPairs,
  type RequestForwarding,
  type ResponseForwarding,
} from './forwarding.js';
import { F, requestField, responseField } from './header-fields.js';
import { readBeforeWriteError } from './upstream-pool.js';

/** Where an emitter (client req/res, upstream req/res) finds its exchange: no closures per request. */
const EX = Symbol('driftwatch.exchange');
/** On a client socket whose connection was refused (a 400 that closes it). */
const REFUSED = Symbol('driftwatch.refused');
type Tagged<T> = T & { [EX]?: Exchange };

/** One proxied request: fixed shape, everything the shared listeners need. */
class Exchange extends TapState implements Replayable {
  upReq: http.ClientRequest | null = null;
  upRes: http.IncomingMessage | null = null;
  /** The upstream request's options, kept so the request can be resent once. */
  upOpts: http.RequestOptions | null = null;
  /** Body chunks sent so far (references), while the request can still be resent (exchange.ts). */
  replay: Buffer[] | null = [];
  replaySize = 0;
  /** The whole request body has reached the proxy. */
  reqDone = false;
  retried = false;
  /** Upstream deadline (performance.now() ms) while waiting for response headers. */
  deadline = 0;
  timedOut = false;
  clientGone = false;

  constructor(
    readonly engine: NodeEngine,
    readonly req: http.IncomingMessage,
    readonly res: http.ServerResponse,
    method: string,
    id: string,
    t0: number,
    route: InferenceEvent['route'],
    path: string,
    model: string | null,
    version: string | null,
    sampled: boolean,
  ) {
    super(id, t0, method, path, route, model, version, sampled);
  }
}

// ------------------------------------------------------------------ shared listeners
// Each finds its Exchange through the EX symbol on `this` (the emitter).

function onClientData(this: Tagged<http.IncomingMessage>, chunk: Buffer): void {
  const ex = this[EX]!;
  ex.requestBytes += chunk.length;
  if (ex.reqTap !== null) tapRequest(ex, chunk, ex.engine.maxBodyBytes);
  keepForReplay(ex, chunk);
  const up = ex.upReq!;
  if (!up.write(chunk)) {
    this.pause();
    up.once('drain', onUpstreamReqDrain);
  }
}

function onUpstreamReqDrain(this: Tagged<http.ClientRequest>): void {
  this[EX]?.req.resume();
}

function onClientEnd(this: Tagged<http.IncomingMessage>): void {
  const ex = this[EX]!;
  ex.reqDone = true;
  ex.upReq!.end();
}

function onUpstreamResponse(this: Tagged<http.ClientRequest>, upRes: Tagged<http.IncomingMessage>): void {
  const ex = this[EX]!;
  ex.engine.onUpstreamResponse(ex, upRes);
}

function onUpstreamData(this: Tagged<http.IncomingMessage>, chunk: Buffer): void {
  const ex = this[EX]!;
  ex.responseBytes += chunk.length;
  if (ex.resTap !== null) tapResponse(ex, chunk, ex.engine.maxBodyBytes);
  if (!ex.res.write(chunk)) {
    this.pause();
    ex.res.once('drain', onClientResDrain);
  }
}

function onClientResDrain(this: Tagged<http.ServerResponse>): void {
  this[EX]?.upRes?.resume();
}

function onUpstreamEnd(this: Tagged<http.IncomingMessage>): void {
  const ex = this[EX]!;
  if (!ex.reqDone) {
    // A complete answer before the whole request body (a 413): the rest of the body is not
    // relayed (the upstream may have closed); node reads and drops it, then the connection closes.
    ex.req.off('data', onClientData);
    ex.req.off('end', onClientEnd);
    ex.req.resume();
  }
  ex.res.end();
}

function onUpstreamResClose(this: Tagged<http.IncomingMessage>): void {
  // The upstream died mid-answer: cut the client's connection so it sees a truncated response
  // instead of waiting for bytes that will never come.
  if (this.complete) return;
  const ex = this[EX]!;
  if (!ex.res.writableFinished && !ex.clientGone) {
    ex.engine.metrics.upstreamErrors.inc({ kind: 'reset_mid_response' });
    ex.res.destroy();
  }
}

function onUpstreamError(this: Tagged<http.ClientRequest>, err: Error): void {
  const ex = this[EX]!;
  ex.engine.onUpstreamError(ex, err, this);
}

function onClientClose(this: Tagged<http.ServerResponse>): void {
  const ex = this[EX]!;
  ex.engine.onClientClose(ex);
}

/**
 * The agent's connections keep an early answer that arrives as a body write fails (upstream-pool.ts
 * readBeforeWriteError). The agent uses the socket createConnection returns (its callback is for
 * connections made asynchronously), so none is passed on.
 */
function readEarlyAnswers(agent: http.Agent): http.Agent {
  agent.createConnection = (opts) => readBeforeWriteError(net.createConnection(opts as net.NetConnectOpts));
  return agent;
}

// ------------------------------------------------------------------ the engine

export class NodeEngine {
  readonly maxBodyBytes: number;
  readonly metrics: ProxyMetrics;
  private readonly capture: ProxyConfig['capture'];
  private readonly captureOn: boolean;
  private readonly extra: Set<string>;
  private readonly random: () => number;
  private readonly nextId = requestIdGenerator();
  private readonly request: typeof http.request;
  private readonly agent: http.Agent;
  /** For the one resend of a request: a connection of its own, never a pooled one. */
  private retryAgent: http.Agent | null = null;
  private readonly tls: boolean;
  private readonly upstreamHost: string;
  private readonly upstreamPort: number;
  private readonly upstreamHostHeader: string;
  /** Base path of the upstream URL without its trailing slash ('' for the root). */
  private readonly basePath: string;
  private readonly origin: string;
  /** Exchanges waiting for upstream response headers, oldest first (all share one timeout). */
  private readonly waiting = new Set<Exchange>();
  private sweeper: NodeJS.Timeout | null = null;
  inflight = 0;
  drained: (() => void) | null = null;

  constructor(private readonly deps: ProxyEngineDeps) {
    const { config } = deps;
    // timeout: idle keep-alive sockets are closed after proxy.upstreamIdleMs, as on the fast lane,
    // before typical upstream idle timeouts close them under a request (http.Agent applies it to
    // free sockets only: an active request just gets a 'timeout' event, and its deadline is the
    // sweeper's upstreamTimeoutMs).
    const agentOptions: http.AgentOptions & { noDelay: boolean } = {
      keepAlive: true,
      maxSockets: config.maxSockets,
      keepAliveMsecs: 1000,
      noDelay: true,
      timeout: config.upstreamIdleMs,
    };
    this.metrics = deps.metrics;
    this.capture = config.capture;
    this.captureOn = config.capture.enabled && config.capture.sampleRate > 0;
    this.maxBodyBytes = config.capture.maxBodyBytes;
    this.extra = new Set(config.capture.extraPaths);
    this.random = deps.random ?? Math.random;
    const target = upstreamTarget(config.upstream); // once, at start-up
    const tls = target.tls;
    this.tls = tls;
    this.request = tls ? https.request : http.request;
    this.agent = tls ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    // An upstream's early answer must survive a failed write of the body (upstream-pool.ts).
    if (!tls) readEarlyAnswers(this.agent);
    this.upstreamHost = target.host;
    this.upstreamPort = target.port;
    this.upstreamHostHeader = target.hostHeader;
    this.basePath = target.basePath;
    this.origin = target.origin;
  }

  get upstreamAgent(): http.Agent {
    return this.agent;
  }

  handle(req: Tagged<http.IncomingMessage>, res: Tagged<http.ServerResponse>): void {
    const socket = req.socket as Socket & { [REFUSED]?: true };
    // Requests pipelined behind a refused one: the connection closes after that answer, and they
    // must not reach the upstream (node would still dispatch them).
    if (socket[REFUSED]) {
      req.resume();
      return;
    }
    if (req.headers.host === undefined && req.httpVersion === '1.1') {
      // RFC 9112 3.2: an HTTP/1.1 request without Host is refused (the server's own check is off so
      // that this 400 is JSON, like every other, and closes the connection).
      this.refuse(req, res, 'an HTTP/1.1 request needs a Host header');
      return;
    }
    const url = req.url ?? '/';
    const upPath = upstreamPath(this.basePath, url);
    if (upPath === null) {
      // A dot-segment could climb out of the base path or an upstream's file root (forwarding.ts).
      this.refuse(req, res, 'the request target has a dot-segment (. or .., raw or percent-encoded)');
      return;
    }
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const { route, model, version } = classifyRoute(req.method ?? 'GET', path, this.deps.config.model ?? null, this.extra);
    const sampled = route !== 'other' && this.captureOn && (this.capture.sampleRate >= 1 || this.random() < this.capture.sampleRate);

    // One pass over the client's headers: copy the ones the forwarding policy forwards (case kept;
    // forwarding.ts: hop-by-hop and Connection-named fields, X-Forwarded-* and a request id that
    // does not look like one are not), note what the added fields and the tap need.
    // Transfer-Encoding is kept so node frames a chunked body the same way (it re-chunks; the
    // payload bytes are unchanged).
    const raw = req.rawHeaders;
    const out: string[] = [];
    const fwd: RequestForwarding = {
      requestId: null,
      xForwardedFor: null,
      xForwardedPort: null,
      xForwardedProto: null,
      xForwardedHost: null,
      named: null,
      connection: 0,
    };
    let host: string | null = null;
    let contentLength = -1;
    let hasBody = false;
    let reqType = '';
    let reqEncoding = '';
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const value = raw[i + 1]!;
      const f = requestField(name);
      switch (f) {
        case F.HOST:
          host ??= value;
          break;
        case F.CONTENT_TYPE:
          reqType = value;
          break;
        case F.CONTENT_LENGTH:
          contentLength = Number(value);
          hasBody = true;
          break;
        case F.CONTENT_ENCODING:
          reqEncoding = value;
          break;
        case F.TRANSFER_ENCODING:
          hasBody = true;
          break;
      }
      if (forwardRequestField(fwd, f, value, 0, value.length)) out.push(name, value);
    }
    if (fwd.named !== null) withoutNamedPairs(out, fwd.named);
    const id = fwd.requestId ?? this.nextId();
    const proto = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
    addRequestPairs(out, fwd, id, req.socket.remoteAddress ?? '', host, proto, this.upstreamHostHeader);

    const ex = new Exchange(this, req, res, req.method ?? 'GET', id, performance.now(), route, path, model, version, sampled);
    if (route !== 'other') ex.startedAtMs = Date.now();
    if (sampled) {
      ex.reqContentType = reqType;
      ex.reqContentEncoding = reqEncoding;
      if (contentLength > this.maxBodyBytes) ex.tooLarge = true;
      else ex.reqTap = [];
    }
    req[EX] = ex;
    res[EX] = ex;

    ex.upOpts = {
      host: this.upstreamHost,
      port: this.upstreamPort,
      method: req.method,
      path: upPath,
      headers: out,
      agent: this.agent,
    };
    const upReq = this.sendUpstream(ex, ex.upOpts);
    this.inflight++;
    res.on('close', onClientClose);
    ex.deadline = ex.t0 + this.deps.config.upstreamTimeoutMs;
    this.waiting.add(ex);
    this.sweeper ??= this.startSweeper();

    if (hasBody && contentLength !== 0) {
      req.on('data', onClientData);
      req.on('end', onClientEnd);
    } else {
      // No body by HTTP/1.1 framing (RFC 9112 6.3): nothing to stream, the request is complete.
      ex.reqDone = true;
      upReq.end();
    }
  }

  /** A JSON 400 that closes the connection; nothing pipelined behind it reaches the upstream. */
  private refuse(req: http.IncomingMessage, res: http.ServerResponse, message: string): void {
    (req.socket as Socket & { [REFUSED]?: true })[REFUSED] = true;
    const body = JSON.stringify({ error_code: 'BAD_REQUEST', message });
    req.resume();
    res.shouldKeepAlive = false; // node then closes after it, and knows it (http-lifecycle's clientError)
    res.writeHead(400, ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(body)), 'connection', 'close']);
    res.end(body);
  }

  private sendUpstream(ex: Exchange, opts: http.RequestOptions): http.ClientRequest {
    const upReq: Tagged<http.ClientRequest> = this.request(opts);
    upReq[EX] = ex;
    ex.upReq = upReq;
    upReq.on('response', onUpstreamResponse);
    upReq.on('error', onUpstreamError);
    return upReq;
  }

  /**
   * A reused keep-alive connection that failed before any answer (the upstream closed it as idle
   * while the request was on its way; http.Agent cannot tell): the request is sent once more, on a
   * connection of its own, when it is whole and may be repeated. The same rule as the fast lane's
   * (RFC 9112 9.3.1: idempotent methods, and the prediction routes unless
   * proxy.resendPredictions is off).
   */
  private maybeResend(ex: Exchange, failed: http.ClientRequest): boolean {
    if (ex.retried || ex.timedOut || ex.upRes !== null || !failed.reusedSocket || !ex.reqDone || ex.replay === null || ex.upOpts === null) return false;
    if (!mayResend(ex.method, ex.route, this.deps.config.resendPredictions)) return false;
    ex.retried = true;
    this.metrics.upstreamRetries.inc();
    this.retryAgent ??= this.tls ? new https.Agent({ keepAlive: false }) : readEarlyAnswers(new http.Agent({ keepAlive: false }));
    const upReq = this.sendUpstream(ex, { ...ex.upOpts, agent: this.retryAgent });
    for (const chunk of ex.replay) upReq.write(chunk);
    ex.replay = null;
    upReq.end();
    return true;
  }

  /** One timer for every upstream deadline: the set is in start order and all share one timeout. */
  private startSweeper(): NodeJS.Timeout {
    const every = Math.max(5, Math.min(1000, Math.floor(this.deps.config.upstreamTimeoutMs / 10)));
    const t = setInterval(() => {
      const now = performance.now();
      for (const ex of this.waiting) {
        if (ex.deadline > now) break;
        this.waiting.delete(ex);
        ex.timedOut = true;
        ex.upReq?.destroy(new Error('upstream timeout'));
      }
    }, every);
    t.unref();
    return t;
  }

  onUpstreamResponse(ex: Exchange, upRes: Tagged<http.IncomingMessage>): void {
    this.waiting.delete(ex);
    ex.upRes = upRes;
    ex.replay = null; // answered: it will not be resent
    upRes[EX] = ex;
    ex.upstreamMs = performance.now() - ex.t0;
    const res = ex.res;
    if (ex.clientGone) {
      upRes.resume();
      return;
    }
    // Response headers: the ones the forwarding policy relays, copied in order with their case
    // (node frames the answer to the client itself, so Transfer-Encoding and Trailer go too:
    // Content-Length kept means the same framing, otherwise chunked for HTTP/1.1 clients).
    const raw = upRes.rawHeaders;
    const out: string[] = [];
    const fwd: ResponseForwarding = { named: null, connection: 0, hasRequestId: false };
    let contentLength = -1;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const value = raw[i + 1]!;
      const f = responseField(name);
      switch (f) {
        case F.CONTENT_TYPE:
          ex.resContentType = value;
          break;
        case F.CONTENT_LENGTH:
          contentLength = Number(value);
          break;
        case F.CONTENT_ENCODING:
          ex.resContentEncoding = value;
          break;
        case F.MODEL_VERSION:
          ex.version ??= value;
          break;
      }
      if (forwardResponseField(fwd, f, value, 0, value.length, true)) out.push(name, value);
    }
    if (fwd.named !== null) withoutNamedPairs(out, fwd.named);
    addResponsePairs(out, fwd.hasRequestId, ex.id);
    if (ex.sampled && !ex.tooLarge) {
      if (contentLength > this.maxBodyBytes) ex.tooLarge = true;
      else ex.resTap = [];
    }
    // An answer that comes before the whole request body: the client connection ends after it.
    if (!ex.reqDone) res.shouldKeepAlive = false;
    try {
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, out);
    } catch (e) {
      // An upstream header node refuses to send (invalid characters): answer 502, not crash.
      upRes.resume();
      this.answerError(ex, e as Error, false);
      return;
    }
    upRes.on('data', onUpstreamData);
    upRes.on('end', onUpstreamEnd);
    upRes.on('close', onUpstreamResClose);
  }

  onUpstreamError(ex: Exchange, err: Error, failed: http.ClientRequest): void {
    if (ex.clientGone) return; // we aborted it because the client left: not an upstream failure
    if (failed !== ex.upReq) return; // a request already replaced by its resend
    if (ex.upRes?.complete) return; // the answer was whole (an early answer, then the upstream closed)
    if (this.maybeResend(ex, failed)) return;
    this.waiting.delete(ex);
    const res = ex.res;
    const kind = ex.timedOut ? 'timeout' : ((err as NodeJS.ErrnoException).code ?? 'error').toLowerCase();
    this.metrics.upstreamErrors.inc({ kind });
    if (res.headersSent) {
      if (!res.writableFinished) res.destroy(); // died mid-answer: cut the client
      return;
    }
    this.answerError(ex, err, ex.timedOut);
  }

  private answerError(ex: Exchange, err: Error, timedOut: boolean): void {
    const res = ex.res;
    const code: ErrorCode = timedOut ? 'DW_ERR_PROXY_UPSTREAM_TIMEOUT' : 'DW_ERR_PROXY_UPSTREAM_UNAVAILABLE';
    const e = new DriftwatchError(
      code,
      timedOut
        ? `upstream ${this.origin} sent no response within ${this.deps.config.upstreamTimeoutMs} ms`
        : `upstream ${this.origin} unavailable: ${messageOf(err)}`,
    );
    const body = errorBody(e.mlflowCode, e.message, ex.id);
    // The client may still be sending its body: stop forwarding it, let node discard the rest.
    ex.req.off('data', onClientData);
    ex.req.off('end', onClientEnd);
    ex.req.resume();
    res.writeHead(e.status, ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(body)), 'x-request-id', ex.id]);
    res.end(body);
  }

  onClientClose(ex: Exchange): void {
    this.waiting.delete(ex);
    const res = ex.res;
    if (!res.writableFinished) {
      // The client went away before its answer was done: abort the upstream request.
      ex.clientGone = true;
      ex.upReq?.destroy();
    }
    try {
      this.finish(ex);
    } catch (e) {
      this.deps.logger.warn('capture failed for a request; traffic unaffected', { error: messageOf(e) });
    }
    if (--this.inflight === 0 && this.drained) this.drained();
  }

  private finish(ex: Exchange): void {
    recordExchange(this.metrics, this.deps.onEvent, ex, ex.res.statusCode, ex.res.writableFinished);
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    this.agent.destroy();
    this.retryAgent?.destroy();
  }
}
