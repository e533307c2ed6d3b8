/**
 * N processes sharing one listening port through node:cluster, so a JavaScript-bound server uses
 * more than one core (measured in bench/RESULTS.md): `serve --workers N` (serve.workers) and
 * `proxy --workers N` (proxy.workers). The launcher is one for both; what an application adds is a
 * GroupSpec (the primary's side) and a WorkerApp (what a worker runs and answers).
 *
 * The primary serves no traffic itself: it forks the workers, runs the group's one admin port
 * (/metrics summed over the workers; the other routes from the application's GroupSpec, which
 * asks the workers or reads what they report), replaces a worker that dies after start-up, and on
 * SIGTERM lets every worker drain (stop accepting, finish in-flight requests, flush) and exits
 * once all of them have.
 */
import cluster, { type Worker } from 'node:cluster';
import type { AdminModelView } from '../admin/admin-server.js';
import type { Config } from '../config/schema.js';
import { messageOf } from '../errors.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import { aggregateMetrics } from '../telemetry/metrics.js';
import { type AdminParts, createAdmin } from './admin.js';
import { createServeApp, modelView } from './serve-app.js';

/** Primary -> worker: a question by name; the worker answers with a reply of the same id. */
type ToWorker = { type: 'rpc'; id: number; op: string };
type FromWorker =
  | { type: 'ready' }
  | { type: 'fatal'; message: string }
  | { type: 'reply'; id: number; ok: boolean; payload: unknown }
  | { type: 'report'; payload: unknown };

const RESTART_DELAY_MS = 1000;
const RPC_TIMEOUT_MS = 5000;

/** How the primary's admin parts reach the workers. */
export interface WorkerGroup {
  /** Asks every ready worker; rejects when one fails or does not answer in time. */
  ask(op: string): Promise<unknown[]>;
  /** Asks one ready worker; undefined when none is ready. */
  askOne(op: string): Promise<unknown>;
  /** The latest report of every ready worker (WorkerApp.report), oldest worker first. */
  reports(): unknown[];
}

/** The primary's side of an application run on several processes. */
export interface GroupSpec {
  workers: number;
  /** Each worker's drain is given this long; a worker still running 5 s after it is killed. */
  shutdownGraceMs: number;
  /** The admin routes besides /metrics and readiness (which the launcher answers for the group). */
  admin?(group: WorkerGroup): Omit<AdminParts, 'metrics' | 'ready'>;
  /** SIGHUP on the primary (the workers ignore theirs: the primary decides). */
  hangup?(group: WorkerGroup): void;
  /** Releases what admin() opened in the primary, once every worker has exited. */
  close?(): Promise<void>;
}

/** What a worker process runs: started by runGroupWorker's factory, closed on SIGTERM. */
export interface WorkerApp {
  close(): Promise<void>;
  /** The primary's questions by op; `metrics` (the prom-client registry as JSON) is required. */
  answers: { metrics: () => Promise<unknown> } & Record<string, () => Promise<unknown>>;
  /** State the primary reads without asking (served synchronously by its admin routes). */
  report?: { everyMs: number; snapshot(): unknown };
}

/** Runs the primary until all workers are gone; resolves the process exit code. */
export async function runGroupPrimary(config: Config, spec: GroupSpec): Promise<number> {
  const logger = createLogger({ level: config.log.level, base: { role: 'primary' } });
  const ready = new Set<number>();
  const reports = new Map<number, unknown>();
  const pending = new Map<number, (reply: { ok: boolean; payload: unknown }) => void>();
  let nextId = 1;
  let stopping = false;

  const rpc = (w: Worker, op: string): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`worker ${w.id} did not answer ${op} within ${RPC_TIMEOUT_MS} ms`));
      }, RPC_TIMEOUT_MS);
      pending.set(id, (r) => {
        clearTimeout(timer);
        pending.delete(id);
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
  const group: WorkerGroup = {
    ask: (op) => Promise.all(live().map((w) => rpc(w, op))),
    askOne: async (op) => {
      const first = live()[0];
      return first ? rpc(first, op) : undefined;
    },
    reports: () => live().flatMap((w) => (reports.has(w.id) ? [reports.get(w.id)] : [])),
  };

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
        if (ready.size === spec.workers) starting = false;
      } else if (msg.type === 'fatal') startFailed = msg.message;
      else if (msg.type === 'reply') pending.get(msg.id)?.({ ok: msg.ok, payload: msg.payload });
      else if (msg.type === 'report') reports.set(w.id, msg.payload);
    });
    return w;
  };

  const allExited = new Promise<void>((resolve) => {
    cluster.on('exit', (w, code, signal) => {
      ready.delete(w.id);
      reports.delete(w.id);
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

  // The primary's own parts first (a store it cannot open fails here, before any worker exists).
  const admin = createAdmin(config, logger, {
    ...spec.admin?.(group),
    metrics: async (format) => aggregateMetrics(await group.ask('metrics'), format),
    ready: () => ready.size === spec.workers,
  });
  for (let i = 0; i < spec.workers; i++) fork();

  let adminAddr: Awaited<ReturnType<NonNullable<typeof admin>['listen']>> | null = null;
  try {
    adminAddr = admin ? await admin.listen() : null;
  } catch (e) {
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    await allExited;
    await spec.close?.();
    throw e;
  }
  logger.info('cluster primary started', { workers: spec.workers, admin: adminAddr ? `http://${adminAddr.address}:${adminAddr.port}` : null });

  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down workers', { signal });
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    setTimeout(() => {
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
    }, spec.shutdownGraceMs + 5000).unref();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => spec.hangup?.(group));
  await allExited;
  await admin?.close();
  await spec.close?.();
  return exitCode;
}

/**
 * Runs one worker: `start` builds and starts the application (with its admin port off: it is the
 * primary's); the worker then answers the primary's questions, sends its report on a timer, and on
 * SIGTERM closes the application and leaves.
 */
export async function runGroupWorker(config: Config, start: (logger: Logger) => Promise<WorkerApp>): Promise<void> {
  const logger = createLogger({ level: config.log.level, base: { role: 'worker', worker: cluster.worker?.id } });
  let app: WorkerApp;
  try {
    app = await start(logger);
  } catch (e) {
    // Tell the primary why, then leave: the IPC channel would otherwise keep this process alive.
    process.stderr.write(`driftwatch worker: ${messageOf(e)}\n`);
    process.send?.({ type: 'fatal', message: messageOf(e) } satisfies FromWorker, undefined, () => process.exit(1));
    return;
  }
  const send = (msg: FromWorker) => {
    // The channel closes during shutdown: a report or late reply then simply goes nowhere.
    if (process.connected) process.send?.(msg, undefined, () => undefined);
  };
  const report = app.report;
  const sendReport = report ? () => send({ type: 'report', payload: report.snapshot() }) : null;
  sendReport?.(); // before 'ready': the primary's admin has it from the first request on
  send({ type: 'ready' });
  const reporting = report && sendReport ? setInterval(sendReport, report.everyMs) : null;
  reporting?.unref();
  process.on('message', (msg: ToWorker) => {
    if (msg?.type !== 'rpc') return;
    const answer = app.answers[msg.op];
    const work = answer ? answer() : Promise.reject(new Error(`unknown question ${msg.op}`));
    work.then(
      (p) => send({ type: 'reply', id: msg.id, ok: true, payload: p }),
      (e: unknown) => send({ type: 'reply', id: msg.id, ok: false, payload: messageOf(e) }),
    );
  });
  // SIGHUP goes to the primary, which fans it out; a worker ignores it rather than dying.
  process.on('SIGHUP', () => undefined);
  await new Promise<void>((resolve) => {
    // A process-group SIGTERM reaches a worker twice (from the sender and from the primary):
    // the second must not kill a drain in progress, so every signal after the first is ignored.
    let draining = false;
    process.on('SIGTERM', () => {
      if (draining) return;
      draining = true;
      if (reporting) clearInterval(reporting);
      logger.info('shutting down: draining in-flight requests', { signal: 'SIGTERM', graceMs: config.serve.shutdownGraceMs });
      app.close().then(resolve, (e: unknown) => {
        logger.error('shutdown failed', { error: messageOf(e) });
        resolve();
      });
    });
    process.on('SIGINT', () => undefined); // the primary decides; a terminal's ^C reaches all
  });
  process.disconnect?.();
}

// ---------------------------------------------------------------- the scoring server (serve.workers)

/** `serve --workers N`, the primary: /api/models from one worker, reloads fanned out to all. */
export function runClusterPrimary(config: Config): Promise<number> {
  const reload = async (group: WorkerGroup) => [...new Set(((await group.ask('reload')) as string[][]).flat())];
  return runGroupPrimary(config, {
    workers: config.serve.workers,
    shutdownGraceMs: config.serve.shutdownGraceMs,
    admin: (group) => ({
      models: async () => ((await group.askOne('models')) as AdminModelView[] | undefined) ?? [],
      reload: () => reload(group),
    }),
    hangup: (group) => void reload(group).catch(() => undefined),
  });
}

/** `serve --workers N`, a worker: the scoring server without its admin port. */
export function runClusterWorker(config: Config): Promise<void> {
  return runGroupWorker(config, async (logger) => {
    const app = createServeApp({ ...config, admin: { ...config.admin, enabled: false } }, { logger });
    await app.start();
    return {
      close: () => app.close(),
      answers: {
        metrics: () => app.metrics.registry.getMetricsAsJSON(),
        reload: () => app.reload(),
        models: async () => [...app.models.values()].map(modelView),
      },
    };
  });
}
