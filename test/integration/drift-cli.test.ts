/**
 * `driftwatch drift` (offline, two files) and `driftwatch check --once` as a user runs them: real
 * processes on real rows of the Seattle data set (winter 2012-2013 against summer 2014), the JSON
 * shape the issue promises, agreement with the library's scipy-checked KS, and clear usage errors.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ks2samp } from '../../src/drift/ks.js';
import { EXAMPLE_MODEL_DIR, ROOT, tempDir } from '../helpers.js';
import { mulberry32, normal } from '../prng.js';

const tmp = tempDir('dw-driftcli-');
after(() => tmp.cleanup());
const CLI = [process.execPath, '--import', import.meta.resolve('tsx'), join(ROOT, 'src', 'cli', 'main.ts')];
function cli(...args: string[]) {
  const r = spawnSync(CLI[0]!, [...CLI.slice(1), ...args], {
    cwd: tmp.dir,
    env: { ...process.env, DRIFTWATCH_LOG_LEVEL: 'silent' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const csv = readFileSync(join(ROOT, 'node_modules', 'vega-datasets', 'data', 'seattle-weather.csv'), 'utf8')
  .trim()
  .split('\n');
const header = csv[0]!;
const pick = (re: RegExp) => [header, ...csv.slice(1).filter((l) => re.test(l.slice(0, 10)))].join('\n') + '\n';
const WINTER = join(tmp.dir, 'winter.csv');
const SUMMER = join(tmp.dir, 'summer.jsonl');

before(() => {
  writeFileSync(WINTER, pick(/^201[23]-(12|01|02)/));
  // The current side as JSON lines, to cover both formats.
  const cols = header.split(',');
  const lines = csv
    .slice(1)
    .filter((l) => /^2014-(06|07|08)/.test(l))
    .map((l) => {
      const c = l.split(',');
      return JSON.stringify(Object.fromEntries(cols.map((k, i) => [k, i >= 1 && i <= 4 ? Number(c[i]) : c[i]])));
    });
  writeFileSync(SUMMER, lines.join('\n') + '\n');
});

test('winter vs summer: JSON report in the documented shape, KS equal to the library (scipy-checked) on the raw columns', () => {
  const r = cli('drift', '--reference', WINTER, '--current', SUMMER, '--format', 'json');
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  const byName = Object.fromEntries(report.features.map((f: any) => [f.name, f]));
  for (const name of ['precipitation', 'temp_max', 'temp_min', 'wind']) {
    const f = byName[name];
    assert.equal(f.kind, 'numerical');
    assert.equal(f.n_reference, 181);
    assert.equal(f.n_current, 92);
    assert.equal(f.psi.mode, 'fixed');
    assert.ok(f.psi.bins >= 3);
    assert.equal(f.ks.method, 'exact');
    assert.equal(typeof f.drifted, 'boolean');
    assert.equal(f.threshold, 0.05);
  }
  const col = (file: string, name: string) => {
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    if (file.endsWith('.csv')) {
      const i = lines[0]!.split(',').indexOf(name);
      return lines.slice(1).map((l) => Number(l.split(',')[i]));
    }
    return lines.map((l) => JSON.parse(l)[name] as number);
  };
  const lib = ks2samp(col(WINTER, 'temp_max'), col(SUMMER, 'temp_max'), { method: 'auto' });
  assert.equal(byName.temp_max.ks.statistic, lib.statistic);
  assert.equal(byName.temp_max.ks.pvalue, lib.pvalue);
  assert.equal(byName.temp_max.drifted, true);
  assert.equal(byName.weather.kind, 'categorical');
  assert.equal(byName.weather.ks, undefined, 'no KS for categorical columns');
  assert.ok(byName.weather.chi2.pvalue < 1e-6);
  assert.ok(report.drift_share > 0.5);
  assert.equal(report.dataset_drifted, true);
});

test('table output, Evidently PSI mode, corrections and --stat psi', () => {
  const t = cli('drift', '--reference', WINTER, '--current', SUMMER);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /^FEATURE\s+KIND\s+N_REF\s+N_CUR\s+PSI\s+KS\s+P-VALUE\s+DRIFTED/m);
  assert.match(t.stdout, /temp_max\s+numerical\s+181\s+92\s/);
  // Issue 23: the default rule is the test and an effect floor; the table says which effect it weighed.
  assert.match(
    t.stdout,
    /dataset DRIFTED \[psi fixed, ks auto, decided by p < 0.05 and an effect at its floor \(ks 0.1, psi 0.06, wasserstein 0.25, js 0.1\)\]/,
  );
  assert.match(t.stdout, /^temp_max\s+numerical\s+181\s+92\s.*YES\s+psi 15\.\d+ >= 0\.06/m);
  const old = cli('drift', '--reference', WINTER, '--current', SUMMER, '--rule', 'test-only');
  assert.match(old.stdout, /dataset DRIFTED \[psi fixed, ks auto, decided by p < 0.05\]/);
  const ev = JSON.parse(
    cli('drift', '--reference', WINTER, '--current', SUMMER, '--format', 'json', '--psi-mode', 'evidently', '--stat', 'psi', '--correction', 'bonferroni')
      .stdout,
  );
  const tmax = ev.features.find((f: any) => f.name === 'temp_max');
  assert.equal(tmax.psi.mode, 'evidently');
  assert.equal(tmax.stat, 'psi');
  assert.equal(tmax.threshold, 0.1);
  assert.ok(tmax.pvalue_adjusted >= tmax.ks.pvalue);
  const asymp = JSON.parse(cli('drift', '--reference', WINTER, '--current', SUMMER, '--format', 'json', '--ks-method', 'asymp').stdout);
  assert.equal(asymp.features.find((f: any) => f.name === 'wind').ks.method, 'asymp');
});

test('bad usage and bad files are clear errors', () => {
  for (const args of [
    ['drift', '--reference', WINTER],
    ['drift', '--reference', WINTER, '--current', SUMMER, '--format', 'xml'],
    ['drift', '--reference', WINTER, '--current', SUMMER, '--ks-method', 'fast'],
    ['drift', '--reference', WINTER, '--current', SUMMER, '--bins', '1'],
    ['check'],
  ]) {
    const r = cli(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /DW_ERR_CLI_USAGE/);
  }
  const other = join(tmp.dir, 'other.csv');
  writeFileSync(other, 'a,b\n1,2\n');
  const r = cli('drift', '--reference', WINTER, '--current', other);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /the files share no column/);
});

test('check --once prints findings (json) for the registry and the store', () => {
  assert.equal(cli('registry', 'register', '--name', 'weather', '--path', EXAMPLE_MODEL_DIR).code, 0);
  assert.equal(cli('registry', 'transition', 'weather', '1', '--stage', 'Production').code, 0);
  const r = cli('check', '--once', '--format', 'json');
  assert.equal(r.code, 0, r.stderr);
  const { findings } = JSON.parse(r.stdout);
  // No traffic yet: no drift findings; staleness reports on the Production version.
  const st = findings.filter((f: any) => f.check === 'staleness');
  assert.ok(st.length >= 2);
  assert.ok(st.every((f: any) => f.subject.model === 'weather' && f.subject.version === '1' && f.status === 'ok'));
  const table = cli('check', '--once');
  assert.match(table.stdout, /^OK\s+staleness weather v1 \(Production\): registered 0\.0 days ago/m);
});

test('drift --fail-on: 3 when drifted at the level, 0 when not, 2 for a bad level (issue 19 item 3)', () => {
  assert.equal(cli('drift', '--reference', WINTER, '--current', SUMMER, '--fail-on', 'dataset').code, 3);
  assert.equal(cli('drift', '--reference', WINTER, '--current', SUMMER, '--fail-on', 'column', '--format', 'json').code, 3);
  // The same file on both sides never drifts: the gate passes.
  assert.equal(cli('drift', '--reference', WINTER, '--current', WINTER, '--fail-on', 'column').code, 0);
  const bad = cli('drift', '--reference', WINTER, '--current', SUMMER, '--fail-on', 'warn');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--fail-on must be one of column, dataset/);
  assert.match(cli('drift', '--help').stdout, /Exit codes: 0 compared[\s\S]*3 drifted at the --fail-on level/);
});

test('check --once --fail-on: 3 for a finding at or above the level, 0 below it, 2 for a bad level (issue 19 item 3)', () => {
  // A second version while v1 stays in Production: the staleness check warns (newer version).
  assert.equal(cli('registry', 'register', '--name', 'gate', '--path', EXAMPLE_MODEL_DIR).code, 0);
  assert.equal(cli('registry', 'transition', 'gate', '1', '--stage', 'Production').code, 0);
  assert.equal(cli('registry', 'register', '--name', 'gate', '--path', EXAMPLE_MODEL_DIR).code, 0);
  const plain = cli('check', '--once');
  assert.equal(plain.code, 0, 'without --fail-on the exit code stays 0');
  assert.match(plain.stdout, /^WARN\s+staleness gate v1/m);
  assert.equal(cli('check', '--once', '--fail-on', 'warn').code, 3);
  assert.equal(cli('check', '--once', '--fail-on', 'fail', '--format', 'json').code, 0);
  const bad = cli('check', '--once', '--fail-on', 'error');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--fail-on must be warn or fail/);
  assert.match(cli('check', '--help').stdout, /3 a finding at or above --fail-on/);
});

test('issue 23: 50,000 rows of N(0,1) against 200,000 of N(0.03,1) is not a drift by default; a 0.3-sigma shift at 1,000 rows is', () => {
  const r = mulberry32(23);
  const file = (name: string, n: number, shift: number) => {
    const path = join(tmp.dir, name);
    const lines = ['x'];
    for (let i = 0; i < n; i++) lines.push(String(shift + normal(r)));
    writeFileSync(path, lines.join('\n') + '\n');
    return path;
  };
  const ref = file('ref.csv', 50_000, 0);
  const tiny = file('tiny.csv', 200_000, 0.03);
  const out = cli('drift', '--reference', ref, '--current', tiny, '--format', 'json', '--fail-on', 'column');
  assert.equal(out.code, 0, out.stderr);
  const f = JSON.parse(out.stdout).features[0];
  assert.ok(f.ks.pvalue < 0.05, `significant: p = ${f.ks.pvalue}`);
  assert.equal(f.drifted, false);
  assert.equal(f.decision.decided_by, 'effect');
  assert.ok(f.decision.effect.value < f.decision.effect.floor);
  // The old rule, on request: the test alone.
  assert.equal(cli('drift', '--reference', ref, '--current', tiny, '--rule', 'test-only', '--fail-on', 'column').code, 3);
  // A floor set low enough makes the 0.03-sigma shift "big enough".
  assert.equal(cli('drift', '--reference', ref, '--current', tiny, '--min-effect', 'ks=0.005,psi=0.0005,wasserstein=0.01', '--fail-on', 'column').code, 3);

  const small = file('small-ref.csv', 1_000, 0);
  const shifted = file('shifted.csv', 1_000, 0.3);
  const table = cli('drift', '--reference', small, '--current', shifted, '--fail-on', 'column');
  assert.equal(table.code, 3, table.stdout);
  assert.match(table.stdout, /^x\s+numerical\s+1000\s+1000\s.*YES\s+(ks_statistic|psi|wasserstein) \S+ >= \S+$/m);
  for (const bad of ['ks', 'ks=-1', 'speed=1', 'constructor=1']) {
    const u = cli('drift', '--reference', small, '--current', shifted, '--min-effect', bad);
    assert.equal(u.code, 2, bad);
    assert.match(u.stderr, /--min-effect takes STAT=VALUE pairs/);
  }
});
