/** The bundled example model that `driftwatch start` serves when no model is named. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { DriftwatchError, isDriftwatchError } from '../errors.js';
import { readTable } from '../data/table-file.js';
import { readModelDir } from '../model/mlmodel.js';
import { parseModelUri } from '../registry/model-uri.js';
import type { ModelRegistry } from '../registry/types.js';
import { buildInputPlan } from '../serve/input-plan.js';
import { createOnnxSession } from '../serve/runtime.js';
import type { Cell } from '../stats/feature-profile.js';
import { buildReference } from '../stats/reference.js';
import { packageRoot } from '../version.js';

export const EXAMPLE_MODEL_NAME = 'seattle-weather';

/**
 * The SLO target `driftwatch start` gives the example model when the config names none for it,
 * so the quickstart shows the SLO check too. The model answers in well under a millisecond; the
 * bounds leave room for a busy laptop and still catch a stalled scorer.
 */
export const EXAMPLE_SLO_TARGET = {
  model: EXAMPLE_MODEL_NAME,
  window: '5m',
  p95Ms: 50,
  p99Ms: 200,
  errorRate: 0.01,
  objective: 0.99,
  latencyThresholdMs: 200,
} as const;

/**
 * The example model's own answers (its `label` output) on `rows`, computed as the scoring server
 * computes them (the same input plan and onnxruntime session), so the reference's prediction
 * columns are what live traffic will be compared with.
 */
async function examplePredictions(modelDir: string, rows: ReadonlyArray<Record<string, Cell>>): Promise<Record<string, Cell>[]> {
  const model = readModelDir(modelDir);
  const session = await createOnnxSession(model.onnxPath, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  try {
    const plan = buildInputPlan(model.signature, session.inputs);
    const columns = ['precipitation', 'temp_max', 'temp_min', 'wind'];
    const prepared = plan.prepare({ kind: 'frame', columns, rows: rows.map((r) => columns.map((c) => r[c] ?? null)) });
    const out = await session.run(prepared.feeds);
    const labels = out.label?.data;
    if (!labels || labels.length !== rows.length)
      throw new DriftwatchError('DW_ERR_MODEL_INVALID', `the bundled example model answered ${labels?.length ?? 0} labels for ${rows.length} rows`);
    return Array.from(labels as ArrayLike<unknown>, (label) => ({ label: String(label) }));
  } finally {
    await session.release();
  }
}

/**
 * Registers the bundled example model once, and gives it a reference profile built from its
 * training period (examples/seattle-weather/training.csv) with the model's own predictions on it,
 * so `npm start` works on a fresh clone, its windows are binned against the training data from the
 * first request, and prediction drift is checked too. A reference an older driftwatch built for it
 * without predictions is rebuilt once.
 */
export async function ensureExampleModel(registry: ModelRegistry, log: (m: string) => void, config?: Config): Promise<void> {
  const exists = await registry.getRegisteredModel(EXAMPLE_MODEL_NAME).then(
    () => true,
    (e: unknown) => {
      if (isDriftwatchError(e) && e.code === 'DW_ERR_REGISTRY_MODEL_NOT_FOUND') return false;
      throw e;
    },
  );
  const exampleDir = join(packageRoot(), 'examples', 'seattle-weather');
  if (!exists) {
    const dir = join(exampleDir, 'model');
    if (!existsSync(dir)) throw new DriftwatchError('DW_ERR_MODEL_INVALID', `bundled example model missing at ${dir}`);
    const mv = await registry.createModelVersion({
      name: EXAMPLE_MODEL_NAME,
      sourceDir: dir,
      description: 'Bundled example: Seattle weather classifier (logistic regression)',
    });
    await registry.transitionStage(EXAMPLE_MODEL_NAME, mv.version, 'Production');
    log(`registered the bundled example model as ${EXAMPLE_MODEL_NAME} version ${mv.version} (Production)`);
  }
  const uri = `models:/${EXAMPLE_MODEL_NAME}/Production`;
  const resolved = await registry.resolve(parseModelUri(uri)).catch(() => null);
  if (!resolved) return;
  const dataPath = join(exampleDir, 'training.csv');
  const existing = await registry.getReference(resolved.name, resolved.version);
  if (existing && (existing.source !== dataPath || Object.keys(existing.predictions).length > 0)) return;
  const stats = config?.stats;
  const table = await readTable(dataPath);
  const columns = ['precipitation', 'temp_max', 'temp_min', 'wind'];
  const rows = table.rows.map((r) => Object.fromEntries(columns.map((c) => [c, (r[c] ?? null) as Cell])));
  const reference = buildReference({
    model: resolved.name,
    version: resolved.version,
    source: dataPath,
    createdAtMs: Date.now(),
    rows,
    predictions: await examplePredictions(resolved.dir, rows),
    bins: stats?.referenceBins ?? 10,
    sketchK: stats?.referenceSketchK ?? 2048,
    maxCategories: stats?.maxCategories ?? 100,
    columns,
  });
  await registry.putReference(reference);
  log(
    `built its reference profile from the training period (${reference.rows} rows of examples/seattle-weather/training.csv, with the model's predictions on them)`,
  );
}
