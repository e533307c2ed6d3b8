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
import { type AlertHistoryEntry, MAX_RESOLVED_EPISODES } from '../alerts/alert-history.js';
import { LabelInputError, parseLabelBody } from '../outcomes/label-input.js';
import type { LabelIngestResult, LabelRecord } from '../outcomes/prediction-log.js';
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
  /** The challenger shadowing this model, when one does (details at GET /api/challenger). */
  challenger?: { uri: string; version: string | null; sampleRate: number };
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
  /** Fired and resolved alerts, newest transition first (GET /api/alerts/history), when alerts run in this process. */
  alertHistory?: (limit: number) => AlertHistoryEntry[];
  /** Joins posted labels to logged predictions (POST /api/labels), when labels.enabled in this process. */
  recordLabels?: (labels: readonly LabelRecord[]) => Promise<LabelIngestResult>;
  /** A model version's reference profile from the registry (GET /api/reference, the status page's histograms). */
  reference?: (model: string, version: string) => Promise<ReferenceProfile | null>;
  /** Champion vs challenger comparisons over [fromMs, toMs) (GET /api/challenger), when a challenger shadows a served model here. */
  challenger?: (q: { fromMs: number; toMs: number; model?: string }) => unknown;
  /** GET /api/challenger's span without `from`: the challenger check's window (default an hour). */
  challengerWindowMs?: number;
  now?: () => number;
}

/**
 * The control POSTs take no body, but a client may send one: it is read (at most 1 KiB, then 413)
 * before the action runs, so a truncated, mis-framed or endless body gets its 4xx and never
 * triggers a reload or a check run (issue 18's hostile-input suite found them acting on the head).
 */
const CONTROL_BODY_LIMIT = 1024;
/** After refusing a body that is still arriving: how long and how much of it is read before closing. */
const CONTROL_DRAIN_MS = 1000;
const CONTROL_DRAIN_BYTES = 8 * 1024 * 1024;

/**
 * Reads a control POST's body to its end before the route runs, refusing one past
 * CONTROL_BODY_LIMIT with an immediate 413 (body-parser would instead hold its 413 until the
 * whole declared body had arrived). A body the HTTP parser refuses (broken chunks, cut short)
 * never ends: the parser's 400 answers it (http-lifecycle.ts) and the route never runs.
 *
 * Closing: a declared Content-Length past the limit is answered with `connection: close` at once.
 * A chunked body crossing the limit is still arriving, and closing a socket with unread bytes
 * makes the kernel reset it, which can destroy the 413 before the client reads it: so what
 * follows is read and dropped for up to CONTROL_DRAIN_MS (or CONTROL_DRAIN_BYTES) before the
 * connection is ended.
 */
function controlBody(req: express.Request, res: express.Response, next: express.NextFunction): void {
  let refused = false;
  const refuse = (closeNow: boolean) => {
    if (refused || res.headersSent) return;
    refused = true;
    if (closeNow) res.set('connection', 'close');
    res.status(413).json({ error_code: 'RESOURCE_LIMIT_EXCEEDED', message: `${req.path} takes no body (at most ${CONTROL_BODY_LIMIT} bytes are read)` });
    if (closeNow) return;
    const timer = setTimeout(() => req.socket.end(), CONTROL_DRAIN_MS);
    timer.unref();
    req.once('end', () => {
      clearTimeout(timer);
      req.socket.end();
    });
  };
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > CONTROL_BODY_LIMIT) return refuse(true);
  let read = 0;
  req.on('data', (chunk: Buffer) => {
    read += chunk.length;
    if (read > CONTROL_BODY_LIMIT) refuse(false);
    if (read > CONTROL_BODY_LIMIT + CONTROL_DRAIN_BYTES) req.socket.destroy();
  });
  req.on('end', () => {
    if (!refused && !res.headersSent) next();
  });
}

/** POST /api/labels: at most this many bytes per request (about 200,000 labels with UUID ids). */
export const MAX_LABEL_BODY_BYTES = 16 * 1024 * 1024;
const LABEL_MEDIA_TYPES = ['application/json', 'application/x-ndjson', 'application/jsonl'];

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
  const CHECK_NAMES = ['drift', 'slo', 'staleness', 'quality', 'data_quality', 'challenger'];
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
  for (const check of ['drift', 'slo', 'quality'] as const) {
    app.get(`/api/${check}`, (req, res) => {
      if (!deps.findings) return noFindings(res);
      const model = typeof req.query.model === 'string' && req.query.model ? req.query.model : undefined;
      const latest = deps.findings.latest({ check, ...(model ? { model } : {}) });
      const byModel: Record<string, unknown[]> = {};
      for (const f of latest) (byModel[f.subject.model] ??= []).push(f);
      res.json({ models: byModel });
    });
  }
  app.get('/api/challenger', async (req, res) => {
    if (!deps.challenger) {
      res.status(404).json({ error_code: 'ENDPOINT_NOT_FOUND', message: 'no challenger in this process (serve.models[].challenger)' });
      return;
    }
    const now = (deps.now ?? Date.now)();
    // Without `from`: the challenger check's window (checks.challenger.window), so the report and
    // the status page judge what the check judges.
    const fromText = typeof req.query.from === 'string' && req.query.from ? req.query.from : null;
    const fromMs = fromText === null ? now - (deps.challengerWindowMs ?? 3_600_000) : parseTimePoint(fromText, now);
    if (fromMs === null || fromMs >= now) return badRequest(res, `"from" must be ${TIME_POINT_HELP}, before now`);
    const model = typeof req.query.model === 'string' && req.query.model ? req.query.model : undefined;
    // A promise when the report reads both models' quality from the prediction log.
    res.json(await deps.challenger({ fromMs, toMs: now + 1, ...(model ? { model } : {}) }));
  });
  // Read-only like the other GETs: behind the token when one is set, Host-checked on loopback.
  app.get('/api/alerts/history', (req, res) => {
    if (!deps.alertHistory) {
      res.status(404).json({ error_code: 'ENDPOINT_NOT_FOUND', message: 'no alerts run in this process (driftwatch start or driftwatch analyze)' });
      return;
    }
    const text = typeof req.query.limit === 'string' && req.query.limit ? req.query.limit : '50';
    const limit = /^[0-9]{1,5}$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RESOLVED_EPISODES)
      return badRequest(res, `"limit" must be an integer from 1 to ${MAX_RESOLVED_EPISODES}`);
    res.json({ maxResolvedKept: MAX_RESOLVED_EPISODES, alerts: deps.alertHistory(limit) });
  });
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
  // Ground truth in (docs/quality.md): JSON or NDJSON batches. Invalid entries are counted and
  // reported, the valid ones of the same batch kept; a label that matches nothing is counted.
  app.post('/api/labels', express.text({ type: () => true, limit: MAX_LABEL_BODY_BYTES }), async (req, res) => {
    if (!deps.recordLabels) {
      res
        .status(404)
        .json({ error_code: 'ENDPOINT_NOT_FOUND', message: 'no prediction log in this process: set labels.enabled: true (driftwatch proxy or start)' });
      return;
    }
    const media = (req.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (!LABEL_MEDIA_TYPES.includes(media)) {
      res.status(415).json({
        error_code: 'BAD_REQUEST',
        message: `Content-Type must be ${LABEL_MEDIA_TYPES.join(' or ')}; got ${JSON.stringify(media || '(none)').slice(0, 80)}`,
      });
      return;
    }
    let parsed: ReturnType<typeof parseLabelBody>;
    try {
      parsed = parseLabelBody(typeof req.body === 'string' ? req.body : '', media, (deps.now ?? Date.now)());
    } catch (e) {
      if (e instanceof LabelInputError) return badRequest(res, e.message);
      throw e;
    }
    if (parsed.labels.length === 0 && parsed.invalid === 0) return badRequest(res, 'no labels in the body');
    const result = await deps.recordLabels(parsed.labels);
    res.json({ ...result, invalid: parsed.invalid, errors: parsed.errors });
  });
  app.post('/api/checks/run', controlBody, async (_req, res) => {
    if (!deps.runChecks) return noFindings(res);
    res.json({ findings: await deps.runChecks() });
  });
  app.post('/api/reload', controlBody, async (_req, res) => {
    const swapped = await deps.reload();
    res.json({ swapped, models: await deps.models() });
  });
  app.use((req, res) => {
    res.status(404).json({ error_code: 'ENDPOINT_NOT_FOUND', message: `no route for ${req.method} ${req.path}` });
  });
  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    // The body reader's own refusals (too large, a bad charset, an aborted body) keep their 4xx.
    const status = typeof (err as { status?: unknown })?.status === 'number' ? (err as { status: number }).status : 0;
    if (status >= 400 && status < 500 && !isDriftwatchError(err)) {
      const message = status === 413 ? `the body is larger than ${MAX_LABEL_BODY_BYTES} bytes; send the labels in smaller batches` : messageOf(err);
      res.status(status).json({ error_code: status === 413 ? 'RESOURCE_LIMIT_EXCEEDED' : 'BAD_REQUEST', message });
      return;
    }
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
