/**
 * The data shapes of the statistics side: plain, JSON-serialisable values (no classes, no Maps),
 * so a profile is stored, sent to InfluxDB, read back and merged without a translation layer.
 * Every function over them in src/stats/ is pure: no I/O, no clock (time is passed in), no logger.
 *
 * Mergeability is the point of every shape here: a window's profile from two sidecar replicas, or
 * from two flushes of one sidecar, merges into exactly the profile of all the data (counts, bins,
 * categories: bit-exact; moments: to floating-point rounding; the quantile sketch: within its
 * stated rank-error bound).
 */

/** Count, mean, M2 (sum of squared deviations), min, max of the numeric values seen. */
export interface Moments {
  n: number;
  mean: number;
  /** Sum of squared deviations from the mean (Welford's M2); variance = m2 / (n - 1). */
  m2: number;
  /** +Infinity / -Infinity are not JSON: an empty Moments has min = max = null. */
  min: number | null;
  max: number | null;
}

/**
 * KLL quantile sketch (Karnin, Lang, Liberty 2016, "Optimal Quantile Approximation in Streams"),
 * in the plain form it is stored in. `levels[h]` holds items of weight 2^h; level 0 is unsorted.
 */
export interface KllSketch {
  k: number;
  n: number;
  levels: number[][];
  min: number | null;
  max: number | null;
  /** State of the sketch's own PRNG (coin flips at compaction): deterministic, no Math.random. */
  seed: number;
}

/**
 * Fixed bin edges for one numeric feature, taken from the reference profile (its quantiles).
 * `edges` are strictly increasing cut points c_1 < ... < c_m; the bins are
 *   [0] underflow: x < lo      (lo = reference minimum)
 *   [1] lo <= x < c_1, [2] c_1 <= x < c_2, ..., [m+1] c_m <= x <= hi
 *   [m+2] overflow: x > hi     (hi = reference maximum)
 * Missing values are counted apart (FeatureProfile.missing).
 */
export interface BinEdges {
  lo: number;
  hi: number;
  edges: number[];
}

/** Counts over a BinEdges layout; `counts.length === edges.length + 3`. */
export interface BinnedCounts {
  /** Identifies the layout (a hash of lo/hi/edges): counts over different layouts never merge. */
  layout: string;
  counts: number[];
}

/**
 * Categorical counts. With a reference, only the reference's categories are keys and everything
 * else lands in `unseen`; without one, at most `maxDistinct` keys are kept and the rest lands in
 * `other`. The total (sum of counts + unseen + other) is always exact.
 */
export interface CategoryCounts {
  counts: Record<string, number>;
  unseen: number;
  other: number;
  maxDistinct: number;
}

/** Everything known about one feature (an input column or a prediction output) in one window. */
export interface FeatureProfile {
  /** Values seen, missing ones included. */
  count: number;
  /** null, undefined, NaN. */
  missing: number;
  /** Numeric values only. */
  moments: Moments;
  sketch: KllSketch;
  /** Present when the reference profile gave this feature bin edges. */
  bins: BinnedCounts | null;
  /** Strings and booleans (booleans as "true"/"false"). */
  categories: CategoryCounts;
}

/**
 * Latency histogram with fixed upper bounds in milliseconds; counts[i] counts values <= bounds[i]
 * and > bounds[i-1]; counts[bounds.length] is the open last bucket. Bounds always include every
 * configured SLO threshold exactly. Two histograms with different bounds merge onto the bounds
 * they share (exact: each shared bucket is a union of whole buckets of both).
 */
export interface LatencyHistogram {
  boundsMs: number[];
  counts: number[];
  sumMs: number;
}

/** Identifies a window: which model version it is about and which time span. */
export interface WindowKey {
  model: string;
  version: string;
  /** Epoch ms, a multiple of windowSeconds * 1000 (windows are aligned to the epoch). */
  startMs: number;
  windowSeconds: number;
}

/** One model version's traffic in one window: the unit the store keeps and the checks read. */
export interface WindowProfile extends WindowKey {
  /** Requests by status class ("2xx", "4xx", "5xx", ...). */
  requests: Record<string, number>;
  latency: LatencyHistogram;
  /** Feature rows extracted from the requests. */
  rows: number;
  features: Record<string, FeatureProfile>;
  predictions: Record<string, FeatureProfile>;
  /** Features not profiled because the per-window bound on features was reached. */
  droppedFeatures: number;
}

/** What a reference profile knows about one feature. */
export interface ReferenceFeature {
  kind: 'numerical' | 'categorical';
  /** The reference's own counts over its own layout: PSI compares a window's counts with these. */
  profile: FeatureProfile;
  /** numerical only: the fixed bin edges live windows are counted over. */
  binEdges: BinEdges | null;
  /** categorical only: the reference's categories (live values outside them are "unseen"). */
  categories: string[] | null;
}

/**
 * Classification quality as mergeable counts (src/quality/classification.ts has the functions;
 * the shape lives here because a reference profile carries it, and stats/ imports nothing above it).
 */
export interface ClassificationCounts {
  /** Labelled rows counted. */
  n: number;
  /** Rows whose predicted label equals the actual one (exact even past the class bound). */
  correct: number;
  /** confusion[actual][predicted] = rows; only classes within the bound (see `maxClasses`). */
  confusion: Record<string, Record<string, number>>;
  /** Rows whose actual or predicted class fell outside the kept classes (counted in n, correct). */
  overflow: number;
  /** Distinct classes kept in `confusion`; later new classes go to `overflow`. */
  maxClasses: number;
  /** Rows that carried a probability for the actual class (log loss and Brier are over these). */
  probRows: number;
  logLossSum: number;
  brierSum: number;
}

/** Regression quality as mergeable sums (src/quality/regression.ts has the functions). */
export interface RegressionCounts {
  /** The actual values' moments (n is the labelled row count). */
  actual: Moments;
  sumError: number;
  sumAbsError: number;
  sumSqError: number;
  sumAbsPctError: number;
  /** |predicted - actual|. */
  absErrors: KllSketch;
}

/** A fitted isotonic calibration map (src/quality/calibration.ts). */
export interface IsotonicMap {
  /** Strictly increasing inputs (block boundaries). */
  x: number[];
  /** Non-decreasing outputs at those inputs. */
  y: number[];
}

/** One map per class (one-vs-rest), as fitted on the reference. */
export type ClassCalibration = Record<string, IsotonicMap>;

/**
 * The model's performance on the reference's own rows, when the reference data held the label
 * column: what the quality check compares live performance with (the drop relative to the
 * reference) and, for classifiers with probabilities, the calibration maps its estimate applies.
 */
export interface ReferencePerformance {
  /** The column of the reference data that held the observed outcome. */
  labelColumn: string;
  /** Where the predictions came from: the model, scored on the rows, or columns of the file. */
  predictionsFrom: 'model' | 'file';
  /** Rows with both a label and a prediction (what the counts are over). */
  labelled: number;
  /** Exactly one of the two, by the task the predictions show (as the prediction log decides it). */
  classification: ClassificationCounts | null;
  regression: RegressionCounts | null;
  /** One-vs-rest isotonic maps fitted on the labelled rows; null without probabilities or below 100 rows. */
  calibration: ClassCalibration | null;
}

/** A reference profile: built from training data (or a window of traffic), stored per model version. */
export interface ReferenceProfile {
  format: 1;
  model: string;
  version: string;
  /** Epoch ms. */
  createdAtMs: number;
  /** Where it came from: a file path, or "traffic:<fromIso>/<toIso>". */
  source: string;
  rows: number;
  features: Record<string, ReferenceFeature>;
  predictions: Record<string, ReferenceFeature>;
  /**
   * The model's performance on these rows (built from a file with `--label-column`). Optional:
   * references built without labels, and those of older versions, have none; an older driftwatch
   * reading a reference that has it ignores it (validation checks only the fields it knows).
   */
  performance?: ReferencePerformance;
}
