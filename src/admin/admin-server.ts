/**
 * The admin/control API on its own port (never on the data listener): Prometheus /metrics,
 * /healthz, the served models, and the reload trigger. Loopback by default; config refuses a
 * non-loopback bind without a token. /api/* demands `Authorization: Bearer <token>` whenever a
 * token is configured; /metrics and /healthz stay open for scrapers and probes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { listen } from '../listen.js';
import type { AdminConfig } from '../config/schema.js';
import { DriftwatchError, messageOf } from '../errors.js';
import type { Logger } from '../telemetry/logger.js';
import type { WindowProfile } from '../stats/types.js';
import type { FindingStore } from '../store/findings-store.js';
import type { SeriesInfo, WindowQuery } from '../store/types.js';
import { parseTimePoint, TIME_POINT_HELP } from '../time-range.js';
import { tokenMatches } from './auth.js';
import { mergedByVersion, windowView } from './window-view.js';

export interface AdminModelView {
  name: string;
  uri: string;
  version: string | null;
  loadedAtMs: number | null;
  lastError: string | null;
}

export interface AdminServerDeps {
  config: AdminConfig;
  logger: Logger;
  /** Prometheus exposition text and its content type. */
  metrics(): Promise<{ contentType: string; body: string }>;
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
  now?: () => number;
}

function badRequest(res: express.Response, message: string): void {
  res.status(400).json({ error_code: 'INVALID_PARAMETER_VALUE', code: 'DW_ERR_CLI_USAGE', message });
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

  app.get('/metrics', (_req, res, next) => {
    deps.metrics().then(({ contentType, body }) => res.type(contentType).send(body), next);
  });
  app.get('/healthz', async (_req, res) => {
    const ok = deps.ready();
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'not_ready', models: await deps.models() });
  });

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
    if (toMs - fromMs > maxSpanMs) return badRequest(res, `at most ${view === 'raw' ? '1 day' : '31 days'} per request${view === 'raw' ? ' with view=raw' : ''}; page through longer spans`);
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
    logger.error('admin request failed', { error: messageOf(err) });
    res.status(500).json({ error_code: 'INTERNAL_ERROR', message: messageOf(err) });
  });

  const server = http.createServer(app);
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
