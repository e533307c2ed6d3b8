/**
 * The three driftwatch ports the hostile-input suite attacks, started in-process on port 0 with
 * their client deadlines set short (so slow-client cases finish in a second or two), and a
 * well-formed request per port whose answer is checked exactly.
 *
 * - serve: the scoring server with the example model (`serve.requestTimeoutMs` 1000 ms, so its
 *   head deadline is 2 s and its request deadline 2 s; `serve.maxBodyBytes` 1 MiB, so 100,000
 *   levels of nesting still reach the JSON parser).
 * - proxy-fast, proxy-node: the sidecar in front of that scoring server, one per engine, with
 *   client deadlines of 1 s (head) and 1.5 s (request), shorter than the upstream's.
 * - admin: the admin server alone (createAdminServer), head deadline 1 s, request deadline 1.5 s.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { join } from 'node:path';
import { createAdminServer, type AdminServer } from '../../src/admin/admin-server.js';
import { BoundedQueue } from '../../src/capture/bounded-queue.js';
import type { InferenceEvent } from '../../src/capture/inference-event.js';
import { loadConfig } from '../../src/config/load.js';
import { adminSchema } from '../../src/config/schema.js';
import { createProxyServer, type ProxyServer } from '../../src/proxy/proxy-server.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { createProxyMetrics } from '../../src/telemetry/metrics.js';
import { header, RawConn, rawRequest } from '../fixtures/raw-http.js';
import { EXAMPLE_MODEL_DIR, FEATURES, startServer, tempDir, type RunningServer } from '../helpers.js';

export const PORTS = ['serve', 'proxy-fast', 'proxy-node', 'admin'] as const;
/** The served model's name: the example's, as `driftwatch start` registers it. */
export const MODEL = 'seattle-weather';
export type PortName = (typeof PORTS)[number];

/** The deadlines set on each port (ms). */
export const SERVE_REQUEST_TIMEOUT_MS = 1000;
export const SERVE_MAX_BODY_BYTES = 1024 * 1024;
export const PROXY_HEADERS_TIMEOUT_MS = 1000;
export const PROXY_REQUEST_TIMEOUT_MS = 1500;
export const ADMIN_HEADERS_TIMEOUT_MS = 1000;
export const ADMIN_REQUEST_TIMEOUT_MS = 1500;

/** The well-formed prediction every data port must keep answering. */
export const GOOD_BODY = JSON.stringify({
  dataframe_split: {
    columns: FEATURES,
    data: [
      [0, 12.8, 5, 4.7],
      [10.9, 10.6, 2.8, 4.5],
    ],
  },
});

export interface Target {
  name: PortName;
  port: number;
  /** The bytes of the well-formed request, and a check of its answer. */
  good: Buffer;
  checkGood(status: number, body: Buffer): void;
}

export interface Targets {
  byName: Record<PortName, Target>;
  /** Answers the well-formed request on a fresh connection; rejects on anything else. */
  wellFormed(name: PortName): Promise<void>;
  close(): Promise<void>;
}

/** The admin port's well-formed request: GET /healthz, ready, serving `model`. */
function adminTarget(port: number, model: string): Target {
  return {
    name: 'admin',
    port,
    good: rawRequest('GET', '/healthz'),
    checkGood(status, body) {
      assert.equal(status, 200, `admin: GET /healthz: ${body.toString().slice(0, 300)}`);
      const json = JSON.parse(body.toString()) as { status: string; models: Array<{ name: string }> };
      assert.equal(json.status, 'ok');
      assert.equal(json.models[0]?.name, model);
    },
  };
}

/** The prediction every data port answers: GOOD_BODY to /invocations, answered `expected` exactly. */
function predictionTarget(name: PortName, port: number, expected: string): Target {
  return {
    name,
    port,
    good: rawRequest('POST', '/invocations', { headers: { 'Content-Type': 'application/json' }, body: GOOD_BODY }),
    checkGood(status, body) {
      assert.equal(status, 200, `${name}: the well-formed prediction: ${body.toString().slice(0, 300)}`);
      assert.equal(body.toString(), expected, `${name}: the well-formed prediction's answer`);
    },
  };
}

/** The expected answer to GOOD_BODY, asked of the scoring server itself (no hard-coded predictions). */
async function baselineAnswer(serveUrl: string): Promise<string> {
  const baseline = await fetch(`${serveUrl}/invocations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: GOOD_BODY });
  const text = await baseline.text();
  assert.equal(baseline.status, 200, text);
  assert.equal((JSON.parse(text) as { predictions: unknown[] }).predictions.length, 2);
  return text;
}

function withWellFormed(byName: Record<PortName, Target>, close: () => Promise<void>): Targets {
  return {
    byName,
    async wellFormed(name) {
      const t = byName[name];
      const c = await RawConn.open(t.port);
      try {
        c.write(t.good);
        const r = await c.response(t.good.toString('latin1', 0, 4) === 'POST' ? 'POST' : 'GET', { timeoutMs: 10_000 });
        assert.match(header(r, 'content-type') ?? '', /^application\/json/);
        t.checkGood(r.status, r.body);
      } finally {
        c.destroy();
      }
    },
    close,
  };
}

/**
 * The ports of a process started elsewhere (a `driftwatch start` child): its scoring server, its
 * proxy (named by its engine) and its admin port, serving `model`.
 */
export async function targetsAt(urls: { serve: string; proxy: string; admin: string }, engine: 'fast' | 'node', model: string): Promise<Targets> {
  const expected = await baselineAnswer(urls.serve);
  const port = (u: string) => Number(new URL(u).port);
  const byName = {
    serve: predictionTarget('serve', port(urls.serve), expected),
    [`proxy-${engine}`]: predictionTarget(`proxy-${engine}`, port(urls.proxy), expected),
    admin: adminTarget(port(urls.admin), model),
  } as Record<PortName, Target>;
  return withWellFormed(byName, async () => {});
}

export async function startTargets(): Promise<Targets> {
  const tmp = tempDir('dw-hostile-');
  let srv: RunningServer | null = null;
  const proxies: ProxyServer[] = [];
  let admin: AdminServer | null = null;
  try {
    srv = await startServer({
      registryRoot: join(tmp.dir, 'reg'),
      models: [{ uri: EXAMPLE_MODEL_DIR, name: MODEL }],
      serve: { requestTimeoutMs: SERVE_REQUEST_TIMEOUT_MS, maxBodyBytes: SERVE_MAX_BODY_BYTES },
      admin: { enabled: false },
    });
    const expected = await baselineAnswer(srv.url);
    const prediction = (name: PortName, port: number) => predictionTarget(name, port, expected);

    const byName = {} as Record<PortName, Target>;
    byName.serve = prediction('serve', Number(new URL(srv.url).port));
    // The proxies' captured events go nowhere: this suite tests what answers the client gets.
    const events = new BoundedQueue<InferenceEvent>(1000);
    for (const engine of ['fast', 'node'] as const) {
      const config = loadConfig({ env: {}, overrides: { proxy: { port: 0, upstream: srv.url, engine, upstreamTimeoutMs: 5000 } } });
      const proxy = createProxyServer({
        config: { ...config.proxy, upstream: srv.url },
        logger: createLogger({ level: 'silent' }),
        metrics: createProxyMetrics({ defaultMetrics: false }),
        onEvent: (e) => events.offer(e),
        clientTimeouts: { headersTimeoutMs: PROXY_HEADERS_TIMEOUT_MS, requestTimeoutMs: PROXY_REQUEST_TIMEOUT_MS },
      });
      proxies.push(proxy);
      byName[`proxy-${engine}`] = prediction(`proxy-${engine}`, (await proxy.listen()).port);
    }

    admin = createAdminServer({
      config: adminSchema.parse({ port: 0 }),
      logger: createLogger({ level: 'silent' }),
      metrics: async () => ({ contentType: 'text/plain; version=0.0.4', body: 'driftwatch_up 1\n' }),
      models: () => [{ name: MODEL, uri: `models:/${MODEL}/1`, version: '1', loadedAtMs: 0, lastError: null }],
      reload: async () => [],
      ready: () => true,
      runChecks: async () => [],
    });
    const adminServer: http.Server = admin.server;
    adminServer.headersTimeout = ADMIN_HEADERS_TIMEOUT_MS;
    adminServer.requestTimeout = ADMIN_REQUEST_TIMEOUT_MS;
    byName.admin = adminTarget((await admin.listen()).port, MODEL);

    const running = srv;
    const adminRunning = admin;
    return withWellFormed(byName, async () => {
      await Promise.all(proxies.map((p) => p.close(200)));
      await adminRunning.close();
      await running.close();
      tmp.cleanup();
    });
  } catch (e) {
    await Promise.all(proxies.map((p) => p.close(0)));
    await admin?.close();
    await srv?.close();
    tmp.cleanup();
    throw e;
  }
}
