/**
 * The fleet's findings read back from dw_finding for the alert handover (src/store/influx-findings.ts):
 * the statement's text, and the newest finding per finding key out of series split by the tags a
 * key does not include (status, metric). The round trip through a real InfluxDB is in
 * test/integration/alert-handover.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findingKey } from '../../src/findings/finding.js';
import { latestFindingsFrom, latestFindingsStatements } from '../../src/store/influx-findings.js';
import { findingToPoint, type QuerySeries } from '../../src/store/influx-schema.js';

test('one statement per hundred models, names quoted, judged findings only, grouped by the key and metric', () => {
  const models = Array.from({ length: 150 }, (_, i) => `m${i}`);
  models[3] = "o'brien";
  const text = latestFindingsStatements(models, 1000, 2000);
  const statements = text.split('; ');
  assert.equal(statements.length, 2);
  assert.match(statements[0]!, /"model" = 'o\\'brien'/);
  assert.match(statements[0]!, /"insufficient" = 0 AND time >= 1000ms AND time < 2000ms/);
  assert.match(statements[0]!, /GROUP BY "check", "model", "version", "subject", "role", "metric"$/);
  assert.equal((statements[1]!.match(/"model" = /g) ?? []).length, 50);
});

test('the newest finding per key wins across status series; absent tags read back as the finding had them', () => {
  const series = (tags: Record<string, string>, time: number, level: number, message: string): QuerySeries => ({
    name: 'dw_finding',
    tags,
    columns: ['time', 'level', 'value', 'threshold_warn', 'threshold_fail', 'n', 'window_seconds', 'message'],
    values: [[time, level, 0.3, 0.1, 0.25, 500, 3600, message]],
  });
  const drift = { check: 'drift', model: 'fraud', version: '1', subject: 'x', role: 'input' };
  const slo = { check: 'slo', model: 'fraud', version: '', subject: 'p99', role: '' };
  const found = latestFindingsFrom([
    [
      series({ ...drift, metric: 'psi' }, 5000, 2, 'fail, newer'),
      series({ ...drift, metric: 'ks_pvalue' }, 4000, 0, 'ok, older'),
      series({ ...slo, metric: 'p99_ms' }, 3000, 1, 'slo warn'),
      series({ ...slo, metric: 'p99_ms' }, 3500, 9, 'not a status level'),
    ],
  ]);
  assert.deepEqual(
    found.map((f) => `${findingKey(f)}=${f.status}@${f.at}:${f.message}`).sort(),
    [`drift\u001ffraud\u001f1\u001finput\u001fx=fail@5000:fail, newer`, `slo\u001ffraud\u001f*\u001f\u001fp99=warn@3000:slo warn`].sort(),
  );
  const f = found.find((x) => x.check === 'drift')!;
  assert.deepEqual(f.threshold, { warn: 0.1, fail: 0.25, direction: 'above' });
  assert.deepEqual(f.window, { fromMs: 5000 - 3_600_000, toMs: 5000, label: '3600s' });
  // What findingToPoint writes for such a finding has the tags the reader expects.
  const point = findingToPoint(f);
  assert.deepEqual(Object.keys(point.tags).sort(), ['check', 'metric', 'model', 'role', 'status', 'subject', 'version']);
});
