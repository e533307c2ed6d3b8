/**
 * A batch of InferenceEvents in columns, for the hop to the capture worker thread. Pure: no I/O.
 *
 * Why columns: postMessage structured-clones what it is given. An array of event objects costs
 * about 2.6 us per event to serialize and deserialize (a 512-event batch, measured with
 * structuredClone). One Float64Array, a list of request ids and a small dictionary of the strings
 * that repeat (method, path, model, version, route, content types) cost about 0.55 us. Both
 * threads pay half of it, and the proxy's JS thread is the one every request waits on.
 *
 * Bodies go into one ArrayBuffer that is transferred, not copied (a Buffer's clone would copy its
 * whole backing store, often a 64 KiB socket slab).
 */
import type { InferenceEvent, TappedBody } from './inference-event.js';

/** Numbers per event in `nums`. Strings are dictionary codes (-1: null). */
const F_STARTED = 0;
const F_STATUS = 1;
const F_UPSTREAM_MS = 2;
const F_TOTAL_MS = 3;
const F_REQ_BYTES = 4;
const F_RES_BYTES = 5;
const F_METHOD = 6;
const F_PATH = 7;
const F_MODEL = 8;
const F_VERSION = 9;
const F_ROUTE = 10;
const F_SKIPPED = 11;
// Per body (request, then response): offset (-1: no body), length, content type, content encoding.
const F_REQ = 12;
const F_RES = 16;
export const FIELDS = 20;

export interface PackedBatch {
  n: number;
  nums: Float64Array;
  /** Request ids, one per event (unique, so not in the dictionary). */
  ids: string[];
  dict: string[];
}

class Dictionary {
  readonly values: string[] = [];
  private readonly codes = new Map<string, number>();
  code(s: string | null): number {
    if (s === null) return -1;
    let c = this.codes.get(s);
    if (c === undefined) {
      c = this.values.length;
      this.values.push(s);
      this.codes.set(s, c);
    }
    return c;
  }
}

/** Packs events and copies their bodies into one fresh ArrayBuffer (to be transferred). */
export function packBatch(batch: readonly InferenceEvent[]): { packed: PackedBatch; bodies: ArrayBuffer } {
  const n = batch.length;
  let total = 0;
  for (const e of batch) total += (e.request?.bytes.length ?? 0) + (e.response?.bytes.length ?? 0);
  const bodies = new ArrayBuffer(total);
  const u8 = new Uint8Array(bodies);
  const nums = new Float64Array(n * FIELDS);
  const ids: string[] = new Array(n);
  const dict = new Dictionary();
  let offset = 0;
  const body = (b: TappedBody | null, at: number): void => {
    if (b === null) {
      nums[at] = -1;
      return;
    }
    u8.set(b.bytes, offset);
    nums[at] = offset;
    nums[at + 1] = b.bytes.length;
    nums[at + 2] = dict.code(b.contentType);
    nums[at + 3] = dict.code(b.contentEncoding);
    offset += b.bytes.length;
  };
  for (let i = 0; i < n; i++) {
    const e = batch[i]!;
    const at = i * FIELDS;
    ids[i] = e.requestId;
    nums[at + F_STARTED] = e.startedAtMs;
    nums[at + F_STATUS] = e.status;
    nums[at + F_UPSTREAM_MS] = e.upstreamMs;
    nums[at + F_TOTAL_MS] = e.totalMs;
    nums[at + F_REQ_BYTES] = e.requestBytes;
    nums[at + F_RES_BYTES] = e.responseBytes;
    nums[at + F_METHOD] = dict.code(e.method);
    nums[at + F_PATH] = dict.code(e.path);
    nums[at + F_MODEL] = dict.code(e.model);
    nums[at + F_VERSION] = dict.code(e.version);
    nums[at + F_ROUTE] = dict.code(e.route);
    nums[at + F_SKIPPED] = dict.code(e.skipped);
    body(e.request, at + F_REQ);
    body(e.response, at + F_RES);
  }
  return { packed: { n, nums, ids, dict: dict.values }, bodies };
}

/** Event i of a packed batch; its bodies are views into `bodies`, not copies. */
export function unpackEvent(p: PackedBatch, i: number, bodies: ArrayBuffer): InferenceEvent {
  const nums = p.nums;
  const dict = p.dict;
  const at = i * FIELDS;
  const str = (f: number): string | null => (nums[at + f]! < 0 ? null : dict[nums[at + f]!]!);
  const body = (f: number): TappedBody | null =>
    nums[at + f]! < 0 ? null : { bytes: Buffer.from(bodies, nums[at + f]!, nums[at + f + 1]!), contentType: str(f + 2)!, contentEncoding: str(f + 3)! };
  return {
    requestId: p.ids[i]!,
    startedAtMs: nums[at + F_STARTED]!,
    method: str(F_METHOD)!,
    path: str(F_PATH)!,
    model: str(F_MODEL),
    version: str(F_VERSION),
    route: str(F_ROUTE) as InferenceEvent['route'],
    status: nums[at + F_STATUS]!,
    upstreamMs: nums[at + F_UPSTREAM_MS]!,
    totalMs: nums[at + F_TOTAL_MS]!,
    requestBytes: nums[at + F_REQ_BYTES]!,
    responseBytes: nums[at + F_RES_BYTES]!,
    request: body(F_REQ),
    response: body(F_RES),
    skipped: str(F_SKIPPED) as InferenceEvent['skipped'],
  };
}
