/**
 * The drain in worker-thread mode (proxy.capture.worker: true): takes events off the bounded queue
 * on a timer, as drain.ts does, but instead of extracting them here it packs each batch's bodies
 * into one ArrayBuffer and transfers it to the capture worker thread (capture-worker.ts), which
 * extracts, keeps the traffic summary and profiles windows. The proxy's JS thread then pays only a
 * memcpy per body and a structured clone of the small metadata per event.
 *
 * Bounds: at most maxInflightBatches batches are posted and not yet acknowledged. When the worker
 * lags, the drain stops taking from the queue, so events wait in the bounded queue, and once that
 * is full new events are dropped and counted in driftwatch_capture_dropped_total, as in-loop.
 *
 * Failures: a worker that crashes (an exception, out of memory, terminate) is restarted; the events
 * of its unacknowledged batches are counted as dropped, the restart is counted (restarts) and
 * logged. The traffic never notices: offer() stays O(1) on the main thread whatever the worker does.
 * Window deltas the dead worker had not flushed yet are lost (at most stats.flushIntervalMs of
 * rows), and its live summary starts over (its `since` says when).
 *
 * The main thread keeps: the statistics store (the worker's deltas are written here, so there is
 * one store connection per process), the reference cache (the references of a batch's model
 * versions go with the batch), prom-client (the worker's counts come back with each ack), and the
 * latest traffic summary snapshot, which /api/traffic serves (refreshed every snapshotEveryMs while
 * traffic flows, and on every flush).
 *
 * The sidecar's shadow (deps.shadow): the shadowed requests (the champion's event and the
 * challenger's answer) wait in their own bounded queue and go with the next batch, packed and
 * transferred like the events (shadow-columns.ts); the worker compares them and sends the merged
 * windows back (a 'shadow' message with its snapshots and before each flush's answer), which
 * deps.shadow.onDelta merges on this thread. A full queue drops and counts (the app's offer); the
 * pairs of a worker that died before it reported them are counted through deps.shadow.lost.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';
import type { StatsConfig } from '../config/schema.js';
import { messageOf } from '../errors.js';
import type { ReferenceProfile } from '../stats/types.js';
import type { StatsStore } from '../store/types.js';
import type { Logger } from '../telemetry/logger.js';
import type { ProxyMetrics } from '../telemetry/metrics.js';
import type { BoundedQueue } from './bounded-queue.js';
import type { ExtractOptions } from './extract.js';
import type { InferenceEvent } from './inference-event.js';
import type { TrafficSnapshot, TrafficSummaryView } from './traffic-summary.js';
import type { ProfilerMetrics } from './window-profiler.js';
import { packBatch } from './event-columns.js';
import type { CaptureWorkerData, FromWorker, ToWorker, WorkerCounts } from './worker-protocol.js';
import type { CapturePipeline } from './pipeline.js';
import type { ShadowDelta } from './shadow-comparison.js';
import { type PackedShadows, packShadows } from './shadow-columns.js';
import type { ShadowedRequest } from './shadow-pair.js';

export interface WorkerDrainDeps {
  queue: BoundedQueue<InferenceEvent>;
  metrics: ProxyMetrics;
  logger: Logger;
  store: Pick<StatsStore, 'writeWindows'>;
  stats: StatsConfig;
  extraLatencyBoundsMs?: readonly number[];
  /** Store flush outcomes and window bounds, as the in-loop profiler reports them. */
  profilerMetrics?: ProfilerMetrics;
  /** The reference a model version's windows are binned against (the main thread's cache). */
  referenceFor: (model: string, version: string) => ReferenceProfile | null;
  extract: Omit<ExtractOptions, 'columnNames'>;
  columnsFor?: (model: string | null) => readonly string[] | null;
  defaultVersion?: string;
  intervalMs?: number;
  batchSize?: number;
  /** Batches posted to the worker and not yet acknowledged, at most. */
  maxInflightBatches?: number;
  snapshotEveryMs?: number;
  /** Nice value for the worker thread (Linux), so that under full load the traffic gets the
   *  cores and capture falls behind (and drops, counted) instead; 0 keeps the process's. */
  niceness?: number;
  /** The prediction log the worker writes (labels.enabled); null or absent: none. */
  predictions?: CaptureWorkerData['predictions'];
  /** The sidecar's shadow: its pairs are compared in the worker (see above); null or absent: none. */
  shadow?: {
    queue: BoundedQueue<ShadowedRequest>;
    championVersion: string | null;
    challengerVersion: string | null;
    onDelta(delta: ShadowDelta): void;
    /** Pairs handed to a worker that ended before it compared them. */
    lost(n: number): void;
  } | null;
  /** stop() waits at most this long for the worker to flush (default 10 s). */
  stopTimeoutMs?: number;
  /** A worker that dies again within this long after a restart is restarted only after it. */
  restartBackoffMs?: number;
  now?: () => number;
}

/** The worker's entry: the compiled .js in dist/, or the .ts source when running under tsx. */
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './capture-worker.ts' : './capture-worker.js', import.meta.url);

function newWorker(options: WorkerOptions): Worker {
  if (!FROM_SOURCE) return new Worker(WORKER_URL, options);
  // Running from the TypeScript sources (tests, `tsx src/cli/main.ts`): Node 20 does not apply the
  // parent's `--import tsx` loader hooks to a worker's entry module, so the worker registers
  // tsx's hooks itself before importing its .ts entry. The built CLI (dist/) never takes this path.
  // tsx is resolved from here, not from the working directory (the CLI may run anywhere).
  let tsxApi = 'tsx/esm/api';
  try {
    tsxApi = import.meta.resolve('tsx/esm/api');
  } catch {
    // left bare: the worker reports it if it cannot load
  }
  const boot = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL.href)}); })`;
  return new Worker(boot, { ...options, eval: true });
}

export class WorkerCaptureDrain implements CapturePipeline {
  private worker: Worker | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastDropped = 0;
  private batchSeq = 0;
  private requestSeq = 0;
  /** Unacknowledged batches: id -> number of events (lost and counted if the worker dies). */
  private readonly inflight = new Map<number, number>();
  private readonly requests = new Map<number, () => void>();
  private idleWaiters: Array<() => void> = [];
  /** What this worker has been sent, so a batch carries only what changed. */
  private sentRefs = new Map<string, ReferenceProfile | null>();
  private sentColumns = new Map<string | null, readonly string[] | null>();
  private snapshot: TrafficSnapshot;
  private pendingWindows = 0;
  /** Shadowed requests posted to the worker and not yet in a delta it sent back. */
  private shadowsInWorker = 0;
  private stopping = false;
  private stopped = false;
  private lastStartMs = -Infinity;
  private restartTimer: NodeJS.Timeout | null = null;
  /** Worker restarts after a crash. */
  restarts = 0;
  /** Events lost in batches of a worker that died. */
  lostEvents = 0;
  readonly summary: TrafficSummaryView;
  private readonly now: () => number;

  constructor(private readonly deps: WorkerDrainDeps) {
    this.now = deps.now ?? Date.now;
    this.snapshot = { since: new Date(this.now()).toISOString(), models: [] };
    this.summary = { toJSON: () => this.snapshot };
  }

  /** Windows the worker holds, as of its latest report. */
  get pending(): number {
    return this.pendingWindows;
  }

  /** Shadowed requests handed to the worker and not compared yet (as far as this thread knows). */
  get shadowPending(): number {
    return this.shadowsInWorker;
  }

  /** Batches posted and not yet acknowledged. */
  get inflightBatches(): number {
    return this.inflight.size;
  }

  /** The current worker's thread id (null between a crash and its restart). */
  get threadId(): number | null {
    return this.worker?.threadId ?? null;
  }

  /** Ends the current worker as a crash would (tests: the restart path). */
  async terminateWorker(): Promise<void> {
    await this.worker?.terminate();
  }

  start(): void {
    if (this.stopped) return;
    if (!this.worker) this.spawn();
    this.timer ??= setInterval(() => this.drainOnce(), this.deps.intervalMs ?? 25);
    this.timer.unref();
  }

  private spawn(): void {
    const d = this.deps;
    const data: CaptureWorkerData = {
      stats: d.stats,
      extraLatencyBoundsMs: [...(d.extraLatencyBoundsMs ?? [])],
      extract: d.extract,
      defaultVersion: d.defaultVersion ?? null,
      refAskEveryMs: 1000,
      snapshotEveryMs: d.snapshotEveryMs ?? 500,
      sinceMs: this.now(),
      niceness: d.niceness ?? 10,
      predictions: d.predictions ?? null,
      shadow: d.shadow ? { championVersion: d.shadow.championVersion, challengerVersion: d.shadow.challengerVersion } : null,
    };
    const w = newWorker({ workerData: data, name: 'driftwatch-capture' });
    this.worker = w;
    this.lastStartMs = this.now();
    this.sentRefs = new Map();
    this.sentColumns = new Map();
    // Not a reason to keep the process alive; flush() and stop() ref it while they wait.
    w.unref();
    w.on('message', (m: FromWorker) => this.onMessage(m));
    w.on('error', (e) => d.logger.error('capture worker failed', { error: messageOf(e) }));
    w.on('exit', (code) => this.onExit(w, code));
  }

  private onExit(w: Worker, code: number): void {
    if (this.worker !== w) return;
    this.worker = null;
    const lost = [...this.inflight.values()].reduce((a, b) => a + b, 0);
    this.inflight.clear();
    if (this.shadowsInWorker > 0) this.deps.shadow?.lost(this.shadowsInWorker);
    this.shadowsInWorker = 0;
    for (const done of this.requests.values()) done();
    this.requests.clear();
    this.wakeIdle();
    if (this.stopping) return;
    this.restarts++;
    this.deps.metrics.captureWorkerRestarts.inc();
    this.lostEvents += lost;
    if (lost > 0) this.deps.metrics.captureDropped.inc(lost);
    this.deps.logger.warn('capture worker exited; restarting it', { exitCode: code, lostEvents: lost, restarts: this.restarts });
    // A worker that keeps dying (e.g. at start-up) is restarted at most once per backoff.
    const backoff = this.deps.restartBackoffMs ?? 1000;
    const wait = Math.max(0, this.lastStartMs + backoff - this.now());
    if (wait === 0) this.spawn();
    else {
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        if (!this.stopping && !this.worker) this.spawn();
      }, wait);
      this.restartTimer.unref();
    }
  }

  private onMessage(m: FromWorker): void {
    const d = this.deps;
    switch (m.t) {
      case 'ack':
        this.inflight.delete(m.id);
        this.applyCounts(m.counts);
        if (this.inflight.size === 0) this.wakeIdle();
        break;
      case 'write':
        d.store.writeWindows(m.deltas).then(
          () => {
            d.profilerMetrics?.flushed(m.deltas.length);
            this.post({ t: 'written', id: m.id, ok: true });
          },
          (e: unknown) => {
            d.profilerMetrics?.flushFailed();
            this.post({ t: 'written', id: m.id, ok: false, error: messageOf(e) });
          },
        );
        break;
      case 'ref?': {
        const ref = this.safeReference(m.model, m.version);
        this.sentRefs.set(`${m.model}\u0000${m.version}`, ref);
        this.post({ t: 'ref', model: m.model, version: m.version, ref });
        break;
      }
      case 'log':
        d.logger[m.level](m.msg, m.fields);
        break;
      case 'summary':
        this.snapshot = m.summary;
        this.setPending(m.pending);
        break;
      case 'shadow':
        this.shadowsInWorker = Math.max(0, this.shadowsInWorker - m.delta.resolved);
        d.shadow?.onDelta(m.delta);
        break;
      case 'flushed':
      case 'stopped':
        this.snapshot = m.summary;
        this.applyCounts(m.counts);
        this.requests.get(m.id)?.();
        this.requests.delete(m.id);
        break;
    }
  }

  private applyCounts(c: WorkerCounts): void {
    const { metrics, profilerMetrics } = this.deps;
    for (const reason in c.unparseable) metrics.unparseable.inc({ reason }, c.unparseable[reason]);
    for (const model in c.rows) metrics.extractedRows.inc({ model }, c.rows[model]);
    if (c.droppedWindows > 0) profilerMetrics?.droppedWindows(c.droppedWindows);
    if (c.predictionsWritten > 0) metrics.predictionsLogged.inc(c.predictionsWritten);
    for (const reason in c.predictionsDropped) metrics.predictionsDropped.inc({ reason }, c.predictionsDropped[reason]);
    this.setPending(c.pendingWindows);
  }

  private setPending(n: number): void {
    this.pendingWindows = n;
    this.deps.profilerMetrics?.pendingWindows(n);
  }

  private safeReference(model: string, version: string): ReferenceProfile | null {
    try {
      return this.deps.referenceFor(model, version);
    } catch (e) {
      this.deps.logger.warn('reference lookup failed', { model, version, error: messageOf(e) });
      return null;
    }
  }

  private post(m: ToWorker, transfer?: ArrayBuffer[]): boolean {
    if (!this.worker) return false;
    try {
      this.worker.postMessage(m, transfer);
      return true;
    } catch (e) {
      // A message that cannot be cloned must not take the drain down with it.
      this.deps.logger.warn('could not post to the capture worker', { error: messageOf(e) });
      return false;
    }
  }

  private wakeIdle(): void {
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  /**
   * Posts as many batches as the in-flight bound allows; returns how many events it posted.
   * With no worker (between a crash and its restart) or a full in-flight window, events stay queued.
   */
  drainOnce(): number {
    const { queue, metrics } = this.deps;
    const dropped = queue.dropped;
    if (dropped > this.lastDropped) {
      metrics.captureDropped.inc(dropped - this.lastDropped);
      this.lastDropped = dropped;
    }
    let posted = 0;
    const max = this.deps.maxInflightBatches ?? 4;
    const shadows = this.deps.shadow?.queue ?? null;
    while (this.worker && this.inflight.size < max && (queue.depth > 0 || (shadows !== null && shadows.depth > 0))) {
      const batch = queue.drain(this.deps.batchSize ?? 512);
      const paired = shadows !== null && shadows.depth > 0 ? shadows.drain(this.deps.batchSize ?? 512) : null;
      if (!this.postBatch(batch, paired)) {
        metrics.captureDropped.inc(batch.length);
        if (paired) this.deps.shadow?.lost(paired.length);
        break;
      }
      posted += batch.length;
    }
    metrics.queueDepth.set(queue.depth);
    return posted;
  }

  private postBatch(batch: InferenceEvent[], paired: ShadowedRequest[] | null): boolean {
    const { packed, bodies } = packBatch(batch);
    const shadows: PackedShadows | null = paired ? packShadows(paired) : null;
    const refs: Array<[string, string, ReferenceProfile | null]> = [];
    const columns: Array<[string | null, readonly string[] | null]> = [];
    // Model versions already looked up for this batch (most batches name one).
    const seen = new Set<string>();
    for (let i = 0; i < batch.length; i++) {
      const e = batch[i]!;
      // The reference and column names of the event's model version, looked up now as the
      // in-loop drain would, sent only when this worker does not have them yet.
      if (e.request !== null) {
        const model = e.model ?? 'unknown';
        const version = e.version ?? this.deps.defaultVersion ?? 'unknown';
        const key = `${model}\u0000${version}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const ref = this.safeReference(model, version);
        if (this.sentRefs.get(key) !== ref || !this.sentRefs.has(key)) {
          this.sentRefs.set(key, ref);
          refs.push([model, version, ref]);
        }
        this.noteColumns(e.model, columns);
      }
    }
    // A shadowed request's event normally went with an earlier batch, but the capture queue may have dropped it.
    if (paired) for (const s of paired) this.noteColumns(s.event.model, columns);
    const id = ++this.batchSeq;
    const transfer = shadows ? [bodies, shadows.bodies, shadows.answers] : [bodies];
    if (!this.post({ t: 'batch', id, events: packed, bodies, refs, columns, shadows }, transfer)) return false;
    this.inflight.set(id, batch.length);
    this.shadowsInWorker += paired?.length ?? 0;
    return true;
  }

  /** The model's column names go with the batch when this worker does not have them yet. */
  private noteColumns(model: string | null, columns: Array<[string | null, readonly string[] | null]>): void {
    if (!this.deps.columnsFor) return;
    const names = this.deps.columnsFor(model);
    if (this.sentColumns.get(model) !== names || !this.sentColumns.has(model)) {
      this.sentColumns.set(model, names);
      columns.push([model, names]);
    }
  }

  /** Events and shadowed requests waiting to be posted. */
  private queued(): number {
    return this.deps.queue.depth + (this.deps.shadow?.queue.depth ?? 0);
  }

  private idle(): Promise<void> {
    if (this.inflight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private request(t: 'flush' | 'stop'): Promise<void> {
    if (!this.worker) return Promise.resolve();
    const id = ++this.requestSeq;
    return new Promise<void>((resolve) => {
      this.requests.set(id, resolve);
      if (!this.post({ t, id })) {
        this.requests.delete(id);
        resolve();
      }
    });
  }

  /** Hands everything queued to the worker, waits until it has processed it, then writes every delta. */
  async flush(): Promise<void> {
    const w = this.worker;
    w?.ref();
    try {
      while (this.worker && (this.queued() > 0 || this.inflight.size > 0)) {
        this.drainOnce();
        await this.idle();
      }
      await this.request('flush');
    } finally {
      w?.unref();
    }
  }

  /** Shutdown: flushes everything (queue, worker, its deltas into the store), then ends the worker. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    // A worker waiting for its restart backoff is started now, so what is queued is not lost.
    if (!this.worker && this.queued() > 0) this.spawn();
    const w = this.worker;
    w?.ref();
    let timer: NodeJS.Timeout | undefined;
    const flushed = (async () => {
      while (this.worker && (this.queued() > 0 || this.inflight.size > 0)) {
        this.drainOnce();
        await this.idle();
      }
      await this.request('stop');
    })();
    // A worker that hangs (a runaway payload) must not hold shutdown forever: what it has not
    // finished within stopTimeoutMs is lost, and said so.
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.deps.stopTimeoutMs ?? 10_000)));
    try {
      if ((await Promise.race([flushed, timeout])) === 'timeout') {
        this.deps.logger.warn('capture worker did not finish flushing in time; ending it', {
          queued: this.deps.queue.depth,
          inflightBatches: this.inflight.size,
        });
      }
    } finally {
      clearTimeout(timer);
      this.stopping = true;
      this.stopped = true;
      await w?.terminate();
    }
  }
}
