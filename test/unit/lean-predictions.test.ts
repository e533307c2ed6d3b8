/**
 * protocol/lean-predictions.ts against JSON.parse, on generated MLflow answers, valid and
 * near-valid: when the lean reader returns a table, JSON.parse reads the same bytes as the same
 * rows of the same values (numbers compared with Object.is, so -0 and every bit counts); when
 * JSON.parse refuses the bytes, the lean reader returns null. Seeded: the same cases every run.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type NumberScan, scanJsonNumber } from '../../src/protocol/decimal.js';
import { decodeLeanMlflowJson } from '../../src/protocol/lean-mlflow-json.js';
import { type LeanPredictions, readLeanPredictions } from '../../src/protocol/lean-predictions.js';
import { mulberry32, normal } from '../prng.js';

/**
 * Numbers as writers print them: short decimals, 17 digits (float64 of a float32), exponents, -0.
 * `long` is the share of those the lean reader leaves to JSON.parse (more than 15 digits, far exponents).
 */
function anyNumberText(r: () => number, long = 1): string {
  const u = r() < long ? r() : r() * 0.35;
  if (u < 0.15) return String(Math.floor(r() * 200) - 100);
  if (u < 0.35) return (r() * 10 - 5).toFixed(1 + Math.floor(r() * 6));
  if (u < 0.6) return String(Math.fround(r()));
  if (u < 0.75) return String(normal(r) * 10 ** Math.floor(r() * 40 - 20));
  if (u < 0.85) {
    const e = Math.floor(r() * 60) - 30;
    return `${(r() * 9).toFixed(Math.floor(r() * 20))}${r() < 0.5 ? 'e' : 'E'}${e >= 0 && r() < 0.3 ? '+' : ''}${e}`;
  }
  if (u < 0.9) return `${Math.floor(r() * 1e6)}${'0'.repeat(Math.floor(r() * 18))}`;
  if (u < 0.95) return '-0';
  return ['0.1e400', '1e-400', '123456789012345678901234567890', '0.000000000000000000000000000000000012345678901234567'][Math.floor(r() * 4)]!;
}

const LABELS = ['rain', 'sun', 'fog', 'né', 'a"b'];
const ws = (r: () => number) => (r() < 0.15 ? [' ', '\n', '\t ', '\r\n'][Math.floor(r() * 4)]! : '');

function answer(r: () => number): string {
  const rows = 1 + Math.floor(r() * 30);
  const width = 1 + Math.floor(r() * 5);
  // Mostly short numbers, so that most valid answers are lean tables; sometimes a long one.
  const long = r() < 0.2 ? 1 : 0.002;
  const numberText = (r: () => number) => anyNumberText(r, long);
  const list = (n: number) => `[${ws(r)}${Array.from({ length: n }, () => numberText(r)).join(`,${ws(r)}`)}]`;
  const str = () => (r() < 0.1 ? JSON.stringify(LABELS[Math.floor(r() * LABELS.length)]) : `"${LABELS[Math.floor(r() * 3)]}"`);
  const keys = Array.from({ length: 1 + Math.floor(r() * 4) }, (_, j) => (r() < 0.05 ? 'k' : r() < 0.05 ? '__proto__' : `k${j}`));
  const kinds = keys.map(() => Math.floor(r() * 4));
  const value = (kind: number) => (kind === 0 ? numberText(r) : kind === 1 ? str() : kind === 2 ? list(width) : r() < 0.5 ? 'true' : 'false');
  const shape = Math.floor(r() * 5);
  const row = () => {
    switch (shape) {
      case 0:
        return numberText(r);
      case 1:
        return str();
      case 2:
        return list(width);
      default:
        return `{${ws(r)}${keys.map((k, j) => `"${k}"${ws(r)}:${ws(r)}${value(kinds[j]!)}`).join(`,${ws(r)}`)}}`;
    }
  };
  let rowsText = Array.from({ length: rows }, row);
  // Near-valid: one thing off somewhere (some of these are still JSON, read generically).
  if (r() < 0.35) {
    const i = Math.floor(r() * rows);
    const odd = ['null', '01', '1.', '-', '1e', '[1,[2]]', '{}', '"a\\"b"', '"x\u0001"', 'NaN', '{"k0":1,"k0":2}', '[]', 'tru', '{"zz":1}', '1 2'];
    rowsText[i] = odd[Math.floor(r() * odd.length)]!;
  }
  if (r() < 0.05) rowsText = [];
  const arr = `[${ws(r)}${rowsText.join(`,${ws(r)}`)}${ws(r)}]`;
  const u = r();
  if (u < 0.6) return `${ws(r)}{${ws(r)}"predictions"${ws(r)}:${ws(r)}${arr}${ws(r)}}${ws(r)}`;
  if (u < 0.85) return arr;
  if (u < 0.9) return `{"predictions":${arr},"extra":1}`;
  if (u < 0.95) return `{"predictions":${arr}}x`;
  return `{"predictions":${arr.slice(0, -1)}`;
}

/** The table's row i as JSON.parse would show it. */
function rowOf(t: LeanPredictions, i: number): unknown {
  const one = (o: LeanPredictions['outputs'][number]) =>
    o.kind === 'cells'
      ? o.cells[i]
      : o.vector
        ? Array.from({ length: o.width }, (_, e) => t.values[i * t.stride + o.offset + e])
        : t.values[i * t.stride + o.offset];
  if (!t.keyed) return one(t.outputs[0]!);
  const row: Record<string, unknown> = {};
  for (const o of t.outputs) Object.defineProperty(row, o.name, { value: one(o), enumerable: true, writable: true, configurable: true });
  return row;
}

test('the lean reading of an answer is JSON.parse reading of it, or null', () => {
  const r = mulberry32(2024);
  let tables = 0;
  let refused = 0;
  let invalid = 0;
  for (let c = 0; c < 4000; c++) {
    const text = answer(r);
    let parsed: unknown;
    let ok = true;
    try {
      parsed = JSON.parse(text);
    } catch {
      ok = false;
    }
    const t = readLeanPredictions(Buffer.from(text));
    if (!ok) {
      invalid++;
      assert.equal(t, null, `lean read invalid JSON: ${text}`);
      continue;
    }
    if (t === null) {
      refused++;
      continue;
    }
    tables++;
    const p = Array.isArray(parsed) ? parsed : (parsed as { predictions: unknown[] }).predictions;
    assert.ok(Array.isArray(p), text);
    assert.equal(t.rows, p.length, text);
    for (let i = 0; i < p.length; i++) assert.deepStrictEqual(rowOf(t, i), p[i], `row ${i} of ${text}`);
    if (!Array.isArray(parsed)) assert.deepStrictEqual(Object.keys(parsed as object), ['predictions']);
  }
  // Each kind of case must occur, or the test shows nothing.
  assert.ok(tables > 1000 && refused > 200 && invalid > 200, `tables ${tables}, refused ${refused}, invalid ${invalid}`);
});

test('numbers are read as the exact doubles JSON.parse reads, or left to it', () => {
  const r = mulberry32(99);
  let read = 0;
  for (let c = 0; c < 20000; c++) {
    const text = anyNumberText(r);
    const t = readLeanPredictions(Buffer.from(`{"predictions":[${text}]}`));
    if (t === null) continue;
    read++;
    assert.ok(Object.is(t.values[0], JSON.parse(text)), `${text}: ${t.values[0]} vs ${JSON.parse(text)}`);
  }
  assert.ok(read > 12000, `read ${read} of 20000`);
  assert.ok(Object.is(readLeanPredictions(Buffer.from('[0.20000000298023224]'))?.values[0], 0.20000000298023224));
  assert.ok(Object.is(readLeanPredictions(Buffer.from('[-0]'))?.values[0], -0));
  // More than 20 significant digits: read by Number() on the token, exactly as JSON.parse does.
  assert.ok(Object.is(readLeanPredictions(Buffer.from('[0.123456789012345678901]'))?.values[0], 0.123456789012345678901));
});

test('far exponents (a float32 softmax prints 2.039757e-18) are read, not left to JSON.parse; an answer of mostly such numbers is', () => {
  // What driftwatch serve answers for the example model: one tiny probability in a row made the
  // whole 100-row answer go to JSON.parse in the sidecar's capture worker before.
  const row = (i: number) => `{"label":"rain","probabilities":[2.3764234e-13,4.6434514e-12,0.8091506,0.19084948,${i + 2}.039757e-18]}`;
  const answer = `{"predictions":[${Array.from({ length: 100 }, (_, i) => row(i % 7)).join(',')}]}`;
  const t = readLeanPredictions(Buffer.from(answer));
  assert.ok(t !== null, 'a 100-row answer with far exponents is read lean');
  const expected = (JSON.parse(answer) as { predictions: Array<{ probabilities: number[] }> }).predictions.flatMap((p) => p.probabilities);
  const got = t.values.filter((v) => typeof v === 'number');
  assert.deepEqual(got, expected);
  // Beyond a quarter of the numbers (and more than 16), the string per number costs more than JSON.parse.
  const many = `[${Array.from({ length: 64 }, (_, i) => `${i + 1}.5e-30`).join(',')}]`;
  assert.equal(readLeanPredictions(Buffer.from(many)), null);
});

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);

/**
 * The midpoint between x and the next double up, exactly in decimal (BigInt), cut to `digits`
 * significant digits and moved by adj in the last one: the decimals whose rounding is hardest.
 */
function nearMidpoint(x: number, digits: number, adj: number): string {
  f64[0] = x;
  const bits = u64[0]!;
  const exp = Number((bits >> 52n) & 0x7ffn) - 1075;
  const mant = (bits & ((1n << 52n) - 1n)) | (1n << 52n);
  const e2 = exp - 1; // the midpoint is (2 mant + 1) * 2^e2
  const all = e2 < 0 ? ((2n * mant + 1n) * 5n ** BigInt(-e2)).toString() : ((2n * mant + 1n) * 2n ** BigInt(e2)).toString();
  const cut = all.slice(0, digits);
  return `${BigInt(cut) + BigInt(adj)}e${(e2 < 0 ? e2 : 0) + all.length - cut.length}`;
}

test('16 to 20 digit decimals, near midpoints between doubles too, are read exactly or left to JSON.parse', () => {
  const r = mulberry32(5);
  let read = 0;
  let slow = 0;
  const out: NumberScan = { end: 0, value: 0 };
  const n = 100000;
  for (let c = 0; c < n; c++) {
    const x = (r() + 0.5) * 2 ** (Math.floor(r() * 60) - 40);
    const u = r();
    const text = u < 0.2 ? String(x) : u < 0.4 ? x.toPrecision(16 + Math.floor(r() * 5)) : nearMidpoint(x, 16 + Math.floor(r() * 5), Math.floor(r() * 3) - 1);
    // The shared reader (protocol/decimal.ts) itself: the exact double, or NaN for Number().
    assert.ok(scanJsonNumber(Buffer.from(text), 0, out) && out.end === text.length, text);
    if (Number.isNaN(out.value)) slow++;
    else assert.ok(Object.is(out.value, Number(text)), `${text}: ${out.value} vs ${Number(text)}`);
    // The MLflow request reader shares it, and falls back to Number() where it says NaN.
    const f = decodeLeanMlflowJson(Buffer.from(`{"instances":[${text}]}`));
    assert.ok(f !== null && Object.is(f.frame.values[0], JSON.parse(text)), `${text}: ${f?.frame.values[0]} vs ${JSON.parse(text)}`);
    const t = readLeanPredictions(Buffer.from(`[${text}]`));
    if (t === null) continue;
    read++;
    assert.ok(Object.is(t.values[0], JSON.parse(text)), `${text}: ${t.values[0]} vs ${JSON.parse(text)}`);
  }
  assert.ok(read > n / 2, `read ${read} of ${n}`);
  assert.equal(read, n, 'the answer reader reads every number, by Number() on its text where the shared reader cannot be sure');
  assert.ok(slow > 0, 'some of the numbers needed Number()');
});
