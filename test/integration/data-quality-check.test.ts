/**
 * The data-quality check on the real embedded store: a reference built from clean rows (numeric
 * and categorical features, with some missing values of its own), then windows of traffic with
 * known problems injected (more missing values, out-of-range numbers, unseen categories, text in a
 * numeric column); each rule's share must equal the injected share and its status follow the
 * limits; a clean window passes every rule; too few values is insufficient data.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import type { Finding } from '../../src/findings/finding.js';
import { runDataQualityCheck } from '../../src/quality/data-quality-check.js';
import { latencyBounds } from '../../src/stats/latency-histogram.js';
import { buildReference } from '../../src/stats/reference.js';
import type { Cell } from '../../src/stats/feature-profile.js';
import { emptyWindow, observeRequest, observeRows } from '../../src/stats/window-profile.js';
import { EmbeddedStore } from '../../src/store/embedded.js';
import { mulberry32, normal } from '../prng.js';
import { tempDir } from '../helpers.js';

const tmp = tempDir('dw-dq-');
after(() => tmp.cleanup());
const NOW = Date.UTC(2026, 11, 7, 12);
const r = mulberry32(9);
const COLORS = ['red', 'green', 'blue'];

/** A clean row; the reference's own `note` column is missing in 10% of rows. */
const cleanRow = (): Record<string, Cell> => ({
  x: 10 + normal(r),
  color: COLORS[Math.floor(r() * 3)]!,
  note: r() < 0.1 ? null : 'ok',
});

const reference = buildReference({
  model: 'm',
  version: '1',
  source: 'test',
  createdAtMs: 0,
  rows: Array.from({ length: 5000 }, cleanRow),
  bins: 10,
  sketchK: 200,
  maxCategories: 100,
});
const opts = { sketchK: 200, maxCategories: 100, maxFeatures: 512 };

async function storeWith(rows: Array<Record<string, Cell>>, name: string): Promise<EmbeddedStore> {
  const store = new EmbeddedStore({ path: join(tmp.dir, `${name}.db`), retentionDays: 30, rollupAfterHours: 48 });
  const w = emptyWindow({ model: 'm', version: '1', startMs: NOW - 30 * 60_000, windowSeconds: 60 }, latencyBounds([]));
  for (let i = 0; i < rows.length; i++) observeRequest(w, 200, 5);
  observeRows(w, rows, [], reference, opts);
  await store.writeWindows([w]);
  return store;
}

function config(extra: Record<string, unknown> = {}) {
  return loadConfig({ env: {}, overrides: { checks: { dataQuality: { window: '1h', ...extra } }, log: { level: 'silent' } } }).checks.dataQuality;
}

const byName = (fs: readonly Finding[]) => Object.fromEntries(fs.map((f) => [f.subject.name, f]));

test('injected problems are measured exactly and judged against their limits', async () => {
  const n = 2000;
  const rows = Array.from({ length: n }, (_, i) => {
    const row = cleanRow();
    if (i % 10 < 3)
      row.x = null; // 30% missing (the reference has none): fail (limit 20%)
    else if (i % 50 === 3)
      row.x = 1e6; // 2% of all rows, out of the reference's range: warn (1%..5%)
    else if (i % 100 === 4) row.x = 'twelve'; // 1% text in a numeric column: fail (limit 1%)
    if (i % 20 === 0) row.color = 'purple'; // 5% unseen: fail (limit 5%)
    if (i % 10 === 5) row.note = null; // 10% more missing on top of the reference's 10%: warn? no: 20% vs 10%+5%=15%: warn
    return row;
  });
  const store = await storeWith(rows, 'problems');
  const findings = await runDataQualityCheck({ store, referenceFor: async () => reference }, config(), NOW);
  await store.close();
  const f = byName(findings);
  const missingX = rows.filter((x) => x.x === null).length / n;
  const typed = rows.filter((x) => x.x !== null);
  const numbers = typed.filter((x) => typeof x.x === 'number');
  assert.equal(f['missing_share:x']!.value, missingX);
  assert.equal(f['missing_share:x']!.status, 'fail');
  // Out of range: outside the reference's [min, max] (the injected 1e6 values, and the odd clean value in the tails).
  const { lo, hi } = reference.features.x!.binEdges!;
  const outside = numbers.filter((x) => (x.x as number) < lo || (x.x as number) > hi).length;
  assert.ok(outside >= numbers.filter((x) => x.x === 1e6).length);
  assert.equal(f['out_of_range_share:x']!.value, outside / numbers.length);
  assert.equal(f['out_of_range_share:x']!.status, 'warn');
  assert.equal(f['type_mismatch_share:x']!.value, typed.filter((x) => typeof x.x === 'string').length / typed.length);
  assert.equal(f['type_mismatch_share:x']!.status, 'fail');
  assert.equal(f['unseen_category_share:color']!.value, 0.05);
  assert.equal(f['unseen_category_share:color']!.status, 'fail');
  // The missing rule is relative to the reference's own share (about 10% for `note`).
  const note = f['missing_share:note']!;
  const refShare = note.detail!.reference_missing_share as number;
  assert.ok(refShare > 0.08 && refShare < 0.12, `reference missing share ${refShare}`);
  assert.ok(Math.abs(note.threshold.warn! - (refShare + 0.05)) < 1e-12);
  assert.equal(note.status, (note.value! >= refShare + 0.2 ? 'fail' : note.value! >= refShare + 0.05 ? 'warn' : 'ok') as Finding['status']);
  assert.equal(f['type_mismatch_share:color']!.status, 'ok');
  for (const x of findings) assert.equal(x.sampleSize, n, x.subject.name);
  assert.match(f['missing_share:x']!.message, /m v1 x: 30\.0% missing \(>= 20\.0%\) over the last 1h, n=2,000, reference 0\.0%/);
});

test('a clean window passes every rule; too few values is insufficient data, never a verdict', async () => {
  const store = await storeWith(Array.from({ length: 1000 }, cleanRow), 'clean');
  const findings = await runDataQualityCheck({ store, referenceFor: async () => reference }, config(), NOW);
  assert.ok(findings.length >= 8);
  assert.deepEqual(
    findings.filter((x) => x.status !== 'ok').map((x) => x.message),
    [],
  );
  const few = await runDataQualityCheck({ store, referenceFor: async () => reference }, config({ minRows: 5000 }), NOW);
  assert.ok(few.every((x) => x.insufficientData && x.status === 'ok'));
  // No reference: nothing to compare with, no findings; an unreadable one is an error finding.
  assert.deepEqual(await runDataQualityCheck({ store, referenceFor: async () => null }, config(), NOW), []);
  const broken = await runDataQualityCheck(
    {
      store,
      referenceFor: async () => {
        throw new Error('registry down');
      },
    },
    config(),
    NOW,
  );
  assert.equal(broken[0]!.status, 'error');
  await store.close();
});
