import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatFloat32, tensorToFlatJson, tensorToJson } from '../../src/protocol/json-out.js';

test('formatFloat32 round-trips every float32 it prints, with at most 9 significant digits', () => {
  // Deterministic pseudo-random bit patterns cover the whole float32 range, subnormals included.
  let x = 0x9e3779b9;
  const bits = new Uint32Array(1);
  const f = new Float32Array(bits.buffer);
  for (let i = 0; i < 200_000; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    bits[0] = x;
    const v = f[0]!;
    const s = formatFloat32(v);
    if (!Number.isFinite(v)) {
      assert.equal(s, 'null');
      continue;
    }
    assert.equal(Math.fround(Number(s)), v, `bits ${x.toString(16)} printed as ${s}`);
    const digits = s.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
    assert.ok(digits.length <= 9, `${s} has more than 9 significant digits`);
  }
});

test('formatFloat32 is as short as the exhaustive toPrecision search', () => {
  const slow = (v: number) => {
    for (let p = 1; p < 9; p++) if (Math.fround(Number(v.toPrecision(p))) === v) return Number(v.toPrecision(p));
    return Number(v.toPrecision(9));
  };
  let x = 12345;
  for (let i = 0; i < 50_000; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    // Values across the magnitudes a model emits: probabilities, scores, large counts.
    const v = Math.fround((x / 2 ** 32 - 0.5) * 10 ** ((i % 30) - 12));
    assert.equal(Number(formatFloat32(v)), slow(v), `value ${v}`);
  }
});

test('formatFloat32 prints the shortest form: 0.9f is "0.9", not 0.8999999761581421', () => {
  assert.equal(formatFloat32(Math.fround(0.9)), '0.9');
  assert.equal(formatFloat32(Math.fround(0.1)), '0.1');
  assert.equal(formatFloat32(Math.fround(1 / 3)), '0.33333334');
  assert.equal(formatFloat32(0), '0');
  assert.equal(formatFloat32(Math.fround(-2.5)), '-2.5');
});

test('tensors print as nested or flat JSON, int64 and strings included', () => {
  assert.equal(tensorToJson({ type: 'float32', data: Float32Array.from([0.5, 1, 2, 3]), dims: [2, 2] }), '[[0.5,1],[2,3]]');
  assert.equal(tensorToJson({ type: 'int64', data: BigInt64Array.from([1n, -2n]), dims: [2] }), '[1,-2]');
  assert.equal(tensorToJson({ type: 'string', data: ['a"b', 'c'], dims: [2] }), '["a\\"b","c"]');
  assert.equal(tensorToFlatJson({ type: 'float64', data: Float64Array.from([NaN, 1.25]), dims: [1, 2] }), '[null,1.25]');
  assert.equal(tensorToJson({ type: 'bool', data: Uint8Array.from([1, 0]), dims: [2] }), '[true,false]');
});

test('float16 outputs are decoded from their bit patterns', async () => {
  const { halfToNumber } = await import('../../src/protocol/json-out.js');
  assert.deepEqual([0x3c00, 0x4100, 0xbc00, 0x0000, 0x7bff, 0x0001].map(halfToNumber), [1, 2.5, -1, 0, 65504, 2 ** -24]);
  assert.equal(tensorToJson({ type: 'float16', data: Uint16Array.from([0x3c00, 0x4100]), dims: [2] }), '[1,2.5]');
});
