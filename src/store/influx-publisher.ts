/**
 * What driftwatch publishes to InfluxDB besides the statistics, for the dashboards: each check
 * run's findings (dw_finding), the reference profiles the sidecar bins against (dw_reference) and
 * the champion/challenger comparisons of a shadowing process (dw_challenger).
 * Its own part, not optional methods on the statistics store: the check runner sees a
 * FindingSink, the profiler a ReferencePublisher, the comparison publisher a ComparisonWriter, and
 * only the composition root knows they are this one object writing through the InfluxDB store's
 * buffer and spool.
 */
import { hostname } from 'node:os';
import type { ComparisonWindowDelta } from '../challenger/comparison-deltas.js';
import { messageOf } from '../errors.js';
import type { CheckRun, FindingSink } from '../findings/sink.js';
import type { ReferenceProfile } from '../stats/types.js';
import { silentLogger, type Logger } from '../telemetry/logger.js';
import type { InfluxStore } from './influx.js';
import { comparisonToPoint } from './influx-challenger.js';
import { findingToPoint, type PointSpec, referenceToPoints } from './influx-schema.js';
import type { ComparisonWriter, ReferencePublisher } from './types.js';

/** A reference in use is written again after this long (a day: far inside any sensible retention). */
const REFERENCE_REWRITE_MS = 86_400_000;
/** References whose last write time is remembered (oldest forgotten first). */
const REFERENCES_REMEMBERED = 1_024;
/** Comparison windows whose last used timestamp is remembered (oldest forgotten first). */
const COMPARISON_WINDOWS_REMEMBERED = 4_096;

export class InfluxPublisher implements FindingSink, ReferencePublisher, ComparisonWriter {
  readonly name = 'influxdb';
  private readonly logger: Logger;
  private readonly now: () => number;
  /** References already seen (the reference cache hands out a new object at every registry poll). */
  private readonly referencesSeen = new WeakSet<ReferenceProfile>();
  /** Last write time per (model, version, creation time), in insertion order. */
  private readonly referencesWritten = new Map<string, number>();
  /** Per written window, the next free millisecond inside it (late pairs make a second point, never overwrite the first). */
  private readonly comparisonSlots = new Map<string, number>();
  private readonly instance: string;

  constructor(
    private readonly store: InfluxStore,
    deps: { logger?: Logger; now?: () => number; instance?: string } = {},
  ) {
    this.logger = deps.logger ?? silentLogger;
    this.now = deps.now ?? Date.now;
    // The store's own instance tag, so a process's statistics and comparisons carry one name.
    const own = (store as { instance?: unknown }).instance;
    this.instance = deps.instance ?? (typeof own === 'string' ? own : `${hostname()}-${process.pid}`);
  }

  /**
   * Closed comparison windows (app/comparison-publishing.ts) as dw_challenger points through the
   * store's buffer and spool. Throws when the store cannot take them (closed): the publisher keeps
   * them.
   */
  writeComparisons(deltas: readonly ComparisonWindowDelta[]): void {
    const points: PointSpec[] = [];
    for (const w of deltas) {
      const windowMs = w.windowSeconds * 1000;
      const id = `${w.model}\u0000${w.championVersion}\u0000${w.challengerVersion}\u0000${w.startMs}`;
      // The window's start, or the next free ms after a point already written for it: a point is
      // identified by its tags and time, so a second delta of one window must not take the first's.
      const used = this.comparisonSlots.get(id);
      const timeMs = Math.min(w.startMs + windowMs - 1, used ?? w.startMs);
      this.comparisonSlots.delete(id);
      this.comparisonSlots.set(id, timeMs + 1);
      if (this.comparisonSlots.size > COMPARISON_WINDOWS_REMEMBERED) this.comparisonSlots.delete(this.comparisonSlots.keys().next().value as string);
      points.push(comparisonToPoint(w, this.instance, timeMs));
    }
    if (points.length > 0) this.store.appendPoints(points, 'the challenger comparisons');
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
