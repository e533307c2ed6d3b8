/**
 * The prediction log: what the ground-truth join needs of each captured prediction, kept for a
 * horizon, and the labels joined to it. This file is the interface and its value types; the
 * embedded implementation is `sqlite-prediction-log.ts` (chosen by app/, like the stats stores).
 *
 * Why keep rows and not only counts: labels arrive late (minutes to weeks) and must be attributed
 * to the window of the *prediction*, so the prediction has to wait, with its time, model version,
 * predicted label or value and probabilities, until its label comes or the horizon passes.
 *
 * Bounded: past `maxRows` the log keeps a deterministic sample of ids (by a hash of the id, see
 * `SAMPLE_LEVELS`): every process sharing the rule keeps the same ids, and a label for an id the
 * sample dropped is counted as `notRetained`, never confused with a label that matches nothing.
 */

export interface PredictionRecord {
  /** The join key: the request id (with `#row` for a multi-row request) or the id column's value. */
  id: string;
  /** When the prediction was made (ms since epoch): quality is attributed to this time's window. */
  atMs: number;
  model: string;
  version: string;
  /** The predicted class, for classifiers (string form of the label). */
  predicted: string | null;
  /** The predicted value, for regressors. */
  value: number | null;
  /** Class -> probability, when the model gave them. */
  probabilities: Readonly<Record<string, number>> | null;
}

export interface LabelRecord {
  id: string;
  /** The observed outcome: a class (string) or a value (number). */
  label: string | number;
  /** When the label arrived (ms since epoch): the label delay is this minus the prediction's time. */
  atMs: number;
}

export interface LabelIngestResult {
  /** Labels that found their prediction (first label for it). */
  matched: number;
  /** Labels for a prediction that already had one: the newer replaces the older. */
  replaced: number;
  /** Labels whose id matches no prediction in the log (unknown, expired, or never captured). */
  unmatched: number;
  /** Labels for ids the log's sample dropped when it was over its size budget. */
  notRetained: number;
}

export interface JoinedRow extends PredictionRecord {
  label: string | number;
  labelAtMs: number;
}

/** What one model predicted for an id (the parts of a PredictionRecord a paired row needs). */
export interface PairedPrediction {
  version: string;
  predicted: string | null;
  value: number | null;
  probabilities: Readonly<Record<string, number>> | null;
}

/** Both models' predictions for one labelled id: the champion's record and a challenger's. */
export interface PairedLabelledRow {
  id: string;
  /** The champion's prediction time (quality is attributed to it). */
  atMs: number;
  label: string | number;
  labelAtMs: number;
  champion: PairedPrediction;
  challenger: PairedPrediction;
}

/** A logged prediction with its label when one arrived. */
export interface LoggedRow extends PredictionRecord {
  label: string | number | null;
  labelAtMs: number | null;
}

export interface LoggedSeries {
  model: string;
  version: string;
  predictions: number;
  labelled: number;
}

export interface WindowCounts {
  predictions: number;
  labelled: number;
}

export interface PredictionLogStats {
  rows: number;
  labelled: number;
  /** Share of ids kept: 1 until the log first fills, then 1/2, 1/4, ... */
  sampleRate: number;
  /** Predictions not kept because of the sample. */
  sampledOut: number;
  /** Shadow (challenger) predictions kept (`rows` counts the champions'). */
  shadowRows?: number;
}

/**
 * Asynchronous although the embedded implementation is not: a fleet's log lives in a networked
 * database (docs/quality.md, "Fleets"), and callers must not be written against a synchronous one.
 */
export interface PredictionLog {
  /** Keeps the predictions (a prediction recorded again keeps its first record); returns how many the sample kept. */
  recordPredictions(rows: readonly PredictionRecord[]): Promise<{ kept: number; sampledOut: number }>;
  /**
   * Keeps a challenger's (shadow's) predictions for ids whose champion prediction is (or will be)
   * recorded with the same id; `version` is the challenger's. Same sample rule (an id the sample
   * drops is not kept), same horizon; keyed by (id, version): recorded again keeps the first.
   * Why a separate record: one label per id serves both models, and the champion's record stays
   * the one labels join (a challenger's prediction never counts as a champion's).
   */
  recordShadowPredictions(rows: readonly PredictionRecord[]): Promise<{ kept: number; sampledOut: number }>;
  /** Joins labels to their predictions; never throws for a label that matches nothing. */
  recordLabels(labels: readonly LabelRecord[]): Promise<LabelIngestResult>;
  /** Labelled predictions of a model (and version, when given) made in [fromMs, toMs). */
  joined(model: string, version: string | null, fromMs: number, toMs: number): Promise<JoinedRow[]>;
  /**
   * Every logged prediction (labelled or not) of a model version made in [fromMs, toMs), oldest
   * first, in pages of at most `pageSize` rows: a window of millions of predictions is read with
   * bounded memory.
   */
  scan(model: string, version: string, fromMs: number, toMs: number, pageSize?: number): AsyncIterable<LoggedRow[]>;
  /**
   * Labelled ids of a model predicted in [fromMs, toMs) that have both a champion prediction and
   * this challenger version's prediction, oldest first (by the champion's time, then id), in pages
   * of at most `pageSize` rows.
   */
  scanPairs(model: string, challengerVersion: string, fromMs: number, toMs: number, pageSize?: number): AsyncIterable<PairedLabelledRow[]>;
  /** The model versions with predictions made in [fromMs, toMs), with their counts. */
  series(fromMs: number, toMs: number): Promise<LoggedSeries[]>;
  /** Predictions and labelled predictions in [fromMs, toMs): the labelled share. */
  windowCounts(model: string, version: string | null, fromMs: number, toMs: number): Promise<WindowCounts>;
  /** Drops predictions (champion and shadow) older than the horizon; returns how many. */
  prune(nowMs: number): Promise<number>;
  stats(): Promise<PredictionLogStats>;
  close(): Promise<void>;
}

/** How many times the sample may halve (2^-20 is about one id in a million). */
export const SAMPLE_LEVELS = 20;
