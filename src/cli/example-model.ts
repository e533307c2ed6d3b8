/** The bundled example model that `driftwatch start` serves when no model is named. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { DriftwatchError, isDriftwatchError } from '../errors.js';
import { buildReferenceFromFile } from '../reference/build-reference.js';
import { parseModelUri } from '../registry/model-uri.js';
import type { ModelRegistry } from '../registry/types.js';
import { packageRoot } from '../version.js';

export const EXAMPLE_MODEL_NAME = 'seattle-weather';

/**
 * Registers the bundled example model once, and gives it a reference profile built from its
 * training period (examples/seattle-weather/training.csv), so `npm start` works on a fresh clone
 * and its windows are binned against the training data from the first request.
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
    const mv = await registry.createModelVersion({ name: EXAMPLE_MODEL_NAME, sourceDir: dir, description: 'Bundled example: Seattle weather classifier (logistic regression)' });
    await registry.transitionStage(EXAMPLE_MODEL_NAME, mv.version, 'Production');
    log(`registered the bundled example model as ${EXAMPLE_MODEL_NAME} version ${mv.version} (Production)`);
  }
  const uri = `models:/${EXAMPLE_MODEL_NAME}/Production`;
  const resolved = await registry.resolve(parseModelUri(uri)).catch(() => null);
  if (!resolved || (await registry.getReference(resolved.name, resolved.version))) return;
  const stats = config?.stats;
  const built = await buildReferenceFromFile(
    { registry, now: Date.now },
    { modelUri: uri, dataPath: join(exampleDir, 'training.csv'), settings: { bins: stats?.referenceBins ?? 10, sketchK: stats?.referenceSketchK ?? 2048, maxCategories: stats?.maxCategories ?? 100 } },
  );
  log(`built its reference profile from the training period (${built.reference.rows} rows of examples/seattle-weather/training.csv)`);
}
