/**
 * A scheduled check as the runner sees it: a name, a cron schedule, a run that returns findings,
 * and the gauges it exports from them. The runner knows nothing else about any check, so a new
 * one (quality, challenger) is a new implementation of this interface, not a new branch.
 */
import type { CheckName, Finding } from '../findings/finding.js';

export interface Check {
  readonly name: CheckName;
  /** Off: not scheduled and left out of runAll(); run(name) still runs it when asked by name. */
  readonly enabled: boolean;
  /** Cron expression (5 fields, or 6 with seconds). */
  readonly schedule: string;
  /** The findings as of nowMs. Throws when the check cannot run at all (the runner reports that). */
  run(nowMs: number): Promise<Finding[]>;
  /** Sets this check's own gauges from a run's findings (the runner sets the per-status counts). */
  exportGauges?(findings: readonly Finding[]): void;
}
