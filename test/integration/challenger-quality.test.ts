/**
 * Both models' quality on the same labelled requests, as `driftwatch start` composes it
 * (app/all-in-one.ts): the real scoring server serves the example model (champion) and shadows a
 * challenger trained differently (its "sun" bias raised by one), behind the real proxy, whose
 * capture logs the champion's predictions by request id while the shadow logs the challenger's
 * under the same ids. Seattle's observed `weather` is posted as labels. Checked:
 *  - both accuracies (report, finding, gauge) equal the ones computed directly from each model's
 *    answers on the labelled requests: the champion's as its clients received them, the
 *    challenger's from the float64 reference predictor (test/example-weights.ts);
 *  - too few labelled pairs: the quality rule is not evaluated, and says so without blocking;
 *  - on 2013's days the challenger is 2.5 accuracy points worse: "not ready" fires through the
 *    alert path to a real webhook receiver; with the roles swapped (the aliases move) the
 *    challenger is the better one and the alert resolves;
 *  - `driftwatch challenger report` prints both accuracies and --fail-on honours the rule.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { chromium } from 'playwright-core';
import { type AllInOneApp, createAllInOneApp } from '../../src/app/all-in-one.js';
import { createServeApp } from '../../src/app/serve-app.js';
import type { ChallengerReport } from '../../src/challenger/report.js';
import { formatReport, reportExitCode } from '../../src/cli/challenger.js';
import { loadConfig } from '../../src/config/load.js';
import { SqlitePredictionLog } from '../../src/outcomes/sqlite-prediction-log.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { weatherWithChallenger } from '../challenger-fixture.js';
import { BASE, predict } from '../example-weights.js';
import { FEATURES, tempDir, weatherRows } from '../helpers.js';

const tmp = tempDir('dw-challenger-quality-');
const CHROMIUM = process.env.DRIFTWATCH_TEST_CHROMIUM || '/usr/bin/chromium';

/** Both accuracies as the status page's challenger section shows them (headless Chromium); null when there is no browser here. */
async function pageAccuracies(adminUrl: string): Promise<{ pairs: number; champion: number; challenger: number; text: string } | null> {
  if (!existsSync(CHROMIUM)) {
    const reason = `${CHROMIUM} not found (Debian package chromium); the status page's quality line is not checked`;
    if (process.env.DRIFTWATCH_TEST_REQUIRE_CHROMIUM === '1') assert.fail(`${reason}, and DRIFTWATCH_TEST_REQUIRE_CHROMIUM=1`);
    console.warn(`WARNING: ${reason}`);
    return null;
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless'] });
  try {
    const page = await browser.newPage();
    await page.goto(`${adminUrl}/ui`);
    await page.waitForSelector('#status[data-refreshes="1"]');
    return await page.$eval('section.challenger p[data-quality-pairs]', (p) => ({
      pairs: Number(p.getAttribute('data-quality-pairs')),
      champion: Number(p.getAttribute('data-champion-accuracy')),
      challenger: Number(p.getAttribute('data-challenger-accuracy')),
      text: p.textContent ?? '',
    }));
  } finally {
    await browser.close();
  }
}
after(() => tmp.cleanup());

const CLASSES = ['drizzle', 'fog', 'rain', 'snow', 'sun'];
/** The challenger of test/challenger-fixture.ts, in float64. */
const V2 = { ...BASE, bias: BASE.bias.map((b, i) => (BASE.classes[i] === 'sun' ? b + 1 : b)) };
const WEIGHTS: Record<string, typeof BASE> = { '1': BASE, '2': V2 };

interface Sent {
  id: string;
  /** The champion's label as the client received it. */
  champion: string;
  features: number[];
  actual: string;
}

type Finding = { check: string; status: string; metric: string; value: number | null; message: string; detail: Record<string, any> };

test('both models’ accuracy on the same labelled requests: reported, judged, alerted and resolved', async () => {
  const got: Array<{ alerts: Array<{ check: string; status: string; metric: string }> }> = [];
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push(JSON.parse(Buffer.concat(chunks).toString()));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const reg = await weatherWithChallenger(tmp.dir);
  await reg.registry.setAlias('weather', 'champion', 1);
  await reg.registry.setAlias('weather', 'challenger', 2);
  const never = '0 3 1 1 *';
  const config = loadConfig({
    env: {},
    overrides: {
      serve: { port: 0, models: [{ uri: 'models:/weather@champion', name: 'weather', challenger: 'models:/weather@challenger', shadowSample: 1 }] },
      proxy: { port: 0 },
      admin: { port: 0 },
      registry: { root: reg.registryRoot, pollIntervalMs: 100 },
      store: { embedded: { path: join(tmp.dir, 'stats.db') } },
      stats: { flushIntervalMs: 60_000 },
      labels: { enabled: true, path: join(tmp.dir, 'predictions.db'), classes: CLASSES },
      checks: {
        findingsPath: join(tmp.dir, 'findings.db'),
        drift: { schedule: never },
        slo: { schedule: never },
        staleness: { schedule: never, noTraffic: '' },
        dataQuality: { schedule: never },
        quality: { schedule: never },
        // Only the quality rule may decide: the other rules pass whatever this machine's load.
        challenger: { schedule: never, minPairs: 30, maxDisagreement: 1, maxLatencyRatio: 1000, minLabelledPairs: 100, maxQualityDrop: 0.01 },
      },
      alerts: {
        outboxPath: join(tmp.dir, 'alerts.db'),
        receivers: [
          {
            name: 'ops',
            kind: 'webhook',
            url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
            secret: `whsec_${Buffer.from('driftwatch-test-secret-0123456789').toString('base64')}`,
          },
        ],
        retryInitialDelayMs: 20,
      },
      log: { level: 'silent' },
    },
  });
  const app: AllInOneApp = createAllInOneApp(config, { logger: createLogger({ level: 'silent' }), registry: reg.registry });
  try {
    const { proxy, admin } = await app.start();
    const proxyUrl = `http://127.0.0.1:${proxy.port}`;
    const adminUrl = `http://127.0.0.1:${admin!.port}`;
    const days = weatherRows('2013-01-01', '2013-12-31');

    /** A year of days: the first 10 one per request (the id is the request id), the rest 5 per request (`<id>#<row>`). */
    const traffic = async (prefix: string): Promise<Sent[]> => {
      const sent: Sent[] = [];
      for (let i = 0; i < days.length; ) {
        const n = i < 10 ? 1 : 5;
        const part = days.slice(i, i + n);
        const res = await fetch(`${proxyUrl}/invocations`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-request-id': `${prefix}-${i}` },
          body: JSON.stringify({ dataframe_split: { columns: FEATURES, data: part.map((d) => d.features) } }),
        });
        assert.equal(res.status, 200);
        const id = res.headers.get('x-request-id')!;
        assert.equal(id, `${prefix}-${i}`);
        const body = (await res.json()) as { predictions: Array<{ label: string }> };
        part.forEach((d, j) => sent.push({ id: n === 1 ? id : `${id}#${j}`, champion: body.predictions[j]!.label, features: d.features, actual: d.weather }));
        i += n;
      }
      // Every sampled request has an outcome, then both models' records are in the log.
      const shadow = app.serveApp.shadows.get('weather')!;
      const done = () => shadow.counts.scored + shadow.counts.failed + shadow.counts.dropped + shadow.counts.notLoaded === shadow.counts.sampled;
      for (let i = 0; i < 400 && !done(); i++) await new Promise((r) => setTimeout(r, 25));
      assert.ok(done(), 'the shadow settled');
      assert.equal(shadow.counts.failed + shadow.counts.dropped + shadow.counts.notLoaded, 0);
      await app.proxy()!.flushStats();
      await app.serveApp.shadowPredictions!.flush();
      return sent;
    };
    const label = async (rows: readonly Sent[]) => {
      const res = await fetch(`${adminUrl}/api/labels`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(rows.map((s) => ({ request_id: s.id, label: s.actual }))),
      });
      const json = (await res.json()) as { matched: number };
      assert.equal(res.status, 200);
      assert.equal(json.matched, rows.length, JSON.stringify(json));
    };
    const runChecks = async (): Promise<Finding> => {
      const r = await fetch(`${adminUrl}/api/checks/run`, { method: 'POST' });
      const findings = ((await r.json()) as { findings: Finding[] }).findings.filter((f) => f.check === 'challenger');
      assert.equal(findings.length, 1);
      return findings[0]!;
    };
    const report = async (): Promise<ChallengerReport> => (await (await fetch(`${adminUrl}/api/challenger`)).json()) as ChallengerReport;
    const latestPair = (r: ChallengerReport) => [...r.models[0]!.comparisons].sort((a, b) => a.to.localeCompare(b.to)).at(-1)!;
    const mine = () => got.flatMap((n) => n.alerts.filter((a) => a.check === 'challenger'));
    const delivered = async (n: number) => {
      for (let i = 0; i < 200 && mine().length < n; i++) await new Promise((r) => setTimeout(r, 25));
      assert.equal(mine().length, n, JSON.stringify(got));
    };
    /** What each model scored on these rows, computed directly from its answers. */
    const accuracies = (rows: readonly Sent[], challengerVersion: string) => ({
      champion: rows.filter((s) => s.champion === s.actual).length / rows.length,
      challenger: rows.filter((s) => predict(WEIGHTS[challengerVersion]!, s.features).label === s.actual).length / rows.length,
    });
    const gauge = async (champion: string, challenger: string, role: string) => {
      const text = await (await fetch(`${adminUrl}/metrics`)).text();
      const m = new RegExp(
        `^driftwatch_challenger_quality\\{model="weather",champion_version="${champion}",challenger_version="${challenger}",role="${role}",metric="accuracy"\\} (\\S+)$`,
        'm',
      ).exec(text);
      assert.ok(m, `no ${role} accuracy gauge for ${champion}->${challenger}`);
      return Number(m[1]);
    };

    // 1. Champion 1, challenger 2: with 20 labels the quality rule is not evaluated, and says so.
    const first = await traffic('a');
    assert.ok(
      first.every((s) => predict(BASE, s.features).margin > 1e-4 && predict(V2, s.features).margin > 1e-4),
      'no day is a near tie for float32',
    );
    await label(first.slice(0, 20));
    const few = await runChecks();
    assert.equal(few.status, 'ok', few.message);
    assert.equal(few.detail.quality.evaluated, false);
    assert.equal(few.detail.quality.labelled_pairs, 20);
    assert.match(few.detail.quality.note, /^20 labelled pairs < 100 needed$/);
    assert.match(few.message, /ready to promote: .*; quality not evaluated: 20 labelled pairs < 100 needed/);
    const fewRule = (few.detail.rules as Array<{ rule: string; evaluated?: boolean; ok: boolean }>).find((r) => r.rule === 'quality')!;
    assert.deepEqual([fewRule.evaluated, fewRule.ok], [false, true]);

    // 2. Every day labelled: the challenger is worse by more than a point; the alert fires.
    await label(first.slice(20));
    const expected = accuracies(first, '2');
    assert.ok(expected.champion - expected.challenger > 0.01, `2013: champion ${expected.champion}, challenger ${expected.challenger}`);
    const worse = await runChecks();
    assert.equal(worse.status, 'warn', worse.message);
    assert.equal(worse.metric, 'quality');
    assert.equal(worse.detail.quality.evaluated, true);
    assert.equal(worse.detail.quality.labelled_pairs, first.length);
    assert.equal(worse.detail.quality.champion.accuracy, expected.champion);
    assert.equal(worse.detail.quality.challenger.accuracy, expected.challenger);
    assert.ok(Math.abs(worse.value! - (expected.champion - expected.challenger)) < 1e-12);
    assert.match(worse.message, /not ready: accuracy 78\.6% vs the champion's 81\.1% \(drop 2\.5% > 1\.0%, 365 labelled pairs\)/);
    await delivered(1);
    assert.deepEqual([mine()[0]!.status, mine()[0]!.metric], ['firing', 'quality']);
    // The same numbers in GET /api/challenger, the CLI's report and the gauge.
    const r1 = await report();
    const q1 = latestPair(r1).quality!;
    assert.deepEqual(
      [q1.labelledPairs, q1.task, q1.champion.accuracy, q1.challenger.accuracy],
      [first.length, 'classification', expected.champion, expected.challenger],
    );
    assert.equal(latestPair(r1).status, 'warn');
    assert.equal(reportExitCode(r1, 'warn'), 3);
    const printed = formatReport(r1);
    assert.match(printed, /quality on 365 labelled requests/);
    assert.match(printed, /champion {3}accuracy 81\.1%/);
    assert.match(printed, /challenger accuracy 78\.6%/);
    assert.equal(await gauge('1', '2', 'champion'), expected.champion);
    assert.equal(await gauge('1', '2', 'challenger'), expected.challenger);
    const shown = await pageAccuracies(adminUrl);
    if (shown) {
      assert.deepEqual([shown.pairs, shown.champion, shown.challenger], [first.length, expected.champion, expected.challenger]);
      assert.match(shown.text, /On 365 labelled requests: champion accuracy 81%, challenger accuracy 79%/);
    }

    // 3. Roles swapped (the aliases move): the challenger is now the better model; the alert resolves.
    await reg.registry.setAlias('weather', 'champion', 2);
    await reg.registry.setAlias('weather', 'challenger', 1);
    const champion = app.serveApp.models.get('weather')!;
    const challenger = app.serveApp.shadows.get('weather')!.challenger;
    for (let i = 0; i < 400 && (champion.current?.version !== '2' || challenger.current?.version !== '1'); i++) await new Promise((r) => setTimeout(r, 25));
    assert.deepEqual([champion.current?.version, challenger.current?.version], ['2', '1']);
    const second = await traffic('b');
    await label(second);
    const swapped = accuracies(second, '1');
    assert.equal(swapped.champion, expected.challenger, 'the champion now answers as the challenger did');
    const better = await runChecks();
    assert.equal(better.status, 'ok', better.message);
    assert.equal(better.detail.champion_version, '2');
    assert.equal(better.detail.quality.champion.accuracy, swapped.champion);
    assert.equal(better.detail.quality.challenger.accuracy, swapped.challenger);
    assert.match(better.message, /ready to promote: .*accuracy 81\.1% vs the champion's 78\.6%/);
    await delivered(2);
    assert.equal(mine()[1]!.status, 'resolved');
    const r2 = await report();
    assert.equal(latestPair(r2).quality!.challenger.accuracy, swapped.challenger);
    assert.equal(reportExitCode(r2, 'warn'), 0);
    assert.equal(await gauge('2', '1', 'challenger'), swapped.challenger);
    const metrics = await (await fetch(`${adminUrl}/metrics`)).text();
    assert.doesNotMatch(metrics, /driftwatch_challenger_quality\{model="weather",champion_version="1"/, "the old pair's series went with the alias move");
    assert.match(metrics, new RegExp(`^driftwatch_shadow_predictions_total\\{outcome="written"\\} ${first.length + second.length}$`, 'm'));
  } finally {
    await app.close();
    receiver.close();
  }
});

test('keyed by labels.idColumn, over MLflow and Open Inference requests: the same pairs, the same accuracies', async () => {
  const dir = join(tmp.dir, 'idcol');
  const reg = await weatherWithChallenger(dir);
  const config = loadConfig({
    env: {},
    overrides: {
      serve: { port: 0, models: [{ uri: 'models:/weather/1', name: 'weather', challenger: 'models:/weather/2', shadowSample: 1 }] },
      proxy: { port: 0 },
      admin: { port: 0 },
      registry: { root: reg.registryRoot },
      store: { embedded: { path: join(dir, 'stats.db') } },
      stats: { flushIntervalMs: 60_000 },
      labels: { enabled: true, path: join(dir, 'predictions.db'), classes: CLASSES, idColumn: 'row_id' },
      checks: { enabled: false, findingsPath: join(dir, 'findings.db'), challenger: { minLabelledPairs: 10 } },
      alerts: { outboxPath: join(dir, 'alerts.db') },
      log: { level: 'silent' },
    },
  });
  const app = createAllInOneApp(config, { logger: createLogger({ level: 'silent' }), registry: reg.registry });
  try {
    const { proxy, admin } = await app.start();
    const proxyUrl = `http://127.0.0.1:${proxy.port}`;
    const days = weatherRows('2013-06-01', '2013-08-31');
    const sent: Sent[] = [];
    for (let i = 0; i < days.length; i += 8) {
      const part = days.slice(i, i + 8);
      const ids = part.map((d) => `day-${d.date}`);
      // Alternate the protocols; no X-Request-ID: the id column is the key.
      const oip = (i / 8) % 2 === 1;
      const res = oip
        ? await fetch(`${proxyUrl}/v2/models/weather/infer`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              inputs: [
                ...FEATURES.map((f, k) => ({ name: f, shape: [part.length], datatype: 'FP64', data: part.map((d) => d.features[k]) })),
                { name: 'row_id', shape: [part.length], datatype: 'BYTES', data: ids },
              ],
            }),
          })
        : await fetch(`${proxyUrl}/invocations`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              dataframe_records: part.map((d, j) => ({ row_id: ids[j], ...Object.fromEntries(FEATURES.map((f, k) => [f, d.features[k]])) })),
            }),
          });
      assert.equal(res.status, 200, await res.clone().text());
      const body = (await res.json()) as { predictions?: Array<{ label: string }>; outputs?: Array<{ name: string; data: string[] }> };
      const labels = oip ? body.outputs!.find((o) => o.name === 'label')!.data : body.predictions!.map((p) => p.label);
      part.forEach((d, j) => sent.push({ id: ids[j]!, champion: labels[j]!, features: d.features, actual: d.weather }));
    }
    const shadow = app.serveApp.shadows.get('weather')!;
    for (let i = 0; i < 400 && shadow.counts.scored < shadow.counts.sampled; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(shadow.counts.scored, Math.ceil(days.length / 8));
    await app.proxy()!.flushStats();
    await app.serveApp.shadowPredictions!.flush();
    const posted = await fetch(`http://127.0.0.1:${admin!.port}/api/labels`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(sent.map((s) => ({ request_id: s.id, label: s.actual }))),
    });
    const pj = (await posted.json()) as { matched: number };
    assert.equal(pj.matched, sent.length);
    const report = (await (await fetch(`http://127.0.0.1:${admin!.port}/api/challenger`)).json()) as ChallengerReport;
    const q = report.models[0]!.comparisons[0]!.quality!;
    assert.equal(q.labelledPairs, sent.length);
    assert.equal(q.champion.accuracy, sent.filter((s) => s.champion === s.actual).length / sent.length);
    assert.equal(q.challenger.accuracy, sent.filter((s) => predict(V2, s.features).label === s.actual).length / sent.length);
    assert.notEqual(q.champion.accuracy, q.challenger.accuracy);
  } finally {
    await app.close();
  }
});

test('driftwatch serve alone: rows keyed by the X-Request-ID it is given; without one nothing is logged, and that is counted', async () => {
  const dir = join(tmp.dir, 'serve-alone');
  const reg = await weatherWithChallenger(dir);
  const config = loadConfig({
    env: {},
    overrides: {
      serve: { port: 0, models: [{ uri: 'models:/weather/1', name: 'weather', challenger: 'models:/weather/2', shadowSample: 1 }] },
      admin: { port: 0 },
      registry: { root: reg.registryRoot },
      stats: { flushIntervalMs: 60_000 },
      labels: { enabled: true, path: join(dir, 'predictions.db'), classes: CLASSES },
      log: { level: 'silent' },
    },
  });
  const app = createServeApp(config, { registry: reg.registry, logger: createLogger({ level: 'silent' }) });
  try {
    const { scoring, admin } = await app.start();
    const days = weatherRows('2013-01-01', '2013-01-05');
    for (const [i, d] of days.entries()) {
      const res = await fetch(`http://127.0.0.1:${scoring.port}/invocations`, {
        method: 'POST',
        // What a sidecar in front forwards (proxy/forwarding.ts) for the first two; nothing for the rest.
        headers: { 'content-type': 'application/json', ...(i < 2 ? { 'x-request-id': `given-${i}` } : {}) },
        body: JSON.stringify({ dataframe_split: { columns: FEATURES, data: [d.features] } }),
      });
      assert.equal(res.status, 200);
      await res.text();
    }
    const shadow = app.shadows.get('weather')!;
    for (let i = 0; i < 400 && shadow.counts.scored < days.length; i++) await new Promise((r) => setTimeout(r, 25));
    await app.shadowPredictions!.flush();
    const metrics = await (await fetch(`http://127.0.0.1:${admin!.port}/metrics`)).text();
    assert.match(metrics, /^driftwatch_shadow_predictions_total\{outcome="written"\} 2$/m);
    assert.match(metrics, /^driftwatch_shadow_predictions_total\{outcome="no_id"\} 3$/m);
    // The challenger's rows wait for a champion's under the same ids (a sidecar on this host writes those).
    const log = new SqlitePredictionLog(join(dir, 'predictions.db'));
    try {
      assert.equal((await log.stats()).shadowRows, 2);
      await log.recordPredictions(
        days
          .slice(0, 2)
          .map((_d, i) => ({ id: `given-${i}`, atMs: Date.now(), model: 'weather', version: '1', predicted: 'rain', value: null, probabilities: null })),
      );
      await log.recordLabels(days.slice(0, 2).map((d, i) => ({ id: `given-${i}`, label: d.weather, atMs: Date.now() })));
      const pairs = [];
      for await (const page of log.scanPairs('weather', '2', 0, Date.now() + 1)) pairs.push(...page);
      assert.deepEqual(
        pairs.map((p) => [p.id, p.challenger.version, p.challenger.predicted]).sort(),
        days.slice(0, 2).map((d, i) => [`given-${i}`, '2', predict(V2, d.features).label]),
      );
    } finally {
      await log.close();
    }
  } finally {
    await app.close();
  }
});
