/**
 * The admin/control API on its own port (never on the data listener): Prometheus /metrics,
 * /healthz, the served models, the reload trigger, and the status page (/ui, docs/status-page.md).
 * Loopback by default; config refuses a non-loopback bind without a token. /api/* demands
 * `Authorization: Bearer <token>` whenever a token is configured; /metrics and /healthz stay open
 * for scrapers and probes, /ui because it holds no data. Bound to loopback, every path answers
 * only loopback Host names (and admin.allowedHosts), and POST/PUT/PATCH/DELETE refuse cross-site
 * Origins: see auth.ts browserGuard.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { listen } from '../listen.js';
import { type AdminConfig, isLoopbackHost } from '../config/schema.js';
import { refuseClientError } from '../http-lifecycle.js';
import { DriftwatchError, isDriftwatchError, messageOf } from '../errors.js';
import type { Logger } from '../telemetry/logger.js';
import { type MetricsFormat, metricsFormatFor } from '../telemetry/metrics.js';
import type { FeatureProfile, ReferenceFeature, ReferenceProfile, WindowProfile } from '../stats/types.js';
import type { FindingStore } from '../findings/history.js';
import type { SeriesInfo, WindowQuery } from '../store/types.js';
import { parseTimePoint, TIME_POINT_HELP } from '../time-range.js';
import { browserGuard, tokenMatches } from './auth.js';
import { mergedByVersion, windowView } from './window-view.js';
import { STATUS_PAGE_CSP, STATUS_PAGE_CSS, STATUS_PAGE_HTML, STATUS_PAGE_JS } from './status-page.js';

export interface AdminModelView {
  name: string;
  uri: string;
  version: string | null;
  loadedAtMs: number | null;
  lastError: string | null;
  /** Set while re-resolving this model against the registry fails (the loaded version keeps serving). */
  registryError?: string | null;
}

export interface AdminServerDeps {
  config: AdminConfig;
  logger: Logger;
  /** The exposition in the asked format (Prometheus text unless OpenMetrics) and its content type. */
  metrics(format?: MetricsFormat): Promise<{ contentType: string; body: string }>;
  models(): Promise<AdminModelView[]> | AdminModelView[];
  /** Re-resolves every served URI now; returns the names that swapped. */
  reload(): Promise<string[]>;
  ready(): boolean;
  /** Live summary of proxied traffic (per model and feature), when a proxy runs in this process. */
  traffic?: () => unknown;
  /** The statistics store, when this process writes one (the sidecar). */
  windows?: (q: WindowQuery) => Promise<WindowProfile[]>;
  series?: () => Promise<SeriesInfo[]>;
  storeInfo?: () => unknown;
  /** Findings of the scheduled checks, when they run in this process. */
  findings?: FindingStore;
  /** Runs every check now and answers its findings (POST /api/checks/run). */
  runChecks?: () => Promise<unknown[]>;
  /** A model version's reference profile from the registry (GET /api/reference, the status page's histograms). */
  reference?: (model: string, version: string) => Promise<ReferenceProfile | null>;
  now?: () => number;
}

function badRequest(res: express.Response, message: string): void {
  res.status(400).json({ error_code: 'INVALID_PARAMETER_VALUE', code: 'DW_ERR_CLI_USAGE', message });
}

/**
 * What the status page draws from a reference: counts over the bin layout (with its edges, so the
 * bars can be labelled) or over the categories. The sketch is left out: it is large and the page
 * reads quantiles from /api/windows instead.
 */
function referenceFeatureView(f: ReferenceFeature) {
  const p: FeatureProfile = f.profile;
  return {
    kind: f.kind,
    count: p.count,
    missing: p.missing,
    bins: p.bins && f.binEdges ? { layout: p.bins.layout, lo: f.binEdges.lo, hi: f.binEdges.hi, edges: f.binEdges.edges, counts: p.bins.counts } : null,
    categories: f.kind === 'categorical' ? p.categories : null,
  };
}

export function referenceView(r: ReferenceProfile) {
  const map = (o: Record<string, ReferenceFeature>) => Object.fromEntries(Object.entries(o).map(([k, f]) => [k, referenceFeatureView(f)]));
  return {
    model: r.model,
    version: r.version,
    created_at: new Date(r.createdAtMs).toISOString(),
    source: r.source,
    rows: r.rows,
    features: map(r.features),
    predictions: map(r.predictions),
  };
}

export interface AdminServer {
  readonly server: http.Server;
  listen(): Promise<AddressInfo>;
  close(): Promise<void>;
}

export function createAdminServer(deps: AdminServerDeps): AdminServer {
  const { config, logger } = deps;
  const app = express();
  app.disable('x-powered-by');

  // Bound to loopback, the bind address is the protection; this keeps browser pages out of it
  // (DNS rebinding, CSRF: auth.ts browserGuard). Off loopback a token is required and checked below.
  if (isLoopbackHost(config.host)) {
    const guard = browserGuard(config.host, config.allowedHosts);
    app.use((req, res, next) => {
      const why = guard.refusal(req.method, req.headers);
      if (why === null) return next();
      const e = new DriftwatchError('DW_ERR_ADMIN_FORBIDDEN', why);
      logger.warn('admin request refused', { method: req.method, path: req.path, reason: why });
      res.status(e.status).json({ error_code: e.mlflowCode, code: e.code, message: e.message });
    });
  }

  app.get('/metrics', (req, res, next) => {
    // OpenMetrics when the scraper asks for it (Prometheus does, for exemplars and _created).
    res.vary('Accept');
    deps.metrics(metricsFormatFor(req.get('accept'))).then(({ contentType, body }) => res.type(contentType).send(body), next);
  });
  app.get('/healthz', async (_req, res) => {
    const ok = deps.ready();
    const models = await deps.models();
    const degraded = ok && models.some((m) => m.registryError);
    res.status(ok ? 200 : 503).json({ status: ok ? (degraded ? 'degraded' : 'ok') : 'not_ready', models });
  });

  // The status page holds no data (it reads /api with the token the user types in), so it stays
  // open like /healthz. Its script and styles are files of their own so the CSP forbids inline code.
  const page = (type: string, body: string) => (_req: express.Request, res: express.Response) => {
    res.set({ 'content-security-policy': STATUS_PAGE_CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-cache' });
    res.type(type).send(body);
  };
  app.get(['/ui', '/ui/'], page('html', STATUS_PAGE_HTML));
  app.get('/ui/app.js', page('js', STATUS_PAGE_JS));
  app.get('/ui/style.css', page('css', STATUS_PAGE_CSS));

  app.use('/api', (req, res, next) => {
    if (config.token && !tokenMatches(config.token, req.headers.authorization)) {
      const e = new DriftwatchError('DW_ERR_ADMIN_UNAUTHORIZED', 'missing or wrong bearer token');
      res.status(401).set('www-authenticate', 'Bearer').json({ error_code: e.mlflowCode, code: e.code, message: e.message });
      return;
    }
    next();
  });
  app.get('/api/models', async (_req, res) => {
    res.json({ models: await deps.models() });
  });
  app.get('/api/traffic', (_req, res) => {
    if (!deps.traffic) {
      res.status(404).json({ error_code: 'ENDPOINT_NOT_FOUND', message: 'no proxy runs in this process (driftwatch proxy or driftwatch start)' });
      return;
    }
    res.json(deps.traffic());
  });
  app.get('/api/series', async (_req, res) => {
    if (!deps.series) {
      res.status(404).json({ error_code: 'ENDPOINT_NOT_FOUND', message: 'no statistics store in this process (driftwatch proxy or driftwatch start)' });
      return;
    }
    res.json({ ...(deps.storeInfo?.() as object), series: await deps.series() });
  });
  app.get('/api/windows', async (req, res) => {
    if (!deps.windows) {
      res.status(404).json({ error_code: 'ENDPOINT_NOT_FOUND', message: 'no statistics store in this process (driftwatch proxy or driftwatch start)' });
      return;
    }
    const q = req.query;
    const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
    const model = str(q.model);
    if (!model) return badRequest(res, 'query parameter "model" is required (see GET /api/series for the stored models)');
    const now = (deps.now ?? Date.now)();
    const fromText = str(q.from) ?? '1h';
    const toText = str(q.to) ?? 'now';
    const fromMs = parseTimePoint(fromText, now);
    const toMs = parseTimePoint(toText, now);
    if (fromMs === null) return badRequest(res, `"from" must be ${TIME_POINT_HELP}; got ${JSON.stringify(fromText).slice(0, 80)}`);
    if (toMs === null) return badRequest(res, `"to" must be ${TIME_POINT_HELP}; got ${JSON.stringify(toText).slice(0, 80)}`);
    if (fromMs >= toMs) return badRequest(res, '"from" must be before "to"');

    const view = str(q.view) ?? 'windows';
    if (!['windows', 'total', 'raw'].includes(view)) return badRequest(res, '"view" must be windows, total or raw');
    // Bounded: every window is read and parsed on this process's event loop.
    const maxSpanMs = (view === 'raw' ? 1 : 31) * 86_400_000;
    if (toMs - fromMs > maxSpanMs)
      return badRequest(res, `at most ${view === 'raw' ? '1 day' : '31 days'} per request${view === 'raw' ? ' with view=raw' : ''}; page through longer spans`);
    const version = str(q.version);
    const windows = await deps.windows({ model, fromMs, toMs, ...(version ? { version } : {}) });
    const range = { model, version: version ?? null, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() };
    if (view === 'raw') res.json({ ...range, windows });
    else if (view === 'total') res.json({ ...range, windows: windows.length, versions: mergedByVersion(windows).map(windowView) });
    else res.json({ ...range, windows: windows.map(windowView) });
  });
  const noFindings = (res: express.Response) =>
    res.status(404).json({ error_code: 'ENDPOINT_NOT_FOUND', message: 'no checks run in this process (driftwatch start or driftwatch analyze)' });
  const STATUSES = ['ok', 'warn', 'fail', 'error'];
  const CHECK_NAMES = ['drift', 'slo', 'staleness'];
  app.get('/api/findings', (req, res) => {
    if (!deps.findings) return noFindings(res);
    const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
    const check = str(req.query.check);
    const status = str(req.query.status);
    const model = str(req.query.model);
    if (check && !CHECK_NAMES.includes(check)) return badRequest(res, `"check" must be one of ${CHECK_NAMES.join(', ')}`);
    if (status && !STATUSES.includes(status)) return badRequest(res, `"status" must be one of ${STATUSES.join(', ')}`);
    const filter = { ...(check ? { check } : {}), ...(model ? { model } : {}), ...(status ? { status: status as 'ok' } : {}) };
    const since = str(req.query.since);
    if (!since) return void res.json({ findings: deps.findings.latest(filter) });
    const sinceMs = parseTimePoint(since, (deps.now ?? Date.now)());
    if (sinceMs === null) return badRequest(res, `"since" must be ${TIME_POINT_HELP}`);
    const limit = Number(str(req.query.limit) ?? 1000);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) return badRequest(res, '"limit" must be an integer from 1 to 10000');
    res.json({ findings: deps.findings.history({ ...filter, sinceMs, limit }) });
  });
  for (const check of ['drift', 'slo'] as const) {
    app.get(`/api/${check}`, (req, res) => {
      if (!deps.findings) return noFindings(res);
      const model = typeof req.query.model === 'string' && req.query.model ? req.query.model : undefined;
      const latest = deps.findings.latest({ check, ...(model ? { model } : {}) });
      const byModel: Record<string, unknown[]> = {};
      for (const f of latest) (byModel[f.subject.model] ??= []).push(f);
      res.json({ models: byModel });
    });
  }
  app.get('/api/reference', async (req, res) => {
    if (!deps.reference) {
      res.status(404).json({ error_code: 'ENDPOINT_NOT_FOUND', message: 'no model registry in this process (driftwatch serve, start or analyze)' });
      return;
    }
    const model = typeof req.query.model === 'string' ? req.query.model : '';
    const version = typeof req.query.version === 'string' ? req.query.version : '';
    if (!model || model.length > 256) return badRequest(res, 'query parameter "model" is required (a registered model name, at most 256 characters)');
    // Registry versions are integers; anything else never reaches a registry (or a file path).
    if (!/^[1-9][0-9]{0,11}$/.test(version))
      return badRequest(res, `query parameter "version" must be a model version number; got ${JSON.stringify(version).slice(0, 40)}`);
    let ref: ReferenceProfile | null;
    try {
      ref = await deps.reference(model, version);
    } catch (e) {
      if (isDriftwatchError(e) && (e.code === 'DW_ERR_REGISTRY_MODEL_NOT_FOUND' || e.code === 'DW_ERR_REGISTRY_VERSION_NOT_FOUND')) {
        res.status(404).json({ error_code: e.mlflowCode, code: e.code, message: e.message });
        return;
      }
      if (isDriftwatchError(e) && e.code === 'DW_ERR_REGISTRY_INVALID') return badRequest(res, e.message);
      throw e;
    }
    // No reference built yet is a state of a known version, not a missing resource: 200 with null.
    res.json({ model, version, reference: ref ? referenceView(ref) : null });
  });
  app.post('/api/checks/run', async (_req, res) => {
    if (!deps.runChecks) return noFindings(res);
    res.json({ findings: await deps.runChecks() });
  });
  app.post('/api/reload', async (_req, res) => {
    const swapped = await deps.reload();
    res.json({ swapped, models: await deps.models() });
  });
  app.use((req, res) => {
    res.status(404).json({ error_code: 'ENDPOINT_NOT_FOUND', message: `no route for ${req.method} ${req.path}` });
  });
  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    // A known error keeps its status (registry unreachable: 503, not an internal error).
    if (isDriftwatchError(err) && (err.status < 500 || err.retryable)) {
      logger.warn('admin request failed', { error: messageOf(err), code: err.code });
      res.status(err.status).json({ error_code: err.mlflowCode, code: err.code, message: err.message });
      return;
    }
    logger.error('admin request failed', { error: messageOf(err) });
    res.status(500).json({ error_code: 'INTERNAL_ERROR', message: messageOf(err) });
  });

  // connectionsCheckingInterval: how often node looks for heads past headersTimeout (default 30 s,
  // so a stalled head got its 408 up to 30 s late).
  const server = http.createServer({ connectionsCheckingInterval: 1000 }, app);
  // Malformed HTTP, an oversized head or a head timeout: a JSON 400/431/408 like the other ports.
  server.on('clientError', refuseClientError);
  return {
    server,
    listen: () => listen(server, config.port, config.host, 'admin API'),
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
