/**
 * What every driftwatch HTTP listener does the same way: answer malformed HTTP with a JSON 400,
 * track its sockets, and shut down without cutting an answer in flight.
 */
import type http from 'node:http';
import type { Socket } from 'node:net';

export interface Lifecycle {
  /** Resolves once in-flight work is done (or graceMs passed), every connection has ended, and the listener is closed. */
  close(graceMs: number, drained: () => Promise<void> | null): Promise<void>;
}

export function manageLifecycle(server: http.Server): Lifecycle {
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('clientError', (err, socket) => {
    if (socket.writable) {
      socket.end('HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{"error_code":"BAD_REQUEST","message":"malformed HTTP request"}');
    } else socket.destroy(err);
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
