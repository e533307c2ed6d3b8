/** The columnar batch the proxy's drain sends to the capture worker: a lossless round trip. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { packBatch, unpackEvent } from '../../src/capture/event-columns.js';
import type { InferenceEvent } from '../../src/capture/inference-event.js';

function event(i: number, over: Partial<InferenceEvent> = {}): InferenceEvent {
  return {
    requestId: `id-${i}`,
    startedAtMs: 1_764_000_000_000 + i,
    method: 'POST',
    path: i % 2 ? '/invocations' : '/v2/models/m/infer',
    model: i % 3 ? 'm' : null,
    version: i % 4 ? String(i % 4) : null,
    route: i % 2 ? 'invocations' : 'infer',
    status: 200 + (i % 3) * 100,
    upstreamMs: i * 0.125,
    totalMs: i * 0.25,
    requestBytes: i * 10,
    responseBytes: i * 11,
    request: { bytes: Buffer.from(`{"req":${i}}`), contentType: 'application/json', contentEncoding: 'identity' },
    response: { bytes: Buffer.from(`{"res":${i}}`), contentType: 'application/json; charset=utf-8', contentEncoding: i % 5 ? 'identity' : 'gzip' },
    skipped: null,
    ...over,
  };
}

test('every field and body survives packBatch/unpackEvent; bodies are views into the one buffer', () => {
  const batch = [
    ...Array.from({ length: 40 }, (_, i) => event(i)),
    event(40, { request: null, response: null, skipped: 'sampled_out' }),
    event(41, { request: { bytes: Buffer.alloc(0), contentType: '', contentEncoding: 'identity' }, skipped: null }),
    event(42, { route: 'other', model: null, version: null, request: null, response: null, skipped: 'aborted', status: 0 }),
    event(43, { requestId: 'ünïcödé-☃', path: '/v2/models/%E2%98%83/infer', model: '☃', skipped: 'too_large', request: null, response: null }),
  ];
  const { packed, bodies } = packBatch(batch);
  assert.equal(packed.n, batch.length);
  const total = batch.reduce((a, e) => a + (e.request?.bytes.length ?? 0) + (e.response?.bytes.length ?? 0), 0);
  assert.equal(bodies.byteLength, total);
  // Repeating strings are sent once: the dictionary holds each distinct one exactly once.
  const distinct = new Set<string>();
  for (const e of batch) {
    for (const v of [e.method, e.path, e.model, e.version, e.route, e.skipped]) if (v !== null) distinct.add(v);
    for (const b of [e.request, e.response]) if (b !== null) distinct.add(b.contentType).add(b.contentEncoding);
  }
  assert.deepEqual([...packed.dict].sort(), [...distinct].sort());
  // What crosses the thread boundary is a structured clone: round-trip through one.
  const cloned = structuredClone({ packed, bodies }, { transfer: [bodies] });
  for (let i = 0; i < batch.length; i++) {
    const got = unpackEvent(cloned.packed, i, cloned.bodies);
    const want = batch[i]!;
    assert.deepEqual({ ...got, request: null, response: null }, { ...want, request: null, response: null }, `event ${i}`);
    for (const side of ['request', 'response'] as const) {
      const g = got[side];
      const w = want[side];
      if (w === null) assert.equal(g, null, `event ${i} ${side}`);
      else {
        assert.ok(g !== null);
        assert.ok(g.bytes.equals(w.bytes), `event ${i} ${side} bytes`);
        assert.equal(g.bytes.buffer, cloned.bodies, 'a view, not a copy');
        assert.equal(g.contentType, w.contentType);
        assert.equal(g.contentEncoding, w.contentEncoding);
      }
    }
  }
});

test('an empty batch packs to an empty buffer', () => {
  const { packed, bodies } = packBatch([]);
  assert.equal(packed.n, 0);
  assert.equal(bodies.byteLength, 0);
});
