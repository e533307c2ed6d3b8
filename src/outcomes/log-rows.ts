/**
 * The stored row of a prediction (and of a champion/challenger pair) as both SQL prediction logs
 * read it back (sqlite-prediction-log.ts, pg-prediction-log.ts: the same columns on both), and its
 * mapping to the interface's values. One home, so the two logs cannot decode a row differently:
 * the conformance suite (test/prediction-log-suite.ts) holds them to the same answers.
 */
import type { JoinedRow, LoggedRow, PairedLabelledRow, PredictionRecord } from './prediction-log.js';

/** The log's defaults: `labels.maxRows` and `labels.horizon` (30 days). */
export const DEFAULT_MAX_ROWS = 1_000_000;
export const DEFAULT_HORIZON_MS = 30 * 86_400_000;

/** A `predictions` row. A label is kept in `label` (a class) or `label_num` (a value). */
export interface StoredPrediction {
  id: string;
  at_ms: number;
  model: string;
  version: string;
  predicted: string | null;
  value: number | null;
  probs: string | null;
  label: string | null;
  label_num: number | null;
  label_at_ms: number | null;
}

/** A labelled champion row joined to a `shadow_predictions` row (the challenger's, `s_`). */
export interface StoredPair {
  id: string;
  at_ms: number;
  version: string;
  predicted: string | null;
  value: number | null;
  probs: string | null;
  label: string | null;
  label_num: number | null;
  label_at_ms: number;
  s_version: string;
  s_predicted: string | null;
  s_value: number | null;
  s_probs: string | null;
}

function probsOf(json: string | null): Record<string, number> | null {
  return json === null ? null : (JSON.parse(json) as Record<string, number>);
}

function labelOf(r: { label: string | null; label_num: number | null }): string | number {
  return r.label_num !== null ? r.label_num : (r.label as string);
}

export function recordOf(r: StoredPrediction): PredictionRecord {
  return { id: r.id, atMs: r.at_ms, model: r.model, version: r.version, predicted: r.predicted, value: r.value, probabilities: probsOf(r.probs) };
}

/** A row read by `joined` (labelled by the query's condition). */
export function joinedOf(r: StoredPrediction): JoinedRow {
  return { ...recordOf(r), label: labelOf(r), labelAtMs: r.label_at_ms! };
}

/** A row read by `scan`, labelled or not. */
export function loggedOf(r: StoredPrediction): LoggedRow {
  return { ...recordOf(r), label: r.label_at_ms === null ? null : labelOf(r), labelAtMs: r.label_at_ms };
}

export function pairOf(r: StoredPair): PairedLabelledRow {
  return {
    id: r.id,
    atMs: r.at_ms,
    label: labelOf(r),
    labelAtMs: r.label_at_ms,
    champion: { version: r.version, predicted: r.predicted, value: r.value, probabilities: probsOf(r.probs) },
    challenger: { version: r.s_version, predicted: r.s_predicted, value: r.s_value, probabilities: probsOf(r.s_probs) },
  };
}
