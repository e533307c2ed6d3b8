#!/usr/bin/env node
/**
 * Turns bench/out/proxy/results.json (written by bench/proxy-run.sh) into the proxy section of
 * bench/RESULTS.md: everything between <!-- proxy-bench:start --> and <!-- proxy-bench:end --> is
 * replaced (the markers are appended at the end of the file when absent); the rest of the file is
 * left byte for byte as it was.
 *
 *   node bench/proxy-report.mjs [bench/out/proxy/results.json] [bench/RESULTS.md]
 *
 * Every (target, batch, concurrency) cell was run `repeat` times, interleaved over the targets;
 * the tables show medians over those runs (req/s, p50, p99, CPU per request each on its own).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const inFile = process.argv[2] ?? join(HERE, 'out', 'proxy', 'results.json');
const outFile = process.argv[3] ?? join(HERE, 'RESULTS.md');
const { meta, runs, events = [] } = JSON.parse(readFileSync(inFile, 'utf8'));

const START = '<!-- proxy-bench:start -->';
const END = '<!-- proxy-bench:end -->';

/** The goals of the proxy issue. */
const GOAL = {
  vsNginx: 0.9, // dw-on req/s >= 0.9x nginx
  addedP50Ms: 0.2, // dw-on p50 - direct p50 at c=1
  captureCost: 0.9, // dw-on req/s >= 0.9x dw-off (capture costs at most 10%)
  cpuUsPerReq: 35, // dw-on proxy CPU per request, batch 1
  cpuBatch: 1,
};

// Results written before the engine targets existed used dw-on for the in-loop drain and
// dw-on-worker for the worker thread, all on the node:http path: rendering them with these labels
// would judge the goals on a different configuration without saying so.
const SETTINGS = meta.config.proxy_settings;
if (!SETTINGS) {
  console.error(
    `${inFile}: no meta.config.proxy_settings, so it predates the engine targets (dw-on meant the in-loop drain then); render it with the bench/proxy-report.mjs of its own commit, or rerun bench/proxy-run.sh`,
  );
  process.exit(1);
}
const ENGINE = {
  fast: 'the fast lane (`DRIFTWATCH_PROXY_ENGINE=fast`: HTTP/1.1 on raw sockets, one event loop)',
  node: 'the node engine (`DRIFTWATCH_PROXY_ENGINE=node`: node:http server + http.request through a keep-alive agent)',
};
const WORKER =
  'extraction, the traffic summary and window profiling in a worker thread at nice +10 (`DRIFTWATCH_PROXY_CAPTURE_WORKER=true`, bodies transferred to it in one ArrayBuffer per batch); the proxy\'s CPU counts all its threads, "JS thread" only the main one';
const INLOOP =
  "extraction and the traffic summary on the proxy's own event loop, between requests (`DRIFTWATCH_PROXY_CAPTURE_WORKER=false`, the in-loop drain)";
const CAPTURE_ON = 'capture on at 100% sampling (`DRIFTWATCH_PROXY_CAPTURE_ENABLED=true`, `..._SAMPLE_RATE=1`): every prediction body copied and queued';
/** The settings a dw-* target ran with, as recorded by proxy-run.sh. */
const settingsOf = (id) => {
  const x = SETTINGS[id];
  return x ? `. Ran with engine \`${x.engine}\`, capture ${x.capture ? 'on' : 'off'}, worker ${x.worker}.` : '';
};
/** The baseline build of the *-base targets (BENCH_BASELINE), as recorded by proxy-run.sh. */
const BASE = meta.versions['driftwatch baseline']
  ? `commit ${meta.versions['driftwatch baseline']}, checked out and built by proxy-run.sh from BENCH_BASELINE`
  : 'BENCH_BASELINE';
const TARGETS = [
  { id: 'direct', label: 'direct', what: 'wrk straight to the upstream: `driftwatch serve --model examples/seattle-weather/model` (1 process, defaults)' },
  {
    id: 'nginx',
    label: 'nginx',
    what: 'wrk -> nginx -> upstream. Debian nginx, generated config (below): 1 worker process, keep-alive upstream (`keepalive 64`, HTTP/1.1, `Connection ""`), access log off',
  },
  {
    id: 'nginx-2w',
    label: 'nginx 2w',
    what: 'as nginx, with `worker_processes 2` (its own prefix, bench/out/proxy/nginx-2w/); CPU is master + both workers',
  },
  {
    id: 'pipe',
    label: 'pipe',
    what: 'wrk -> `bench/pipe-proxy.mjs` -> upstream: a TCP relay in Node.js (node:net, one upstream connection per client connection, bytes relayed as they arrive) with no HTTP work at all: no parsing, no forwarding headers, no request id, no metrics, no capture. Not a usable proxy; the floor any Node.js proxy starts from on this machine',
  },
  {
    id: 'dw-off',
    label: 'dw off',
    what: `wrk -> \`driftwatch proxy --upstream ... --model seattle-weather\` on ${ENGINE.fast}, capture off (\`DRIFTWATCH_PROXY_CAPTURE_ENABLED=false\`) -> upstream`,
  },
  {
    id: 'dw-on',
    label: 'dw on',
    what: `**the shipped default; the goals are judged on it.** wrk -> \`driftwatch proxy\` on ${ENGINE.fast}, ${CAPTURE_ON}; ${WORKER} -> upstream`,
  },
  { id: 'dw-on-inloop', label: 'dw on inloop', what: `as dw on (engine fast, capture on), but ${INLOOP}` },
  { id: 'dw-off-node', label: 'dw off node', what: `as dw off (capture off), on ${ENGINE.node}: the previous default engine` },
  {
    id: 'dw-on-node',
    label: 'dw on node',
    what: `as dw on (capture on, worker thread), on ${ENGINE.node}: the previous default, the same-run baseline for the engine change`,
  },
  {
    id: 'dw-old-off',
    label: 'old off',
    what: 'as dw off, but with the previous http-proxy 1.18 data path (bench/legacy/http-proxy-server.mjs swapped in for dist/src/proxy/proxy-server.js by the module hook bench/legacy/use-http-proxy.mjs; same CLI, queue, drain, admin; the engine setting does not reach it)',
  },
  { id: 'dw-old-on', label: 'old on', what: 'as dw on (capture on, 100% sampling, worker thread), with the previous http-proxy 1.18 data path' },
  {
    id: 'dw-off-base',
    label: 'dw off base',
    what: `as dw off (engine fast, capture off), run from the baseline build (${BASE}): the same-run A/B for a change`,
  },
  {
    id: 'dw-on-base',
    label: 'dw on base',
    what: `as dw on (engine fast, capture on, worker thread), run from the baseline build (${BASE}): the same-run A/B for a change`,
  },
  {
    id: 'dw-on-x2',
    label: 'dw on x2',
    what: 'as dw on (engine fast, capture on, worker thread), but `driftwatch proxy --workers 2`: two processes sharing the port through node:cluster (the primary accepts and hands connections round-robin), each with its own queue, capture worker thread and store connection, one admin port whose /metrics sums both; CPU is primary + both workers',
  },
]
  .filter((t) => meta.config.targets.includes(t.id))
  .map((t) => ({ ...t, what: t.what + settingsOf(t.id) }));
const has = (id) => TARGETS.some((t) => t.id === id);
const labelOf = (id) => TARGETS.find((t) => t.id === id)?.label ?? id;

const median = (xs) => {
  xs = xs.filter((x) => Number.isFinite(x));
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fin = Number.isFinite;
const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const errorsOf = (w) => w.errors.connect + w.errors.read + w.errors.write + w.errors.timeout;
const usPerReq = (ticks, r) => (r.wrk.requests ? ((ticks / r.cpu.clk_tck) * 1e6) / r.wrk.requests : NaN);
const cores = (ticks, r) => ticks / r.cpu.clk_tck / r.wrk.duration_s;

function cell(target, batch, conc) {
  const rs = runs.filter((r) => r.target === target && r.batch === batch && r.concurrency === conc);
  if (!rs.length) return null;
  const proxyTicks = (r) => (target === 'direct' ? NaN : r.cpu.proxy_ticks);
  return {
    runs: rs,
    rps: median(rs.map((r) => r.wrk.rps)),
    rpsMin: Math.min(...rs.map((r) => r.wrk.rps)),
    rpsMax: Math.max(...rs.map((r) => r.wrk.rps)),
    p50: median(rs.map((r) => r.wrk.latency_ms.p50)),
    p99: median(rs.map((r) => r.wrk.latency_ms.p99)),
    proxyUs: median(rs.map((r) => usPerReq(proxyTicks(r), r))),
    proxyUsAll: rs.map((r) => usPerReq(proxyTicks(r), r)),
    upstreamUs: median(rs.map((r) => usPerReq(r.cpu.upstream_ticks, r))),
    proxyCores: median(rs.map((r) => cores(proxyTicks(r), r))),
    proxyMainShare: median(rs.map((r) => (r.cpu.proxy_ticks ? r.cpu.proxy_main_ticks / r.cpu.proxy_ticks : NaN))),
    upstreamCores: median(rs.map((r) => cores(r.cpu.upstream_ticks, r))),
    machineCores: median(rs.map((r) => (r.cpu.machine_busy_ticks / r.cpu.machine_all_ticks) * meta.machine.nproc)),
    // wrk's own CPU (bash `times` around the run), when recorded
    wrkCores: median(rs.map((r) => (fin(r.cpu.wrk_cpu_ms) ? r.cpu.wrk_cpu_ms / 1000 / r.wrk.duration_s : NaN))),
    requests: sum(rs.map((r) => r.wrk.requests)),
    errors: sum(rs.map((r) => errorsOf(r.wrk))),
    non2xx: sum(rs.map((r) => r.wrk.non2xx)),
    captured: rs.every((r) => r.capture) ? sum(rs.map((r) => r.capture.captured)) : NaN,
    sampledOut: rs.every((r) => r.capture) ? sum(rs.map((r) => r.capture.sampled_out)) : NaN,
    skipped: rs.every((r) => r.capture) ? sum(rs.map((r) => r.capture.too_large + r.capture.aborted)) : NaN,
    dropped: rs.every((r) => r.capture) ? sum(rs.map((r) => r.capture.dropped)) : NaN,
    rows: rs.every((r) => r.capture) ? sum(rs.map((r) => r.capture.rows)) : NaN,
    unparseable: rs.every((r) => r.capture) ? sum(rs.map((r) => r.capture.unparseable)) : NaN,
    bytesPerResponse: median(rs.map((r) => (r.wrk.requests ? r.wrk.bytes / r.wrk.requests : NaN))),
  };
}

const fmtRps = (x) => (fin(x) ? (x >= 100 ? x.toFixed(0) : x.toFixed(1)) : '–');
const fmtMs = (x) => (fin(x) ? (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3)) : '–');
const fmtDelta = (x) => (fin(x) ? `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(3)}` : '–');
const fmtRatio = (x) => (fin(x) ? `${x.toFixed(2)}x` : '–');
const fmtUs = (x) => (fin(x) ? (x >= 100 ? x.toFixed(0) : x.toFixed(1)) : '–');
const fmtCores = (x) => (fin(x) ? x.toFixed(2) : '–');
const fmtPct = (x) => (fin(x) ? `${(x * 100).toFixed(0)}%` : '–');
const warn = (c) => (c && (c.errors || c.non2xx) ? ' ⚠' : '');
const verdict = (ok) => (ok === null ? 'n/a' : ok ? '**meets**' : '**misses**');

const batches = meta.config.batches;
const concs = meta.config.concurrency;
const concsSorted = [...concs].sort((a, b) => a - b);
const C = {};
for (const b of batches) for (const c of concs) for (const t of TARGETS) C[`${t.id}|${b}|${c}`] = cell(t.id, b, c);
const get = (t, b, c) => C[`${t}|${b}|${c}`] ?? null;

// ---------------------------------------------------------------- goal verdicts
const goals = { vsNginx: [], addedP50: [], captureCost: [], cpu: [], vsOld: [], vsNode: [], vsBase: [] };
for (const b of batches) {
  for (const c of concsSorted) {
    const on = get('dw-on', b, c),
      off = get('dw-off', b, c),
      ng = get('nginx', b, c),
      d = get('direct', b, c);
    if (on && ng) goals.vsNginx.push({ b, c, x: on.rps / ng.rps, ok: on.rps / ng.rps >= GOAL.vsNginx });
    const old = get('dw-old-on', b, c);
    if (on && old) goals.vsOld.push({ b, c, x: on.rps / old.rps, cpu: on.proxyUs / old.proxyUs });
    const node = get('dw-on-node', b, c);
    if (on && node) goals.vsNode.push({ b, c, x: on.rps / node.rps, cpu: on.proxyUs / node.proxyUs });
    for (const [cur, base] of [
      ['dw-off', 'dw-off-base'],
      ['dw-on', 'dw-on-base'],
    ]) {
      const x = get(cur, b, c),
        y = get(base, b, c);
      if (x && y)
        goals.vsBase.push({
          b,
          c,
          what: cur,
          x: x.rps / y.rps,
          cpu: x.proxyUs / y.proxyUs,
          main: (x.proxyUs * x.proxyMainShare) / (y.proxyUs * y.proxyMainShare),
        });
    }
    if (on && off) goals.captureCost.push({ b, c, x: on.rps / off.rps, cpu: on.proxyUs / off.proxyUs, ok: on.rps / off.rps >= GOAL.captureCost });
    if (on && d && c === 1) goals.addedP50.push({ b, c, x: on.p50 - d.p50, ok: on.p50 - d.p50 <= GOAL.addedP50Ms });
    if (on) goals.cpu.push({ b, c, x: on.proxyUs, ok: b === GOAL.cpuBatch ? on.proxyUs <= GOAL.cpuUsPerReq : null });
  }
}
const tally = (list) => {
  const judged = list.filter((g) => g.ok !== null);
  if (!judged.length) return 'not measured in this run';
  const met = judged.filter((g) => g.ok).length;
  return met === judged.length ? `**met** in all ${judged.length} cells` : `**missed** in ${judged.length - met} of ${judged.length} cells`;
};

// ---------------------------------------------------------------- the section
const L = [];
const p = (s = '') => L.push(s);
p('# driftwatch proxy benchmark');
p();
p(
  'Generated by `bench/proxy-run.sh` (report: `bench/proxy-report.mjs`, raw data: `bench/out/proxy/results.json`). Do not edit by hand: the section between the `proxy-bench` markers is rewritten on every run.',
);
p();
p(`- **Date:** ${meta.started_at} to ${meta.finished_at} (UTC)`);
p(
  `- **Machine:** ${meta.machine.nproc} CPUs (\`nproc\`), ${meta.machine.cpu_model}, ${meta.machine.mem_gb} GiB RAM, Linux ${meta.machine.kernel}; load average ${meta.loadavg} (start -> end)`,
);
p(
  `- **Versions:** Node ${meta.machine.node}; ${Object.entries(meta.versions)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}`,
);
p(`- **Command:** \`${meta.command}\``);
p(
  `- **Runs:** wrk \`-t min(c,2) -c c -d ${meta.config.duration_s}s --timeout 10s --latency\` with \`bench/post.lua\` (POST /invocations), ${meta.config.warmup_s}s unrecorded warmup before every run; each cell run ${meta.config.repeat}x, targets interleaved round-robin (${meta.config.targets.join(' -> ')}); tables show **medians** over the repeats. Request bodies: the first N rows of vega-datasets seattle-weather.csv as MLflow \`dataframe_split\`. Everything (wrk, the upstream, the proxy) shares the machine's ${meta.machine.nproc} cores.`,
);
p(
  `- **CPU per request:** utime+stime from \`/proc/PID/stat\` of the proxy process(es) (nginx: master + worker; driftwatch: its one process, all threads) read right before and after each measured run, divided by the requests wrk completed in it; median over the repeats. The upstream's is read the same way. \`CLK_TCK\` = ${runs[0]?.cpu.clk_tck ?? '?'}, so one reading is good to ${runs[0] ? (1e6 / runs[0].cpu.clk_tck / 1000).toFixed(0) : '?'} ms of CPU.`,
);
if (meta.config.skipped) p(`- **⚠ SKIPPED:** ${meta.config.skipped}. The nginx columns and the nginx goal are missing from this report.`);
p();
p('Targets (one upstream process serves all of them; every proxy was checked to return the reference predictions before the runs):');
p();
for (const t of TARGETS) p(`- **${t.label}**: ${t.what}`);
p();

p('## Goals');
p();
p(
  'Judged on **dw on**, what ships: engine fast, capture on at 100% sampling, extraction in the worker thread (dw off, the same engine with capture off, for the cost of capture).',
);
p();
p(`- **Throughput:** dw on (full capture) at >= ${GOAL.vsNginx}x nginx's req/s: ${has('nginx') ? tally(goals.vsNginx) : 'not measured (nginx skipped)'}.`);
for (const g of goals.vsNginx) p(`  - batch ${g.b}, c=${g.c}: ${verdict(g.ok)} — dw on / nginx ${fmtRatio(g.x)}`);
p(`- **Added latency:** dw on p50 minus direct p50 at concurrency 1 <= ${GOAL.addedP50Ms} ms: ${tally(goals.addedP50)}.`);
for (const g of goals.addedP50) p(`  - batch ${g.b}, c=1: ${verdict(g.ok)} — ${fmtDelta(g.x)} ms`);
p(`- **Cost of capture:** dw on at >= ${GOAL.captureCost}x dw off's req/s (at most 10% less): ${tally(goals.captureCost)}.`);
for (const g of goals.captureCost)
  p(`  - batch ${g.b}, c=${g.c}: ${verdict(g.ok)} — dw on / dw off req/s ${fmtRatio(g.x)}; proxy CPU per request on / off ${fmtRatio(g.cpu)}`);
if (goals.vsNode.length) {
  p('- **Fast lane against the node engine** (capture on both, same run; dw on / dw on node; not a goal, the reason for the engine change):');
  for (const g of goals.vsNode) {
    const off = get('dw-off', g.b, g.c),
      offNode = get('dw-off-node', g.b, g.c);
    const capOff =
      off && offNode ? `; capture off: req/s ${fmtRatio(off.rps / offNode.rps)}, proxy CPU per request ${fmtRatio(off.proxyUs / offNode.proxyUs)}` : '';
    p(`  - batch ${g.b}, c=${g.c}: req/s fast / node ${fmtRatio(g.x)}; proxy CPU per request fast / node ${fmtRatio(g.cpu)}${capOff}`);
  }
}
if (has('dw-on-inloop')) {
  p(
    '- **Capture in a worker thread** (`proxy.capture.worker`; dw on (worker, the default) against dw on inloop (the in-loop drain), both on the fast lane, same run; "JS thread us/req" is the proxy\'s main-thread CPU per request, the thread every request is proxied on):',
  );
  for (const b of batches) {
    for (const c of concsSorted) {
      const w = get('dw-on', b, c),
        il = get('dw-on-inloop', b, c),
        off = get('dw-off', b, c);
      if (!w || !il) continue;
      const js = (x) => (x ? x.proxyUs * x.proxyMainShare : NaN);
      const parts = [];
      if (off) parts.push(`worker / dw off req/s ${fmtRatio(w.rps / off.rps)} (in-loop / dw off ${fmtRatio(il.rps / off.rps)})`);
      parts.push(`worker / in-loop req/s ${fmtRatio(w.rps / il.rps)}`);
      parts.push(`proxy CPU us/req: worker ${fmtUs(w.proxyUs)}, in-loop ${fmtUs(il.proxyUs)}${off ? `, off ${fmtUs(off.proxyUs)}` : ''}`);
      parts.push(`JS thread us/req: worker ${fmtUs(js(w))}, in-loop ${fmtUs(js(il))}${off ? `, off ${fmtUs(js(off))}` : ''}`);
      if (fin(w.dropped) && fin(il.dropped)) parts.push(`dropped by the queue: worker ${w.dropped}, in-loop ${il.dropped}`);
      p(`  - batch ${b}, c=${c}: ${parts.join('; ')}`);
    }
  }
}
if (goals.vsBase.length) {
  // Each repeat is one pass of the round-robin, so a repeat's ratio pairs two runs of the same
  // pass (a few runs apart): the pairs show how steady the difference is on a noisy box. The base
  // targets come after the current ones in every pass, so drift within a pass is not cancelled.
  const paired = (cur, base, b, c, f) => {
    const x = get(cur, b, c),
      y = get(base, b, c);
    const rs = x.runs.map((r) => [f(r), f(y.runs.find((q) => q.repeat === r.repeat) ?? {})]).filter(([u, v]) => fin(u) && fin(v) && v > 0);
    return rs.map(([u, v]) => u / v).sort((a, b2) => a - b2);
  };
  const cpuOf = (r) => (r.cpu && r.wrk ? usPerReq(r.cpu.proxy_ticks, r) : NaN);
  const mainOf = (r) => (r.cpu && r.wrk ? usPerReq(r.cpu.proxy_main_ticks, r) : NaN);
  const range = (xs) => (xs.length ? `${fmtRatio(xs[0])}-${fmtRatio(xs[xs.length - 1])}` : '–');
  p(
    `- **This build against the baseline** (${BASE}; same run, same settings; not a goal). Medians, then in brackets the range of the per-repeat ratios (each pairs the two runs of one round-robin pass; the base runs come later in the pass) and how many pairs there were. The main-thread ratio is of median CPU times median main-thread share:`,
  );
  for (const g of goals.vsBase) {
    const base = `${g.what}-base`;
    const rps = paired(g.what, base, g.b, g.c, (r) => r.wrk?.rps);
    p(
      `  - ${labelOf(g.what)}, batch ${g.b}, c=${g.c}: req/s ${fmtRatio(g.x)} (${range(rps)}, ${rps.length} pairs); proxy CPU per request ${fmtRatio(g.cpu)} (${range(paired(g.what, base, g.b, g.c, cpuOf))}); main thread CPU per request ${fmtRatio(g.main)} (${range(paired(g.what, base, g.b, g.c, mainOf))})`,
    );
  }
}
if (goals.vsOld.length) {
  p('- **Fast lane against the old http-proxy path** (capture on both, worker thread on both, same run; not a goal):');
  for (const g of goals.vsOld) p(`  - batch ${g.b}, c=${g.c}: req/s new / old ${fmtRatio(g.x)}; proxy CPU per request new / old ${fmtRatio(g.cpu)}`);
}
p(
  `- **CPU per request:** dw on (full capture; all threads of the process, the capture worker included) <= ${GOAL.cpuUsPerReq} us per request at batch ${GOAL.cpuBatch}: ${tally(goals.cpu)}.`,
);
for (const g of goals.cpu)
  p(
    `  - batch ${g.b}, c=${g.c}: ${g.ok === null ? `(goal stated for batch ${GOAL.cpuBatch}; shown for reference)` : verdict(g.ok)} — ${fmtUs(g.x)} us/request`,
  );
if (has('pipe')) {
  // Not a goal: what the goals leave room for. The relay does none of the proxy's work, so
  // dw on / nginx cannot exceed pipe / nginx, and dw on's CPU per request cannot go below pipe's.
  p(
    '- **The Node.js floor** (not a goal; `pipe`, a TCP relay in Node with no HTTP work, same run): the most any Node.js proxy could reach here. dw on cannot beat it, so where pipe itself is below a goal, the goal is out of reach for a proxy on one Node event loop:',
  );
  for (const b of batches) {
    for (const c of concsSorted) {
      const pi = get('pipe', b, c),
        ng = get('nginx', b, c),
        on = get('dw-on', b, c);
      if (!pi) continue;
      const parts = [];
      if (ng) parts.push(`pipe / nginx req/s ${fmtRatio(pi.rps / ng.rps)}`);
      parts.push(`pipe CPU ${fmtUs(pi.proxyUs)} us/request${ng ? ` (nginx ${fmtUs(ng.proxyUs)})` : ''}`);
      if (on) parts.push(`dw on above the floor: ${fmtUs(on.proxyUs - pi.proxyUs)} us/request`);
      p(`  - batch ${b}, c=${c}: ${parts.join('; ')}`);
    }
  }
}
p();

for (const b of batches) {
  p(`## Batch ${b} row${b === 1 ? '' : 's'} per request`);
  p();
  const head = ['c'];
  for (const t of TARGETS) head.push(`${t.label} req/s`, `${t.label} p50 ms`, `${t.label} p99 ms`);
  if (has('dw-on') && has('nginx')) head.push('dw on / nginx req/s');
  if (has('pipe') && has('nginx')) head.push('pipe / nginx req/s');
  if (has('dw-on') && has('dw-off')) head.push('dw on / dw off req/s');
  if (has('dw-on-inloop') && has('dw-off')) head.push('dw on inloop / dw off req/s');
  if (has('dw-on') && has('dw-on-node')) head.push('dw on / dw on node req/s');
  if (has('dw-off') && has('dw-off-node')) head.push('dw off / dw off node req/s');
  if (has('dw-on') && has('dw-old-on')) head.push('dw on / old on req/s');
  if (has('dw-off') && has('dw-off-base')) head.push('dw off / dw off base req/s');
  if (has('dw-on') && has('dw-on-base')) head.push('dw on / dw on base req/s');
  if (has('dw-on-x2') && has('nginx')) head.push('dw on x2 / nginx req/s');
  if (has('dw-on') && has('direct')) head.push('added p50 ms (dw on − direct)');
  if (has('nginx') && has('direct')) head.push('added p50 ms (nginx − direct)');
  for (const t of TARGETS) if (t.id !== 'direct') head.push(`CPU us/req ${t.label}`);
  head.push('goals');
  p(`| ${head.join(' | ')} |`);
  p(`|${head.map((_, i) => (i === 0 || i === head.length - 1 ? ':--' : '--:')).join('|')}|`);
  for (const c of concsSorted) {
    const row = [String(c)];
    for (const t of TARGETS) {
      const x = get(t.id, b, c);
      row.push(fmtRps(x?.rps) + warn(x), fmtMs(x?.p50), fmtMs(x?.p99));
    }
    const on = get('dw-on', b, c),
      off = get('dw-off', b, c),
      ng = get('nginx', b, c),
      d = get('direct', b, c);
    if (has('dw-on') && has('nginx')) row.push(fmtRatio(on?.rps / ng?.rps));
    if (has('pipe') && has('nginx')) row.push(fmtRatio(get('pipe', b, c)?.rps / ng?.rps));
    if (has('dw-on') && has('dw-off')) row.push(fmtRatio(on?.rps / off?.rps));
    if (has('dw-on-inloop') && has('dw-off')) row.push(fmtRatio(get('dw-on-inloop', b, c)?.rps / off?.rps));
    if (has('dw-on') && has('dw-on-node')) row.push(fmtRatio(on?.rps / get('dw-on-node', b, c)?.rps));
    if (has('dw-off') && has('dw-off-node')) row.push(fmtRatio(off?.rps / get('dw-off-node', b, c)?.rps));
    if (has('dw-on') && has('dw-old-on')) row.push(fmtRatio(on?.rps / get('dw-old-on', b, c)?.rps));
    if (has('dw-off') && has('dw-off-base')) row.push(fmtRatio(off?.rps / get('dw-off-base', b, c)?.rps));
    if (has('dw-on') && has('dw-on-base')) row.push(fmtRatio(on?.rps / get('dw-on-base', b, c)?.rps));
    if (has('dw-on-x2') && has('nginx')) row.push(fmtRatio(get('dw-on-x2', b, c)?.rps / ng?.rps));
    if (has('dw-on') && has('direct')) row.push(fmtDelta(on?.p50 - d?.p50));
    if (has('nginx') && has('direct')) row.push(fmtDelta(ng?.p50 - d?.p50));
    for (const t of TARGETS) if (t.id !== 'direct') row.push(fmtUs(get(t.id, b, c)?.proxyUs));
    const v = [];
    const gN = goals.vsNginx.find((g) => g.b === b && g.c === c);
    if (gN) v.push(`vs nginx ${gN.ok ? 'meets' : 'misses'}`);
    const gC = goals.captureCost.find((g) => g.b === b && g.c === c);
    if (gC) v.push(`capture cost ${gC.ok ? 'meets' : 'misses'}`);
    const gP = goals.addedP50.find((g) => g.b === b && g.c === c);
    if (gP) v.push(`added p50 ${gP.ok ? 'meets' : 'misses'}`);
    const gU = goals.cpu.find((g) => g.b === b && g.c === c);
    if (gU && gU.ok !== null) v.push(`CPU/req ${gU.ok ? 'meets' : 'misses'}`);
    row.push(v.join('; ') || '–');
    p(`| ${row.join(' | ')} |`);
  }
  p();
  p(
    `CPU detail, batch ${b}: CPU time per request (us) of the proxy and of the upstream, and the cores each was busy on average during the run (CPU seconds / wall seconds; "wrk" is the load generator's own CPU; "machine" is all of the box from /proc/stat, out of ${meta.machine.nproc}; it is tick-sampled, so it need not equal the sum of the others exactly). "JS thread" is the share of the driftwatch proxy's CPU spent on its main thread, the one that does the HTTP work; with the capture worker (dw on, dw on node, old on) most of the rest is that worker thread.`,
  );
  p();
  const h2 = [
    'c',
    'target',
    'proxy us/req',
    'upstream us/req',
    'proxy + upstream us/req',
    'proxy cores',
    'JS thread',
    'upstream cores',
    'wrk cores',
    'machine cores',
  ];
  p(`| ${h2.join(' | ')} |`);
  p(
    `|--:|:--|${h2
      .slice(2)
      .map(() => '--:')
      .join('|')}|`,
  );
  for (const c of concsSorted) {
    for (const t of TARGETS) {
      const x = get(t.id, b, c);
      if (!x) continue;
      const direct = t.id === 'direct';
      p(
        `| ${c} | ${t.label} | ${direct ? '–' : fmtUs(x.proxyUs)} | ${fmtUs(x.upstreamUs)} | ${direct ? fmtUs(x.upstreamUs) : fmtUs(x.proxyUs + x.upstreamUs)} | ${direct ? '–' : fmtCores(x.proxyCores)} | ${t.id.startsWith('dw') && t.id !== 'dw-on-x2' ? fmtPct(x.proxyMainShare) : '–'} | ${fmtCores(x.upstreamCores)} | ${fmtCores(x.wrkCores)} | ${fmtCores(x.machineCores)} |`,
      );
    }
  }
  p();
}

// ---------------------------------------------------------------- capture check
if (TARGETS.some((t) => t.id.startsWith('dw-'))) {
  p('## Did capture happen?');
  p();
  p(
    'Deltas of the proxy\'s own counters (`/metrics` on its admin port) over the measured runs of each cell, all repeats summed, next to the requests wrk completed. "captured" is `driftwatch_capture_events_total{outcome="captured"}`, "dropped" is `driftwatch_capture_dropped_total` (queue full), "rows" is `driftwatch_capture_rows_total` (feature rows extracted by the drain). The counters are read 0.1 s after wrk stops, so requests in flight at the edges make them differ from wrk\'s count by up to about c per run.',
  );
  p();
  p('| batch | c | target | wrk requests | captured | sampled out | too large / aborted | dropped | rows extracted | unparseable |');
  p('|--:|--:|:--|--:|--:|--:|--:|--:|--:|--:|');
  for (const b of batches) {
    for (const c of concsSorted) {
      for (const id of ['dw-old-off', 'dw-old-on', 'dw-off-node', 'dw-on-node', 'dw-off', 'dw-on', 'dw-on-inloop', 'dw-on-x2', 'dw-off-base', 'dw-on-base']) {
        const x = get(id, b, c);
        if (!x) continue;
        const f = (v) => (fin(v) ? String(v) : '–');
        p(
          `| ${b} | ${c} | ${labelOf(id)} | ${x.requests} | ${f(x.captured)} | ${f(x.sampledOut)} | ${f(x.skipped)} | ${f(x.dropped)} | ${f(x.rows)} | ${f(x.unparseable)} |`,
        );
      }
    }
  }
  p();
}

// ---------------------------------------------------------------- second core
{
  const bHi = batches.includes(1) ? 1 : batches[0];
  const cHi = Math.max(...concs);
  const on = get('dw-on', bHi, cHi),
    off = get('dw-off', bHi, cHi),
    ng = get('nginx', bHi, cHi);
  const il = get('dw-on-inloop', bHi, cHi),
    node = get('dw-on-node', bHi, cHi),
    x2 = get('dw-on-x2', bHi, cHi);
  // main: the JS thread that runs the HTTP work; rest: the capture worker, GC helpers, libuv.
  const mainCores = (x) => (x ? x.proxyCores * x.proxyMainShare : NaN);
  const restCores = (x) => (x ? x.proxyCores * (1 - x.proxyMainShare) : NaN);
  const mainUs = (x) => (x ? x.proxyUs * x.proxyMainShare : NaN);
  const restUs = (x) => (x ? x.proxyUs * (1 - x.proxyMainShare) : NaN);
  const split = (x) =>
    `${fmtCores(x.proxyCores)} cores: ${fmtCores(mainCores(x))} on the main thread (${fmtPct(x.proxyMainShare)}), ${fmtCores(restCores(x))} on its other threads`;
  p('## How the proxy uses the second core');
  p();
  p(
    "`driftwatch proxy` is **one Node.js process** with more than one thread. Its **main JavaScript thread does the HTTP work**: on the fast lane (dw off, dw on) one event loop over raw sockets that parses the request and response heads, forwards the bytes and copies the bodies of sampled predictions (on the node engine, dw on node, the same work goes through node:http and http.request on that thread). With `proxy.capture.worker` (the default, dw on) **capture extraction, the traffic summary and window profiling run on a worker thread** of the same process at nice +10, so the process can use more than one core: the main thread hands each batch of bodies over and goes on proxying, and when the cores are busy it is the capture worker that yields (its queue can fill up and drop events, counted in the capture table), not the traffic. V8's garbage collection helpers and libuv's threads add a little. The \"JS thread\" column in the CPU detail tables is the main thread's share of the process's CPU; the rest of a dw on row is mostly the capture worker.",
  );
  p();
  if (on) {
    let s = `At batch ${bHi}, c=${cHi} (the heaviest cell) dw on kept **${split(on)}**, i.e. ${fmtUs(mainUs(on))} us per request on the main thread and ${fmtUs(restUs(on))} us elsewhere`;
    if (off) s += `; dw off ${fmtCores(off.proxyCores)} cores (${fmtPct(off.proxyMainShare)} on the main thread)`;
    if (node) s += `; dw on node ${split(node)}`;
    if (ng) s += `; nginx's single worker (+ master) ${fmtCores(ng.proxyCores)}`;
    s += `. The upstream (also one Node process) used ${fmtCores(on.upstreamCores)} cores behind dw on, wrk ${fmtCores(on.wrkCores)}, and the whole machine ${fmtCores(on.machineCores)} of ${meta.machine.nproc}.`;
    p(s);
    p();
  }
  if (il) {
    p(
      `With the in-loop drain (dw on inloop) the capture work shares the main thread with the traffic: ${split(il)}, ${fmtRps(il.rps)} req/s${on ? ` against ${fmtRps(on.rps)} with the worker (${fmtRatio(on.rps / il.rps)})` : ''}.`,
    );
    p();
  }
  if (x2 && on) {
    p(
      `Two processes (dw on x2, \`driftwatch proxy --workers 2\`): ${fmtRps(x2.rps)} req/s against ${fmtRps(on.rps)} for one (${fmtRatio(x2.rps / on.rps)})${ng ? `, ${fmtRatio(x2.rps / ng.rps)} of nginx` : ''}, at ${fmtUs(x2.proxyUs)} us of proxy CPU per request (primary + workers) on ${fmtCores(x2.proxyCores)} cores.`,
    );
    p();
  }
  if (ng && on) {
    p(
      `nginx with \`worker_processes 1\` is one single-threaded event loop, bounded by one core; driftwatch's HTTP side is bounded the same way by its main thread, while its capture work can run beside it. Per request on the thread that proxies: nginx ${fmtUs(ng.proxyUs)} us against driftwatch's main thread ${fmtUs(mainUs(on))} us with capture (${fmtUs(mainUs(off))} us without; the whole process ${fmtUs(on.proxyUs)} us with capture), i.e. one core could proxy about ${fmtRps(1e6 / ng.proxyUs)} req/s through nginx and driftwatch's main thread about ${fmtRps(1e6 / mainUs(on))} req/s with full capture, if the worker thread had cores of its own.`,
    );
    p();
    const pegged = mainCores(on) >= 0.85;
    p(
      (pegged
        ? `In that cell driftwatch's main thread is at its one-core limit (${fmtCores(mainCores(on))} cores): the proxy's HTTP thread, not the upstream, sets the throughput (dw on ${fmtRps(on.rps)} req/s against ${fmtRps(get('direct', bHi, cHi)?.rps)} direct and ${fmtRps(ng.rps)} through nginx). `
        : `In that cell driftwatch's main thread is below one core (${fmtCores(mainCores(on))}), so the limit is the ${meta.machine.nproc} cores shared by wrk, the upstream and the proxy's threads. `) +
        `nginx needed ${fmtCores(ng.proxyCores)} cores for ${fmtRps(ng.rps)} req/s, leaving the upstream ${fmtCores(ng.upstreamCores)} cores (${fmtCores(on.upstreamCores)} behind dw on). ` +
        `On this ${meta.machine.nproc}-core machine no proxy gets a core to itself: every microsecond the proxy spends per request, on either thread, is taken from the upstream and wrk (the capture worker, at nice +10, gives way first). nginx could add workers (\`worker_processes auto\`) to spread the HTTP work; driftwatch's HTTP work stays on one thread per process, and more of it needs a second process (\`driftwatch proxy --workers N\`, node:cluster; measured as dw on x2 when that target ran).`,
    );
    p();
  } else if (on) {
    p(
      `At batch ${bHi}, c=${cHi} driftwatch's main thread spent ${fmtUs(mainUs(on))} us per request, so one core could run the HTTP side of about ${fmtRps(1e6 / mainUs(on))} req/s with full capture, the capture worker's ${fmtUs(restUs(on))} us per request running beside it. On this ${meta.machine.nproc}-core machine the proxy's threads share the cores with wrk and the upstream.`,
    );
    p();
  }
}

// ---------------------------------------------------------------- every core
// dw on (1 process) and dw on x2 (--workers 2) against nginx with 1 and 2 workers, same run.
if (has('dw-on-x2') || has('nginx-2w')) {
  const ids = ['direct', 'nginx', 'nginx-2w', 'dw-on', 'dw-on-x2'].filter(has);
  p('## Every core: `driftwatch proxy --workers 2` against nginx with 2 workers');
  p();
  p(
    `Medians over the repeats; proxy CPU is all of the proxy's processes (nginx: master + workers; dw on x2: primary + both workers, every thread). All of them, wrk and the one upstream process share the machine's ${meta.machine.nproc} cores.`,
  );
  p();
  for (const b of batches) {
    p(`Batch ${b} row${b === 1 ? '' : 's'} per request:`);
    p();
    const h = ['c', 'target', 'req/s', 'p50 ms', 'p99 ms', 'proxy CPU us/req', 'proxy cores', 'upstream cores', 'machine cores'];
    p(`| ${h.join(' | ')} |`);
    p(
      `|--:|:--|${h
        .slice(2)
        .map(() => '--:')
        .join('|')}|`,
    );
    for (const c of concsSorted) {
      for (const id of ids) {
        const x = get(id, b, c);
        if (!x) continue;
        const direct = id === 'direct';
        p(
          `| ${c} | ${labelOf(id)} | ${fmtRps(x.rps)}${warn(x)} | ${fmtMs(x.p50)} | ${fmtMs(x.p99)} | ${direct ? '–' : fmtUs(x.proxyUs)} | ${direct ? '–' : fmtCores(x.proxyCores)} | ${fmtCores(x.upstreamCores)} | ${fmtCores(x.machineCores)} |`,
        );
      }
    }
    p();
    const rh = [
      'c',
      'dw on x2 / dw on req/s',
      'dw on x2 / nginx 2w req/s',
      'dw on / nginx req/s',
      'nginx 2w / nginx req/s',
      'dw on x2 / nginx 2w CPU per request',
    ];
    p(`| ${rh.join(' | ')} |`);
    p(
      `|--:|${rh
        .slice(1)
        .map(() => '--:')
        .join('|')}|`,
    );
    for (const c of concsSorted) {
      const on = get('dw-on', b, c),
        x2 = get('dw-on-x2', b, c),
        ng = get('nginx', b, c),
        ng2 = get('nginx-2w', b, c);
      p(
        `| ${c} | ${fmtRatio(x2?.rps / on?.rps)} | ${fmtRatio(x2?.rps / ng2?.rps)} | ${fmtRatio(on?.rps / ng?.rps)} | ${fmtRatio(ng2?.rps / ng?.rps)} | ${fmtRatio(x2?.proxyUs / ng2?.proxyUs)} |`,
      );
    }
    p();
  }
}

// ---------------------------------------------------------------- notes
p('## Notes');
p();
p(
  '- The machine has 2 CPUs and wrk, the upstream and the proxy all run on it: a proxy in the path takes CPU away from the upstream and from wrk. Absolute numbers are only comparable within one report; the ratios and the CPU time per request are the point (CPU per request is the steadiest figure on a shared machine).',
);
p(
  '- "direct" has no proxy: its CPU column is the upstream\'s, for context. In the CPU detail tables, "upstream us/req" under a proxy row shows what the upstream spent per request in that run, so proxy and upstream costs can be told apart.',
);
p(
  `- nginx runs with \`master_process ${meta.config.nginx_master_process}\`, \`daemon off\`, 1 worker${meta.nginx_conf && /^user root;/m.test(meta.nginx_conf) ? ', `user root` (the benchmark runs as root; nginx would otherwise switch its worker to nobody)' : ''}, its own prefix, temp paths and error log under bench/out/proxy/nginx/ (/etc/nginx is not read). \`keepalive_requests\` is raised to 1000000 on both sides: nginx's default of 1000 would close wrk's connections every 1000 requests, and the Node servers have no such limit. Its CPU figure is master + worker.${has('nginx-2w') ? ' nginx 2w is the same config with `worker_processes 2` in bench/out/proxy/nginx-2w/; its CPU figure is master + both workers.' : ''}`,
);
p(
  "- The upstream's own CPU per request goes up behind a proxy that is slower than it (see the CPU detail tables): it receives requests more spread out, so its micro-batching merges fewer of them and each event-loop turn serves fewer requests. That cost is caused by the proxy but shows up in the upstream's column, not the proxy's.",
);
p(
  '- "too large / aborted" in the capture table are requests wrk had in flight when it stopped (it closes its connections mid-request): about c per run, counted as `aborted`.',
);
p(
  '- Latency percentiles come from wrk (`--latency`, microsecond resolution); p50 differences of a few hundredths of a millisecond between runs are noise at c=1.',
);
if (events.length) {
  p(`- **Servers went away during the benchmark** (restarted on the same port, the run repeated):`);
  for (const e of events) p(`  - ${e.time}: ${e.target} ${e.how} ${e.context}`);
} else {
  p('- No server went away during the benchmark.');
}
const errCells = Object.entries(C).filter(([, x]) => x && (x.errors || x.non2xx));
if (errCells.length)
  p(`- ⚠ Errors or non-2xx answers in: ${errCells.map(([k, x]) => `${k.replaceAll('|', ' batch ')} (errors ${x.errors}, non-2xx ${x.non2xx})`).join('; ')}.`);
p();
if (meta.nginx_conf) {
  p('<details><summary>The generated nginx.conf</summary>');
  p();
  p('```nginx');
  p(meta.nginx_conf.trimEnd());
  p('```');
  p();
  p('</details>');
  p();
}
p('<details><summary>Spread per cell</summary>');
p();
p('| batch | c | target | req/s median | req/s min–max | p50 ms | p99 ms | proxy us/req (each run) | bytes/response | errors | non-2xx |');
p('|--:|--:|:--|--:|--:|--:|--:|:--|--:|--:|--:|');
for (const b of batches) {
  for (const c of concsSorted) {
    for (const t of TARGETS) {
      const x = get(t.id, b, c);
      if (!x) continue;
      p(
        `| ${b} | ${c} | ${t.label} | ${fmtRps(x.rps)} | ${fmtRps(x.rpsMin)}–${fmtRps(x.rpsMax)} | ${fmtMs(x.p50)} | ${fmtMs(x.p99)} | ${t.id === 'direct' ? '–' : x.proxyUsAll.map(fmtUs).join(', ')} | ${fmtRps(x.bytesPerResponse)} | ${x.errors} | ${x.non2xx} |`,
      );
    }
  }
}
p();
p('</details>');
p();
p('<details><summary>Every run (in execution order)</summary>');
p();
p(
  '| # | target | batch | c | rep | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | proxy us/req | upstream us/req | proxy cores | errors (connect/read/write/timeout) | non-2xx |',
);
p('|--:|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|:--|--:|');
runs.forEach((r, i) => {
  const w = r.wrk;
  const direct = r.target === 'direct';
  p(
    `| ${i + 1} | ${r.target} | ${r.batch} | ${r.concurrency} | ${r.repeat} | ${w.requests} | ${fmtRps(w.rps)} | ${fmtMs(w.latency_ms.p50)} | ${fmtMs(w.latency_ms.p90)} | ${fmtMs(w.latency_ms.p99)} | ${fmtMs(w.latency_ms.max)} | ${direct ? '–' : fmtUs(usPerReq(r.cpu.proxy_ticks, r))} | ${fmtUs(usPerReq(r.cpu.upstream_ticks, r))} | ${direct ? '–' : fmtCores(cores(r.cpu.proxy_ticks, r))} | ${w.errors.connect}/${w.errors.read}/${w.errors.write}/${w.errors.timeout} | ${w.non2xx} |`,
  );
});
p();
p('</details>');

// ---------------------------------------------------------------- splice into RESULTS.md
const section = `${START}\n${L.join('\n')}\n${END}`;
let doc = existsSync(outFile) ? readFileSync(outFile, 'utf8') : '';
const i = doc.indexOf(START);
const j = doc.indexOf(END);
if (i >= 0 && j > i) {
  doc = doc.slice(0, i) + section + doc.slice(j + END.length);
} else if (i < 0 && j < 0) {
  doc = doc + (doc === '' || doc.endsWith('\n\n') ? '' : doc.endsWith('\n') ? '\n' : '\n\n') + section + '\n';
} else {
  console.error(`${outFile}: found only one of ${START} / ${END} (or in the wrong order); not touching it`);
  process.exit(1);
}
writeFileSync(outFile, doc);
