/**
 * Disk spool for line-protocol batches the InfluxDB store could not send and could not keep in
 * memory. One file per batch, written atomically (tmp file, fsync, rename, fsync of the directory):
 * after a crash a batch is either wholly there or not at all, never torn. Files are replayed oldest
 * first and deleted only after the server acknowledged them (2xx); a batch that in fact landed
 * before the crash is simply written again, which overwrites its own points with identical values
 * (a point is identified by measurement, tag set and timestamp), so replay is exactly-once in effect.
 *
 * Bounded by maxBytes (the sum of file sizes); a batch that does not fit is refused and the caller
 * counts it as dropped. One spool directory per process: two live processes replaying the same
 * files would not lose data (writes are idempotent), but would double the work.
 *
 * File name: <epoch ms, 15 digits>-<pid>-<seq>-<lines>.lp, so a lexical sort is oldest first and the
 * line count is known without reading the file.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export interface SpoolEntry {
  name: string;
  lines: number;
  bytes: number;
}

const NAME = /^(\d{15})-(\d+)-(\d+)-(\d+)\.lp$/;

export class LineSpool {
  private readonly entries: SpoolEntry[] = [];
  private totalBytes = 0;
  private totalLines = 0;
  /** Bytes of appends in progress, counted against the bound before they land. */
  private reservedBytes = 0;
  private seq = 0;

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {}

  /** Creates the directory, removes torn tmp files, indexes the batches left by earlier processes. */
  open(): { recovered: number; recoveredLines: number; removedTmp: number } {
    mkdirSync(this.dir, { recursive: true });
    let removedTmp = 0;
    const found: SpoolEntry[] = [];
    for (const name of readdirSync(this.dir)) {
      if (name.endsWith('.tmp')) {
        try {
          unlinkSync(join(this.dir, name));
          removedTmp++;
        } catch {
          /* another process's write in progress, or already gone */
        }
        continue;
      }
      const m = NAME.exec(name);
      if (!m) continue;
      try {
        found.push({ name, lines: Number(m[4]), bytes: statSync(join(this.dir, name)).size });
      } catch {
        /* vanished meanwhile */
      }
    }
    found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of found) this.push(e);
    return { recovered: found.length, recoveredLines: this.totalLines, removedTmp };
  }

  private push(e: SpoolEntry): void {
    this.entries.push(e);
    this.totalBytes += e.bytes;
    this.totalLines += e.lines;
  }

  get lines(): number {
    return this.totalLines;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  get files(): number {
    return this.entries.length;
  }

  oldest(): SpoolEntry | undefined {
    return this.entries[0];
  }

  /**
   * Writes one batch as one file. Resolves false (nothing written) when it would exceed maxBytes;
   * rejects on an I/O error (nothing indexed; a tmp file left behind is removed at the next open).
   */
  async append(lines: readonly string[], nowMs: number): Promise<boolean> {
    const body = lines.join('\n') + '\n';
    const bytes = Buffer.byteLength(body, 'utf8');
    if (this.totalBytes + this.reservedBytes + bytes > this.maxBytes) return false;
    this.reservedBytes += bytes;
    const name = `${String(Math.max(0, Math.floor(nowMs))).padStart(15, '0')}-${process.pid}-${++this.seq}-${lines.length}.lp`;
    const tmp = join(this.dir, `.${name}.tmp`);
    try {
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(body, 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, join(this.dir, name));
      this.syncDir();
      this.push({ name, lines: lines.length, bytes });
      return true;
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw e;
    } finally {
      this.reservedBytes -= bytes;
    }
  }

  async read(e: SpoolEntry): Promise<string[]> {
    const text = await readFile(join(this.dir, e.name), 'utf8');
    return text.split('\n').filter((l) => l !== '');
  }

  /** Deletes an acknowledged batch (the oldest, or any entry given). */
  async remove(e: SpoolEntry): Promise<void> {
    const i = this.entries.indexOf(e);
    if (i < 0) return;
    this.entries.splice(i, 1);
    this.totalBytes -= e.bytes;
    this.totalLines -= e.lines;
    await unlink(join(this.dir, e.name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /** Makes the rename durable (POSIX: a rename is durable once its directory is fsynced). */
  private syncDir(): void {
    let fd: number | null = null;
    try {
      fd = openSync(this.dir, 'r');
      fsyncSync(fd);
    } catch {
      /* not supported on this platform/filesystem: the file itself is fsynced */
    } finally {
      if (fd !== null) closeSync(fd);
    }
  }
}
