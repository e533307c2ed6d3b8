/**
 * The shipped Prometheus alerting rules (config/prometheus/driftwatch-rules.yaml): promtool finds
 * them valid (`promtool check rules`) and their unit tests pass (`promtool test rules` with
 * driftwatch-rules.test.yaml: input series, expected alerts), every alert has a unit test, and
 * every metric a rule reads is one driftwatch serves on a real /metrics and documents in
 * docs/metrics.md (a renamed metric would leave a rule silently matching nothing).
 *
 * Without promtool on PATH the promtool part skips loudly; with
 * DRIFTWATCH_TEST_REQUIRE_PROMETHEUS=1 it fails (CI: Debian package `prometheus`).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { createAdmin } from '../../src/app/admin.js';
import type { AdminServer } from '../../src/admin/admin-server.js';
import { loadConfig } from '../../src/config/load.js';
import { createAlertMetrics } from '../../src/alerts/alert-metrics.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { createCheckMetrics, createProxyMetrics, createServeMetrics, createStoreMetrics } from '../../src/telemetry/metrics.js';
import { findBinary } from '../influx-server.js';
import { ROOT } from '../helpers.js';

const run = promisify(execFile);
const RULES_DIR = join(ROOT, 'config', 'prometheus');
const RULES_FILE = join(RULES_DIR, 'driftwatch-rules.yaml');
const RULES_TEST_FILE = join(RULES_DIR, 'driftwatch-rules.test.yaml');
const PROMTOOL = findBinary('promtool');

type Rule = { alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
const rules = (parse(readFileSync(RULES_FILE, 'utf8')) as { groups: Array<{ name: string; rules: Rule[] }> }).groups.flatMap((g) => g.rules);

/** Metric names an expression reads (driftwatch's own: the prefix is the namespace). */
const metricsOf = (expr: string): string[] => [...expr.matchAll(/\bdriftwatch_[a-z0-9_]+/g)].map((m) => m[0]);

function gate(t: TestContext): boolean {
  if (PROMTOOL) return true;
  const msg = 'promtool not found on PATH (apt-get install prometheus)';
  if (process.env.DRIFTWATCH_TEST_REQUIRE_PROMETHEUS === '1') assert.fail(`${msg}, and DRIFTWATCH_TEST_REQUIRE_PROMETHEUS=1 requires it`);
  console.warn(`SKIPPED: prometheus-rules: ${msg}; the alerting rules are NOT checked by promtool`);
  t.skip(`SKIPPED: ${msg}; set DRIFTWATCH_TEST_REQUIRE_PROMETHEUS=1 to make this a failure`);
  return false;
}

async function promtool(...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(PROMTOOL!, args, { cwd: RULES_DIR, timeout: 60_000 });
    return { code: 0, out: stdout + stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

describe('Prometheus alerting rules', () => {
  test('the rules file has alerts for drift, burn rate, staleness, capture drops, store backlog, check failures, quality and data quality', () => {
    const used = new Set(rules.flatMap((r) => metricsOf(r.expr)));
    for (const m of [
      'driftwatch_drift_share',
      'driftwatch_drift_psi',
      'driftwatch_slo_burn_rate',
      'driftwatch_model_stale',
      'driftwatch_capture_dropped_total',
      'driftwatch_store_pending_windows',
      'driftwatch_store_backend_dropped_total',
      'driftwatch_check_runs_total',
      'driftwatch_quality_accuracy_drop',
      'driftwatch_data_quality_share',
      'driftwatch_capture_unparseable_total',
      'driftwatch_predictions_log_dropped_total',
    ])
      assert.ok(used.has(m), `no rule reads ${m}`);
    for (const r of rules) {
      assert.ok(r.alert && /^Driftwatch[A-Za-z]+$/.test(r.alert), `alert name ${r.alert}`);
      assert.ok(['warning', 'critical'].includes(r.labels?.severity ?? ''), `${r.alert}: severity label`);
      assert.ok(r.annotations?.summary && r.annotations.description, `${r.alert}: summary and description`);
    }
  });

  test('promtool check rules: valid', async (t) => {
    if (!gate(t)) return;
    const r = await promtool('check', 'rules', RULES_FILE);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`SUCCESS: ${rules.length} rules found`));
  });

  test('promtool test rules: the expected alerts fire (and only those), and every alert is tested', async (t) => {
    if (!gate(t)) return;
    const tests = parse(readFileSync(RULES_TEST_FILE, 'utf8')) as { tests: Array<{ alert_rule_test: Array<{ alertname: string }> }> };
    const tested = new Set(tests.tests.flatMap((x) => x.alert_rule_test.map((a) => a.alertname)));
    const untested = rules.map((r) => r.alert!).filter((a) => !tested.has(a));
    assert.deepEqual(untested, [], `alerts without a promtool unit test: ${untested.join(', ')}`);
    const r = await promtool('test', 'rules', RULES_TEST_FILE);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /SUCCESS/);
  });

  test('promtool test rules fails on a wrong expectation (the check above can fail)', async (t) => {
    if (!gate(t)) return;
    const { mkdtempSync, writeFileSync, rmSync, copyFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'dw-rules-'));
    try {
      copyFileSync(RULES_FILE, join(dir, 'driftwatch-rules.yaml'));
      writeFileSync(join(dir, 't.yaml'), readFileSync(RULES_TEST_FILE, 'utf8').replace('model: iris, version: "3" }', 'model: fraud, version: "3" }'));
      const { code, out } = await promtool('test', 'rules', join(dir, 't.yaml'));
      assert.notEqual(code, 0, 'promtool accepted a wrong expected alert');
      assert.match(out, /FAILED/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('every metric a rule reads is on a real /metrics and in docs/metrics.md', () => {
    let admin: AdminServer | null = null;
    let text = '';
    before(async () => {
      // Every registry driftwatch's applications put on /metrics, behind the real admin server.
      const m = createServeMetrics({ defaultMetrics: false });
      createProxyMetrics({ registry: m.registry });
      createStoreMetrics(m.registry, () => ({ pending: 0, dropped: 0 }));
      createCheckMetrics(m.registry);
      createAlertMetrics(m.registry);
      const config = loadConfig({ env: {}, overrides: { admin: { port: 0 }, log: { level: 'silent' } } });
      admin = createAdmin(config, createLogger({ level: 'silent' }), { metrics: m.registry, ready: () => true });
      const addr = await admin!.listen();
      text = await (await fetch(`http://127.0.0.1:${addr.port}/metrics`)).text();
    });
    after(async () => {
      await admin?.close();
    });

    test('names and types', () => {
      const families = new Map<string, string>();
      for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) families.set(m[1]!, m[2]!);
      const doc = readFileSync(join(ROOT, 'docs', 'metrics.md'), 'utf8');
      const problems: string[] = [];
      for (const r of rules) {
        for (const name of metricsOf(r.expr)) {
          const base = name.replace(/_(bucket|sum|count)$/, '');
          const type = families.get(name) ?? (families.get(base) === 'histogram' ? 'histogram' : undefined);
          if (!type) problems.push(`${r.alert}: ${name} is not on /metrics`);
          else if (new RegExp(`\\b(rate|increase|irate)\\(\\s*${name}\\b`).test(r.expr) && type !== 'counter' && type !== 'histogram')
            problems.push(`${r.alert}: ${name} is a ${type}; rate()/increase() need a counter`);
          if (!doc.includes(`| \`${base}\` |`)) problems.push(`${r.alert}: ${base} is not in docs/metrics.md`);
        }
      }
      assert.deepEqual(problems, []);
      assert.equal(families.has('driftwatch_no_such_metric'), false);
    });
  });
});
