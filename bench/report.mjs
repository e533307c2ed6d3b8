#!/usr/bin/env node
/**
 * Turns bench/out/results.json (written by bench/run.sh) into bench/RESULTS.md.
 *
 *   node bench/report.mjs [bench/out/results.json] [bench/RESULTS.md]
 *
 * Every (target, batch, concurrency) cell was run `repeat` times, interleaved over the targets;
 * the tables show the median req/s and the median p99 of those runs.
 *
 * Targets: driftwatch, minimal, flask, driftwatch-w2, driftwatch-express, driftwatch-nobatch
 * (described in TARGETS below; listed as "not run" when a run left them out), and, only when
 * bench/run.sh ran with BENCH_BASELINE=<ref>, driftwatch-base / driftwatch-w2-base: the same
 * servers run from the build of that commit. With those, the report adds driftwatch /
 * driftwatch-base columns to the tables and a section "This build against the baseline": per
 * cell the medians of both and the range of the per-repeat paired ratios, for req/s and p99.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const inFile = process.argv[2] ?? join(HERE, 'out', 'results.json');
const outFile = process.argv[3] ?? join(HERE, 'RESULTS.md');
const { meta, runs, events = [] } = JSON.parse(readFileSync(inFile, 'utf8'));

/** The goal, applied to driftwatch (1 process) vs the minimal server. */
const GOAL = { concurrency: [16, 64], minThroughput: 0.9, maxP99: 1.2 };

const TARGETS = [
  {
    id: 'driftwatch',
    label: 'driftwatch',
    what: '`driftwatch serve --model examples/seattle-weather/model` (1 process, defaults: lean prediction path, micro-batching on)',
  },
  { id: 'minimal', label: 'minimal', what: '`bench/minimal-server.ts`: node:http + JSON.parse + one onnxruntime-node session + JSON.stringify (the limit)' },
  {
    id: 'flask',
    label: 'Flask',
    what: '`bench/flask_baseline.py`: Flask + pandas + numpy under gunicorn, 1 sync worker (like `mlflow models serve` with 1 worker)',
  },
  { id: 'driftwatch-w2', label: 'driftwatch w2', what: '`driftwatch serve ... --workers 2` (node:cluster, 2 worker processes)' },
  {
    id: 'driftwatch-express',
    label: 'dw express',
    what: '`bench/driftwatch-express.ts`: driftwatch with the prediction routes through express instead of the lean node:http path',
  },
  {
    id: 'driftwatch-nobatch',
    label: 'dw no-batch',
    what: 'driftwatch serve with `DRIFTWATCH_SERVE_BATCHING_ENABLED=false` (every request its own onnxruntime run)',
  },
];

/** The baseline build of the *-base targets (BENCH_BASELINE), as recorded by run.sh. */
const BASE = meta.versions?.['driftwatch baseline']
  ? `commit ${meta.versions['driftwatch baseline']}, checked out and built by bench/run.sh from BENCH_BASELINE`
  : 'BENCH_BASELINE';
/** Run only with BENCH_BASELINE; listed and tabled only when they ran. `of`: the target they are the baseline of. */
const BASE_TARGETS = [
  {
    id: 'driftwatch-base',
    of: 'driftwatch',
    short: 'driftwatch',
    label: 'driftwatch base',
    what: `as driftwatch (1 process, same settings), run from the baseline build (${BASE}): the same-run A/B for a change`,
  },
  {
    id: 'driftwatch-w2-base',
    of: 'driftwatch-w2',
    short: 'w2',
    label: 'driftwatch w2 base',
    what: `as driftwatch w2 (\`--workers 2\`), run from the baseline build (${BASE})`,
  },
];
const ran = (id) => runs.some((r) => r.target === id);
/** The targets the report lists and tables: the six always, the base ones when they ran. */
const SHOWN = [...TARGETS, ...BASE_TARGETS.filter((t) => ran(t.id))];
/** Base targets that ran together with the target they are the baseline of. */
const AB = BASE_TARGETS.filter((t) => ran(t.id) && ran(t.of));

const median = (xs) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const errorsOf = (w) => w.errors.connect + w.errors.read + w.errors.write + w.errors.timeout;

function cell(target, batch, conc) {
  const rs = runs.filter((r) => r.target === target && r.batch === batch && r.concurrency === conc);
  if (!rs.length) return null;
  return {
    runs: rs,
    rps: median(rs.map((r) => r.wrk.rps)),
    p50: median(rs.map((r) => r.wrk.latency_ms.p50)),
    p99: median(rs.map((r) => r.wrk.latency_ms.p99)),
    rpsMin: Math.min(...rs.map((r) => r.wrk.rps)),
    rpsMax: Math.max(...rs.map((r) => r.wrk.rps)),
    errors: rs.reduce((s, r) => s + errorsOf(r.wrk), 0),
    non2xx: rs.reduce((s, r) => s + r.wrk.non2xx, 0),
    bytesPerResponse: median(rs.map((r) => (r.wrk.requests ? r.wrk.bytes / r.wrk.requests : NaN))),
  };
}

const fmtRps = (x) => (Number.isFinite(x) ? (x >= 100 ? x.toFixed(0) : x.toFixed(1)) : '–');
const fmtMs = (x) => (Number.isFinite(x) ? (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)) : '–');
const fmtRatio = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : '–');
const warn = (c) => (c && (c.errors || c.non2xx) ? ' ⚠' : '');

const batches = meta.config.batches;
const concs = meta.config.concurrency;
const present = SHOWN.filter((t) => ran(t.id));
const m = meta.machine ?? {};
const lines = [];
const out = (s = '') => lines.push(s);

out('# driftwatch scoring benchmark');
out();
out('Generated by `bench/run.sh` (report: `bench/report.mjs`, raw data: `bench/out/results.json`). Do not edit by hand.');
out();
out(`- **Date:** ${meta.started_at} to ${meta.finished_at} (UTC)`);
out(`- **Machine:** ${m.nproc} CPUs (\`nproc\`), ${m.cpu_model}, ${m.mem_gb} GiB RAM, Linux ${m.kernel}; load average ${meta.loadavg} (start -> end)`);
out(
  `- **Node:** ${m.node}; ${Object.entries(meta.versions)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}`,
);
out(`- **Command:** \`${meta.command}\``);
out(
  `- **Runs:** wrk \`-t min(c,2) -c c -d ${meta.config.duration_s}s --timeout 10s --latency\` with \`bench/post.lua\`, ` +
    `${meta.config.warmup_s}s unrecorded warmup before every run; each cell run ${meta.config.repeat}x, targets interleaved round-robin; ` +
    `tables show the **median req/s** and the **median p99** over the repeats. Request bodies: the first N rows of vega-datasets seattle-weather.csv as MLflow \`dataframe_split\`.`,
);
out();
out('Targets (all serve the same seattle-weather model; every server was checked against a reference computed from weights.json before the runs):');
out();
for (const t of SHOWN) out(`- **${t.label}**: ${t.what}${present.includes(t) ? '' : ' — *not run*'}`);
out();

// ---------------------------------------------------------------- goal
out('## Goal');
out();
out(
  `driftwatch (1 process) reaches **>= ${GOAL.minThroughput}x the minimal server's throughput** at concurrency ` +
    `${GOAL.concurrency.join(' and ')}, with **p99 <= ${GOAL.maxP99}x the minimal server's p99**.`,
);
out();
const verdicts = [];
function verdict(batch, conc) {
  if (!GOAL.concurrency.includes(conc)) return 'not in goal';
  const d = cell('driftwatch', batch, conc);
  const mn = cell('minimal', batch, conc);
  if (!d || !mn) return 'not measured';
  const thr = d.rps / mn.rps;
  const p99 = d.p99 / mn.p99;
  const why = [];
  if (!(thr >= GOAL.minThroughput)) why.push(`throughput ${thr.toFixed(2)}x < ${GOAL.minThroughput}x`);
  if (!(p99 <= GOAL.maxP99)) why.push(`p99 ${p99.toFixed(2)}x > ${GOAL.maxP99}x`);
  if (d.errors || d.non2xx) why.push(`${d.errors} errors, ${d.non2xx} non-2xx`);
  const v = why.length ? `**misses** (${why.join('; ')})` : '**meets**';
  verdicts.push({ batch, conc, ok: !why.length, text: v, thr, p99 });
  return v;
}
const tables = [];
for (const batch of batches) {
  const t = [];
  const head = ['c'];
  for (const tg of SHOWN) head.push(`${tg.label} req/s`, `${tg.label} p99 ms`);
  head.push(
    'driftwatch / minimal req/s',
    'driftwatch / minimal p99',
    'driftwatch / Flask req/s',
    'w2 / minimal req/s',
    'express / lean req/s',
    'no-batch / minimal req/s',
    'no-batch / minimal p99',
  );
  for (const ab of AB) head.push(`${ab.short} / ${ab.short}-base req/s`, `${ab.short} / ${ab.short}-base p99`);
  head.push('goal');
  t.push(`| ${head.join(' | ')} |`);
  t.push(`|${head.map((_, i) => (i === 0 || i === head.length - 1 ? ':--' : '--:')).join('|')}|`);
  for (const conc of concs) {
    const c = Object.fromEntries(SHOWN.map((tg) => [tg.id, cell(tg.id, batch, conc)]));
    const row = [String(conc)];
    for (const tg of SHOWN) row.push(fmtRps(c[tg.id]?.rps) + warn(c[tg.id]), fmtMs(c[tg.id]?.p99));
    row.push(
      fmtRatio(c.driftwatch?.rps / c.minimal?.rps),
      fmtRatio(c.driftwatch?.p99 / c.minimal?.p99),
      fmtRatio(c.driftwatch?.rps / c.flask?.rps),
      fmtRatio(c['driftwatch-w2']?.rps / c.minimal?.rps),
      fmtRatio(c['driftwatch-express']?.rps / c.driftwatch?.rps),
      fmtRatio(c['driftwatch-nobatch']?.rps / c.minimal?.rps),
      fmtRatio(c['driftwatch-nobatch']?.p99 / c.minimal?.p99),
    );
    for (const ab of AB) row.push(fmtRatio(c[ab.of]?.rps / c[ab.id]?.rps), fmtRatio(c[ab.of]?.p99 / c[ab.id]?.p99));
    row.push(verdict(batch, conc));
    t.push(`| ${row.join(' | ')} |`);
  }
  tables.push({ batch, t });
}
if (verdicts.length) {
  const ok = verdicts.filter((v) => v.ok).length;
  out(`**${ok} of ${verdicts.length} goal cells met.**`);
  out();
  for (const v of verdicts) out(`- batch ${v.batch}, c=${v.conc}: ${v.text} — throughput ${v.thr.toFixed(2)}x, p99 ${v.p99.toFixed(2)}x`);
} else {
  out('No goal cells were measured (the goal needs driftwatch and minimal at c=16 or c=64).');
}
out();

// ---------------------------------------------------------------- this build against the baseline
if (AB.length) {
  // Each repeat is one pass of the round-robin, so a repeat's ratio pairs two runs of the same
  // pass (a few runs apart): the spread of those pairs shows how steady the difference is on a
  // noisy machine, which the ratio of the medians alone does not.
  const order = meta.config.targets ?? [];
  const paired = (cur, base, f) => {
    const ps = [];
    for (const r of cur.runs) {
      const q = base.runs.find((x) => x.repeat === r.repeat);
      const u = f(r.wrk),
        v = q ? f(q.wrk) : NaN;
      if (Number.isFinite(u) && Number.isFinite(v) && v > 0) ps.push(u / v);
    }
    return ps.sort((a, b) => a - b);
  };
  const range = (xs) => (xs.length ? `${fmtRatio(xs[0])}–${fmtRatio(xs[xs.length - 1])}, ${xs.length} pair${xs.length === 1 ? '' : 's'}` : 'no pairs');
  const rpsOf = (w) => w.rps;
  const p99Of = (w) => w.latency_ms.p99;
  out('## This build against the baseline');
  out();
  out(
    `This build (the working tree) against the baseline build (${BASE}); same run, same settings, same round-robin; not a goal. ` +
      'Per cell: the medians of both, their ratio (this build / baseline; req/s above 1x and p99 below 1x favour this build), ' +
      'then in brackets the range of the per-repeat ratios, each pairing the two runs of one round-robin pass, and how many pairs there were.',
  );
  out();
  for (const ab of AB) {
    const later = order.indexOf(ab.id) > order.indexOf(ab.of);
    const all = { rps: [], p99: [] };
    out(
      `**${ab.short} / ${ab.short}-base** (the base runs come ${later ? 'after' : 'before'} this build's in every pass, so drift within a pass is not cancelled):`,
    );
    out();
    for (const batch of batches)
      for (const conc of concs) {
        const x = cell(ab.of, batch, conc),
          y = cell(ab.id, batch, conc);
        if (!x || !y) continue;
        const rps = paired(x, y, rpsOf),
          p99 = paired(x, y, p99Of);
        all.rps.push(...rps);
        all.p99.push(...p99);
        out(
          `- batch ${batch}, c=${conc}: req/s ${fmtRps(x.rps)}${warn(x)} vs ${fmtRps(y.rps)}${warn(y)}: ${fmtRatio(x.rps / y.rps)} (${range(rps)}); ` +
            `p99 ${fmtMs(x.p99)} vs ${fmtMs(y.p99)} ms: ${fmtRatio(x.p99 / y.p99)} (${range(p99)})`,
        );
      }
    if (all.rps.length > 1 && batches.length * concs.length > 1) {
      all.rps.sort((a, b) => a - b);
      all.p99.sort((a, b) => a - b);
      out(
        `- all cells: median per-repeat req/s ratio ${fmtRatio(median(all.rps))} (${range(all.rps)}); median per-repeat p99 ratio ${fmtRatio(median(all.p99))} (${range(all.p99)})`,
      );
    }
    out();
  }
}

// ---------------------------------------------------------------- tables
for (const { batch, t } of tables) {
  out(`## Batch ${batch} row${batch === 1 ? '' : 's'} per request`);
  out();
  for (const l of t) out(l);
  out();
}
const anyWarn = runs.some((r) => errorsOf(r.wrk) || r.wrk.non2xx);
if (anyWarn) {
  out('⚠ = at least one run of that cell had socket errors or non-2xx answers; see the details below.');
  out();
}

// ---------------------------------------------------------------- incidents
if (events.length) {
  out('## Incidents');
  out();
  out('Servers that went away during the benchmark; each was restarted and a run it was in was discarded and repeated:');
  out();
  for (const e of events) out(`- ${e.time}: **${e.target}** ${e.how} ${e.context}`);
  out();
}

// ---------------------------------------------------------------- notes
out('## Notes');
out();
out(
  `- The machine has ${m.nproc} CPUs and wrk runs on it too, competing with the server for CPU; a single-process server ` +
    'gets roughly one core while wrk uses the rest. Absolute numbers are only comparable within one report; the ratios are the point.',
);
out(
  '- Flask under gunicorn sync workers closes the connection after every response (no keep-alive), so wrk reconnects for every request; that is how that deployment behaves.',
);
out(
  '- The minimal server serializes float32 probabilities via `Array.from(Float32Array)` + `JSON.stringify`, which prints the float64 ' +
    'expansions (longer numbers than driftwatch prints); compare the bytes per response in the details.',
);
out('- All servers stay up for the whole benchmark (each started once, checked, then measured in turn); the idle ones cost next to nothing.');
out('- wrk `--timeout 10s`: a request slower than that counts as a timeout error and is missing from the latency percentiles.');
out();

// ---------------------------------------------------------------- details
out('<details><summary>Spread and response sizes per cell</summary>');
out();
out('| batch | c | target | req/s median | req/s min–max | p50 ms | p99 ms | bytes/response | errors | non-2xx |');
out('|--:|--:|:--|--:|--:|--:|--:|--:|--:|--:|');
for (const batch of batches)
  for (const conc of concs)
    for (const tg of present) {
      const c = cell(tg.id, batch, conc);
      if (!c) continue;
      out(
        `| ${batch} | ${conc} | ${tg.label} | ${fmtRps(c.rps)} | ${fmtRps(c.rpsMin)}–${fmtRps(c.rpsMax)} | ${fmtMs(c.p50)} | ${fmtMs(c.p99)} | ` +
          `${Number.isFinite(c.bytesPerResponse) ? c.bytesPerResponse.toFixed(0) : '–'} | ${c.errors} | ${c.non2xx} |`,
      );
    }
out();
out('</details>');
out();
out('<details><summary>Every run (in execution order)</summary>');
out();
out('| # | target | batch | c | rep | req/s | p50 ms | p90 ms | p99 ms | max ms | errors (connect/read/write/timeout) | non-2xx |');
out('|--:|:--|--:|--:|--:|--:|--:|--:|--:|--:|:--|--:|');
runs.forEach((r, i) => {
  const w = r.wrk;
  const l = w.latency_ms;
  out(
    `| ${i + 1} | ${r.target} | ${r.batch} | ${r.concurrency} | ${r.repeat} | ${fmtRps(w.rps)} | ${fmtMs(l.p50)} | ${fmtMs(l.p90)} | ` +
      `${fmtMs(l.p99)} | ${fmtMs(l.max)} | ${w.errors.connect}/${w.errors.read}/${w.errors.write}/${w.errors.timeout} | ${w.non2xx} |`,
  );
});
out();
out('</details>');

// This report owns only its own section: the text between the serve-bench markers or, in a file
// written before there were markers, from the top to the next top-level heading. Every other
// section (the proxy benchmark's, the hand-written A/B sections, the stats and capture benches)
// is kept as it is; an earlier version rewrote the whole file and kept only the proxy section.
const START = '<!-- serve-bench:start -->';
const END = '<!-- serve-bench:end -->';
const section = `${START}\n${lines.join('\n')}\n${END}`;
let old = '';
try {
  old = readFileSync(outFile, 'utf8');
} catch {
  // no previous file
}
const a = old.indexOf(START);
const b = old.indexOf(END);
let next;
if (a >= 0 && b > a) next = old.slice(0, a) + section + old.slice(b + END.length);
else if (old.startsWith('# driftwatch scoring benchmark')) {
  const rest = old.search(/\n(# |<!-- )/);
  next = rest < 0 ? `${section}\n` : section + old.slice(rest);
} else next = old === '' ? `${section}\n` : `${section}\n\n${old}`;
writeFileSync(outFile, next);
console.log(`wrote ${outFile}`);
