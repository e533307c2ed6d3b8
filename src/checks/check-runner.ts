/**
 * Runs the checks, on their schedules or at once, and hands every run's findings to the sinks
 * (history, the InfluxDB copy, alerts) after exporting them as gauges. A check that cannot run
 * (the store is down, the registry unreadable) yields one `error` finding and the process carries
 * on; the next tick tries again. The runner knows checks only through the Check interface.
 */
import { messageOf } from '../errors.js';
import type { CheckName, Finding } from '../findings/finding.js';
import type { FindingSink } from '../findings/sink.js';
import { Scheduler } from '../schedule/scheduler.js';
import type { Logger } from '../telemetry/logger.js';
import type { CheckMetrics } from '../telemetry/metrics.js';
import type { Check } from './check.js';

export interface CheckRunnerDeps {
  checks: readonly Check[];
  /** A run still going after this is abandoned by the scheduler (and counted as a timeout). */
  timeoutMs: number;
  /** Every run's findings go to each of these, in order. */
  sinks: readonly FindingSink[];
  logger: Logger;
  metrics?: Pick<CheckMetrics, 'runs' | 'duration' | 'findings'>;
  now?: () => number;
  /**
   * The models this analyzer answers for (analyzer.shard, shard.ts): findings about other models
   * are dropped before the gauges and the sinks, so another analyzer's model is never alerted on
   * here, whatever a check did (the checks skip them themselves; this also covers one that
   * cannot tell). Absent: every model.
   */
  owns?: (model: string) => boolean;
}

const STATUSES = ['ok', 'warn', 'fail', 'error'] as const;

export class CheckRunner {
  private readonly scheduler: Scheduler;
  private readonly now: () => number;
  private readonly checks: ReadonlyMap<CheckName, Check>;
  /** One run per check at a time, whoever asks (the schedule, the API, --once). */
  private readonly inflight = new Map<CheckName, Promise<Finding[]>>();

  constructor(private readonly deps: CheckRunnerDeps) {
    this.now = deps.now ?? Date.now;
    this.checks = new Map(deps.checks.map((c) => [c.name, c]));
    this.scheduler = new Scheduler({
      logger: deps.logger,
      metrics: {
        observeRun: (job, outcome, seconds) => {
          deps.metrics?.runs.inc({ check: job, outcome });
          if (outcome !== 'skipped_overlap') deps.metrics?.duration.observe({ check: job }, seconds);
        },
      },
    });
    for (const check of deps.checks) {
      if (!check.enabled) continue;
      this.scheduler.add({ name: check.name, cron: check.schedule, timeoutMs: deps.timeoutMs, run: async () => void (await this.run(check.name)) });
    }
  }

  /** Runs one check now: its findings, exported and handed to the sinks (an `error` finding if it could not run). */
  run(name: CheckName): Promise<Finding[]> {
    const running = this.inflight.get(name);
    if (running !== undefined) return running;
    const check = this.checks.get(name);
    if (!check) return Promise.reject(new Error(`no check named ${name}`));
    const p = this.runOnce(check).finally(() => this.inflight.delete(name));
    this.inflight.set(name, p);
    return p;
  }

  private async runOnce(check: Check): Promise<Finding[]> {
    const nowMs = this.now();
    let out: Finding[];
    let completed = true;
    try {
      out = await check.run(nowMs);
    } catch (e) {
      this.deps.logger.warn('check could not run', { check: check.name, error: messageOf(e) });
      completed = false;
      out = [
        {
          check: check.name,
          subject: { model: '*', version: null, name: 'run' },
          status: 'error',
          metric: 'run',
          value: null,
          threshold: { warn: null, fail: null, direction: 'above' },
          window: { fromMs: nowMs, toMs: nowMs, label: 'run' },
          sampleSize: 0,
          at: nowMs,
          message: `the ${check.name} check could not run: ${messageOf(e)}`,
        },
      ];
    }
    const owns = this.deps.owns;
    if (owns) out = out.filter((f) => owns(f.subject.model));
    const m = this.deps.metrics;
    if (m) for (const status of STATUSES) m.findings.set({ check: check.name, status }, out.filter((f) => f.status === status).length);
    check.exportGauges?.(out);
    // Every sink gets the run, even after one failed; the first failure then fails the run.
    let failure: unknown = null;
    for (const sink of this.deps.sinks) {
      try {
        await sink.accept({ check: check.name, findings: out, completed });
      } catch (e) {
        failure ??= e;
      }
    }
    if (failure !== null) throw failure;
    return out;
  }

  /** Every enabled check, one after the other (what `driftwatch check --once` runs). */
  async runAll(): Promise<Finding[]> {
    const all: Finding[] = [];
    for (const check of this.deps.checks) if (check.enabled) all.push(...(await this.run(check.name)));
    return all;
  }

  start(): void {
    this.scheduler.start();
  }

  stop(): Promise<void> {
    return this.scheduler.stop();
  }
}
