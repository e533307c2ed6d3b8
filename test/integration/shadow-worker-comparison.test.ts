/**
 * The sidecar shadow's comparison in the capture worker thread (the default) gives what comparing
 * the same pairs directly gives: a real worker thread (WorkerCaptureDrain, the packed and
 * transferred batches, the deltas it sends back merged on this thread) against shadowPair() and
 * ComparisonWindows.record() over the same shadowed requests. Seeded pairs: classifiers with
 * probabilities (agreeing and not), a regression model, multi-row requests, challenger failures
 * (an error status, a wrong row count), champion answers that cannot be read (lost), over several
 * minute windows.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BoundedQueue } from '../../src/capture/bounded-queue.js';
import type { InferenceEvent } from '../../src/capture/inference-event.js';
import type { ShadowDelta } from '../../src/capture/shadow-comparison.js';
import { type ShadowedRequest, shadowPair } from '../../src/capture/shadow-pair.js';
import { WorkerCaptureDrain } from '../../src/capture/worker-drain.js';
import { ComparisonWindows } from '../../src/challenger/comparison-windows.js';
import { summarizeComparison } from '../../src/challenger/comparison.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { createProxyMetrics } from '../../src/telemetry/metrics.js';

const LABELS = ['sun', 'rain', 'fog', 'drizzle', 'snow'];
const EXTRACT = { maxDecompressedBytes: 1 << 20 };

/** mulberry32: the same pairs on every run. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const json = (v: unknown) => ({ bytes: Buffer.from(JSON.stringify(v)), contentType: 'application/json', contentEncoding: 'identity' });

function shadowedRequests(n: number, seed: number): ShadowedRequest[] {
  const r = rng(seed);
  const t0 = Date.UTC(2026, 11, 8, 3, 0, 0);
  const out: ShadowedRequest[] = [];
  for (let i = 0; i < n; i++) {
    const regression = i % 7 === 0;
    const model = regression ? 'price' : i % 5 === 0 ? 'other' : 'weather';
    const rows = i % 11 === 0 ? 3 : 1;
    const data = Array.from({ length: rows }, () => [Math.round(r() * 100) / 10, 10 + Math.round(r() * 200) / 10]);
    // The champion's probabilities per row; the challenger's are those moved a little, its label
    // the champion's or (on about a third of the rows) the next one.
    const probs = data.map(() => {
      const p = LABELS.map(() => r() + 0.01);
      const sum = p.reduce((a, b) => a + b, 0);
      return p.map((v) => v / sum);
    });
    const answer = (shift: number) =>
      regression
        ? { predictions: data.map((x) => x[0]! * 2 + shift * r()) }
        : {
            predictions: probs.map((p) => {
              const probabilities = shift === 0 ? p : p.map((v) => v * (0.8 + 0.4 * r()));
              const best = p.indexOf(Math.max(...p));
              return { label: LABELS[(best + (shift > 0 && r() < 0.3 ? 1 : 0)) % LABELS.length], probabilities };
            }),
          };
    const champion = i % 23 === 0 ? { bytes: Buffer.from('not json'), contentType: 'application/json', contentEncoding: 'identity' } : json(answer(0));
    const event: InferenceEvent = {
      requestId: `req-${i}`,
      startedAtMs: t0 + i * 700,
      method: 'POST',
      path: '/invocations',
      model,
      version: '1',
      route: 'invocations',
      status: 200,
      upstreamMs: 1 + r() * 20,
      totalMs: 2 + r() * 20,
      requestBytes: 0,
      responseBytes: 0,
      request: json({ dataframe_split: { columns: ['a', 'b'], data } }),
      response: champion,
      skipped: null,
    };
    const failing = i % 17 === 0;
    const wrongRows = i % 13 === 0;
    const shift = 1;
    const challengerAnswer = wrongRows ? json({ predictions: [...answer(shift).predictions, ...answer(shift).predictions] }) : json(answer(shift));
    out.push({
      event,
      atMs: event.startedAtMs + 5,
      challenger: failing
        ? { status: 500, response: null, version: '2', latencyMs: 3 + r() * 10, error: 'the shadow upstream answered 500' }
        : { status: 200, response: challengerAnswer, version: '2', latencyMs: 2 + r() * 30, error: null },
    });
  }
  return out;
}

describe('the shadow comparison in the capture worker thread', () => {
  test('gives the windows and counts a direct comparison of the same pairs gives', async () => {
    const pairs = shadowedRequests(600, 21);

    // Directly, on this thread.
    const direct = new ComparisonWindows({ retentionMs: 86_400_000 });
    const directCounts = new Map<string, { scored: number; failed: number; lost: number }>();
    for (const s of pairs) {
      const c = directCounts.get(s.event.model!) ?? { scored: 0, failed: 0, lost: 0 };
      directCounts.set(s.event.model!, c);
      const res = shadowPair(s, { extract: EXTRACT, championVersion: null, challengerVersion: null });
      if (!res.ok) {
        c.lost++;
        continue;
      }
      direct.record(res.pair);
      if (res.pair.challenger.error !== null) c.failed++;
      else c.scored++;
    }

    // Through the worker: in batches of 64 (the drain's batch size here), merged back on this thread.
    const shadowQueue = new BoundedQueue<ShadowedRequest>(10_000);
    const viaWorker = new ComparisonWindows({ retentionMs: 86_400_000 });
    const workerCounts = new Map<string, { scored: number; failed: number; lost: number }>();
    const deltas: ShadowDelta[] = [];
    let lost = 0;
    const cfg = loadConfig({ env: {}, overrides: { stats: { flushIntervalMs: 60_000 } } });
    const drain = new WorkerCaptureDrain({
      queue: new BoundedQueue<InferenceEvent>(16),
      metrics: createProxyMetrics(),
      logger: createLogger({ level: 'silent' }),
      store: { writeWindows: async () => undefined },
      stats: cfg.stats,
      referenceFor: () => null,
      extract: EXTRACT,
      intervalMs: 60_000,
      batchSize: 64,
      shadow: {
        queue: shadowQueue,
        championVersion: null,
        challengerVersion: null,
        onDelta: (d) => {
          deltas.push(d);
          for (const w of d.windows) viaWorker.addWindow(w);
          for (const m of d.models) {
            const c = workerCounts.get(m.model) ?? { scored: 0, failed: 0, lost: 0 };
            workerCounts.set(m.model, c);
            c.scored += m.scored;
            c.failed += m.failed;
            c.lost += m.lost;
          }
        },
        lost: (n) => {
          lost += n;
        },
      },
    });
    drain.start();
    try {
      for (const s of pairs) assert.ok(shadowQueue.offer(s));
      await drain.flush();
      assert.equal(drain.shadowPending, 0, 'every pair the worker took came back in a delta');
    } finally {
      await drain.stop();
    }
    assert.equal(lost, 0);
    assert.ok(deltas.length >= 1);
    assert.equal(
      deltas.reduce((n, d) => n + d.resolved, 0),
      pairs.length,
    );
    assert.deepEqual(Object.fromEntries(workerCounts), Object.fromEntries(directCounts));
    // The seeded pairs cover every case.
    const weather = directCounts.get('weather')!;
    assert.ok(weather.scored > 100 && weather.failed > 10 && weather.lost > 5, JSON.stringify(weather));

    const key = (sp: { model: string; championVersion: string; challengerVersion: string }) => `${sp.model}/${sp.championVersion}/${sp.challengerVersion}`;
    const from = 0;
    const to = Date.UTC(2027, 0, 1);
    const a = direct.read(from, to).sort((x, y) => key(x).localeCompare(key(y)));
    const b = viaWorker.read(from, to).sort((x, y) => key(x).localeCompare(key(y)));
    assert.deepEqual(
      b.map((sp) => [key(sp), sp.fromMs, sp.toMs]),
      a.map((sp) => [key(sp), sp.fromMs, sp.toMs]),
    );
    assert.equal(a.length, 3);
    for (let i = 0; i < a.length; i++) {
      const x = a[i]!.comparison;
      const y = b[i]!.comparison;
      // Counts add up exactly; the confusion and the latency histograms too.
      for (const f of ['requests', 'challengerErrors', 'incomparable', 'rows', 'labelRows', 'agree'] as const) assert.equal(y[f], x[f], `${key(a[i]!)} ${f}`);
      assert.deepEqual(JSON.parse(JSON.stringify(y.confusion)), JSON.parse(JSON.stringify(x.confusion)));
      assert.deepEqual(y.championLatency, x.championLatency);
      assert.deepEqual(y.challengerLatency, x.challengerLatency);
      // The difference sketches over the whole span: the same count and extremes; past a few
      // hundred values a KLL sketch compacts (with a random offset), so its quantiles agree within its error.
      for (const f of ['probDiff', 'valueDiff'] as const) {
        const sx = summarizeComparison(x)[f];
        const sy = summarizeComparison(y)[f];
        assert.equal(sy?.count, sx?.count);
        assert.equal(sy?.min, sx?.min);
        assert.equal(sy?.max, sx?.max);
        if (sx && sy)
          for (const q of ['p50', 'p95', 'p99'] as const) assert.ok(Math.abs(sy[q]! - sx[q]!) <= 0.05 * (sx.max! - sx.min!), `${f} ${q}: ${sy[q]} vs ${sx[q]}`);
      }
    }
    // Per minute window (few enough values that no sketch compacted): the worker's equals the direct one exactly.
    let windows = 0;
    for (let m = Date.UTC(2026, 11, 8, 3, 0); m < Date.UTC(2026, 11, 8, 3, 8); m += 60_000) {
      for (const model of ['weather', 'other', 'price']) {
        const dm = direct.read(m, m + 60_000, model)[0];
        const wm = viaWorker.read(m, m + 60_000, model)[0];
        assert.deepEqual(wm && summarizeComparison(wm.comparison), dm && summarizeComparison(dm.comparison), `${model} ${new Date(m).toISOString()}`);
        if (dm) windows++;
      }
    }
    assert.ok(windows >= 15, `${windows} windows compared`);
    const weatherSpan = a.find((sp) => sp.model === 'weather')!;
    const s = summarizeComparison(weatherSpan.comparison);
    assert.ok(s.agreement !== null && s.agreement > 0.5 && s.agreement < 0.9, `agreement ${s.agreement}`);
    assert.ok(summarizeComparison(a.find((sp) => sp.model === 'price')!.comparison).valueDiff !== null);
  });
});
