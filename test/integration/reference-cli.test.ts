/**
 * `driftwatch reference build|show` and `driftwatch stats` as a user runs them: real processes,
 * a real registry directory, the real training data; files that do not match the signature get
 * an error that says what is wrong, with the exit code of a failed command.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EXAMPLE_MODEL_DIR, FEATURES, ROOT, startServer, tempDir } from '../helpers.js';
import { EmbeddedStore } from '../../src/store/embedded.js';
import { emptyWindow, observeRequest, observeRows, windowStartMs } from '../../src/stats/window-profile.js';
import { latencyBounds } from '../../src/stats/latency-histogram.js';

const tmp = tempDir('dw-refcli-');
after(() => tmp.cleanup());
const CLI = [process.execPath, '--import', import.meta.resolve('tsx'), join(ROOT, 'src', 'cli', 'main.ts')];
const TRAINING = join(ROOT, 'examples', 'seattle-weather', 'training.csv');

function cli(...args: string[]) {
  const r = spawnSync(CLI[0]!, [...CLI.slice(1), ...args], {
    cwd: tmp.dir,
    env: { ...process.env, DRIFTWATCH_LOG_LEVEL: 'silent' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(() => {
  const r = cli('registry', 'register', '--name', 'seattle-weather', '--path', EXAMPLE_MODEL_DIR);
  assert.equal(r.code, 0, r.stderr);
});

test('reference build from the training CSV stores a profile that reference show reads back', () => {
  const r = cli('reference', 'build', '--model', 'models:/seattle-weather/1', '--data', TRAINING, '--bins', '8');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /reference of seattle-weather version 1: 731 rows/);
  assert.match(r.stdout, /input temp_max: numerical, 8 bins/);
  assert.match(r.stdout, /ignored column\(s\) that are not model inputs or outputs: date, weather/);
  assert.match(r.stderr, /read 731 rows/);
  const show = cli('reference', 'show', '--model', 'models:/seattle-weather/latest', '--json');
  assert.equal(show.code, 0, show.stderr);
  const ref = JSON.parse(show.stdout).reference;
  assert.equal(ref.rows, 731);
  assert.equal(ref.features.wind.binEdges.edges.length, 7);
  assert.equal(ref.features.precipitation.profile.count, 731);
});

test("reference build --label-column: the model's own predictions and its performance, equal to the scoring server's answers on the same rows", async () => {
  const r = cli('reference', 'build', '--model', 'models:/seattle-weather/1', '--data', TRAINING, '--label-column', 'weather');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /scoring 731 rows with seattle-weather version 1/);
  assert.match(
    r.stdout,
    /performance against weather \(731 labelled rows, predictions from the model\): accuracy 0\.\d{3}, macro F1 0\.\d{3}, log loss \d\.\d{3}; calibration maps for 5 class\(es\)/,
  );
  assert.match(r.stdout, /ignored column\(s\) that are not model inputs or outputs: date$/m);
  const ref = JSON.parse(cli('reference', 'show', '--model', 'models:/seattle-weather/1', '--json').stdout).reference;
  const perf = ref.performance;
  assert.equal(perf.labelColumn, 'weather');
  assert.equal(perf.predictionsFrom, 'model');
  assert.deepEqual(Object.keys(perf.calibration).sort(), ['drizzle', 'fog', 'rain', 'snow', 'sun']);
  // The reference profiles the predictions as live windows name them (probabilities split per class).
  assert.ok(ref.predictions.label && ref.predictions.probabilities_0 && ref.predictions.probabilities_4, Object.keys(ref.predictions).join(', '));

  // What the data and the real scoring server say, computed here on their own.
  const [head, ...lines] = readFileSync(TRAINING, 'utf8').trim().split('\n');
  const cols = head!.split(',');
  const days = lines.map((l) => l.split(',')).map((c) => ({ x: FEATURES.map((f) => Number(c[cols.indexOf(f)])), y: c[cols.indexOf('weather')]! }));
  const server = await startServer({ registryRoot: join(tmp.dir, 'serve-registry'), models: [{ uri: EXAMPLE_MODEL_DIR, name: 'seattle-weather' }] });
  let answers: Array<{ label: string; probabilities: number[] }>;
  try {
    const res = await fetch(`${server.url}/invocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ dataframe_split: { columns: FEATURES, data: days.map((d) => d.x) } }),
    });
    assert.equal(res.status, 200);
    answers = ((await res.json()) as { predictions: typeof answers }).predictions;
  } finally {
    await server.close();
  }
  const classes = ['drizzle', 'fog', 'rain', 'snow', 'sun'];
  const correct = days.filter((d, i) => answers[i]!.label === d.y).length;
  const logLoss =
    -days.reduce((a, d, i) => a + Math.log(Math.min(1 - 1e-15, Math.max(1e-15, answers[i]!.probabilities[classes.indexOf(d.y)]!))), 0) / days.length;
  assert.equal(perf.classification.n, 731);
  assert.equal(perf.classification.correct, correct);
  assert.ok(Math.abs(perf.classification.logLossSum / perf.classification.probRows - logLoss) < 1e-9, `log loss ${logLoss}`);
  for (const cls of classes) {
    const predictedAs = (a: string) => days.filter((d, i) => d.y === a && answers[i]!.label === cls).length;
    for (const actual of classes) assert.equal(perf.classification.confusion[actual]?.[cls] ?? 0, predictedAs(actual), `confusion[${actual}][${cls}]`);
  }
});

test('--label-column: a column the file lacks, an input column, or traffic as the source are refused', () => {
  const missing = cli('reference', 'build', '--model', 'models:/seattle-weather/1', '--data', TRAINING, '--label-column', 'Weather');
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr,
    /DW_ERR_REFERENCE_DATA: .*training\.csv has no label column Weather; its columns are date, precipitation, temp_max, temp_min, wind, weather \(column names are case-sensitive: did you mean weather\?\)/,
  );
  const input = cli('reference', 'build', '--model', 'models:/seattle-weather/1', '--data', TRAINING, '--label-column', 'wind');
  assert.equal(input.code, 1);
  assert.match(input.stderr, /the label column wind is an input of seattle-weather/);
  const traffic = cli('reference', 'build', '--model', 'models:/seattle-weather/1', '--from-traffic', '--since', '1h', '--label-column', 'weather');
  assert.equal(traffic.code, 2);
  assert.match(traffic.stderr, /--label-column needs --data FILE/);
});

test('JSON lines work too; a column the signature declares numeric must hold numbers', () => {
  const jsonl = join(tmp.dir, 'rows.jsonl');
  writeFileSync(
    jsonl,
    Array.from({ length: 50 }, (_, i) => JSON.stringify({ precipitation: i % 5, temp_max: 10 + i / 3, temp_min: i / 7, wind: 3 + (i % 4), note: 'x' })).join(
      '\n',
    ) + '\n',
  );
  const ok = cli('reference', 'build', '--model', 'models:/seattle-weather/1', '--data', jsonl);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /50 rows/);
  assert.match(ok.stdout, /ignored column\(s\) .*note/);

  const bad = join(tmp.dir, 'bad-value.csv');
  writeFileSync(bad, 'precipitation,temp_max,temp_min,wind\n0,1,2,3\n0,warm,2,3\n');
  const r = cli('reference', 'build', '--model', 'models:/seattle-weather/1', '--data', bad);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /DW_ERR_REFERENCE_DATA: .*bad-value\.csv line 3: column temp_max holds "warm", but the signature of seattle-weather declares it double/,
  );
});

test('a file whose columns do not match the signature gets an error that lists both sides and near misses', () => {
  const f = join(tmp.dir, 'wrong-columns.csv');
  writeFileSync(f, 'precipitation,Temp_Max,temp_min\n0,1,2\n');
  const r = cli('reference', 'build', '--model', 'models:/seattle-weather/1', '--data', f);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /DW_ERR_REFERENCE_DATA/);
  assert.match(r.stderr, /missing column\(s\) temp_max, wind/);
  assert.match(r.stderr, /the file has precipitation, Temp_Max, temp_min/);
  assert.match(r.stderr, /did you mean Temp_Max\?/);
  const ragged = join(tmp.dir, 'ragged.csv');
  writeFileSync(ragged, 'precipitation,temp_max,temp_min,wind\n0,1,2,3\n0,1,2\n');
  assert.match(cli('reference', 'build', '--model', 'models:/seattle-weather/1', '--data', ragged).stderr, /line 3 has 3 fields, the header has 4/);
  assert.match(
    cli('reference', 'build', '--model', 'models:/seattle-weather/1', '--data', join(tmp.dir, 'nope.csv')).stderr,
    /DW_ERR_REFERENCE_DATA: .*nope\.csv: cannot read/,
  );
});

test('usage errors exit 2 with a hint; a missing reference or version is a clear error', () => {
  for (const args of [
    ['reference', 'build', '--data', TRAINING],
    ['reference', 'build', '--model', 'models:/seattle-weather/1'],
    ['reference', 'build', '--model', EXAMPLE_MODEL_DIR, '--data', TRAINING],
    ['reference', 'build', '--model', 'models:/seattle-weather/1', '--from-traffic'],
    ['reference', 'build', '--model', 'models:/seattle-weather/1', '--from-traffic', '--since', 'yesterday'],
    ['reference', 'frobnicate', '--model', 'models:/seattle-weather/1'],
    ['stats', 'show'],
  ]) {
    const r = cli(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /DW_ERR_CLI_USAGE/);
  }
  const v9 = cli('reference', 'build', '--model', 'models:/seattle-weather/9', '--data', TRAINING);
  assert.equal(v9.code, 1);
  assert.match(v9.stderr, /DW_ERR_REGISTRY_VERSION_NOT_FOUND/);
});

test('stats series/show read the embedded store; reference build --from-traffic profiles stored traffic', async () => {
  assert.match(cli('stats', 'series').stdout, /No stored windows/);
  // Traffic as the sidecar would have stored it (the pipeline test covers the proxy side).
  const store = new EmbeddedStore({ path: join(tmp.dir, '.driftwatch', 'stats.db'), retentionDays: 30, rollupAfterHours: 48 });
  const w = emptyWindow({ model: 'seattle-weather', version: '1', startMs: windowStartMs(Date.now() - 120_000, 60), windowSeconds: 60 }, latencyBounds([]));
  const rows = Array.from({ length: 400 }, (_, i) => ({ precipitation: (i % 9) / 2, temp_max: 5 + (i % 25), temp_min: (i % 13) - 2, wind: 1 + (i % 7) }));
  for (let i = 0; i < 100; i++) observeRequest(w, 200, 2 + (i % 5));
  observeRows(
    w,
    rows,
    rows.map((_, i) => ({ label: i % 3 ? 'rain' : 'sun' })),
    null,
    { sketchK: 200, maxCategories: 100, maxFeatures: 64 },
  );
  await store.writeWindows([w]);
  await store.close();

  const series = cli('stats', 'series');
  assert.match(series.stdout, /seattle-weather {2}version 1 {2}/);
  const show = cli('stats', 'show', '--model', 'seattle-weather', '--since', '1h', '--json');
  assert.equal(show.code, 0, show.stderr);
  const v = JSON.parse(show.stdout).windows[0];
  assert.equal(v.rows, 400);
  assert.equal(v.requests['2xx'], 100);
  assert.equal(v.features.wind.count, 400);
  const text = cli('stats', 'show', '--model', 'seattle-weather', '--total');
  assert.match(text.stdout, /seattle-weather v1 .*\(merged\) {2}2xx=100 {2}rows 400/);

  const r = cli('reference', 'build', '--model', 'models:/seattle-weather/1', '--from-traffic', '--since', '1h');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /400 rows from traffic:/);
  assert.match(r.stdout, /prediction label: categorical, 2 categories/);
  const none = cli('reference', 'build', '--model', 'models:/seattle-weather/1', '--from-traffic', '--since', '2d', '--until', '1d');
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no traffic for seattle-weather version 1 between/);
});
