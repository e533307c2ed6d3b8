/**
 * Bearer-token check for admin/control endpoints. Compared in constant time: both sides are hashed
 * to a fixed length first, so neither the content nor the length of the token leaks through timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export function tokenMatches(expected: string, authorization: string | undefined): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(authorization ?? '');
  const given = m ? m[1]!.trim() : '';
  // Always compare, even when nothing was sent, so the timing of a miss does not depend on input.
  const ok = timingSafeEqual(digest(expected), digest(given));
  return ok && given.length > 0;
}

/**
 * Browser-context checks for an admin port bound to loopback without a token, where the bind
 * address was the only protection: a web page the user opens can still reach it, by DNS rebinding
 * (its own host name resolving to 127.0.0.1: the browser then sends that name as Host) or by a
 * cross-site POST (CSRF: the browser sends the page's Origin). Neither is a concern for clients
 * outside a browser, which send a loopback Host and no Origin.
 */
export interface BrowserGuard {
  /** Null when the request may pass; else why it is refused. */
  refusal(method: string, headers: { host?: string | undefined; origin?: string | undefined; 'sec-fetch-site'?: string | string[] | undefined }): string | null;
}

/** "host", "host:port", "[v6]", "[v6]:port" as hostname (lower case, IPv6 in brackets) and port ("" when absent); null when malformed. */
export function splitHostHeader(value: string): { name: string; port: string } | null {
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]\s]+)(?::(\d{0,5}))?$/i.exec(value.trim());
  return m ? { name: m[1]!.toLowerCase(), port: m[2] ?? '' } : null;
}

/** A configured name as a Host header carries it: lower case, an IPv6 literal in brackets. */
function asHostName(name: string): string {
  const n = name.trim().toLowerCase();
  return n.includes(':') && !n.startsWith('[') ? `[${n}]` : n;
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function browserGuard(bindHost: string, extraHosts: readonly string[]): BrowserGuard {
  const allowed = new Set(['localhost', '127.0.0.1', '[::1]', asHostName(bindHost), ...extraHosts.map(asHostName)]);
  return {
    refusal(method, headers) {
      // A request without Host is HTTP/1.0 from a non-browser client (browsers always send it).
      const host = headers.host === undefined ? null : splitHostHeader(headers.host);
      if (headers.host !== undefined && (host === null || !allowed.has(host.name))) {
        return `this admin port answers only to the host names ${[...allowed].join(', ')} (admin.allowedHosts adds more); got Host ${JSON.stringify(headers.host.slice(0, 100))}`;
      }
      if (!STATE_CHANGING.has(method.toUpperCase())) return null;
      if (headers['sec-fetch-site'] === 'cross-site') return 'cross-site requests may not change state on the admin port (Sec-Fetch-Site: cross-site)';
      const origin = headers.origin;
      if (origin === undefined) return null;
      let o: URL | null = null;
      try {
        o = new URL(origin);
      } catch {
        o = null;
      }
      // Compared as host and port, a missing port being the origin scheme's default.
      const defaultPort = o?.protocol === 'https:' ? '443' : '80';
      const same = o !== null && host !== null && o.hostname.toLowerCase() === host.name && (o.port || defaultPort) === (host.port || defaultPort);
      return same
        ? null
        : `cross-origin requests may not change state on the admin port: Origin ${JSON.stringify(origin.slice(0, 100))} is not the Host this request was sent to`;
    },
  };
}
