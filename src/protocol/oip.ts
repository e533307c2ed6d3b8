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
  /**
   * The tensor as it arrived in binary (oip-binary.ts), typed and unconverted, so the scoring
   * server can feed it as is; null for JSON data. `value` and `flat` are then built on first use.
   */
  tensor: HostTensor | null;
}

export interface OipRequest {
  id: string | null;
  inputs: OipInput[];
  /** Output names requested, or null for all. */
  outputs: string[] | null;
  /** Per requested output, its `parameters.binary_data` (binary tensor extension), null when not given. */
  outputBinary: Array<boolean | null> | null;
  parameters: Record<string, unknown> | null;
}

/**
 * Reads one input sent as binary (`parameters.binary_data_size`): supplied by oip-binary.ts, which
 * owns the byte layout. Called in input order, as the extension lays the tensors out.
 */
export type BinaryInputReader = (name: string, datatype: string, shape: number[], size: number) => OipInput;

/** Whether output `name` goes back as binary: its own `binary_data`, else the request's `binary_data_output`. */
export function wantsBinaryOutput(req: OipRequest, name: string): boolean {
  const k = req.outputs === null ? -1 : req.outputs.indexOf(name);
  const own = k < 0 || req.outputBinary === null ? null : req.outputBinary[k]!;
  return own ?? req.parameters?.binary_data_output === true;
}

function bad(message: string): never {
  throw new DriftwatchError('DW_ERR_SERVE_BAD_REQUEST', message);
}

/** Row-major flat values laid out in a shape (nested lists), as the input plan takes them. */
export function nest(flat: unknown[], shape: number[]): unknown {
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
  return decodeOipObject(body, null);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A parsed request object; `binary` reads the inputs that carry `binary_data_size` (null: none may). */
export function decodeOipObject(body: unknown, binary: BinaryInputReader | null): OipRequest {
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
    const shape = t.shape as number[];
    // Parameters that are not an object were ignored before the binary extension, and still are.
    const size = isObject(t.parameters) ? t.parameters.binary_data_size : undefined;
    if (size !== undefined) {
      if (!Number.isSafeInteger(size) || (size as number) < 0) bad(`input ${name}: "binary_data_size" must be a non-negative integer`);
      if (t.data !== undefined) bad(`input ${name}: has both "data" and "binary_data_size"; a tensor is sent one way`);
      if (binary === null) bad(`input ${name}: "binary_data_size" needs the binary tensor data after the JSON (Inference-Header-Content-Length)`);
      return binary(name, t.datatype, shape, size as number);
    }
    if (!Array.isArray(t.data)) bad(`input ${name}: "data" must be a list`);
    const flat = flatten(t.data, name);
    checkValues(flat, t.datatype, name);
    const count = shape.reduce((a, b) => a * b, 1);
    if (flat.length !== count) bad(`input ${name}: shape [${shape.join(', ')}] holds ${count} values, "data" has ${flat.length}`);
    return { name, shape, datatype: t.datatype, value: nest(flat, shape), flat, tensor: null };
  });
  let outputs: string[] | null = null;
  let outputBinary: Array<boolean | null> | null = null;
  if (o.outputs !== undefined && o.outputs !== null) {
    if (!Array.isArray(o.outputs)) bad('"outputs" must be a list of {name}');
    const flags: Array<boolean | null> = [];
    outputs = o.outputs.map((r, k) => {
      const name = (r as Record<string, unknown> | null)?.name;
      if (typeof name !== 'string') bad(`outputs[${k}].name must be a string`);
      const p = (r as Record<string, unknown>).parameters;
      const flag = isObject(p) ? p.binary_data : undefined;
      if (flag !== undefined && typeof flag !== 'boolean') bad(`output ${name}: "binary_data" must be true or false`);
      flags.push(flag ?? null);
      return name;
    });
    if (new Set(outputs).size !== outputs.length) bad('"outputs" names an output more than once');
    if (flags.some((f) => f !== null)) outputBinary = flags;
  }
  if (o.id !== undefined && typeof o.id !== 'string') bad('"id" must be a string');
  const parameters = isObject(o.parameters) ? o.parameters : null;
  const all = parameters?.binary_data_output;
  if (all !== undefined && typeof all !== 'boolean') bad('"binary_data_output" must be true or false');
  return { id: (o.id as string | undefined) ?? null, inputs, outputs, outputBinary, parameters };
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
