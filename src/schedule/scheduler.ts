/**
 * Runs the checks on their cron schedules: the one node-cron import. Each job runs at most once
 * at a time (a run still going when the next tick comes is skipped and counted, not stacked), is
 * aborted after its timeout (the AbortSignal tells the job; the scheduler stops waiting), and
 * reports its duration and outcome. A failing job is logged and counted; it never stops the
 * others or the process.
 */
import cron, { type ScheduledTask } from 'node-cron';
import { DriftwatchError, messageOf } from '../errors.js';
import type { Logger } from '../telemetry/logger.js';

export interface ScheduledJob {
  name: string;
  /** Cron expression, 5 fields (minute precision) or 6 (with seconds). */
  cron: string;
  timeoutMs: number;
  run(signal: AbortSignal): Promise<void>;
}

export interface SchedulerMetrics {
  observeRun(job: string, outcome: 'ok' | 'failed' | 'timeout' | 'skipped_overlap', seconds: number): void;
}

export function cronProblem(expression: string): string | null {
  if (cron.validate(expression)) return null;
  const detail = cron.validateDetailed(expression);
  return detail.errors.map((e) => `${e.field}: ${e.message}`).join('; ') || 'not a cron expression';
}

export class Scheduler {
  private readonly jobs = new Map<string, { job: ScheduledJob; task: ScheduledTask | null; running: Promise<void> | null }>();

  constructor(private readonly deps: { logger: Logger; metrics?: SchedulerMetrics; timezone?: string }) {}

  add(job: ScheduledJob): void {
    const problem = cronProblem(job.cron);
    if (problem)
      throw new DriftwatchError('DW_ERR_CONFIG_INVALID', `schedule of ${job.name}: ${JSON.stringify(job.cron)} is not a valid cron expression (${problem})`);
    if (this.jobs.has(job.name)) throw new Error(`job ${job.name} added twice`);
    this.jobs.set(job.name, { job, task: null, running: null });
  }

  /** Runs one job now (also what the cron tick calls); resolves when it finished or timed out. */
  runNow(name: string): Promise<void> {
    const entry = this.jobs.get(name);
    if (!entry) return Promise.reject(new Error(`no job ${name}`));
    if (entry.running !== null) {
      this.deps.metrics?.observeRun(name, 'skipped_overlap', 0);
      this.deps.logger.warn('check still running at its next tick; this tick is skipped', { job: name });
      return entry.running;
    }
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    const ac = new AbortController();
    let timer: NodeJS.Timeout | null = null;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => {
        ac.abort(new Error(`timed out after ${entry.job.timeoutMs} ms`));
        resolve('timeout');
      }, entry.job.timeoutMs);
    });
    const run = Promise.resolve()
      .then(() => entry.job.run(ac.signal))
      .then(() => 'ok' as const);
    const reported = Promise.race([run, timeout]).then(
      (outcome) => {
        this.deps.metrics?.observeRun(name, outcome, seconds());
        if (outcome === 'timeout')
          this.deps.logger.warn('check timed out; the next tick waits until it has stopped', { job: name, timeoutMs: entry.job.timeoutMs });
      },
      (e: unknown) => {
        this.deps.metrics?.observeRun(name, 'failed', seconds());
        this.deps.logger.warn('check failed', { job: name, error: messageOf(e) });
      },
    );
    // The job stays "running" until it has really settled, timed out or not: a run that ignores
    // its AbortSignal must still never overlap the next one.
    entry.running = Promise.allSettled([reported, run]).then(() => {
      if (timer) clearTimeout(timer);
      entry.running = null;
    });
    return reported;
  }

  start(): void {
    for (const [name, entry] of this.jobs) {
      if (entry.task) continue;
      entry.task = cron.schedule(entry.job.cron, () => this.runNow(name), {
        name,
        noOverlap: true,
        ...(this.deps.timezone ? { timezone: this.deps.timezone } : {}),
      });
      entry.task.on('execution:overlap', () => {
        this.deps.metrics?.observeRun(name, 'skipped_overlap', 0);
        this.deps.logger.warn('check still running at its next tick; this tick is skipped', { job: name });
      });
    }
  }

  /** Stops the schedules and waits for runs in flight (each bounded by its timeout). */
  async stop(): Promise<void> {
    for (const entry of this.jobs.values()) {
      await entry.task?.stop();
      await entry.task?.destroy();
      entry.task = null;
    }
    await Promise.all([...this.jobs.values()].map((e) => e.running));
  }
}
