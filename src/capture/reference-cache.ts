/**
 * Reference profiles for the profiler's hot loop, which cannot wait on disk: get() answers from
 * memory at once and, when an entry is missing or older than refreshMs, starts one background
 * load from the registry. So a reference built while the sidecar runs is picked up within
 * refreshMs, and a registry that is down only means windows are profiled without bins meanwhile.
 */
import { messageOf } from '../errors.js';
import type { ModelRegistry } from '../registry/types.js';
import type { ReferenceProfile } from '../stats/types.js';
import type { Logger } from '../telemetry/logger.js';

interface Entry {
  ref: ReferenceProfile | null;
  loadedAtMs: number;
  loading: boolean;
}

export interface ReferenceCacheDeps {
  registry: ModelRegistry;
  logger: Logger;
  refreshMs: number;
  now?: () => number;
  /** Model versions remembered at most (a proxy seeing arbitrary model names stays bounded). */
  maxEntries?: number;
}

export class ReferenceCache {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;

  constructor(private readonly deps: ReferenceCacheDeps) {
    this.now = deps.now ?? Date.now;
  }

  get(model: string, version: string): ReferenceProfile | null {
    const key = `${model}\u0000${version}`;
    let e = this.entries.get(key);
    if (!e) {
      // Least recently used goes first (a Map iterates in insertion order; hits re-insert below).
      if (this.entries.size >= (this.deps.maxEntries ?? 256)) this.entries.delete(this.entries.keys().next().value!);
      e = { ref: null, loadedAtMs: -Infinity, loading: false };
    } else this.entries.delete(key);
    this.entries.set(key, e);
    if (!e.loading && this.now() - e.loadedAtMs >= this.deps.refreshMs) void this.load(model, version, e);
    return e.ref;
  }

  /** Loads now (start-up: the served models' references are there before the first request). */
  async preload(model: string, version: string): Promise<ReferenceProfile | null> {
    const key = `${model}\u0000${version}`;
    const e = this.entries.get(key) ?? { ref: null, loadedAtMs: -Infinity, loading: false };
    this.entries.set(key, e);
    await this.load(model, version, e);
    return e.ref;
  }

  private async load(model: string, version: string, e: Entry): Promise<void> {
    e.loading = true;
    try {
      e.ref = await this.deps.registry.getReference(model, version);
    } catch (err) {
      // Unknown model (a foreign upstream's name) or version: no reference, asked again later.
      // Any other failure (registry briefly unreadable) keeps the last good reference.
      const code = (err as { code?: string }).code;
      if (code === 'DW_ERR_REGISTRY_MODEL_NOT_FOUND' || code === 'DW_ERR_REGISTRY_VERSION_NOT_FOUND' || code === 'DW_ERR_REGISTRY_INVALID') e.ref = null;
      this.deps.logger.debug('no reference profile', { model, version, reason: messageOf(err) });
    } finally {
      e.loadedAtMs = this.now();
      e.loading = false;
    }
  }
}
