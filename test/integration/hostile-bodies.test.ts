/**
 * The standing hostile-input suite (issue 18), body level: every prediction endpoint of the scoring
 * server (/invocations as JSON and CSV, /v2/models/{name}[/versions/{v}]/infer), directly and
 * through the proxy on both engines, with JSON nested 10,000 and 100,000 levels deep, invalid
 * UTF-8, prototype-named keys and names, and NaN / Infinity / huge numbers. Each row of
 * test/hostile/cases.ts (BODY_CASES) expects a 4xx JSON answer in the route's protocol with the
 * connection kept usable (but the non-finite numbers MLflow scores, which are scored: 200 for one
 * row), while a well-formed request on another connection gets its exact 200.
 * HTTP-level cases: hostile-input.test.ts. Limits and behaviour: docs/bad-input.md.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { destroyAllRawConns, RawConn, rawRequest } from '../fixtures/raw-http.js';
import { BODY_CASES, DATA_PORTS } from '../hostile/cases.js';
import { attempt, judge } from '../hostile/run-case.js';
import { startTargets, type Targets } from '../hostile/targets.js';

let targets: Targets;
before(async () => {
  targets = await startTargets();
});
after(async () => {
  destroyAllRawConns();
  await targets?.close();
});

for (const kind of [...new Set(BODY_CASES.map((c) => c.kind))]) {
  describe(`hostile bodies: ${kind}`, () => {
    for (const c of BODY_CASES.filter((x) => x.kind === kind)) {
      for (const port of DATA_PORTS) {
        const expect = c.expect[port];
        if (expect === undefined) continue;
        test(`${port}: ${c.name}`, { timeout: 20_000 }, async () => {
          judge(await attempt(targets, port, c.steps(port), 'POST', expect), expect, `${port}: ${c.name}`);
          await targets.wellFormed(port);
        });
      }
    }
  });
}

/** One JSON POST on its own connection: status and body text. */
async function post(port: number, path: string, body: string): Promise<{ status: number; body: string }> {
  const c = await RawConn.open(port);
  try {
    c.write(rawRequest('POST', path, { headers: { 'Content-Type': 'application/json' }, body: Buffer.from(body, 'utf8') }));
    const r = await c.response('POST');
    return { status: r.status, body: r.body.toString('utf8') };
  } finally {
    c.destroy();
  }
}

describe('hostile bodies: prototype-named extra keys', () => {
  // An extra key is dropped, as MLflow drops extra columns: the answer is the one without it, and
  // nothing reaches Object.prototype (the servers run in this process, so that is checked here).
  const ROW = '"precipitation":0,"temp_max":12.8,"temp_min":5,"wind":4.7';
  const shapes: Array<[string, (extra: string) => string]> = [
    ['a record key', (k) => `{"dataframe_records":[{${k}${ROW}}]}`],
    ['an inputs key', (k) => `{"inputs":{${k.replace(/:(\{[^}]*\}|[^,]*),$/, ':[$1],')}"precipitation":[0],"temp_max":[12.8],"temp_min":[5],"wind":[4.7]}}`],
  ];
  for (const port of DATA_PORTS) {
    for (const [where, body] of shapes) {
      test(`${port}: "__proto__", "constructor", "prototype" as ${where} are ignored`, async () => {
        const p = targets.byName[port].port;
        const plain = await post(p, '/invocations', body(''));
        assert.equal(plain.status, 200, plain.body);
        for (const k of ['__proto__', 'constructor', 'prototype']) {
          for (const value of ['1', '{"polluted":"yes"}']) {
            const r = await post(p, '/invocations', body(`"${k}":${value},`));
            assert.equal(r.status, 200, `${k}=${value}: ${r.body}`);
            assert.equal(r.body, plain.body, `${k}=${value}: the same answer as without it`);
          }
        }
        assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched');
      });
    }
  }
});
