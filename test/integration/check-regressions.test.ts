/**
 * Regression tests, one per defect a review found in the checks and the statistics pipeline,
 * each named after what broke.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createAnalyzerApp } from '../../src/app/analyzer-app.js';
import { WindowProfiler } from '../../src/capture/window-profiler.js';
import { loadConfig } from '../../src/config/load.js';
import { compareWithReference } from '../../src/drift/drift-check.js';
import { LocalRegistry } from '../../src/registry/local-registry.js';
import { Scheduler } from '../../src/schedule/scheduler.js';
import { runSloCheck } from '../../src/slo/slo-check.js';
import { latencyBounds } from '../../src/stats/latency-histogram.js';
import { buildReference } from '../../src/stats/reference.js';
import { emptyWindow, observeRequest, observeRows } from '../../src/stats/window-profile.js';
import { EmbeddedStore } from '../../src/store/embedded.js';
import type { StatsStore } from '../../src/store/types.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { parseTimePoint } from '../../src/time-range.js';
import { tempDir } from '../helpers.js';

const tmp = tempDir('dw-regress-');
after(() => tmp.cleanup());
const silent = createLogger({ level: 'silent' });
const cfg = (extra: Record<string, any> = {}) =>
  loadConfig({
    env: {},
    overrides: {
      log: { level: 'silent' },
      registry: { root: join(tmp.dir, 'registry') },
      checks: { findingsPath: join(tmp.dir, `f-${Math.random()}.db`), ...extra },
    },
  });

function normals(n: number, seed: number, mean = 0): number[] {
  let s = seed >>> 0;
  const u = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967297;
  };
  return Array.from({ length: n }, () => mean + Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

test('KS from sketches: identical distributions at large n are not drift (sketch error is not evidence); a real shift still is', () => {
  const ref = buildReference({
    model: 'm',
    version: '1',
    source: 't',
    createdAtMs: 0,
    rows: normals(100_000, 1).map((x) => ({ x })),
    bins: 10,
    sketchK: 2048,
    maxCategories: 10,
  });
  const config = { ...cfg().checks.drift, rule: 'test-only' as const };
  let falseAlarms = 0;
  for (let trial = 0; trial < 6; trial++) {
    const w = emptyWindow({ model: 'm', version: '1', startMs: 0, windowSeconds: 60 }, latencyBounds([]));
    observeRows(
      w,
      normals(100_000, 100 + trial).map((x) => ({ x })),
      [],
      ref,
      { sketchK: 200, maxCategories: 10, maxFeatures: 10 },
    );
    const f = compareWithReference(w, ref, config).find((r) => r.name === 'x')!;
    assert.ok(f.ks!.errorBound > 0.01, 'the window sketch is compacted');
    if (f.status === 'fail') falseAlarms++;
  }
  assert.equal(falseAlarms, 0);
  const shifted = emptyWindow({ model: 'm', version: '1', startMs: 0, windowSeconds: 60 }, latencyBounds([]));
  observeRows(
    shifted,
    normals(100_000, 999, 0.15).map((x) => ({ x })),
    [],
    ref,
    { sketchK: 200, maxCategories: 10, maxFeatures: 10 },
  );
  const f = compareWithReference(shifted, ref, config).find((r) => r.name === 'x')!;
  assert.equal(f.status, 'fail', JSON.stringify(f.ks));
});

test('the drift finding leads with the statistic that set its status', async () => {
  // PSI is fine (well under 0.1) but KS fails: the finding must show the KS p-value, not PSI.
  const ref = buildReference({
    model: 'm',
    version: '1',
    source: 't',
    createdAtMs: 0,
    rows: normals(5000, 3).map((x) => ({ x })),
    bins: 10,
    sketchK: 2048,
    maxCategories: 10,
  });
  const w = emptyWindow({ model: 'm', version: '1', startMs: 0, windowSeconds: 60 }, latencyBounds([]));
  observeRows(
    w,
    normals(5000, 4, 0.12).map((x) => ({ x })),
    [],
    ref,
    { sketchK: 2048, maxCategories: 10, maxFeatures: 10 },
  );
  const f = compareWithReference(w, ref, { ...cfg().checks.drift, rule: 'test-only' }).find((r) => r.name === 'x')!;
  assert.ok(f.psi!.value < 0.1, `psi ${f.psi!.value}`);
  assert.equal(f.status, 'fail');
  const store = new EmbeddedStore({ path: join(tmp.dir, 'headline.db'), retentionDays: 30, rollupAfterHours: 48 });
  await store.writeWindows([{ ...w, startMs: Math.floor(Date.now() / 60_000) * 60_000 }]);
  const { runDriftCheck } = await import('../../src/drift/drift-check.js');
  const fs = await runDriftCheck({ store, referenceFor: async () => ref }, { ...cfg().checks.drift, rule: 'test-only' }, Date.now());
  const x = fs.find((g) => g.subject.name === 'x')!;
  assert.equal(x.status, 'fail');
  assert.equal(x.metric, 'ks_pvalue');
  assert.ok(x.value! < 0.05);
  await store.close();
});

test('burn-rate rules do not page on a single failed request', async () => {
  const store = new EmbeddedStore({ path: join(tmp.dir, 'burn.db'), retentionDays: 30, rollupAfterHours: 48 });
  const w = emptyWindow({ model: 'quiet', version: '1', startMs: Math.floor(Date.now() / 60_000) * 60_000, windowSeconds: 60 }, latencyBounds([]));
  observeRequest(w, 500, 3);
  await store.writeWindows([w]);
  const fs = await runSloCheck({ store }, cfg({ slo: { minRequests: 20, targets: [{ model: '*', objective: 0.999 }] } }).checks.slo, Date.now());
  const b = fs.find((f) => f.subject.name === 'burn_1h_5m')!;
  assert.ok(b.value! > 100, 'the burn rate itself is reported');
  assert.equal(b.status, 'ok');
  assert.equal(b.insufficientData, true);
  await store.close();
});

test('SLO windows longer than the SLO span still count (a 1 h window holds the last 5 min)', async () => {
  const store = new EmbeddedStore({ path: join(tmp.dir, 'hourwin.db'), retentionDays: 30, rollupAfterHours: 48 });
  const w = emptyWindow({ model: 'h', version: '1', startMs: Math.floor(Date.now() / 3_600_000) * 3_600_000, windowSeconds: 3600 }, latencyBounds([10]));
  for (let i = 0; i < 50; i++) observeRequest(w, 200, 40);
  await store.writeWindows([w]);
  const fs = await runSloCheck(
    { store },
    cfg({ slo: { minRequests: 20, targets: [{ model: 'h', window: '5m', p99Ms: 10, burnRate: false }] } }).checks.slo,
    Date.now(),
  );
  const p99 = fs.find((f) => f.subject.name === 'latency_p99')!;
  assert.equal(p99.sampleSize, 50);
  assert.equal(p99.status, 'fail');
  await store.close();
});

test('made-up model names cannot crowd out a real model: new series beyond the bound are refused, not evicting', async () => {
  const writes: number[] = [];
  const store = { writeWindows: async (d: readonly unknown[]) => void writes.push(d.length) } as unknown as StatsStore;
  const p = new WindowProfiler({ config: cfg().stats, store, logger: silent, referenceFor: () => null, maxSeries: 3, maxPendingWindows: 100 });
  const now = Date.now();
  p.observeRequest('real', '1', now, 200, 1);
  for (let i = 0; i < 50; i++) p.observeRequest(`rnd-${i}`, 'unknown', now, 404, 1);
  p.observeRequest('real', '1', now, 200, 1);
  assert.equal(p.pending, 3, 'real + the first two made-up names');
  assert.equal(p.rejectedSeries, 48);
  await p.flush();
  assert.deepEqual(writes, [3]);
});

test('a check that ignores its timeout still never overlaps the next run', async () => {
  const outcomes: string[] = [];
  const s = new Scheduler({ logger: silent, metrics: { observeRun: (_j, o) => outcomes.push(o) } });
  let runs = 0;
  let concurrent = 0;
  let maxConcurrent = 0;
  s.add({
    name: 'deaf',
    cron: '0 0 1 1 *',
    timeoutMs: 100,
    run: async () => {
      runs++;
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      await new Promise((r) => setTimeout(r, 500)); // ignores its AbortSignal
      concurrent--;
    },
  });
  await s.runNow('deaf'); // resolves at the timeout, the job still runs
  assert.deepEqual(outcomes, ['timeout']);
  await s.runNow('deaf'); // must not start a second copy
  assert.equal(runs, 1);
  assert.ok(outcomes.includes('skipped_overlap'));
  await s.stop(); // waits for the deaf run
  assert.equal(maxConcurrent, 1);
});

test('an error finding is replaced once the check runs again successfully', async () => {
  const real = new EmbeddedStore({ path: join(tmp.dir, 'recover.db'), retentionDays: 30, rollupAfterHours: 48 });
  let down = true;
  const store: StatsStore = {
    describe: 'flaky',
    listSeries: async () => {
      if (down) throw new Error('database is locked');
      return real.listSeries();
    },
    readWindows: (q) => real.readWindows(q),
    writeWindows: (d) => real.writeWindows(d),
    maintain: (n) => real.maintain(n),
    health: () => real.health(),
    close: () => real.close(),
  };
  const a = createAnalyzerApp(cfg(), { store, registry: new LocalRegistry(join(tmp.dir, 'registry')), logger: silent });
  await a.runner.run('drift');
  assert.equal(a.findings.latest({ check: 'drift' })[0]!.status, 'error');
  down = false;
  await a.runner.run('drift');
  assert.deepEqual(a.findings.latest({ check: 'drift' }), [], 'nothing to report, and the old error is gone');
  assert.equal(a.findings.history({ sinceMs: 0, check: 'drift' }).length, 1, 'the history keeps it');
  await a.close();
  await real.close();
});

test('time points: epoch seconds are seconds, and out-of-range times are refused (not a 500)', () => {
  const now = Date.UTC(2026, 11, 1);
  assert.equal(parseTimePoint('1735689600', now), 1735689600_000);
  assert.equal(parseTimePoint('1735689600000', now), 1735689600_000);
  assert.equal(parseTimePoint('100000000000d', now), null);
  assert.equal(parseTimePoint('9999999999999999', now), null);
  assert.equal(parseTimePoint('2026-13-45', now), null);
});
