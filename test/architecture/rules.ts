/**
 * The direction rules of docs/architecture.md as code: reads every import under src/ (with
 * TypeScript's own pre-processor, so `export ... from` and `import()` count too) and reports what
 * breaks a rule. test/unit/architecture.test.ts runs it on the tree (any violation fails CI) and on
 * made-up trees (so a rule that could never fail would show).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import ts from 'typescript';

/** src-relative path of a module ("proxy/fast-lane.ts") -> what it imports (relative specifiers resolved, packages as named). */
export type ImportGraph = Map<string, { local: string[]; packages: string[] }>;

export function readGraph(srcDir: string): ImportGraph {
  const graph: ImportGraph = new Map();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) {
        const file = relative(srcDir, path);
        const info = ts.preProcessFile(readFileSync(path, 'utf8'), true, true);
        const local: string[] = [];
        const packages: string[] = [];
        for (const { fileName: spec } of info.importedFiles) {
          if (spec.startsWith('.')) local.push(normalize(join(dirname(file), spec)).replace(/\.js$/, '.ts'));
          else if (!spec.startsWith('node:')) packages.push(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
        }
        graph.set(file, { local, packages });
      }
    }
  };
  walk(srcDir);
  return graph;
}

/** The unit the rules speak of: a top-level folder ("proxy") or a top-level file ("errors.ts"). */
export function unitOf(file: string): string {
  const i = file.indexOf('/');
  return i < 0 ? file : file.slice(0, i);
}

/** The data path: what handles a request before the answer leaves. */
export const DATA_PATH = ['serve', 'proxy'];
/** The analysis side: everything that works on captured traffic after the answer left. */
export const ANALYSIS = [
  'capture',
  'stats',
  'drift',
  'slo',
  'quality',
  'outcomes',
  'store',
  'findings',
  'checks',
  'alerts',
  'reference',
  'schedule',
  'data',
  'challenger',
];
/** What the data path may import besides itself (rule 1). serve/ may also read the registry. */
const DATA_PATH_MAY_IMPORT = ['protocol', 'config', 'errors.ts', 'telemetry', 'model', 'listen.ts', 'http-lifecycle.ts', 'version.ts'];
/** The only capture/ modules the proxy may import: the event it offers and the queue it offers it to. */
const PROXY_CAPTURE_ALLOWED = ['capture/inference-event.ts', 'capture/bounded-queue.ts'];
/** Composition roots: they wire everything and nothing imports them (but each other). */
const ROOTS = ['app', 'cli'];
/**
 * Thread entries that are their thread's composition root: the capture worker opens the prediction
 * log itself, because SQLite's writes are CPU on the thread that makes them (worker-protocol.ts).
 */
const THREAD_ROOTS: Record<string, readonly string[]> = {
  'capture/capture-worker.ts': ['outcomes/sqlite-prediction-log.ts', 'outcomes/pg-prediction-log.ts'],
};
/** Concrete backends that only a composition root may choose (rule 5). */
const ADAPTERS = [
  'store/embedded.ts',
  'store/influx.ts',
  'store/influx-publisher.ts',
  'registry/local-registry.ts',
  'registry/mlflow-registry.ts',
  'outcomes/sqlite-prediction-log.ts',
  'outcomes/pg-prediction-log.ts',
];
/** Pure math: no I/O, no clock (rule 3). The check files beside them read the store interface. */
const PURE = (file: string) =>
  (file.startsWith('stats/') || file.startsWith('drift/') || file.startsWith('slo/') || file.startsWith('quality/') || file.startsWith('challenger/')) &&
  !/-check\.ts$/.test(file) &&
  file !== 'drift/offline.ts';
/**
 * Each third-party runtime library and the modules allowed to import it: one home each, so a
 * library can be swapped or upgraded in one place. Where there are two, both are deliberate:
 * express serves the admin API and the scoring server's non-hot routes; prom-client backs the
 * telemetry metrics and the alerts' own (kept apart so alerts/ never imports telemetry's types);
 * zod's schema walker for DRIFTWATCH_* variables lives beside the schema; yaml reads both MLmodel
 * files and config files.
 */
export const LIBRARY_HOMES: Record<string, readonly string[]> = {
  'onnxruntime-node': ['serve/runtime.ts'],
  'better-sqlite3': ['sqlite.ts'],
  pg: ['outcomes/pg-prediction-log.ts'],
  '@influxdata/influxdb-client': ['store/influx.ts'],
  'node-cron': ['schedule/scheduler.ts'],
  'http-proxy': ['proxy/proxy-server.ts'],
  'simple-statistics': ['stats/descriptive.ts'],
  express: ['admin/admin-server.ts', 'serve/scoring-server.ts'],
  'prom-client': ['telemetry/metrics.ts', 'alerts/alert-metrics.ts'],
  zod: ['config/schema.ts', 'config/env.ts'],
  yaml: ['config/load.ts', 'model/mlmodel.ts'],
};

export function violations(graph: ImportGraph, sources: (file: string) => string = () => ''): string[] {
  const out: string[] = [];
  const units = new Map<string, Set<string>>();
  for (const [file, { local, packages }] of graph) {
    const from = unitOf(file);
    for (const target of local) {
      const to = unitOf(target);
      if (!graph.has(target)) out.push(`${file} imports ${target}, which does not exist`);
      if (to === from) continue;
      (units.get(from) ?? units.set(from, new Set()).get(from)!).add(to);
      if (
        DATA_PATH.includes(from) &&
        !DATA_PATH_MAY_IMPORT.includes(to) &&
        !(from === 'serve' && to === 'registry') &&
        !(from === 'proxy' && PROXY_CAPTURE_ALLOWED.includes(target))
      ) {
        out.push(
          `data path: ${file} imports ${target} (the data path may import only ${[...DATA_PATH_MAY_IMPORT, 'registry (serve)', ...PROXY_CAPTURE_ALLOWED].join(', ')})`,
        );
      }
      if (ANALYSIS.includes(from) && DATA_PATH.includes(to))
        out.push(`analysis side: ${file} imports the data path (${target}); shared code belongs in a leaf such as protocol/`);
      if (ROOTS.includes(to) && !ROOTS.includes(from))
        out.push(`${file} imports the composition root ${target}; dependencies are passed in, never fetched from app/ or cli/`);
      if (ADAPTERS.includes(target) && !ROOTS.includes(from) && !THREAD_ROOTS[file]?.includes(target))
        out.push(`${file} imports the backend ${target}; only app/ chooses implementations (use the interface)`);
    }
    if (PURE(file)) {
      const text = sources(file);
      if (/from 'node:(fs|net|http|https|child_process|worker_threads|dgram)'/.test(text)) out.push(`pure module ${file} does I/O`);
      if (/\bDate\.now\(|new Date\(\)/.test(text)) out.push(`pure module ${file} reads the clock (pass the time in)`);
    }
    for (const pkg of packages) {
      const homes = LIBRARY_HOMES[pkg];
      if (homes && !homes.includes(file)) out.push(`${file} imports ${pkg}, whose home is ${homes.join(' and ')}`);
    }
  }
  for (const cycle of folderCycles(units)) out.push(`folder-level import cycle: ${cycle.join(' -> ')}`);
  return out;
}

/** Every strongly connected group of two or more units, as one cycle through it (Tarjan). */
export function folderCycles(edges: Map<string, Set<string>>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1) out.push(pathThrough(edges, new Set(group)));
    }
  };
  for (const v of [...edges.keys()].sort()) if (!idx.has(v)) visit(v);
  return out;
}

/** One closed walk inside a strongly connected group, for the message. */
function pathThrough(edges: Map<string, Set<string>>, group: Set<string>): string[] {
  const start = [...group].sort()[0]!;
  const seen = new Map<string, string | null>([[start, null]]);
  const queue = [start];
  while (queue.length) {
    const v = queue.shift()!;
    for (const w of edges.get(v) ?? []) {
      if (!group.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let x: string | null = v; x !== null && x !== start; x = seen.get(x)!) path.splice(1, 0, x);
        return [...path, start];
      }
      if (!seen.has(w)) {
        seen.set(w, v);
        queue.push(w);
      }
    }
  }
  return [...group];
}
