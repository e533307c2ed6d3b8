/**
 * Alert handover between analyzers that share a fleet (analyzer.shard, docs/alerts.md#handover).
 * Each analyzer keeps its alerts' state in its own outbox, so when a model moves to another
 * analyzer (n or this analyzer's index changed), nobody but the old owner knows its alerts fire,
 * and the new owner does not know they were ever told. There is no channel between analyzers;
 * the one thing they share is the alert's identity: the key is a hash of the finding's key
 * (check, model, version, role, name), the same on every analyzer, and so are the Alertmanager
 * labels and the PagerDuty dedup_key. The handover is built on that:
 *
 * - The old owner, at start and before each run's alerts, ends every firing alert it holds for a
 *   model outside its shard: receivers that need an explicit resolve (webhook, Slack, PagerDuty,
 *   the Alertmanager webhook format) are told "resolved", with `handover: {from, to}` and a
 *   message naming the analyzer that checks the model now; an alertmanager-api receiver gets one
 *   last post of the firing alert (its endsAt the usual 4 resend intervals ahead) and no more
 *   re-posts, so Alertmanager merges the new owner's posts of the same labels into the same
 *   alert (keeping the earliest startsAt) or, if the new owner never fires it, ends it at endsAt.
 * - The new owner holds back the first firing notification of a model it took over, for
 *   `analyzer.handoverGrace` from when it took it, from every receiver but alertmanager-api: the
 *   old owner's "resolved" (sent when it restarts with the new shard) must reach a receiver
 *   before the new owner's "firing" of the same key, or it would close the incident the new
 *   owner keeps open. Its findings, history and alert state are kept as usual meanwhile; the
 *   first run after the grace sends what still fires, under the same key.
 *
 * Which models a restarted analyzer took over it tells from the shard it last ran with, kept in
 * its outbox (`ownership`, outbox.ts): those it owns now and did not own then. A new outbox in a
 * shared fleet (a new StatefulSet pod) took over every model it owns.
 */
import type { OwnershipRecord } from './outbox.js';

/** The app's view of the shard (checks/shard.ts), passed in so alerts/ does not depend on checks/. */
export interface ShardView {
  /** This analyzer's share, as text ("0/2"); recorded in the outbox. */
  scope: string;
  /** Whether several analyzers share the fleet (n > 1). */
  shared: boolean;
  owns(model: string): boolean;
  /** The analyzer that checks a model now ("2/3"), for the handover message. */
  ownerOf(model: string): string;
  /** The predicate of a scope read back from the outbox; null when the text is not a scope. */
  ownsUnder(scope: string): ((model: string) => boolean) | null;
  /** analyzer.handoverGrace. */
  graceMs: number;
}

/** What the router needs: whose models these are, and since when this analyzer has each one. */
export interface Handover {
  /** This analyzer ("0/2"). */
  self: string;
  owns(model: string): boolean;
  ownerOf(model: string): string;
  /** When this analyzer took the model over from another one; null: it had it already (or never). */
  arrivedMs(model: string): number | null;
  graceMs: number;
}

export function handoverFrom(view: ShardView, record: OwnershipRecord): Handover {
  const before = record.previous === null ? null : view.ownsUnder(record.previous);
  // No record before (a new pod, or an outbox older than the record): in a shared fleet any of
  // its models may have been another analyzer's; alone, there was nobody to take one from.
  const tookAll = record.previous === null ? view.shared : before === null;
  return {
    self: view.scope,
    owns: (model) => view.owns(model),
    ownerOf: (model) => view.ownerOf(model),
    arrivedMs: (model) => {
      if (model === '*' || !view.owns(model)) return null;
      if (tookAll) return record.sinceMs;
      return before !== null && !before(model) ? record.sinceMs : null;
    },
    graceMs: view.graceMs,
  };
}

/** Whether a firing alert on this model is held back from receivers that need an explicit resolve. */
export function inGrace(h: Handover | undefined, model: string, nowMs: number): boolean {
  if (!h) return false;
  const at = h.arrivedMs(model);
  return at !== null && nowMs < at + h.graceMs;
}

export function handoverMessage(h: Handover, model: string, firingMessage: string): string {
  return `handed over: model ${model} is checked by analyzer ${h.ownerOf(model)} now (was ${h.self}), which continues this alert under the same key if it still holds (last: ${firingMessage})`;
}
