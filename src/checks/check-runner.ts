/**
 * Runs the three checks (drift, SLO, staleness), on their schedules or at once, records their
 * findings with history, and exports the latest values as gauges. A check that cannot run (the
 * store is down, the registry unreadable) yields one `error` finding and the process carries on;
 * the next tick tries again.
 */
import type { Finding, CheckName } from '../alerts/finding.js';
import type { ChecksConfig } from '../config/schema.js';
import { messageOf } from '../errors.js';
import { runDriftCheck } from '../drift/drift-check.js';
import type { ModelRegistry } from '../registry/types.js';
import { driftDatasetKey, runStalenessCheck } from '../registry/staleness-check.js';
import { Scheduler } from '../schedule/scheduler.js';
import { runSloCheck } from '../slo/slo-check.js';
import type { ReferenceProfile } from '../stats/types.js';
import type { FindingStore } from '../store/findings-store.js';
import type { StatsStore } from '../store/types.js';
import type { Logger } from '../telemetry/logger.js';
import type { CheckMetrics } from '../telemetry/metrics.js';

export interface CheckRunnerDeps {
  config: ChecksConfig;
  store: StatsStore;
  registry: ModelRegistry;
  findings: FindingStore;
  logger: Logger;
  metrics?: CheckMetrics;
  now?: () => number;
  /** Called with every run's findings after they are recorded (the alert router, later). */
  onFindings?: (findings: readonly Finding[]) => void | Promise<void>;
}

export const CHECKS: readonly CheckName[] = ['drift', 'slo', 'staleness'];

export class CheckRunner {
  private readonly scheduler: Scheduler;
  private readonly now: () => number;
  /** One run per check at a time, whoever asks (the schedule, the API, --once). */
  private readonly inflight = new Map<CheckName, Promise<Finding[]>>();

  constructor(private readonly deps: CheckRunnerDeps) {
    this.now = deps.now ?? Date.now;
    this.scheduler = new Scheduler({
      logger: deps.logger,
      metrics: {
        observeRun: (job, outcome, seconds) => {
          deps.metrics?.runs.inc({ check: job, outcome });
          if (outcome !== 'skipped_overlap') deps.metrics?.duration.observe({ check: job }, seconds);
        },
      },
    });
    for (const check of CHECKS) {
      const c = deps.config[check];
      if (!c.enabled) continue;
      this.scheduler.add({ name: check, cron: c.schedule, timeoutMs: deps.config.timeoutMs, run: async () => void (await this.run(check)) });
    }
  }

  private referenceFor = async (model: string, version: string): Promise<ReferenceProfile | null> => {
    try {
      return await this.deps.registry.getReference(model, version);
    } catch (e) {
      // A model the registry does not know (a foreign upstream's name): no reference, not an error.
      const code = (e as { code?: string }).code;
      if (code === 'DW_ERR_REGISTRY_MODEL_NOT_FOUND' || code === 'DW_ERR_REGISTRY_VERSION_NOT_FOUND') return null;
      throw e;
    }
  };

  private async compute(check: CheckName, nowMs: number): Promise<Finding[]> {
    const { config, store, registry, findings } = this.deps;
    if (check === 'drift') return runDriftCheck({ store, referenceFor: this.referenceFor }, config.drift, nowMs);
    if (check === 'slo') return runSloCheck({ store }, config.slo, nowMs);
    return runStalenessCheck({ registry, store, driftFailStreak: (m, v) => findings.streak(driftDatasetKey(m, v), ['fail']) }, config.staleness, nowMs);
  }

  /** Runs one check now: its findings, recorded and exported (an `error` finding if it could not run). */
  run(check: CheckName): Promise<Finding[]> {
    const running = this.inflight.get(check);
    if (running) return running;
    const p = this.runOnce(check).finally(() => this.inflight.delete(check));
    this.inflight.set(check, p);
    return p;
  }

  private async runOnce(check: CheckName): Promise<Finding[]> {
    const nowMs = this.now();
    let out: Finding[];
    try {
      out = await this.compute(check, nowMs);
    } catch (e) {
      this.deps.logger.warn('check could not run', { check, error: messageOf(e) });
      out = [
        {
          check,
          subject: { model: '*', version: null, name: 'run' },
          status: 'error',
          metric: 'run',
          value: null,
          threshold: { warn: null, fail: null, direction: 'above' },
          window: { fromMs: nowMs, toMs: nowMs, label: 'run' },
          sampleSize: 0,
          at: nowMs,
          message: `the ${check} check could not run: ${messageOf(e)}`,
        },
      ];
    }
    try {
      this.deps.findings.record(out);
      // A successful run replaces the check's view: subjects it no longer reports (a run error
      // that has cleared, a retired version) leave the latest findings.
      if (!(out.length === 1 && out[0]!.subject.name === 'run' && out[0]!.status === 'error')) this.deps.findings.retainLatest(check, out);
    } catch (e) {
      this.deps.logger.warn('findings could not be recorded', { check, error: messageOf(e) });
    }
    this.export(check, out);
    await this.deps.onFindings?.(out);
    return out;
  }

  /** Every enabled check, one after the other (what `driftwatch check --once` runs). */
  async runAll(): Promise<Finding[]> {
    const all: Finding[] = [];
    for (const check of CHECKS) if (this.deps.config[check].enabled) all.push(...(await this.run(check)));
    return all;
  }

  private export(check: CheckName, findings: readonly Finding[]): void {
    const m = this.deps.metrics;
    if (!m) return;
    for (const status of ['ok', 'warn', 'fail', 'error'] as const) m.findings.set({ check, status }, findings.filter((f) => f.status === status).length);
    if (check === 'drift') {
      m.psi.reset();
      m.ksStatistic.reset();
      m.driftShare.reset();
      for (const f of findings) {
        const d = f.detail as { psi?: { value: number } | null; ks?: { statistic: number } | null } | undefined;
        if (f.subject.name === '__dataset__') {
          if (f.value !== null) m.driftShare.set({ model: f.subject.model }, f.value);
          continue;
        }
        if (d?.psi) m.psi.set({ model: f.subject.model, feature: f.subject.name }, d.psi.value);
        if (d?.ks) m.ksStatistic.set({ model: f.subject.model, feature: f.subject.name }, d.ks.statistic);
      }
    } else if (check === 'slo') {
      m.burnRate.reset();
      m.latency.reset();
      m.errorRate.reset();
      for (const f of findings) {
        if (f.value === null) continue;
        if (f.metric === 'burn_rate') m.burnRate.set({ model: f.subject.model, rule: f.subject.name }, f.value);
        else if (f.metric === 'error_rate') m.errorRate.set({ model: f.subject.model }, f.value);
        else if (f.metric.endsWith('_ms')) m.latency.set({ model: f.subject.model, quantile: { p50_ms: '0.5', p95_ms: '0.95', p99_ms: '0.99' }[f.metric] ?? f.metric }, f.value / 1000);
      }
    } else {
      m.stale.reset();
      const stale = new Map<string, number>();
      for (const f of findings) {
        if (!f.subject.version) continue;
        const k = `${f.subject.model}\u0000${f.subject.version}`;
        stale.set(k, Math.max(stale.get(k) ?? 0, f.status === 'warn' ? 1 : 0));
      }
      for (const [k, v] of stale) {
        const [model, version] = k.split('\u0000');
        m.stale.set({ model: model!, version: version! }, v);
      }
    }
  }

  start(): void {
    this.scheduler.start();
  }

  stop(): Promise<void> {
    return this.scheduler.stop();
  }
}
