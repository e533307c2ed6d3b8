/**
 * Reads a model directory in MLflow's layout: `MLmodel` (YAML) with an `onnx` flavor, an optional
 * signature and input example. Unknown MLmodel keys are ignored on purpose: MLflow adds fields
 * from release to release (model_size_bytes, metadata, databricks_runtime, ...) and a directory
 * that MLflow exported must load unchanged.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, isAbsolute, join, normalize, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DriftwatchError, messageOf } from '../errors.js';
import { parseSignature, type Signature } from './signature.js';

export interface OnnxFlavor {
  data: string;
  onnxVersion: string | null;
  /** MLflow's onnx_session_options, snake_case as MLflow writes them. */
  sessionOptions: Record<string, unknown>;
}

export interface ModelDir {
  dir: string;
  /** Absolute path of the .onnx file. */
  onnxPath: string;
  onnx: OnnxFlavor;
  signature: Signature | null;
  /** The saved input example (JSON), if any, as written by MLflow. */
  inputExample: unknown;
  metadata: Record<string, unknown>;
  runId: string | null;
  mlflowVersion: string | null;
  utcTimeCreated: string | null;
}

function invalid(dir: string, msg: string, cause?: unknown): never {
  throw new DriftwatchError('DW_ERR_MODEL_INVALID', `model directory ${dir}: ${msg}`, cause === undefined ? {} : { cause });
}

export function readModelDir(dirIn: string): ModelDir {
  const dir = resolve(dirIn);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) invalid(dir, 'does not exist or is not a directory');
  const mlmodelPath = join(dir, 'MLmodel');
  if (!existsSync(mlmodelPath)) invalid(dir, 'has no MLmodel file');
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(mlmodelPath, 'utf8'));
  } catch (e) {
    invalid(dir, `MLmodel is not valid YAML: ${messageOf(e)}`, e);
  }
  if (typeof doc !== 'object' || doc === null) invalid(dir, 'MLmodel is not a mapping');
  const m = doc as Record<string, unknown>;
  const flavors = (m.flavors ?? {}) as Record<string, unknown>;
  const onnxFlavor = flavors.onnx as Record<string, unknown> | undefined;
  if (!onnxFlavor || typeof onnxFlavor !== 'object') {
    invalid(dir, `MLmodel has no "onnx" flavor (flavors: ${Object.keys(flavors).join(', ') || 'none'}); driftwatch serves ONNX models`);
  }
  const data = onnxFlavor.data;
  if (typeof data !== 'string' || data === '') invalid(dir, 'onnx flavor has no "data" file name');
  // The model file must stay inside the directory: a registry copy must be self-contained.
  if (isAbsolute(data) || normalize(data).startsWith('..')) invalid(dir, `onnx flavor "data" must be a relative path inside the directory, got ${data}`);
  const onnxPath = join(dir, data);
  if (!existsSync(onnxPath)) invalid(dir, `onnx model file ${data} is missing`);
  let signature: Signature | null;
  try {
    signature = parseSignature(m.signature);
  } catch (e) {
    invalid(dir, messageOf(e), e);
  }
  const info = (m.saved_input_example_info ?? null) as Record<string, unknown> | null;
  const exampleFile = typeof info?.artifact_path === 'string' ? info.artifact_path : 'input_example.json';
  let inputExample: unknown = null;
  const examplePath = join(dir, basename(exampleFile));
  if (existsSync(examplePath)) {
    try {
      inputExample = JSON.parse(readFileSync(examplePath, 'utf8'));
    } catch {
      inputExample = null; // an unreadable example is not a reason to refuse the model
    }
  }
  const opts = onnxFlavor.onnx_session_options;
  return {
    dir,
    onnxPath,
    onnx: {
      data,
      onnxVersion: typeof onnxFlavor.onnx_version === 'string' ? onnxFlavor.onnx_version : null,
      sessionOptions: typeof opts === 'object' && opts !== null ? (opts as Record<string, unknown>) : {},
    },
    signature,
    inputExample,
    metadata: typeof m.metadata === 'object' && m.metadata !== null ? (m.metadata as Record<string, unknown>) : {},
    runId: typeof m.run_id === 'string' ? m.run_id : null,
    mlflowVersion: typeof m.mlflow_version === 'string' ? m.mlflow_version : null,
    utcTimeCreated: typeof m.utc_time_created === 'string' ? m.utc_time_created : null,
  };
}

/**
 * Class names of a classifier, in the order of its probabilities output, from the MLmodel's
 * `metadata.classes` (a list, or a comma-separated text): MLflow leaves the key to the model's
 * author, so this is driftwatch's convention (the bundled example writes it). null when absent.
 */
export function metadataClasses(metadata: Readonly<Record<string, unknown>>): string[] | null {
  const raw = metadata.classes;
  if (Array.isArray(raw) && raw.length > 0 && raw.every((c) => typeof c === 'string' || typeof c === 'number')) return raw.map(String);
  if (typeof raw === 'string' && raw.trim() !== '') return raw.split(',').map((c) => c.trim());
  return null;
}
