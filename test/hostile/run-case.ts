/**
 * Runs one hostile case against one port: writes its steps on a raw socket, sends a well-formed
 * request on another connection while the hostile one is in flight, and reports what the hostile
 * connection got, judged against the case's one expected outcome.
 */
import assert from 'node:assert/strict';
import { header, RawConn } from '../fixtures/raw-http.js';
import type { PortName, Targets } from './targets.js';

/** Pause before the next step. */
export interface Wait {
  waitMs: number;
}
/** Half-close (FIN): the client sends nothing more. */
export const END = { end: true } as const;
/** Abort (RST): the client vanishes. Nothing can be read after it; only the server's health is checked. */
export const RESET = { reset: true } as const;
/** Slowloris: one byte of `bytes` every `everyMs`, then silence, until the server acts. */
export interface Drip {
  drip: string;
  everyMs: number;
}
export type Step = string | Buffer | Wait | typeof END | typeof RESET | Drip;

/**
 * The one outcome a case expects on a port:
 * - `{ status, code }`: a 4xx answer with Content-Type application/json, a parseable body with a
 *   non-empty message (`message`, or `error` on the Open Inference routes), `error_code` equal to
 *   `code` when given and a message matching `message` when given; then the connection closes, or
 *   with `keepsOpen` the same connection answers the well-formed request next (a refused body,
 *   read in full, leaves the connection usable).
 * - `'close'`: the connection closes without a byte of answer.
 * - `'reset-by-client'`: the client resets; there is nothing to read, only the server's health.
 * - `'scored'`: not bad input to the server (MLflow accepts it too): a 200 JSON answer for one row
 *   (`predictions`, or Open Inference `outputs`), and the connection stays usable.
 */
export type Expect = { status: number; code?: string; message?: RegExp; keepsOpen?: boolean } | 'close' | 'reset-by-client' | 'scored';

export type Outcome =
  | { kind: 'answer'; status: number; type: string; body: string; closedAfter: boolean }
  | { kind: 'close' }
  | { kind: 'timeout'; unread: string }
  | { kind: 'garbage'; what: string }
  | { kind: 'reset-by-client' };

const isWait = (s: Step): s is Wait => typeof s === 'object' && 'waitMs' in s;
const isDrip = (s: Step): s is Drip => typeof s === 'object' && 'drip' in s;

/** How long any one case may take to show its outcome (the slow cases need about 2.5 s). */
const OUTCOME_TIMEOUT_MS = 8000;

export async function attempt(targets: Targets, port: PortName, steps: Step[], method: string, expect?: Expect): Promise<Outcome> {
  const t = targets.byName[port];
  const c = await RawConn.open(t.port);
  let wellFormed: Promise<void> | null = null;
  let dripping: NodeJS.Timeout | null = null;
  try {
    let reset = false;
    for (const [i, step] of steps.entries()) {
      if (isWait(step)) await new Promise((r) => setTimeout(r, step.waitMs));
      else if (typeof step === 'object' && 'end' in step) c.socket.end();
      else if (typeof step === 'object' && 'reset' in step) {
        c.socket.resetAndDestroy();
        reset = true;
      } else if (isDrip(step)) {
        let at = 0;
        dripping = setInterval(() => {
          if (at < step.drip.length) c.write(step.drip[at++]!);
        }, step.everyMs);
      } else c.write(step);
      // The well-formed request goes out once the hostile one has started, on its own connection.
      if (i === 0) wellFormed = targets.wellFormed(port);
    }
    wellFormed ??= targets.wellFormed(port);
    if (reset) {
      await wellFormed;
      return { kind: 'reset-by-client' };
    }
    const o = await c.next({ method, timeoutMs: OUTCOME_TIMEOUT_MS });
    if (dripping) clearInterval(dripping);
    await wellFormed;
    if (o.kind === 'eof') return { kind: 'close' };
    if (o.kind === 'timeout') return { kind: 'timeout', unread: o.unread };
    if (o.kind === 'garbage') return { kind: 'garbage', what: o.what };
    const r = o.response;
    const answer = { kind: 'answer' as const, status: r.status, type: header(r, 'content-type') ?? '', body: r.body.toString('utf8'), closedAfter: false };
    if ((typeof expect === 'object' && expect.keepsOpen) || expect === 'scored') {
      // Kept open: the same connection answers the well-formed request next.
      c.write(t.good);
      const next = await c.next({ method: t.good.toString('latin1', 0, 4) === 'POST' ? 'POST' : 'GET', timeoutMs: OUTCOME_TIMEOUT_MS });
      if (next.kind === 'response') t.checkGood(next.response.status, next.response.body);
      else answer.closedAfter = true;
    } else {
      answer.closedAfter = (await c.next({ timeoutMs: OUTCOME_TIMEOUT_MS })).kind === 'eof';
    }
    return answer;
  } finally {
    if (dripping) clearInterval(dripping);
    c.destroy();
    // Whatever happened to the hostile connection, the port still answers a well-formed request.
    if (wellFormed !== null) await wellFormed.catch(() => {});
  }
}

export function describeOutcome(o: Outcome): string {
  if (o.kind === 'answer') return `${o.status} ${o.type} ${o.body.slice(0, 160)}${o.closedAfter ? ' +close' : ' +open'}`;
  if (o.kind === 'timeout') return `timeout (unread ${JSON.stringify(o.unread.slice(0, 80))})`;
  if (o.kind === 'garbage') return `garbage: ${o.what}`;
  return o.kind;
}

/** Asserts the outcome is exactly the expected one. */
export function judge(o: Outcome, expect: Expect, what: string): void {
  const got = describeOutcome(o);
  if (expect === 'close') {
    assert.equal(o.kind, 'close', `${what}: expected a closed connection without an answer, got ${got}`);
    return;
  }
  if (expect === 'reset-by-client') {
    assert.equal(o.kind, 'reset-by-client', what);
    return;
  }
  if (expect === 'scored') {
    assert.equal(o.kind === 'answer' ? o.status : got, 200, `${what}: expected a 200, got ${got}`);
    if (o.kind !== 'answer') return;
    assert.match(o.type, /^application\/json\b/, what);
    const json = JSON.parse(o.body) as { predictions?: unknown[]; outputs?: Array<{ shape: number[] }> };
    assert.equal(json.predictions?.length ?? json.outputs?.[0]?.shape[0], 1, `${what}: one row scored: ${got}`);
    assert.equal(o.closedAfter, false, `${what}: the connection stays usable`);
    return;
  }
  assert.equal(o.kind, 'answer', `${what}: expected ${expect.status}, got ${got}`);
  if (o.kind !== 'answer') return;
  assert.equal(o.status, expect.status, `${what}: got ${got}`);
  assert.ok(o.status >= 400 && o.status < 500, `${what}: a refusal is a 4xx`);
  assert.match(o.type, /^application\/json\b/, `${what}: the refusal is JSON: ${got}`);
  const json = JSON.parse(o.body) as { message?: unknown; error?: unknown; error_code?: unknown };
  const message = json.message ?? json.error;
  assert.equal(typeof message, 'string', `${what}: the refusal says what is wrong: ${got}`);
  assert.ok((message as string).length > 0, `${what}: a non-empty message`);
  if (expect.code !== undefined) assert.equal(json.error_code, expect.code, `${what}: error_code: ${got}`);
  if (expect.message !== undefined) assert.match(message as string, expect.message, `${what}: the message says what is wrong`);
  if (expect.keepsOpen) assert.equal(o.closedAfter, false, `${what}: the connection stays open after the refusal`);
  else assert.equal(o.closedAfter, true, `${what}: the connection closes after the refusal: ${got}`);
}
