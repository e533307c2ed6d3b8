/**
 * One extracted request -> the prediction log's records (outcomes/prediction-log.ts): the join key,
 * the prediction's time and version, the predicted class or value and the probabilities. Runs in
 * both capture drains, right after extraction (process-event.ts), so the bodies are parsed once.
 *
 * The join key of row i:
 *  - `labels.idColumn` set: that input column's value (a string or an integer), for clients that
 *    put their own id in every row (batch scoring); rows without it are not logged;
 *  - otherwise the request id the proxy returns (`X-Request-ID`, the client's own when it sent one)
 *    for a one-row request, and `<request id>#<i>` (0-based) for row i of a multi-row request.
 *
 * What the model predicted, from the prediction row (extract.ts names vector outputs `name_0`,
 * `name_1`, ...):
 *  - the predicted value: `labels.predictionColumn`, else the first of PREDICTION_COLUMNS present;
 *  - the probabilities: `labels.probabilitiesColumn` (default "probabilities"), a vector output
 *    whose element i is the probability of `labels.classes[i]` (the class's index when no class
 *    names are known);
 *  - the task: a string prediction, or any prediction with probabilities, is a class; a number
 *    without probabilities is a regression value (`labels.task` overrides the guess).
 */
import type { LabelsConfig } from '../config/schema.js';
import type { PredictionRecord } from '../outcomes/prediction-log.js';
import type { Cell, Extracted, Row } from './extract.js';

export interface PredictionRecordOptions {
  idColumn: string | null;
  predictionColumn: string | null;
  probabilitiesColumn: string;
  classes: readonly string[] | null;
  task: 'auto' | 'classification' | 'regression';
}

/** The options from the labels config; `classes` from the model (MLmodel metadata) when the config names none. */
export function recordOptionsFrom(labels: LabelsConfig, modelClasses: readonly string[] | null = null): PredictionRecordOptions {
  return {
    idColumn: labels.idColumn ?? null,
    predictionColumn: labels.predictionColumn ?? null,
    probabilitiesColumn: labels.probabilitiesColumn,
    classes: labels.classes ?? modelClasses,
    task: labels.task,
  };
}

/** Where MLflow flavours and common servers put the predicted value, in order of preference. */
export const PREDICTION_COLUMNS = ['label', 'prediction', 'predicted_label', 'predictions', 'output_label', 'class', 'output_0'];

/** An id from traffic becomes a key: bounded in length so a hostile row cannot bloat the log. */
const MAX_ID_CHARS = 256;

function idOf(v: Cell | undefined): string | null {
  if (typeof v === 'string') return v.length > 0 && v.length <= MAX_ID_CHARS ? v : null;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  return null;
}

function predictedOf(row: Row, column: string | null): Cell | undefined {
  if (column !== null) return Object.hasOwn(row, column) ? row[column] : undefined;
  for (const c of PREDICTION_COLUMNS) if (Object.hasOwn(row, c)) return row[c];
  return undefined;
}

function probabilitiesOf(row: Row, column: string, classes: readonly string[] | null): Record<string, number> | null {
  let out: Record<string, number> | null = null;
  for (let i = 0; ; i++) {
    const key = `${column}_${i}`;
    if (!Object.hasOwn(row, key)) break;
    const p = row[key];
    if (typeof p !== 'number' || !Number.isFinite(p)) return null;
    const cls = classes !== null && i < classes.length ? classes[i]! : String(i);
    out ??= {};
    Object.defineProperty(out, cls, { value: p, writable: true, enumerable: true, configurable: true });
  }
  return out;
}

export function predictionRecords(extracted: Extracted, requestId: string, atMs: number, opts: PredictionRecordOptions): PredictionRecord[] {
  const { features, predictions } = extracted;
  // Without one prediction per row there is nothing to join a label to.
  if (predictions.length !== features.length || features.length === 0) return [];
  const out: PredictionRecord[] = [];
  const single = features.length === 1;
  for (let i = 0; i < features.length; i++) {
    const id =
      opts.idColumn !== null
        ? idOf(Object.hasOwn(features[i]!, opts.idColumn) ? features[i]![opts.idColumn] : undefined)
        : single
          ? requestId
          : `${requestId}#${i}`;
    if (id === null) continue;
    const row = predictions[i]!;
    const raw = predictedOf(row, opts.predictionColumn);
    const probabilities = probabilitiesOf(row, opts.probabilitiesColumn, opts.classes);
    const classification = opts.task === 'classification' || (opts.task === 'auto' && (typeof raw === 'string' || probabilities !== null));
    let predicted: string | null = null;
    let value: number | null = null;
    if (classification) {
      if (typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean') predicted = String(raw);
      else if (probabilities !== null) predicted = argmax(probabilities);
    } else if (typeof raw === 'number' && Number.isFinite(raw)) {
      value = raw;
    }
    if (predicted === null && value === null) continue;
    out.push({ id, atMs, model: extracted.model, version: extracted.version, predicted, value, probabilities });
  }
  return out;
}

function argmax(p: Readonly<Record<string, number>>): string | null {
  let best: string | null = null;
  for (const k of Object.keys(p)) if (best === null || p[k]! > p[best]!) best = k;
  return best;
}
