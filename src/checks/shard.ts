/**
 * Which analyzer checks which model when several share one fleet (`analyzer.shard: "i/n"`,
 * `driftwatch analyze --shard i/n`), with no coordinator: each analyzer computes the same owner
 * for every model name from the name alone, so the n analyzers partition the models between them.
 *
 * By model, not by model version: the SLO check judges a model across its versions, the
 * staleness check compares a version with the model's newer ones and reads the drift check's
 * failure streak from its own findings history, and alerts group per model. One owner per model
 * keeps all of that on one analyzer (its history, its outbox), so an alert is raised by exactly
 * one of them and its dedupe and repeat state lives in one place.
 *
 * Rendezvous (highest random weight) hashing: the owner of a model is the shard with the highest
 * hash of (model, shard). When n changes to n+1, only the models the new shard wins move (about
 * 1/(n+1) of them); `hash mod n` would move most of them, and each moved model's alerts would be
 * sent once more by its new owner. The hash is FNV-1a over the UTF-16 code units with the
 * murmur3 finalizer (FNV alone mixes the low bits of similar short names poorly); it is part of
 * the contract between analyzers of different driftwatch versions, so it never changes.
 */

export interface Shard {
  /** 0-based: this analyzer's slot (a StatefulSet pod's ordinal). */
  index: number;
  /** How many analyzers share the fleet; 1: this one checks every model. */
  count: number;
}

export const ALL_MODELS: Shard = { index: 0, count: 1 };

/** "i/n" (0 <= i < n, 1 <= n <= 1024), or null when it is not that. */
export function parseShard(text: string): Shard | null {
  const m = /^\s*(\d{1,4})\s*\/\s*(\d{1,4})\s*$/.exec(text);
  if (!m) return null;
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || count > 1024 || index >= count) return null;
  return { index, count };
}

function weight(model: string, shard: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < model.length; i++) {
    h ^= model.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // The shard number as one more "character" after a separator no model name ends with.
  h ^= 0xffff;
  h = Math.imul(h, 0x01000193);
  h ^= shard;
  h = Math.imul(h, 0x01000193);
  // murmur3 fmix32
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The shard (0..count-1) that checks this model. */
export function shardOf(model: string, count: number): number {
  let best = 0;
  let bestWeight = -1;
  for (let s = 0; s < count; s++) {
    const w = weight(model, s);
    // Ties (one in 2^32) go to the lower shard, the same on every analyzer.
    if (w > bestWeight) {
      best = s;
      bestWeight = w;
    }
  }
  return best;
}

/**
 * The predicate the checks filter their subjects with. "*" (a finding about a run, not a model)
 * belongs to every analyzer: each reports its own failures.
 */
export function modelOwner(shard: Shard): (model: string) => boolean {
  if (shard.count <= 1) return () => true;
  return (model) => model === '*' || shardOf(model, shard.count) === shard.index;
}

export function formatShard(shard: Shard): string {
  return `${shard.index}/${shard.count}`;
}

/**
 * The shard as the alert handover sees it (alerts/handover.ts ShardView; alerts/ does not import
 * checks/): its text, who checks a model now, the predicate of a shard read back from the
 * outbox (the one this analyzer had before a restart) and whether a model's owner under it still runs.
 */
export function shardView(shard: Shard, graceMs: number) {
  return {
    scope: formatShard(shard),
    shared: shard.count > 1,
    owns: modelOwner(shard),
    ownerOf: (model: string) => formatShard({ index: shardOf(model, shard.count), count: shard.count }),
    ownsUnder: (text: string): ((model: string) => boolean) | null => {
      const before = parseShard(text);
      return before ? modelOwner(before) : null;
    },
    // A StatefulSet runs ordinals 0 .. n-1: after a change of n, the analyzer that had a model
    // under the old n still runs if its index is below the new one (a scale-down removed the rest).
    ownerStaysUnder: (text: string, model: string): boolean | null => {
      const before = parseShard(text);
      return before ? shardOf(model, before.count) < shard.count : null;
    },
    graceMs,
  };
}
