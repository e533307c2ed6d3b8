/**
 * A local cache of artifact directories (a model version's MLmodel, model.onnx, ...) downloaded
 * through MLflow's artifact proxy, verified, and reused across restarts.
 *
 *   ROOT/KEY.../files/          the artifact directory, as MLflow holds it
 *   ROOT/KEY.../manifest.json   {source, files: [{path, bytes, sha256}]}, written last
 *
 * A download goes to ROOT/.partial/<unique>/ and becomes visible with one rename(2) of the whole
 * directory after every file is complete and the manifest written, so a crash or a cut connection
 * never leaves a cache entry that looks complete. An entry is trusted only after its files match
 * the manifest's sizes and SHA-256 hashes: once per process (the first use after a restart), then
 * from memory, so a poll that finds the same version costs nothing here. An entry that fails the
 * check (a truncated or edited file) is moved aside and downloaded again.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DriftwatchError, messageOf } from '../errors.js';
import type { Logger } from '../telemetry/logger.js';
import { fsyncDir, writeFileAtomic } from './atomic-file.js';
import { pidAlive } from '../pid-alive.js';

export interface ArtifactEntry {
  path: string;
  is_dir?: boolean;
  file_size?: number | string;
}

/** Where the files come from (the MLflow client's artifact proxy calls). */
export interface ArtifactSource {
  list(path: string): Promise<ArtifactEntry[]>;
  download(path: string, dest: string): Promise<{ bytes: number; sha256: string }>;
}

interface Manifest {
  format: 1;
  source: string;
  files: Array<{ path: string; bytes: number; sha256: string }>;
  completedAtMs: number;
}

export interface ArtifactCacheDeps {
  source: ArtifactSource;
  logger?: Logger;
  now?: () => number;
  /** Bounds on one artifact tree: a listing that goes on for ever is refused, not followed. */
  maxFiles?: number;
  maxDepth?: number;
}

/** A cache path segment from any registry name: no separators, no "." or "..". */
export function safeSegment(s: string): string {
  return encodeURIComponent(s).replace(/^\.+/, (m) => '%2E'.repeat(m.length));
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

export class ArtifactCache {
  readonly root: string;
  private readonly deps: ArtifactCacheDeps;
  /** Entries checked against their manifest in this process, by directory, with their source. */
  private readonly verified = new Map<string, string>();
  private readonly inflight = new Map<string, Promise<string>>();

  constructor(root: string, deps: ArtifactCacheDeps) {
    this.root = root;
    this.deps = deps;
  }

  /** The local directory of artifactPath under key, downloading it when absent or not intact. */
  ensure(key: readonly string[], artifactPath: string): Promise<string> {
    const entry = join(this.root, ...key.map(safeSegment));
    if (this.verified.get(entry) === artifactPath) return Promise.resolve(join(entry, 'files'));
    let p = this.inflight.get(entry);
    if (!p) {
      p = this.doEnsure(entry, artifactPath).finally(() => this.inflight.delete(entry));
      this.inflight.set(entry, p);
    }
    return p;
  }

  private async doEnsure(entry: string, artifactPath: string): Promise<string> {
    const problem = await this.check(entry, artifactPath);
    if (problem === null) {
      this.verified.set(entry, artifactPath);
      return join(entry, 'files');
    }
    if (existsSync(entry)) {
      this.deps.logger?.warn('cached model files failed verification; downloading them again', { dir: entry, problem });
      this.discard(entry);
    }
    await this.download(entry, artifactPath);
    this.verified.set(entry, artifactPath);
    return join(entry, 'files');
  }

  /** null when the entry is complete and intact, else what is wrong with it. */
  private async check(entry: string, artifactPath: string): Promise<string | null> {
    const manifestPath = join(entry, 'manifest.json');
    if (!existsSync(manifestPath)) return 'no manifest';
    let m: Manifest;
    try {
      m = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
    } catch (e) {
      return `manifest unreadable: ${messageOf(e)}`;
    }
    if (m.format !== 1 || !Array.isArray(m.files)) return 'manifest of an unknown format';
    if (m.source !== artifactPath) return `cached from ${m.source}, the version now points at ${artifactPath}`;
    for (const f of m.files) {
      const p = join(entry, 'files', f.path);
      let size: number;
      try {
        size = statSync(p).size;
      } catch {
        return `${f.path} is missing`;
      }
      if (size !== f.bytes) return `${f.path} has ${size} bytes, the manifest says ${f.bytes}`;
      if ((await sha256Of(p)) !== f.sha256) return `${f.path} does not match its SHA-256`;
    }
    return null;
  }

  private discard(entry: string): void {
    // Aside first: a reader never sees half a directory being deleted.
    const aside = `${entry}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      renameSync(entry, aside);
    } catch {
      return;
    }
    rmSync(aside, { recursive: true, force: true });
  }

  /** Leftovers of downloads whose process died (a crash mid-download): removed, never reused. */
  private sweepPartials(): void {
    const dir = join(this.root, '.partial');
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      const pid = Number(name.split('-')[0]);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !pidAlive(pid)) rmSync(join(dir, name), { recursive: true, force: true });
    }
  }

  private async download(entry: string, artifactPath: string): Promise<void> {
    const { source } = this.deps;
    this.sweepPartials();
    const maxFiles = this.deps.maxFiles ?? 10_000;
    const maxDepth = this.deps.maxDepth ?? 16;
    const staging = join(this.root, '.partial', `${process.pid}-${randomBytes(6).toString('hex')}`);
    mkdirSync(join(staging, 'files'), { recursive: true });
    const files: Manifest['files'] = [];
    const fail = (why: string): never => {
      throw new DriftwatchError('DW_ERR_REGISTRY_ARTIFACT', `artifacts at ${artifactPath}: ${why}`);
    };
    const walk = async (rel: string, depth: number): Promise<void> => {
      if (depth > maxDepth) fail(`nested deeper than ${maxDepth} directories`);
      const listed = await source.list(rel ? `${artifactPath}/${rel}` : artifactPath);
      for (const e of listed) {
        // The proxy answers basenames; anything else could write outside the cache entry.
        const base = typeof e.path === 'string' ? e.path.split('/').pop()! : '';
        if (!base || base === '.' || base === '..' || base.includes('\\')) fail(`unsafe artifact name ${JSON.stringify(e.path)}`);
        const childRel = rel ? `${rel}/${base}` : base;
        if (e.is_dir) {
          mkdirSync(join(staging, 'files', childRel), { recursive: true });
          await walk(childRel, depth + 1);
          continue;
        }
        if (files.length >= maxFiles) fail(`more than ${maxFiles} files`);
        const dest = join(staging, 'files', childRel);
        const got = await source.download(`${artifactPath}/${childRel}`, dest);
        const listedSize = e.file_size === undefined ? null : Number(e.file_size);
        if (listedSize !== null && Number.isFinite(listedSize) && listedSize !== got.bytes) {
          fail(`${childRel}: downloaded ${got.bytes} bytes, the server lists ${listedSize}`);
        }
        files.push({ path: childRel, bytes: got.bytes, sha256: got.sha256 });
      }
    };
    try {
      await walk('', 0);
      if (files.length === 0) fail('no files (is this the model directory of the version?)');
      const manifest: Manifest = { format: 1, source: artifactPath, files, completedAtMs: (this.deps.now ?? Date.now)() };
      writeFileAtomic(join(staging, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
      mkdirSync(dirname(entry), { recursive: true });
      try {
        renameSync(staging, entry);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // Another process finished the same download first: use theirs if it is intact.
        if ((code === 'ENOTEMPTY' || code === 'EEXIST') && (await this.check(entry, artifactPath)) === null) {
          rmSync(staging, { recursive: true, force: true });
          return;
        }
        throw e;
      }
      fsyncDir(dirname(entry));
    } catch (e) {
      rmSync(staging, { recursive: true, force: true });
      throw e;
    }
  }
}
