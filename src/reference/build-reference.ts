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
 */
import { DriftwatchError } from '../errors.js';
import { readModelDir } from '../model/mlmodel.js';
import type { ColumnSpec } from '../model/signature.js';
import { parseModelUri } from '../registry/model-uri.js';
import type { ModelRegistry } from '../registry/types.js';
import { readTable, type TableRow } from '../data/table-file.js';
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
  deps: { registry: ModelRegistry; progress?: (message: string) => void; now: () => number },
  opts: { modelUri: string; dataPath: string; settings: ReferenceSettings },
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
    // No column signature (tensor or none): every column is an input, named as the file names it.
    inputNames = [...table.columns];
  }
  const predictionNames = outputs.map((s) => s.name!).filter((n) => have.has(n) && !inputNames.includes(n));
  const used = new Set([...inputNames, ...predictionNames]);
  const pick = (rows: TableRow[], names: string[]) => rows.map((r) => Object.fromEntries(names.map((n) => [n, r[n] ?? null])));
  deps.progress?.(
    `profiling ${table.rows.length.toLocaleString('en-US')} rows x ${inputNames.length} input column(s)${predictionNames.length ? ` + ${predictionNames.length} prediction column(s)` : ''}`,
  );
  const reference = buildReference({
    model: resolved.name,
    version: resolved.version,
    source: opts.dataPath,
    createdAtMs: deps.now(),
    rows: pick(table.rows, inputNames),
    ...(predictionNames.length ? { predictions: pick(table.rows, predictionNames) } : {}),
    bins: opts.settings.bins,
    sketchK: opts.settings.sketchK,
    maxCategories: opts.settings.maxCategories,
    columns: inputNames,
  });
  await deps.registry.putReference(reference);
  return { reference, inputs: inputNames, predictions: predictionNames, ignored: table.columns.filter((c) => !used.has(c)) };
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
  return { reference, inputs: Object.keys(reference.features), predictions: Object.keys(reference.predictions), ignored: [], windows: windows.length };
}
