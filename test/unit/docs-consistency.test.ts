/** The docs and example configs cannot drift from the code: each is checked against it here. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { envLeaves } from '../../src/config/env.js';
import { loadConfig } from '../../src/config/load.js';
import { ERRORS } from '../../src/errors.js';
import { ROOT } from '../helpers.js';

test('every error code is documented in docs/errors.md with its status', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');
  for (const [code, spec] of Object.entries(ERRORS)) {
    const row = doc.split('\n').find((l) => l.startsWith(`| \`${code}\` |`));
    assert.ok(row, `${code} missing from docs/errors.md`);
    assert.match(row, new RegExp(`\\| ${spec.status} \\| \`${spec.mlflowCode}\` \\|`), `${code} row disagrees with src/errors.ts`);
  }
  const documented = [...doc.matchAll(/^\| `(DW_ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]);
  for (const code of documented) assert.ok(code! in ERRORS, `docs/errors.md lists ${code}, which the code does not declare`);
});

test('every setting and its DRIFTWATCH_* variable is documented in docs/configuration.md', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'configuration.md'), 'utf8');
  for (const leaf of envLeaves()) {
    assert.ok(
      doc.includes(`| \`${leaf.path.join('.')}\` | \`${leaf.envName}\` |`),
      `${leaf.path.join('.')} (${leaf.envName}) missing from docs/configuration.md`,
    );
  }
});

test('every example config in config/ loads', () => {
  const files = readdirSync(join(ROOT, 'config')).filter((f) => /\.(ya?ml|json)$/.test(f));
  assert.ok(files.length >= 3);
  for (const f of files) {
    const cfg = loadConfig({ file: join(ROOT, 'config', f), env: { DRIFTWATCH_ADMIN_TOKEN: 'example-token-0123456789' } });
    assert.ok(cfg.serve.models.length > 0 || cfg.proxy.upstream, `${f} serves no model and fronts no upstream`);
  }
});

test('every metric the scoring server and the proxy register is documented in docs/metrics.md', async () => {
  const { createServeMetrics, createProxyMetrics, createStoreMetrics, createCheckMetrics } = await import('../../src/telemetry/metrics.js');
  const doc = readFileSync(join(ROOT, 'docs', 'metrics.md'), 'utf8');
  const m = createServeMetrics({ defaultMetrics: false });
  createProxyMetrics({ registry: m.registry });
  createStoreMetrics(m.registry, () => ({ pending: 0, dropped: 0 }));
  createCheckMetrics(m.registry);
  const { createAlertMetrics } = await import('../../src/alerts/alert-metrics.js');
  createAlertMetrics(m.registry);
  const names = (await m.registry.getMetricsAsJSON()).map((x) => x.name);
  assert.ok(names.length >= 17);
  for (const name of names) assert.ok(doc.includes(`| \`${name}\` |`), `${name} missing from docs/metrics.md`);
});
