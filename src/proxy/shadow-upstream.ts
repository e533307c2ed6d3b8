/**
 * The sidecar's shadow: a sample of the prediction requests the proxy has answered is sent again,
 * from the tap's copy of the request, to a second upstream (a challenger's endpoint), and each
 * answer is handed with the champion's event to whoever app/ passed in as `onResult` (the
 * analysis side, which this data-path module never imports).
 *
 * Never on the request's path: consider() is called with the finished exchange's event (both
 * engines hand it over in recordExchange, after the client's answer was handed to its socket),
 * is synchronous and O(1) (one random draw, one counter), and the request leaves from a
 * setImmediate. The shadow has its own agent (its own sockets, at most maxInFlight of them), so
 * it never takes one of the champion's upstream connections; a sampled request beyond maxInFlight
 * is dropped and counted rather than queued, so a slow or dead challenger costs at most
 * maxInFlight sockets. Only requests whose bodies the tap holds (captured: capture on,
 * sampled by proxy.capture.sampleRate, within proxy.capture.maxBodyBytes) and whose answer was
 * 2xx are candidates.
 *
 * What a shadowed request costs the proxy's thread is kept to its I/O (about 37-50 µs of CPU per
 * shadowed request in isolation, most of it the kernel's write and read; bench/RESULTS.md): the
 * requests sampled in one turn leave from one setImmediate; timeouts and idle connections are
 * watched by one sweep timer while connections exist, not by a timer armed and cleared per
 * request; a small request goes out as one buffer (one write, not a writev); plain TCP answers are
 * read into one reused buffer (no Buffer and no stream 'data' per read). Reading and comparing the
 * answers is the analysis side's (app/ hands them over; the capture worker thread does it).
 */
import net from 'node:net';
import tls from 'node:tls';
import type { InferenceEvent, TappedBody } from '../capture/inference-event.js';
import { messageOf } from '../errors.js';
import { ChunkedScanner } from './chunked-scanner.js';
import { upstreamTarget } from './forwarding.js';
import { parseResponseHead, type ResponseHead } from './http1-head.js';

/** What the challenger made of one shadowed request. */
export interface ShadowAnswer {
  /** The answer's status; null when none came (connection error, timeout). */
  status: number | null;
  /** Its body as received (compressed if its content-encoding says so); null when none or too large. */
  response: TappedBody | null;
  /** Its x-driftwatch-model-version header, else null. */
  version: string | null;
  /** Time to the answer's headers, as the champion's upstreamMs is measured; null without an answer. */
  latencyMs: number | null;
  /** Why the challenger failed (a non-2xx status, a timeout, a connection error); null when it answered. */
  error: string | null;
}

/** One shadowed request: the champion's event (its request and answer) and the challenger's answer. */
export interface ShadowExchange {
  event: InferenceEvent;
  /** When the champion answered, epoch ms. */
  atMs: number;
  challenger: ShadowAnswer;
}

/**
 * Why a sampled request was not sent: busy (maxInFlight in flight), down (the endpoint refused
 * connections a moment ago: backing off), closed (shutting down).
 */
export type ShadowDropReason = 'busy' | 'down' | 'closed';
/** What went wrong with a sent one. */
export type ShadowErrorKind = 'timeout' | 'connection' | 'status' | 'too_large';

export interface UpstreamShadowDeps {
  upstream: string;
  /** Share of candidate requests shadowed, 0..1. */
  sampleRate: number;
  maxInFlight: number;
  timeoutMs: number;
  /** Idle keep-alive connections to the shadow upstream are closed after this long (proxy.upstreamIdleMs). */
  idleMs: number;
  /** A challenger answer larger than this is not read (counted as too_large). */
  maxBodyBytes: number;
  /** Receives every sent request's outcome; must be O(1) and never throw (a bounded queue's offer). */
  onResult(r: ShadowExchange): void;
  /** Each sampled request, before it is sent or dropped. */
  onSampled?(event: InferenceEvent): void;
  onDropped?(reason: ShadowDropReason, event: InferenceEvent): void;
  onError?(kind: ShadowErrorKind): void;
  random?: () => number;
  now?: () => number;
}

/** A shadow request from the sample to its answer (or failure). */
interface Job {
  event: InferenceEvent;
  atMs: number;
  t0: number;
  headersMs: number | null;
  /** performance.now() past which the sweep fails it as a timeout. */
  deadline: number;
  /** Resent once on a fresh connection when a reused one closed before any answer byte. */
  resent: boolean;
}

/** One keep-alive connection to the shadow upstream and the answer being read on it. */
class ShadowConn {
  job: Job | null = null;
  uses = 0;
  connected = false;
  gotByte = false;
  /** performance.now() when it went idle (the sweep closes it after idleMs). */
  idleSince = 0;
  lastError: Error | null = null;
  pendingHead: Buffer | null = null;
  head: ResponseHead | null = null;
  body: Buffer[] = [];
  bodySize = 0;
  /** Content-Length bytes still to read; -1: chunked or to the close. */
  remaining = -1;
  scanner: ChunkedScanner | null = null;
  /** The socket reads into a buffer it reuses (onread): what is kept past a read must be copied. */
  transient = false;
  socket!: net.Socket;

  reset(): void {
    this.job = null;
    this.gotByte = false;
    this.pendingHead = null;
    this.head = null;
    this.body = [];
    this.bodySize = 0;
    this.remaining = -1;
    this.scanner = null;
  }
}

const CRLF2 = Buffer.from('\r\n\r\n');
const MAX_HEAD = 64 * 1024;
/** Requests up to this size are joined into one buffer (one write); larger ones are corked (writev). */
const JOIN_BELOW = 16 * 1024;
/** The sweep runs at most this often and at least every SWEEP_MAX_MS while connections exist. */
const SWEEP_MIN_MS = 10;
const SWEEP_MAX_MS = 250;
/** After a refused connection no request is sent for this long, doubling up to MAX_BACKOFF_MS while it stays down. */
const MIN_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 5_000;

/**
 * The shadow's HTTP/1.1 client, on raw sockets like the fast lane (a node:http client request
 * costs about twice a whole fast-lane exchange; bench/RESULTS.md "Sidecar shadow"): the request
 * is one write of a head built here and the tapped body; the answer is read with the lane's own
 * head parser and chunked scanner. TLS for an https endpoint (tls.connect, same protocol).
 */
export class UpstreamShadow {
  readonly counts = { sampled: 0, sent: 0, answered: 0, failed: 0, dropped: 0 };
  private readonly deps: UpstreamShadowDeps;
  private readonly random: () => number;
  private readonly target: ReturnType<typeof upstreamTarget>;
  private readonly fixedHead: string;
  private readonly idle: ShadowConn[] = [];
  private readonly conns = new Set<ShadowConn>();
  private inFlight = 0;
  private closed = false;
  private downUntil = 0;
  private backoffMs = MIN_BACKOFF_MS;
  /** Jobs sampled this turn, sent from one setImmediate. */
  private starting: Job[] = [];
  private readonly sweepMs: number;
  private sweeper: NodeJS.Timeout | null = null;
  /** Plain TCP connections read into this one buffer (one read at a time on this thread). */
  private readonly readBuffer = Buffer.allocUnsafe(64 * 1024);

  constructor(deps: UpstreamShadowDeps) {
    this.deps = deps;
    this.random = deps.random ?? Math.random;
    this.target = upstreamTarget(deps.upstream);
    this.fixedHead = `host: ${this.target.hostHeader}\r\nx-driftwatch-shadow: 1\r\n`;
    this.sweepMs = Math.max(SWEEP_MIN_MS, Math.min(SWEEP_MAX_MS, Math.floor(Math.min(deps.timeoutMs, deps.idleMs) / 4)));
  }

  get upstream(): string {
    return this.deps.upstream;
  }

  get sampleRate(): number {
    return this.deps.sampleRate;
  }

  /** Requests sent and not yet answered. */
  get pending(): number {
    return this.inFlight;
  }

  /** Called with every finished exchange's event: shadows a sampled share of the answered, captured predictions. */
  consider(event: InferenceEvent): void {
    if (event.request === null || event.response === null || event.status < 200 || event.status >= 300) return;
    const rate = this.deps.sampleRate;
    if (!(rate >= 1 || (rate > 0 && this.random() < rate))) return;
    this.counts.sampled++;
    this.deps.onSampled?.(event);
    const reason: ShadowDropReason | null = this.closed
      ? 'closed'
      : this.inFlight >= this.deps.maxInFlight
        ? 'busy'
        : this.downUntil > 0 && performance.now() < this.downUntil
          ? 'down'
          : null;
    if (reason !== null) {
      this.counts.dropped++;
      this.deps.onDropped?.(reason, event);
      return;
    }
    this.inFlight++;
    const job: Job = { event, atMs: (this.deps.now ?? Date.now)(), t0: 0, headersMs: null, deadline: 0, resent: false };
    // After this turn's I/O: the champion's answer is on its way before the copy leaves.
    if (this.starting.push(job) === 1) setImmediate(this.startAll);
  }

  private readonly startAll = (): void => {
    const jobs = this.starting;
    this.starting = [];
    for (const job of jobs) this.start(job);
  };

  private start(job: Job): void {
    if (this.closed) {
      this.inFlight--;
      return;
    }
    this.counts.sent++;
    job.t0 = performance.now();
    job.deadline = job.t0 + this.deps.timeoutMs;
    this.send(job, this.idle.pop() ?? this.connect());
    this.sweeper ??= setInterval(this.sweep, this.sweepMs).unref();
  }

  /** Fails the requests past their deadline and closes connections idle for idleMs; stops with the last connection. */
  private readonly sweep = (): void => {
    const now = performance.now();
    for (const conn of this.conns) {
      const job = conn.job;
      if (job !== null) {
        if (now >= job.deadline) this.fail(conn, 'timeout', `the shadow upstream did not answer within ${this.deps.timeoutMs} ms (proxy.shadow.timeoutMs)`);
      } else if (now - conn.idleSince >= this.deps.idleMs) conn.socket.destroy();
    }
    if (this.conns.size === 0 && this.sweeper !== null) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  };

  private send(job: Job, conn: ShadowConn): void {
    conn.job = job;
    conn.uses++;
    const e = job.event;
    const body = e.request!;
    let head = `${e.method} ${this.target.basePath}${e.path} HTTP/1.1\r\n${this.fixedHead}content-type: ${body.contentType || 'application/octet-stream'}\r\ncontent-length: ${body.bytes.length}\r\nx-request-id: ${e.requestId}\r\n`;
    if (body.contentEncoding && body.contentEncoding !== 'identity') head += `content-encoding: ${body.contentEncoding}\r\n`;
    head += '\r\n';
    if (body.bytes.length < JOIN_BELOW) {
      // One buffer, one write: cheaper than a writev of two for a small request.
      const headLen = Buffer.byteLength(head, 'latin1');
      const out = Buffer.allocUnsafe(headLen + body.bytes.length);
      out.write(head, 0, 'latin1');
      body.bytes.copy(out, headLen);
      conn.socket.write(out);
      return;
    }
    // One writev, and the tapped body is not copied.
    conn.socket.cork();
    conn.socket.write(head, 'latin1');
    conn.socket.write(body.bytes);
    conn.socket.uncork();
  }

  private connect(): ShadowConn {
    const t = this.target;
    const conn = new ShadowConn();
    // Plain TCP reads into a reused buffer (no Buffer and no stream 'data' per read: the answer is
    // a few hundred bytes, copied once when kept); TLS through its stream.
    const socket = t.tls
      ? tls.connect({ host: t.host, port: t.port, ...(net.isIP(t.host) ? {} : { servername: t.host }) })
      : net.connect({ host: t.host, port: t.port, onread: { buffer: this.readBuffer, callback: (n: number, buf: Uint8Array) => this.onRead(conn, n, buf) } });
    conn.socket = socket;
    conn.transient = !t.tls;
    socket.setNoDelay(true);
    this.conns.add(conn);
    socket.once(t.tls ? 'secureConnect' : 'connect', () => {
      conn.connected = true;
    });
    if (t.tls) socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    socket.on('error', (err) => {
      conn.lastError = err;
    });
    socket.on('close', () => this.onClose(conn));
    return conn;
  }

  private onRead(conn: ShadowConn, n: number, buf: Uint8Array): boolean {
    this.onData(conn, (buf as Buffer).subarray(0, n));
    return true; // keep reading
  }

  private onData(conn: ShadowConn, chunk: Buffer): void {
    const job = conn.job;
    if (job === null) {
      conn.socket.destroy(); // bytes nobody asked for: the framing is lost
      return;
    }
    conn.gotByte = true;
    let buf = chunk;
    let start = 0;
    while (conn.head === null) {
      if (conn.pendingHead !== null) {
        buf = Buffer.concat([conn.pendingHead, buf.subarray(start)]);
        start = 0;
        conn.pendingHead = null;
      }
      const end = buf.indexOf(CRLF2, start);
      if (end < 0) {
        if (buf.length - start > MAX_HEAD) return this.fail(conn, 'connection', 'the shadow answer head is too large');
        conn.pendingHead = conn.transient ? Buffer.from(buf.subarray(start)) : buf.subarray(start);
        return;
      }
      const verdict = parseResponseHead(buf.toString('latin1', start, end));
      if (!verdict.ok) return this.fail(conn, 'connection', `malformed shadow answer (${verdict.reason})`);
      start = end + 4;
      if (verdict.head.status < 200) continue; // an interim answer: the final one follows
      conn.head = verdict.head;
      job.headersMs = performance.now() - job.t0;
      const h = verdict.head;
      if (h.status === 204 || h.status === 304) conn.remaining = 0;
      else if (h.chunked) conn.scanner = new ChunkedScanner();
      else conn.remaining = h.contentLength; // -1: to the close
      if (conn.remaining === 0) return this.complete(conn, start < buf.length);
    }
    if (start >= buf.length) return;
    if (conn.scanner !== null) {
      const scanner = conn.scanner;
      const end = scanner.feed(buf, start, (b, from, to) => this.keep(conn, b.subarray(from, to)));
      if (conn.job !== job) return; // failed as too large
      if (scanner.error !== null) return this.fail(conn, 'connection', `malformed shadow answer (${scanner.error})`);
      if (end >= 0) this.complete(conn, end < buf.length);
      return;
    }
    if (conn.remaining < 0) {
      this.keep(conn, buf.subarray(start));
      return;
    }
    const take = Math.min(conn.remaining, buf.length - start);
    this.keep(conn, buf.subarray(start, start + take));
    if (conn.job !== job) return;
    conn.remaining -= take;
    if (conn.remaining === 0) this.complete(conn, start + take < buf.length);
  }

  /** Keeps a piece of the answer's body, or fails the request once it passes maxBodyBytes. */
  private keep(conn: ShadowConn, piece: Buffer): void {
    if (conn.job === null) return;
    conn.bodySize += piece.length;
    if (conn.bodySize > this.deps.maxBodyBytes) {
      this.fail(conn, 'too_large', `the shadow answer is larger than ${this.deps.maxBodyBytes} bytes`);
      return;
    }
    conn.body.push(conn.transient ? Buffer.from(piece) : piece);
  }

  private complete(conn: ShadowConn, extra: boolean): void {
    const job = conn.job!;
    const h = conn.head!;
    const response: TappedBody = {
      bytes: conn.body.length === 1 ? conn.body[0]! : Buffer.concat(conn.body, conn.bodySize),
      contentType: h.contentType,
      contentEncoding: h.contentEncoding || 'identity',
    };
    conn.reset();
    // Reused only when the answer ended cleanly where its framing said.
    if (h.close || extra || this.closed) conn.socket.destroy();
    else {
      conn.idleSince = performance.now();
      this.idle.push(conn);
    }
    this.backoffMs = MIN_BACKOFF_MS;
    this.downUntil = 0;
    const ok = h.status >= 200 && h.status < 300;
    this.finish(job, h.status, response, h.modelVersion || null, ok ? null : `the shadow upstream answered ${h.status}`, ok ? null : 'status');
  }

  private fail(conn: ShadowConn, kind: ShadowErrorKind, error: string): void {
    const job = conn.job;
    const status = conn.head?.status ?? null;
    const version = conn.head?.modelVersion || null;
    conn.reset();
    conn.socket.destroy();
    if (job !== null) this.finish(job, status, null, version, error, kind);
  }

  private onClose(conn: ShadowConn): void {
    this.conns.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    const job = conn.job;
    if (job === null) return;
    // An answer framed by the close is complete now.
    if (conn.head !== null && conn.remaining < 0 && conn.scanner === null) return this.complete(conn, false);
    if (!conn.connected) {
      // Refused (or unreachable): back off instead of trying a connection per sampled request.
      this.downUntil = performance.now() + this.backoffMs;
      this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    } else if (conn.uses > 1 && !conn.gotByte && !job.resent && !this.closed) {
      // A reused connection the upstream was closing: once more on a fresh one (scoring is idempotent).
      job.resent = true;
      conn.reset();
      this.send(job, this.connect());
      return;
    }
    const why = conn.lastError ? messageOf(conn.lastError) : 'the shadow upstream closed the connection before answering';
    this.fail(conn, 'connection', why);
  }

  private finish(
    job: Job,
    status: number | null,
    response: TappedBody | null,
    version: string | null,
    error: string | null,
    kind: ShadowErrorKind | null,
  ): void {
    this.inFlight--;
    if (this.closed) return; // shutting down: nobody reads the comparison any more
    if (kind === null) this.counts.answered++;
    else {
      this.counts.failed++;
      this.deps.onError?.(kind);
    }
    const challenger: ShadowAnswer = { status, response, version, latencyMs: job.headersMs, error };
    this.deps.onResult({ event: job.event, atMs: job.atMs, challenger });
  }

  /** Stops shadowing: what is in flight is aborted and not reported. */
  close(): void {
    this.closed = true;
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
    for (const conn of this.conns) conn.socket.destroy();
  }
}
