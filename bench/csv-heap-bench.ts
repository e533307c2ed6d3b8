/**
 * Memory and time of a large text/csv body of many small rows (issue 24): the generic codec
 * (decodeMlflowCsv, then the input plan's cast) against the lean one (decodeLeanCsv, then
 * plan.prepareFrame), each in a fresh process so one path's garbage cannot flatter the other; then
 * end to end, a real `driftwatch serve` scoring the body (peak RSS of the server process), once
 * with the body as is (lean) and once with one missing value in the first row (generic path).
 *
 *   npx tsx bench/csv-heap-bench.ts                  a 20 MB body (about 40 s on a quiet box)
 *   BENCH_SHORT=1 npx tsx bench/csv-heap-bench.ts    a 4 MB body, decode only (about 10 s)
 *   CSV_BENCH_MB=50 CSV_BENCH_E2E=0 ...              another size; skip the server
 *   CSV_BENCH_DECODE=0 ...                           the server only
 *
 * The body is vega-datasets' seattle-weather.csv, its four numeric columns under the example
 * model's names, repeated. head-generic-decode is the generic decoder of the checked-out commit
 * (git show HEAD), the reference for what this tree changed in it. Peak RSS is read from /proc (VmHWM, reset through clear_refs before the
 * measured step), so it counts everything a path touches: the body's string, arrays, garbage
 * not yet collected. Prints a markdown table.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readModelDir } from '../src/model/mlmodel.js';
import { decodeLeanCsv } from '../src/protocol/lean-csv.js';
import { decodeMlflowCsv } from '../src/protocol/mlflow.js';
import { buildInputPlan } from '../src/serve/input-plan.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SELF = fileURLToPath(import.meta.url);
const MODEL = join(ROOT, 'examples', 'seattle-weather', 'model');
const SHORT = process.env.BENCH_SHORT === '1';
const MB = Number(process.env.CSV_BENCH_MB ?? (SHORT ? 4 : 20));
const E2E = (process.env.CSV_BENCH_E2E ?? (SHORT ? '0' : '1')) !== '0';
const DECODE = process.env.CSV_BENCH_DECODE !== '0';

const status = (pid: number | 'self', key: string) => {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
};
/** Resets VmHWM to the current RSS (Linux: clear_refs 5), so the next read is the peak of what follows. */
const resetPeak = (pid: number | 'self') => writeFileSync(`/proc/${pid}/clear_refs`, '5');
const mib = (b: number) => (b / 2 ** 20).toFixed(0);

function makeBody(bytes: number): Buffer {
  const lines = readFileSync(join(ROOT, 'node_modules', 'vega-datasets', 'data', 'seattle-weather.csv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1);
  const rows = lines.map((l) => `${l.split(',').slice(1, 5).join(',')}\n`).join('');
  const parts = ['precipitation,temp_max,temp_min,wind\n'];
  let size = parts[0]!.length;
  while (size < bytes) {
    parts.push(rows);
    size += rows.length;
  }
  return Buffer.from(parts.join(''));
}

type Mode = 'generic' | 'lean' | 'generic-decode' | 'lean-decode' | 'head-generic-decode';

/**
 * The commit's own decodeMlflowCsv (git show HEAD), for the generic path before this tree's
 * changes; its relative imports pointed at this tree. Null without git.
 */
function headCodec(dir: string): string | null {
  try {
    const text = execFileSync('git', ['show', 'HEAD:src/protocol/mlflow.ts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const file = join(dir, 'mlflow-head.ts');
    const src = join(ROOT, 'src');
    writeFileSync(file, text.replaceAll("from '../", `from '${src}/`).replaceAll("from './", `from '${src}/protocol/`));
    return file;
  } catch {
    return null;
  }
}

/** One measured step in this (fresh) process. */
async function child(mode: Mode, file: string, head: string | undefined): Promise<void> {
  const decodeHead = head ? ((await import(head)) as { decodeMlflowCsv: typeof decodeMlflowCsv }).decodeMlflowCsv : decodeMlflowCsv;
  const gc = (globalThis as { gc?: () => void }).gc!;
  const body = readFileSync(file);
  const dir = readModelDir(MODEL);
  const plan = buildInputPlan(dir.signature, [{ name: 'input', type: 'float32', shape: [-1, 4] }]);
  // Warm both paths' code on a small body, so compilation is not in the peak.
  const small = Buffer.from('precipitation,temp_max,temp_min,wind\n1,2,3,4\n');
  plan.prepare(decodeMlflowCsv(small.toString('utf8')).input);
  decodeHead(small.toString('utf8'));
  plan.prepareFrame(decodeLeanCsv(small)!);
  gc();
  gc();
  const before = process.memoryUsage();
  const rss0 = status('self', 'VmRSS');
  resetPeak('self');
  const t0 = performance.now();
  let rows = 0;
  let kept: unknown;
  if (mode === 'generic' || mode === 'generic-decode' || mode === 'head-generic-decode') {
    const d = (mode === 'head-generic-decode' ? decodeHead : decodeMlflowCsv)(body.toString('utf8'));
    rows = d.input.kind === 'frame' ? d.input.rows.length : 0;
    kept = mode === 'generic' ? plan.prepare(d.input) : d;
  } else {
    const f = decodeLeanCsv(body)!;
    rows = f.rows;
    kept = mode === 'lean' ? plan.prepareFrame(f)! : f;
  }
  const ms = performance.now() - t0;
  const peakRss = status('self', 'VmHWM') - rss0;
  const after = process.memoryUsage();
  gc();
  const retained = process.memoryUsage();
  process.stdout.write(
    JSON.stringify({
      mode,
      rows,
      ms,
      peakRss,
      heapBeforeGc: after.heapUsed - before.heapUsed,
      retained: retained.heapUsed - before.heapUsed + retained.arrayBuffers - before.arrayBuffers,
      kept: kept !== undefined,
    }),
  );
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${args.join(' ')} exited ${code}`))));
  });
}

async function serveOnce(body: Buffer, label: string): Promise<Record<string, string | number>> {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), 'serve', '--model', MODEL, '--port', '0', '--admin-port', '0'],
    {
      cwd: ROOT,
      env: { ...process.env, DRIFTWATCH_SERVE_MAX_BODY_BYTES: String(256 * 2 ** 20), DRIFTWATCH_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  try {
    let url = '';
    for (let i = 0; i < 600 && !url; i++) {
      url = /"msg":"scoring server listening"[^\n]*?"url":"(http:[^"]+)"/.exec(err)?.[1] ?? '';
      if (!url) await new Promise((r) => setTimeout(r, 50));
    }
    if (!url) throw new Error(`serve did not start:\n${err}`);
    const post = (b: Buffer) => fetch(`${url}/invocations`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: b });
    await (await post(Buffer.from('precipitation,temp_max,temp_min,wind\n1,2,3,4\n'))).arrayBuffer(); // warm
    const rss0 = status(proc.pid!, 'VmRSS');
    resetPeak(proc.pid!);
    const t0 = performance.now();
    const res = await post(body);
    const answer = await res.arrayBuffer();
    const ms = performance.now() - t0;
    const peak = status(proc.pid!, 'VmHWM');
    return { label, status: res.status, ms: ms.toFixed(0), rssBefore: mib(rss0), peakRss: mib(peak), answerMiB: mib(answer.byteLength) };
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.on('exit', r)));
  }
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'dw-csv-bench-'));
  try {
    const body = makeBody(MB * 2 ** 20);
    const file = join(tmp, 'body.csv');
    writeFileSync(file, body);
    console.log(
      `\n### text/csv body of ${mib(body.length)} MiB, ${body.toString('latin1').split('\n').length - 2} rows x 4 numbers (node ${process.version})\n`,
    );
    if (DECODE) {
      console.log('| path | rows | time ms | peak RSS above start MiB | heap used before GC MiB | retained (heap + array buffers) MiB |');
      console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
      const head = headCodec(tmp);
      const modes: Mode[] = ['generic-decode', 'lean-decode', 'generic', 'lean'];
      if (head) modes.unshift('head-generic-decode');
      for (const mode of modes) {
        const r = JSON.parse(
          await run(process.execPath, ['--expose-gc', '--import', 'tsx', SELF, '--child', mode, file, ...(mode === 'head-generic-decode' ? [head!] : [])]),
        );
        console.log(`| ${mode} | ${r.rows} | ${r.ms.toFixed(0)} | ${mib(r.peakRss)} | ${mib(r.heapBeforeGc)} | ${mib(r.retained)} |`);
      }
    }
    if (E2E) {
      console.log('\n`driftwatch serve` (example model) scoring the body in one request:\n');
      console.log('| body | status | time ms | server RSS before MiB | server peak RSS MiB | answer MiB |');
      console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
      // One missing value in the first row: the lean decoder stops there and the generic path reads the body.
      const generic = Buffer.from(body.toString('latin1').replace(/\n[^,\n]*,/, '\nNA,'), 'latin1');
      for (const [b, label] of [
        [body, 'numbers only (lean)'],
        [generic, 'NA in row 1 (generic)'],
      ] as const) {
        const r = await serveOnce(b, label);
        console.log(`| ${r.label} | ${r.status} | ${r.ms} | ${r.rssBefore} | ${r.peakRss} | ${r.answerMiB} |`);
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') await child(process.argv[3] as Mode, process.argv[4]!, process.argv[5]);
else await main();
