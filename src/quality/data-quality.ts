/**
 * Data quality of one feature in a window against its reference, from the mergeable profiles the
 * capture side already keeps (no second pass over the rows). Pure: no I/O, no clock.
 *
 * Per feature, as shares of the window's values (so they merge across windows and sidecars by
 * adding the counts they come from):
 *  - missing: null / NaN / absent values, next to the reference's own missing share (a column that
 *    is often empty in training is not a problem when it is often empty in traffic);
 *  - out of range (numeric features): values below the reference's minimum or above its maximum,
 *    the underflow and overflow bins of the reference's bin layout;
 *  - unseen categories (categorical features): values the reference never had;
 *  - type mismatch: strings or booleans where the reference had numbers, numbers where it had
 *    categories (a client sending "12.5" as text, or codes as numbers).
 */
import { categoriesTotal } from '../stats/categories.js';
import type { FeatureProfile, ReferenceFeature } from '../stats/types.js';

export type DataQualityRule = 'missing_share' | 'out_of_range_share' | 'unseen_category_share' | 'type_mismatch_share';

export interface FeatureDataQuality {
  kind: 'numerical' | 'categorical';
  /** Values in the window, missing ones included. */
  count: number;
  /** The rules that apply to this feature's kind, each a share of `count` (or of its typed values). */
  shares: Partial<Record<DataQualityRule, number>>;
  /** The reference's missing share (the baseline of the missing rule). */
  referenceMissingShare: number;
}

export function featureDataQuality(ref: ReferenceFeature, cur: FeatureProfile): FeatureDataQuality {
  const count = cur.count;
  const numeric = cur.moments.n;
  const categorical = categoriesTotal(cur.categories);
  const share = (n: number, of: number) => (of > 0 ? n / of : 0);
  const shares: Partial<Record<DataQualityRule, number>> = { missing_share: share(cur.missing, count) };
  if (ref.kind === 'numerical') {
    // Only over the numbers: a value that is not a number is counted by the type rule instead.
    const bins = cur.bins?.counts;
    if (bins && bins.length >= 3) shares.out_of_range_share = share(bins[0]! + bins[bins.length - 1]!, numeric);
    shares.type_mismatch_share = share(categorical, count - cur.missing);
  } else {
    shares.unseen_category_share = share(cur.categories.unseen, categorical);
    shares.type_mismatch_share = share(numeric, count - cur.missing);
  }
  return { kind: ref.kind, count, shares, referenceMissingShare: share(ref.profile.missing, ref.profile.count) };
}
