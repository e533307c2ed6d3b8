/**
 * Scores table rows with a model directory's ONNX graph exactly as the scoring server answers a
 * `dataframe_split` request: the same input plan (signature enforcement, casts), the same
 * onnxruntime session code, the same MLflow encoding of the outputs (float32 printed as the server
 * prints it), read back per row. `reference build` uses it for the model's own predictions on its
 * reference data; it lives in cli/ because only a composition root may reach the scoring side.
 */
import type { TableRow } from '../data/table-file.js';
import { DriftwatchError } from '../errors.js';
import { readModelDir } from '../model/mlmodel.js';
import { encodeMlflowPredictions } from '../protocol/mlflow.js';
import { buildInputPlan } from '../serve/input-plan.js';
import { createOnnxSession } from '../serve/runtime.js';

/** Rows per session.run: bounds the tensors and the encoded text of one call. */
const CHUNK_ROWS = 2048;

export async function scoreRows(modelDir: string, columns: readonly string[], rows: readonly TableRow[]): Promise<Record<string, unknown>[]> {
  const model = readModelDir(modelDir);
  // One thread, as the example bootstrap scores: a CLI command next to a running sidecar should not take every core.
  const session = await createOnnxSession(model.onnxPath, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  try {
    const plan = buildInputPlan(model.signature, session.inputs);
    const out: Record<string, unknown>[] = [];
    for (let start = 0; start < rows.length; start += CHUNK_ROWS) {
      const chunk = rows.slice(start, start + CHUNK_ROWS);
      const prepared = plan.prepare({ kind: 'frame', columns: [...columns], rows: chunk.map((r) => columns.map((c) => r[c] ?? null)) });
      const outputs = await session.run(prepared.feeds);
      const body = JSON.parse(encodeMlflowPredictions(outputs, 'records', prepared.rows)) as { predictions: unknown };
      const answers = body.predictions;
      // A graph whose outputs are not one entry per row (MLflow answers those as a dict of arrays)
      // has no prediction per row to measure.
      if (!Array.isArray(answers) || answers.length !== chunk.length || !answers.every((a) => typeof a === 'object' && a !== null && !Array.isArray(a)))
        throw new DriftwatchError('DW_ERR_MODEL_INVALID', `the model's outputs are not one answer per row (${chunk.length} rows scored)`);
      out.push(...(answers as Record<string, unknown>[]));
    }
    return out;
  } finally {
    await session.release();
  }
}
