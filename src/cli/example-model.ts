/** The bundled example model that `driftwatch start` serves when no model is named. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { DriftwatchError, isDriftwatchError } from '../errors.js';
import { buildReferenceFromFile } from '../reference/build-reference.js';
import { parseModelUri } from '../registry/model-uri.js';
import type { ModelRegistry } from '../registry/types.js';
import { packageRoot } from '../version.js';
import { scoreRows } from './model-scorer.js';

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
 * Registers the bundled example model once, and gives it a reference profile built from its
 * training period (examples/seattle-weather/training.csv) with the model's own predictions on it,
 * so `npm start` works on a fresh clone, its windows are binned against the training data from the
 * first request, prediction drift is checked too, and (the training data holds the observed
 * `weather`) the quality check has the model's reference accuracy and calibration. A reference an
 * older driftwatch built for it without these is rebuilt once.
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
  // Built by this driftwatch already (predictions and, from the observed weather, the model's
  // performance); a reference someone built from other data is theirs and kept.
  if (existing && (existing.source !== dataPath || (Object.keys(existing.predictions).length > 0 && existing.performance))) return;
  const stats = config?.stats;
  const built = await buildReferenceFromFile(
    { registry, now: Date.now, score: scoreRows },
    {
      modelUri: uri,
      dataPath,
      settings: { bins: stats?.referenceBins ?? 10, sketchK: stats?.referenceSketchK ?? 2048, maxCategories: stats?.maxCategories ?? 100 },
      labelColumn: 'weather',
      ...(config ? { reading: config.labels } : {}),
    },
  );
  log(
    `built its reference profile from the training period (${built.reference.rows} rows of examples/seattle-weather/training.csv, with the model's predictions and its accuracy on the observed weather)`,
  );
}
