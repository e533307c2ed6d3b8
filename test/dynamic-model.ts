/** A tiny ONNX model with a free second dimension (row sums), written for the tests that need one. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** x: float [batch, width] -> s: float [batch] = sum over the row. No signature in MLmodel. */
export function writeRowSumModel(dir: string, inputDims: Array<number | string> = ['batch', 'width']): string {
  const T = onnx.TensorProto.DataType;
  const vi = (name: string, dims: Array<number | string>) =>
    onnx.ValueInfoProto.create({
      name,
      type: { tensorType: { elemType: T.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
    });
  const graph = onnx.GraphProto.create({
    name: 'row_sum',
    input: [vi('x', inputDims)],
    output: [vi('s', [inputDims[0]!])],
    initializer: [onnx.TensorProto.create({ name: 'axes', dims: [1], dataType: T.INT64, int64Data: [1] })],
    node: [
      onnx.NodeProto.create({
        opType: 'ReduceSum',
        input: ['x', 'axes'],
        output: ['s'],
        attribute: [{ name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 }],
      }),
    ],
  });
  const model = onnx.ModelProto.create({ irVersion: 7, producerName: 'driftwatch-tests', opsetImport: [{ domain: '', version: 13 }], graph });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.onnx'), onnx.ModelProto.encode(model).finish());
  writeFileSync(join(dir, 'MLmodel'), 'flavors:\n  onnx:\n    data: model.onnx\n    onnx_version: 1.14.1\n');
  return dir;
}
