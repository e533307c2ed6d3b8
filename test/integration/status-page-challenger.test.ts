/**
 * The status page's challenger section, in headless Chromium over the `driftwatch start`
 * composition (createAllInOneApp): the example model as champion, a copy with its "sun" bias
 * raised as challenger on every request, real Seattle traffic through the sidecar. The page must
 * show the API's agreement, verdict and confusion (its diagonal is the agreement), name the
 * challenger in the models table, fit a 400 px screen and make no failed request; a process
 * without a challenger must not ask for /api/challenger at all. The same section on a sidecar's
 * admin (`driftwatch proxy --shadow-upstream`, in front of two scoring servers): its /api/models
 * names the challenger endpoint, so the page shows the proxy's comparison with the API's values.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { chromium, type Page } from 'playwright-core';
import { createAllInOneApp } from '../../src/app/all-in-one.js';
import { loadConfig } from '../../src/config/load.js';
import { LocalRegistry } from '../../src/registry/local-registry.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { EmbeddedStore } from '../../src/store/embedded.js';
import { sendWeatherYear, settledShadow, shadowingProxy, weatherWithChallenger } from '../challenger-fixture.js';
import { EXAMPLE_MODEL_DIR, ROOT, tempDir } from '../helpers.js';

const CHROMIUM = process.env.DRIFTWATCH_TEST_CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'test', 'artifacts');
const tmp = tempDir('dw-status-challenger-');
after(() => tmp.cleanup());
const silent = createLogger({ level: 'silent' });

function needChromium(t: TestContext): boolean {
  if (existsSync(CHROMIUM)) return true;
  const reason = `${CHROMIUM} not found (Debian package chromium); the challenger section is not checked in a browser`;
  if (process.env.DRIFTWATCH_TEST_REQUIRE_CHROMIUM === '1') assert.fail(`${reason}, and DRIFTWATCH_TEST_REQUIRE_CHROMIUM=1`);
  console.warn(`WARNING: skipping: ${reason}`);
  t.skip(reason);
  return false;
}

async function stack(name: string, challenger: boolean) {
  const dir = join(tmp.dir, name);
  let registryRoot = join(dir, 'registry');
  let registry = new LocalRegistry(registryRoot);
  if (challenger) {
    ({ registry, registryRoot } = await weatherWithChallenger(dir));
    await registry.setAlias('weather', 'challenger', 2);
  } else await registry.createModelVersion({ name: 'weather', sourceDir: EXAMPLE_MODEL_DIR });
  const config = loadConfig({
    env: {},
    overrides: {
      serve: {
        port: 0,
        models: [{ uri: 'models:/weather/1', name: 'weather', ...(challenger ? { challenger: 'models:/weather@challenger', shadowSample: 1 } : {}) }],
        shadow: { queueSize: 10_000 },
      },
      proxy: { port: 0 },
      admin: { port: 0 },
      registry: { root: registryRoot },
      store: { embedded: { path: join(dir, 'stats.db') } },
      checks: {
        enabled: false,
        findingsPath: join(dir, 'findings.db'),
        challenger: { minPairs: 50 },
        staleness: { noTraffic: '' },
      },
      alerts: { outboxPath: join(dir, 'alerts.db') },
      log: { level: 'silent' },
    },
  });
  const app = createAllInOneApp(config, { logger: silent, registry });
  const addrs = await app.start();
  return { app, proxyUrl: `http://127.0.0.1:${addrs.proxy.port}`, adminUrl: `http://127.0.0.1:${addrs.admin!.port}` };
}

/** Opens /ui, collecting console errors and failed responses, and every /api path asked. */
async function open(page: Page, url: string) {
  const problems: string[] = [];
  const asked: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`);
  });
  page.on('request', (r) => asked.push(new URL(r.url()).pathname));
  await page.goto(`${url}/ui`);
  await page.waitForSelector('#status[data-refreshes="1"]');
  return { problems, asked };
}

test('the status page shows champion vs challenger: agreement, verdict, confusion', async (t) => {
  if (!needChromium(t)) return;
  const { app, proxyUrl, adminUrl } = await stack('with', true);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless'] });
  try {
    await sendWeatherYear(proxyUrl);
    const shadow = app.serveApp.shadows.get('weather')!;
    for (let i = 0; i < 400 && (shadow.pending > 0 || shadow.counts.scored + shadow.counts.failed < shadow.counts.sampled); i++)
      await new Promise((r) => setTimeout(r, 25));
    // The check runs beside the scoring server in start: its finding reaches the findings table.
    const run = (await (
      await fetch(`${adminUrl}/api/checks/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    ).json()) as any;
    const finding = run.findings.find((f: any) => f.check === 'challenger');
    assert.ok(finding, JSON.stringify(run.findings.map((f: any) => f.check)));
    const api = (await (await fetch(`${adminUrl}/api/challenger`)).json()) as any;
    const c = api.models[0].comparisons[0];
    assert.equal(c.requests, 73);
    assert.ok(c.agreement > 0.5 && c.agreement < 0.97, `a real share of disagreement: ${c.agreement}`);
    assert.equal(finding.status, c.status);

    const page = await browser.newPage({ viewport: { width: 400, height: 900 } });
    const { problems, asked } = await open(page, adminUrl);
    assert.ok(asked.includes('/api/challenger'));
    const section = await page.$eval('section.challenger', (s) => ({
      model: s.getAttribute('data-model'),
      verdict: s.getAttribute('data-verdict'),
      message: s.querySelector('p.verdict')?.textContent,
      head: s.querySelector('h3')?.textContent,
    }));
    assert.equal(section.model, 'weather');
    assert.equal(section.verdict, c.verdict.ready ? 'ready' : c.verdict.insufficient ? 'insufficient' : 'not-ready');
    assert.equal(section.message, c.verdict.message);
    assert.match(section.head ?? '', /challenger v2 vs champion v1/);
    const row = await page.$eval('section.challenger tr[data-champion="1"][data-challenger="2"]', (tr) => ({
      status: tr.getAttribute('data-status'),
      agreement: Number(tr.querySelector('td[data-agreement]')!.getAttribute('data-agreement')),
      requests: Number(tr.querySelector('td[data-requests]')!.getAttribute('data-requests')),
      shown: tr.querySelector('td[data-agreement]')!.textContent,
    }));
    assert.deepEqual([row.status, row.agreement, row.requests], [c.status, c.agreement, 73]);
    assert.equal(row.shown, `${(c.agreement * 100).toFixed(0)}%`);
    // The confusion's diagonal holds the rows both models labelled alike.
    const cells = await page.$$eval('section.challenger table.confusion td[data-challenger-label]', (tds) =>
      tds.map((td) => ({
        a: td.parentElement!.getAttribute('data-champion-label'),
        b: td.getAttribute('data-challenger-label'),
        n: Number((td.textContent ?? '').replace(/,/g, '')) || 0,
      })),
    );
    const diagonal = cells.filter((x) => x.a === x.b).reduce((s, x) => s + x.n, 0);
    assert.equal(diagonal, Math.round(c.agreement * c.labelRows));
    assert.equal(
      cells.reduce((s, x) => s + x.n, 0),
      365,
    );
    assert.equal(await page.$eval('tr[data-model="weather"] [data-challenger]', (d) => d.getAttribute('data-challenger')), 'models:/weather@challenger');
    assert.ok(await page.$(`tr[data-check="challenger"][data-status="${c.status}"]`), 'the challenger finding is in the findings table');
    const widths = await page.evaluate(() => {
      const root = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document.documentElement;
      return { scroll: root.scrollWidth, client: root.clientWidth };
    });
    assert.ok(widths.scroll <= widths.client, `no sideways scroll at 400 px: ${JSON.stringify(widths)}`);
    assert.deepEqual(problems, []);
    // For people reviewing a change (gitignored), at a desktop width.
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.setViewportSize({ width: 1280, height: 900 });
    await (await page.$('section.challenger'))!.screenshot({ path: join(ARTIFACTS, 'status-page-challenger.png') });
  } finally {
    await browser.close();
    await app.close();
  }
});

test('without a challenger the page never asks for /api/challenger and shows no section', async (t) => {
  if (!needChromium(t)) return;
  const { app, adminUrl } = await stack('without', false);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless'] });
  try {
    const page = await browser.newPage();
    const { problems, asked } = await open(page, adminUrl);
    assert.ok(asked.includes('/api/models'));
    assert.ok(!asked.includes('/api/challenger'), asked.join(' '));
    assert.equal(await page.$('section.challenger'), null);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await app.close();
  }
});

test("a sidecar's shadow: the proxy's admin page shows its challenger endpoint and the API's comparison", async (t) => {
  if (!needChromium(t)) return;
  const dir = join(tmp.dir, 'proxy');
  const store = new EmbeddedStore({ path: join(dir, 'stats.db'), retentionDays: 1, rollupAfterHours: 48 });
  const proxy = await shadowingProxy(await weatherWithChallenger(dir), { store, config: { checks: { challenger: { minPairs: 50 } } } });
  const { adminUrl } = proxy;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless'] });
  try {
    await sendWeatherYear(proxy.proxyUrl);
    await settledShadow(proxy.app);
    const api = (await (await fetch(`${adminUrl}/api/challenger`)).json()) as any;
    const m = api.models[0];
    const c = m.comparisons[0];
    assert.deepEqual([m.model, m.challenger.uri, c.championVersion, c.challengerVersion, c.requests], ['weather', proxy.challengerUrl, '1', '2', 73]);

    const page = await browser.newPage({ viewport: { width: 400, height: 900 } });
    const { problems, asked } = await open(page, adminUrl);
    assert.ok(asked.includes('/api/challenger'), asked.join(' '));
    const section = await page.$eval('section.challenger', (s) => ({
      model: s.getAttribute('data-model'),
      verdict: s.getAttribute('data-verdict'),
      message: s.querySelector('p.verdict')?.textContent,
      head: s.querySelector('h3')?.textContent,
      text: s.textContent,
    }));
    assert.equal(section.model, 'weather');
    assert.equal(section.verdict, c.verdict.ready ? 'ready' : c.verdict.insufficient ? 'insufficient' : 'not-ready');
    assert.equal(section.message, c.verdict.message);
    assert.match(section.head ?? '', /challenger v2 vs champion v1/);
    assert.ok(section.text?.includes(proxy.challengerUrl) && section.text.includes(proxy.championUrl), section.text ?? '');
    const row = await page.$eval('section.challenger tr[data-champion="1"][data-challenger="2"]', (tr) => ({
      status: tr.getAttribute('data-status'),
      agreement: Number(tr.querySelector('td[data-agreement]')!.getAttribute('data-agreement')),
      requests: Number(tr.querySelector('td[data-requests]')!.getAttribute('data-requests')),
    }));
    assert.deepEqual([row.status, row.agreement, row.requests], [c.status, c.agreement, 73]);
    // The models table names the challenger endpoint and the version its answers carry.
    const named = await page.$eval('tr[data-model="weather"] [data-challenger]', (d) => ({ uri: d.getAttribute('data-challenger'), text: d.textContent }));
    assert.equal(named.uri, proxy.challengerUrl);
    assert.match(named.text ?? '', /\(v2\)/);
    // A sidecar runs no checks: /api/findings answers 404 there (the page shows none); nothing else
    // may fail. Each failed response is listed by URL; the browser's console echo of it says no more.
    const failed = problems.filter(
      (p) => !/^404 \S+\/api\/findings(\?|$)/.test(p) && !p.startsWith('console: Failed to load resource: the server responded with a status of 404'),
    );
    assert.deepEqual(failed, []);
  } finally {
    await browser.close();
    await proxy.close();
    await store.close();
  }
});
