#!/usr/bin/env node
/**
 * Small helpers for bench/run.sh (plain Node, no build step):
 *
 *   node bench/tools.mjs bodies OUT_DIR N [N ...]   write OUT_DIR/body-N.json: the first N real rows of
 *                                                   vega-datasets seattle-weather.csv as dataframe_split
 *   node bench/tools.mjs freeport                   print a free TCP port on 127.0.0.1
 *   node bench/tools.mjs wait URL SECONDS           poll URL until it answers 200 (exit 1 on timeout)
 *   node bench/tools.mjs check URL BODY_FILE        POST the body, compare labels and probabilities with
 *                                                   the reference computed from weights.json; print the labels
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
// The package's "exports" map hides data/, so read the file by path instead of resolving it.
const CSV = join(ROOT, 'node_modules', 'vega-datasets', 'data', 'seattle-weather.csv');
const WEIGHTS = join(ROOT, 'examples', 'seattle-weather', 'weights.json');
const COLUMNS = ['precipitation', 'temp_max', 'temp_min', 'wind'];

function rows(n) {
  const lines = readFileSync(CSV, 'utf8').trim().split(/\r?\n/);
  const header = lines[0].split(',');
  const idx = COLUMNS.map((c) => header.indexOf(c));
  if (idx.some((i) => i < 0)) throw new Error(`${CSV}: missing one of ${COLUMNS.join(', ')}`);
  const data = lines.slice(1, 1 + n).map((l) => {
    const f = l.split(',');
    return idx.map((i) => Number(f[i]));
  });
  if (data.length < n) throw new Error(`${CSV} has only ${data.length} rows, need ${n}`);
  return data;
}

function reference(data) {
  const w = JSON.parse(readFileSync(WEIGHTS, 'utf8'));
  return data.map((x) => {
    const z = w.bias.map((b, k) => b + x.reduce((s, v, j) => s + ((v - w.mean[j]) / w.std[j]) * w.weights[j][k], 0));
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    const p = e.map((v) => v / s);
    return { label: w.classes[p.indexOf(Math.max(...p))], probabilities: p };
  });
}

const [cmd, ...args] = process.argv.slice(2);
switch (cmd) {
  case 'bodies': {
    const [out, ...sizes] = args;
    mkdirSync(out, { recursive: true });
    for (const n of sizes.map(Number)) {
      const body = { dataframe_split: { columns: COLUMNS, data: rows(n) } };
      writeFileSync(join(out, `body-${n}.json`), JSON.stringify(body));
    }
    break;
  }
  case 'freeport': {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => console.log(port));
    });
    break;
  }
  case 'wait': {
    const [url, seconds = '60'] = args;
    const deadline = Date.now() + Number(seconds) * 1000;
    for (;;) {
      try {
        const r = await fetch(url);
        if (r.status === 200) break;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) {
        console.error(`timed out after ${seconds}s waiting for ${url}`);
        process.exit(1);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    break;
  }
  case 'check': {
    const [url, bodyFile] = args;
    const body = readFileSync(bodyFile, 'utf8');
    const want = reference(JSON.parse(body).dataframe_split.data);
    const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const text = await r.text();
    if (r.status !== 200) {
      console.error(`HTTP ${r.status}: ${text.slice(0, 500)}`);
      process.exit(1);
    }
    const got = JSON.parse(text).predictions;
    const problems = [];
    if (!Array.isArray(got) || got.length !== want.length) {
      problems.push(`expected ${want.length} predictions, got ${Array.isArray(got) ? got.length : typeof got}`);
    } else {
      got.forEach((g, i) => {
        if (g.label !== want[i].label) problems.push(`row ${i}: label ${g.label}, expected ${want[i].label}`);
        const p = g.probabilities;
        if (!Array.isArray(p) || p.length !== want[i].probabilities.length) problems.push(`row ${i}: bad probabilities ${JSON.stringify(p)}`);
        else if (p.some((v, k) => Math.abs(v - want[i].probabilities[k]) > 1e-4))
          problems.push(`row ${i}: probabilities ${JSON.stringify(p)} differ from ${JSON.stringify(want[i].probabilities)}`);
      });
    }
    if (problems.length) {
      console.error(problems.slice(0, 5).join('\n'));
      process.exit(1);
    }
    console.log(got.map((g) => g.label).join(','));
    break;
  }
  default:
    console.error('usage: node bench/tools.mjs bodies|freeport|wait|check ...');
    process.exit(2);
}
