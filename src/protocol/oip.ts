/**
 * Open Inference Protocol v2 (KServe / Seldon MLServer / Triton REST): inference requests and
 * responses, metadata. Errors are {"error": "..."}. Pure.
 * Spec: https://github.com/kserve/open-inference-protocol (REST, "Inference Request JSON Object").
 */
import { DriftwatchError } from '../errors.js';
import type { HostTensor } from './tensor.js';
import { oipDatatype } from '../model/signature.js';
import { tensorToFlatJson } from './json-out.js';
import { preview } from './preview.js';

export const OIP_DATATYPES = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'] as const;

export interface OipInput {
  name: string;
  shape: number[];
  datatype: string;
  /** Values laid out in the declared shape (nested), ready for the input plan. */
  value: unknown;
  /** Row-major flat values, for column-per-input use. */
  flat: unknown[];
}

export interface OipRequest {
  id: string | null;
  inputs: OipInput[];
  /** Output names requested, or null for all. */
  outputs: string[] | null;
  parameters: Record<string, unknown> | null;
}

function bad(message: string): never {
  throw new DriftwatchError('DW_ERR_SERVE_BAD_REQUEST', message);
}

function nest(flat: unknown[], shape: number[]): unknown {
  if (shape.length <= 1) return flat;
  // Build from the innermost dimension outwards: no recursion on request data.
  let level: unknown[] = flat;
  for (let d = shape.length - 1; d >= 1; d--) {
    const size = shape[d]!;
    const next: unknown[] = [];
    for (let i = 0; i < level.length; i += size) next.push(level.slice(i, i + size));
    level = next;
  }
  return level;
}

function flatten(data: unknown[], name: string): unknown[] {
  if (!data.some(Array.isArray)) return data;
  const out: unknown[] = [];
  const stack: Array<{ a: unknown[]; i: number }> = [{ a: data, i: 0 }];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    if (top.i >= top.a.length) {
      stack.pop();
      continue;
    }
    const v = top.a[top.i++];
    if (Array.isArray(v)) {
      if (stack.length >= 32) bad(`input ${name}: data is nested deeper than 32 levels`);
      stack.push({ a: v, i: 0 });
    } else out.push(v);
  }
  return out;
}

/** The values must be what the declared datatype says (the spec's contract; casting comes later). */
function checkValues(flat: unknown[], datatype: string, name: string): void {
  const ok =
    datatype === 'BYTES'
      ? (v: unknown) => typeof v === 'string'
      : datatype === 'BOOL'
        ? (v: unknown) => typeof v === 'boolean'
        : datatype.startsWith('FP')
          ? (v: unknown) => typeof v === 'number'
          : (v: unknown) => Number.isInteger(v);
  for (let i = 0; i < flat.length; i++) {
    if (!ok(flat[i])) bad(`input ${name}: value ${preview(flat[i], 40)} at index ${i} is not ${datatype}`);
  }
}

export function decodeOipRequest(text: string): OipRequest {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    bad(`request body is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) bad('request body must be a JSON object with "inputs"');
  const o = body as Record<string, unknown>;
  if (!Array.isArray(o.inputs) || o.inputs.length === 0) bad('"inputs" must be a non-empty list of tensors {name, shape, datatype, data}');
  const seen = new Set<string>();
  const inputs = o.inputs.map((raw, k): OipInput => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad(`inputs[${k}] must be an object`);
    const t = raw as Record<string, unknown>;
    if (typeof t.name !== 'string' || t.name === '') bad(`inputs[${k}].name must be a non-empty string`);
    const name = t.name;
    if (seen.has(name)) bad(`input ${name} appears twice`);
    seen.add(name);
    if (!Array.isArray(t.shape) || t.shape.length > 32 || !t.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      bad(`input ${name}: "shape" must be a list of non-negative integers`);
    }
    if (typeof t.datatype !== 'string' || !(OIP_DATATYPES as readonly string[]).includes(t.datatype)) {
      bad(`input ${name}: "datatype" must be one of ${OIP_DATATYPES.join(', ')}`);
    }
    if (!Array.isArray(t.data)) bad(`input ${name}: "data" must be a list`);
    const shape = t.shape as number[];
    const flat = flatten(t.data, name);
    checkValues(flat, t.datatype, name);
    const count = shape.reduce((a, b) => a * b, 1);
    if (flat.length !== count) bad(`input ${name}: shape [${shape.join(', ')}] holds ${count} values, "data" has ${flat.length}`);
    return { name, shape, datatype: t.datatype, value: nest(flat, shape), flat };
  });
  let outputs: string[] | null = null;
  if (o.outputs !== undefined && o.outputs !== null) {
    if (!Array.isArray(o.outputs)) bad('"outputs" must be a list of {name}');
    outputs = o.outputs.map((r, k) => {
      const name = (r as Record<string, unknown> | null)?.name;
      if (typeof name !== 'string') bad(`outputs[${k}].name must be a string`);
      return name;
    });
    if (new Set(outputs).size !== outputs.length) bad('"outputs" names an output more than once');
  }
  if (o.id !== undefined && typeof o.id !== 'string') bad('"id" must be a string');
  const parameters =
    typeof o.parameters === 'object' && o.parameters !== null && !Array.isArray(o.parameters) ? (o.parameters as Record<string, unknown>) : null;
  return { id: (o.id as string | undefined) ?? null, inputs, outputs, parameters };
}

/** OIP datatype of an onnxruntime element type (its names are numpy's: float32, int64, bool, ...). */
export const oipDatatypeOfElement = oipDatatype;

export function encodeOipResponse(opts: {
  modelName: string;
  modelVersion: string;
  id: string | null;
  outputs: Record<string, HostTensor>;
  only: string[] | null;
}): string {
  const names = opts.only ?? Object.keys(opts.outputs);
  const parts = names.map((n) => {
    const t = opts.outputs[n]!;
    return `{"name":${JSON.stringify(n)},"datatype":"${oipDatatypeOfElement(t.type)}","shape":[${t.dims.join(',')}],"data":${tensorToFlatJson(t)}}`;
  });
  const id = opts.id === null ? '' : `"id":${JSON.stringify(opts.id)},`;
  return `{"model_name":${JSON.stringify(opts.modelName)},"model_version":${JSON.stringify(opts.modelVersion)},${id}"outputs":[${parts.join(',')}]}`;
}

export function oipErrorBody(e: DriftwatchError | string): string {
  return JSON.stringify({ error: typeof e === 'string' ? e : e.message });
}
