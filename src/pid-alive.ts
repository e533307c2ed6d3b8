/**
 * Does a process with this pid exist on this host? Used to take over locks and leases of a process
 * killed with kill -9 at once instead of waiting for their expiry. EPERM means it exists (another
 * user's); signal 0 only checks, it sends nothing.
 */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
