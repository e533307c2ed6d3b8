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
import { tokenMatches } from './auth.js';

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
