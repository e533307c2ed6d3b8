/**
 * Where a check run's findings go. The check runner hands every run to a list of sinks in order
 * (the history first, then the InfluxDB copy for dashboards, then alerts), so adding a destination
 * is a new sink, not a new branch in the runner or a closure in the composition root.
 */
import type { CheckName, Finding } from './finding.js';

export interface CheckRun {
  check: CheckName;
  findings: readonly Finding[];
  /**
   * false when the check could not run at all (its findings are then the one `error` finding the
   * runner made): a sink that keeps "the latest view per check" must not replace it with that.
   */
  completed: boolean;
}

export interface FindingSink {
  /** For logs: "history", "influxdb", "alerts". */
  readonly name: string;
  /**
   * Takes one run's findings. A sink deals with its own outages (logs, buffers, drops and counts);
   * it rejects only for what should fail the run itself (the runner still gives the run to the
   * sinks after it, then rethrows).
   */
  accept(run: CheckRun): void | Promise<void>;
}
