/**
 * Thousands of generated bad payloads (seeded, so a failure replays): truncated, byte-flipped,
 * wrongly typed, deeply nested, huge, non-JSON, wrong content types, malformed HTTP. Each must get
 * an answer below 500 with a JSON error body, and the server must keep answering valid requests.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join } from 'node:path';
import { RawConn } from '../fixtures/raw-http.js';
import { EXAMPLE_MODEL_DIR, FEATURES, startServer, tempDir, type RunningServer } from '../helpers.js';

const tmp = tempDir();
let srv: RunningServer;
before(async () => {
  srv = await startServer({
    registryRoot: join(tmp.dir, 'reg'),
    models: [{ uri: EXAMPLE_MODEL_DIR, name: 'weather' }],
    serve: { maxBodyBytes: 256 * 1024 },
    admin: { enabled: false },
  });
});
after(async () => {
  await srv?.close();
  tmp.cleanup();
});

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

const VALID: unknown[] = [
  {
    dataframe_split: {
      columns: FEATURES,
      data: [
        [0, 12.8, 5, 4.7],
        [10.9, 10.6, 2.8, 4.5],
      ],
    },
  },
  { dataframe_records: [{ precipitation: 0, temp_max: 12.8, temp_min: 5, wind: 4.7 }] },
  { instances: [[0, 12.8, 5, 4.7]] },
  { inputs: { precipitation: [0], temp_max: [12.8], temp_min: [5], wind: [4.7] } },
];
const OIP_VALID = { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [0, 12.8, 5, 4.7] }] };
const WEIRD: unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1e308,
  -0,
  '',
  'x',
  '1.5',
  'NaN',
  [],
  {},
  [[]],
  [null],
  { a: 1 },
  'a'.repeat(1000),
  [1, [2, [3]]],
  -9007199254740993,
];

function mutate(value: unknown, r: () => number, depth = 0): unknown {
  if (depth > 6 || r() < 0.15) return WEIRD[Math.floor(r() * WEIRD.length)];
  if (Array.isArray(value)) {
    const out = value.map((v) => (r() < 0.3 ? mutate(v, r, depth + 1) : v));
    if (r() < 0.2) out.push(WEIRD[Math.floor(r() * WEIRD.length)]);
    if (r() < 0.2) out.pop();
    return out;
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (r() < 0.1) continue; // drop a key
      out[r() < 0.05 ? k + '_x' : k] = r() < 0.4 ? mutate(v, r, depth + 1) : v;
    }
    if (r() < 0.1) out[['params', 'inputs', 'instances', 'columns', 'data', 'shape', 'datatype'][Math.floor(r() * 7)]!] = WEIRD[Math.floor(r() * WEIRD.length)];
    return out;
  }
  return WEIRD[Math.floor(r() * WEIRD.length)];
}

function badBody(i: number, r: () => number): { path: string; type: string; body: string | Buffer } {
  const oip = i % 3 === 0;
  const path = oip ? '/v2/models/weather/infer' : '/invocations';
  const base = JSON.stringify(oip ? OIP_VALID : VALID[i % VALID.length]);
  const kind = i % 9;
  switch (kind) {
    case 0:
      return { path, type: 'application/json', body: base.slice(0, Math.floor(r() * base.length)) }; // truncated
    case 1: {
      const b = Buffer.from(base);
      for (let k = 0; k < 3; k++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
      return { path, type: 'application/json', body: b };
    }
    case 2:
      return { path, type: 'application/json', body: '['.repeat(5000 + Math.floor(r() * 50_000)) + ']'.repeat(10) };
    case 3:
      return {
        path,
        type: 'text/csv',
        body: Array.from({ length: 1 + Math.floor(r() * 5) }, () =>
          Array.from({ length: Math.floor(r() * 6) }, () => (r() < 0.5 ? '"' : 'x,1')).join(','),
        ).join('\n'),
      };
    case 4:
      return { path, type: ['text/plain', 'application/xml', '', 'application/x-www-form-urlencoded'][Math.floor(r() * 4)]!, body: base };
    case 5:
      return { path, type: 'application/json', body: Buffer.from(Array.from({ length: 64 }, () => Math.floor(r() * 256))) };
    case 6: {
      // Deep nesting that JSON.parse accepts: the server must not recurse on it.
      let v: unknown = [0, 1, 2, 3];
      for (let k = 0; k < 2000; k++) v = [v];
      return {
        path,
        type: 'application/json',
        body: JSON.stringify(oip ? { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: v }] } : { instances: v }),
      };
    }
    case 7:
      return { path, type: 'application/json', body: JSON.stringify({ instances: Array.from({ length: 20_000 }, () => [1, 2, 3]) }) }; // valid JSON, wrong width, biggish
    default:
      return { path, type: 'application/json', body: JSON.stringify(mutate(oip ? OIP_VALID : VALID[i % VALID.length], r)) };
  }
}

test('thousands of bad payloads get 4xx JSON errors and the server stays up', async () => {
  const r = rng(20261128);
  const statuses = new Map<number, number>();
  const N = 3000;
  let i = 0;
  const worker = async () => {
    while (i < N) {
      const k = i++;
      const { path, type, body } = badBody(k, r);
      const headers: Record<string, string> = type ? { 'content-type': type } : {};
      const res = await fetch(srv.url + path, { method: 'POST', headers, body });
      const text = await res.text();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      assert.ok(res.status < 500, `payload ${k} (${path}) got ${res.status}: ${text.slice(0, 300)}`);
      if (res.status >= 400) {
        const json = JSON.parse(text);
        const msg = path.startsWith('/v2') ? json.error : json.message;
        assert.equal(typeof msg, 'string', `payload ${k}: error body without a message: ${text.slice(0, 200)}`);
        assert.ok(msg.length > 0);
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  const errors = [...statuses].filter(([s]) => s >= 400).reduce((a, [, n]) => a + n, 0);
  assert.ok(errors > N * 0.8, `most generated payloads are bad: ${JSON.stringify([...statuses])}`);
  const ok = await fetch(srv.url + '/invocations', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(VALID[0]) });
  assert.equal(ok.status, 200);
});

test('hostile but valid JSON: a flood of distinct keys, prototype-named keys, lying shapes', async () => {
  const flood = JSON.stringify({ dataframe_records: Array.from({ length: 15_000 }, (_, i) => ({ ['k' + i]: 0 })) });
  const cases: Array<[string, string]> = [
    ['/invocations', flood],
    ['/invocations', JSON.stringify({ instances: Array.from({ length: 15_000 }, (_, i) => ({ ['k' + i]: 0 })) })],
    ['/invocations', '{"dataframe_records":[{"__proto__":1,"toString":2}]}'],
    ['/invocations', '{"inputs":{"__proto__":[1],"constructor":[2]}}'],
    ['/v2/models/weather/infer', '{"inputs":[{"name":"__proto__","shape":[1],"datatype":"FP32","data":[1]}]}'],
    // Values nested deeper than JSON.stringify can recurse, inside a cell (issue 18 item 2).
    ...[5000, 40_000].flatMap(
      (d): Array<[string, string]> => [
        ['/invocations', `{"dataframe_records":[{"precipitation":${'['.repeat(d)}1${']'.repeat(d)},"temp_max":1,"temp_min":1,"wind":1}]}`],
        ['/invocations', `{"dataframe_split":{"columns":${JSON.stringify(FEATURES)},"data":[[${'{"a":'.repeat(d)}1${'}'.repeat(d)},1,1,1]]}}`],
      ],
    ),
  ];
  for (const [path, body] of cases) {
    const res = await fetch(srv.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const text = await res.text();
    assert.equal(res.status, 400, `${body.slice(0, 80)} -> ${res.status} ${text.slice(0, 200)}`);
    assert.ok(text.length < 4096, `error body stays small (${text.length} bytes)`);
  }
  // Non-finite and overlong numbers (issue 18 item 7c) are cast as MLflow casts them (Python's
  // float(): issue 19, never refuse what MLflow accepts) and scored; docs/bad-input.md says so.
  for (const body of [
    '{"dataframe_records":[{"precipitation":"NaN","temp_max":1,"temp_min":1,"wind":1}]}',
    '{"instances":[[0,1e999,5,4.7]]}',
    `{"instances":[[0,"${'7'.repeat(200_000)}",5,4.7]]}`,
  ]) {
    const res = await fetch(`${srv.url}/invocations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const json = (await res.json()) as { predictions?: unknown[] };
    assert.equal(res.status, 200, `${body.slice(0, 60)}: ${JSON.stringify(json).slice(0, 200)}`);
    assert.equal(json.predictions?.length, 1);
  }
  assert.equal((await fetch(srv.url + '/ping')).status, 200);
});

test('malformed HTTP gets a 400 and does not disturb the server', async () => {
  const port = Number(new URL(srv.url).port);
  for (const raw of [
    'GARBAGE\r\n\r\n',
    'POST /invocations HTTP/1.1\r\nContent-Length: abc\r\n\r\n',
    'POST /invocations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
  ]) {
    const c = await RawConn.open(port);
    // write, not end: a half-closed client cannot read the answer on every path
    c.write(raw);
    const reply = (await c.readToClose({ timeoutMs: 5000 })).toString('latin1');
    c.destroy();
    assert.match(reply, /^HTTP\/1\.1 4\d\d /, JSON.stringify(raw));
  }
  const ok = await fetch(srv.url + '/ping');
  assert.equal(ok.status, 200);
});
