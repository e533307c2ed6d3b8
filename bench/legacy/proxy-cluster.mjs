/**
 * BENCH-ONLY: `node bench/legacy/proxy-cluster.mjs proxy --upstream ...` runs BENCH_PROXY_WORKERS
 * (default 2) copies of the unchanged `driftwatch proxy` command under node:cluster, sharing the
 * data port and the admin port (the primary accepts connections and hands them round-robin to
 * the workers). It answers "what does a second process buy" for the lean proxy; it is not a
 * product mode (each worker keeps its own queue, drain and counters, so /metrics shows one worker).
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';

if (cluster.isPrimary) {
  const n = Number(process.env.BENCH_PROXY_WORKERS ?? 2);
  for (let i = 0; i < n; i++) cluster.fork();
  let stopping = false;
  const stop = () => {
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  cluster.on('exit', () => {
    if (stopping || Object.keys(cluster.workers ?? {}).length === 0) process.exitCode = 0;
    if (!stopping) stop();
  });
} else {
  // The CLI ends by letting its event loop drain after a graceful close, but a cluster worker's
  // IPC channel to the primary keeps the loop alive for good. Once the worker is told to stop, the
  // channel no longer counts (before that it must: start-up has moments with no other handle).
  // A SIGTERM before the CLI has installed its own handler would otherwise be spent here (a
  // listener disables node's default exit) and the worker would start and serve on: exit then.
  process.once('SIGTERM', () => {
    process.channel?.unref();
    if (process.listenerCount('SIGTERM') === 0) process.exit(143);
  });
  // The CLI's entry is whatever this tree's package.json names (dist/src/cli/main.js since the CLI
  // became a folder; dist/src/cli.js before).
  const root = new URL('../../', import.meta.url);
  const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
  await import(new URL(typeof pkg.bin === 'string' ? pkg.bin : pkg.bin.driftwatch, root).href);
}
