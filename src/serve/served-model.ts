/**
 * One served model name and the version behind it, with live swaps.
 *
 * A request acquire()s the active version and release()s it when done. A swap loads and warms the
 * new version in the background, makes it active in one assignment (atomic on the event loop), and
 * releases the old onnxruntime session only when its last in-flight request has finished. So no
 * request fails or waits because of a swap, and a version that cannot load or answer its own input
 * example never becomes active: the old one keeps serving.
 *
 * A poll that keeps failing (a version that cannot load, a registry that is down) logs its first
 * failure, then again after 1 min, 2, 4, ... at most every hour (the poll runs every few seconds:
 * one line per poll would bury the log), and one info line when it works again.
 */
import { DriftwatchError, messageOf } from '../errors.js';
import type { BatchingConfig, OnnxSessionConfig } from '../config/schema.js';
import { readModelDir, type ModelDir } from '../model/mlmodel.js';
import type { ModelUri } from '../registry/model-uri.js';
import type { ModelRegistry } from '../registry/types.js';
import type { Logger } from '../telemetry/logger.js';
import type { ServeMetrics } from '../telemetry/metrics.js';
import type { DecodedInput } from '../protocol/decoded-input.js';
import type { HostTensor } from '../protocol/tensor.js';
import { buildInputPlan, type InputPlan } from './input-plan.js';
import { decodeMlflowJson, INPUT_KEYS } from '../protocol/mlflow.js';
import { batchable, MicroBatcher } from './micro-batcher.js';
import { createOnnxSession, sessionOptionsFor, type OnnxSession } from './runtime.js';

export interface LoadedVersion {
  readonly name: string;
  readonly version: string;
  readonly dir: string;
  readonly model: ModelDir;
  readonly session: OnnxSession;
  readonly plan: InputPlan;
  /** Runs prepared feeds: through the micro-batcher when enabled and the graph allows it. */
  readonly infer: (feeds: Record<string, HostTensor>, rows: number) => Promise<Record<string, HostTensor>>;
  readonly batcher: MicroBatcher | null;
  readonly loadedAtMs: number;
  refs: number;
  retired: boolean;
  /** Set when the session's release has started (after retirement and the last holder). */
  disposed?: Promise<void>;
}

/** First repeat of a failure's log line, and the longest gap between two (doubling in between). */
const LOG_BACKOFF_FIRST_MS = 60_000;
const LOG_BACKOFF_MAX_MS = 3_600_000;

/** A failure that repeats at every poll: what failed, how often, and when it is logged next. */
interface RepeatedFailure {
  key: string;
  count: number;
  sinceMs: number;
  nextLogMs: number;
  gapMs: number;
}

/** Registry errors that mean the URI does not resolve (the registry answered): not an outage. */
const UNRESOLVED_CODES = new Set(['DW_ERR_REGISTRY_MODEL_NOT_FOUND', 'DW_ERR_REGISTRY_VERSION_NOT_FOUND', 'DW_ERR_REGISTRY_ALIAS_NOT_FOUND']);

export interface ServedModelDeps {
  registry: ModelRegistry;
  onnx: OnnxSessionConfig;
  batching?: BatchingConfig;
  logger: Logger;
  metrics: ServeMetrics;
  now?: () => number;
}

/** The input example as a decoded request, or one synthetic row when the model has none. */
export function warmupInput(model: ModelDir, session: OnnxSession): DecodedInput {
  const ex = model.inputExample as Record<string, unknown> | null;
  if (ex && typeof ex === 'object' && !Array.isArray(ex)) {
    if (INPUT_KEYS.some((k) => k in ex)) return decodeMlflowJson(JSON.stringify(ex)).input;
    if (Array.isArray(ex.data)) return { kind: 'frame', columns: Array.isArray(ex.columns) ? ex.columns.map(String) : null, rows: ex.data as unknown[][] };
  }
  const inputs = model.signature?.inputs;
  if (inputs?.kind === 'column') {
    const row = inputs.specs.map((s) => (s.kind === 'column' && s.type === 'string' ? '' : s.kind === 'column' && s.type === 'boolean' ? false : 0));
    return { kind: 'frame', columns: inputs.specs.map((s, i) => s.name ?? String(i)), rows: [row] };
  }
  const zeros = (shape: number[]): unknown => {
    const dims = shape.map((d) => (d < 0 ? 1 : d));
    let v: unknown = 0;
    for (let i = dims.length - 1; i >= 0; i--) v = Array.from({ length: dims[i]! }, () => v);
    return v;
  };
  const named: Record<string, unknown> = {};
  for (const g of session.inputs) named[g.name] = g.type === 'string' ? [''] : zeros(g.shape);
  return { kind: 'raw', value: named };
}

export class ServedModel {
  readonly name: string;
  readonly uri: ModelUri;
  private active: LoadedVersion | null = null;
  private loading: Promise<boolean> | null = null;
  private readonly deps: ServedModelDeps;
  private readonly log: Logger;
  lastError: string | null = null;
  /** Why the last re-resolution against the registry failed; null once one succeeds (degraded health). */
  registryError: string | null = null;
  /**
   * What kind of failure registryError is: `unresolved` when the registry answered that the URI's
   * model, version, stage or alias does not exist, `unreachable` for everything else (network,
   * 5xx, refused credentials). Null with registryError.
   */
  registryErrorKind: 'unreachable' | 'unresolved' | null = null;
  private pollFailure: RepeatedFailure | null = null;
  private loadFailure: RepeatedFailure | null = null;

  constructor(name: string, uri: ModelUri, deps: ServedModelDeps) {
    this.name = name;
    this.uri = uri;
    this.deps = deps;
    this.log = deps.logger.child({ model: name });
  }

  get current(): LoadedVersion | null {
    return this.active;
  }

  acquire(): LoadedVersion | null {
    const v = this.active;
    if (v) v.refs++;
    return v;
  }

  release(v: LoadedVersion): void {
    v.refs--;
    if (v.retired && v.refs === 0) this.dispose(v);
  }

  private nowMs(): number {
    return (this.deps.now ?? Date.now)();
  }

  /**
   * Records one more occurrence of a failure; true when it should be logged now: the first time
   * (or when it is another failure than before), then with a doubling gap.
   */
  private noteFailure(prev: RepeatedFailure | null, key: string): { state: RepeatedFailure; log: boolean } {
    const now = this.nowMs();
    if (!prev || prev.key !== key)
      return { state: { key, count: 1, sinceMs: now, nextLogMs: now + LOG_BACKOFF_FIRST_MS, gapMs: LOG_BACKOFF_FIRST_MS }, log: true };
    prev.count++;
    if (now < prev.nextLogMs) return { state: prev, log: false };
    prev.gapMs = Math.min(prev.gapMs * 2, LOG_BACKOFF_MAX_MS);
    prev.nextLogMs = now + prev.gapMs;
    return { state: prev, log: true };
  }

  private dispose(v: LoadedVersion): void {
    v.disposed ??= v.session
      .release()
      .catch((e: unknown) => this.log.warn('releasing an old model session failed', { version: v.version, error: messageOf(e) }));
  }

  private async load(resolved: { version: string; dir: string }): Promise<LoadedVersion> {
    const model = readModelDir(resolved.dir);
    const session = await createOnnxSession(model.onnxPath, sessionOptionsFor(this.deps.onnx, model.onnx.sessionOptions));
    try {
      const plan = buildInputPlan(model.signature, session.inputs);
      const warm = plan.prepare(warmupInput(model, session));
      await session.run(warm.feeds);
      const b = this.deps.batching;
      const batcher = b?.enabled && batchable(session.inputs, session.outputs) ? new MicroBatcher((f) => session.run(f), b) : null;
      if (b?.enabled && !batcher)
        this.log.info('micro-batching is on but this graph has a fixed batch dimension; requests run one by one', { version: resolved.version });
      const infer = batcher ? (f: Record<string, HostTensor>, rows: number) => batcher.submit(f, rows) : (f: Record<string, HostTensor>) => session.run(f);
      return {
        name: this.name,
        version: resolved.version,
        dir: resolved.dir,
        model,
        session,
        plan,
        infer,
        batcher,
        loadedAtMs: (this.deps.now ?? Date.now)(),
        refs: 0,
        retired: false,
      };
    } catch (e) {
      await session.release().catch(() => undefined);
      throw new DriftwatchError('DW_ERR_MODEL_LOAD', `model ${this.name} version ${resolved.version} failed to warm up on its input example: ${messageOf(e)}`, {
        cause: e,
      });
    }
  }

  /**
   * Re-resolves the URI and swaps if it now points at another version. Concurrent calls share one
   * attempt. Resolves true when a swap happened; throws only when nothing was loaded before.
   */
  refresh(): Promise<boolean> {
    this.loading ??= this.doRefresh().finally(() => {
      this.loading = null;
    });
    return this.loading;
  }

  private async doRefresh(): Promise<boolean> {
    const { metrics } = this.deps;
    let resolved: Awaited<ReturnType<ModelRegistry['resolve']>>;
    try {
      resolved = await this.deps.registry.resolve(this.uri);
    } catch (e) {
      metrics.registryPollErrors.inc({ model: this.name });
      this.lastError = messageOf(e);
      this.registryError = messageOf(e);
      const unresolved = e instanceof DriftwatchError && UNRESOLVED_CODES.has(e.code);
      this.registryErrorKind = unresolved ? 'unresolved' : 'unreachable';
      if (!this.active) throw e;
      const { state, log } = this.noteFailure(this.pollFailure, e instanceof DriftwatchError ? e.code : 'other');
      this.pollFailure = state;
      if (log) {
        this.log.warn(
          unresolved
            ? 'the served model URI no longer resolves in the registry; the loaded version keeps serving'
            : 'the registry cannot be reached to re-resolve the served model URI; the loaded version keeps serving',
          {
            uri: this.uri.text,
            error: messageOf(e),
            failures: state.count,
            ...(state.count > 1 ? { failingForMs: this.nowMs() - state.sinceMs, nextLogInMs: state.gapMs } : {}),
          },
        );
      }
      return false;
    }
    if (this.pollFailure) {
      this.log.info('the registry answers again; re-resolving the served model URI works', {
        uri: this.uri.text,
        failedPolls: this.pollFailure.count,
        failingForMs: this.nowMs() - this.pollFailure.sinceMs,
      });
      this.pollFailure = null;
    }
    // A resolve that works again clears the error it left (a load error stays until a load works).
    if (this.lastError !== null && this.lastError === this.registryError) this.lastError = null;
    this.registryError = null;
    this.registryErrorKind = null;
    if (this.active && this.active.version === resolved.version && this.active.dir === resolved.dir) {
      if (this.loadFailure) {
        // The URI went back to the serving version (a rollback): the failing one is no longer tried.
        this.log.info('the model version that failed to load is no longer the target; the loaded version stays', {
          version: this.active.version,
          failedVersion: this.loadFailure.key,
          failedAttempts: this.loadFailure.count,
        });
        this.loadFailure = null;
      }
      return false;
    }
    let next: LoadedVersion;
    try {
      next = await this.load(resolved);
    } catch (e) {
      metrics.modelLoadFailures.inc({ model: this.name });
      this.lastError = messageOf(e);
      if (!this.active) throw e;
      const { state, log } = this.noteFailure(this.loadFailure, resolved.version);
      this.loadFailure = state;
      if (log) {
        this.log.error('loading a new model version failed; the previous version keeps serving', {
          version: resolved.version,
          error: messageOf(e),
          failures: state.count,
          ...(state.count > 1 ? { failingForMs: this.nowMs() - state.sinceMs, nextLogInMs: state.gapMs } : {}),
        });
      }
      return false;
    }
    if (this.loadFailure) {
      this.log.info(
        this.loadFailure.key === next.version ? 'the model version that failed to load loads now' : 'a model version loads again after failed attempts',
        {
          version: next.version,
          failedVersion: this.loadFailure.key,
          failedAttempts: this.loadFailure.count,
        },
      );
      this.loadFailure = null;
    }
    const old = this.active;
    this.active = next;
    this.lastError = null;
    metrics.modelLoaded.set({ model: this.name, version: next.version }, 1);
    if (old) {
      metrics.modelLoaded.remove({ model: this.name, version: old.version });
      metrics.modelSwaps.inc({ model: this.name });
      old.retired = true;
      if (old.refs === 0) this.dispose(old);
      this.log.info('swapped model version', { from: old.version, to: next.version, uri: this.uri.text });
    } else {
      this.log.info('loaded model', { version: next.version, uri: this.uri.text, dir: next.dir });
    }
    return true;
  }

  async close(): Promise<void> {
    await this.loading?.catch(() => undefined);
    const v = this.active;
    this.active = null;
    if (v) {
      v.retired = true;
      if (v.refs === 0) {
        this.dispose(v);
        await v.disposed;
      }
    }
  }
}
