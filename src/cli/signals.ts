/** How a long-running command ends: SIGTERM/SIGINT drain and resolve; SIGHUP reloads. */
import { messageOf } from '../errors.js';
import type { Logger } from '../telemetry/logger.js';

/** Resolves on the first SIGTERM/SIGINT, after `close` has drained; SIGHUP calls `reload`. */
export function untilSignal(logger: Logger, graceMs: number, close: () => Promise<void>, reload?: () => Promise<string[]>): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info('shutting down: draining in-flight requests', { signal, graceMs });
      close().then(resolve, (e: unknown) => {
        logger.error('shutdown failed', { error: messageOf(e) });
        resolve();
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    if (reload) process.on('SIGHUP', () => void reload().then((swapped) => logger.info('reload on SIGHUP', { swapped })));
  });
}
