/**
 * A challenger shadowing the example model, end to end on real onnxruntime: the agreement the
 * server measures is the one computed from the two models' weights on the same rows (within
 * sampling error when only a share is shadowed); a failing challenger leaves every answer
 * byte-identical; an overfull shadow queue drops and counts; the admin API, the gauges, the check
 * and `driftwatch challenger report --fail-on` read the same comparison; an alias move swaps the
 * roles under load with every request answered.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { toOnnx } from '../../examples/seattle-weather/build-model.js';
import { createServeApp, type ServeApp } from '../../src/app/serve-app.js';
import { createChallengerCheck } from '../../src/checks/challenger.js';
import { loadConfig } from '../../src/config/load.js';
import { LocalRegistry } from '../../src/registry/local-registry.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { EXAMPLE_MODEL_DIR, FEATURES, postJson, ROOT, tempDir, weatherRows } from '../helpers.js';
import { BASE, predict, type Weights } from '../example-weights.js';

/** A copy of the example model with changed weights (same signature and input example). */
function variantDir(dir: string, change: (w: Weights) => void): Weights {
  cpSync(EXAMPLE_MODEL_DIR, dir, { recursive: true });
  const w = structuredClone(BASE);
  change(w);
  writeFileSync(join(dir, 'model.onnx'), toOnnx({ ...w, trainAccuracy: 0 }));
  return w;
}

/** Traffic the example never saw: 2014-2015, one row per request. */
const ROWS = weatherRows('2014-01-01', '2015-12-31').map((r) => r.features);

const tmp = tempDir('dw-challenger-');
const registryRoot = join(tmp.dir, 'registry');
let challengerWeights: Weights;
let failingDir: string;

before(async () => {
  const reg = new LocalRegistry(registryRoot);
  await reg.createModelVersion({ name: 'weather', sourceDir: EXAMPLE_MODEL_DIR });
  // Version 2: the same model, more inclined to answer "sun" (one bias changed).
  challengerWeights = variantDir(join(tmp.dir, 'v2'), (w) => {
    w.bias[w.classes.indexOf('sun')]! += 1;
  });
  await reg.createModelVersion({ name: 'weather', sourceDir: join(tmp.dir, 'v2') });
  await reg.setAlias('weather', 'champion', 1);
  await reg.setAlias('weather', 'challenger', 2);
  // A challenger that cannot read the champion's requests: its signature wants a column they lack.
  failingDir = join(tmp.dir, 'failing');
  cpSync(EXAMPLE_MODEL_DIR, failingDir, { recursive: true });
  const mlmodel = readFileSync(join(failingDir, 'MLmodel'), 'utf8');
  writeFileSync(join(failingDir, 'MLmodel'), mlmodel.replace('"name":"wind"', '"name":"humidity"'));
  const example = JSON.parse(readFileSync(join(failingDir, 'input_example.json'), 'utf8'));
  example.columns = example.columns.map((c: string) => (c === 'wind' ? 'humidity' : c));
  writeFileSync(join(failingDir, 'input_example.json'), JSON.stringify(example));
});
after(() => tmp.cleanup());

async function start(model: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<{ app: ServeApp; url: string; admin: string }> {
  const config = loadConfig({
    env: {},
    overrides: {
      serve: { port: 0, models: [model], ...extra },
      registry: { root: registryRoot, pollIntervalMs: 100 },
      admin: { port: 0 },
      checks: { challenger: { minPairs: 50 } },
      log: { level: 'silent' },
    },
  });
  const app = createServeApp(config, { registry: new LocalRegistry(registryRoot), logger: createLogger({ level: 'silent' }) });
  const { scoring, admin } = await app.start();
  return { app, url: `http://127.0.0.1:${scoring.port}`, admin: `http://127.0.0.1:${admin!.port}` };
}

const body = (rows: number[][]) => JSON.stringify({ dataframe_split: { columns: FEATURES, data: rows } });

/** Sends every row as its own request from `concurrency` clients; answers in row order. */
async function sendAll(url: string, rows: number[][], concurrency = 4): Promise<Array<{ status: number; text: string; type: string | null }>> {
  const out = new Array<{ status: number; text: string; type: string | null }>(rows.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < rows.length) {
        const i = next++;
        const res = await fetch(`${url}/invocations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body([rows[i]!]) });
        out[i] = { status: res.status, text: await res.text(), type: res.headers.get('content-type') };
      }
    }),
  );
  return out;
}

/** Until every sampled request has an outcome (bounded wait). */
async function settled(app: ServeApp): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const s = [...app.shadows.values()][0]!;
    const c = s.counts;
    if (s.pending === 0 && c.scored + c.failed + c.dropped + c.notLoaded === c.sampled) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail('the shadow did not settle');
}

function expected(rows: number[][]): { agree: number; ties: number } {
  let agree = 0;
  let ties = 0;
  for (const x of rows) {
    const a = predict(BASE, x);
    const b = predict(challengerWeights, x);
    if (a.label === b.label) agree++;
    // float32 in onnxruntime vs float64 here: a near-tie may go either way.
    if (a.margin < 1e-3 || b.margin < 1e-3) ties++;
  }
  return { agree, ties };
}

describe('a challenger on every request', () => {
  let srv: Awaited<ReturnType<typeof start>>;
  before(async () => {
    srv = await start(
      { uri: 'models:/weather@champion', name: 'weather', challenger: 'models:/weather@challenger', shadowSample: 1 },
      { shadow: { queueSize: 100_000 } },
    );
  });
  after(() => srv.app.close());

  test('the agreement is the share of rows where the two models answer the same label', async () => {
    const answers = await sendAll(srv.url, ROWS);
    assert.ok(answers.every((a) => a.status === 200));
    // The champion's answers are the champion's (computed from its weights).
    const served = answers.map((a) => JSON.parse(a.text).predictions[0].label as string);
    const mismatched = served.filter((l, i) => l !== predict(BASE, ROWS[i]!).label).length;
    const { agree, ties } = expected(ROWS);
    assert.ok(mismatched <= ties, `${mismatched} champion answers differ from its weights (near-ties: ${ties})`);
    const share = agree / ROWS.length;
    assert.ok(share > 0.5 && share < 0.97, `the variant must disagree on a real share of rows (computed agreement ${share})`);
    await settled(srv.app);
    const report = (await (await fetch(`${srv.admin}/api/challenger`)).json()) as any;
    const m = report.models[0];
    assert.equal(m.model, 'weather');
    assert.equal(m.champion.version, '1');
    assert.equal(m.challenger.version, '2');
    assert.equal(m.shadow.sampled, ROWS.length);
    assert.equal(m.shadow.scored, ROWS.length);
    const c = m.comparisons[0];
    assert.equal(c.championVersion, '1');
    assert.equal(c.challengerVersion, '2');
    assert.equal(c.rows, ROWS.length);
    assert.ok(Math.abs(c.agreement * ROWS.length - agree) <= ties, `agreement ${c.agreement} vs computed ${share} (near-ties ${ties})`);
    // The confusion holds every row; its diagonal is the agreement.
    const cells = Object.entries(c.confusion as Record<string, Record<string, number>>).flatMap(([a, row]) =>
      Object.entries(row).map(([b, n]) => ({ a, b, n })),
    );
    assert.equal(
      cells.reduce((s, x) => s + x.n, 0),
      ROWS.length,
    );
    assert.equal(
      cells.filter((x) => x.a === x.b).reduce((s, x) => s + x.n, 0),
      Math.round(c.agreement * ROWS.length),
    );
    // Only the sun bias moved: every disagreement is the challenger answering "sun".
    assert.ok(cells.filter((x) => x.a !== x.b).every((x) => x.b === 'sun'));
    assert.ok(c.probDiff.count === ROWS.length && c.probDiff.max > 0);
    assert.equal(c.verdict.ready, false);
    assert.match(c.verdict.message, /^not ready: disagreement/);
    assert.equal(c.status, 'warn');

    const metrics = await (await fetch(`${srv.admin}/metrics`)).text();
    const line = metrics.split('\n').find((l) => l.startsWith('driftwatch_challenger_agreement{model="weather",champion_version="1",challenger_version="2"}'));
    assert.ok(line, 'agreement gauge');
    assert.ok(Math.abs(Number(line.split(' ').at(-1)) - c.agreement) < 1e-9);
    assert.match(metrics, /driftwatch_shadow_requests_total\{model="weather",outcome="scored"\} 730\b/);
    assert.match(metrics, /driftwatch_challenger_latency_p99_seconds\{[^}]*role="challenger"\} [0-9.e-]+/);

    // The check files the same verdict, about the model.
    const check = createChallengerCheck(loadConfig({ env: {}, overrides: { checks: { challenger: { minPairs: 50 } } } }).checks.challenger, {
      models: () => [...srv.app.shadows.keys()],
      spans: (from, to) => srv.app.comparisons.read(from, to),
    });
    const [f] = await check.run(Date.now());
    assert.equal(f!.check, 'challenger');
    assert.equal(f!.status, 'warn');
    assert.equal(f!.metric, 'disagreement');
    assert.ok(Math.abs(f!.value! - (1 - c.agreement)) < 1e-12);
    assert.equal(f!.threshold.warn, 0.05);
    assert.equal(f!.sampleSize, ROWS.length);
  });

  test('driftwatch challenger report prints the comparison and exits 3 under --fail-on warn', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const p = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), 'challenger', 'report', '--url', srv.admin, ...args], {
          cwd: ROOT,
          env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DRIFTWATCH_'))),
        });
        let out = '';
        let err = '';
        p.stdout.on('data', (d) => (out += d));
        p.stderr.on('data', (d) => (err += d));
        p.on('close', (code) => resolve({ code, out, err }));
      });
    const [plain, gated, json] = await Promise.all([run([]), run(['--fail-on', 'warn']), run(['--json', '--fail-on', 'fail'])]);
    assert.equal(plain.code, 0, plain.err);
    assert.match(plain.out, /weather: champion 1 .*challenger 2/);
    assert.match(plain.out, /agreement \d+\.\d%/);
    assert.match(plain.out, /WARN not ready: disagreement/);
    assert.equal(gated.code, 3, gated.err);
    assert.equal(json.code, 0, json.err);
    assert.equal(JSON.parse(json.out).models[0].comparisons[0].rows, ROWS.length);
  });
});

test('with a 30% sample the agreement is within sampling error of the computed one', async () => {
  const srv = await start(
    { uri: 'models:/weather@champion', name: 'weather', challenger: 'models:/weather@challenger', shadowSample: 0.3 },
    { shadow: { queueSize: 100_000 } },
  );
  try {
    const answers = await sendAll(srv.url, ROWS);
    assert.ok(answers.every((a) => a.status === 200));
    await settled(srv.app);
    const { agree, ties } = expected(ROWS);
    const p = agree / ROWS.length;
    const s = [...srv.app.shadows.values()][0]!;
    const n = s.counts.scored;
    // Binomial: the sampled count around 0.3 n, the measured agreement around p (5 sd: a false alarm in ~1e6 runs).
    assert.ok(Math.abs(s.counts.sampled - 0.3 * ROWS.length) <= 5 * Math.sqrt(ROWS.length * 0.3 * 0.7), `sampled ${s.counts.sampled}`);
    const c = (await srv.app.challengerReport({ fromMs: 0, toMs: Date.now() + 1 })).models[0]!.comparisons[0]!;
    assert.equal(c.rows, n);
    const sd = Math.sqrt((p * (1 - p)) / n);
    assert.ok(Math.abs(c.agreement! - p) <= 5 * sd + ties / n, `agreement ${c.agreement} vs ${p} (n=${n}, sd ${sd})`);
  } finally {
    await srv.app.close();
  }
});

test('a failing challenger leaves every answer byte-identical, and is counted', async () => {
  const plain = await start({ uri: 'models:/weather@champion', name: 'weather' });
  const shadowed = await start(
    { uri: 'models:/weather@champion', name: 'weather', challenger: failingDir, shadowSample: 1 },
    { shadow: { queueSize: 100_000 } },
  );
  try {
    assert.equal(plain.app.shadows.size, 0);
    const rows = ROWS.slice(0, 200);
    const oip = (x: number[]) => JSON.stringify({ inputs: FEATURES.map((f, j) => ({ name: f, shape: [1], datatype: 'FP64', data: [x[j]] })) });
    const requests: Array<{ path: string; body: string }> = [
      ...rows.map((x) => ({ path: '/invocations', body: body([x]) })),
      ...rows.slice(0, 50).map((x) => ({ path: '/v2/models/weather/infer', body: oip(x) })),
      { path: '/invocations', body: body(rows.slice(0, 20)) },
      { path: '/invocations', body: '{"dataframe_split": {"columns": ["nope"], "data": [[1]]}}' },
      { path: '/invocations', body: 'not json' },
    ];
    const send = async (url: string) => {
      const out: string[] = [];
      for (const r of requests) {
        const res = await fetch(url + r.path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: r.body });
        out.push(`${res.status} ${res.headers.get('content-type')} ${res.headers.get('x-driftwatch-model-version')} ${await res.text()}`);
      }
      return out;
    };
    const [a, b] = [await send(plain.url), await send(shadowed.url)];
    assert.deepEqual(b, a);
    assert.ok(a.filter((x) => x.startsWith('200 ')).length === 251 && a.filter((x) => x.startsWith('400 ')).length === 2);
    await settled(shadowed.app);
    const s = [...shadowed.app.shadows.values()][0]!;
    assert.equal(s.counts.sampled, 251, 'only answered requests are shadowed');
    assert.equal(s.counts.failed, 251);
    const m = (await shadowed.app.challengerReport({ fromMs: 0, toMs: Date.now() + 1 })).models[0]!;
    assert.equal(m.comparisons[0]!.challenger.errorRate, 1);
    assert.match(m.comparisons[0]!.verdict.message, /error rate 100\.0%/);
  } finally {
    await plain.app.close();
    await shadowed.app.close();
  }
});

test('over budget the shadow drops and counts, and every request is still answered', async () => {
  const srv = await start(
    { uri: 'models:/weather@champion', name: 'weather', challenger: 'models:/weather@challenger', shadowSample: 1 },
    { shadow: { queueSize: 1, maxConcurrent: 1 } },
  );
  try {
    const answers = await sendAll(srv.url, ROWS.slice(0, 300), 16);
    assert.ok(answers.every((a) => a.status === 200));
    await settled(srv.app);
    const c = [...srv.app.shadows.values()][0]!.counts;
    assert.equal(c.sampled, 300);
    assert.ok(c.dropped > 0, `dropped ${c.dropped}`);
    assert.equal(c.scored + c.dropped, 300);
    const metrics = await (await fetch(`${srv.admin}/metrics`)).text();
    assert.match(metrics, new RegExp(`driftwatch_shadow_requests_total\\{model="weather",outcome="dropped"\\} ${c.dropped}\\b`));
  } finally {
    await srv.app.close();
  }
});

test('moving the aliases swaps the roles under load, every request answered', async () => {
  const reg = new LocalRegistry(registryRoot);
  const srv = await start({ uri: 'models:/weather@champion', name: 'weather', challenger: 'models:/weather@challenger', shadowSample: 0.5 });
  try {
    let stop = false;
    const failures: string[] = [];
    const versions = new Set<string>();
    let total = 0;
    const client = async (k: number) => {
      for (let i = 0; i < 5000 && !stop; i++) {
        const r = await postJson(`${srv.url}/invocations`, body([ROWS[(k * 97 + i) % ROWS.length]!]));
        total++;
        if (r.status !== 200) failures.push(`${r.status} ${JSON.stringify(r.json)}`);
        versions.add(r.headers.get('x-driftwatch-model-version')!);
      }
    };
    const clients = Array.from({ length: 4 }, (_, k) => client(k));
    await new Promise((r) => setTimeout(r, 300));
    await reg.setAlias('weather', 'champion', 2);
    await reg.setAlias('weather', 'challenger', 1);
    const served = () => [srv.app.models.get('weather')!.current?.version, srv.app.shadows.get('weather')!.challenger.current?.version];
    for (let i = 0; i < 200 && served().join() !== '2,1'; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
    stop = true;
    await Promise.all(clients);
    assert.deepEqual(served(), ['2', '1']);
    assert.deepEqual(failures, [], `${failures.length} of ${total} requests failed`);
    assert.deepEqual([...versions].sort(), ['1', '2']);
    await settled(srv.app);
    const pairs = (await srv.app.challengerReport({ fromMs: 0, toMs: Date.now() + 1 })).models[0]!.comparisons.map(
      (c) => `${c.championVersion}->${c.challengerVersion}`,
    );
    assert.ok(pairs.includes('1->2') && pairs.includes('2->1'), pairs.join(' '));
  } finally {
    await srv.app.close();
    await reg.setAlias('weather', 'champion', 1);
    await reg.setAlias('weather', 'challenger', 2);
  }
});
