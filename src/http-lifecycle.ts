/**
 * What every driftwatch HTTP listener does the same way: answer malformed HTTP with a JSON 400,
 * track its sockets, and shut down without cutting an answer in flight.
 */
import type http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export interface Lifecycle {
  /** Resolves once in-flight work is done (or graceMs passed), every connection has ended, and the listener is closed. */
  close(graceMs: number, drained: () => Promise<void> | null): Promise<void>;
}

const LAST = Symbol('driftwatch.lastResponse');
/** The writeHead a response had before writeHeadBehindContinue took its place. */
const PLAIN_WRITE_HEAD = Symbol('driftwatch.plainWriteHead');
type ContinuedResponse = http.ServerResponse & { [PLAIN_WRITE_HEAD]: http.ServerResponse['writeHead'] };
const BODY = '{"error_code":"BAD_REQUEST","message":"malformed HTTP request"}';
const BAD_REQUEST = `HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${BODY.length}\r\nconnection: close\r\n\r\n${BODY}`;
/** The answer to bytes node's parser refuses (the proxy's fast lane sends it for a head cut short too). */
export const MALFORMED = BAD_REQUEST;

export function manageLifecycle(server: http.Server): Lifecycle {
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // The last answer started on each connection (a symbol, not a closure: this runs per request).
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    (req.socket as Socket & { [LAST]?: http.ServerResponse })[LAST] = res;
  });
  // Expect: 100-continue, answered as node's default does (100 Continue at once, then 'request'),
  // except for one ordering flaw in node (v20 lib/_http_outgoing.js, OutgoingMessage._send): on a
  // response still queued behind earlier pipelined answers, writeContinue() puts the 100 into the
  // response's outputData, and the first write of a Buffer body then unshifts the final head in
  // front of it, so the client gets "head, 100 Continue, body" (the 100 read as body bytes). A head
  // sent on its own goes out as a string, appended after the 100 like every write: so a queued
  // response that sent a 100 flushes its head as soon as it has one.
  server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeContinue();
    if (res.socket === null) {
      (res as ContinuedResponse)[PLAIN_WRITE_HEAD] = res.writeHead;
      res.writeHead = writeHeadBehindContinue as http.ServerResponse['writeHead'];
    }
    server.emit('request', req, res);
  });
  server.on('clientError', (err, socket) => {
    const refuse = () => {
      // 408 for a head or body timeout, 431 for an oversized head, 400 for the rest
      if (socket.writable) socket.end(clientErrorAnswer(err, bodyPending(socket)) ?? BAD_REQUEST);
      else socket.destroy(err);
    };
    // A malformed request pipelined behind good ones: their answers are still being made and go
    // first (node writes them in order; the last one started finishes last). Then the 400, unless
    // the connection closes after those answers anyway: bytes after a request that closes it
    // (HPE_CLOSED_CONNECTION) are not a request and get no answer.
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (!code.startsWith('HPE_')) {
      refuse(); // not a parse error (a reset, a timeout): as before, nothing to wait for
      return;
    }
    const last = (socket as Socket & { [LAST]?: http.ServerResponse })[LAST];
    const closes = code === 'HPE_CLOSED_CONNECTION';
    // Only when that answer's own request was whole: an error inside its body (a client gone
    // mid-upload, a broken chunk) is about that request, and nothing is waited for.
    if (last && !last.writableFinished && last.req.complete && socket.writable && code !== 'HPE_INVALID_EOF_STATE') {
      last.once('finish', () => (closes || !last.shouldKeepAlive ? socket.end() : refuse()));
      last.once('close', () => {
        if (!last.writableFinished) socket.destroy();
      });
      return;
    }
    if (closes || (last !== undefined && !last.shouldKeepAlive)) socket.end();
    else refuse();
  });
  return {
    async close(graceMs, drained) {
      const until = Date.now() + graceMs;
      const waitFor = (p: Promise<void>) => Promise.race([p, new Promise<void>((r) => setTimeout(r, Math.max(0, until - Date.now())).unref())]);
      // server.close() only after the drain: Node destroys a closing server's connections as soon
      // as their answer is handed to the kernel, and on loopback that cut the tail of large
      // answers in tests.
      const pending = drained();
      if (pending) await waitFor(pending);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // A graceful end (FIN after the queued bytes) lets each client read its whole answer.
      for (const socket of sockets) socket.end();
      await waitFor(closed);
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy(); // upgraded sockets are no longer the server's to close
      await closed;
    },
  };
}

function jsonRefusal(status: number, reason: string, errorCode: string, message: string): string {
  const body = JSON.stringify({ error_code: errorCode, message });
  return `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}
/** The answer to a request head still incomplete at its deadline (the proxy's fast lane sends it too). */
export const HEAD_TIMEOUT = jsonRefusal(408, 'Request Timeout', 'REQUEST_TIMEOUT', 'the request head did not arrive in time');
const BODY_TIMEOUT = jsonRefusal(408, 'Request Timeout', 'REQUEST_TIMEOUT', 'the request body did not arrive in time');
const HEAD_TOO_LARGE = jsonRefusal(
  431,
  'Request Header Fields Too Large',
  'REQUEST_HEADER_FIELDS_TOO_LARGE',
  'the request head is larger than the server accepts',
);

/**
 * The JSON answer to what node's parser or its head timer refused, as node's own default answer
 * picks it (408 for a head timeout, 431 for an oversized head, 400 for the rest) but with a JSON
 * body like every other error driftwatch answers. Null: nothing to answer (the peer is gone).
 */
export function clientErrorAnswer(err: Error, bodyPending = false): string | null {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (code === 'ECONNRESET' || code === 'EPIPE') return null;
  // node raises the one error for both deadlines (headersTimeout, requestTimeout): which one it
  // was shows in whether a request on the socket is still waiting for its body.
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return bodyPending ? BODY_TIMEOUT : HEAD_TIMEOUT;
  if (code === 'HPE_HEADER_OVERFLOW') return HEAD_TOO_LARGE;
  return BAD_REQUEST;
}

/**
 * A 'clientError' listener for a server that does not pipeline-order its refusals (the admin
 * port): answers with clientErrorAnswer unless an answer is already being written on the socket
 * (its bytes would interleave), then closes.
 */
export function refuseClientError(err: Error, socket: Duplex): void {
  const inFlight = (socket as Duplex & { _httpMessage?: http.ServerResponse | null })._httpMessage;
  const answer = clientErrorAnswer(err, inFlight?.req?.complete === false);
  if (answer !== null && socket.writable && !inFlight?.headersSent) socket.end(answer);
  else socket.destroy();
}

/** A request on this socket has its head in and is still waiting for the rest of its body. */
function bodyPending(socket: Duplex): boolean {
  const last = (socket as Duplex & { [LAST]?: http.ServerResponse })[LAST];
  return last !== undefined && !last.req.complete;
}

/** Shared (not a closure per request): see the 'checkContinue' listener. */
function writeHeadBehindContinue(this: ContinuedResponse, ...args: unknown[]): http.ServerResponse {
  (this[PLAIN_WRITE_HEAD] as (...a: unknown[]) => unknown).apply(this, args);
  this.flushHeaders();
  return this;
}
