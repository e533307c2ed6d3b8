/**
 * What driftwatch publishes to InfluxDB besides the statistics, for the dashboards: each check
 * run's findings (dw_finding) and the reference profiles the sidecar bins against (dw_reference).
 * Its own part, not optional methods on the statistics store: the check runner sees a
 * FindingSink, the profiler a ReferencePublisher, and only the composition root knows both are
 * this one object writing through the InfluxDB store's buffer and spool.
 */
import { messageOf } from '../errors.js';
import type { CheckRun, FindingSink } from '../findings/sink.js';
import type { ReferenceProfile } from '../stats/types.js';
import { silentLogger, type Logger } from '../telemetry/logger.js';
import type { InfluxStore } from './influx.js';
import { findingToPoint, referenceToPoints } from './influx-schema.js';
import type { ReferencePublisher } from './types.js';

/** A reference in use is written again after this long (a day: far inside any sensible retention). */
const REFERENCE_REWRITE_MS = 86_400_000;
/** References whose last write time is remembered (oldest forgotten first). */
const REFERENCES_REMEMBERED = 1_024;

export class InfluxPublisher implements FindingSink, ReferencePublisher {
  readonly name = 'influxdb';
  private readonly logger: Logger;
  private readonly now: () => number;
  /** References already seen (the reference cache hands out a new object at every registry poll). */
  private readonly referencesSeen = new WeakSet<ReferenceProfile>();
  /** Last write time per (model, version, creation time), in insertion order. */
  private readonly referencesWritten = new Map<string, number>();

  constructor(
    private readonly store: InfluxStore,
    deps: { logger?: Logger; now?: () => number } = {},
  ) {
    this.logger = deps.logger ?? silentLogger;
    this.now = deps.now ?? Date.now;
  }

  /**
   * A check run's findings as dw_finding points. A store that cannot take them must not keep the
   * alerts (the next sink) from going out: the failure is logged, never thrown.
   */
  accept(run: CheckRun): void {
    try {
      this.store.appendPoints(run.findings.map(findingToPoint), 'a finding');
    } catch (e) {
      this.logger.warn('findings could not be written to the statistics store', { error: messageOf(e) });
    }
  }

  /**
   * Writes a reference profile's bins (dw_reference), stamped now, the first time it is seen, so a
   * dashboard can draw reference vs current. Synchronous and cheap on a repeat (a WeakSet lookup):
   * the profiler calls it on its hot path. The same reference (model, version, creation time) is
   * written again only after REFERENCE_REWRITE_MS, so a long-running sidecar keeps it inside the
   * database's retention.
   */
  noteReference(ref: ReferenceProfile): void {
    if (this.referencesSeen.has(ref)) return;
    this.referencesSeen.add(ref);
    const key = `${ref.model}\u0000${ref.version}\u0000${ref.createdAtMs}`;
    const nowMs = Math.floor(this.now());
    const last = this.referencesWritten.get(key);
    if (last !== undefined && nowMs - last < REFERENCE_REWRITE_MS) return;
    this.referencesWritten.delete(key);
    this.referencesWritten.set(key, nowMs);
    if (this.referencesWritten.size > REFERENCES_REMEMBERED) this.referencesWritten.delete(this.referencesWritten.keys().next().value as string);
    try {
      this.store.appendPoints(referenceToPoints(ref, nowMs), `the reference of ${ref.model}@${ref.version}`);
    } catch (e) {
      // A closed store (shutdown) or a reference that cannot be written: the dashboards miss it.
      this.logger.debug('reference not published', { model: ref.model, version: ref.version, error: messageOf(e) });
    }
  }
}
