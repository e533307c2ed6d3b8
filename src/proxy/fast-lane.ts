/**
 * The fast lane: the sidecar's data path for the request shapes prediction traffic has, on raw
 * sockets at both ends, with no node:http objects per request.
 *
 * Why: measured on this project's 2-core box, node:http on both sides of a proxy costs 80-140 us of
 * CPU per request (IncomingMessage, ServerResponse, ClientRequest and the Agent are each a full
 * stream with its own state machine), while the kernel's part of a loopback proxy is ~15 us and
 * nginx's whole cost ~13 us. Here one client 'data' event becomes, in the common case, one string
 * scan, one write of head and body to a pooled upstream socket, and one write back (writeJoined).
 *
 * What it handles itself: HTTP/1.1 requests in origin-form with a Content-Length or chunked body,
 * keep-alive and pipelining (answers in order), and every upstream answer shape (Content-Length,
 * chunked relayed with its framing and trailers, close-delimited, HEAD/204/304, 1xx interim answers
 * relayed). Status line, headers and body bytes are relayed as the upstream sent them, except what
 * the forwarding policy drops and adds (forwarding.ts, the same for the node path).
 *
 * What it hands over: any request it does not fully understand (an upgrade, Expect: 100-continue,
 * HTTP/1.0, absolute-form targets, malformed heads, heads over 16 KiB, a dot-segment in the target,
 * which the node path refuses with its JSON 400). The connection, with its
 * unread bytes put back, goes to the node:http path at a request boundary and stays there; that
 * path answers exactly as engine 'node' would, including the JSON 400 for malformed input.
 *
 * Failure rules are the node path's: refused/reset before an answer -> 502 JSON with the request
 * id, no answer headers in upstreamTimeoutMs -> 504, upstream dying mid-answer -> the client
 * connection is cut, client gone -> the upstream request is aborted (its socket destroyed), a
 * failing tap never reaches the traffic. One addition: a reused keep-alive connection that closes
 * before any byte of the answer (the upstream closing it as idle while the request was on its way)
 * is retried once on a fresh connection when the whole request is still at hand.
 */
import net from 'node:net';
import { DriftwatchError, messageOf, type ErrorCode } from '../errors.js';
import { HEAD_TIMEOUT, MALFORMED } from '../http-lifecycle.js';
import { ChunkedScanner } from './chunked-scanner.js';
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
  type Route,
} from './exchange.js';
import { addedRequestLines, addedResponseLines, upstreamPath, upstreamTarget } from './forwarding.js';
import { parseRequestHead, parseResponseHead, type RequestHead } from './http1-head.js';
import { UpstreamPool, type PoolUser, type UpstreamConn } from './upstream-pool.js';

/** The node path, as the lane sees it: where connections go, and the deadlines it keeps. */
export interface NodePath {
  /** Takes a connection the lane hands over (its unread bytes already put back). */
  handover: (socket: net.Socket) => void;
  /** Idle client connections are closed after this long (as node's server.keepAliveTimeout). */
  keepAliveTimeoutMs: number;
  /** A request head must be complete within this long (as node's server.headersTimeout). */
  headersTimeoutMs: number;
}

/** node:http's default header limit: longer heads go to node, which answers them as it always has. */
const MAX_HEAD = 16 * 1024;
/** Pipelined bytes held while an answer is pending before the client socket is paused. */
const MAX_PENDING = 64 * 1024;
const CRLF2 = Buffer.from('\r\n\r\n');

// Why a client socket is paused: it is resumed only when no reason is left.
const PAUSE_UPSTREAM = 1; // the upstream socket's write buffer is full
const PAUSE_PIPELINE = 2; // too many pipelined bytes wait behind the current answer
const PAUSE_WAITING = 4; // no upstream socket yet and the body is queueing

const REASONS: Record<number, string> = { 502: 'Bad Gateway', 504: 'Gateway Timeout' };

/**
 * A LF not preceded by CR in an incomplete head: such a head may never contain CRLFCRLF (it can
 * end in "\n\r\n" or "\n\n"), so node, which refuses it with a 400 at once, has to judge it.
 */
function hasBareLf(buf: Buffer): boolean {
  for (let i = buf.indexOf(0x0a); i >= 0; i = buf.indexOf(0x0a, i + 1)) {
    if (i === 0 || buf[i - 1] !== 0x0d) return true;
  }
  return false;
}

/** Whether `buf` holds anything besides the CR and LF of empty lines. */
function hasHeadBytes(buf: Buffer): boolean {
  for (const b of buf) if (b !== 0x0d && b !== 0x0a) return true;
  return false;
}

/** Below this, head and body are copied into one buffer: one plain write costs less than a writev. */
const JOIN_LIMIT = 16 * 1024;
/**
 * The buffer joins are written from. A fresh one per write cost the main thread a mark-compact
 * every 150-300 ms under load at 100-row bodies: a join over 4 KiB is an ArrayBuffer of its own
 * (outside Buffer's pool), and V8 collects on external memory growth (`--trace-gc`).
 */
let joinScratch = Buffer.allocUnsafeSlow(JOIN_LIMIT);

/**
 * Writes a head (latin1) and body bytes (`one` or `many`) as one write: joined into one buffer when
 * small, else corked into one writev. Returns what socket.write returned for the last piece.
 */
function writeJoined(socket: net.Socket, head: string, one: Buffer | null, many: Buffer[] | null): boolean {
  let size = head.length;
  if (one !== null) size += one.length;
  if (many !== null) for (const b of many) size += b.length;
  if (size <= JOIN_LIMIT) {
    const out = joinScratch.subarray(0, size);
    let at = out.write(head, 0, 'latin1');
    if (one !== null) at += one.copy(out, at);
    if (many !== null) for (const b of many) at += b.copy(out, at);
    const ok = socket.write(out);
    // Written at once (the usual case on a socket that keeps up): nothing holds the scratch, the
    // next join reuses it. Else the stream keeps a reference until it is written: a new scratch.
    if (socket.writableLength !== 0) joinScratch = Buffer.allocUnsafeSlow(JOIN_LIMIT);
    return ok;
  }
  socket.cork();
  let ok = socket.write(head, 'latin1');
  if (one !== null) ok = socket.write(one);
  if (many !== null) for (const b of many) ok = socket.write(b);
  socket.uncork();
  return ok;
}

class ClientConn {
  ex: Exchange | null = null;
  pending: Buffer | null = null;
  idleSince = performance.now();
  paused = 0;
  /** No more exchanges on this connection: it ends after the current answer. */
  ending = false;
  /** The client half-closed: the answers to the requests it sent go out, then the connection ends. */
  clientEnded = false;
  gone = false;
  readonly remote: string;
  /** Resumes the upstream once this client's socket drains (one bound function per connection). */
  readonly onDrain: () => void;
  constructor(readonly socket: net.Socket) {
    this.remote = socket.remoteAddress ?? '';
    this.onDrain = () => {
      const up = this.ex?.up;
      if (up && !up.closed) up.socket.resume();
    };
  }
}

/** One proxied request on the fast lane (fixed shape; the tap fields are exchange.ts's TapState). */
class Exchange extends TapState implements PoolUser, Replayable {
  up: UpstreamConn | null = null;
  /** Body bytes that arrived before an upstream socket was free. */
  queued: Buffer[] | null = null;
  queuedSize = 0;
  /** The request as sent (head + body references) while it can still be resent. */
  replay: Buffer[] | null = [];
  replaySize = 0;
  retried = false;
  reqLeft = 0;
  reqScanner: ChunkedScanner | null = null;
  reqDone = false;
  // answer
  resHead: Buffer | null = null;
  /** The answer's head, waiting to leave with the first body bytes. */
  headOut: string | null = null;
  headSent = false;
  gotAnswerByte = false;
  status = 0;
  resLeft = 0;
  resScanner: ChunkedScanner | null = null;
  resToClose = false;
  resDone = false;
  resDoneAt = 0;
  /** The upstream connection cannot carry another exchange after this one. */
  upstreamClose = false;
  deadline = 0;
  timedOut = false;

  constructor(
    readonly lane: FastLane,
    readonly conn: ClientConn,
    id: string,
    t0: number,
    method: string,
    path: string,
    route: Route,
    model: string | null,
    version: string | null,
    sampled: boolean,
    readonly upstreamHead: string,
    readonly isHead: boolean,
  ) {
    super(id, t0, method, path, route, model, version, sampled);
  }

  attach(up: UpstreamConn): void {
    this.lane.attach(this, up);
  }
}

export class FastLane {
  readonly server: net.Server;
  private readonly pool: UpstreamPool;
  private readonly conns = new Set<ClientConn>();
  /** Exchanges waiting for answer headers, oldest first (they share one timeout). */
  private readonly waiting = new Set<Exchange>();
  private readonly nextId = requestIdGenerator();
  private readonly random: () => number;
  private readonly captureOn: boolean;
  private readonly sampleRate: number;
  private readonly maxBodyBytes: number;
  private readonly extra: Set<string>;
  private readonly model: string | null;
  private readonly basePath: string;
  private readonly origin: string;
  private readonly timeoutMs: number;
  private sweeper: NodeJS.Timeout | null = null;
  private closing = false;
  private onAllClosed: (() => void) | null = null;
  inflight = 0;
  drained: (() => void) | null = null;

  constructor(
    private readonly deps: ProxyEngineDeps,
    private readonly node: NodePath,
  ) {
    const { config } = deps;
    const target = upstreamTarget(config.upstream);
    if (target.protocol !== 'http:') throw new Error('the fast lane speaks plain HTTP to the upstream');
    this.random = deps.random ?? Math.random;
    this.captureOn = config.capture.enabled && config.capture.sampleRate > 0;
    this.sampleRate = config.capture.sampleRate;
    this.maxBodyBytes = config.capture.maxBodyBytes;
    this.extra = new Set(config.capture.extraPaths);
    this.model = config.model ?? null;
    this.basePath = target.basePath;
    this.origin = target.origin;
    this.timeoutMs = config.upstreamTimeoutMs;
    this.pool = new UpstreamPool(target.host, target.port, config.maxSockets, config.upstreamIdleMs, {
      data: (up, chunk) => this.onUpstreamData(up, chunk),
      gone: (up, err) => this.onUpstreamGone(up, err),
      drain: (up) => {
        const ex = up.user as Exchange | null;
        if (ex) this.setPaused(ex.conn, PAUSE_UPSTREAM, false);
      },
    });
    // allowHalfOpen: a client's FIN after its request (RFC 9112 9.6) must not end our side before
    // the answer is written (onClientEnd); connections handed to node:http keep it too.
    this.server = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.onConnection(socket));
  }

  // ---------------------------------------------------------------- client side

  private onConnection(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const conn = new ClientConn(socket);
    this.conns.add(conn);
    this.sweeper ??= this.startSweeper();
    socket.on('data', (chunk: Buffer) => this.onClientData(conn, chunk));
    socket.on('error', () => {}); // 'close' follows and does the work
    socket.on('end', () => this.onClientEnd(conn));
    socket.on('close', () => this.onClientClose(conn));
  }

  /**
   * The client half-closed: answer what it sent in full, then end the connection. A request it
   * cut short (head or body) can never complete: it gets node:http's answer to that, a JSON 400,
   * and its upstream request is aborted.
   */
  private onClientEnd(conn: ClientConn): void {
    conn.clientEnded = true;
    const ex = conn.ex;
    if (ex !== null && !ex.reqDone) {
      this.refuseRequest(ex, 'the request body ended early');
      return;
    }
    if (ex !== null) return; // finish() ends the connection, after the answers
    // Empty lines before a request are allowed (RFC 9112 2.2): only a started head is refused.
    this.endConn(conn, conn.pending !== null && hasHeadBytes(conn.pending) ? MALFORMED : undefined);
  }

  /**
   * A request the client broke after its head went upstream (bad chunked framing, a body cut
   * short): the upstream request is aborted, and the client gets a JSON 400 and a close, as the
   * node path answers, unless part of an answer already left (then the connection is cut).
   */
  private refuseRequest(ex: Exchange, message: string): void {
    const conn = ex.conn;
    if (ex.headSent) {
      conn.socket.destroy();
      return;
    }
    this.waiting.delete(ex);
    const up = ex.up;
    ex.up = null;
    if (up !== null) this.pool.discard(up);
    else this.pool.cancel(ex);
    const body = errorBody('BAD_REQUEST', message, ex.id);
    conn.ending = true;
    ex.status = 400;
    ex.headSent = true;
    ex.resDone = true;
    ex.reqDone = true;
    conn.socket.write(
      `HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${ex.id}\r\nconnection: close\r\n\r\n` +
        (ex.isHead ? '' : body),
    );
    this.finish(ex);
  }

  private endConn(conn: ClientConn, last?: string): void {
    conn.ending = true;
    conn.pending = null;
    if (last === undefined)
      conn.socket.end(); // FIN after the queued answer
    else conn.socket.end(last, 'latin1');
    conn.socket.resume(); // and read on, so the client's FIN closes the socket
  }

  private onClientData(conn: ClientConn, chunk: Buffer): void {
    const ex = conn.ex;
    if (ex !== null && !ex.reqDone) {
      const end = this.requestBody(ex, chunk, 0);
      if (end < 0 || end === chunk.length) return;
      chunk = chunk.subarray(end); // the next pipelined request starts here
    }
    if (conn.ending) return; // no exchange after this one (connection: close): the rest is ignored
    conn.pending = conn.pending === null ? chunk : Buffer.concat([conn.pending, chunk]);
    if (conn.ex !== null) {
      if (conn.pending.length > MAX_PENDING) this.setPaused(conn, PAUSE_PIPELINE, true);
      return;
    }
    this.nextRequests(conn);
  }

  /** Starts the exchanges whose heads are complete in `pending`, one at a time (answers stay in order). */
  private nextRequests(conn: ClientConn): void {
    while (conn.ex === null && conn.pending !== null && !conn.ending) {
      const buf = conn.pending;
      const end = buf.indexOf(CRLF2);
      if (end < 0) {
        // Not complete yet; a head node would refuse or that uses bare LFs is node's to answer.
        if (buf.length > MAX_HEAD) return this.handover(conn, 'head size');
        if (hasBareLf(buf)) return this.handover(conn, 'line endings');
        break;
      }
      if (end > MAX_HEAD) return this.handover(conn, 'head size');
      const verdict = parseRequestHead(buf.toString('latin1', 0, end));
      if (!verdict.ok) return this.handover(conn, verdict.reason);
      // A dot-segment is refused (forwarding.ts upstreamPath): the node path answers the JSON 400.
      const upPath = upstreamPath(this.basePath, verdict.head.target);
      if (upPath === null) return this.handover(conn, 'dot segment');
      const bodyStart = end + 4;
      conn.pending = null;
      const ex = this.startExchange(conn, verdict.head, upPath);
      if (bodyStart < buf.length) {
        const bodyEnd = ex.reqDone ? bodyStart : this.requestBody(ex, buf, bodyStart);
        if (bodyEnd >= 0 && bodyEnd < buf.length) conn.pending = buf.subarray(bodyEnd);
      }
      // Only now an upstream socket: the body bytes that came with the head are queued by then,
      // so head and body leave in one write instead of two.
      // (Not for a request refused already: a broken chunked body in the same packet as its head.)
      if (conn.socket.destroyed || ex.resDone) return;
      this.pool.acquire(ex);
    }
    // Paused for pipelining only while an answer is pending and too much waits behind it: an
    // incomplete head needs the socket to flow.
    this.setPaused(conn, PAUSE_PIPELINE, conn.ex !== null && conn.pending !== null && conn.pending.length > MAX_PENDING);
  }

  private handover(conn: ClientConn, reason: string): void {
    this.deps.metrics.handovers.inc({ reason });
    const socket = conn.socket;
    this.conns.delete(conn);
    socket.removeAllListeners('data');
    socket.removeAllListeners('close');
    socket.removeAllListeners('error');
    socket.removeAllListeners('end');
    socket.pause();
    if (conn.pending !== null) socket.unshift(conn.pending);
    conn.pending = null;
    this.node.handover(socket);
    socket.resume();
  }

  private startExchange(conn: ClientConn, head: RequestHead, upPath: string): Exchange {
    const target = head.target;
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const info = classifyRoute(head.method, path, this.model, this.extra);
    const sampled = info.route !== 'other' && this.captureOn && (this.sampleRate >= 1 || this.random() < this.sampleRate);
    const id = head.requestId ?? this.nextId();
    // The forwarded lines, then the fields the policy adds (forwarding.ts, the same as the node path's).
    const upstreamHead = `${head.method} ${upPath} HTTP/1.1\r\n${head.forward}` + addedRequestLines(head, id, conn.remote, head.host, 'http') + '\r\n';
    const ex = new Exchange(
      this,
      conn,
      id,
      performance.now(),
      head.method,
      path,
      info.route,
      info.model,
      info.version,
      sampled,
      upstreamHead,
      head.method === 'HEAD',
    );
    if (info.route !== 'other') ex.startedAtMs = Date.now();
    if (sampled) {
      ex.reqContentType = head.contentType;
      ex.reqContentEncoding = head.contentEncoding;
      if (head.contentLength > this.maxBodyBytes) ex.tooLarge = true;
      else ex.reqTap = [];
    }
    if (head.close) conn.ending = true;
    if (head.chunked) ex.reqScanner = new ChunkedScanner();
    else if (head.contentLength > 0) ex.reqLeft = head.contentLength;
    else ex.reqDone = true;
    conn.ex = ex;
    this.inflight++;
    ex.deadline = ex.t0 + this.timeoutMs;
    this.waiting.add(ex);
    return ex;
  }

  /** Forwards request body bytes from buf[start..]; returns where the body ended in buf, or -1. */
  private requestBody(ex: Exchange, buf: Buffer, start: number): number {
    let end: number;
    let piece: Buffer;
    if (ex.reqScanner !== null) {
      const scanner = ex.reqScanner;
      end = scanner.feed(
        buf,
        start,
        ex.reqTap !== null ? (b, from, to) => ex.reqTap !== null && tapRequest(ex, b.subarray(from, to), this.maxBodyBytes) : undefined,
      );
      if (scanner.error !== null) {
        // A broken chunked body cannot be relayed: where it ends is unknown. The upstream request
        // is aborted; the client gets node:http's answer to it (a JSON 400, then a close).
        this.deps.metrics.upstreamErrors.inc({ kind: 'bad_request_framing' });
        this.refuseRequest(ex, `malformed chunked request body (${scanner.error})`);
        return -1;
      }
      piece = end < 0 ? (start === 0 ? buf : buf.subarray(start)) : buf.subarray(start, end);
    } else {
      const take = Math.min(ex.reqLeft, buf.length - start);
      piece = start === 0 && take === buf.length ? buf : buf.subarray(start, start + take);
      ex.reqLeft -= take;
      end = ex.reqLeft === 0 ? start + take : -1;
      if (ex.reqTap !== null) tapRequest(ex, piece, this.maxBodyBytes);
    }
    ex.requestBytes += piece.length;
    keepForReplay(ex, piece);
    if (!ex.resDone) {
      const up = ex.up;
      if (up === null) {
        (ex.queued ??= []).push(piece);
        ex.queuedSize += piece.length;
        if (ex.queuedSize > MAX_PENDING) this.setPaused(ex.conn, PAUSE_WAITING, true);
      } else if (!up.closed && !up.socket.write(piece)) this.setPaused(ex.conn, PAUSE_UPSTREAM, true);
    }
    if (end >= 0) {
      ex.reqDone = true;
      if (ex.resDone) this.finish(ex);
    }
    return end;
  }

  private setPaused(conn: ClientConn, reason: number, on: boolean): void {
    const before = conn.paused;
    conn.paused = on ? before | reason : before & ~reason;
    if (before === 0 && conn.paused !== 0) conn.socket.pause();
    else if (before !== 0 && conn.paused === 0) conn.socket.resume();
  }

  private onClientClose(conn: ClientConn): void {
    conn.gone = true;
    this.conns.delete(conn);
    if (this.conns.size === 0 && this.onAllClosed !== null) this.onAllClosed();
    const ex = conn.ex;
    if (ex === null) return;
    // The client went away before its answer was done: abort the upstream request.
    conn.ex = null;
    this.waiting.delete(ex);
    if (ex.up !== null) this.pool.discard(ex.up);
    else this.pool.cancel(ex);
    ex.up = null;
    this.record(ex, false);
  }

  // ---------------------------------------------------------------- upstream side

  attach(ex: Exchange, up: UpstreamConn): void {
    ex.up = up;
    const queued = ex.queued;
    ex.queued = null;
    ex.queuedSize = 0;
    if (!writeJoined(up.socket, ex.upstreamHead, null, queued)) this.setPaused(ex.conn, PAUSE_UPSTREAM, true);
    if (queued !== null) this.setPaused(ex.conn, PAUSE_WAITING, false);
  }

  private onUpstreamData(up: UpstreamConn, chunk: Buffer): void {
    const ex = up.user as Exchange | null;
    if (ex === null || ex.resDone) {
      // Bytes nobody asked for: the connection's framing is lost.
      up.socket.destroy();
      return;
    }
    ex.gotAnswerByte = true;
    let start = 0;
    while (!ex.headSent) {
      const buf = ex.resHead === null ? chunk : Buffer.concat([ex.resHead, chunk]);
      const end = buf.indexOf(CRLF2, start);
      if (end < 0) {
        if (buf.length > 64 * 1024) return this.upstreamFailed(ex, 'protocol', new Error('answer head too large'));
        ex.resHead = start === 0 ? buf : buf.subarray(start);
        return;
      }
      ex.resHead = null;
      const verdict = parseResponseHead(buf.toString('latin1', start, end));
      if (!verdict.ok) return this.upstreamFailed(ex, 'protocol', new Error(`malformed answer (${verdict.reason})`));
      const h = verdict.head;
      if (h.status < 200) {
        if (h.status === 101) return this.upstreamFailed(ex, 'protocol', new Error('101 without an upgrade request'));
        // Interim answers (100, 103) are relayed as they are and the final one follows.
        ex.conn.socket.write(buf.subarray(start, end + 4));
        chunk = buf;
        start = end + 4;
        continue;
      }
      this.waiting.delete(ex);
      ex.replay = null; // answered: it will not be resent
      ex.upstreamMs = performance.now() - ex.t0;
      ex.status = h.status;
      if (ex.version === null) ex.version = h.modelVersion;
      ex.resContentType = h.contentType;
      ex.resContentEncoding = h.contentEncoding;
      if (ex.isHead || h.status === 204 || h.status === 304) ex.resLeft = 0;
      else if (h.chunked) ex.resScanner = new ChunkedScanner();
      else if (h.contentLength >= 0) ex.resLeft = h.contentLength;
      else {
        // Close-delimited: the answer runs to the upstream's close, so the client's does too.
        ex.resToClose = true;
        ex.conn.ending = true;
      }
      if (h.close) ex.upstreamClose = true;
      // An answer that comes before the whole request body: the rest of the body is not relayed
      // (the upstream may have closed), so the client connection ends after this answer.
      if (!ex.reqDone) ex.conn.ending = true;
      if (ex.sampled && !ex.tooLarge) {
        if (h.contentLength > this.maxBodyBytes) ex.tooLarge = true;
        else ex.resTap = [];
      }
      const head = h.statusLine + '\r\n' + h.forward + addedResponseLines(h.hasRequestId, ex.id) + (ex.conn.ending ? 'connection: close\r\n' : '') + '\r\n';
      ex.headSent = true;
      const noBody = ex.resScanner === null && !ex.resToClose && ex.resLeft === 0;
      if (noBody || end + 4 === buf.length) {
        ex.conn.socket.write(head, 'latin1');
        if (noBody) this.answerDone(ex, buf, end + 4);
      } else {
        ex.headOut = head; // leaves with the first body bytes, in one write
        this.answerBody(ex, buf, end + 4);
      }
      return;
    }
    this.answerBody(ex, chunk, 0);
  }

  /** Relays answer body bytes from buf[start..] to the client. */
  private answerBody(ex: Exchange, buf: Buffer, start: number): void {
    let end = -1;
    let piece: Buffer;
    if (ex.resScanner !== null) {
      const scanner = ex.resScanner;
      end = scanner.feed(
        buf,
        start,
        ex.resTap !== null ? (b, from, to) => ex.resTap !== null && tapResponse(ex, b.subarray(from, to), this.maxBodyBytes) : undefined,
      );
      if (scanner.error !== null) {
        this.deps.metrics.upstreamErrors.inc({ kind: 'protocol' });
        ex.conn.socket.destroy(); // a broken answer is cut, as when the upstream dies mid-answer
        return;
      }
      piece = end < 0 ? (start === 0 ? buf : buf.subarray(start)) : buf.subarray(start, end);
    } else if (ex.resToClose) {
      piece = start === 0 ? buf : buf.subarray(start);
      if (ex.resTap !== null) tapResponse(ex, piece, this.maxBodyBytes);
    } else {
      const take = Math.min(ex.resLeft, buf.length - start);
      piece = start === 0 && take === buf.length ? buf : buf.subarray(start, start + take);
      ex.resLeft -= take;
      if (ex.resLeft === 0) end = start + take;
      if (ex.resTap !== null) tapResponse(ex, piece, this.maxBodyBytes);
    }
    ex.responseBytes += piece.length;
    const client = ex.conn.socket;
    let written: boolean;
    if (ex.headOut !== null) {
      written = writeJoined(client, ex.headOut, piece, null);
      ex.headOut = null;
    } else written = client.write(piece);
    if (!written && ex.up !== null && end < 0) {
      ex.up.socket.pause();
      client.once('drain', ex.conn.onDrain);
    }
    if (end >= 0) this.answerDone(ex, buf, end);
  }

  private answerDone(ex: Exchange, buf: Buffer, end: number): void {
    ex.resDone = true;
    // Bytes after the end of the answer: the upstream's framing is not to be trusted again.
    if (end < buf.length) ex.upstreamClose = true;
    // The upstream socket is done with this exchange: its 'drain' may never reach this client.
    this.setPaused(ex.conn, PAUSE_UPSTREAM, false);
    if (!ex.reqDone) {
      // It answered before reading the whole request: the upstream connection is not reused, and
      // the client's ends after the answer (its head said so); the rest of the body is read and
      // dropped until the client closes.
      ex.upstreamClose = true;
      ex.resDoneAt = performance.now();
    }
    const up = ex.up;
    if (up !== null) {
      up.socket.resume();
      ex.up = null;
      if (ex.upstreamClose) this.pool.discard(up);
      else this.pool.release(up);
    }
    if (ex.reqDone || ex.conn.ending) this.finish(ex);
  }

  private onUpstreamGone(up: UpstreamConn, err: Error | null): void {
    const ex = up.user as Exchange | null;
    if (ex === null || ex.up !== up) return; // an idle connection closed
    ex.up = null;
    if (ex.headSent) {
      if (ex.resToClose && !ex.resDone && err === null) {
        // A clean close is the end of a close-delimited answer (a reset is not: cut below).
        this.answerDone(ex, Buffer.alloc(0), 0);
        return;
      }
      if (!ex.resDone) {
        // The upstream died mid-answer: cut the client so it sees a truncated answer.
        this.deps.metrics.upstreamErrors.inc({ kind: 'reset_mid_response' });
        ex.conn.socket.destroy();
      }
      return;
    }
    if (
      !ex.timedOut &&
      !ex.gotAnswerByte &&
      up.uses > 1 &&
      !ex.retried &&
      ex.reqDone &&
      ex.replay !== null &&
      mayResend(ex.method, ex.route, this.deps.config.resendPredictions)
    ) {
      // A reused connection closed before any answer: the upstream closed it as idle while the
      // request was on its way. Send it once more on a fresh connection.
      ex.retried = true;
      this.deps.metrics.upstreamRetries.inc();
      ex.queued = ex.replay;
      ex.queuedSize = ex.replaySize;
      ex.replay = null;
      this.pool.acquire(ex, true);
      return;
    }
    this.upstreamFailed(
      ex,
      ex.timedOut ? 'timeout' : ((err as NodeJS.ErrnoException | null)?.code ?? 'closed').toLowerCase(),
      err ?? new Error('the upstream closed the connection before answering'),
    );
  }

  /** No usable answer from the upstream: answer 502 (504 on a timeout) if nothing was sent yet. */
  private upstreamFailed(ex: Exchange, kind: string, err: Error): void {
    this.waiting.delete(ex);
    this.deps.metrics.upstreamErrors.inc({ kind });
    const up = ex.up;
    ex.up = null;
    if (up !== null) this.pool.discard(up);
    if (ex.headSent) {
      ex.conn.socket.destroy();
      return;
    }
    const timedOut = ex.timedOut;
    const code: ErrorCode = timedOut ? 'DW_ERR_PROXY_UPSTREAM_TIMEOUT' : 'DW_ERR_PROXY_UPSTREAM_UNAVAILABLE';
    const e = new DriftwatchError(
      code,
      timedOut ? `upstream ${this.origin} sent no response within ${this.timeoutMs} ms` : `upstream ${this.origin} unavailable: ${messageOf(err)}`,
    );
    const body = errorBody(e.mlflowCode, e.message, ex.id);
    // The rest of an unfinished request body is not read: the connection ends after this answer.
    if (!ex.reqDone) ex.conn.ending = true;
    ex.status = e.status;
    ex.headSent = true;
    ex.conn.socket.write(
      `HTTP/1.1 ${e.status} ${REASONS[e.status] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${ex.id}\r\n` +
        (ex.conn.ending ? 'connection: close\r\n' : '') +
        '\r\n' +
        (ex.isHead ? '' : body), // a HEAD answer has no body
    );
    ex.resDone = true;
    ex.reqDone = true;
    this.finish(ex);
  }

  // ---------------------------------------------------------------- the end of an exchange

  private finish(ex: Exchange): void {
    const conn = ex.conn;
    if (conn.ex !== ex) return;
    conn.ex = null;
    this.waiting.delete(ex);
    this.record(ex, true);
    // Whatever paused the client for this exchange is over with it (a 502 while the body was
    // queued, a socket released before its 'drain').
    this.setPaused(conn, PAUSE_UPSTREAM | PAUSE_WAITING, false);
    if (conn.ending || this.closing) {
      if (!conn.socket.writableEnded) this.endConn(conn);
      return;
    }
    conn.idleSince = performance.now();
    this.nextRequests(conn);
    // Half-closed: once what it sent before its FIN is answered (an incomplete head is dropped).
    if (conn.clientEnded && conn.ex === null && this.conns.has(conn)) this.endConn(conn); // not after a handover
  }

  private record(ex: Exchange, complete: boolean): void {
    try {
      recordExchange(this.deps.metrics, this.deps.onEvent, ex, ex.status, complete);
    } catch (e) {
      this.deps.logger.warn('capture failed for a request; traffic unaffected', { error: messageOf(e) });
    }
    if (--this.inflight === 0 && this.drained) this.drained();
  }

  // ---------------------------------------------------------------- timers and shutdown

  /** One timer for every deadline: answer headers, idle and slow client connections, idle upstream sockets. */
  private startSweeper(): NodeJS.Timeout {
    const every = Math.max(5, Math.min(1000, Math.floor(this.timeoutMs / 10)));
    const t = setInterval(() => {
      const now = performance.now();
      for (const ex of this.waiting) {
        if (ex.deadline > now) break;
        this.waiting.delete(ex);
        ex.timedOut = true;
        if (ex.up !== null) ex.up.socket.destroy();
        else {
          this.pool.cancel(ex);
          this.upstreamFailed(ex, 'timeout', new Error('upstream timeout'));
        }
      }
      for (const conn of this.conns) {
        const cur = conn.ex;
        if (cur !== null) {
          // Answered early, and the client stopped sending the rest of its body.
          if (cur.resDone && !cur.reqDone && now - cur.resDoneAt > this.node.headersTimeoutMs) conn.socket.destroy();
          continue;
        }
        if (conn.pending === null || conn.ending) {
          if (now - conn.idleSince > this.node.keepAliveTimeoutMs) conn.socket.destroy();
        } else if (now - conn.idleSince > this.node.headersTimeoutMs) {
          // A head still incomplete at its deadline (slowloris): the JSON 408 node:http answers on
          // the other engine, then the connection ends; anything more the client sends is ignored,
          // and the socket is cut if the client does not close within the keep-alive time.
          this.endConn(conn, HEAD_TIMEOUT);
          conn.idleSince = now;
        }
      }
      this.pool.sweep(now);
    }, every);
    t.unref();
    return t;
  }

  /** Stops accepting; connections end after their current answer (idle ones now). */
  stop(): void {
    this.closing = true;
    this.server.close();
    for (const conn of this.conns) {
      if (conn.ex === null) {
        conn.ending = true;
        conn.socket.end();
      }
    }
  }

  /** Resolves when every client connection of the lane has closed (after stop()). */
  closed(): Promise<void> {
    if (this.conns.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.onAllClosed = resolve));
  }

  /** After the grace period: cut what is left and close the upstream sockets. */
  destroy(): void {
    for (const conn of this.conns) conn.socket.destroy();
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    this.pool.close();
  }
}
