/**
 * The Open Inference Protocol's binary tensor data extension (KServe / Triton), both directions.
 * Pure: bytes in, bytes out. The facts relied on, with their sources, are in
 * docs/open-inference.md; in short:
 *  - the body is the JSON request (or response) object followed by the tensors sent as binary, in
 *    the order the JSON lists them; `Inference-Header-Content-Length` gives the JSON's length;
 *  - an input or output sent as binary carries `parameters.binary_data_size` (bytes) and no "data";
 *  - tensors are little-endian, row-major, unpadded; BOOL is one byte (1 or 0); FP16 two bytes;
 *    a BYTES element is a 4-byte little-endian unsigned length and then its bytes;
 *  - `binary_data: true` on a requested output, or `binary_data_output: true` on the request (an
 *    output's own flag wins), asks for outputs in binary.
 * Numbers go straight from the bytes into typed arrays; no JSON is written or read for them.
 */
import { DriftwatchError } from '../errors.js';
import { formatFloat32, halfToNumber, tensorToFlatJson } from './json-out.js';
import { decodeOipObject, encodeOipResponse, nest, oipDatatypeOfElement, type OipInput, type OipRequest } from './oip.js';
import type { ElementType, HostTensor, TensorData } from './tensor.js';

export const INFERENCE_HEADER_CONTENT_LENGTH = 'inference-header-content-length';

/** Bytes per element of the fixed-size datatypes (BYTES has none: each element says its length). */
const ELEMENT_SIZE: Readonly<Record<string, number>> = {
  BOOL: 1,
  UINT8: 1,
  INT8: 1,
  UINT16: 2,
  INT16: 2,
  FP16: 2,
  UINT32: 4,
  INT32: 4,
  FP32: 4,
  UINT64: 8,
  INT64: 8,
  FP64: 8,
};

const ELEMENT_TYPE: Readonly<Record<string, ElementType>> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  INT8: 'int8',
  UINT16: 'uint16',
  INT16: 'int16',
  FP16: 'float16',
  UINT32: 'uint32',
  INT32: 'int32',
  FP32: 'float32',
  UINT64: 'uint64',
  INT64: 'int64',
  FP64: 'float64',
  BYTES: 'string',
};

/** Typed arrays are in the host's byte order; the wire is little-endian. */
const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function bad(message: string): never {
  throw new DriftwatchError('DW_ERR_SERVE_BAD_REQUEST', message);
}

/** Reverses each element's bytes in place (a big-endian host reading or writing the wire). */
function swapEach(b: Uint8Array, size: number): void {
  if (size === 1) return;
  for (let i = 0; i < b.length; i += size) b.subarray(i, i + size).reverse();
}

function view(type: ElementType, b: Uint8Array, count: number): TensorData {
  const { buffer, byteOffset } = b;
  switch (type) {
    case 'float32':
      return new Float32Array(buffer, byteOffset, count);
    case 'float64':
      return new Float64Array(buffer, byteOffset, count);
    case 'int64':
      return new BigInt64Array(buffer, byteOffset, count);
    case 'uint64':
      return new BigUint64Array(buffer, byteOffset, count);
    case 'int32':
      return new Int32Array(buffer, byteOffset, count);
    case 'uint32':
      return new Uint32Array(buffer, byteOffset, count);
    case 'int16':
      return new Int16Array(buffer, byteOffset, count);
    case 'uint16':
    case 'float16':
      return new Uint16Array(buffer, byteOffset, count);
    case 'int8':
      return new Int8Array(buffer, byteOffset, count);
    default:
      return new Uint8Array(buffer, byteOffset, count);
  }
}

/**
 * A fixed-size tensor's bytes as a typed array: a view on the body when the offset is aligned to
 * the element size and the host is little-endian (no copy), else a copy (typed arrays need aligned
 * offsets; a JSON header's length puts the tensors anywhere).
 */
function readFixed(bytes: Uint8Array, at: number, len: number, type: ElementType, size: number): TensorData {
  let b = bytes.subarray(at, at + len);
  if (!HOST_LE || b.byteOffset % size !== 0) {
    b = new Uint8Array(b); // a copy at offset 0 (a Buffer's slice() would be a view)
    if (!HOST_LE) swapEach(b, size);
  }
  return view(type, b, len / size);
}

function readBytesElements(name: string, b: Uint8Array, count: number): string[] {
  if (count * 4 > b.length) bad(`input ${name}: ${count} BYTES elements need at least ${count * 4} bytes, "binary_data_size" is ${b.length}`);
  const out = new Array<string>(count);
  // Buffer's toString, not a TextDecoder: several times cheaper per short string (labels, tokens).
  const text = Buffer.from(b.buffer, b.byteOffset, b.length);
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 4 > b.length) bad(`input ${name}: BYTES element ${i} starts past its "binary_data_size" of ${b.length} bytes`);
    const n = (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
    at += 4;
    if (at + n > b.length) bad(`input ${name}: BYTES element ${i} of ${n} bytes runs past its "binary_data_size" of ${b.length} bytes`);
    out[i] = text.toString('utf8', at, at + n);
    at += n;
  }
  if (at !== b.length) bad(`input ${name}: its ${count} BYTES elements take ${at} bytes, "binary_data_size" says ${b.length}`);
  return out;
}

const POW10 = Array.from({ length: 24 }, (_, i) => 10 ** i); // exact doubles up to 1e22
const NEG10 = Array.from({ length: 16 }, (_, i) => 10 ** -i); // the doubles `10 ** e` gives for e < 0
const pow10 = (e: number) => (e >= 0 ? POW10[e]! : NEG10[-e]!);
/** Scratch for a float32's exponent bits (the module's code runs to completion: nothing shares it). */
const F32 = new Float32Array(1);
const F32_BITS = new Uint32Array(F32.buffer);

/**
 * The double that JSON.parse gives for formatFloat32(v) (json-out.ts), without the string: the same
 * search for the shortest decimal that reads back to the float32 (q / 10^n, correctly rounded
 * while 10^|n| is an exact double; the argument is formatFloat32's), with the decimal exponent
 * taken from the float's binary exponent and table lookups instead of Math.log10 and `**`, which
 * cost more than the rest (the capture side runs this per FP32 element). Outside 1e-14..1e22 it
 * takes the string path. Held equal to Number(formatFloat32(v)) by test/unit/oip-binary.test.ts.
 */
export function float32Decimal(v: number): number {
  if (v === 0) return 0; // -0 too: JSON's "0"
  if (!Number.isFinite(v)) return v;
  const a = v < 0 ? -v : v;
  F32[0] = a;
  // floor(log10(a)) is this or one more: a is in [2^e2, 2^(e2+1)), a span of 0.301 in log10.
  let e = Math.floor((((F32_BITS[0]! >>> 23) & 0xff) - 127) * 0.30102999566398114);
  if (e < -15 || e > 22) return Number(formatFloat32(v));
  if (a >= pow10(e + 1)) e++;
  else if (a < pow10(e)) e--;
  if (e < -14 || e > 22) return Number(formatFloat32(v));
  for (let k = 1; k <= 9; k++) {
    const n = k - 1 - e;
    let c: number;
    if (n >= 0) {
      const p = POW10[n]!;
      c = Math.round(a * p) / p;
    } else {
      const p = POW10[-n]!;
      c = Math.round(a / p) * p;
    }
    if (Math.fround(c) === a) return v < 0 ? -c : c;
  }
  return Number(formatFloat32(v));
}

/** One tensor element as the JSON form carries it (what JSON.parse of that form gives). */
function jsonValues(t: HostTensor): unknown[] {
  const d = t.data;
  const n = d.length;
  const out = new Array<unknown>(n);
  switch (t.type) {
    case 'string':
      return d as string[];
    case 'bool':
      for (let i = 0; i < n; i++) out[i] = (d as Uint8Array)[i] !== 0;
      return out;
    case 'int64':
    case 'uint64':
      for (let i = 0; i < n; i++) out[i] = Number((d as BigInt64Array)[i]);
      return out;
    case 'float16':
      for (let i = 0; i < n; i++) out[i] = halfToNumber((d as Uint16Array)[i]!);
      return out;
    case 'float32':
      // The shortest decimal that reads back to the same float32, as the JSON writers print it
      // (json-out.ts; a client's 5.1 is the float32 5.099999904632568 on the wire): a binary
      // request then profiles as the same request sent as JSON. NaN and infinities: null.
      for (let i = 0; i < n; i++) {
        const v = (d as Float32Array)[i]!;
        out[i] = Number.isFinite(v) ? float32Decimal(v) : null;
      }
      return out;
    default:
      for (let i = 0; i < n; i++) {
        const v = (d as Float64Array)[i]!;
        out[i] = Number.isFinite(v) ? v : null;
      }
      return out;
  }
}

/**
 * An input read from binary: typed now, its JSON-shaped `flat` and `value` built on first use (a
 * class, so the lazy getters live on the prototype and each input is a plain fast object).
 */
class BinaryInput implements OipInput {
  private flatCache: unknown[] | null = null;
  private valueCache: unknown = undefined;
  constructor(
    readonly name: string,
    readonly shape: number[],
    readonly datatype: string,
    readonly tensor: HostTensor,
  ) {}
  get flat(): unknown[] {
    this.flatCache ??= jsonValues(this.tensor);
    return this.flatCache;
  }
  get value(): unknown {
    this.valueCache ??= nest(this.flat, this.shape);
    return this.valueCache;
  }
}

/** One tensor's bytes at `at` (its binary_data_size already checked to fit) into a HostTensor. */
function readTensor(bytes: Uint8Array, at: number, name: string, datatype: string, shape: number[], size: number): HostTensor {
  const count = shape.reduce((a, b) => a * b, 1);
  const type = ELEMENT_TYPE[datatype];
  if (type === undefined) bad(`input ${name}: datatype ${datatype} has no binary form`);
  if (type === 'string') return { type, data: readBytesElements(name, bytes.subarray(at, at + size), count), dims: shape };
  const each = ELEMENT_SIZE[datatype]!;
  if (count * each !== size) {
    bad(`input ${name}: shape [${shape.join(', ')}] of ${datatype} is ${count * each} bytes, "binary_data_size" says ${size}`);
  }
  const data = readFixed(bytes, at, size, type, each);
  if (type === 'bool') {
    const b = data as Uint8Array;
    for (let i = 0; i < b.length; i++) if (b[i]! > 1) bad(`input ${name}: BOOL element ${i} is the byte ${b[i]}; the extension sends true as 1 and false as 0`);
  }
  return { type, data, dims: shape };
}

/** The header's value as a byte count within a body of `bodyLength` bytes; null when absent. */
export function inferenceHeaderLength(header: string | string[] | undefined, bodyLength: number): number | null {
  if (header === undefined) return null;
  const text = Array.isArray(header) ? header.join(',') : header;
  if (!/^\s*\d+\s*$/.test(text) || Number(text) > bodyLength) {
    bad(`Inference-Header-Content-Length ${JSON.stringify(text.slice(0, 40))} must be the JSON header's length in bytes, at most the body's ${bodyLength}`);
  }
  return Number(text);
}

/**
 * End of the first JSON value in `bytes` (just past its closing brace or bracket): how a captured
 * body is split when the event did not keep the Inference-Header-Content-Length header. Strings
 * are skipped with their escapes; a UTF-8 continuation byte never equals `"` or `\`.
 */
export function jsonValueEnd(bytes: Uint8Array): number {
  let depth = 0;
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const c = bytes[i++]!;
    if (c === 0x22) {
      while (i < n) {
        const s = bytes[i++]!;
        if (s === 0x5c) i++;
        else if (s === 0x22) break;
      }
      if (depth === 0) return i;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      if (--depth <= 0) return i;
    }
  }
  return n;
}

const BINARY_DATA_SIZE = Buffer.from('"binary_data_size"');

const isWhitespace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/** Sum of `parameters.binary_data_size` over a parsed header's tensors (validated later). */
function declaredBinary(tensors: unknown): number {
  if (!Array.isArray(tensors)) return 0;
  let sum = 0;
  for (const t of tensors) {
    const s = (t as { parameters?: { binary_data_size?: unknown } } | null)?.parameters?.binary_data_size;
    if (typeof s === 'number' && Number.isSafeInteger(s) && s >= 0) sum += s;
  }
  return sum;
}

/**
 * Splits a body into its parsed JSON header and the offset where the binary tensors start.
 * `headerLength` null: the whole body is JSON (the server's reading without the header), unless
 * `infer` (the capture side, which has the body but not the header): then the JSON is the first
 * value in the body and the binary part the declared sizes at its end.
 */
function splitBody(bytes: Uint8Array, headerLength: number | null, infer: boolean, tensorsKey: 'inputs' | 'outputs'): { header: unknown; start: number } {
  let end = headerLength ?? bytes.length;
  // Only a body that names binary_data_size can have binary tensors: a native search, so a plain
  // JSON body is not walked byte by byte in JS.
  if (headerLength === null && infer && Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).includes(BINARY_DATA_SIZE)) end = jsonValueEnd(bytes);
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, end).toString('utf8'));
  } catch (e) {
    const hint = headerLength === null && !infer ? ' (binary tensor data after the JSON needs the Inference-Header-Content-Length header)' : '';
    bad(`${headerLength === null ? 'request body' : `the ${headerLength}-byte JSON header`} is not valid JSON: ${(e as Error).message}${hint}`);
  }
  if (headerLength !== null || !infer) return { header, start: end };
  // Padding between the JSON and the tensors belongs to the JSON (whitespace is JSON).
  const start = bytes.length - declaredBinary((header as Record<string, unknown> | null)?.[tensorsKey]);
  if (start < end) return { header, start: end };
  for (let i = end; i < start; i++) if (!isWhitespace(bytes[i]!)) return { header, start: end };
  return { header, start };
}

/**
 * An inference request, JSON or JSON plus binary tensors. `headerLength` is the request's
 * Inference-Header-Content-Length (inferenceHeaderLength), null when it had none. Errors are
 * DW_ERR_SERVE_BAD_REQUEST (400) saying which input and which sizes disagree.
 */
export function decodeOipRequestBytes(bytes: Uint8Array, headerLength: number | null, opts: { infer?: boolean } = {}): OipRequest {
  const { header, start } = splitBody(bytes, headerLength, opts.infer === true, 'inputs');
  let at = start;
  const request = decodeOipObject(header, (name, datatype, shape, size) => {
    if (at + size > bytes.length) {
      if (headerLength === null && opts.infer !== true)
        bad(`input ${name}: "binary_data_size" needs the tensor's bytes after the JSON and the Inference-Header-Content-Length header`);
      bad(`input ${name}: "binary_data_size" ${size} runs past the body: ${bytes.length - at} bytes of binary data are left at its turn`);
    }
    const tensor = readTensor(bytes, at, name, datatype, shape, size);
    at += size;
    return new BinaryInput(name, shape, datatype, tensor);
  });
  if (at !== bytes.length) {
    const declared = at - start;
    bad(
      `the inputs' "binary_data_size" add up to ${declared} bytes, but ${bytes.length - start} bytes follow the ${start}-byte JSON header` +
        (headerLength === null && !opts.infer ? ' (binary tensor data needs the Inference-Header-Content-Length header)' : ''),
    );
  }
  return request;
}

export interface OipResponseTensor {
  name: string;
  datatype: string;
  shape: number[];
  /** Flat values as the JSON form carries them (binary outputs converted as jsonValues does). */
  data: unknown[];
}

/**
 * A captured inference response, JSON or JSON plus binary outputs: its outputs with their data as
 * the JSON form would carry it. Null when it is not a response object this can read.
 */
export function decodeOipResponseBytes(bytes: Uint8Array, headerLength: number | null): OipResponseTensor[] | null {
  let split: { header: unknown; start: number };
  try {
    split = splitBody(bytes, headerLength, true, 'outputs');
  } catch {
    return null;
  }
  const outputs = (split.header as Record<string, unknown> | null)?.outputs;
  if (!Array.isArray(outputs)) return null;
  let at = split.start;
  const out: OipResponseTensor[] = [];
  for (const o of outputs as Array<Record<string, unknown> | null>) {
    if (typeof o !== 'object' || o === null || Array.isArray(o) || typeof o.name !== 'string' || !Array.isArray(o.shape)) return null;
    const shape = o.shape as number[];
    const size = (o.parameters as { binary_data_size?: unknown } | undefined)?.binary_data_size;
    if (size === undefined) {
      if (!Array.isArray(o.data)) return null;
      out.push({ name: o.name, datatype: String(o.datatype), shape, data: o.data });
      continue;
    }
    if (typeof o.datatype !== 'string' || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) return null;
    if (!Number.isSafeInteger(size) || (size as number) < 0 || at + (size as number) > bytes.length) return null;
    try {
      out.push({ name: o.name, datatype: o.datatype, shape, data: jsonValues(readTensor(bytes, at, o.name, o.datatype, shape, size as number)) });
    } catch {
      return null;
    }
    at += size as number;
  }
  return at === bytes.length ? out : null;
}

/** A tensor's data as the extension's bytes (little-endian; BOOL 0/1; BYTES length-prefixed). */
export function tensorBytes(t: HostTensor): Uint8Array {
  const d = t.data;
  if (t.type === 'string') {
    // One allocation, strings written in place (no encoded copy per element).
    const strings = d as string[];
    let total = 0;
    for (const s of strings) total += 4 + Buffer.byteLength(s, 'utf8');
    const out = Buffer.allocUnsafe(total);
    let at = 0;
    for (const s of strings) {
      const n = out.write(s, at + 4, 'utf8');
      out.writeUInt32LE(n, at);
      at += 4 + n;
    }
    return out;
  }
  if (t.type === 'bool') {
    const out = new Uint8Array(d.length);
    for (let i = 0; i < out.length; i++) out[i] = (d as Uint8Array)[i] ? 1 : 0;
    return out;
  }
  const typed = d as Exclude<TensorData, string[]>;
  const b = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  if (HOST_LE) return b;
  const copy = new Uint8Array(b);
  swapEach(copy, typed.BYTES_PER_ELEMENT);
  return copy;
}

/**
 * The response: plain JSON (encodeOipResponse) when no output is asked for in binary; else the JSON
 * header with `binary_data_size` on the binary outputs, followed by their bytes, and the header's
 * length for the Inference-Header-Content-Length header.
 */
export function encodeOipResponseBytes(opts: {
  modelName: string;
  modelVersion: string;
  id: string | null;
  outputs: Record<string, HostTensor>;
  only: string[] | null;
  binary: (name: string) => boolean;
}): { body: string; headerLength: null } | { body: Buffer; headerLength: number } {
  const names = opts.only ?? Object.keys(opts.outputs);
  if (!names.some(opts.binary)) return { body: encodeOipResponse(opts), headerLength: null };
  const tails: Uint8Array[] = [];
  const parts = names.map((n) => {
    const t = opts.outputs[n]!;
    const head = `{"name":${JSON.stringify(n)},"datatype":"${oipDatatypeOfElement(t.type)}","shape":[${t.dims.join(',')}]`;
    if (!opts.binary(n)) return `${head},"data":${tensorToFlatJson(t)}}`;
    const b = tensorBytes(t);
    tails.push(b);
    return `${head},"parameters":{"binary_data_size":${b.length}}}`;
  });
  const id = opts.id === null ? '' : `"id":${JSON.stringify(opts.id)},`;
  const json = `{"model_name":${JSON.stringify(opts.modelName)},"model_version":${JSON.stringify(opts.modelVersion)},${id}"outputs":[${parts.join(',')}]}`;
  // One allocation: the JSON written in place, then each tensor's bytes copied once.
  const headerLength = Buffer.byteLength(json, 'utf8');
  let total = headerLength;
  for (const t of tails) total += t.length;
  const body = Buffer.allocUnsafe(total);
  body.write(json, 0, 'utf8');
  let at = headerLength;
  for (const t of tails) {
    body.set(t, at);
    at += t.length;
  }
  return { body, headerLength };
}
