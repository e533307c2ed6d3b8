/**
 * `driftwatch reference build`: a reference profile for one registered model version, from its
 * training data (a CSV or JSON-lines file) or from a span of live traffic in the statistics store,
 * stored with that version in the registry. The pure profile building is src/stats/reference.ts;
 * this file does the I/O and the checks a user needs to hear about in plain words.
 *
 * Columns are matched to the model's signature by name, as the scoring server matches them:
 * every required input column must be in the file (else the error lists the missing ones, the
 * file's columns, and near misses by case); numeric signature columns must hold numbers (else the
 * error names the column, the line and the value). Columns that are not model inputs are ignored,
 * except those named like a signature output: they become the predictions' reference.
 *
 * The predictions: when the file holds no output column, the model itself scores the rows (the
 * caller passes a scorer: this side may not load onnxruntime), so the reference profiles what the
 * model answers on its own training data, as live traffic will be profiled. With a label column
 * (`--label-column`), the model's performance on those rows is measured too, in the quality
 * check's own counts (quality/reference-performance.ts), with the probability calibration maps the
 * check's estimate applies. Predictions are read as the prediction log reads live ones
 * (capture/prediction-records.ts, with the same labels.* options), so the reference's accuracy and
 * the live accuracy are one metric.
 */
import { type PredictionRecordOptions, predictionRecords } from '../capture/prediction-records.js';
import type { LabelsConfig } from '../config/schema.js';
import { DriftwatchError, messageOf } from '../errors.js';
import { readModelDir } from '../model/mlmodel.js';
import type { ColumnSpec } from '../model/signature.js';
import { parseModelUri } from '../registry/model-uri.js';
import type { ModelRegistry } from '../registry/types.js';
import { readTable, type TableRow } from '../data/table-file.js';
import { type LabelledPrediction, measureReferencePerformance } from '../quality/reference-performance.js';
import type { Cell } from '../stats/feature-profile.js';
import { setOwn } from '../stats/own-keys.js';
import { buildReference, referenceFromWindow } from '../stats/reference.js';
import type { ReferenceProfile } from '../stats/types.js';
import { mergeWindows } from '../stats/window-profile.js';
import type { StatsStore } from '../store/types.js';

export interface ReferenceSettings {
  bins: number;
  sketchK: number;
  maxCategories: number;
}

export interface BuiltReference {
  reference: ReferenceProfile;
  /** Input columns profiled, and file columns ignored. */
  inputs: string[];
  predictions: string[];
  ignored: string[];
  /** Where the prediction columns came from: the file, the model (scored here), stored traffic, or none. */
  predictionsFrom: 'file' | 'model' | 'traffic' | null;
  /** Why the model could not score the rows (the reference was built without its predictions). */
  scoreError?: string;
}

/**
 * Scores rows with the model in `modelDir` as the scoring server would, one answer per row in
 * MLflow's records form (`{"label": "rain", "probabilities": [...]}`). Passed in by the CLI.
 */
export type RowScorer = (modelDir: string, columns: readonly string[], rows: readonly TableRow[]) => Promise<Record<string, unknown>[]>;

/** What of `labels.*` says how a prediction is read (the same options the live prediction log uses). */
export type PredictionReading = Pick<LabelsConfig, 'predictionColumn' | 'probabilitiesColumn' | 'classes' | 'task'>;

/** Widest numeric vector split into one column per element: capture/extract.ts's rule, so the names match live windows. */
const MAX_VECTOR_COLUMNS = 64;

/** One scored answer as the capture side names its columns: a short numeric vector becomes name_0, name_1, ... */
function predictionRow(answer: Record<string, unknown>): TableRow {
  const out: TableRow = {};
  for (const k of Object.keys(answer)) {
    const v = answer[k];
    if (Array.isArray(v)) {
      if (v.length > 0 && v.length <= MAX_VECTOR_COLUMNS && v.every((x) => typeof x === 'number' || x === null)) {
        for (let i = 0; i < v.length; i++) setOwn<Cell>(out, `${k}_${i}`, v[i] as number | null);
      } else setOwn<Cell>(out, k, JSON.stringify(v));
    } else if (v === null || typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') setOwn<Cell>(out, k, v);
    else setOwn<Cell>(out, k, JSON.stringify(v));
  }
  return out;
}

/**
 * Class names in the order of the probabilities output: `labels.classes`, else the MLmodel's
 * `metadata.classes` (a list, or a comma-separated text), as the sidecar reads them for the live
 * log (app/serve-app.ts modelClasses, which this side may not import).
 */
function classesOf(metadata: Record<string, unknown>, configured: readonly string[] | undefined): string[] | null {
  if (configured) return [...configured];
  const raw = metadata.classes;
  if (Array.isArray(raw) && raw.every((c) => typeof c === 'string' || typeof c === 'number')) return raw.map(String);
  if (typeof raw === 'string' && raw.trim() !== '') return raw.split(',').map((c) => c.trim());
  return null;
}

const NUMERIC_TYPES = new Set(['double', 'float', 'long', 'integer']);

async function resolveRegistered(registry: ModelRegistry, uriText: string) {
  const uri = parseModelUri(uriText);
  if (uri.kind === 'path') {
    throw new DriftwatchError(
      'DW_ERR_CLI_USAGE',
      `a reference is stored with a registered model version: pass --model models:/NAME/VERSION (or a stage, alias or latest), not a directory (${uri.path})`,
    );
  }
  return registry.resolve(uri);
}

function columnSpecs(specs: readonly { kind: string; name: string | null }[] | undefined): ColumnSpec[] {
  return (specs ?? []).filter((s): s is ColumnSpec => s.kind === 'column' && s.name !== null);
}

export async function buildReferenceFromFile(
  deps: { registry: ModelRegistry; progress?: (message: string) => void; now: () => number; score?: RowScorer },
  opts: {
    modelUri: string;
    dataPath: string;
    settings: ReferenceSettings;
    /** The column holding the observed outcome: the model's performance on the rows is measured too. */
    labelColumn?: string;
    /** How predictions are read (labels.* of the config); the prediction log's defaults otherwise. */
    reading?: PredictionReading;
  },
): Promise<BuiltReference> {
  const resolved = await resolveRegistered(deps.registry, opts.modelUri);
  const model = readModelDir(resolved.dir);
  const inputs = columnSpecs(model.signature?.inputs?.kind === 'column' ? model.signature.inputs.specs : undefined);
  const outputs = columnSpecs(model.signature?.outputs?.kind === 'column' ? model.signature.outputs.specs : undefined);

  const table = await readTable(opts.dataPath, {
    onProgress: (rows, bytes, total) => deps.progress?.(`read ${rows.toLocaleString('en-US')} rows (${total ? Math.round((100 * bytes) / total) : 100}%)`),
  });
  if (table.rows.length === 0) throw new DriftwatchError('DW_ERR_REFERENCE_DATA', `${opts.dataPath} has a header but no data rows`);
  const have = new Set(table.columns);
  const labelColumn = opts.labelColumn ?? null;
  if (labelColumn !== null && !have.has(labelColumn)) {
    const near = table.columns.find((c) => c.toLowerCase() === labelColumn.toLowerCase());
    throw new DriftwatchError(
      'DW_ERR_REFERENCE_DATA',
      `${opts.dataPath} has no label column ${labelColumn}; its columns are ${table.columns.join(', ')}` +
        (near ? ` (column names are case-sensitive: did you mean ${near}?)` : ''),
    );
  }

  let inputNames: string[];
  if (inputs.length) {
    const missing = inputs.filter((s) => s.required && !have.has(s.name!)).map((s) => s.name!);
    if (missing.length) {
      const lower = new Map(table.columns.map((c) => [c.toLowerCase(), c]));
      const near = missing.map((m) => lower.get(m.toLowerCase())).filter((c): c is string => !!c);
      throw new DriftwatchError(
        'DW_ERR_REFERENCE_DATA',
        `${opts.dataPath} does not match the signature of ${resolved.name} version ${resolved.version}: ` +
          `missing column(s) ${missing.join(', ')}; the file has ${table.columns.join(', ')}; the model's inputs are ${inputs.map((s) => s.name).join(', ')}` +
          (near.length ? ` (column names are case-sensitive: did you mean ${near.join(', ')}?)` : ''),
      );
    }
    inputNames = inputs.filter((s) => have.has(s.name!)).map((s) => s.name!);
    for (const spec of inputs) {
      if (!NUMERIC_TYPES.has(spec.type) || !have.has(spec.name!)) continue;
      const bad = table.rows.findIndex((r) => {
        const v = r[spec.name!];
        return v !== null && v !== undefined && typeof v !== 'number';
      });
      if (bad >= 0) {
        const line = table.format === 'csv' ? bad + 2 : bad + 1;
        throw new DriftwatchError(
          'DW_ERR_REFERENCE_DATA',
          `${opts.dataPath} line ${line}: column ${spec.name} holds ${JSON.stringify(table.rows[bad]![spec.name!])}, but the signature of ${resolved.name} declares it ${spec.type}`,
        );
      }
    }
  } else {
    // No column signature (tensor or none): every column is an input, named as the file names it
    // (but the label: the outcome is never a model input).
    inputNames = table.columns.filter((c) => c !== labelColumn);
  }
  if (labelColumn !== null && inputNames.includes(labelColumn))
    throw new DriftwatchError(
      'DW_ERR_REFERENCE_DATA',
      `the label column ${labelColumn} is an input of ${resolved.name}: name the column that holds the observed outcome`,
    );
  const pick = (rows: TableRow[], names: string[]) => rows.map((r) => Object.fromEntries(names.map((n) => [n, r[n] ?? null])));

  // The predictions: the file's output columns when it has them, else the model's own answers.
  let predictionNames = outputs.map((s) => s.name!).filter((n) => have.has(n) && !inputNames.includes(n) && n !== labelColumn);
  let predictionRows: TableRow[] | null = predictionNames.length ? pick(table.rows, predictionNames) : null;
  let predictionsFrom: BuiltReference['predictionsFrom'] = predictionRows ? 'file' : null;
  let scoreError: string | undefined;
  if (predictionRows === null && deps.score) {
    deps.progress?.(`scoring ${table.rows.length.toLocaleString('en-US')} rows with ${resolved.name} version ${resolved.version}`);
    try {
      const answers = await deps.score(resolved.dir, inputNames, pick(table.rows, inputNames));
      if (answers.length !== table.rows.length) throw new Error(`the model answered ${answers.length} rows for ${table.rows.length}`);
      predictionRows = answers.map(predictionRow);
      const names = new Set<string>();
      for (const r of predictionRows) for (const k of Object.keys(r)) names.add(k);
      predictionNames = [...names];
      predictionsFrom = 'model';
    } catch (e) {
      // Without a label column the predictions are a bonus (prediction drift); with one they are
      // what performance is measured on, so that is an error.
      scoreError = messageOf(e);
      if (labelColumn !== null)
        throw new DriftwatchError(
          'DW_ERR_REFERENCE_DATA',
          `the model's performance on ${opts.dataPath} needs its predictions, but ${resolved.name} version ${resolved.version} could not score the rows: ${scoreError}`,
          { cause: e },
        );
      deps.progress?.(`the model could not score the rows (${scoreError}): the reference has no predictions`);
      predictionRows = null;
    }
  }
  if (labelColumn !== null && predictionRows === null)
    throw new DriftwatchError(
      'DW_ERR_REFERENCE_DATA',
      `the model's performance on ${opts.dataPath} needs its predictions: the file holds none of ${resolved.name}'s outputs (${outputs.map((o) => o.name).join(', ') || 'none declared'}) and no scorer was given`,
    );
  const used = new Set([...inputNames, ...predictionNames, ...(labelColumn === null ? [] : [labelColumn])]);
  deps.progress?.(
    `profiling ${table.rows.length.toLocaleString('en-US')} rows x ${inputNames.length} input column(s)${predictionNames.length ? ` + ${predictionNames.length} prediction column(s)` : ''}`,
  );
  const reference = buildReference({
    model: resolved.name,
    version: resolved.version,
    source: opts.dataPath,
    createdAtMs: deps.now(),
    rows: pick(table.rows, inputNames),
    ...(predictionRows ? { predictions: predictionRows } : {}),
    bins: opts.settings.bins,
    sketchK: opts.settings.sketchK,
    maxCategories: opts.settings.maxCategories,
    columns: inputNames,
  });
  if (labelColumn !== null && predictionRows !== null) {
    const performance = measureReferencePerformance(
      labelledPredictions(table.rows, predictionRows, labelColumn, {
        model: resolved.name,
        version: resolved.version,
        reading: readingOptions(opts.reading, classesOf(model.metadata, opts.reading?.classes)),
      }),
      { labelColumn, predictionsFrom: predictionsFrom === 'file' ? 'file' : 'model' },
    );
    if (performance.labelled === 0)
      throw new DriftwatchError(
        'DW_ERR_REFERENCE_DATA',
        `no row of ${opts.dataPath} has both a label in ${labelColumn} and a prediction the quality check can read` +
          (performance.classification === null ? ' (a regressor needs numeric labels)' : ''),
      );
    reference.performance = performance;
  }
  await deps.registry.putReference(reference);
  return {
    reference,
    inputs: inputNames,
    predictions: predictionNames,
    ignored: table.columns.filter((c) => !used.has(c)),
    predictionsFrom,
    ...(scoreError === undefined ? {} : { scoreError }),
  };
}

function readingOptions(reading: PredictionReading | undefined, classes: string[] | null): PredictionRecordOptions {
  return {
    // Row i must stay row i: ids are positions here, never an id column of the file.
    idColumn: null,
    predictionColumn: reading?.predictionColumn ?? null,
    probabilitiesColumn: reading?.probabilitiesColumn ?? 'probabilities',
    classes,
    task: reading?.task ?? 'auto',
  };
}

/** Each labelled row with what the prediction log would have recorded for its prediction. */
function* labelledPredictions(
  rows: readonly TableRow[],
  predictions: readonly TableRow[],
  labelColumn: string,
  at: { model: string; version: string; reading: PredictionRecordOptions },
): Generator<LabelledPrediction> {
  // In slices, so a million-row file does not hold a million records at once.
  const SLICE = 4096;
  for (let start = 0; start < rows.length; start += SLICE) {
    const features = rows.slice(start, start + SLICE);
    const records = predictionRecords(
      { model: at.model, version: at.version, features, predictions: predictions.slice(start, start + SLICE) },
      'r',
      0,
      at.reading,
    );
    for (const rec of records) {
      // One-row slices have the id itself, others `r#<i>` (prediction-records.ts).
      const i = rec.id === 'r' ? 0 : Number(rec.id.slice(2));
      const label = features[i]![labelColumn];
      yield {
        label: label === undefined || label === null || (typeof label === 'number' && !Number.isFinite(label)) ? null : label,
        predicted: rec.predicted,
        value: rec.value,
        probabilities: rec.probabilities,
      };
    }
  }
}

export async function buildReferenceFromTraffic(
  deps: { registry: ModelRegistry; store: StatsStore; now: () => number },
  opts: { modelUri: string; fromMs: number; toMs: number; settings: ReferenceSettings },
): Promise<BuiltReference & { windows: number }> {
  const resolved = await resolveRegistered(deps.registry, opts.modelUri);
  const windows = await deps.store.readWindows({ model: resolved.name, version: resolved.version, fromMs: opts.fromMs, toMs: opts.toMs });
  const from = new Date(opts.fromMs).toISOString();
  const to = new Date(opts.toMs).toISOString();
  if (!windows.length) {
    throw new DriftwatchError(
      'DW_ERR_REFERENCE_DATA',
      `no traffic for ${resolved.name} version ${resolved.version} between ${from} and ${to} in ${deps.store.describe}`,
    );
  }
  const merged = windows.reduce((a, b) => mergeWindows(a, b));
  if (merged.rows === 0)
    throw new DriftwatchError(
      'DW_ERR_REFERENCE_DATA',
      `the traffic of ${resolved.name} version ${resolved.version} between ${from} and ${to} carried no feature rows`,
    );
  const reference = referenceFromWindow(merged, { source: `traffic:${from}/${to}`, createdAtMs: deps.now(), bins: opts.settings.bins });
  await deps.registry.putReference(reference);
  return {
    reference,
    inputs: Object.keys(reference.features),
    predictions: Object.keys(reference.predictions),
    ignored: [],
    predictionsFrom: Object.keys(reference.predictions).length ? 'traffic' : null,
    windows: windows.length,
  };
}
