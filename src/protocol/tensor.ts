/**
 * The tensor values that cross between the codecs (protocol/), the scoring code (serve/) and the
 * runtime adapter (serve/runtime.ts): plain typed arrays with a shape, so nothing outside
 * runtime.ts sees onnxruntime's own types and the codecs need nothing from the data path.
 */
export type ElementType =
  | 'float32'
  | 'float64'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'bool'
  | 'string'
  | 'float16';

export type TensorData =
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | string[];

export interface HostTensor {
  type: ElementType;
  data: TensorData;
  dims: number[];
}

export interface TensorMeta {
  name: string;
  type: ElementType | 'unknown';
  /** Numbers for fixed dimensions, -1 for symbolic or unknown ones. */
  shape: number[];
}
