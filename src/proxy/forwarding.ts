/**
 * The forwarding policy: what of a message crosses the proxy, and what the proxy adds. Both engines
 * call it, the fast lane over a head's text (http1-head.ts) and the node path over rawHeaders
 * (node-engine.ts), so what reaches the upstream and the client cannot differ between them. Pure:
 * no I/O, no sockets.
 *
 * - Never relayed (RFC 9110 7.6.1): Connection and the fields it names, Keep-Alive,
 *   Proxy-Connection, Upgrade; on requests also TE and Trailer. Each side states them for its own
 *   connection.
 * - Transfer-Encoding and Trailer on an answer: relayed by an engine that relays the body with the
 *   upstream's own framing (the fast lane), dropped by one that re-frames it (the node path: node
 *   chunks or length-delimits the answer itself). That is the `reframed` argument, the one place the
 *   engines differ.
 * - X-Forwarded-For, -Port and -Proto: the client's values are dropped and re-written with this hop
 *   appended (as http-proxy's xfwd option writes them); X-Forwarded-Host: the client's first one is
 *   kept, else the request's Host.
 * - X-Request-ID: the client's first one that looks like an id is kept (and forwarded), others are
 *   dropped and the exchange's own id is added; the answer gets the id when the upstream sent none.
 *
 * Hot-path shape: fields are judged by their class (header-fields.ts) one at a time, and a value is
 * read (sliced from the head's text) only for the classes whose value the policy needs, so the fast
 * lane keeps cutting its forwarded head from runs of the original text. The node path passes each
 * value as the whole text (`value, 0, value.length`: slicing all of a string returns it).
 */
import { connectionTokens, F, is, type Field } from './header-fields.js';

/** Client-supplied request ids are kept when they look like ids; anything else is replaced. */
export const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,200}$/;

/** Flags of a Connection value (connectionValue). */
export const CONN_CLOSE = 1;
export const CONN_KEEP_ALIVE = 2;
export const CONN_UPGRADE = 4;

/** What the fields the proxy adds to a request build on, as the request's own fields gave it. */
export interface ClientForwarding {
  /** The client's X-Request-ID when it looks like an id (kept), else null (one is generated). */
  requestId: string | null;
  /** The client's X-Forwarded-For lines, joined with ',' in order; null when none. */
  xForwardedFor: string | null;
  xForwardedPort: string | null;
  xForwardedProto: string | null;
  /** The client's first X-Forwarded-Host. */
  xForwardedHost: string | null;
}

/** What Connection values named, gathered over one head. */
export interface Named {
  /** Field names a Connection value listed (lower case), other than close and keep-alive; null when none. */
  named: Set<string> | null;
  /** The flags of the last Connection value read (CONN_*). */
  connection: number;
}

// The two states below are written as typed object literals where a head is read (all fields
// null/0/false), not as classes: on Node 20 a class with field initializers cost parseResponseHead
// 5-10% of its time (microbenchmark, one per head), the literal nothing measurable. Inline, not
// from a factory, so no call is left when the parser's inlining budget runs out. The type makes a
// field added here a compile error there.

/** The policy's state over one request head, filled field by field by forwardRequestField. */
export interface RequestForwarding extends ClientForwarding, Named {}

/** The policy's state over one answer head, filled field by field by forwardResponseField. */
export interface ResponseForwarding extends Named {
  /** The upstream sent an X-Request-ID (relayed; none is added). */
  hasRequestId: boolean;
}

/**
 * The field names a Connection value lists, other than close and keep-alive, added to `into.named`;
 * returns the flags of the two (and of upgrade). The usual values, a bare "keep-alive" or "close",
 * are recognised without splitting.
 */
export function connectionValue(value: string, into: Named): number {
  if (value.length === 10 && is(value, 'keep-alive')) return CONN_KEEP_ALIVE;
  if (value.length === 5 && is(value, 'close')) return CONN_CLOSE;
  const tokens = new Set<string>();
  connectionTokens(value, tokens);
  let flags = 0;
  if (tokens.delete('close')) flags |= CONN_CLOSE;
  if (tokens.delete('keep-alive')) flags |= CONN_KEEP_ALIVE;
  if (tokens.has('upgrade')) flags |= CONN_UPGRADE;
  if (tokens.size > 0) {
    into.named ??= new Set();
    for (const t of tokens) into.named.add(t);
  }
  return flags;
}

/** `prior` (a client's X-Forwarded-* list) with this hop's value appended. */
function appended(prior: string | null, value: string): string {
  return prior === null ? value : `${prior},${value}`;
}

/**
 * Whether a request field is forwarded, by its class (header-fields.ts requestField) and, for
 * Connection, X-Request-ID and X-Forwarded-*, its value text[a, b) (trimmed), which is folded into
 * `fwd`. A Connection value's flags are left in fwd.connection. The fields a Connection value names
 * are dropped afterwards (withoutNamedLines/withoutNamedPairs), as they may come before it. The
 * classes not named in the switch (other fields, Host, Content-*, Transfer-Encoding, Expect) are
 * always forwarded: the fast lane, which reads those itself, does not ask about them.
 */
export function forwardRequestField(fwd: RequestForwarding, f: Field, text: string, a: number, b: number): boolean {
  switch (f) {
    case F.OTHER:
      return true;
    case F.HOP:
    case F.UPGRADE:
      return false;
    case F.CONNECTION:
      fwd.connection = connectionValue(text.slice(a, b), fwd);
      return false;
    case F.REQUEST_ID: {
      if (fwd.requestId !== null) return false; // one id: the first that looks like one
      const value = text.slice(a, b);
      if (!REQUEST_ID.test(value)) return false;
      fwd.requestId = value;
      return true;
    }
    case F.X_FORWARDED_FOR:
      fwd.xForwardedFor = appended(fwd.xForwardedFor, text.slice(a, b));
      return false;
    case F.X_FORWARDED_PORT:
      fwd.xForwardedPort = appended(fwd.xForwardedPort, text.slice(a, b));
      return false;
    case F.X_FORWARDED_PROTO:
      fwd.xForwardedProto = appended(fwd.xForwardedProto, text.slice(a, b));
      return false;
    case F.X_FORWARDED_HOST:
      fwd.xForwardedHost ??= text.slice(a, b);
      return false;
    default:
      return true;
  }
}

/**
 * Whether an answer field is relayed, by its class (header-fields.ts responseField); a Connection
 * value text[a, b) is read as in forwardRequestField. `reframed`: the engine frames the answer to
 * the client itself, so the upstream's Transfer-Encoding and Trailer do not apply to it. As on
 * requests, the classes not named in the switch are always relayed (the fast lane does not ask).
 */
export function forwardResponseField(fwd: ResponseForwarding, f: Field, text: string, a: number, b: number, reframed: boolean): boolean {
  switch (f) {
    case F.OTHER:
      return true;
    case F.HOP:
    case F.UPGRADE:
      return false;
    case F.CONNECTION:
      fwd.connection = connectionValue(text.slice(a, b), fwd);
      return false;
    case F.TRAILER:
    case F.TRANSFER_ENCODING:
      return !reframed;
    case F.REQUEST_ID:
      fwd.hasRequestId = true;
      return true;
    default:
      return true;
  }
}

/** `forward` (header lines, each followed by CRLF) without the lines whose name is in `named`. */
export function withoutNamedLines(forward: string, named: ReadonlySet<string>): string {
  if (forward === '') return '';
  let out = '';
  for (const line of forward.slice(0, -2).split('\r\n')) {
    if (!named.has(line.slice(0, line.indexOf(':')).toLowerCase())) out += line + '\r\n';
  }
  return out;
}

/** Removes the fields whose name is in `named` from a flat [name, value, ...] list, in place. */
export function withoutNamedPairs(out: string[], named: ReadonlySet<string>): void {
  let w = 0;
  for (let i = 0; i < out.length; i += 2) {
    if (named.has(out[i]!.toLowerCase())) continue;
    out[w++] = out[i]!;
    out[w++] = out[i + 1]!;
  }
  out.length = w;
}

/** The port X-Forwarded-Port names: the Host header's, else the default of `proto`. */
export function hostPort(host: string | null, proto: string): string {
  if (host !== null) {
    const c = host.lastIndexOf(':');
    if (c > host.lastIndexOf(']')) return host.slice(c + 1);
  }
  return proto === 'https' ? '443' : '80';
}

// The fields added to a forwarded request, in order: X-Request-ID (when the client's is not kept),
// X-Forwarded-For, -Port, -Proto, -Host. Written out twice below, once per engine's form of a head
// (header lines for the fast lane, a flat [name, value] list for node:http), from the same values.

/**
 * The fields the proxy adds to a request, as header lines each followed by CRLF. `id` is the
 * exchange's request id, `remote` the client's address, `proto` the scheme it used.
 */
export function addedRequestLines(c: ClientForwarding, id: string, remote: string, host: string, proto: string): string {
  return (
    (c.requestId === null ? `x-request-id: ${id}\r\n` : '') +
    `x-forwarded-for: ${appended(c.xForwardedFor, remote)}\r\n` +
    `x-forwarded-port: ${appended(c.xForwardedPort, hostPort(host, proto))}\r\n` +
    `x-forwarded-proto: ${appended(c.xForwardedProto, proto)}\r\n` +
    `x-forwarded-host: ${c.xForwardedHost ?? host}\r\n`
  );
}

/**
 * The same fields appended to a flat [name, value] list; a request without Host (HTTP/1.0) also
 * gets `upstreamHost`, the upstream URL's host.
 */
export function addRequestPairs(
  out: string[],
  c: ClientForwarding,
  id: string,
  remote: string,
  host: string | null,
  proto: string,
  upstreamHost: string,
): void {
  if (c.requestId === null) out.push('x-request-id', id);
  out.push(
    'x-forwarded-for',
    appended(c.xForwardedFor, remote),
    'x-forwarded-port',
    appended(c.xForwardedPort, hostPort(host, proto)),
    'x-forwarded-proto',
    appended(c.xForwardedProto, proto),
    'x-forwarded-host',
    c.xForwardedHost ?? host ?? '',
  );
  if (host === null) out.push('host', upstreamHost);
}

/** The field the proxy adds to an answer, as a header line: the request id, when the upstream sent none. */
export function addedResponseLines(hasRequestId: boolean, id: string): string {
  return hasRequestId ? '' : `x-request-id: ${id}\r\n`;
}

/** The same, appended to a flat [name, value] list. */
export function addResponsePairs(out: string[], hasRequestId: boolean, id: string): void {
  if (!hasRequestId) out.push('x-request-id', id);
}

/** Where requests go: the upstream URL, read once at start-up. */
export interface UpstreamTarget {
  /** 'http:' or 'https:' (the fast lane speaks plain HTTP only). */
  protocol: string;
  tls: boolean;
  /** The host to connect to (an IPv6 literal without its brackets). */
  host: string;
  port: number;
  /** The URL's host with its port, for a request that has no Host. */
  hostHeader: string;
  /** The URL's path without its trailing slash ('' for the root): it prefixes every request path. */
  basePath: string;
  /** For error messages. */
  origin: string;
}

export function upstreamTarget(upstream: string): UpstreamTarget {
  const u = new URL(upstream);
  const tls = u.protocol === 'https:';
  return {
    protocol: u.protocol,
    tls,
    host: u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname,
    port: Number(u.port) || (tls ? 443 : 80),
    hostHeader: u.host,
    basePath: u.pathname === '/' ? '' : u.pathname.replace(/\/$/, ''),
    origin: u.origin,
  };
}

/**
 * Whether the path part of a target (before '?' or '#') has a dot-segment ('.' or '..'), raw or
 * percent-encoded (%2e/%2E for a dot, %2f/%2F for a slash next to one): such a target could climb
 * out of the upstream's base path, or out of the root of an upstream that serves files. Does work
 * only when the target has a '.' or a '%'.
 */
export function hasDotSegment(target: string): boolean {
  const dot = target.indexOf('.');
  const pct = target.indexOf('%');
  if (dot < 0 && pct < 0) return false;
  // The path ends at '?' (a '#' does not belong in a target, but a server may cut there too).
  let end = target.indexOf('?');
  if (end < 0) end = target.length;
  const hash = target.indexOf('#');
  if (hash >= 0 && hash < end) end = hash;
  let dots = 0;
  let other = false;
  for (let i = 0; i <= end; i++) {
    let c = i === end ? 0x2f : target.charCodeAt(i);
    if (c === 0x25 && i + 2 < end && target.charCodeAt(i + 1) === 0x32) {
      const d = target.charCodeAt(i + 2) | 0x20; // lower case
      if (d === 0x65)
        c = 0x2e; // %2e
      else if (d === 0x66) c = 0x2f; // %2f
      if (c !== 0x25) i += 2;
    }
    if (c === 0x2f) {
      if (!other && (dots === 1 || dots === 2)) return true;
      dots = 0;
      other = false;
    } else if (c === 0x2e) dots++;
    else other = true;
  }
  return false;
}

/**
 * The target a request is sent to upstream, or null when it is refused (a dot-segment:
 * hasDotSegment; the engines answer it with a JSON 400).
 *
 * - No base path: the client's target as sent (origin-form, absolute-form or '*').
 * - With a base path: the base path, then the target's path and query. An absolute-form target
 *   (`http://host/path?q`, RFC 9112 3.2.2) is reduced to its path and query first; `OPTIONS *`
 *   goes to the base path itself (the upstream's root for this proxy).
 */
export function upstreamPath(basePath: string, target: string): string | null {
  if (basePath === '') return hasDotSegment(target) ? null : target;
  if (target === '*') return basePath;
  let path = target;
  if (target.charCodeAt(0) !== 0x2f) {
    const scheme = target.indexOf('://');
    if (scheme > 0) {
      let p = scheme + 3;
      while (p < target.length) {
        const c = target.charCodeAt(p);
        if (c === 0x2f || c === 0x3f || c === 0x23) break;
        p++;
      }
      path = target.charCodeAt(p) === 0x2f ? target.slice(p) : `/${target.slice(p)}`;
    }
  }
  return hasDotSegment(path) ? null : basePath + path;
}
