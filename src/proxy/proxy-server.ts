/**
 * The sidecar: a transparent reverse proxy in front of any prediction endpoint, with a passive tap
 * on the routes that carry predictions. This file creates the server, listens and closes, and
 * dispatches between the engines; what crosses the proxy is the forwarding policy's
 * (forwarding.ts), which both engines apply.
 *
 * Each engine where it earns its place:
 * - The fast lane (fast-lane.ts, the default) listens and handles the request shapes prediction
 *   traffic has, on raw sockets.
 * - The node engine (node-engine.ts) behind a node:http server handles everything else: every
 *   request with `proxy.engine: node` or an https upstream, and the connections the fast lane
 *   hands over.
 * - Connection upgrades (WebSocket) go through `http-proxy` (the user's package, the one import):
 *   they are rare and long-lived, so its per-connection cost does not matter, and it already does
 *   the raw socket splicing and 101 relaying right.
 */
import http from 'node:http';
import type { AddressInfo, Server, Socket } from 'node:net';
import httpProxy from 'http-proxy';
import { manageLifecycle } from '../http-lifecycle.js';
import { listen } from '../listen.js';
import type { ProxyEngineDeps } from './exchange.js';
import { FastLane } from './fast-lane.js';
import { upstreamTarget } from './forwarding.js';
import { NodeEngine } from './node-engine.js';

export interface ProxyServer {
  /** The listening server: the fast lane's net.Server, or the node:http server (engine 'node'). */
  readonly server: Server;
  listen(): Promise<AddressInfo>;
  close(graceMs: number): Promise<void>;
}

export function createProxyServer(deps: ProxyEngineDeps): ProxyServer {
  const { config } = deps;
  const node = new NodeEngine(deps);

  // http-proxy only for connection upgrades (see the header comment). It must always have an
  // 'error' listener: an unhandled one crashes the process.
  const wsProxy = httpProxy.createProxyServer({ target: config.upstream, agent: node.upstreamAgent, xfwd: true, ws: true, preserveHeaderKeyCase: true });
  wsProxy.on('error', (err, _req, res) => {
    deps.metrics.upstreamErrors.inc({ kind: ((err as NodeJS.ErrnoException).code ?? 'error').toLowerCase() });
    (res as Socket | http.ServerResponse).destroy(); // a failed upgrade: nothing to answer on a raw socket
  });

  const headersTimeout = deps.clientTimeouts?.headersTimeoutMs ?? 60_000;
  const requestTimeout = Math.max(headersTimeout, deps.clientTimeouts?.requestTimeoutMs ?? 300_000);
  // node looks for late heads and requests every connectionsCheckingInterval (30 s by default, so
  // a stalled head got its 408 up to 30 s late): a quarter of the head deadline, as on serve/.
  const connectionsCheckingInterval = Math.max(250, Math.min(30_000, Math.floor(headersTimeout / 4)));
  const server = http.createServer({ requireHostHeader: false, connectionsCheckingInterval, headersTimeout, requestTimeout }, (req, res) =>
    node.handle(req, res),
  );
  server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    wsProxy.ws(req, socket, head);
  });
  server.keepAliveTimeout = 65_000;
  // A client that sends a whole request and then half-closes gets its answer, then the connection
  // ends (node's own switch, read in _http_server.js socketOnEnd, not in its typings; as on the
  // scoring server). Without it node aborts the request and ends the socket unanswered.
  (server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  const lifecycle = manageLifecycle(server);
  const nodeDrained = () => (node.inflight > 0 ? new Promise<void>((resolve) => (node.drained = resolve)) : null);

  // The fast lane speaks plain HTTP to the upstream; an https upstream stays on node:http.
  if (config.engine === 'node' || upstreamTarget(config.upstream).protocol !== 'http:') {
    return {
      server,
      listen: () => listen(server, config.port, config.host, 'proxy'),
      async close(graceMs) {
        await lifecycle.close(graceMs, nodeDrained);
        wsProxy.close();
        node.close();
      },
    };
  }

  // The fast lane listens; the node:http server above never does: it gets the connections the lane
  // hands over (upgrades, 100-continue, HTTP/1.0, malformed input) and keeps them.
  const lane = new FastLane(deps, {
    handover: (socket) => server.emit('connection', socket),
    keepAliveTimeoutMs: server.keepAliveTimeout,
    headersTimeoutMs: server.headersTimeout,
  });
  return {
    server: lane.server,
    listen: async () => {
      const address = await listen(lane.server, config.port, config.host, 'proxy');
      // node:http runs its headersTimeout/requestTimeout checks from a timer it starts on
      // 'listening'; this server never listens itself, so it is told, and the connections it is
      // handed get those deadlines too (server.close() stops the timer).
      server.emit('listening');
      return address;
    },
    async close(graceMs) {
      const until = Date.now() + graceMs;
      lane.stop();
      if (lane.inflight > 0) {
        await Promise.race([new Promise<void>((resolve) => (lane.drained = resolve)), new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref())]);
      }
      // Ended connections close once the client has read its answer and sent its FIN.
      await Promise.race([lane.closed(), new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, until - Date.now())).unref())]);
      await lifecycle.close(Math.max(0, until - Date.now()), nodeDrained);
      lane.destroy();
      wsProxy.close();
      node.close();
    },
  };
}
