#!/usr/bin/env node
/**
 * The floor of a Node.js proxy on this machine, for bench/proxy-run.sh (target `pipe`): a TCP
 * relay with no HTTP in it. Every client connection gets its own upstream connection and the bytes
 * go across both ways as they arrive: no head parsing, no forwarding headers, no request id, no
 * metrics, no capture, no pooling, no timeouts. It is not a usable proxy (a reset or a slow peer is
 * handled only by closing both sides); it shows what one Node event loop costs per request before
 * any proxy work is done: the reads and writes on both sockets and the event loop turns around
 * them. Whatever driftwatch costs above it is HTTP handling and capture.
 *
 *   node bench/pipe-proxy.mjs --port 5001 --upstream-port 5000 [--host 127.0.0.1]
 */
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { port: { type: 'string' }, 'upstream-port': { type: 'string' }, host: { type: 'string', default: '127.0.0.1' } },
});
const port = Number(values.port);
const upstreamPort = Number(values['upstream-port']);
if (!Number.isInteger(port) || !Number.isInteger(upstreamPort)) {
  console.error('usage: node bench/pipe-proxy.mjs --port PORT --upstream-port PORT [--host HOST]');
  process.exit(2);
}

const server = net.createServer({ noDelay: true }, (client) => {
  const up = net.connect({ host: values.host, port: upstreamPort, noDelay: true });
  // Plain write() per chunk, as driftwatch's fast lane does; back-pressure pauses the reader.
  const relay = (from, to) => {
    from.on('data', (chunk) => {
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    });
    from.on('end', () => to.end());
    from.on('error', () => {});
    from.on('close', () => to.destroy());
  };
  relay(client, up);
  relay(up, client);
});
server.listen(port, values.host, () => console.log(`pipe-proxy: ${values.host}:${port} -> ${values.host}:${upstreamPort}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
