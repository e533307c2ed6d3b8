/**
 * The standing hostile-input suite (issue 18), HTTP level: malformed request lines and headers,
 * truncated heads and bodies, request-smuggling shapes, oversized heads and bodies, slow heads and
 * bodies, against the scoring server, the proxy (both engines, in front of that scoring server)
 * and the admin port. The table is test/hostile/cases.ts; each row fixes one outcome per port (a
 * 4xx JSON refusal, or a closed connection), and while the hostile connection is in flight a
 * well-formed request on another connection must get its exact 200 answer; after it, too.
 * The bodies' side (nesting, invalid UTF-8, prototype names, non-finite numbers) is
 * hostile-bodies.test.ts. Limits and behaviour per port: docs/bad-input.md.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { envLeaves } from '../../src/config/env.js';
import { startBareProxy } from '../fixtures/bare-proxy.js';
import { destroyAllRawConns, RawConn } from '../fixtures/raw-http.js';
import { TrackedServers } from '../fixtures/tracked-servers.js';
import { HTTP_CASES, SLOW_CASES, SMUGGLING_CHUNKS, SMUGGLING_HEADS, type HostileCase } from '../hostile/cases.js';
import { attempt, judge, type Step } from '../hostile/run-case.js';
import { PORTS, startTargets, type Targets } from '../hostile/targets.js';
import { ROOT } from '../helpers.js';

let targets: Targets;
before(async () => {
  targets = await startTargets();
});
after(async () => {
  destroyAllRawConns();
  await targets?.close();
});

function cases(list: HostileCase[]): void {
  for (const c of list) {
    for (const port of PORTS) {
      const expect = c.expect[port];
      if (expect === undefined) continue;
      test(`${port}: ${c.name}`, { timeout: 20_000 }, async () => {
        const outcome = await attempt(targets, port, c.steps(port), c.method ?? 'GET', expect);
        judge(outcome, expect, `${port}: ${c.name}`);
        await targets.wellFormed(port); // and the port still answers afterwards
      });
    }
  }
}

for (const kind of [...new Set(HTTP_CASES.map((c) => c.kind))]) {
  describe(`hostile HTTP: ${kind}`, () => cases(HTTP_CASES.filter((c) => c.kind === kind)));
}
// Each slow case waits for a deadline (1-2.5 s): they run side by side.
describe('hostile HTTP: slow clients', { concurrency: true }, () => cases(SLOW_CASES));

// A refused head must not leave a byte for the upstream: whatever reached it could be read there as
// the start of another request (the desync request smuggling relies on). Nor a head whose broken
// chunked body came in the same packet: it is refused before an upstream connection is taken
// (the fast lane used to take one and send the head after refusing the body).
const REFUSED_WHOLE: Array<[string, HostileCase[]]> = [
  ['fast', [...SMUGGLING_HEADS, ...SMUGGLING_CHUNKS]],
  ['node', SMUGGLING_HEADS],
];
for (const [engine, list] of REFUSED_WHOLE as Array<['fast' | 'node', HostileCase[]]>) {
  test(`proxy ${engine}: no smuggling shape sends a byte upstream`, { timeout: 20_000 }, async () => {
    const upstreams = new TrackedServers();
    const seen: Buffer[] = [];
    const port = await upstreams.listen(net.createServer((s) => s.on('data', (d: Buffer) => seen.push(d))));
    const p = await startBareProxy(engine, `http://127.0.0.1:${port}`);
    try {
      for (const c of list) {
        const c2 = await RawConn.open(p.port);
        for (const step of c.steps('serve') as Step[]) if (typeof step === 'string' || Buffer.isBuffer(step)) c2.write(step);
        const o = await c2.next({ timeoutMs: 5000 });
        c2.destroy();
        assert.equal(o.kind, 'response', `${c.name}: ${JSON.stringify(o)}`);
        if (o.kind === 'response') assert.equal(o.response.status, 400, c.name);
      }
      assert.equal(Buffer.concat(seen).toString('latin1'), '', 'nothing reached the upstream');
    } finally {
      await p.proxy.close(100);
      await upstreams.closeAll();
    }
  });
}

test('docs/bad-input.md names only settings that exist', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'bad-input.md'), 'utf8');
  const settings = new Set(envLeaves().map((l) => l.path.join('.')));
  const named = [...doc.matchAll(/`((?:serve|proxy|admin|log)\.[A-Za-z.]+)`/g)].map((m) => m[1]!);
  assert.ok(named.length >= 5, `settings named: ${named.join(', ')}`);
  for (const key of named) assert.ok(settings.has(key), `docs/bad-input.md names ${key}, which is not a setting`);
});
