/**
 * Ground-truth benchmark: what the embedded prediction log costs, on this machine. Writes N
 * predictions (UUID-shaped request ids with `#row`, a 5-class probability vector each, as the
 * example model answers) in the batches the capture worker writes, then joins N labels (in the
 * batches of `driftwatch feedback load`), then runs the quality check over them; reports rows/s for
 * each step, the file's bytes per prediction, and the check's time per million rows. Also the
 * same N labels parsed from an NDJSON body (the admin endpoint's reader) without the log.
 *
 *   node --expose-gc --import tsx bench/labels-bench.ts [--rows 1000000] [--out FILE]
 *
 * Prints a markdown section; with --out it replaces the section between
 * <!-- labels-bench:start --> and <!-- labels-bench:end --> in FILE (bench/RESULTS.md).
 *
 * With `--backend postgres` the same steps on the fleet's log (src/outcomes/pg-prediction-log.ts)
 * against a real PostgreSQL 15 started in a temp dir (test/pg-server.ts, durable: fsync and
 * synchronous commit on): the predictions written by two handles at once (two sidecars), the
 * labels joined, the check; rows/s, the CPU of this process and of the server's processes per
 * row, and the tables' disk (pg_total_relation_size) per million predictions. Its own section,
 * <!-- labels-bench-pg:start --> ... <!-- labels-bench-pg:end -->, after the embedded one.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load.js';
import { parseLabelBody } from '../src/outcomes/label-input.js';
import type { PredictionRecord } from '../src/outcomes/prediction-log.js';
import { runQualityCheck } from '../src/outcomes/quality-check.js';
import { SqlitePredictionLog } from '../src/outcomes/sqlite-prediction-log.js';
import { mulberry32 } from '../test/prng.js';

const { values } = parseArgs({
  options: { rows: { type: 'string' }, out: { type: 'string' }, 'check-only': { type: 'string' }, backend: { type: 'string' } },
});

// The child this benchmark starts with a small heap limit: only the quality check, over an
// existing log, printing its resident memory (the proof that the check's live memory is bounded).
if (values['check-only']) {
  const only = new SqlitePredictionLog(values['check-only']);
  const cfg = loadConfig({ env: {}, overrides: { checks: { quality: { window: '1d' } }, log: { level: 'silent' } } });
  const fs = await runQualityCheck({ log: only }, cfg.checks.quality, Date.UTC(2026, 11, 2));
  await only.close();
  console.log(JSON.stringify({ rows: fs.find((f) => f.metric === 'accuracy')?.sampleSize ?? 0, rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20) }));
  process.exit(0);
}
const N = Number(values.rows ?? 1_000_000);
const CLASSES = ['drizzle', 'fog', 'rain', 'snow', 'sun'];
const T0 = Date.UTC(2026, 11, 1);
const dir = mkdtempSync(join(tmpdir(), 'dw-labels-bench-'));

// Seeded, so runs compare (the tests' generator).
const rand = mulberry32(7);
const idOf = (i: number) =>
  `5f0c2a9e-1b7d-4c3e-8a21-${Math.floor(i / 10)
    .toString(16)
    .padStart(12, '0')}#${i % 10}`;

function prediction(i: number): PredictionRecord {
  const raw = CLASSES.map(() => rand() ** 3);
  const total = raw.reduce((a, b) => a + b, 0);
  const probabilities: Record<string, number> = {};
  let best = CLASSES[0]!;
  CLASSES.forEach((c, j) => {
    probabilities[c] = Math.round((raw[j]! / total) * 1e6) / 1e6;
    if (probabilities[c]! > probabilities[best]!) best = c;
  });
  // Spread over the day before the check, as a day of traffic.
  return { id: idOf(i), atMs: T0 + Math.floor((i / N) * 86_400_000), model: 'seattle-weather', version: '1', predicted: best, value: null, probabilities };
}

const batch = 5000;
if (values.backend === 'postgres') {
  await postgresBench();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}
const log = new SqlitePredictionLog(join(dir, 'predictions.db'), { maxRows: Math.max(N, 1000) * 2 });
let t = performance.now();
for (let i = 0; i < N; i += batch) {
  const part: PredictionRecord[] = [];
  for (let j = i; j < Math.min(N, i + batch); j++) part.push(prediction(j));
  await log.recordPredictions(part);
}
const writeMs = performance.now() - t;
const dbBytes =
  statSync(join(dir, 'predictions.db')).size +
  (() => {
    try {
      return statSync(join(dir, 'predictions.db-wal')).size;
    } catch {
      return 0;
    }
  })();

const labels = Array.from({ length: N }, (_, i) => ({ id: idOf(i), label: CLASSES[Math.floor(rand() * CLASSES.length)]!, atMs: T0 + 86_400_000 }));
t = performance.now();
for (let i = 0; i < N; i += 10_000) await log.recordLabels(labels.slice(i, i + 10_000));
const joinMs = performance.now() - t;

const ndjson = labels
  .slice(0, Math.min(N, 200_000))
  .map((l) => JSON.stringify({ request_id: l.id, label: l.label }))
  .join('\n');
t = performance.now();
const parsed = parseLabelBody(ndjson, 'application/x-ndjson', T0);
const parseMs = performance.now() - t;

const config = loadConfig({ env: {}, overrides: { checks: { quality: { window: '1d' } }, log: { level: 'silent' } } });
// Peak heap during the check, sampled between pages (the scan yields to the event loop there).
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const heapBefore = process.memoryUsage().heapUsed;
let heapPeak = heapBefore;
const sampler = setInterval(() => {
  heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
}, 5);
t = performance.now();
const findings = await runQualityCheck({ log }, config.checks.quality, T0 + 86_400_000);
const checkMs = performance.now() - t;
clearInterval(sampler);
heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
await log.close();
// The same check in a child whose old space is capped at 96 MiB: it completes only if the check's
// live memory does not grow with the window.
const HEAP_MIB = 96;
const child = spawnSync(
  process.execPath,
  [`--max-old-space-size=${HEAP_MIB}`, '--import', 'tsx', fileURLToPath(import.meta.url), '--check-only', join(dir, 'predictions.db')],
  {
    encoding: 'utf8',
  },
);
const capped = child.status === 0 ? (JSON.parse(child.stdout.trim().split('\n').pop()!) as { rows: number; rssMiB: number }) : null;
rmSync(dir, { recursive: true, force: true });

const perSec = (n: number, ms: number) => Math.round((n / ms) * 1000).toLocaleString('en-US');
const acc = findings.find((f) => f.metric === 'accuracy');
const section = `<!-- labels-bench:start -->
## Ground truth: the embedded prediction log

\`node --expose-gc --import tsx bench/labels-bench.ts --rows ${N}\` on ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, ${new Date().toISOString().slice(0, 16)}Z. One process, SQLite in WAL mode on the local disk; ${N.toLocaleString('en-US')} predictions with UUID-shaped \`#row\` ids and 5-class probabilities.

| step | rows/s | per row |
| --- | --: | --: |
| write predictions (batches of ${batch}, as the capture worker) | ${perSec(N, writeMs)} | ${((writeMs * 1000) / N).toFixed(1)} us |
| join labels by id (batches of 10,000, as \`feedback load\`) | ${perSec(N, joinMs)} | ${((joinMs * 1000) / N).toFixed(1)} us |
| parse an NDJSON label body (${parsed.labels.length.toLocaleString('en-US')} labels, no log) | ${perSec(parsed.labels.length, parseMs)} | ${((parseMs * 1000) / parsed.labels.length).toFixed(2)} us |
| quality check over the window (read, join, metrics, estimate) | ${perSec(N, checkMs)} | ${((checkMs * 1000) / N).toFixed(1)} us |

- Disk: ${(dbBytes / 2 ** 20).toFixed(0)} MiB for ${N.toLocaleString('en-US')} predictions (${Math.round(dbBytes / N)} bytes each, labels included; the default \`labels.maxRows\` of 1,000,000 keeps the file near that size).
- The check pages through the window (10,000 rows a page) into mergeable counts: the heap peaked ${((heapPeak - heapBefore) / 2 ** 20).toFixed(0)} MiB above its start${gc ? '' : ' (run with `node --expose-gc --import tsx` for a clean baseline)'}, garbage included: V8 collects lazily when its heap limit is large. ${capped ? `The live part does not grow with the window: the same check in a child capped at \`--max-old-space-size=${HEAP_MIB}\` completed over the ${capped.rows.toLocaleString('en-US')} labelled rows with ${capped.rssMiB} MiB resident.` : `The same check in a child capped at \`--max-old-space-size=${HEAP_MIB}\` FAILED (exit ${child.status}): its live memory grows with the window.`} Its accuracy finding: ${acc?.value?.toFixed(4)} over ${acc?.sampleSize.toLocaleString('en-US')} labelled rows (random labels, so about 0.2).
<!-- labels-bench:end -->`;
console.log(section);
if (values.out) {
  const text = readFileSync(values.out, 'utf8');
  const start = text.indexOf('<!-- labels-bench:start -->');
  const end = text.indexOf('<!-- labels-bench:end -->');
  writeFileSync(
    values.out,
    start >= 0 && end > start ? text.slice(0, start) + section + text.slice(end + '<!-- labels-bench:end -->'.length) : `${text.trimEnd()}\n\n${section}\n`,
  );
}

/** Replaces (or appends after `after`) the section between the markers in FILE. */
function writeSection(file: string, name: string, section: string, after: string): void {
  const text = readFileSync(file, 'utf8');
  const [open, close] = [`<!-- ${name}:start -->`, `<!-- ${name}:end -->`];
  const start = text.indexOf(open);
  const end = text.indexOf(close);
  if (start >= 0 && end > start) return writeFileSync(file, text.slice(0, start) + section + text.slice(end + close.length));
  const at = text.indexOf(after);
  writeFileSync(file, at >= 0 ? `${text.slice(0, at + after.length)}\n\n${section}${text.slice(at + after.length)}` : `${text.trimEnd()}\n\n${section}\n`);
}

/** CPU ms of a PostgreSQL server: the postmaster and its children (backends, writers, autovacuum), from /proc. */
function serverCpuMs(postmaster: number): number {
  const tick = 1000 / 100; // USER_HZ is 100 on Linux
  let ms = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pid = Number(name);
    if (pid !== postmaster && Number(f[1]) !== postmaster) continue;
    ms += (Number(f[11]) + Number(f[12])) * tick;
  }
  return ms;
}

async function postgresBench(): Promise<void> {
  const { startPostgres, PG_PASSWORD } = await import('../test/pg-server.js');
  const { PgPredictionLog } = await import('../src/outcomes/pg-prediction-log.js');
  const load = loadavg()[0]!;
  const server = await startPostgres({ durable: true });
  try {
    const url = await server.createDatabase('bench');
    const open = () => new PgPredictionLog({ url, password: PG_PASSWORD, maxRows: Math.max(N, 1000) * 2, statementTimeoutMs: 600_000 });
    const measure = async (fn: () => Promise<unknown>) => {
      const c0 = process.cpuUsage();
      const s0 = serverCpuMs(server.pid());
      const t0 = performance.now();
      await fn();
      const c = process.cpuUsage(c0);
      return { ms: performance.now() - t0, clientCpuMs: (c.user + c.system) / 1000, serverCpuMs: serverCpuMs(server.pid()) - s0 };
    };
    const size = async () => {
      const { default: pg } = await import('pg');
      const c = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'dw', password: PG_PASSWORD, database: 'bench' });
      await c.connect();
      const r = await c.query(
        `SELECT (pg_total_relation_size('predictions') + pg_total_relation_size('prediction_log_meta') + pg_total_relation_size('shadow_predictions'))::float8 AS n`,
      );
      await c.end();
      return r.rows[0].n as number;
    };
    // Two sidecars: two handles writing alternate batches at the same time.
    const a = open();
    const b = open();
    await a.stats(); // tables created and connections open before the clock starts
    await b.stats();
    const records = Array.from({ length: Math.ceil(N / batch) }, (_, k) =>
      Array.from({ length: Math.min(batch, N - k * batch) }, (_, j) => prediction(k * batch + j)),
    );
    const write = await measure(() =>
      Promise.all(
        [0, 1].map(async (w) => {
          for (let k = w; k < records.length; k += 2) await (w === 0 ? a : b).recordPredictions(records[k]!);
        }),
      ),
    );
    records.length = 0;
    const afterWrite = await size();
    const labels = Array.from({ length: N }, (_, i) => ({ id: idOf(i), label: CLASSES[Math.floor(rand() * CLASSES.length)]!, atMs: T0 + 86_400_000 }));
    const joinRun = await measure(async () => {
      for (let i = 0; i < N; i += 10_000) await b.recordLabels(labels.slice(i, i + 10_000));
    });
    const afterLabels = await size();
    const config = loadConfig({ env: {}, overrides: { checks: { quality: { window: '1d' } }, log: { level: 'silent' } } });
    let findings: Awaited<ReturnType<typeof runQualityCheck>> = [];
    const check = await measure(async () => {
      findings = await runQualityCheck({ log: a }, config.checks.quality, T0 + 86_400_000);
    });
    await a.close();
    await b.close();
    const perSec = (n: number, ms: number) => Math.round((n / ms) * 1000).toLocaleString('en-US');
    const us = (ms: number) => ((ms * 1000) / N).toFixed(1);
    const row = (what: string, m: { ms: number; clientCpuMs: number; serverCpuMs: number }) =>
      `| ${what} | ${perSec(N, m.ms)} | ${us(m.ms)} us | ${us(m.clientCpuMs)} us | ${us(m.serverCpuMs)} us |`;
    const acc = findings.find((f) => f.metric === 'accuracy');
    const perMillion = (bytes: number) => ((bytes / N) * 1e6) / 2 ** 20;
    const section = `<!-- labels-bench-pg:start -->
### The fleet's prediction log on PostgreSQL

\`node --import tsx bench/labels-bench.ts --backend postgres --rows ${N}\` on ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), Node ${process.version}, ${new Date().toISOString().slice(0, 16)}Z: PostgreSQL 15 (Debian) started by the bench in a temp dir on the same machine (loopback TCP, \`shared_buffers\` 64 MB, fsync and synchronous commit on), ${N.toLocaleString('en-US')} predictions as above. A short run (${N.toLocaleString('en-US')} rows, not a million: the box is shared, load average ${load.toFixed(1)} when it started); client and server share the CPUs, so the CPU columns say more than the wall clock.

| step | rows/s | wall per row | driftwatch CPU per row | PostgreSQL CPU per row |
| --- | --: | --: | --: | --: |
${row(`write predictions (two handles at once, batches of ${batch}: two sidecars)`, write)}
${row('join labels by id (batches of 10,000, one transaction each)', joinRun)}
${row('quality check over the window (keyset pages of 10,000)', check)}

- Disk (\`pg_total_relation_size\` of the log's tables, indexes and TOAST included): ${perMillion(afterWrite).toFixed(0)} MiB per million predictions after writing, ${perMillion(afterLabels).toFixed(0)} MiB per million once every one is labelled (an UPDATE writes a new row version; autovacuum makes the old ones reusable, it does not shrink the files).
- The check's accuracy: ${acc?.value?.toFixed(4)} over ${acc?.sampleSize.toLocaleString('en-US')} labelled rows (the same seeded predictions and labels as the embedded run).
<!-- labels-bench-pg:end -->`;
    console.log(section);
    if (values.out) writeSection(values.out, 'labels-bench-pg', section, '<!-- labels-bench:end -->');
  } finally {
    await server.destroy();
  }
}
