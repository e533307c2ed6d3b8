/**
 * One captured event -> the live traffic summary and the window profiler: the analysis step both
 * drains run, the in-loop one (drain.ts) and the worker thread's (capture-worker.ts), so the two
 * cannot drift apart. Counts go to a small sink instead of prom-client, because the worker thread
 * has no metrics registry: it adds them up and reports them to the main thread with each batch.
 */
import type { Logger } from '../telemetry/logger.js';
import { type ExtractedColumns, type ExtractFailure, type ExtractOptions, extract, extractColumns, rowsOfColumns } from './extract.js';
import type { InferenceEvent } from './inference-event.js';
import type { PredictionRecord } from '../outcomes/prediction-log.js';
import { type PredictionRecordOptions, predictionRecords } from './prediction-records.js';
import type { TrafficSummary } from './traffic-summary.js';
import type { WindowProfiler } from './window-profiler.js';

export interface CaptureCounts {
  unparseable(reason: ExtractFailure | 'internal'): void;
  rows(model: string, n: number): void;
}

export interface ProcessEventDeps {
  summary: TrafficSummary;
  profiler?: WindowProfiler | undefined;
  extract: ExtractOptions;
  columnsFor?: ((model: string | null) => readonly string[] | null) | undefined;
  defaultVersion?: string | undefined;
  counts: CaptureCounts;
  logger: Logger;
  /** The prediction log's collector (labels.enabled): what the ground-truth join needs of each row. */
  predictions?: { options: PredictionRecordOptions; add(records: readonly PredictionRecord[]): void } | undefined;
  /** false: every event takes the generic extract() (the differential test and the bench compare both paths). */
  lean?: boolean | undefined;
}

/**
 * A model version as a series label: a plain token (letters, digits, `.`, `_`, `-`; starting with a
 * letter or digit; at most 128 characters), as registries number and name versions.
 */
const VERSION_TOKEN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function processEvent(event: InferenceEvent, deps: ProcessEventDeps): void {
  // The version comes from the client's path (/v2/models/{name}/versions/{v}) or the upstream's
  // header: one that is not a plain token ("../1", a URL, a megabyte of text) is not made a
  // series of its own; the event counts as unparseable instead. The configured label
  // (proxy.version) is the operator's and is taken as it is.
  if (typeof event.version === 'string' && !VERSION_TOKEN.test(event.version)) {
    deps.counts.unparseable('unparseable_request');
    return;
  }
  // The upstream's own version header wins; else the configured label (proxy.version). Passed
  // along as a value, not by copying the event: this runs once per captured request.
  const version = event.version ?? deps.defaultVersion ?? null;
  // A request the upstream refused (4xx) without naming a version was never scored: it must not
  // make a version of its own ("unknown") appear in the summary or the store. The proxy's request
  // metrics (driftwatch_requests_total by status class) still count it.
  if (version === null && event.status >= 400 && event.status < 500) return;
  try {
    deps.summary.observeRequest(event, version);
    const model = event.model ?? 'unknown';
    deps.profiler?.observeRequest(model, version ?? 'unknown', event.startedAtMs, event.status, event.totalMs);
    if (!event.request || !event.response) return;
    // Rows of rejected or failed requests are not the model's traffic (a 400 names columns
    // the model does not have): only answered predictions are profiled.
    if (event.status < 200 || event.status >= 300) return;
    const columns = deps.columnsFor?.(event.model) ?? null;
    // The lean codecs first (issue 24): what they read is profiled from columns; what they refuse
    // is read by the generic extract(), with the same results either way.
    const lean = deps.lean === false ? null : extractColumns(event, deps.extract, columns, version);
    if (lean !== null) {
      if (lean.ok) observeColumns(event, lean.value, deps);
      else deps.counts.unparseable(lean.reason);
      return;
    }
    const r = extract(event, deps.extract, columns, version);
    if (!r.ok) {
      deps.counts.unparseable(r.reason);
      return;
    }
    if (deps.predictions) {
      const records = predictionRecords(r.value, event.requestId, event.startedAtMs, deps.predictions.options);
      if (records.length > 0) deps.predictions.add(records);
      // The id column names rows, it is not a feature: profiled, every id would be a new category.
      const idColumn = deps.predictions.options.idColumn;
      if (idColumn !== null) for (const row of r.value.features) if (Object.hasOwn(row, idColumn)) delete row[idColumn];
    }
    deps.summary.observeRows(r.value.model, r.value.version, r.value.features, r.value.predictions);
    deps.profiler?.observeRows(r.value.model, r.value.version, event.startedAtMs, r.value.features, r.value.predictions);
    deps.counts.rows(r.value.model, r.value.features.length);
  } catch (e) {
    deps.counts.unparseable('internal');
    deps.logger.warn('capture drain failed on an event', { error: (e as Error).message });
  }
}

/** processEvent's tail for an event read as columns: the same summary, window and records as for its rows. */
function observeColumns(event: InferenceEvent, v: ExtractedColumns, deps: ProcessEventDeps): void {
  let features = v.features;
  const predictionColumns = v.predictionColumns;
  if (deps.predictions) {
    // The prediction log reads rows: built only when it is on, from the columns, as extract() would have.
    const extracted = {
      model: v.model,
      version: v.version,
      features: rowsOfColumns(v.rows, features),
      predictions: predictionColumns === null ? v.predictions : rowsOfColumns(v.rows, predictionColumns),
    };
    const records = predictionRecords(extracted, event.requestId, event.startedAtMs, deps.predictions.options);
    if (records.length > 0) deps.predictions.add(records);
    const idColumn = deps.predictions.options.idColumn;
    if (idColumn !== null) features = features.filter((c) => c.name !== idColumn);
  }
  if (predictionColumns !== null) {
    deps.summary.observeColumns(v.model, v.version, v.rows, features, predictionColumns);
    deps.profiler?.observeColumns(v.model, v.version, event.startedAtMs, v.rows, features, predictionColumns);
  } else {
    // Features first, then the answer's rows: the order the columns are first seen in, as with rows.
    deps.summary.observeColumns(v.model, v.version, v.rows, features, []);
    deps.summary.observeRows(v.model, v.version, [], v.predictions);
    deps.profiler?.observeColumns(v.model, v.version, event.startedAtMs, v.rows, features, []);
    deps.profiler?.observeRows(v.model, v.version, event.startedAtMs, [], v.predictions);
  }
  deps.counts.rows(v.model, v.rows);
}
