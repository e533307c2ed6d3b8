/**
 * The capture worker thread (proxy.capture.worker: true): extraction, the live traffic summary and
 * the window profiler run here, off the proxy's JavaScript thread, so parsing prediction bodies
 * does not take event-loop time from the requests being proxied.
 *
 * It owns no I/O of its own: window deltas go back to the main thread, which writes them to the
 * statistics store (one store connection per process, as in-loop), and reference profiles come from
 * the main thread's cache. Logs are forwarded to the main thread's logger. See worker-protocol.ts.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { ReferenceProfile, WindowProfile } from '../stats/types.js';
import type { Logger } from '../telemetry/logger.js';
import { processEvent, type ProcessEventDeps } from './process-event.js';
import { TrafficSummary } from './traffic-summary.js';
import { WindowProfiler } from './window-profiler.js';
import { unpackEvent } from './event-columns.js';
import type { CaptureWorkerData, FromWorker, ToWorker, WorkerCounts } from './worker-protocol.js';
import { PredictionBuffer } from './prediction-buffer.js';
import { ShadowComparison } from './shadow-comparison.js';
import { unpackShadow } from './shadow-columns.js';
// This thread's own composition: the prediction log is written here (worker-protocol.ts says why).
import { SqlitePredictionLog } from '../outcomes/sqlite-prediction-log.js';
import { PgPredictionLog } from '../outcomes/pg-prediction-log.js';
import type { PredictionLog } from '../outcomes/prediction-log.js';

const port = parentPort;
if (!port) throw new Error('capture-worker.ts runs only as a worker thread');
const data = workerData as CaptureWorkerData;
const send = (m: FromWorker) => port.postMessage(m);

// A lower scheduling priority for this thread only (Linux: setpriority on the thread's id), so
// when the cores are full the proxy's JS thread and the upstream get them first and this thread
// falls behind instead: events then wait in the bounded queue and, once it is full, are dropped
// and counted. The traffic being watched wins over the watching. Elsewhere: left as it is.
if (data.niceness > 0) {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, data.niceness);
  } catch {
    // not Linux, or not allowed: the worker runs at the process's priority
  }
}

function forward(level: 'debug' | 'info' | 'warn' | 'error', base: Record<string, unknown>) {
  return (msg: string, fields?: Record<string, unknown>) => send({ t: 'log', level, msg, fields: { ...base, ...fields } });
}
function makeLogger(base: Record<string, unknown>): Logger {
  return {
    debug: forward('debug', base),
    info: forward('info', base),
    warn: forward('warn', base),
    error: forward('error', base),
    child: (fields) => makeLogger({ ...base, ...fields }),
  };
}
const logger = makeLogger({ thread: 'capture-worker' });

// --------------------------------------------------------------- references (from the main thread)
interface RefEntry {
  ref: ReferenceProfile | null;
  askedAtMs: number;
}
const MAX_REFS = 256;
const refs = new Map<string, RefEntry>();
function setRef(model: string, version: string, ref: ReferenceProfile | null): void {
  const key = `${model}\u0000${version}`;
  if (!refs.has(key) && refs.size >= MAX_REFS) refs.delete(refs.keys().next().value!);
  refs.set(key, { ref, askedAtMs: refs.get(key)?.askedAtMs ?? Date.now() });
}
function referenceFor(model: string, version: string): ReferenceProfile | null {
  const key = `${model}\u0000${version}`;
  const e = refs.get(key);
  // The main thread sends the references of the versions a batch names; a version only the body
  // names (an OIP answer's model_version) is asked for, at most once per refAskEveryMs.
  if (!e || (e.ref === null && Date.now() - e.askedAtMs >= data.refAskEveryMs)) {
    if (!e && refs.size >= MAX_REFS) refs.delete(refs.keys().next().value!);
    refs.set(key, { ref: e?.ref ?? null, askedAtMs: Date.now() });
    send({ t: 'ref?', model, version });
  }
  return e?.ref ?? null;
}

// --------------------------------------------------------------- the store, on the main thread
let writeSeq = 0;
const writes = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
const remoteStore = {
  describe: 'main-thread store',
  writeWindows(deltas: readonly WindowProfile[]): Promise<void> {
    const id = ++writeSeq;
    return new Promise<void>((resolve, reject) => {
      writes.set(id, { resolve, reject });
      send({ t: 'write', id, deltas: deltas as WindowProfile[] });
    });
  },
};

// --------------------------------------------------------------- counts reported with each ack
const noCounts = (): WorkerCounts => ({ unparseable: {}, rows: {}, droppedWindows: 0, pendingWindows: 0, predictionsWritten: 0, predictionsDropped: {} });
let counts: WorkerCounts = noCounts();
function takeCounts(): WorkerCounts {
  const c = counts;
  c.pendingWindows = profiler.pending;
  counts = noCounts();
  return c;
}

const summary = new TrafficSummary(data.sinceMs);
const profiler = new WindowProfiler({
  config: data.stats,
  extraLatencyBoundsMs: data.extraLatencyBoundsMs,
  store: remoteStore,
  logger,
  referenceFor,
  metrics: {
    // Flush outcomes are counted by the main thread, which does the write.
    flushed: () => undefined,
    flushFailed: () => undefined,
    droppedWindows: (n) => {
      counts.droppedWindows += n;
    },
    pendingWindows: () => undefined,
  },
});
// --------------------------------------------------------------- the prediction log (labels.enabled)
function openPredictionLog(p: NonNullable<CaptureWorkerData['predictions']>): PredictionLog {
  const bounds = { maxRows: p.maxRows, horizonMs: p.horizonMs };
  if (p.postgres === null) return new SqlitePredictionLog(p.path, bounds);
  // The fleet's log: network writes with timeouts and a backoff (pg-prediction-log.ts), through
  // the same bounded buffer, so an outage costs dropped records, never the proxy's time.
  const { url, password, connectTimeoutMs, statementTimeoutMs, maxConnections, retryDelayMs } = p.postgres;
  return new PgPredictionLog({ url: url!, password: password ?? null, connectTimeoutMs, statementTimeoutMs, maxConnections, retryDelayMs, logger, ...bounds });
}
const predictionLog = data.predictions ? openPredictionLog(data.predictions) : null;
/** A bounded buffer (labels.maxPending) writing through `log`, its writes and drops in the worker's counts. */
function bufferTo(log: ConstructorParameters<typeof PredictionBuffer>[0]['log'], opts: NonNullable<typeof data.predictions>): PredictionBuffer {
  return new PredictionBuffer({
    log,
    maxPending: opts.maxPending,
    flushEveryMs: opts.flushEveryMs,
    logger,
    counts: {
      written: (n) => {
        counts.predictionsWritten += n;
      },
      dropped: (n, reason) => {
        counts.predictionsDropped[reason] = (counts.predictionsDropped[reason] ?? 0) + n;
      },
    },
  });
}
const predictionBuffer = predictionLog && data.predictions ? bufferTo(predictionLog, data.predictions) : null;
predictionBuffer?.start();

// --------------------------------------------------------------- the sidecar's shadow (proxy.shadow.upstream)
// The challenger's predictions, bounded like the champion's (labels.maxPending of their own),
// written through the log's shadow side with the champion's ids.
const shadowBuffer =
  predictionLog && data.predictions && data.shadow
    ? bufferTo({ recordPredictions: (rows) => predictionLog.recordShadowPredictions(rows) }, data.predictions)
    : null;
shadowBuffer?.start();

const columns = new Map<string | null, readonly string[] | null>();
const deps: ProcessEventDeps = {
  summary,
  profiler,
  extract: data.extract,
  columnsFor: (model) => columns.get(model) ?? null,
  defaultVersion: data.defaultVersion ?? undefined,
  logger,
  predictions: predictionBuffer && data.predictions ? { options: data.predictions.options, add: (r) => predictionBuffer.add(r) } : undefined,
  counts: {
    unparseable: (reason) => {
      counts.unparseable[reason] = (counts.unparseable[reason] ?? 0) + 1;
    },
    rows: (model, n) => {
      counts.rows[model] = (counts.rows[model] ?? 0) + n;
    },
  },
};

const shadow = data.shadow
  ? new ShadowComparison({
      pair: {
        extract: data.extract,
        columnsFor: deps.columnsFor,
        championVersion: data.shadow.championVersion,
        challengerVersion: data.shadow.challengerVersion,
      },
      records: shadowBuffer && data.predictions ? { options: data.predictions.options, add: (r) => shadowBuffer.add(r) } : null,
    })
  : null;
/** The shadow's comparison since the last delta, to the main thread (merged there into what /api/challenger reads). */
function sendShadow(): void {
  if (shadow?.dirty) send({ t: 'shadow', delta: shadow.take() });
}

let dirty = false;
const snapshotTimer = setInterval(() => {
  sendShadow();
  if (!dirty) return;
  dirty = false;
  send({ t: 'summary', summary: summary.toJSON(), pending: profiler.pending });
}, data.snapshotEveryMs);
snapshotTimer.unref();
profiler.start();

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'batch': {
      for (const [model, version, ref] of m.refs) setRef(model, version, ref);
      for (const [model, names] of m.columns) columns.set(model, names);
      // Bodies are views into the batch's ArrayBuffer, which was transferred to this thread.
      for (let i = 0; i < m.events.n; i++) processEvent(unpackEvent(m.events, i, m.bodies), deps);
      if (m.shadows && shadow) for (let i = 0; i < m.shadows.events.n; i++) compareShadow(shadow, m.shadows, i);
      dirty = true;
      send({ t: 'ack', id: m.id, counts: takeCounts() });
      break;
    }
    case 'ref':
      setRef(m.model, m.version, m.ref);
      break;
    case 'written': {
      const w = writes.get(m.id);
      writes.delete(m.id);
      if (m.ok) w?.resolve();
      else w?.reject(new Error(m.error ?? 'store write failed'));
      break;
    }
    case 'flush':
    case 'stop': {
      sendShadow(); // before the answer: the main thread has every comparison once the flush resolves
      const done =
        m.t === 'flush'
          ? Promise.all([profiler.flush(), predictionBuffer?.flush(), shadowBuffer?.flush()])
          : Promise.all([profiler.stop(), Promise.all([predictionBuffer?.stop(), shadowBuffer?.stop()]).then(() => predictionLog?.close())]);
      void done.then(() => {
        if (m.t === 'stop') clearInterval(snapshotTimer);
        send({ t: m.t === 'flush' ? 'flushed' : 'stopped', id: m.id, summary: summary.toJSON(), pending: profiler.pending, counts: takeCounts() });
      });
      break;
    }
  }
});

/** One shadowed request of a batch; a failure is the pair's, never the batch's. */
function compareShadow(c: ShadowComparison, packed: NonNullable<Extract<ToWorker, { t: 'batch' }>['shadows']>, i: number): void {
  try {
    c.add(unpackShadow(packed, i));
  } catch (e) {
    logger.warn('shadow comparison failed on a pair', { error: (e as Error).message });
  }
}
