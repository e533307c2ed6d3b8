/**
 * The Open Inference binary tensor extension's codec. Request bodies are built by hand here from
 * the extension's text (docs/open-inference.md): a JSON header, then each binary tensor's bytes in
 * input order, little-endian, BOOL as one byte, BYTES as a 4-byte length and the bytes. The
 * expected values are the ones written into those bytes, not the codec's output.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { extract } from '../../src/capture/extract.js';
import type { InferenceEvent } from '../../src/capture/inference-event.js';
import { DriftwatchError } from '../../src/errors.js';
import {
  decodeOipRequestBytes,
  decodeOipResponseBytes,
  encodeOipResponseBytes,
  float32Decimal,
  inferenceHeaderLength,
  jsonValueEnd,
} from '../../src/protocol/oip-binary.js';
import { decodeOipRequest, wantsBinaryOutput } from '../../src/protocol/oip.js';
import type { HostTensor } from '../../src/protocol/tensor.js';
import { formatFloat32 } from '../../src/protocol/json-out.js';
import { mulberry32 } from '../prng.js';

/** One tensor's little-endian bytes, written element by element with a DataView. */
function le(datatype: string, values: ReadonlyArray<number | bigint | boolean | string>): Buffer {
  if (datatype === 'BYTES') {
    const parts = values.map((v) => {
      const s = Buffer.from(String(v), 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32LE(s.length);
      return Buffer.concat([len, s]);
    });
    return Buffer.concat(parts);
  }
  const size: Record<string, number> = { BOOL: 1, UINT8: 1, INT8: 1, UINT16: 2, INT16: 2, FP16: 2, UINT32: 4, INT32: 4, FP32: 4, UINT64: 8, INT64: 8, FP64: 8 };
  const n = size[datatype]!;
  const out = Buffer.alloc(values.length * n);
  const dv = new DataView(out.buffer, out.byteOffset, out.length);
  values.forEach((v, i) => {
    const at = i * n;
    switch (datatype) {
      case 'BOOL':
        dv.setUint8(at, v ? 1 : 0);
        break;
      case 'UINT8':
        dv.setUint8(at, v as number);
        break;
      case 'INT8':
        dv.setInt8(at, v as number);
        break;
      case 'UINT16':
      case 'FP16':
        dv.setUint16(at, v as number, true);
        break;
      case 'INT16':
        dv.setInt16(at, v as number, true);
        break;
      case 'UINT32':
        dv.setUint32(at, v as number, true);
        break;
      case 'INT32':
        dv.setInt32(at, v as number, true);
        break;
      case 'FP32':
        dv.setFloat32(at, v as number, true);
        break;
      case 'FP64':
        dv.setFloat64(at, v as number, true);
        break;
      case 'UINT64':
        dv.setBigUint64(at, v as bigint, true);
        break;
      case 'INT64':
        dv.setBigInt64(at, v as bigint, true);
        break;
    }
  });
  return out;
}

/** A request body: the JSON header (padded to `pad` bytes of trailing spaces) and the tensors. */
function body(header: unknown, tensors: Buffer[], pad = 0): { bytes: Buffer; headerLength: number } {
  const json = Buffer.from(JSON.stringify(header) + ' '.repeat(pad), 'utf8');
  return { bytes: Buffer.concat([json, ...tensors]), headerLength: json.length };
}

function badRequest(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DriftwatchError, String(e));
    assert.equal(e.status, 400);
    assert.match(e.message, message);
    return true;
  });
}

/** Each datatype: values on the wire, and what the JSON form of the same tensor reads as. */
const CASES: Array<{ datatype: string; wire: Array<number | bigint | boolean | string>; json: unknown[]; type: string }> = [
  { datatype: 'BOOL', wire: [true, false, true], json: [true, false, true], type: 'bool' },
  { datatype: 'UINT8', wire: [0, 255, 7], json: [0, 255, 7], type: 'uint8' },
  { datatype: 'INT8', wire: [-128, 127, 0], json: [-128, 127, 0], type: 'int8' },
  { datatype: 'UINT16', wire: [65535, 1, 0], json: [65535, 1, 0], type: 'uint16' },
  { datatype: 'INT16', wire: [-32768, 32767, -1], json: [-32768, 32767, -1], type: 'int16' },
  // FP16 bit patterns: 1.5, -2, 2^-24 (the smallest subnormal)
  { datatype: 'FP16', wire: [0x3e00, 0xc000, 0x0001], json: [1.5, -2, 2 ** -24], type: 'float16' },
  { datatype: 'UINT32', wire: [4294967295, 0, 12345], json: [4294967295, 0, 12345], type: 'uint32' },
  { datatype: 'INT32', wire: [-2147483648, 2147483647, -3], json: [-2147483648, 2147483647, -3], type: 'int32' },
  // A float32 reads as the shortest decimal that is the same float32: 5.1f is 5.1, as JSON says it.
  { datatype: 'FP32', wire: [5.1, -0.25, 1e-7], json: [5.1, -0.25, 1e-7], type: 'float32' },
  { datatype: 'UINT64', wire: [2n ** 53n, 0n, 9n], json: [2 ** 53, 0, 9], type: 'uint64' },
  { datatype: 'INT64', wire: [-(2n ** 40n), 5n, -1n], json: [-(2 ** 40), 5, -1], type: 'int64' },
  { datatype: 'FP64', wire: [0.1, -1e300, 5e-324], json: [0.1, -1e300, 5e-324], type: 'float64' },
  { datatype: 'BYTES', wire: ['sun', 'héllo wörld', ''], json: ['sun', 'héllo wörld', ''], type: 'string' },
];

describe('binary requests, every datatype', () => {
  for (const c of CASES) {
    test(c.datatype, () => {
      const data = le(c.datatype, c.wire);
      const { bytes, headerLength } = body({ inputs: [{ name: 'x', shape: [3], datatype: c.datatype, parameters: { binary_data_size: data.length } }] }, [
        data,
      ]);
      const req = decodeOipRequestBytes(bytes, headerLength);
      const input = req.inputs[0]!;
      assert.equal(input.tensor?.type, c.type);
      assert.deepEqual(input.tensor?.dims, [3]);
      assert.deepEqual(input.flat, c.json);
      // The same tensor sent as JSON decodes to the same values.
      if (c.datatype !== 'FP16') {
        const fromJson = decodeOipRequest(JSON.stringify({ inputs: [{ name: 'x', shape: [3], datatype: c.datatype, data: c.json }] }));
        assert.deepEqual(input.flat, fromJson.inputs[0]!.flat);
      }
    });
  }

  test('typed data is what was on the wire (int64 as BigInt, FP16 as its bits)', () => {
    const i64 = le('INT64', [-7n, 2n ** 62n]);
    const f16 = le('FP16', [0x3c00]);
    const { bytes, headerLength } = body(
      {
        inputs: [
          { name: 'a', shape: [2], datatype: 'INT64', parameters: { binary_data_size: 16 } },
          { name: 'b', shape: [1], datatype: 'FP16', parameters: { binary_data_size: 2 } },
        ],
      },
      [i64, f16],
    );
    const req = decodeOipRequestBytes(bytes, headerLength);
    assert.deepEqual([...(req.inputs[0]!.tensor!.data as BigInt64Array)], [-7n, 2n ** 62n]);
    assert.deepEqual([...(req.inputs[1]!.tensor!.data as Uint16Array)], [0x3c00]);
  });

  test('a [2, 3] tensor nests row-major; JSON and binary inputs mix, binary ones in input order', () => {
    const m = le('FP64', [1, 2, 3, 4, 5, 6]);
    const s = le('BYTES', ['a', 'b']);
    const { bytes, headerLength } = body(
      {
        id: 'r1',
        inputs: [
          { name: 'm', shape: [2, 3], datatype: 'FP64', parameters: { binary_data_size: m.length } },
          { name: 'j', shape: [2], datatype: 'INT32', data: [7, 8] },
          { name: 's', shape: [2], datatype: 'BYTES', parameters: { binary_data_size: s.length } },
        ],
      },
      [m, s],
    );
    const req = decodeOipRequestBytes(bytes, headerLength);
    assert.equal(req.id, 'r1');
    assert.deepEqual(req.inputs[0]!.value, [
      [1, 2, 3],
      [4, 5, 6],
    ]);
    assert.equal(req.inputs[1]!.tensor, null);
    assert.deepEqual(req.inputs[1]!.flat, [7, 8]);
    assert.deepEqual(req.inputs[2]!.flat, ['a', 'b']);
  });

  test('unaligned tensors (odd header length, a body at an odd offset in its buffer) read correctly', () => {
    const f64 = le('FP64', [1.25, -3.5]);
    const i32 = le('INT32', [-9, 10]);
    for (const pad of [0, 1, 2, 3, 5, 7]) {
      const { bytes, headerLength } = body(
        {
          inputs: [
            { name: 'a', shape: [1], datatype: 'BOOL', parameters: { binary_data_size: 1 } },
            { name: 'b', shape: [2], datatype: 'FP64', parameters: { binary_data_size: 16 } },
            { name: 'c', shape: [2], datatype: 'INT32', parameters: { binary_data_size: 8 } },
          ],
        },
        [le('BOOL', [true]), f64, i32],
        pad,
      );
      for (const shift of [0, 1, 3]) {
        const host = Buffer.alloc(bytes.length + shift);
        bytes.copy(host, shift);
        const req = decodeOipRequestBytes(host.subarray(shift), headerLength);
        assert.deepEqual([...(req.inputs[1]!.tensor!.data as Float64Array)], [1.25, -3.5], `pad ${pad} shift ${shift}`);
        assert.deepEqual([...(req.inputs[2]!.tensor!.data as Int32Array)], [-9, 10], `pad ${pad} shift ${shift}`);
      }
    }
  });

  test('without the header, a body that is all JSON still decodes (the header is only needed for binary data)', () => {
    const text = JSON.stringify({ inputs: [{ name: 'x', shape: [2], datatype: 'FP32', data: [1, 2] }] });
    assert.deepEqual(decodeOipRequestBytes(Buffer.from(text), null).inputs[0]!.flat, [1, 2]);
  });
});

describe('size mismatches and malformed binary bodies are 400s that say what is wrong', () => {
  const one = (extra: Record<string, unknown> = {}) => ({ name: 'x', shape: [2], datatype: 'FP32', parameters: { binary_data_size: 8 }, ...extra });

  test('binary_data_size against shape x datatype size', () => {
    const { bytes, headerLength } = body({ inputs: [{ ...one(), parameters: { binary_data_size: 12 } }] }, [le('FP32', [1, 2, 3])]);
    badRequest(() => decodeOipRequestBytes(bytes, headerLength), /shape \[2\] of FP32 is 8 bytes, "binary_data_size" says 12/);
  });

  test('the sizes must add up to the bytes after the header: extra bytes', () => {
    const { bytes, headerLength } = body({ inputs: [one()] }, [le('FP32', [1, 2, 3])]);
    badRequest(() => decodeOipRequestBytes(bytes, headerLength), /add up to 8 bytes, but 12 bytes follow the \d+-byte JSON header/);
  });

  test('the sizes must add up to the bytes after the header: too few bytes', () => {
    const { bytes, headerLength } = body({ inputs: [one()] }, [le('FP32', [1])]);
    badRequest(() => decodeOipRequestBytes(bytes, headerLength), /input x: "binary_data_size" 8 runs past the body: 4 bytes/);
  });

  test('BYTES: an element longer than its tensor, trailing bytes, fewer bytes than lengths', () => {
    const over = Buffer.concat([le('BYTES', ['ab']), Buffer.from([0xff, 0, 0, 0])]);
    const a = body({ inputs: [{ name: 's', shape: [2], datatype: 'BYTES', parameters: { binary_data_size: over.length } }] }, [over]);
    badRequest(() => decodeOipRequestBytes(a.bytes, a.headerLength), /BYTES element 1 of 255 bytes runs past its "binary_data_size" of 10 bytes/);
    const trailing = Buffer.concat([le('BYTES', ['ab']), Buffer.from([1])]);
    const b = body({ inputs: [{ name: 's', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: trailing.length } }] }, [trailing]);
    badRequest(() => decodeOipRequestBytes(b.bytes, b.headerLength), /its 1 BYTES elements take 6 bytes, "binary_data_size" says 7/);
    const c = body({ inputs: [{ name: 's', shape: [3], datatype: 'BYTES', parameters: { binary_data_size: 8 } }] }, [Buffer.alloc(8)]);
    badRequest(() => decodeOipRequestBytes(c.bytes, c.headerLength), /3 BYTES elements need at least 12 bytes/);
  });

  test('BOOL bytes other than 0 and 1', () => {
    const { bytes, headerLength } = body({ inputs: [{ name: 'b', shape: [2], datatype: 'BOOL', parameters: { binary_data_size: 2 } }] }, [Buffer.from([1, 2])]);
    badRequest(() => decodeOipRequestBytes(bytes, headerLength), /BOOL element 1 is the byte 2/);
  });

  test('binary data without the Inference-Header-Content-Length header', () => {
    const { bytes } = body({ inputs: [one()] }, [le('FP32', [1, 2])]);
    badRequest(() => decodeOipRequestBytes(bytes, null), /not valid JSON.*needs the Inference-Header-Content-Length header/);
    const jsonOnly = Buffer.from(JSON.stringify({ inputs: [one()] }));
    badRequest(() => decodeOipRequestBytes(jsonOnly, null), /needs the tensor's bytes after the JSON and the Inference-Header-Content-Length header/);
  });

  test('a header length that is not a byte count within the body, or cuts the JSON', () => {
    badRequest(() => inferenceHeaderLength('12abc', 100), /Inference-Header-Content-Length "12abc" must be/);
    badRequest(() => inferenceHeaderLength('101', 100), /at most the body's 100/);
    badRequest(() => inferenceHeaderLength('-1', 100), /must be/);
    assert.equal(inferenceHeaderLength(undefined, 100), null);
    assert.equal(inferenceHeaderLength('42', 100), 42);
    const { bytes, headerLength } = body({ inputs: [one()] }, [le('FP32', [1, 2])]);
    badRequest(() => decodeOipRequestBytes(bytes, headerLength - 3), new RegExp(`the ${headerLength - 3}-byte JSON header is not valid JSON`));
  });

  test('parameters that contradict the extension', () => {
    const t = body({ inputs: [one({ data: [1, 2] })] }, [le('FP32', [1, 2])]);
    badRequest(() => decodeOipRequestBytes(t.bytes, t.headerLength), /has both "data" and "binary_data_size"/);
    const neg = body({ inputs: [{ ...one(), parameters: { binary_data_size: -8 } }] }, []);
    badRequest(() => decodeOipRequestBytes(neg.bytes, neg.headerLength), /"binary_data_size" must be a non-negative integer/);
    const flag = body({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }], outputs: [{ name: 'y', parameters: { binary_data: 'yes' } }] }, []);
    badRequest(() => decodeOipRequestBytes(flag.bytes, flag.headerLength), /output y: "binary_data" must be true or false/);
    const all = body({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }], parameters: { binary_data_output: 1 } }, []);
    badRequest(() => decodeOipRequestBytes(all.bytes, all.headerLength), /"binary_data_output" must be true or false/);
  });
});

describe('binary outputs', () => {
  const outputs: Record<string, HostTensor> = {
    label: { type: 'string', data: ['sun', 'rain'], dims: [2] },
    probabilities: { type: 'float32', data: Float32Array.from([0.25, 0.75, 0.5, 0.5]), dims: [2, 2] },
  };

  test("which outputs are binary: an output's own binary_data wins over the request's binary_data_output", () => {
    const req = (o: unknown) => decodeOipRequest(JSON.stringify({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }], ...(o as object) }));
    const none = req({});
    assert.equal(wantsBinaryOutput(none, 'label'), false);
    const all = req({ parameters: { binary_data_output: true } });
    assert.equal(wantsBinaryOutput(all, 'label'), true);
    const mixed = req({
      parameters: { binary_data_output: true },
      outputs: [{ name: 'label', parameters: { binary_data: false } }, { name: 'probabilities' }],
    });
    assert.equal(wantsBinaryOutput(mixed, 'label'), false);
    assert.equal(wantsBinaryOutput(mixed, 'probabilities'), true);
  });

  test('JSON when nothing is asked for in binary', () => {
    const r = encodeOipResponseBytes({ modelName: 'm', modelVersion: '1', id: null, outputs, only: null, binary: () => false });
    assert.equal(r.headerLength, null);
    assert.deepEqual(JSON.parse(r.body as string).outputs[0], { name: 'label', datatype: 'BYTES', shape: [2], data: ['sun', 'rain'] });
  });

  test('the JSON header, then the binary outputs in output order, little-endian; read back by hand', () => {
    const r = encodeOipResponseBytes({
      modelName: 'm',
      modelVersion: '1',
      id: 'q',
      outputs,
      only: null,
      binary: (n) => n === 'probabilities' || n === 'label',
    });
    assert.ok(r.headerLength !== null);
    const b = r.body as Buffer;
    const header = JSON.parse(b.subarray(0, r.headerLength).toString('utf8'));
    assert.equal(header.id, 'q');
    assert.deepEqual(header.outputs[0], { name: 'label', datatype: 'BYTES', shape: [2], parameters: { binary_data_size: 4 + 3 + 4 + 4 } });
    assert.deepEqual(header.outputs[1], { name: 'probabilities', datatype: 'FP32', shape: [2, 2], parameters: { binary_data_size: 16 } });
    let at = r.headerLength;
    assert.equal(b.readUInt32LE(at), 3);
    assert.equal(b.subarray(at + 4, at + 7).toString(), 'sun');
    at += 7;
    assert.equal(b.readUInt32LE(at), 4);
    assert.equal(b.subarray(at + 4, at + 8).toString(), 'rain');
    at += 8;
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => b.readFloatLE(at + 4 * i)),
      [0.25, 0.75, 0.5, 0.5],
    );
    assert.equal(at + 16, b.length);
  });

  test('only some outputs binary: the others keep their JSON data', () => {
    const r = encodeOipResponseBytes({
      modelName: 'm',
      modelVersion: '1',
      id: null,
      outputs,
      only: ['probabilities', 'label'],
      binary: (n) => n === 'probabilities',
    });
    const b = r.body as Buffer;
    const header = JSON.parse(b.subarray(0, r.headerLength!).toString('utf8'));
    assert.deepEqual(
      header.outputs.map((o: { name: string }) => o.name),
      ['probabilities', 'label'],
    );
    assert.deepEqual(header.outputs[1].data, ['sun', 'rain']);
    assert.equal(b.length, r.headerLength! + 16);
  });

  test('round trip of every datatype through the response codec (what the capture side reads)', () => {
    const tensors: Record<string, HostTensor> = {
      b: { type: 'bool', data: Uint8Array.from([1, 0]), dims: [2] },
      u8: { type: 'uint8', data: Uint8Array.from([3, 250]), dims: [2] },
      i8: { type: 'int8', data: Int8Array.from([-3, 4]), dims: [2] },
      u16: { type: 'uint16', data: Uint16Array.from([60000, 1]), dims: [2] },
      i16: { type: 'int16', data: Int16Array.from([-300, 2]), dims: [2] },
      h: { type: 'float16', data: Uint16Array.from([0x3e00, 0xbc00]), dims: [2] },
      u32: { type: 'uint32', data: Uint32Array.from([4e9, 5]), dims: [2] },
      i32: { type: 'int32', data: Int32Array.from([-2e9, 6]), dims: [2] },
      f32: { type: 'float32', data: Float32Array.from([0.1, 3.5]), dims: [2] },
      u64: { type: 'uint64', data: BigUint64Array.from([7n, 2n ** 50n]), dims: [2] },
      i64: { type: 'int64', data: BigInt64Array.from([-7n, 8n]), dims: [2] },
      f64: { type: 'float64', data: Float64Array.from([0.1, -2]), dims: [2] },
      s: { type: 'string', data: ['x', 'ÿz'], dims: [2] },
    };
    const expected: Record<string, unknown[]> = {
      b: [true, false],
      u8: [3, 250],
      i8: [-3, 4],
      u16: [60000, 1],
      i16: [-300, 2],
      h: [1.5, -1],
      u32: [4e9, 5],
      i32: [-2e9, 6],
      f32: [0.1, 3.5],
      u64: [7, 2 ** 50],
      i64: [-7, 8],
      f64: [0.1, -2],
      s: ['x', 'ÿz'],
    };
    const r = encodeOipResponseBytes({ modelName: 'm', modelVersion: '1', id: null, outputs: tensors, only: null, binary: () => true });
    for (const known of [r.headerLength, null]) {
      const back = decodeOipResponseBytes(r.body as Buffer, known);
      assert.ok(back, `decoded with header length ${known}`);
      assert.deepEqual(Object.fromEntries(back.map((o) => [o.name, o.data])), expected);
    }
  });

  test('a captured response whose sizes do not match its bytes is unreadable, not misread', () => {
    const r = encodeOipResponseBytes({ modelName: 'm', modelVersion: '1', id: null, outputs, only: null, binary: () => true });
    const b = r.body as Buffer;
    assert.equal(decodeOipResponseBytes(b.subarray(0, b.length - 1), null), null);
    assert.equal(decodeOipResponseBytes(Buffer.concat([b, Buffer.from([0])]), r.headerLength), null);
  });
});

describe('a captured body without its header (the capture side)', () => {
  test("the JSON is the first value; whitespace between it and the tensors is the JSON's", () => {
    const data = le('FP32', [1.5, 2.5]);
    for (const pad of [0, 3]) {
      const { bytes, headerLength } = body({ inputs: [{ name: 'x', shape: [2], datatype: 'FP32', parameters: { binary_data_size: 8 } }] }, [data], pad);
      const known = decodeOipRequestBytes(bytes, headerLength);
      const inferred = decodeOipRequestBytes(bytes, null, { infer: true });
      assert.deepEqual(inferred.inputs[0]!.flat, known.inputs[0]!.flat);
      assert.deepEqual(inferred.inputs[0]!.flat, [1.5, 2.5]);
    }
  });

  test('a tensor whose bytes begin with whitespace is not taken for padding', () => {
    const data = Buffer.from([0x20, 0x20, 0x0a, 0x09]);
    const { bytes } = body({ inputs: [{ name: 'x', shape: [4], datatype: 'UINT8', parameters: { binary_data_size: 4 } }] }, [data]);
    assert.deepEqual(decodeOipRequestBytes(bytes, null, { infer: true }).inputs[0]!.flat, [0x20, 0x20, 0x0a, 0x09]);
  });

  test('jsonValueEnd skips braces and escaped quotes inside strings', () => {
    const json = '{"a":"}{\\"]","b":[{"c":"\\\\"}]}';
    assert.equal(jsonValueEnd(Buffer.from(json + '\x7d\x00rest')), Buffer.byteLength(json));
    assert.equal(jsonValueEnd(Buffer.from(' {"é":1}xyz')), Buffer.byteLength(' {"é":1}'));
  });
});

describe('float32Decimal', () => {
  test('is the number JSON.parse reads from formatFloat32 (the JSON writer), over random and edge float32s', () => {
    const rnd = mulberry32(24);
    const bits = new Uint32Array(1);
    const f = new Float32Array(bits.buffer);
    const edges = [0, -0, 1, -1, 0.1, 5.1, 1e-7, 3.4028234663852886e38, 1.401298464324817e-45, 1.1754943508222875e-38, 1e-14, 1e22, 123456.7];
    const values = [...edges.map((v) => Math.fround(v))];
    for (let i = 0; i < 100_000; i++) {
      bits[0] = Math.floor(rnd() * 2 ** 32);
      if (Number.isFinite(f[0]!)) values.push(f[0]!);
    }
    for (const v of values) assert.equal(float32Decimal(v), Number(formatFloat32(v)), `float32 ${v}`);
  });
});

describe('hostile binary bodies', () => {
  test('random truncations, extensions, byte flips and header lengths: a 400 or a decode, never another error', () => {
    const rnd = mulberry32(7);
    const s = le('BYTES', ['ab', 'c']);
    const { bytes, headerLength } = body(
      {
        inputs: [
          { name: 'a', shape: [2, 2], datatype: 'FP32', parameters: { binary_data_size: 16 } },
          { name: 's', shape: [2], datatype: 'BYTES', parameters: { binary_data_size: s.length } },
          { name: 'b', shape: [3], datatype: 'BOOL', parameters: { binary_data_size: 3 } },
        ],
        outputs: [{ name: 'y', parameters: { binary_data: true } }],
      },
      [le('FP32', [1, 2, 3, 4]), s, le('BOOL', [true, false, true])],
    );
    let decoded = 0;
    let refused = 0;
    for (let i = 0; i < 5000; i++) {
      let b = Buffer.from(bytes);
      const op = Math.floor(rnd() * 4);
      if (op === 0) b = b.subarray(0, Math.floor(rnd() * b.length));
      else if (op === 1) b = Buffer.concat([b, Buffer.alloc(1 + Math.floor(rnd() * 8), Math.floor(rnd() * 256))]);
      else for (let k = 0; k < 1 + Math.floor(rnd() * 3); k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      const hl = op === 3 ? Math.floor(rnd() * (b.length + 1)) : Math.min(headerLength, b.length);
      for (const run of [() => decodeOipRequestBytes(b, hl), () => decodeOipRequestBytes(b, null, { infer: true })]) {
        try {
          run();
          decoded++;
        } catch (e) {
          assert.ok(e instanceof DriftwatchError && e.status === 400, `mutation ${i}: ${String(e)}`);
          refused++;
        }
      }
      const res = decodeOipResponseBytes(b, null);
      assert.ok(res === null || Array.isArray(res));
    }
    // Both outcomes occur: the mutations are neither all harmless nor all fatal.
    assert.ok(decoded > 0 && refused > 0, `decoded ${decoded}, refused ${refused}`);
  });
});

describe('capture: extract() of binary events', () => {
  const ev = (req: Buffer, res: Buffer, enc = 'identity'): InferenceEvent => ({
    requestId: 'r',
    startedAtMs: 0,
    method: 'POST',
    path: '/v2/models/m/infer',
    model: 'm',
    version: '1',
    route: 'infer',
    status: 200,
    upstreamMs: 1,
    totalMs: 1,
    requestBytes: req.length,
    responseBytes: res.length,
    request: { bytes: req, contentType: 'application/octet-stream', contentEncoding: enc },
    response: { bytes: res, contentType: 'application/octet-stream', contentEncoding: enc },
    skipped: null,
  });
  const x = le('FP32', [0.5, 1.5, 2.5, 3.5]);
  const req = body({ inputs: [{ name: 'x', shape: [2, 2], datatype: 'FP32', parameters: { binary_data_size: 16 } }] }, [x]).bytes;
  const res = encodeOipResponseBytes({
    modelName: 'm',
    modelVersion: '1',
    id: null,
    outputs: {
      y: { type: 'int64', data: BigInt64Array.from([1n, 0n]), dims: [2] },
      p: { type: 'float32', data: Float32Array.from([0.1, 0.9, 0.8, 0.2]), dims: [2, 2] },
    },
    only: null,
    binary: () => true,
  }).body as Buffer;
  const opts = { maxDecompressedBytes: 1 << 20, columnNames: ['a', 'b'] };

  test('features and predictions as the JSON form gives them, also gzip-compressed', () => {
    const jsonReq = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [2, 2], datatype: 'FP32', data: [0.5, 1.5, 2.5, 3.5] }] }));
    const jsonRes = Buffer.from(
      JSON.stringify({
        outputs: [
          { name: 'y', datatype: 'INT64', shape: [2], data: [1, 0] },
          { name: 'p', datatype: 'FP32', shape: [2, 2], data: [0.1, 0.9, 0.8, 0.2] },
        ],
      }),
    );
    const fromJson = extract(ev(jsonReq, jsonRes), opts);
    assert.ok(fromJson.ok);
    assert.deepEqual(fromJson.value.features, [
      { a: 0.5, b: 1.5 },
      { a: 2.5, b: 3.5 },
    ]);
    assert.deepEqual(fromJson.value.predictions, [
      { y: 1, p_0: 0.1, p_1: 0.9 },
      { y: 0, p_0: 0.8, p_1: 0.2 },
    ]);
    for (const e of [ev(req, res), ev(gzipSync(req), gzipSync(res), 'gzip')]) {
      const r = extract(e, opts);
      assert.ok(r.ok, JSON.stringify(r));
      assert.deepEqual(r.value.features, fromJson.value.features);
      assert.deepEqual(r.value.predictions, fromJson.value.predictions);
    }
  });

  test('sizes that do not add up: unreadable, with the reason, never a misread or a throw', () => {
    assert.deepEqual(extract(ev(req.subarray(0, req.length - 1), res), opts), { ok: false, reason: 'unparseable_request' });
    assert.deepEqual(extract(ev(Buffer.concat([req, Buffer.from([0])]), res), opts), { ok: false, reason: 'unparseable_request' });
    assert.deepEqual(extract(ev(req, res.subarray(0, res.length - 2)), opts), { ok: false, reason: 'unparseable_response' });
  });
});
