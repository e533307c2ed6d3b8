/** Starts an HTTP server listening; a bind failure (port in use, bad host) rejects instead of crashing. */
import type { AddressInfo, Server } from 'node:net';
import { DriftwatchError, messageOf } from './errors.js';

export function listen(server: Server, port: number, host: string, what: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) =>
      reject(new DriftwatchError('DW_ERR_SERVE_LISTEN', `cannot listen on ${host}:${port} for the ${what}: ${messageOf(e)}`, { cause: e }));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}
