/**
 * MLflow model signatures as MLflow writes them into MLmodel: `inputs`/`outputs` are JSON strings
 * holding a list of column specs `{"type","name","required"}` or tensor specs
 * `{"type":"tensor","tensor-spec":{"dtype","shape"}}` (mlflow/types/schema.py). Pure parsing.
 */
import { DriftwatchError } from '../errors.js';

export const COLUMN_TYPES = ['double', 'float', 'long', 'integer', 'boolean', 'string', 'binary', 'datetime', 'array', 'object', 'map', 'any'] as const;
export type ColumnType = (typeof COLUMN_TYPES)[number];

export interface ColumnSpec {
  kind: 'column';
  name: string | null;
  type: ColumnType;
  required: boolean;
  /** For type "array": the element spec as MLflow writes it. */
  items?: unknown;
}

export interface TensorSpec {
  kind: 'tensor';
  name: string | null;
  /** numpy dtype name: float32, float64, int64, int32, bool, str, object, ... */
  dtype: string;
  /** -1 is a variable dimension. */
  shape: number[];
  required: boolean;
}

export type Spec = ColumnSpec | TensorSpec;

export interface Schema {
  kind: 'column' | 'tensor';
  specs: Spec[];
}

export interface Signature {
  inputs: Schema | null;
  outputs: Schema | null;
  params: unknown;
}

function bad(where: string, msg: string): never {
  throw new DriftwatchError('DW_ERR_MODEL_INVALID', `signature ${where}: ${msg}`);
}

export function parseSchema(raw: unknown, where: string): Schema | null {
  if (raw === null || raw === undefined) return null;
  let list: unknown = raw;
  if (typeof raw === 'string') {
    try {
      list = JSON.parse(raw);
    } catch {
      bad(where, 'is not valid JSON');
    }
  }
  if (!Array.isArray(list)) bad(where, 'must be a JSON list of column or tensor specs');
  const specs: Spec[] = list.map((item, i): Spec => {
    if (typeof item !== 'object' || item === null) bad(where, `entry ${i} is not an object`);
    const o = item as Record<string, unknown>;
    const name = typeof o.name === 'string' ? o.name : null;
    const required = o.required === undefined ? true : Boolean(o.required);
    if (o.type === 'tensor') {
      const ts = o['tensor-spec'] as Record<string, unknown> | undefined;
      if (!ts || typeof ts.dtype !== 'string' || !Array.isArray(ts.shape) || !ts.shape.every((d) => Number.isInteger(d))) {
        bad(where, `entry ${i} is a tensor spec without a valid "tensor-spec": {"dtype", "shape"}`);
      }
      return { kind: 'tensor', name, dtype: ts.dtype as string, shape: ts.shape as number[], required };
    }
    if (typeof o.type !== 'string' || !(COLUMN_TYPES as readonly string[]).includes(o.type)) {
      bad(where, `entry ${i} has unknown type ${JSON.stringify(o.type)}`);
    }
    const spec: ColumnSpec = { kind: 'column', name, type: o.type as ColumnType, required };
    if (o.items !== undefined) spec.items = o.items;
    return spec;
  });
  if (specs.length === 0) return null;
  const kinds = new Set(specs.map((s) => s.kind));
  if (kinds.size > 1) bad(where, 'mixes column and tensor specs');
  const named = specs.filter((s) => s.name !== null).length;
  if (named !== 0 && named !== specs.length) bad(where, 'names some entries and not others');
  return { kind: specs[0]!.kind, specs };
}

export function parseSignature(raw: unknown): Signature | null {
  if (raw === null || raw === undefined) return null;
  if (typeof raw !== 'object') bad('', 'must be a mapping with inputs/outputs');
  const o = raw as Record<string, unknown>;
  return { inputs: parseSchema(o.inputs, 'inputs'), outputs: parseSchema(o.outputs, 'outputs'), params: o.params ?? null };
}

/** Open Inference Protocol datatype for a column type or numpy dtype. */
export function oipDatatype(typeOrDtype: string): string {
  switch (typeOrDtype) {
    case 'double':
    case 'float64':
      return 'FP64';
    case 'float':
    case 'float32':
      return 'FP32';
    case 'float16':
      return 'FP16';
    case 'long':
    case 'int64':
      return 'INT64';
    case 'integer':
    case 'int32':
      return 'INT32';
    case 'int16':
      return 'INT16';
    case 'int8':
      return 'INT8';
    case 'uint8':
      return 'UINT8';
    case 'uint16':
      return 'UINT16';
    case 'uint32':
      return 'UINT32';
    case 'uint64':
      return 'UINT64';
    case 'boolean':
    case 'bool':
      return 'BOOL';
    default:
      return 'BYTES';
  }
}
