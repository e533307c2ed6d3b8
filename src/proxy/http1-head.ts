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
import { REQUEST_ID } from './exchange.js';
import { connectionTokens, F, requestField, responseField } from './header-fields.js';

/** A request head the fast lane forwards itself. */
export interface RequestHead {
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
  /** A client-sent X-Request-ID that looks like an id (kept), else null (one is generated). */
  requestId: string | null;
  xForwardedFor: string | null;
  xForwardedPort: string | null;
  xForwardedProto: string | null;
  xForwardedHost: string | null;
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

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Methods the fast lane forwards itself; any other (WebDAV, custom, lower-case) is node's to judge. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']);
/** Origin-form: starts with '/', visible ASCII only (anything else is node's to judge). */
const ORIGIN_FORM = /^\/[\x21-\x7e]*$/;
/** Field values: visible characters, spaces, tabs and obs-text; no other controls (RFC 9110 5.5). */
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
const DIGITS = /^[0-9]{1,15}$/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([0-9]{3})(?: [^\r\n]*)?$/;

/**
 * Splits one header line into name and value without the optional whitespace (SP and HT only:
 * String.prototype.trim would also strip CR, LF, VT, FF and NBSP, and hide them from the check);
 * null when it is not a plain field line.
 */
function splitField(line: string): [string, string] | null {
  const colon = line.indexOf(':');
  if (colon <= 0) return null;
  const name = line.slice(0, colon);
  if (!TOKEN.test(name)) return null; // includes "name : value" and obs-fold continuation lines
  let a = colon + 1;
  let b = line.length;
  while (a < b && (line.charCodeAt(a) === 0x20 || line.charCodeAt(a) === 0x09)) a++;
  while (b > a && (line.charCodeAt(b - 1) === 0x20 || line.charCodeAt(b - 1) === 0x09)) b--;
  const value = line.slice(a, b);
  if (BAD_VALUE.test(value)) return null;
  return [name, value];
}

/** The lines of a forward text (each followed by CRLF). */
function linesOf(forward: string): string[] {
  return forward === '' ? [] : forward.slice(0, -2).split('\r\n');
}

/** Drops the lines whose field name a Connection header named (RFC 9110 7.6.1). */
function withoutNamed(lines: string[], named: Set<string>): string {
  let out = '';
  for (const line of lines) {
    if (!named.has(line.slice(0, line.indexOf(':')).toLowerCase())) out += line + '\r\n';
  }
  return out;
}

/**
 * Parses a request head (everything before the blank line, no trailing CRLF). Hop-by-hop fields
 * (Connection and what it names, Keep-Alive, Proxy-Connection, TE, Trailer) and the X-Forwarded-*
 * fields (re-written by the caller) are not forwarded; every other line is forwarded verbatim.
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

  const lines = eol < 0 ? [] : text.slice(eol + 2).split('\r\n');
  let forward = '';
  let kept: string[] | null = null; // only kept as lines when a Connection header names fields
  let named: Set<string> | null = null;
  let contentLength = -1;
  let chunked = false;
  let sawTransferEncoding = false;
  let close = false;
  let host: string | null = null;
  let requestId: string | null = null;
  let xff: string | null = null;
  let xfport: string | null = null;
  let xfproto: string | null = null;
  let xfhost: string | null = null;
  let contentType = '';
  let contentEncoding = '';
  for (const line of lines) {
    const field = splitField(line);
    if (field === null) return { ok: false, reason: 'field line' };
    const [name, value] = field;
    switch (requestField(name)) {
      case F.HOP:
        continue;
      case F.HOST:
        if (host !== null) return { ok: false, reason: 'host' };
        host = value;
        break;
      case F.EXPECT:
        return { ok: false, reason: 'expect' };
      case F.UPGRADE:
        return { ok: false, reason: 'upgrade' };
      case F.CONNECTION: {
        const tokens = new Set<string>();
        connectionTokens(value, tokens);
        if (tokens.has('upgrade')) return { ok: false, reason: 'upgrade' };
        if (tokens.has('close')) close = true;
        tokens.delete('close');
        tokens.delete('keep-alive');
        if (tokens.size > 0) {
          named ??= new Set();
          for (const t of tokens) named.add(t);
        }
        continue;
      }
      case F.REQUEST_ID:
        if (requestId !== null || !REQUEST_ID.test(value)) continue; // one id: the first that looks like one
        requestId = value;
        break;
      case F.CONTENT_TYPE:
        contentType = value;
        break;
      case F.CONTENT_LENGTH:
        if (contentLength >= 0 || !DIGITS.test(value)) return { ok: false, reason: 'content-length' };
        contentLength = Number(value);
        break;
      case F.CONTENT_ENCODING:
        contentEncoding = value;
        break;
      case F.TRANSFER_ENCODING:
        if (sawTransferEncoding || value.toLowerCase() !== 'chunked') return { ok: false, reason: 'transfer-encoding' };
        sawTransferEncoding = true;
        chunked = true;
        break;
      case F.X_FORWARDED_FOR:
        xff = xff === null ? value : `${xff},${value}`;
        continue;
      case F.X_FORWARDED_PORT:
        xfport = xfport === null ? value : `${xfport},${value}`;
        continue;
      case F.X_FORWARDED_PROTO:
        xfproto = xfproto === null ? value : `${xfproto},${value}`;
        continue;
      case F.X_FORWARDED_HOST:
        xfhost ??= value;
        continue;
    }
    if (named !== null) (kept ??= linesOf(forward)).push(line);
    else forward += line + '\r\n';
  }
  if (host === null) return { ok: false, reason: 'host' };
  if (chunked && contentLength >= 0) return { ok: false, reason: 'content-length with transfer-encoding' };
  if (named !== null) {
    if (named.has('host') || named.has('content-length') || named.has('transfer-encoding')) return { ok: false, reason: 'connection names framing' };
    forward = withoutNamed(kept ?? linesOf(forward), named);
  }
  return {
    ok: true,
    head: { method, target, forward, contentLength, chunked, close, host, requestId, xForwardedFor: xff, xForwardedPort: xfport, xForwardedProto: xfproto, xForwardedHost: xfhost, contentType, contentEncoding },
  };
}

/**
 * Parses an upstream response head. Connection, Keep-Alive, Proxy-Connection and Upgrade are not
 * relayed (the client connection's persistence is the proxy's to state); Transfer-Encoding and
 * Trailer are, because the body is relayed with the upstream's own framing, byte for byte.
 */
export function parseResponseHead(text: string): ResponseVerdict {
  const eol = text.indexOf('\r\n');
  const statusLine = eol < 0 ? text : text.slice(0, eol);
  const m = STATUS_LINE.exec(statusLine);
  if (m === null) return { ok: false, reason: 'status line' };
  const http10 = m[1] === '0';
  const status = Number(m[2]);
  const lines = eol < 0 ? [] : text.slice(eol + 2).split('\r\n');
  let forward = '';
  let kept: string[] | null = null;
  let named: Set<string> | null = null;
  let contentLength = -1;
  let chunked = false;
  let transferEncoding = false;
  let close = http10;
  let hasRequestId = false;
  let contentType = '';
  let contentEncoding = '';
  let modelVersion: string | null = null;
  for (const line of lines) {
    const field = splitField(line);
    if (field === null) return { ok: false, reason: 'field line' };
    const [name, value] = field;
    switch (responseField(name)) {
      case F.HOP:
      case F.UPGRADE:
        continue;
      case F.CONNECTION: {
        const tokens = new Set<string>();
        connectionTokens(value, tokens);
        if (tokens.has('close')) close = true;
        else if (http10 && tokens.has('keep-alive')) close = false;
        tokens.delete('close');
        tokens.delete('keep-alive');
        if (tokens.size > 0) {
          named ??= new Set();
          for (const t of tokens) named.add(t);
        }
        continue;
      }
      case F.CONTENT_TYPE:
        contentType = value;
        break;
      case F.REQUEST_ID:
        hasRequestId = true;
        break;
      case F.CONTENT_LENGTH:
        if (!DIGITS.test(value) || (contentLength >= 0 && contentLength !== Number(value))) return { ok: false, reason: 'content-length' };
        contentLength = Number(value);
        break;
      case F.CONTENT_ENCODING:
        contentEncoding = value;
        break;
      case F.TRANSFER_ENCODING: {
        transferEncoding = true;
        // Chunked framing only when chunked is the final coding (RFC 9112 6.3); otherwise the
        // body runs to the close.
        const codings = value.toLowerCase().split(',');
        chunked = codings[codings.length - 1]!.trim() === 'chunked';
        break;
      }
      case F.MODEL_VERSION:
        modelVersion ??= value;
        break;
    }
    if (named !== null) (kept ??= linesOf(forward)).push(line);
    else forward += line + '\r\n';
  }
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
  if (named !== null || dropLength) {
    if (named !== null && (named.has('content-length') || named.has('transfer-encoding'))) return { ok: false, reason: 'connection names framing' };
    const drop = new Set(named);
    if (dropLength) drop.add('content-length');
    forward = withoutNamed(kept ?? linesOf(forward), drop);
  }
  return { ok: true, head: { status, statusLine, forward, contentLength, chunked, close, hasRequestId, contentType, contentEncoding, modelVersion } };
}
