/**
 * The admin server of every application, wired in one place: what each application has to show
 * (served models, a proxy's traffic, a store's windows, the checks' findings) goes in as parts,
 * and a part an application does not have simply leaves its routes answering "not here".
 */
import type { AdminServer, AdminServerDeps } from '../admin/admin-server.js';
import { createAdminServer } from '../admin/admin-server.js';
import type { Config } from '../config/schema.js';
import type { StatsStore } from '../store/types.js';
import type { Logger } from '../telemetry/logger.js';
import { renderMetrics } from '../telemetry/metrics.js';

/** A prom-client registry (or the cluster primary's sum over workers): the /metrics body. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
  getMetricsAsArray(): unknown[];
}

export type AdminParts = Partial<
  Pick<AdminServerDeps, 'models' | 'reload' | 'traffic' | 'findings' | 'runChecks' | 'alertHistory' | 'recordLabels' | 'reference' | 'challenger' | 'now'>
> & {
  metrics: MetricsSource | AdminServerDeps['metrics'];
  ready: AdminServerDeps['ready'];
  /** The statistics store this process reads or writes, and the deltas it holds in memory. */
  store?: { store: StatsStore; pendingWindows?: () => number };
};

/** The admin server for these parts, or null when admin.enabled is off. */
export function createAdmin(config: Config, logger: Logger, parts: AdminParts): AdminServer | null {
  if (!config.admin.enabled) return null;
  const { metrics, store, ...rest } = parts;
  return createAdminServer({
    config: config.admin,
    logger,
    models: () => [],
    reload: async () => [],
    ...rest,
    challengerWindowMs: config.checks.challenger.windowMs,
    metrics: typeof metrics === 'function' ? metrics : (format) => renderMetrics(metrics, format ?? 'prometheus'),
    ...(store
      ? {
          windows: (q) => store.store.readWindows(q),
          series: () => store.store.listSeries(),
          storeInfo: () => ({
            store: store.store.describe,
            ...store.store.health(),
            ...(store.pendingWindows ? { pendingWindows: store.pendingWindows() } : {}),
          }),
        }
      : {}),
  });
}
