/**
 * The direction rules (docs/architecture.md) hold for src/, and each rule fails on a tree made up
 * to break it: a new cycle, the data path reaching into the analysis side, the analysis side
 * reaching into the data path, a library imported outside its home, I/O or the clock in pure math.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type ImportGraph, folderCycles, readGraph, violations } from '../architecture/rules.js';

const SRC = join(import.meta.dirname, '..', '..', 'src');

function graphOf(files: Record<string, string[] | { local?: string[]; packages?: string[] }>): ImportGraph {
  const g: ImportGraph = new Map();
  for (const [f, v] of Object.entries(files)) g.set(f, Array.isArray(v) ? { local: v, packages: [] } : { local: v.local ?? [], packages: v.packages ?? [] });
  return g;
}

describe('src/ follows the direction rules', () => {
  test('no violation in the tree', () => {
    const graph = readGraph(SRC);
    assert.ok(graph.size > 80, `read ${graph.size} modules`);
    assert.deepEqual(
      violations(graph, (f) => readFileSync(join(SRC, f), 'utf8')),
      [],
    );
  });
});

describe('each rule can fail', () => {
  test('a folder-level cycle', () => {
    const v = violations(graphOf({ 'alerts/outbox.ts': ['store/x.ts'], 'store/x.ts': ['alerts/finding.ts'], 'alerts/finding.ts': [] }));
    assert.deepEqual(v, ['folder-level import cycle: alerts -> store -> alerts']);
    assert.deepEqual(
      folderCycles(
        new Map([
          ['a', new Set(['b'])],
          ['b', new Set(['c'])],
          ['c', new Set(['a'])],
        ]),
      ),
      [['a', 'b', 'c', 'a']],
    );
    assert.deepEqual(
      folderCycles(
        new Map([
          ['a', new Set(['b'])],
          ['b', new Set(['c'])],
        ]),
      ),
      [],
    );
  });

  test('the data path importing the analysis side', () => {
    const v = violations(
      graphOf({ 'proxy/fast-lane.ts': ['stats/moments.ts', 'capture/bounded-queue.ts'], 'stats/moments.ts': [], 'capture/bounded-queue.ts': [] }),
    );
    assert.equal(v.length, 1);
    assert.match(v[0]!, /^data path: proxy\/fast-lane.ts imports stats\/moments.ts/);
    assert.match(violations(graphOf({ 'proxy/p.ts': ['capture/extract.ts'], 'capture/extract.ts': [] }))[0]!, /data path/);
    assert.deepEqual(violations(graphOf({ 'serve/s.ts': ['registry/types.ts'], 'registry/types.ts': [] })), []);
    assert.match(violations(graphOf({ 'proxy/p.ts': ['registry/types.ts'], 'registry/types.ts': [] }))[0]!, /data path/);
  });

  test('the analysis side importing the data path', () => {
    const v = violations(graphOf({ 'capture/extract.ts': ['serve/protocol/mlflow.ts'], 'serve/protocol/mlflow.ts': [] }));
    assert.deepEqual(v, [
      'analysis side: capture/extract.ts imports the data path (serve/protocol/mlflow.ts); shared code belongs in a leaf such as protocol/',
    ]);
  });

  test('a module importing a composition root or a concrete backend', () => {
    assert.match(violations(graphOf({ 'alerts/x.ts': ['app/serve-app.ts'], 'app/serve-app.ts': [] }))[0]!, /composition root/);
    assert.match(violations(graphOf({ 'checks/c.ts': ['store/influx.ts'], 'store/influx.ts': [] }))[0]!, /only app\/ chooses/);
  });

  test('a library outside its home', () => {
    const v = violations(graphOf({ 'drift/psi.ts': { packages: ['simple-statistics'] }, 'stats/descriptive.ts': { packages: ['simple-statistics'] } }));
    assert.deepEqual(v, ['drift/psi.ts imports simple-statistics, whose home is stats/descriptive.ts']);
  });

  test('I/O or the clock in pure math', () => {
    const g = graphOf({ 'stats/a.ts': [], 'drift/b.ts': [], 'drift/drift-check.ts': [] });
    const text: Record<string, string> = {
      'stats/a.ts': "import { readFileSync } from 'node:fs';",
      'drift/b.ts': 'const t = Date.now();',
      'drift/drift-check.ts': 'const t = Date.now();',
    };
    assert.deepEqual(
      violations(g, (f) => text[f] ?? ''),
      ['pure module stats/a.ts does I/O', 'pure module drift/b.ts reads the clock (pass the time in)'],
    );
  });

  test('an import of a file that does not exist', () => {
    assert.deepEqual(violations(graphOf({ 'a/x.ts': ['a/gone.ts'] })), ['a/x.ts imports a/gone.ts, which does not exist']);
  });
});
