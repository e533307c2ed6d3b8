/**
 * The fast lane's keep-alive connections to the upstream: plain net.Sockets, at most `maxSockets`,
 * reused most-recently-used first (the one least likely to be closing), closed after `idleMs`
 * unused. Requests that find every socket busy wait in FIFO order. No HTTP here: the lane owns the
 * protocol; the pool only owns the sockets.
 */
import net from 'node:net';

export interface PoolUser {
  /** The socket is this user's now. */
  attach(conn: UpstreamConn): void;
}

export interface UpstreamEvents {
  data(conn: UpstreamConn, chunk: Buffer): void;
  /** The socket is gone (closed by either side, or failed to connect). */
  gone(conn: UpstreamConn, err: Error | null): void;
  drain(conn: UpstreamConn): void;
}

/**
 * An upstream that answers early and closes (a 413 after reading part of a large body) makes the
 * next write of the body fail (EPIPE, ECONNRESET) while its answer may already sit unread in the
 * socket; node destroys a socket on a write error before reading it, and the answer is lost (issue
 * 18: a 502 instead of the 413). Here a write error's destroy waits for the event loop's next
 * poll phase, which reads what arrived. Per connection, not per
 * request; the engines then ignore the error when the answer was complete.
 */
export function readBeforeWriteError<S extends net.Socket>(socket: S): S {
  const destroy = socket.destroy;
  let deferred = false;
  socket.destroy = function (this: S, err?: Error): S {
    if (err !== undefined && !this.destroyed && (err as NodeJS.ErrnoException).syscall === 'write') {
      if (deferred) return this; // the other queued writes failing too
      deferred = true;
      // node marks the readable side errored with the write error too, and would drop what is read
      // meanwhile (a private field: without it this only falls back to node's behaviour).
      const r = (this as unknown as { _readableState?: { errored: Error | null } })._readableState;
      if (r?.errored === err) r.errored = null;
      // Twice: a write from a poll-phase callback is followed by this turn's check phase before
      // the next poll; the second immediate runs after that poll.
      setImmediate(() => setImmediate(() => destroy.call(this, err)));
      return this;
    }
    return destroy.call(this, err) as S;
  };
  return socket;
}

export class UpstreamConn {
  /** The exchange using it, or null while idle. */
  user: PoolUser | null = null;
  /** Exchanges sent on it so far (> 1 means a reused connection). */
  uses = 0;
  idleSince = 0;
  closed = false;
  lastError: Error | null = null;
  constructor(readonly socket: net.Socket) {}
}

export class UpstreamPool {
  private readonly idle: UpstreamConn[] = [];
  private readonly waiters: PoolUser[] = [];
  private open = 0;
  private closing = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly maxSockets: number,
    private readonly idleMs: number,
    private readonly events: UpstreamEvents,
  ) {}

  /** Gives `user` a socket now (attach is called synchronously) or when one frees up; `fresh`
   *  skips the idle ones (a resend after a reused connection failed). */
  acquire(user: PoolUser, fresh = false): void {
    const conn = fresh && this.open < this.maxSockets ? this.connect() : this.take();
    if (conn !== null) this.hand(conn, user);
    else this.waiters.push(user);
  }

  /** Withdraws a user that is still waiting (its client went away). */
  cancel(user: PoolUser): void {
    const i = this.waiters.indexOf(user);
    if (i >= 0) this.waiters.splice(i, 1);
  }

  /** The exchange on `conn` is over and the connection can carry another. */
  release(conn: UpstreamConn): void {
    conn.user = null;
    if (conn.closed) return;
    if (this.closing) {
      conn.socket.destroy();
      return;
    }
    const next = this.waiters.shift();
    if (next !== undefined) {
      this.hand(conn, next);
      return;
    }
    conn.idleSince = performance.now();
    this.idle.push(conn);
  }

  /** The connection must not be reused (framing in doubt, upstream asked to close, client gone). */
  discard(conn: UpstreamConn): void {
    conn.user = null;
    conn.socket.destroy();
  }

  /** Closes idle sockets unused for idleMs; called from the lane's sweeper. */
  sweep(now: number): void {
    let keep = 0;
    for (const conn of this.idle) {
      if (conn.closed) continue;
      if (now - conn.idleSince > this.idleMs) conn.socket.destroy();
      else this.idle[keep++] = conn;
    }
    this.idle.length = keep;
  }

  close(): void {
    this.closing = true;
    for (const conn of this.idle) conn.socket.destroy();
    this.idle.length = 0;
  }

  private take(): UpstreamConn | null {
    while (this.idle.length > 0) {
      const conn = this.idle.pop()!;
      if (!conn.closed) return conn;
    }
    if (this.open >= this.maxSockets) return null;
    return this.connect();
  }

  private hand(conn: UpstreamConn, user: PoolUser): void {
    conn.user = user;
    conn.uses++;
    user.attach(conn);
  }

  private connect(): UpstreamConn {
    const socket = readBeforeWriteError(net.connect({ host: this.host, port: this.port, noDelay: true }));
    const conn = new UpstreamConn(socket);
    this.open++;
    const events = this.events;
    // Listeners per connection, not per request: a connection carries many exchanges.
    socket.on('data', (chunk: Buffer) => events.data(conn, chunk));
    socket.on('drain', () => events.drain(conn));
    socket.on('error', (err) => {
      conn.lastError = err;
    });
    socket.on('close', () => {
      conn.closed = true;
      this.open--;
      const i = this.idle.indexOf(conn);
      if (i >= 0) this.idle.splice(i, 1);
      events.gone(conn, conn.lastError);
      // A freed slot serves the next waiter on a new connection.
      if (!this.closing && this.waiters.length > 0 && this.open < this.maxSockets) this.hand(this.connect(), this.waiters.shift()!);
    });
    return conn;
  }
}
