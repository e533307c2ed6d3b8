/**
 * HTTP/1.1 message heads for the fast lane: pure functions over the head's text (latin1, so every
 * byte survives the round trip), no I/O.
 *
 * The parser is deliberately narrow. It accepts the request shapes prediction traffic has
 * (HTTP/1.1, origin-form target, Content-Length or chunked body, plain header lines) and answers
 * "handover" for everything else: the node:http path then gets the connection and does what it
 * has always done (llhttp's strict checks, 400 for malformed input, 100-continue, upgrades,
 * HTTP/1.0). So a request the fast lane does not fully understand is never half-handled, and
 * malformed input gets the same JSON 400 on both engines.
 */
import {
  CONN_CLOSE,
  CONN_KEEP_ALIVE,
  CONN_UPGRADE,
  forwardRequestField,
  forwardResponseField,
  withoutNamedLines,
  type ClientForwarding,
  type RequestForwarding,
  type ResponseForwarding,
} from './forwarding.js';
import { F, is, requestField, responseField } from './header-fields.js';

/** A request head the fast lane forwards itself (what the added fields build on: ClientForwarding). */
export interface RequestHead extends ClientForwarding {
  method: string;
  /** Origin-form target, exactly as the client sent it (path and query). */
  target: string;
  /** The end-to-end header lines to forward, each verbatim and followed by CRLF. */
  forward: string;
  /** -1 when there is none (and the request is not chunked: no body). */
  contentLength: number;
  chunked: boolean;
  /** The client asked to close the connection after this exchange. */
  close: boolean;
  host: string;
  contentType: string;
  contentEncoding: string;
}

export type RequestVerdict = { ok: true; head: RequestHead } | { ok: false; reason: string };

/** A response head as the fast lane relays it. */
export interface ResponseHead {
  status: number;
  /** The status line verbatim ("HTTP/1.1 200 OK"), without CRLF. */
  statusLine: string;
  /** End-to-end header lines, verbatim, each followed by CRLF (Transfer-Encoding kept: the body is relayed as framed). */
  forward: string;
  contentLength: number;
  chunked: boolean;
  /** The upstream will close after this answer (Connection: close, or HTTP/1.0 without keep-alive). */
  close: boolean;
  hasRequestId: boolean;
  contentType: string;
  contentEncoding: string;
  modelVersion: string | null;
}

export type ResponseVerdict = { ok: true; head: ResponseHead } | { ok: false; reason: string };

/** Token characters (RFC 9110 5.6.2), by char code below 128. */
const TOKEN_CHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TOKEN_CHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TOKEN_CHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TOKEN_CHAR[c] = TOKEN_CHAR[c + 0x20] = 1;
/** Methods the fast lane forwards itself; any other (WebDAV, custom, lower-case) is node's to judge. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']);
/** Origin-form: starts with '/', visible ASCII only (anything else is node's to judge). */
const ORIGIN_FORM = /^\/[\x21-\x7e]*$/;
const DIGITS = /^[0-9]{1,15}$/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([0-9]{3})(?: [^\r\n]*)?$/;

// Where readField found the value of the line it read. Module scratch instead of a returned
// [name, value] pair: a head has a dozen lines, and these parsers run twice per proxied request
// (an array and two strings per line were a measurable share of the fast lane's CPU).
let valueStart = 0;
let valueEnd = 0;

/**
 * Reads the field line text[a, b): returns its name and leaves where its value is in valueStart and
 * valueEnd, without the optional whitespace (SP and HT only: String.prototype.trim would also strip
 * CR, LF, VT, FF and NBSP, and hide them from the check). Null when it is not a plain field line:
 * a name that is not a token (this includes "name : value" and obs-fold continuation lines), or a
 * value with a control character other than HT (RFC 9110 5.5; obs-text is allowed).
 */
function readField(text: string, a: number, b: number): string | null {
  let colon = a;
  for (; colon < b; colon++) {
    const c = text.charCodeAt(colon);
    if (c === 0x3a) break;
    if (c >= 128 || TOKEN_CHAR[c] !== 1) return null;
  }
  if (colon === a || colon === b) return null;
  trimOws(text, colon + 1, b);
  for (let i = valueStart; i < valueEnd; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 ? c !== 0x09 : c === 0x7f) return null;
  }
  return text.slice(a, colon);
}

/** Sets valueStart/valueEnd to text[a, b) without optional whitespace (SP and HT only) at its ends. */
function trimOws(text: string, a: number, b: number): void {
  while (a < b && (text.charCodeAt(a) === 0x20 || text.charCodeAt(a) === 0x09)) a++;
  while (b > a && (text.charCodeAt(b - 1) === 0x20 || text.charCodeAt(b - 1) === 0x09)) b--;
  valueStart = a;
  valueEnd = b;
}

/**
 * The forwarded lines of a head as runs of the head's own text: a run is cut where a dropped line
 * starts, so a head whose forwarded lines are contiguous costs one slice.
 */
class ForwardRuns {
  private out = '';
  private run = -1;
  constructor(private readonly text: string) {}
  /** Whether the line that starts at `pos` is forwarded. */
  line(pos: number, keep: boolean): void {
    if (keep) {
      if (this.run < 0) this.run = pos;
    } else if (this.run >= 0) {
      this.out += this.text.slice(this.run, pos);
      this.run = -1;
    }
  }
  /** The forwarded lines, each followed by CRLF. */
  done(): string {
    return this.run >= 0 ? this.out + this.text.slice(this.run) + '\r\n' : this.out;
  }
}

/**
 * Parses a request head (everything before the blank line, no trailing CRLF). Which lines are
 * forwarded is the forwarding policy's (forwarding.ts: hop-by-hop fields, Connection and what it
 * names, X-Forwarded-* which the caller re-writes, a request id that does not look like one); every
 * other line is forwarded verbatim.
 */
export function parseRequestHead(text: string): RequestVerdict {
  const eol = text.indexOf('\r\n');
  const requestLine = eol < 0 ? text : text.slice(0, eol);
  const sp1 = requestLine.indexOf(' ');
  const sp2 = requestLine.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0) return { ok: false, reason: 'request line' };
  const method = requestLine.slice(0, sp1);
  const target = requestLine.slice(sp1 + 1, sp2);
  const version = requestLine.slice(sp2 + 1);
  if (version !== 'HTTP/1.1') return { ok: false, reason: 'version' };
  if (!METHODS.has(method)) return { ok: false, reason: 'method' };
  if (!ORIGIN_FORM.test(target)) return { ok: false, reason: 'target' };

  const runs = new ForwardRuns(text);
  const fwd: RequestForwarding = {
    requestId: null,
    xForwardedFor: null,
    xForwardedPort: null,
    xForwardedProto: null,
    xForwardedHost: null,
    named: null,
    connection: 0,
  };
  let contentLength = -1;
  let chunked = false;
  let sawTransferEncoding = false;
  let close = false;
  let host: string | null = null;
  let contentType = '';
  let contentEncoding = '';
  const len = text.length;
  // The field lines are text[pos, end) between CRLFs, as text.slice(eol + 2).split('\r\n') has them.
  for (let pos = eol + 2, end = 0; eol >= 0 && pos <= len; pos = end + 2) {
    end = text.indexOf('\r\n', pos);
    if (end < 0) end = len;
    const name = readField(text, pos, end);
    if (name === null) return { ok: false, reason: 'field line' };
    const f = requestField(name);
    // The classes the fast lane reads itself (framing, the tap's fields, what it hands over) are
    // forwarded; the policy judges the rest (default), so most lines cost one switch.
    let keep = true;
    switch (f) {
      case F.OTHER:
        break;
      case F.HOST:
        if (host !== null) return { ok: false, reason: 'host' };
        host = text.slice(valueStart, valueEnd);
        break;
      case F.EXPECT:
        return { ok: false, reason: 'expect' };
      case F.UPGRADE:
        return { ok: false, reason: 'upgrade' };
      case F.CONTENT_TYPE:
        contentType = text.slice(valueStart, valueEnd);
        break;
      case F.CONTENT_LENGTH: {
        const value = text.slice(valueStart, valueEnd);
        if (contentLength >= 0 || !DIGITS.test(value)) return { ok: false, reason: 'content-length' };
        contentLength = Number(value);
        break;
      }
      case F.CONTENT_ENCODING:
        contentEncoding = text.slice(valueStart, valueEnd);
        break;
      case F.TRANSFER_ENCODING:
        if (sawTransferEncoding || valueEnd - valueStart !== 7 || !is(text.slice(valueStart, valueEnd), 'chunked'))
          return { ok: false, reason: 'transfer-encoding' };
        sawTransferEncoding = true;
        chunked = true;
        break;
      default:
        keep = forwardRequestField(fwd, f, text, valueStart, valueEnd);
        if (f === F.CONNECTION) {
          if (fwd.connection & CONN_UPGRADE) return { ok: false, reason: 'upgrade' };
          if (fwd.connection & CONN_CLOSE) close = true;
        }
    }
    runs.line(pos, keep);
  }
  let forward = runs.done();
  if (host === null) return { ok: false, reason: 'host' };
  if (chunked && contentLength >= 0) return { ok: false, reason: 'content-length with transfer-encoding' };
  if (fwd.named !== null) {
    const n = fwd.named;
    if (n.has('host') || n.has('content-length') || n.has('transfer-encoding')) return { ok: false, reason: 'connection names framing' };
    forward = withoutNamedLines(forward, n);
  }
  return {
    ok: true,
    head: {
      method,
      target,
      forward,
      contentLength,
      chunked,
      close,
      host,
      requestId: fwd.requestId,
      xForwardedFor: fwd.xForwardedFor,
      xForwardedPort: fwd.xForwardedPort,
      xForwardedProto: fwd.xForwardedProto,
      xForwardedHost: fwd.xForwardedHost,
      contentType,
      contentEncoding,
    },
  };
}

/**
 * Parses an upstream response head. Which lines are relayed is the forwarding policy's
 * (forwarding.ts): Connection and what it names, Keep-Alive, Proxy-Connection and Upgrade are not
 * (the client connection's persistence is the proxy's to state); Transfer-Encoding and Trailer are,
 * because the body is relayed with the upstream's own framing, byte for byte.
 */
export function parseResponseHead(text: string): ResponseVerdict {
  const eol = text.indexOf('\r\n');
  const statusLine = eol < 0 ? text : text.slice(0, eol);
  const m = STATUS_LINE.exec(statusLine);
  if (m === null) return { ok: false, reason: 'status line' };
  const http10 = m[1] === '0';
  const status = Number(m[2]);
  const runs = new ForwardRuns(text);
  const fwd: ResponseForwarding = { named: null, connection: 0, hasRequestId: false };
  let contentLength = -1;
  let chunked = false;
  let transferEncoding = false;
  let close = http10;
  let contentType = '';
  let contentEncoding = '';
  let modelVersion: string | null = null;
  const len = text.length;
  for (let pos = eol + 2, end = 0; eol >= 0 && pos <= len; pos = end + 2) {
    end = text.indexOf('\r\n', pos);
    if (end < 0) end = len;
    const name = readField(text, pos, end);
    if (name === null) return { ok: false, reason: 'field line' };
    const f = responseField(name);
    // As in parseRequestHead: the policy judges Transfer-Encoding (relayed: the body keeps the
    // upstream's framing, `reframed` false) and the classes in default.
    let keep = true;
    switch (f) {
      case F.OTHER:
        break;
      case F.CONTENT_TYPE:
        contentType = text.slice(valueStart, valueEnd);
        break;
      case F.CONTENT_LENGTH: {
        const value = text.slice(valueStart, valueEnd);
        if (!DIGITS.test(value) || (contentLength >= 0 && contentLength !== Number(value))) return { ok: false, reason: 'content-length' };
        contentLength = Number(value);
        break;
      }
      case F.CONTENT_ENCODING:
        contentEncoding = text.slice(valueStart, valueEnd);
        break;
      case F.TRANSFER_ENCODING: {
        keep = forwardResponseField(fwd, f, text, valueStart, valueEnd, false);
        transferEncoding = true;
        // Chunked framing only when chunked is the final coding (RFC 9112 6.3); otherwise the
        // body runs to the close. The coding is trimmed of SP and HT only: trim() would also
        // strip NBSP, and "chunked\xa0" is not chunked to llhttp, so a client reading the relayed
        // header would frame the body differently from the proxy.
        const comma = text.lastIndexOf(',', valueEnd - 1);
        trimOws(text, comma < valueStart ? valueStart : comma + 1, valueEnd);
        chunked = valueEnd - valueStart === 7 && is(text.slice(valueStart, valueEnd), 'chunked');
        break;
      }
      case F.MODEL_VERSION:
        modelVersion ??= text.slice(valueStart, valueEnd);
        break;
      default:
        keep = forwardResponseField(fwd, f, text, valueStart, valueEnd, false);
        if (f === F.CONNECTION) {
          if (fwd.connection & CONN_CLOSE) close = true;
          else if (http10 && fwd.connection & CONN_KEEP_ALIVE) close = false;
        }
    }
    runs.line(pos, keep);
  }
  let forward = runs.done();
  let dropLength = false;
  if (transferEncoding) {
    // Transfer-Encoding overrides Content-Length (RFC 9112 6.3), which is then not relayed; such
    // a message is suspect, so the upstream connection is not reused after it.
    if (contentLength >= 0) {
      close = true;
      dropLength = true;
    }
    contentLength = -1;
    if (!chunked) close = true;
  }
  if (fwd.named !== null || dropLength) {
    if (fwd.named !== null && (fwd.named.has('content-length') || fwd.named.has('transfer-encoding'))) return { ok: false, reason: 'connection names framing' };
    const drop = new Set(fwd.named);
    if (dropLength) drop.add('content-length');
    forward = withoutNamedLines(forward, drop);
  }
  return {
    ok: true,
    head: { status, statusLine, forward, contentLength, chunked, close, hasRequestId: fwd.hasRequestId, contentType, contentEncoding, modelVersion },
  };
}
