/**
 * What both proxy engines (the fast lane on raw sockets and the node:http path) do the same way for
 * one request: classify its route, name it with a request id, copy its bodies for the tap, and,
 * when it is over, count it and hand its event to the analysis side. Kept in one place so the two
 * engines cannot drift apart in what they record.
 */
import { randomBytes } from 'node:crypto';
import type { InferenceEvent } from '../capture/inference-event.js';
import type { ProxyConfig } from '../config/schema.js';
import type { Logger } from '../telemetry/logger.js';
import type { CounterChild, HistogramChild } from '../telemetry/hot-metrics.js';
import { statusClass, type ProxyMetrics } from '../telemetry/metrics.js';

export type Route = InferenceEvent['route'];

/** What either engine is given (the fast lane also gets the node path to hand connections to). */
export interface ProxyEngineDeps {
  config: ProxyConfig & { upstream: string };
  logger: Logger;
  metrics: ProxyMetrics;
  /** Receives each finished request; must be O(1) and never throw (BoundedQueue.offer). */
  onEvent: (event: InferenceEvent) => void;
  random?: () => number;
  /**
   * Deadlines for clients: a request head must be complete within headersTimeoutMs (both engines;
   * default 60 s, node:http's) and, on the node path, a whole request within requestTimeoutMs
   * (default 300 s, node:http's; the fast lane relies on upstreamTimeoutMs and the upstream's own
   * deadline); a late one gets a JSON 408. No config key sets them yet; the hostile-input tests
   * shorten them (docs/bad-input.md).
   */
  clientTimeouts?: { headersTimeoutMs?: number; requestTimeoutMs?: number };
}

const INFER_PATH = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?\/infer$/;

/**
 * Request ids: UUID-shaped (8-4-4-4-12 hex) so logs and tests that expect one keep working, made of
 * a random per-process prefix (96 bits) and a 48-bit counter: unique across replicas without
 * drawing randomness per request.
 */
export function requestIdGenerator(): () => string {
  const r = randomBytes(12).toString('hex');
  const prefix = `${r.slice(0, 8)}-${r.slice(8, 12)}-${r.slice(12, 16)}-${r.slice(16, 20)}-`;
  let n = 0;
  return () => prefix + (n++ % 0x1000000000000).toString(16).padStart(12, '0');
}

function safeDecode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

export interface RouteInfo {
  route: Route;
  model: string | null;
  version: string | null;
}

const OTHER: RouteInfo = { route: 'other', model: null, version: null };

/** Which prediction route a request is on (POST only), and the model and version its path names. */
export function classifyRoute(method: string, path: string, configModel: string | null, extra: ReadonlySet<string>): RouteInfo {
  if (method !== 'POST') return OTHER;
  if (path === '/invocations') return { route: 'invocations', model: configModel, version: null };
  if (path.startsWith('/v2/models/')) {
    const m = INFER_PATH.exec(path);
    if (m) return { route: 'infer', model: safeDecode(m[1]!), version: m[2] === undefined ? null : safeDecode(m[2]) };
    return OTHER;
  }
  if (extra.size > 0 && extra.has(path)) return { route: 'extra', model: configModel, version: null };
  return OTHER;
}

/** The capture side of one exchange: both engines' exchange objects extend it. */
export class TapState {
  startedAtMs = 0;
  upstreamMs = 0;
  requestBytes = 0;
  responseBytes = 0;
  tooLarge = false;
  reqTap: Buffer[] | null = null;
  reqTapSize = 0;
  resTap: Buffer[] | null = null;
  resTapSize = 0;
  reqContentType = '';
  reqContentEncoding = '';
  resContentType = '';
  resContentEncoding = '';

  constructor(
    readonly id: string,
    /** performance.now() at the request's start. */
    readonly t0: number,
    readonly method: string,
    readonly path: string,
    readonly route: Route,
    readonly model: string | null,
    public version: string | null,
    readonly sampled: boolean,
  ) {}
}

/** Adds a request body chunk to the tap, or drops the tap once it passes the cap (never buffers past it). */
export function tapRequest(ex: TapState, chunk: Buffer, maxBytes: number): void {
  if (ex.reqTapSize + chunk.length > maxBytes) {
    ex.tooLarge = true;
    ex.reqTap = null;
  } else {
    ex.reqTap!.push(chunk);
    ex.reqTapSize += chunk.length;
  }
}

export function tapResponse(ex: TapState, chunk: Buffer, maxBytes: number): void {
  if (ex.resTapSize + chunk.length > maxBytes) {
    ex.tooLarge = true;
    ex.resTap = null;
  } else {
    ex.resTap!.push(chunk);
    ex.resTapSize += chunk.length;
  }
}

function joined(chunks: Buffer[], size: number): Buffer {
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

/** Metric children per route and per outcome, looked up once per ProxyMetrics (hot-metrics.ts). */
interface BoundMetrics {
  requests: Record<string, CounterChild>;
  total: HistogramChild;
  upstream: HistogramChild;
}
interface Bound {
  routes: Partial<Record<Route, BoundMetrics>>;
  capture: Record<string, CounterChild>;
}
const bound = new WeakMap<ProxyMetrics, Bound>();

function boundFor(metrics: ProxyMetrics): Bound {
  let b = bound.get(metrics);
  if (b === undefined) bound.set(metrics, (b = { routes: {}, capture: {} }));
  return b;
}

/**
 * Counts a finished exchange and, on a prediction route, offers its event. `status` is what the
 * client was answered (0 when nothing was); `complete` whether the whole answer reached it.
 */
export function recordExchange(metrics: ProxyMetrics, onEvent: (e: InferenceEvent) => void, ex: TapState, status: number, complete: boolean): void {
  const totalMs = performance.now() - ex.t0;
  const route = ex.route;
  const b = boundFor(metrics);
  const m = (b.routes[route] ??= { requests: {}, total: metrics.totalDuration.labels(route), upstream: metrics.upstreamDuration.labels(route) });
  const cls = statusClass(status);
  (m.requests[cls] ??= metrics.requests.labels(route, cls)).inc();
  m.total.observe(totalMs / 1000);
  if (ex.upstreamMs > 0) m.upstream.observe(ex.upstreamMs / 1000);
  if (route === 'other') return;
  let skipped: InferenceEvent['skipped'] = null;
  if (!ex.sampled) skipped = 'sampled_out';
  else if (!complete) skipped = 'aborted';
  else if (ex.tooLarge || ex.reqTap === null || ex.resTap === null) skipped = 'too_large';
  const outcome = skipped ?? 'captured';
  (b.capture[outcome] ??= metrics.capture.labels(outcome)).inc();
  const captured = skipped === null;
  onEvent({
    requestId: ex.id,
    startedAtMs: ex.startedAtMs,
    method: ex.method,
    path: ex.path,
    model: ex.model,
    version: ex.version,
    route,
    status,
    upstreamMs: ex.upstreamMs,
    totalMs,
    requestBytes: ex.requestBytes,
    responseBytes: ex.responseBytes,
    request: captured
      ? { bytes: joined(ex.reqTap!, ex.reqTapSize), contentType: ex.reqContentType, contentEncoding: ex.reqContentEncoding || 'identity' }
      : null,
    response: captured
      ? { bytes: joined(ex.resTap!, ex.resTapSize), contentType: ex.resContentType, contentEncoding: ex.resContentEncoding || 'identity' }
      : null,
    skipped,
  });
}

/** Request body bytes kept (by reference) so a request can be resent once on a fresh connection. */
const MAX_REPLAY = 1024 * 1024;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

/** What an exchange keeps of its request while it can still be resent. */
export interface Replayable {
  /** Body pieces sent so far, by reference; null once past MAX_REPLAY or answered. */
  replay: Buffer[] | null;
  replaySize: number;
}

/** Keeps a body piece for a resend, or gives the resend up once the body passes MAX_REPLAY. */
export function keepForReplay(ex: Replayable, piece: Buffer): void {
  if (ex.replay === null) return;
  ex.replaySize += piece.length;
  if (ex.replaySize > MAX_REPLAY) ex.replay = null;
  else ex.replay.push(piece);
}

/**
 * Whether a request whose reused upstream connection failed before any answer may be sent again
 * (both engines). RFC 9112 9.3.1: a non-idempotent request is not repeated automatically unless
 * its semantics are known to be idempotent. Scoring a prediction is (the answer is a function of
 * the input), so the prediction routes are resent unless proxy.resendPredictions is off; other
 * POSTs never are.
 */
export function mayResend(method: string, route: Route, resendPredictions: boolean): boolean {
  return IDEMPOTENT.has(method) || (route !== 'other' && resendPredictions);
}

/** The JSON body of an error the proxy answers itself (502/504), naming the request id. */
export function errorBody(mlflowCode: string, message: string, requestId: string): string {
  return JSON.stringify({ error_code: mlflowCode, message, request_id: requestId });
}
