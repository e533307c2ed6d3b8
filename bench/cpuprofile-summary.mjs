#!/usr/bin/env node
/**
 * Summarises a V8 .cpuprofile (node --cpu-prof) of the proxy under load: self time by function
 * and by area (where the microseconds of a proxied request go).
 *
 *   node bench/cpuprofile-summary.mjs FILE.cpuprofile [REQUESTS] [TOP]
 *
 * With REQUESTS (what wrk completed while the profile ran) times are also shown per request.
 * Self time is attributed to the function on top of the stack; areas are guessed from the
 * script URL (node internals by module, npm packages by name, our src/ by folder).
 */
import { readFileSync } from 'node:fs';

const [file, requestsArg, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/cpuprofile-summary.mjs FILE.cpuprofile [REQUESTS] [TOP]');
  process.exit(2);
}
const prof = JSON.parse(readFileSync(file, 'utf8'));
const requests = Number(requestsArg) || 0;
const top = Number(topArg) || 40;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const selfUs = new Map();
const dt = prof.timeDeltas;
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i];
  selfUs.set(id, (selfUs.get(id) ?? 0) + (dt[i + 1] ?? dt[i] ?? 0));
}
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

function area(cf) {
  const u = cf.url || '';
  if (!u) return cf.functionName.startsWith('(') ? cf.functionName : '(native/builtin)';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
  if (m) return `npm:${m[1]}`;
  if (u.startsWith('node:')) {
    const mod = u.slice(5).replace(/^internal\//, 'internal/');
    if (/^internal\/streams\/|^stream/.test(mod)) return 'node:streams';
    if (/_http_|^http/.test(mod)) return 'node:http';
    if (/^net|internal\/(net|stream_base_commons)/.test(mod)) return 'node:net';
    if (/timers/.test(mod)) return 'node:timers';
    if (/events/.test(mod)) return 'node:events';
    return `node:${mod}`;
  }
  const s = /\/(src|bench|dist\/src)\/(.+)$/.exec(u);
  if (s) return `ours:${s[2].replace(/\.js$/, '')}`;
  return u;
}

const fns = new Map();
const areas = new Map();
for (const [id, us] of selfUs) {
  const n = byId.get(id);
  const cf = n.callFrame;
  const key = `${cf.functionName || '(anonymous)'} ${cf.url ? `${cf.url.replace(/^.*\/(node_modules|src)\//, '$1/')}:${cf.lineNumber + 1}` : ''}`;
  fns.set(key, (fns.get(key) ?? 0) + us);
  const a = area(cf);
  areas.set(a, (areas.get(a) ?? 0) + us);
}
const fmt = (us) => {
  const pct = ((us / total) * 100).toFixed(1).padStart(5);
  return requests ? `${pct}%  ${(us / requests).toFixed(2).padStart(7)} us/req` : `${pct}%`;
};
const idle = areas.get('(idle)') ?? 0;
console.log(
  `profile: ${(total / 1e6).toFixed(2)} s sampled, ${(idle / 1e6).toFixed(2)} s idle${requests ? `, ${requests} requests: ${((total - idle) / requests).toFixed(1)} us busy per request on the JS thread` : ''}`,
);
console.log('\nby area (self time):');
for (const [a, us] of [...areas].sort((x, y) => y[1] - x[1])) if (us / total > 0.002) console.log(`  ${fmt(us)}  ${a}`);
console.log(`\ntop ${top} functions (self time):`);
for (const [k, us] of [...fns].sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`  ${fmt(us)}  ${k}`);
