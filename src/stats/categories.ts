import { copyCounts, setOwn } from './own-keys.js';
import type { CategoryCounts } from './types.js';

/**
 * Bounded categorical counts. Rules (also in docs/statistics.md):
 *  - total = sum(counts) + unseen + other is always exact, on observe and on merge;
 *  - with a reference, keys are the reference's categories only, the rest is `unseen` (exact);
 *  - without one, the first `maxDistinct` distinct keys are kept and later new keys go to `other`;
 *    merges keep the `maxDistinct` largest keys (ties by key) and fold the rest into `other`.
 *    Key sets (and so every count) are exact whenever the number of distinct values <= the bound;
 *    beyond it, which keys survive depends on arrival order and merge order (a heavy-hitters
 *    approximation, not a guarantee).
 */

/**
 * Number of keys per counts object, so the "is the record full?" check on a new key is O(1)
 * instead of Object.keys(). A cache only: missing entries (objects read back from JSON) are
 * recomputed, so it never changes a result.
 */
const keyCount = new WeakMap<Record<string, number>, number>();

export function emptyCategories(maxDistinct: number): CategoryCounts {
  if (!Number.isInteger(maxDistinct) || maxDistinct < 0) {
    throw new Error(`maxDistinct must be a non-negative integer, got ${maxDistinct}`);
  }
  const counts: Record<string, number> = {};
  keyCount.set(counts, 0);
  return { counts, unseen: 0, other: 0, maxDistinct };
}

export function observeCategory(c: CategoryCounts, key: string, reference: ReadonlySet<string> | null): void {
  const counts = c.counts;
  const cur = counts[key];
  // Inherited members (toString, constructor, __proto__) are never numbers: this is an own key.
  if (typeof cur === 'number' && Object.hasOwn(counts, key)) {
    counts[key] = cur + 1;
    return;
  }
  if (reference !== null) {
    if (reference.has(key)) {
      setOwn(counts, key, 1);
      const kc = keyCount.get(counts);
      if (kc !== undefined) keyCount.set(counts, kc + 1);
    } else {
      c.unseen++;
    }
    return;
  }
  let kc = keyCount.get(counts);
  if (kc === undefined) {
    kc = Object.keys(counts).length;
    keyCount.set(counts, kc);
  }
  if (kc < c.maxDistinct) {
    setOwn(counts, key, 1);
    keyCount.set(counts, kc + 1);
  } else {
    c.other++;
  }
}

export function categoriesTotal(c: CategoryCounts): number {
  let t = c.unseen + c.other;
  for (const k in c.counts) t += c.counts[k]!;
  return t;
}

/**
 * Sum of both; bound = min of the two bounds. Beyond the bound, keep the largest counts (ties by
 * key, code-unit order, so the result does not depend on argument order) and move the rest into
 * `other`. Commutative always; associative whenever no trimming happens.
 */
export function mergeCategories(a: CategoryCounts, b: CategoryCounts): CategoryCounts {
  const maxDistinct = Math.min(a.maxDistinct, b.maxDistinct);
  const sum = copyCounts(a.counts);
  for (const k in b.counts) {
    const v = b.counts[k]!;
    const cur = Object.hasOwn(sum, k) ? sum[k]! : 0;
    setOwn(sum, k, cur + v);
  }
  let other = a.other + b.other;
  let keys = Object.keys(sum);
  let counts = sum;
  if (keys.length > maxDistinct) {
    keys.sort((x, y) => sum[y]! - sum[x]! || (x < y ? -1 : x > y ? 1 : 0));
    counts = {};
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (i < maxDistinct) setOwn(counts, k, sum[k]!);
      else other += sum[k]!;
    }
    keys = keys.slice(0, maxDistinct);
  }
  keyCount.set(counts, keys.length);
  return { counts, unseen: a.unseen + b.unseen, other, maxDistinct };
}

export function cloneCategories(c: CategoryCounts): CategoryCounts {
  const counts = copyCounts(c.counts);
  return { counts, unseen: c.unseen, other: c.other, maxDistinct: c.maxDistinct };
}
