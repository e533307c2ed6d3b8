/**
 * What the challenger tests share: the challenger itself (the example model with its "sun" bias
 * raised by one, so the two disagree on a real share of Seattle's days), and a sidecar shadowing it
 * (`driftwatch proxy --shadow-upstream`) in front of two scoring servers on port 0, sending a year
 * of rows and waiting until every sampled request has an outcome.
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toOnnx } from '../examples/seattle-weather/build-model.js';
import { createProxyApp, type ProxyApp } from '../src/app/proxy-app.js';
import type { ChallengerReport } from '../src/challenger/report.js';
import { loadConfig } from '../src/config/load.js';
import { LocalRegistry } from '../src/registry/local-registry.js';
import type { StatsStore } from '../src/store/types.js';
import { createLogger } from '../src/telemetry/logger.js';
import { EXAMPLE_MODEL_DIR, FEATURES, ROOT, postJson, type RunningServer, startServer, weatherRows } from './helpers.js';

/** A registry under dir holding "weather" version 1 (the example) and version 2 (the challenger). */
export async function weatherWithChallenger(dir: string): Promise<{ registry: LocalRegistry; registryRoot: string }> {
  const registryRoot = join(dir, 'registry');
  const registry = new LocalRegistry(registryRoot);
  await registry.createModelVersion({ name: 'weather', sourceDir: EXAMPLE_MODEL_DIR });
  const v2 = join(dir, 'v2');
  cpSync(EXAMPLE_MODEL_DIR, v2, { recursive: true });
  const w = JSON.parse(readFileSync(join(ROOT, 'examples', 'seattle-weather', 'weights.json'), 'utf8'));
  w.bias[w.classes.indexOf('sun')] += 1;
  writeFileSync(join(v2, 'model.onnx'), toOnnx({ ...w, trainAccuracy: 0 }));
  await registry.createModelVersion({ name: 'weather', sourceDir: v2 });
  return { registry, registryRoot };
}

export interface ShadowingProxy {
  app: ProxyApp;
  /** The champion's and the challenger's scoring servers. */
  championUrl: string;
  challengerUrl: string;
  proxyUrl: string;
  adminUrl: string;
  /** The proxy, then both scoring servers; again is a no-op. */
  close(): Promise<void>;
}

/**
 * Version 1 behind the proxy, version 2 as its shadow upstream, every request shadowed. `config`
 * goes into the overrides beside proxy/admin/registry (the store, the checks); `store` is passed
 * to the app (else it opens the configured one and closes it).
 */
export async function shadowingProxy(
  registry: { registry: LocalRegistry; registryRoot: string },
  opts: { config?: Record<string, unknown>; store?: StatsStore } = {},
): Promise<ShadowingProxy> {
  const { registryRoot } = registry;
  const servers: RunningServer[] = [];
  let app: ProxyApp | null = null;
  const close = async () => {
    await app?.close();
    app = null;
    for (const s of servers.splice(0)) await s.close();
  };
  try {
    const champion = await startServer({ registryRoot, models: [{ uri: 'models:/weather/1', name: 'weather' }], admin: { enabled: false } });
    servers.push(champion);
    const challenger = await startServer({ registryRoot, models: [{ uri: 'models:/weather/2', name: 'weather' }], admin: { enabled: false } });
    servers.push(challenger);
    const config = loadConfig({
      env: {},
      overrides: {
        proxy: {
          port: 0,
          upstream: champion.url,
          model: 'weather',
          capture: { worker: false },
          shadow: { upstream: challenger.url, sample: 1, maxInFlight: 64, queueSize: 10_000 },
        },
        admin: { port: 0 },
        registry: { root: registryRoot },
        log: { level: 'silent' },
        ...opts.config,
      },
    });
    const started = createProxyApp(config, {
      registry: registry.registry,
      logger: createLogger({ level: 'silent' }),
      ...(opts.store ? { store: opts.store } : {}),
    });
    app = started;
    const addrs = await started.start();
    return {
      app: started,
      championUrl: champion.url,
      challengerUrl: challenger.url,
      proxyUrl: `http://127.0.0.1:${addrs.proxy.port}`,
      adminUrl: `http://127.0.0.1:${addrs.admin!.port}`,
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** A year of Seattle's days through the proxy, 5 rows a request (73 requests). */
export async function sendWeatherYear(proxyUrl: string): Promise<void> {
  const rows = weatherRows('2014-01-01', '2014-12-31').map((r) => r.features);
  for (let i = 0; i < rows.length; i += 5) {
    const r = await postJson(`${proxyUrl}/invocations`, { dataframe_split: { columns: FEATURES, data: rows.slice(i, i + 5) } });
    assert.equal(r.status, 200);
  }
}

/** The proxy's report of its one shadowed model once every sampled request has an outcome (bounded wait). */
export async function settledShadow(app: ProxyApp): Promise<ChallengerReport['models'][number]> {
  for (let i = 0; i < 400; i++) {
    const m = app.shadow!.report({ fromMs: 0, toMs: Date.now() + 1 }).models[0];
    if (app.shadow!.pending === 0 && m && m.shadow.scored + m.shadow.failed + m.shadow.dropped + m.shadow.lost === m.shadow.sampled) return m;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail('the shadow did not settle');
}
