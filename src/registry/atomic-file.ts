/**
 * Crash-safe file writes and a cross-process lock, for the local registry.
 *
 * Atomic write: write a temporary file in the same directory, fsync it, rename it over the target,
 * fsync the directory. rename(2) within one file system is atomic, so a reader (or a process that
 * restarts after a crash) sees either the old file or the new one, never a torn one.
 *
 * Lock: an O_EXCL lock file holding the owner's pid. Writers from other processes (the CLI while a
 * server runs) wait for it; a lock whose owner process is gone is taken over.
 */
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { DriftwatchError } from '../errors.js';
import { pidAlive } from '../pid-alive.js';

export function writeFileAtomic(path: string, data: string): void {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncDir(dirname(path));
}

export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on directories; the rename is still atomic there.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Removes a lock left by a dead process. Two waiters may judge the same lock stale; moving it
 * aside with rename lets only one of them have it, and the inode check tells a waiter that came
 * second that what it moved is a new, live lock, which it puts back.
 */
function takeOverStaleLock(lockPath: string, staleIno: number): void {
  const aside = `${lockPath}.stale.${process.pid}.${Date.now()}`;
  try {
    renameSync(lockPath, aside);
  } catch {
    return; // someone else moved it first
  }
  if (statSync(aside).ino === staleIno) {
    rmSync(aside, { force: true });
    return;
  }
  try {
    linkSync(aside, lockPath); // put the live lock back (fails if a third process locked meanwhile)
  } catch {
    // The live owner's lock could not be restored; it still finishes its write atomically.
  }
  rmSync(aside, { force: true });
}

/** Runs fn while holding the lock file; waits up to waitMs for another holder. */
export function withFileLock<T>(lockPath: string, fn: () => T, waitMs = 10_000): T {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const fd = openSync(lockPath, 'wx', 0o644);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner = Number.NaN;
      let ino = 0;
      try {
        ino = statSync(lockPath).ino;
        owner = Number(readFileSync(lockPath, 'utf8'));
      } catch {
        continue; // released between our open and read: try again at once
      }
      // Our own pid in a lock we do not hold is a leftover of an earlier process that had the same
      // pid (containers often run the CLI as pid 1): as stale as a dead one.
      if (Number.isInteger(owner) && owner > 0 && (owner === process.pid || !pidAlive(owner))) {
        takeOverStaleLock(lockPath, ino);
        continue;
      }
      if (Date.now() > deadline) {
        throw new DriftwatchError('DW_ERR_REGISTRY_LOCKED', `registry lock ${lockPath} is held by process ${owner}`);
      }
      sleepSync(20);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lockPath, { force: true });
  }
}
