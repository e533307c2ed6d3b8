/**
 * Which header fields matter to the proxy, and as what: the one place their names are matched, for
 * both engines (the fast lane's head parser and the node path's rawHeaders scans), so the
 * forwarding policy over these classes (forwarding.ts) cannot differ between them. Pure.
 *
 * The switch on the name's length first is why this is fast: most fields (user agents, accept
 * headers, the payload's own) are rejected by one integer compare. The rest are compared in place,
 * case-insensitively (`is`), so no lower-cased copy of a name is made per field.
 */

/**
 * `name` equals `lower` (a lower-case ASCII name of the same length) ignoring ASCII case. Only
 * letters fold: '^' and '~' differ by the same bit as 'A' and 'a', and both are token characters.
 */
export function is(name: string, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    const c = name.charCodeAt(i);
    const t = lower.charCodeAt(i);
    if (c !== t && (c !== t - 0x20 || t < 0x61 || t > 0x7a)) return false;
  }
  return true;
}

export const F = {
  OTHER: 0,
  /** Hop-by-hop on this side, never relayed (RFC 9110 7.6.1). */
  HOP: 1,
  HOST: 2,
  CONNECTION: 3,
  EXPECT: 4,
  UPGRADE: 5,
  REQUEST_ID: 6,
  CONTENT_TYPE: 7,
  CONTENT_LENGTH: 8,
  CONTENT_ENCODING: 9,
  TRANSFER_ENCODING: 10,
  X_FORWARDED_FOR: 11,
  X_FORWARDED_PORT: 12,
  X_FORWARDED_PROTO: 13,
  X_FORWARDED_HOST: 14,
  /** Response side only: relayed by the fast lane (its framing is kept), dropped by the node path. */
  TRAILER: 15,
  MODEL_VERSION: 16,
} as const;
export type Field = (typeof F)[keyof typeof F];

/** A request field. TE, Trailer, Keep-Alive and Proxy-Connection are hop-by-hop. */
export function requestField(name: string): Field {
  switch (name.length) {
    case 2:
      return is(name, 'te') ? F.HOP : F.OTHER;
    case 4:
      return is(name, 'host') ? F.HOST : F.OTHER;
    case 6:
      return is(name, 'expect') ? F.EXPECT : F.OTHER;
    case 7:
      return is(name, 'upgrade') ? F.UPGRADE : is(name, 'trailer') ? F.HOP : F.OTHER;
    case 10:
      return is(name, 'connection') ? F.CONNECTION : is(name, 'keep-alive') ? F.HOP : F.OTHER;
    case 12:
      return is(name, 'x-request-id') ? F.REQUEST_ID : is(name, 'content-type') ? F.CONTENT_TYPE : F.OTHER;
    case 14:
      return is(name, 'content-length') ? F.CONTENT_LENGTH : F.OTHER;
    case 15:
      return is(name, 'x-forwarded-for') ? F.X_FORWARDED_FOR : F.OTHER;
    case 16: {
      if (is(name, 'x-forwarded-port')) return F.X_FORWARDED_PORT;
      if (is(name, 'x-forwarded-host')) return F.X_FORWARDED_HOST;
      if (is(name, 'proxy-connection')) return F.HOP;
      return is(name, 'content-encoding') ? F.CONTENT_ENCODING : F.OTHER;
    }
    case 17:
      return is(name, 'x-forwarded-proto') ? F.X_FORWARDED_PROTO : is(name, 'transfer-encoding') ? F.TRANSFER_ENCODING : F.OTHER;
    default:
      return F.OTHER;
  }
}

/** A response field. Keep-Alive and Proxy-Connection are hop-by-hop; Upgrade is never relayed. */
export function responseField(name: string): Field {
  switch (name.length) {
    case 7:
      return is(name, 'upgrade') ? F.UPGRADE : is(name, 'trailer') ? F.TRAILER : F.OTHER;
    case 10:
      return is(name, 'connection') ? F.CONNECTION : is(name, 'keep-alive') ? F.HOP : F.OTHER;
    case 12:
      return is(name, 'content-type') ? F.CONTENT_TYPE : is(name, 'x-request-id') ? F.REQUEST_ID : F.OTHER;
    case 14:
      return is(name, 'content-length') ? F.CONTENT_LENGTH : F.OTHER;
    case 16:
      return is(name, 'content-encoding') ? F.CONTENT_ENCODING : is(name, 'proxy-connection') ? F.HOP : F.OTHER;
    case 17:
      return is(name, 'transfer-encoding') ? F.TRANSFER_ENCODING : F.OTHER;
    case 26:
      return is(name, 'x-driftwatch-model-version') ? F.MODEL_VERSION : F.OTHER;
    default:
      return F.OTHER;
  }
}

/** Adds the tokens of a Connection value (lower-cased, trimmed) to `into`. */
export function connectionTokens(value: string, into: Set<string>): void {
  for (const t of value.split(',')) {
    const v = t.trim().toLowerCase();
    if (v !== '') into.add(v);
  }
}
