/**
 * The status page's model-quality and data-quality sections, in headless Chromium over a real
 * stack: the scoring server with the example model (reference from its training period), the
 * sidecar with labels enabled, real Seattle traffic with its observed `weather` labels posted to
 * the admin API, and the analyzer (its own admin port) running the checks twice. The page must show
 * the same accuracy as the API, chart realised and estimated accuracy, show the data-quality summary,
 * fit a 400 px screen and make no failed request.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { chromium } from 'playwright-core';
import { createAnalyzerApp } from '../../src/app/analyzer-app.js';
import { createProxyApp } from '../../src/app/proxy-app.js';
import { loadConfig } from '../../src/config/load.js';
import { buildReferenceFromFile } from '../../src/reference/build-reference.js';
import { LocalRegistry } from '../../src/registry/local-registry.js';
import { EmbeddedStore } from '../../src/store/embedded.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { EXAMPLE_MODEL_DIR, FEATURES, ROOT, startServer, tempDir, weatherRows } from '../helpers.js';

const CHROMIUM = process.env.DRIFTWATCH_TEST_CHROMIUM || '/usr/bin/chromium';
const tmp = tempDir('dw-status-quality-');
after(() => tmp.cleanup());
const silent = createLogger({ level: 'silent' });

test('the status page shows realised vs estimated accuracy and the data-quality summary', async (t) => {
  if (!existsSync(CHROMIUM)) {
    const reason = `${CHROMIUM} not found (Debian package chromium); the quality sections are not checked in a browser`;
    if (process.env.DRIFTWATCH_TEST_REQUIRE_CHROMIUM === '1') assert.fail(`${reason}, and DRIFTWATCH_TEST_REQUIRE_CHROMIUM=1`);
    console.warn(`WARNING: skipping: ${reason}`);
    t.skip(reason);
    return;
  }
  const registryRoot = join(tmp.dir, 'registry');
  const registry = new LocalRegistry(registryRoot);
  await registry.createModelVersion({ name: 'seattle-weather', sourceDir: EXAMPLE_MODEL_DIR });
  await buildReferenceFromFile(
    { registry, now: Date.now },
    {
      modelUri: 'models:/seattle-weather/1',
      dataPath: join(ROOT, 'examples', 'seattle-weather', 'training.csv'),
      settings: { bins: 10, sketchK: 200, maxCategories: 100 },
    },
  );
  const server = await startServer({ registryRoot, models: [{ uri: 'models:/seattle-weather/1' }] });
  const config = loadConfig({
    env: {},
    overrides: {
      proxy: { port: 0, upstream: server.url, model: 'seattle-weather', version: '1' },
      admin: { port: 0 },
      registry: { root: registryRoot },
      store: { embedded: { path: join(tmp.dir, 'stats.db') } },
      stats: { flushIntervalMs: 60_000 },
      labels: { enabled: true, path: join(tmp.dir, 'predictions.db'), classes: ['drizzle', 'fog', 'rain', 'snow', 'sun'] },
      checks: {
        findingsPath: join(tmp.dir, 'findings.db'),
        quality: { minLabelled: 50, thresholds: { accuracy: { warn: 0.99 } } },
        dataQuality: { minRows: 50 },
        staleness: { noTraffic: '' },
      },
      alerts: { outboxPath: join(tmp.dir, 'alerts.db') },
      log: { level: 'silent' },
    },
  });
  const proxy = createProxyApp(config, { logger: silent, registry });
  const proxyAddr = await proxy.start();
  const store = new EmbeddedStore(config.store.embedded);
  const analyzer = createAnalyzerApp(config, { store, registry, logger: silent, admin: true });
  const { admin } = await analyzer.start();
  const adminUrl = `http://127.0.0.1:${admin!.port}`;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless'] });
  try {
    const rows = weatherRows('2014-01-01', '2014-06-30');
    const labels: Array<{ request_id: string; label: string }> = [];
    for (let i = 0; i < rows.length; i += 20) {
      const part = rows.slice(i, i + 20);
      const res = await fetch(`http://127.0.0.1:${proxyAddr.proxy.port}/invocations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ dataframe_split: { columns: FEATURES, data: part.map((r) => r.features) } }),
      });
      assert.equal(res.status, 200);
      const id = res.headers.get('x-request-id')!;
      part.forEach((r, j) => labels.push({ request_id: part.length === 1 ? id : `${id}#${j}`, label: r.weather }));
    }
    await proxy.flushStats();
    const posted = await fetch(`http://127.0.0.1:${proxyAddr.admin!.port}/api/labels`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(labels),
    });
    assert.equal(((await posted.json()) as { matched: number }).matched, rows.length);
    await analyzer.runner.runAll();
    await analyzer.runner.runAll();
    const api = (await (await fetch(`${adminUrl}/api/findings?check=quality`)).json()) as {
      findings: Array<{ metric: string; value: number; status: string }>;
    };
    const accuracy = api.findings.find((f) => f.metric === 'accuracy')!;
    assert.ok(accuracy.value > 0 && accuracy.value < 1);
    assert.equal(accuracy.status, 'warn');

    const page = await browser.newPage({ viewport: { width: 400, height: 900 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`);
    });
    await page.goto(`${adminUrl}/ui`);
    await page.waitForSelector('section.quality svg[data-chart="quality"]');
    const shown = await page.$eval('section.quality tr[data-metric="accuracy"] td.num', (td) => td.textContent);
    assert.equal(Number(shown), Number(accuracy.value.toPrecision(3)), `page ${shown} vs API ${accuracy.value}`);
    const chart = await page.$eval('svg[data-chart="quality"]', (s) => ({
      realised: Number(s.getAttribute('data-realised')),
      estimated: Number(s.getAttribute('data-estimated')),
    }));
    assert.ok(chart.realised >= 2 && chart.estimated >= 2, JSON.stringify(chart));
    const dq = await page.$eval('p[data-ok]', (p) => p.textContent);
    assert.match(dq ?? '', /of \d+ feature rules ok/);
    const widths = await page.evaluate(() => {
      const root = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document.documentElement;
      return { scroll: root.scrollWidth, client: root.clientWidth };
    });
    assert.ok(widths.scroll <= widths.client, `no sideways scroll at 400 px: ${JSON.stringify(widths)}`);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await analyzer.close();
    await proxy.close();
    await store.close();
    await server.close();
  }
});
