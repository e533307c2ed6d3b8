/**
 * A batch of shadowed requests in columns, for the hop to the capture worker thread, as
 * event-columns.ts packs the capture's events and for the same reason (a structured clone of a
 * Buffer copies its whole backing store, often a 64 KiB socket slab; objects cost per field): the
 * champions' events go through packBatch, the challengers' answers into a second transferred
 * ArrayBuffer with their few fields in one Float64Array and a string list. Pure: no I/O.
 */
import { type PackedBatch, packBatch, unpackEvent } from './event-columns.js';
import type { TappedBody } from './inference-event.js';
import type { ShadowedRequest } from './shadow-pair.js';

/** Numbers per answer in `nums` (-1: null): the pair's time, status, latency, body offset and length. */
const A_AT = 0;
const A_STATUS = 1;
const A_LATENCY = 2;
const A_OFFSET = 3;
const A_LENGTH = 4;
const A_FIELDS = 5;
/** Strings per answer in `strs`: version, error, content type, content encoding. */
const S_FIELDS = 4;

export interface PackedShadows {
  events: PackedBatch;
  /** The champions' request and answer bodies (transferred). */
  bodies: ArrayBuffer;
  nums: Float64Array;
  strs: Array<string | null>;
  /** The challengers' answer bodies (transferred). */
  answers: ArrayBuffer;
}

export function packShadows(batch: readonly ShadowedRequest[]): PackedShadows {
  const { packed, bodies } = packBatch(batch.map((s) => s.event));
  let total = 0;
  for (const s of batch) total += s.challenger.response?.bytes.length ?? 0;
  const answers = new ArrayBuffer(total);
  const u8 = new Uint8Array(answers);
  const nums = new Float64Array(batch.length * A_FIELDS);
  const strs: Array<string | null> = new Array(batch.length * S_FIELDS);
  let offset = 0;
  for (let i = 0; i < batch.length; i++) {
    const c = batch[i]!.challenger;
    const at = i * A_FIELDS;
    nums[at + A_AT] = batch[i]!.atMs;
    nums[at + A_STATUS] = c.status ?? -1;
    nums[at + A_LATENCY] = c.latencyMs ?? -1;
    const r = c.response;
    if (r === null) nums[at + A_OFFSET] = -1;
    else {
      u8.set(r.bytes, offset);
      nums[at + A_OFFSET] = offset;
      nums[at + A_LENGTH] = r.bytes.length;
      offset += r.bytes.length;
    }
    const st = i * S_FIELDS;
    strs[st] = c.version;
    strs[st + 1] = c.error;
    strs[st + 2] = r?.contentType ?? null;
    strs[st + 3] = r?.contentEncoding ?? null;
  }
  return { events: packed, bodies, nums, strs, answers };
}

/** Shadowed request i of a packed batch; its bodies are views into the transferred buffers, not copies. */
export function unpackShadow(p: PackedShadows, i: number): ShadowedRequest {
  const at = i * A_FIELDS;
  const st = i * S_FIELDS;
  const n = p.nums;
  const response: TappedBody | null =
    n[at + A_OFFSET]! < 0
      ? null
      : { bytes: Buffer.from(p.answers, n[at + A_OFFSET]!, n[at + A_LENGTH]!), contentType: p.strs[st + 2]!, contentEncoding: p.strs[st + 3]! };
  return {
    event: unpackEvent(p.events, i, p.bodies),
    atMs: n[at + A_AT]!,
    challenger: {
      status: n[at + A_STATUS]! < 0 ? null : n[at + A_STATUS]!,
      response,
      version: p.strs[st] ?? null,
      latencyMs: n[at + A_LATENCY]! < 0 ? null : n[at + A_LATENCY]!,
      error: p.strs[st + 1] ?? null,
    },
  };
}
