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
 * - An analyzer removed for good (a scale-down) never restarts to hand anything over. The models
 *   it had go to analyzers that were running already; each of those adopts the alerts the removed
 *   one left firing (from the findings it published, below), as if it had raised them itself:
 *   the receivers that alert routes to count as told, so a finding back to ok sends them the
 *   resolve, once, under the same key, and one still firing goes on without a second "firing".
 *
 * Which models a restarted analyzer took over it tells from the shard it last ran with, kept in
 * its outbox (`ownership`, outbox.ts): those it owns now and did not own then. Their previous
 * owner is the one the old n gave them to; with the StatefulSet's ordinals 0 .. n-1, one whose
 * index is not below the new n was removed (gone), any other one restarts and hands over.
 *
 * What the previous owner had firing comes from the fleet's shared findings (InfluxDB
 * `dw_finding`, FleetFindings): every analyzer publishes its findings there, so the newest judged
 * finding of each finding key from before the takeover is the previous owner's verdict, and a
 * non-ok one means its alert fired. With them, a model is held back only when its previous owner
 * had an alert on it firing (it will resolve it), and a new outbox (no record: a new pod, or a
 * fleet's first start) holds back only the models some analyzer had findings firing for before
 * it started: a fleet's first alerts go out at once. Without them (the embedded store, InfluxDB
 * unreachable: read again at the next run), every model taken over from a running analyzer, and
 * every model of a new outbox in a shared fleet, is held back for the grace, and nothing is adopted.
 */
import type { Finding } from '../findings/finding.js';
import type { OwnershipRecord } from './outbox.js';

/**
 * How far before a takeover the previous owner's findings are read: a check's latest verdict on a
 * model is at most one schedule old (every default schedule is an hour or less), so two days
 * leaves room for a daily schedule and a slow rollout; an adoption is attempted for as long.
 */
export const FLEET_LOOKBACK_MS = 2 * 86_400_000;

/** The fleet's published findings (store/influx-findings.ts reads them from InfluxDB's dw_finding). */
export interface FleetFindings {
  /**
   * The newest judged finding (not insufficient data) of each finding key of these models with
   * `at` in [fromMs, toMs), whichever analyzer published it.
   */
  latestFindings(models: readonly string[], fromMs: number, toMs: number): Promise<Finding[]>;
}

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
  /** Whether the analyzer that checked a model under that scope's n still runs under this one's
   *  (its index is below this n); null when the text is not a scope. */
  ownerStaysUnder(scope: string, model: string): boolean | null;
  /** analyzer.handoverGrace. */
  graceMs: number;
}

/** What the router needs: whose models these are, and since when this analyzer has each one. */
export interface Handover {
  /** This analyzer ("0/2"). */
  self: string;
  owns(model: string): boolean;
  ownerOf(model: string): string;
  /** When this analyzer took the model over from another one that will hand its alerts over
   *  (their first firing is held back for the grace); null: it had it already, or nobody is owed that. */
  arrivedMs(model: string): number | null;
  graceMs: number;
}

/** The previous owner of a model this analyzer owns, as far as its outbox tells. */
type Origin = 'own' | 'running' | 'gone' | 'unknown';

/** What the alerts service settles from the fleet's findings before the router sees a run. */
export interface FleetHandover extends Handover {
  /** The models among these whose previous owner's findings are still to be read (at nowMs). */
  unsettled(models: Iterable<string>, nowMs: number): string[];
  /**
   * Reads the previous owners' latest findings of these models (from before the takeover) and
   * settles them: a model is held back only if one of them fired. Returns the firing findings of
   * models whose previous owner is gone: the alerts to adopt. Rejects when the read fails (the
   * models stay unsettled, so held back, and are read again at the next run).
   */
  settle(models: readonly string[], fleet: FleetFindings): Promise<{ adopt: Finding[]; from: (model: string) => string }>;
}

const FIRING = new Set<Finding['status']>(['warn', 'fail', 'error']);

export function handoverFrom(view: ShardView, record: OwnershipRecord): FleetHandover {
  const before = record.previous === null ? null : view.ownsUnder(record.previous);
  // No record before (a new pod, a fleet's first start, or an outbox older than the record): in a
  // shared fleet any of its models may have been another analyzer's; alone, there was nobody to
  // take one from.
  const unknownAll = record.previous === null ? view.shared : before === null;
  const origin = (model: string): Origin => {
    if (model === '*' || !view.owns(model)) return 'own';
    if (unknownAll) return 'unknown';
    if (before === null || before(model)) return 'own';
    return view.ownerStaysUnder(record.previous!, model) === false ? 'gone' : 'running';
  };
  /** Settled models: whether their previous owner had an alert on them firing. */
  const firedBefore = new Map<string, boolean>();
  const since = record.sinceMs;
  return {
    self: view.scope,
    owns: (model) => view.owns(model),
    ownerOf: (model) => view.ownerOf(model),
    arrivedMs: (model) => {
      const o = origin(model);
      if (o === 'own' || o === 'gone') return null;
      // Unsettled: it may have fired there, so it waits (as it did before the fleet's findings were read).
      return firedBefore.get(model) === false ? null : since;
    },
    graceMs: view.graceMs,
    unsettled(models, nowMs) {
      const out = new Set<string>();
      for (const m of models) {
        if (out.has(m) || firedBefore.has(m)) continue;
        const o = origin(m);
        // A hold matters only within the grace; an adoption is tried for the lookback.
        if (o === 'gone' ? nowMs < since + FLEET_LOOKBACK_MS : o !== 'own' && nowMs < since + view.graceMs) out.add(m);
      }
      return [...out];
    },
    async settle(models, fleet) {
      const found = await fleet.latestFindings(models, since - FLEET_LOOKBACK_MS, since);
      const adopt: Finding[] = [];
      for (const m of models) firedBefore.set(m, false);
      for (const f of found) {
        const m = f.subject.model;
        if (!firedBefore.has(m) || f.insufficientData || !FIRING.has(f.status)) continue;
        firedBefore.set(m, true);
        if (origin(m) === 'gone') adopt.push(f);
      }
      const from = (model: string) =>
        record.previous !== null && view.ownsUnder(record.previous) ? previousOwner(view, record.previous, model) : 'another analyzer';
      return { adopt, from };
    },
  };
}

/** The analyzer ("2/3") a model had under a previous scope, for the history and the log. */
function previousOwner(view: ShardView, scope: string, model: string): string {
  const n = Number(scope.split('/')[1]);
  for (let i = 0; i < n; i++) if (view.ownsUnder(`${i}/${n}`)?.(model)) return `${i}/${n}`;
  return 'another analyzer';
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
