/**
 * The challenger section covers the challenger check's window (`checks.challenger.window`), not a
 * fixed hour: GET /api/challenger without `from` answers for that window, and the status page (in
 * headless Chromium, on a sidecar's admin in front of two real scoring servers) says so in its
 * heading. Without Chromium it skips loudly; DRIFTWATCH_TEST_REQUIRE_CHROMIUM=1 fails instead.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { chromium } from 'playwright-core';
import { sendWeatherYear, settledShadow, shadowingProxy, weatherWithChallenger } from '../challenger-fixture.js';
import { tempDir } from '../helpers.js';

const CHROMIUM = process.env.DRIFTWATCH_TEST_CHROMIUM || '/usr/bin/chromium';
const tmp = tempDir('dw-status-challenger-window-');
after(() => tmp.cleanup());

test("the challenger section and GET /api/challenger cover the check's window", async (t) => {
  const proxy = await shadowingProxy(await weatherWithChallenger(tmp.dir), {
    config: { store: { embedded: { path: join(tmp.dir, 'stats.db') } }, checks: { challenger: { window: '30m', minPairs: 50 } } },
  });
  t.after(() => proxy.close());
  await sendWeatherYear(proxy.proxyUrl);
  await settledShadow(proxy.app);
  const api = (await (await fetch(`${proxy.adminUrl}/api/challenger`)).json()) as { from: string; to: string };
  assert.equal(Date.parse(api.to) - Date.parse(api.from), 30 * 60_000 + 1, 'without `from`: the 30 minutes of checks.challenger.window');
  const asked = (await (await fetch(`${proxy.adminUrl}/api/challenger?from=2h`)).json()) as { from: string; to: string };
  assert.equal(Date.parse(asked.to) - Date.parse(asked.from), 2 * 3_600_000 + 1, 'an explicit `from` still wins');

  if (!existsSync(CHROMIUM)) {
    const reason = `${CHROMIUM} not found (Debian package chromium); the page's heading is not checked in a browser`;
    if (process.env.DRIFTWATCH_TEST_REQUIRE_CHROMIUM === '1') assert.fail(`${reason}, and DRIFTWATCH_TEST_REQUIRE_CHROMIUM=1`);
    console.warn(`WARNING: status-page-challenger-window: ${reason}`);
    t.skip(reason);
    return;
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless'] });
  try {
    const page = await browser.newPage();
    await page.goto(`${proxy.adminUrl}/ui`);
    await page.waitForSelector('#status[data-refreshes="1"]');
    const heading = await page.$$eval('h2', (hs) => hs.map((h) => h.textContent).find((x) => x?.startsWith('Challenger')));
    assert.equal(heading, 'Challenger: champion vs challenger, last 30 min');
  } finally {
    await browser.close();
  }
});
