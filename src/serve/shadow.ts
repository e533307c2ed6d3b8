/**
 * Shadow scoring: a challenger model scores a sample of a served model's requests after the
 * champion has answered them, and each pair (both predictions, both latencies, the challenger's
 * error) is handed to whoever app/ passed in as `onPair`: the analysis side, which this data-path
 * module never imports.
 *
 * Never on the request's path: the scoring server calls sample() (one random draw) before it runs
 * the champion and offer() after it wrote the answer; offer() is synchronous and O(1), never
 * throws, and drops (counted) when the bounded queue is full. The challenger runs from a
 * setImmediate, at most `maxConcurrent` at a time, under its own timeout; whatever it does (fail,
 * hang, not load) is counted and reaches neither the client nor the champion's metrics.
 *
 * What it cannot hide: onnxruntime-node runs an inference synchronously on the event loop (behind
 * a setImmediate), so each challenger inference takes event-loop time from the champion for its
 * duration. The sample rate and the queue bound that share; bench/challenger-bench.ts measures it.
 */
import { messageOf } from '../errors.js';
import type { HostTensor } from '../protocol/tensor.js';
import type { PreparedInput } from './input-plan.js';
import type { LoadedVersion, ServedModel } from './served-model.js';

/** One shadowed request: what the champion answered and what the challenger made of the same input. */
export interface ShadowPair {
  /** The served model's name (the champion's). */
  model: string;
  /** When the champion answered, epoch ms. */
  atMs: number;
  rows: number;
  champion: { version: string; outputs: Record<string, HostTensor>; latencyMs: number };
  /**
   * outputs null with an error when the challenger failed (bad input for it, an error, a timeout).
   * `answer`: the challenger's outputs as this server would have answered the request (only when
   * the job carried its request; encoded when called, so a pair nobody logs costs nothing).
   */
  challenger: {
    version: string;
    outputs: Record<string, HostTensor> | null;
    latencyMs: number | null;
    error: string | null;
    answer?: () => ShadowAnswer;
  };
  /** The request as the champion got it, for the prediction log (labels.enabled); absent when not kept. */
  request?: ShadowRequest;
}

/** An answer body and its content type. */
export interface ShadowAnswer {
  body: Buffer;
  contentType: string;
}

/**
 * What the prediction log needs to key the challenger's rows as the capture in front keys the
 * champion's (capture/prediction-records.ts): the request id the sidecar forwarded and the
 * request's body, which the analysis side reads with the capture's own extraction.
 */
export interface ShadowRequest {
  /** X-Request-ID as forwarded by the sidecar in front (the id its answer carries); null without one. */
  id: string | null;
  route: 'invocations' | 'infer';
  path: string;
  body: Buffer;
  contentType: string;
}

/**
 * What became of a sampled request: scored (a pair with outputs), failed (a pair with the
 * challenger's error), dropped (the queue was full), not_loaded (no challenger version loaded yet).
 */
export type ShadowOutcome = 'scored' | 'failed' | 'dropped' | 'not_loaded';

export interface ShadowDeps {
  challenger: ServedModel;
  /** Share of requests shadowed, 0..1. */
  sampleRate: number;
  queueSize: number;
  maxConcurrent: number;
  timeoutMs: number;
  /** Receives every pair; must not throw (a throw is caught and counted as lost). */
  onPair(pair: ShadowPair): void;
  onOutcome?(outcome: ShadowOutcome): void;
  random?: () => number;
  now?: () => number;
}

/** A sampled request waiting for the challenger. `prepare` re-reads the decoded input with the challenger's own plan. */
export interface ShadowJob {
  championVersion: string;
  outputs: Record<string, HostTensor>;
  rows: number;
  latencyMs: number;
  prepare(lv: LoadedVersion): PreparedInput;
  /** The request and how to answer it (see ShadowPair.request): set when the server keeps them for the log. */
  request?: ShadowRequest & { encode(outputs: Record<string, HostTensor>, prepared: PreparedInput): ShadowAnswer };
}

export class Shadow {
  readonly model: string;
  readonly counts = { sampled: 0, scored: 0, failed: 0, dropped: 0, notLoaded: 0, lost: 0 };
  private readonly deps: ShadowDeps;
  private readonly random: () => number;
  private queue: ShadowJob[] = [];
  private head = 0;
  private running = 0;
  private scheduled = false;
  private closed = false;
  private idle: (() => void) | null = null;

  constructor(model: string, deps: ShadowDeps) {
    this.model = model;
    this.deps = deps;
    this.random = deps.random ?? Math.random;
  }

  get challenger(): ServedModel {
    return this.deps.challenger;
  }

  get sampleRate(): number {
    return this.deps.sampleRate;
  }

  /** Waiting in the queue. */
  get pending(): number {
    return this.queue.length - this.head;
  }

  /** Decides, before the champion runs, whether this request is shadowed. */
  sample(): boolean {
    const rate = this.deps.sampleRate;
    return !this.closed && rate > 0 && (rate >= 1 || this.random() < rate);
  }

  /** Queues a sampled request after its answer was written. Synchronous, O(1), never throws. */
  offer(job: ShadowJob): void {
    this.counts.sampled++;
    if (this.closed || this.pending >= this.deps.queueSize) {
      this.counts.dropped++;
      this.outcome('dropped');
      return;
    }
    this.queue.push(job);
    this.schedule();
  }

  private outcome(o: ShadowOutcome): void {
    try {
      this.deps.onOutcome?.(o);
    } catch {
      // a metrics callback must not break the shadow
    }
  }

  private schedule(): void {
    if (this.scheduled || this.running >= this.deps.maxConcurrent || this.pending === 0) return;
    this.scheduled = true;
    // After this turn's I/O: the champion's answer is flushed before the challenger takes the loop.
    setImmediate(() => {
      this.scheduled = false;
      while (this.running < this.deps.maxConcurrent && this.pending > 0) {
        const job = this.queue[this.head]!;
        this.queue[this.head++] = undefined as unknown as ShadowJob;
        if (this.head > 1024 && this.head * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.head);
          this.head = 0;
        }
        this.running++;
        void this.run(job).finally(() => {
          this.running--;
          if (this.pending > 0) this.schedule();
          else if (this.running === 0 && this.idle) this.idle();
        });
      }
    });
  }

  private async run(job: ShadowJob): Promise<void> {
    const atMs = (this.deps.now ?? Date.now)();
    const lv = this.deps.challenger.acquire();
    if (!lv) {
      this.counts.notLoaded++;
      this.outcome('not_loaded');
      return;
    }
    let outputs: Record<string, HostTensor> | null = null;
    let error: string | null = null;
    let latencyMs: number | null = null;
    let prepared: PreparedInput | null = null;
    try {
      const started = performance.now();
      prepared = job.prepare(lv);
      if (prepared.rows !== job.rows) throw new Error(`the challenger read ${prepared.rows} rows where the champion read ${job.rows}`);
      outputs = await withTimeout(lv.infer(prepared.feeds, prepared.rows), this.deps.timeoutMs);
      latencyMs = performance.now() - started;
    } catch (e) {
      error = messageOf(e);
    } finally {
      this.deps.challenger.release(lv);
    }
    if (error === null) this.counts.scored++;
    else this.counts.failed++;
    this.outcome(error === null ? 'scored' : 'failed');
    const request = job.request;
    const scored = outputs;
    const answeredWith = prepared;
    const answer = request && scored !== null && answeredWith !== null ? () => request.encode(scored, answeredWith) : undefined;
    try {
      this.deps.onPair({
        model: this.model,
        atMs,
        rows: job.rows,
        champion: { version: job.championVersion, outputs: job.outputs, latencyMs: job.latencyMs },
        challenger: { version: lv.version, outputs, latencyMs, error, ...(answer ? { answer } : {}) },
        ...(request ? { request: { id: request.id, route: request.route, path: request.path, body: request.body, contentType: request.contentType } } : {}),
      });
    } catch {
      this.counts.lost++;
    }
  }

  /** Stops taking requests and waits (up to graceMs) for the running ones; the queued ones are dropped. */
  async close(graceMs = 1000): Promise<void> {
    this.closed = true;
    const left = this.pending;
    this.counts.dropped += left;
    this.queue = [];
    this.head = 0;
    if (this.running === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, graceMs);
      timer.unref();
      this.idle = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the challenger did not answer within ${ms} ms (serve.shadow.timeoutMs)`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
