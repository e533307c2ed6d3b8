/**
 * `npm run demo`: driftwatch end to end on the Seattle weather data set, in about 40 seconds.
 *
 *   1. registers the bundled example model (examples/seattle-weather) in a fresh local registry
 *      and builds its reference profile from the winter months of its training period;
 *   2. starts what `driftwatch start` starts: the scoring server, the sidecar proxy in front of
 *      it, the embedded statistics store, the drift check, alerts (router, outbox, delivery) and
 *      the admin API, all from one config parsed by the normal loader;
 *   3. replays later days (2014-2015) as real HTTP requests through the proxy, one request per
 *      day, in time order, with time compressed: one season of days in a few seconds, judged by
 *      the drift check as one window;
 *   4. after each season, the quality check estimates the model's accuracy from its own
 *      (reference-calibrated) probabilities, then the observed weather of those days arrives late,
 *      as labels by request id through POST /api/labels, and the check measures the realised
 *      accuracy: the season's accuracy next to its drift;
 *   5. a local webhook receiver verifies the signed notifications and prints them;
 *   6. prints a summary and where to look, and keeps running until Ctrl-C (--exit: stop at once).
 *
 * Options:
 *   --exit                 exit after the summary instead of waiting for Ctrl-C
 *   --ports 0              listen on free ports (default: 8080 scoring, 5000 proxy, 9097 admin)
 *   --dir DIR              working directory, wiped at start (default .driftwatch/demo)
 *   --slot-seconds N       real seconds per replayed season (default 10; even, at least 8)
 *   --summary-json FILE    also write the summary as JSON
 *   --no-resolve           stop after summer, so the status page shows the drift as current
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createAllInOneApp } from '../../src/app/all-in-one.js';
import { createRegistry } from '../../src/app/backends.js';
import type { Finding } from '../../src/findings/finding.js';
import { loadConfig } from '../../src/config/load.js';
import { scoreRows } from '../../src/cli/model-scorer.js';
import { classificationMetrics } from '../../src/quality/classification.js';
import { buildReferenceFromFile } from '../../src/reference/build-reference.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { packageRoot } from '../../src/version.js';
import { startReceiver, type Received } from './receiver.js';
import { FEATURES, PHASES, phaseDays, readDays, toCsv, winterReference, type DayRow } from './season-data.js';

const MODEL = 'seattle-weather';
/** The example model's outputs as the capture side names them: the class, and one column per class probability. */
const PREDICTION_COLUMNS = ['label', 'probabilities_0', 'probabilities_1', 'probabilities_2', 'probabilities_3', 'probabilities_4'];
/** Stats windows of 2 s: a season of days becomes a handful of windows, merged by the check. */
const WINDOW_SECONDS = 2;

const { values } = parseArgs({
  options: {
    exit: { type: 'boolean', default: false },
    ports: { type: 'string' },
    dir: { type: 'string' },
    'slot-seconds': { type: 'string' },
    'summary-json': { type: 'string' },
    'no-resolve': { type: 'boolean', default: false },
  },
  strict: true,
});
if (values.ports !== undefined && values.ports !== '0') {
  console.error('--ports takes 0 (free ports); the defaults are 8080, 5000 and 9097');
  process.exit(2);
}
const freePorts = values.ports === '0';
const slotSeconds = Number(values['slot-seconds'] ?? 10);
if (!Number.isInteger(slotSeconds) || slotSeconds < 8 || slotSeconds % WINDOW_SECONDS !== 0) {
  console.error(`--slot-seconds must be an even integer of at least 8 (a multiple of the ${WINDOW_SECONDS} s stats window)`);
  process.exit(2);
}
const dir = resolve(values.dir ?? '.driftwatch/demo');
const say = (line = '') => process.stdout.write(line + '\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const fmtP = (p: number | null | undefined) => (p === null || p === undefined ? '-' : p >= 0.001 ? p.toFixed(3) : p.toExponential(1));
const fmt3 = (x: number | null | undefined) => (x === null || x === undefined ? '-' : x.toFixed(3));

interface FeatureResult {
  status: string;
  n: number;
  ksStatistic: number | null;
  pvalueAdjusted: number | null;
  psi: number | null;
  verdictBy: string;
}
/** The quality check's verdicts on one season: the estimate before its labels, the realised accuracy after. */
interface QualityResult {
  /** Predictions of the season in the prediction log, and how many got their label. */
  predictions: number;
  labelled: number;
  /** The labelled share when the estimate was read (0: before any label). */
  labelledShareBefore: number | null;
  estimatedAccuracy: number | null;
  estimateStandardError: number | null;
  estimateCalibrated: boolean | null;
  accuracy: number | null;
  /** The reference's accuracy minus the season's, when the check had the reference's performance. */
  accuracyDrop: number | null;
  labels: { matched: number; unmatched: number };
}
interface PhaseResult {
  name: string;
  from: string;
  to: string;
  rows: number;
  sent: number;
  failedRequests: number;
  drifted: string[];
  features: Record<string, FeatureResult>;
  quality: QualityResult;
}

function qualityValue(findings: readonly Finding[], metric: string): Finding | undefined {
  return findings.find((f) => f.check === 'quality' && f.metric === metric);
}

function featureResults(findings: readonly Finding[]): Record<string, FeatureResult> {
  const out: Record<string, FeatureResult> = {};
  for (const f of findings) {
    if (f.check !== 'drift' || f.subject.name === '__dataset__' || f.subject.role !== 'input') continue;
    const d = (f.detail ?? {}) as { ks?: { statistic: number } | null; psi?: { value: number } | null; pvalue_adjusted?: number | null };
    out[f.subject.name] = {
      status: f.insufficientData ? 'insufficient_data' : f.status,
      n: f.sampleSize,
      ksStatistic: d.ks?.statistic ?? null,
      pvalueAdjusted: d.pvalue_adjusted ?? null,
      psi: d.psi?.value ?? null,
      verdictBy: f.metric,
    };
  }
  return out;
}

function describeNotification(r: Received): string {
  const names = r.payload.alerts.map((a) => (a.subject.name === '__dataset__' ? 'dataset' : a.subject.name));
  return `${r.payload.status.toUpperCase()} ${r.payload.model}: ${names.join(', ')} (${r.payload.alerts.length} alert(s), webhook-id ${r.webhookId}, signature ${r.signatureValid ? 'valid' : 'INVALID'})`;
}

async function main(): Promise<number> {
  const t0 = Date.now();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const days = readDays();
  const reference = winterReference(days);
  const referenceCsv = join(dir, 'reference-winter-2012-2013.csv');
  writeFileSync(referenceCsv, toCsv(reference));

  // The receiver first: its URL goes into the config like any team's endpoint would.
  const secret = `whsec_${Buffer.from(`driftwatch-demo-${process.pid}-${Date.now()}`).toString('base64')}`;
  const receiver = await startReceiver(secret, (r) => say(`  <- receiver got ${describeNotification(r)}`));

  const ports = freePorts ? { serve: 0, proxy: 0, admin: 0 } : { serve: 8080, proxy: 5000, admin: 9097 };
  const settings = {
    log: { level: 'warn' },
    serve: { port: ports.serve, models: [{ uri: `models:/${MODEL}/Production` }] },
    proxy: { port: ports.proxy },
    admin: { port: ports.admin },
    registry: { root: join(dir, 'registry') },
    stats: { windowSeconds: WINDOW_SECONDS, flushIntervalMs: 500 },
    store: { embedded: { path: join(dir, 'stats.db') } },
    // Every prediction is logged with its request id, so the observed weather can be joined to it later.
    labels: { enabled: true, path: join(dir, 'predictions.db') },
    checks: {
      // No cron: the demo runs the drift check at the end of each replayed season, on the
      // replay's compressed clock (a schedule every few seconds would cut seasons in half).
      enabled: false,
      findingsPath: join(dir, 'findings.db'),
      drift: {
        window: `${slotSeconds}s`,
        // A season is 31-92 days: one row a day. KS accounts for n itself; PSI keeps its 1000-row
        // minimum (with ~90 rows a side, noise alone crosses 0.1), so it is reported, not judged.
        minSamplesTest: 30,
        pvalue: 0.01,
        correction: 'bonferroni',
        // The reference holds the model's predictions too (it was scored to measure its accuracy);
        // the demo's drift story is the inputs', so the prediction columns are left to the quality check.
        features: Object.fromEntries(PREDICTION_COLUMNS.map((c) => [c, { ignore: true }])),
      },
      // Run by hand after each season, like the drift check, over the season's predictions.
      quality: { window: `${slotSeconds}s`, minLabelled: 30 },
      slo: { enabled: false },
      staleness: { enabled: false },
    },
    alerts: {
      outboxPath: join(dir, 'alerts.db'),
      repeatInterval: '1h',
      retryInitialDelayMs: 200,
      externalUrl: `http://127.0.0.1:${ports.admin || 9097}`,
      receivers: [{ name: 'demo-receiver', kind: 'webhook', url: receiver.url, secret }],
    },
  };
  // the demo is the same on every machine: no DRIFTWATCH_* from the environment
  const config = loadConfig({ env: {}, overrides: settings });
  // The same settings for the CLI (`driftwatch alerts list`, `stats show`), minus
  // the receiver and its secret, which live only as long as this process.
  const cliConfig = join(dir, 'driftwatch.json');
  writeFileSync(cliConfig, JSON.stringify({ ...settings, alerts: { ...settings.alerts, receivers: [] } }, null, 2) + '\n');
  const logger = createLogger({ level: config.log.level });

  say(`driftwatch demo: Seattle weather, a winter reference, later seasons replayed through the sidecar`);
  say(`working directory ${dir} (wiped at every run)`);
  const registry = createRegistry(config);
  const mv = await registry.createModelVersion({
    name: MODEL,
    sourceDir: join(packageRoot(), 'examples', 'seattle-weather', 'model'),
    description: 'Bundled example: Seattle weather classifier (logistic regression), trained on 2012-2013',
  });
  await registry.transitionStage(MODEL, mv.version, 'Production');
  // `driftwatch reference build --label-column weather`: the model scores the reference days, and
  // its accuracy on them (with the calibration of its probabilities) is stored with the reference.
  const built = await buildReferenceFromFile(
    { registry, now: Date.now, score: scoreRows },
    {
      modelUri: `models:/${MODEL}/Production`,
      dataPath: referenceCsv,
      settings: { bins: config.stats.referenceBins, sketchK: config.stats.referenceSketchK, maxCategories: config.stats.maxCategories },
      labelColumn: 'weather',
      reading: config.labels,
    },
  );
  const referenceAccuracy = classificationMetrics(built.reference.performance!.classification!).accuracy;
  say(
    `1. registered ${MODEL} version ${mv.version} (Production); reference = the winter months of its training period: ${built.reference.rows} days (Dec-Feb, 2012-2013); the model's accuracy on them ${fmt3(referenceAccuracy)}`,
  );

  // The same composition as `driftwatch start` (createAllInOneApp in src/app.ts).
  const app = createAllInOneApp(config, { logger, registry });
  const { store, analyzer } = app;
  let closed = false;
  const closeAll = async () => {
    if (closed) return;
    closed = true;
    await app.close();
    await receiver.close();
  };
  let adminPort = 0;
  let proxyUrl = '';
  try {
    const { scoring, proxy, admin } = await app.start();
    adminPort = admin?.port ?? 0;
    proxyUrl = `http://127.0.0.1:${proxy.port}`;
    say(`2. started: scoring server :${scoring.port}, sidecar proxy :${proxy.port}, admin API :${adminPort}, store ${store.describe}`);
  } catch (e) {
    await closeAll().catch(() => undefined);
    throw e;
  }
  const proxyApp = app.proxy()!;
  const adminUrl = `http://127.0.0.1:${adminPort}`;

  say(
    `3. replaying later days through ${proxyUrl}/invocations, one request per day; one season = ${slotSeconds} s, judged as one drift-check window (KS, p < 0.01 after Bonferroni over ${FEATURES.length} features)`,
  );
  const phases: PhaseResult[] = [];
  const windowMs = WINDOW_SECONDS * 1000;
  const slotMs = slotSeconds * 1000;
  const replayed = values['no-resolve'] ? PHASES.slice(0, 2) : PHASES;
  for (const phase of replayed) {
    const rows = phaseDays(days, phase);
    // Slots start on a stats-window boundary. Rows go out after the slot's first two windows and
    // stop one window before its end, so the check's window (the last slotSeconds, read just after
    // the slot ends) holds this season and nothing of the seasons around it.
    const slotStart = Math.ceil((Date.now() + 50) / windowMs) * windowMs;
    const sendFrom = slotStart + 2 * windowMs;
    const sendUntil = slotStart + slotMs - windowMs;
    const gapMs = (sendUntil - sendFrom) / rows.length;
    say(`   ${phase.name} (${phase.from} .. ${phase.to}, ${rows.length} days): ${phase.expect}`);
    let sent = 0;
    let failed = 0;
    await sleep(sendFrom - Date.now());
    for (const [i, r] of rows.entries()) {
      await sleep(sendFrom + i * gapMs - Date.now());
      failed += (await predict(proxyUrl, r, requestIdOf(r))) ? 0 : 1;
      sent++;
      if (r.date.endsWith('-15') || i === rows.length - 1)
        say(`     .. ${r.date}  ${sent} day(s) sent, temp_max ${r.temp_max} C, precipitation ${r.precipitation} mm`);
    }
    await sleep(slotStart + slotMs + 20 - Date.now());
    await proxyApp!.flushStats();
    const out = await analyzer.runner.run('drift');
    const features = featureResults(out);
    const dataset = out.find((f) => f.subject.name === '__dataset__');
    const drifted = ((dataset?.detail as { drifted?: string[] } | undefined)?.drifted ?? []).slice();
    phases.push({
      name: phase.name,
      from: phase.from,
      to: phase.to,
      rows: rows.length,
      sent,
      failedRequests: failed,
      drifted,
      features,
      quality: EMPTY_QUALITY,
    });
    say(`     drift check: ${dataset?.message ?? 'no finding'}`);
    const judged = (dataset?.detail as { rows?: number } | undefined)?.rows ?? 0;
    if (judged !== sent - failed)
      say(`     WARNING: the check saw ${judged} of ${sent - failed} days (requests ran past the season's slot: a busy machine? try --slot-seconds 20)`);
    for (const name of FEATURES) {
      const f = features[name];
      if (f)
        say(
          `       ${name.padEnd(13)} ${f.status.padEnd(17)} KS D ${fmt3(f.ksStatistic)}  p(adj) ${fmtP(f.pvalueAdjusted).padEnd(8)} PSI ${fmt3(f.psi)} (PSI not judged below ${config.checks.drift.minSamplesDistance} rows)`,
        );
    }
    // The quality check before the season's labels: only the estimate, from the model's probabilities.
    const before = await analyzer.runner.run('quality');
    const estimate = qualityValue(before, 'estimated_accuracy');
    // The observed weather arrives late, by the request ids the days were sent with.
    const posted = await postLabels(
      adminUrl,
      rows.map((r) => ({ request_id: requestIdOf(r), label: r.weather })),
    );
    const after = await analyzer.runner.run('quality');
    const realised = qualityValue(after, 'accuracy');
    const estDetail = (estimate?.detail ?? {}) as { labelled_share?: number | null; estimate?: { standard_error?: number | null; calibrated?: boolean } };
    const quality: QualityResult = {
      predictions: (realised?.detail?.predictions as number | undefined) ?? 0,
      labelled: realised?.sampleSize ?? 0,
      labelledShareBefore: estDetail.labelled_share ?? null,
      estimatedAccuracy: estimate?.value ?? null,
      estimateStandardError: estDetail.estimate?.standard_error ?? null,
      estimateCalibrated: estDetail.estimate?.calibrated ?? null,
      accuracy: realised?.value ?? null,
      accuracyDrop: qualityValue(after, 'accuracy_drop')?.value ?? null,
      labels: posted,
    };
    phases.at(-1)!.quality = quality;
    say(
      `     quality check: estimated accuracy ${fmt3(quality.estimatedAccuracy)} before any label (${quality.estimateCalibrated ? 'calibrated on the reference' : 'raw probabilities'}); ` +
        `${posted.matched} labels posted late by request id; realised accuracy ${fmt3(quality.accuracy)} (n=${quality.labelled})`,
    );
    // Give the delivery worker a moment to hand the notification to the receiver before moving on.
    const deadline = Date.now() + 5_000;
    while (analyzer.alerts.list().undelivered.length > 0 && Date.now() < deadline) await sleep(50);
  }
  await sleep(300);

  const firing = receiver.received.filter((r) => r.payload.status === 'firing');
  const resolvedN = receiver.received.filter((r) => r.payload.status === 'resolved');
  const peak = phases.reduce((a, b) => (b.drifted.length > a.drifted.length ? b : a), phases[0]!);
  const summary = {
    model: MODEL,
    version: mv.version,
    referenceRows: built.reference.rows,
    referenceAccuracy,
    rowsReplayed: phases.reduce((n, p) => n + p.sent, 0),
    failedRequests: phases.reduce((n, p) => n + p.failedRequests, 0),
    slotSeconds,
    phases,
    peak: { phase: peak.name, drifted: peak.drifted, features: peak.features },
    notifications: receiver.received.map((r) => ({
      webhookId: r.webhookId,
      status: r.payload.status,
      model: r.payload.model,
      signatureValid: r.signatureValid,
      alerts: r.payload.alerts.map((a) => ({ check: a.check, name: a.subject.name, role: a.subject.role ?? null, status: a.status, severity: a.severity })),
    })),
    urls: {
      statusPage: `${adminUrl}/ui`,
      findings: `${adminUrl}/api/findings`,
      findingsHistory: `${adminUrl}/api/findings?since=1h&model=${MODEL}`,
      windows: `${adminUrl}/api/windows?model=${MODEL}&from=1h&view=total`,
      metrics: `${adminUrl}/metrics`,
      proxy: proxyUrl,
    },
    dir,
    elapsedSeconds: Math.round((Date.now() - t0) / 100) / 10,
  };
  if (values['summary-json']) writeFileSync(values['summary-json'], JSON.stringify(summary, null, 2) + '\n');

  say();
  say(`4. summary (${summary.elapsedSeconds} s)`);
  say(`   days replayed: ${summary.rowsReplayed} (${summary.failedRequests} failed requests) against a reference of ${summary.referenceRows} winter days`);
  say(`   peak: ${peak.name}, drifted: ${peak.drifted.join(', ') || 'none'}`);
  for (const name of FEATURES) {
    const f = peak.features[name];
    if (f) say(`     ${name.padEnd(13)} KS D ${fmt3(f.ksStatistic)}  p(adj) ${fmtP(f.pvalueAdjusted).padEnd(8)} PSI ${fmt3(f.psi)}  ${f.status}`);
  }
  say(
    `   alerts at the receiver: ${firing.length} firing, ${resolvedN.length} resolved, signatures ${receiver.received.every((r) => r.signatureValid) ? 'all valid' : 'NOT all valid'}`,
  );
  for (const r of receiver.received) say(`     ${describeNotification(r)}`);
  say(`   accuracy by season (quality check findings; the reference's own: ${fmt3(referenceAccuracy)} on ${summary.referenceRows} winter days)`);
  say(`     ${'season'.padEnd(14)} ${'days'.padStart(4)}  ${'estimated'.padStart(9)}  ${'realised'.padStart(8)}  ${'drop'.padStart(6)}  drifted inputs`);
  for (const p of phases) {
    const q = p.quality;
    const drop = q.accuracyDrop ?? (q.accuracy === null || referenceAccuracy === null ? null : referenceAccuracy - q.accuracy);
    say(
      `     ${p.name.padEnd(14)} ${String(q.labelled).padStart(4)}  ${fmt3(q.estimatedAccuracy).padStart(9)}  ${fmt3(q.accuracy).padStart(8)}  ${(drop === null ? '-' : (drop >= 0 ? '+' : '') + drop.toFixed(3)).padStart(6)}  ${p.drifted.filter((n) => n !== '__dataset__').join(', ') || 'none'}`,
    );
  }
  say(`     (estimated: before any label, from the model's probabilities; drop: the reference's accuracy minus the season's)`);
  say();
  say(`5. where to look`);
  say(`   status page        ${summary.urls.statusPage}`);
  say(`   latest findings    ${summary.urls.findings}`);
  say(`   quality findings   ${adminUrl}/api/quality`);
  say(
    `   findings history   ${summary.urls.findingsHistory}${values['no-resolve'] ? '' : "   (the summer drift; the latest findings are December's: resolved; --no-resolve stops at summer)"}`,
  );
  say(`   stored windows     ${summary.urls.windows}`);
  say(`   Prometheus         ${summary.urls.metrics}`);
  say(
    `   predictions        curl -s ${proxyUrl}/invocations -H 'Content-Type: application/json' -d '{"dataframe_split":{"columns":["precipitation","temp_max","temp_min","wind"],"data":[[0.0,28.9,15.6,2.5]]}}'`,
  );
  say(`   the CLI            npx tsx src/cli/main.ts alerts list --config ${cliConfig}   (also: stats show --model ${MODEL} --since 1h --total)`);
  say(`   files              ${dir} (registry, stats.db, findings.db, alerts.db, predictions.db)`);

  if (values.exit) {
    await closeAll();
    return 0;
  }
  say();
  say('driftwatch keeps running so you can look; Ctrl-C to stop.');
  await new Promise<void>((resolveStop) => {
    const stop = () => void closeAll().finally(resolveStop);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}

const EMPTY_QUALITY: QualityResult = {
  predictions: 0,
  labelled: 0,
  labelledShareBefore: null,
  estimatedAccuracy: null,
  estimateStandardError: null,
  estimateCalibrated: null,
  accuracy: null,
  accuracyDrop: null,
  labels: { matched: 0, unmatched: 0 },
};

/** The client's own request id for a day: the proxy keeps it (X-Request-ID), and the label names it. */
function requestIdOf(r: DayRow): string {
  return `day-${r.date}`;
}

/** Labels as a client posts them to the admin port: JSON, by request id. */
async function postLabels(adminUrl: string, labels: Array<{ request_id: string; label: string }>): Promise<{ matched: number; unmatched: number }> {
  const res = await fetch(`${adminUrl}/api/labels`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(labels) });
  const body = (await res.json()) as { matched?: number; unmatched?: number; message?: string };
  if (!res.ok) throw new Error(`POST /api/labels answered ${res.status}: ${body.message ?? ''}`);
  return { matched: body.matched ?? 0, unmatched: body.unmatched ?? 0 };
}

/** One day as one prediction request, the MLflow scoring protocol's dataframe_split. */
async function predict(proxyUrl: string, r: DayRow, requestId: string): Promise<boolean> {
  try {
    const res = await fetch(`${proxyUrl}/invocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': requestId },
      body: JSON.stringify({ dataframe_split: { columns: [...FEATURES], data: [FEATURES.map((f) => r[f])] } }),
    });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`demo failed: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
