/**
 * serve.workers > 1: several processes share the scoring port through node:cluster, so a
 * JavaScript-bound server uses more than one core (measured in bench/RESULTS.md). The primary
 * serves nothing itself: it runs the admin API (metrics summed over workers, reload fanned out),
 * restarts a worker that dies after start-up, and on SIGTERM lets every worker drain.
 */
import cluster, { type Worker } from 'node:cluster';
import type { AdminModelView } from '../admin/admin-server.js';
import type { Config } from '../config/schema.js';
import { messageOf } from '../errors.js';
import { createLogger } from '../telemetry/logger.js';
import { aggregateMetrics } from '../telemetry/metrics.js';
import { createAdmin } from './admin.js';
import { createServeApp, modelView } from './serve-app.js';

type ToWorker = { type: 'rpc'; id: number; op: 'metrics' | 'reload' | 'models' };
type FromWorker = { type: 'ready' } | { type: 'fatal'; message: string } | { type: 'reply'; id: number; ok: boolean; payload: unknown };

const RESTART_DELAY_MS = 1000;
const RPC_TIMEOUT_MS = 5000;

/** Runs the primary until all workers are gone; resolves the process exit code. */
export async function runClusterPrimary(config: Config): Promise<number> {
  const logger = createLogger({ level: config.log.level, base: { role: 'primary' } });
  const ready = new Set<number>();
  const pending = new Map<number, (reply: { ok: boolean; payload: unknown }) => void>();
  let nextId = 1;
  let stopping = false;

  const rpc = (w: Worker, op: ToWorker['op']): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`worker ${w.id} did not answer ${op} within ${RPC_TIMEOUT_MS} ms`));
      }, RPC_TIMEOUT_MS);
      pending.set(id, (r) => {
        clearTimeout(timer);
        if (r.ok) resolve(r.payload);
        else reject(new Error(String(r.payload)));
      });
      // A worker whose channel is closing makes send() fail: reject this call, never throw.
      w.send({ type: 'rpc', id, op } satisfies ToWorker, undefined, (err) => {
        if (!err) return;
        clearTimeout(timer);
        pending.delete(id);
        reject(err);
      });
    });
  const live = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && ready.has(w.id));

  let startFailed: string | null = null;
  /** True until every worker has been ready once: a failure then is a failed start, not a crash. */
  let starting = true;
  let exitCode = 0;
  const fork = () => {
    const w = cluster.fork();
    w.on('error', (e) => logger.warn('worker channel error', { worker: w.id, error: messageOf(e) }));
    w.on('message', (msg: FromWorker) => {
      if (msg.type === 'ready') {
        ready.add(w.id);
        if (ready.size === config.serve.workers) starting = false;
      } else if (msg.type === 'fatal') startFailed = msg.message;
      else if (msg.type === 'reply') pending.get(msg.id)?.({ ok: msg.ok, payload: msg.payload });
    });
    return w;
  };

  const allExited = new Promise<void>((resolve) => {
    cluster.on('exit', (w, code, signal) => {
      ready.delete(w.id);
      if (!stopping && starting) {
        // A worker that cannot start (bad model, port in use) will not start on retry either.
        stopping = true;
        exitCode = 1;
        logger.error('worker failed to start; stopping', { worker: w.id, error: startFailed });
        for (const other of Object.values(cluster.workers ?? {})) other?.process.kill('SIGTERM');
      } else if (!stopping) {
        // After start-up a dying worker is replaced (after a pause, so a crash loop cannot spin);
        // the others keep serving meanwhile.
        logger.error('worker died; starting a replacement', { worker: w.id, code, signal, error: startFailed });
        startFailed = null;
        setTimeout(() => !stopping && fork(), RESTART_DELAY_MS).unref();
      }
      if (Object.keys(cluster.workers ?? {}).length === 0 && stopping) resolve();
    });
  });

  for (let i = 0; i < config.serve.workers; i++) fork();

  const admin = createAdmin(config, logger, {
    metrics: async (format) => aggregateMetrics(await Promise.all(live().map((w) => rpc(w, 'metrics'))), format),
    models: async () => {
      const first = live()[0];
      return first ? ((await rpc(first, 'models')) as AdminModelView[]) : [];
    },
    reload: async () => {
      const swapped = await Promise.all(live().map((w) => rpc(w, 'reload') as Promise<string[]>));
      return [...new Set(swapped.flat())];
    },
    ready: () => ready.size === config.serve.workers,
  });
  const adminAddr = admin ? await admin.listen() : null;
  logger.info('cluster primary started', { workers: config.serve.workers, admin: adminAddr ? `http://${adminAddr.address}:${adminAddr.port}` : null });

  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down workers', { signal });
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    setTimeout(() => {
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
    }, config.serve.shutdownGraceMs + 5000).unref();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    for (const w of live()) void rpc(w, 'reload').catch(() => undefined);
  });
  await allExited;
  await admin?.close();
  return exitCode;
}

export async function runClusterWorker(config: Config): Promise<void> {
  const logger = createLogger({ level: config.log.level, base: { role: 'worker', worker: cluster.worker?.id } });
  // The admin port belongs to the primary.
  const app = createServeApp({ ...config, admin: { ...config.admin, enabled: false } }, { logger });
  try {
    await app.start();
  } catch (e) {
    // Tell the primary why, then leave: the IPC channel would otherwise keep this process alive.
    process.stderr.write(`driftwatch worker: ${messageOf(e)}\n`);
    process.send?.({ type: 'fatal', message: messageOf(e) } satisfies FromWorker, undefined, () => process.exit(1));
    return;
  }
  process.send?.({ type: 'ready' } satisfies FromWorker);
  process.on('message', (msg: ToWorker) => {
    if (msg?.type !== 'rpc') return;
    const reply = (ok: boolean, payload: unknown) => process.send?.({ type: 'reply', id: msg.id, ok, payload } satisfies FromWorker);
    const work =
      msg.op === 'metrics'
        ? app.metrics.registry.getMetricsAsJSON()
        : msg.op === 'reload'
          ? app.reload()
          : Promise.resolve([...app.models.values()].map(modelView));
    work.then(
      (p) => reply(true, p),
      (e: unknown) => reply(false, messageOf(e)),
    );
  });
  // SIGHUP goes to the primary, which fans reloads out; a worker ignores it rather than dying.
  process.on('SIGHUP', () => undefined);
  await new Promise<void>((resolve) => {
    // A process-group SIGTERM reaches a worker twice (from the sender and from the primary):
    // the second must not kill a drain in progress, so every signal after the first is ignored.
    let draining = false;
    process.on('SIGTERM', () => {
      if (draining) return;
      draining = true;
      app.close().then(resolve, resolve);
    });
    process.on('SIGINT', () => undefined); // the primary decides; a terminal's ^C reaches all
  });
  process.disconnect?.();
}
