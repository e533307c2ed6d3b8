import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildReference, referenceFromWindow, validateReference } from '../../src/stats/reference.js';
import { binIndex, binLayoutId } from '../../src/stats/bins.js';
import { emptyWindow, observeRows } from '../../src/stats/window-profile.js';
import { kllIsExact, kllRankErrorBound } from '../../src/stats/kll-sketch.js';
import { DEFAULT_LATENCY_BOUNDS_MS } from '../../src/stats/latency-histogram.js';
import type { Cell } from '../../src/stats/feature-profile.js';
import type { ReferenceProfile } from '../../src/stats/types.js';

const CSV = fileURLToPath(new URL('../../node_modules/vega-datasets/data/seattle-weather.csv', import.meta.url));

/** The file has no quoted fields: a split is a faithful parser for it. */
function loadWeather(): Record<string, Cell>[] {
  const [header, ...lines] = readFileSync(CSV, 'utf8').trim().split(/\r?\n/);
  const cols = header!.split(',');
  return lines.map((line) => {
    const cells = line.split(',');
    const row: Record<string, Cell> = {};
    cols.forEach((c, i) => {
      const v = cells[i]!;
      row[c] = c === 'date' || c === 'weather' ? v : Number(v);
    });
    return row;
  });
}

/**
 * Golden values from numpy 1.24.2 on the same file: `deciles` = np.quantile(x, [0.1, ..., 0.9])
 * with the dedupe rule of binEdgesFromValues (drop cut points <= the previous one or lo);
 * `mean` = x.mean(); `m2` = ((x - x.mean()) ** 2).sum().
 */
const NUMPY: Record<string, { deciles: number[]; mean: number; m2: number }> = {
  precipitation: { deciles: [0.3, 1.5, 4.1, 9.9], mean: 3.02943189596167, m2: 65152.49442847364 },
  temp_max: { deciles: [7.2, 10.0, 11.7, 13.3, 15.6, 17.8, 20.6, 23.3, 26.7], mean: 16.43908281998631, m2: 78867.65837097878 },
  temp_min: { deciles: [1.7, 3.9, 5.6, 6.7, 8.3, 10.0, 11.7, 13.3, 14.4], mean: 8.234770704996578, m2: 36836.63364818618 },
  wind: { deciles: [1.7, 2.1, 2.4, 2.6, 3.0, 3.3, 3.8, 4.3, 5.2], mean: 3.24113620807666, m2: 3018.317713894592 },
};

const relClose = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(Math.abs(a), Math.abs(b));

const rows = loadWeather();
const NUMERIC = ['precipitation', 'temp_max', 'temp_min', 'wind'];
const opts = { sketchK: 200, maxCategories: 50, maxFeatures: 64 };

function weatherRef(): ReferenceProfile {
  return buildReference({
    model: 'seattle-weather',
    version: '1',
    source: 'seattle-weather.csv',
    createdAtMs: 1_700_000_000_000,
    rows,
    bins: 10,
    sketchK: 200,
    maxCategories: 50,
    columns: [...NUMERIC, 'weather'],
  });
}

test('seattle-weather: numeric kinds, decile edges, categorical weather', () => {
  assert.equal(rows.length, 1461);
  const ref = weatherRef();
  assert.equal(ref.rows, 1461);
  assert.deepEqual(Object.keys(ref.features), [...NUMERIC, 'weather'], 'columns restricted, in order');
  for (const name of NUMERIC) {
    const f = ref.features[name]!;
    assert.equal(f.kind, 'numerical', name);
    assert.equal(f.categories, null);
    const values = rows.map((r) => r[name] as number);
    const e = f.binEdges!;
    assert.equal(e.lo, Math.min(...values));
    assert.equal(e.hi, Math.max(...values));
    assert.deepEqual(e.edges, NUMPY[name]!.deciles, `${name} edges are numpy's deciles`);
    assert.equal(f.profile.bins!.layout, binLayoutId(e));
    assert.equal(
      f.profile.bins!.counts.reduce((s, c) => s + c, 0),
      1461,
    );
    assert.equal(f.profile.bins!.counts[0], 0, 'nothing below the reference minimum');
    assert.equal(f.profile.bins!.counts.at(-1), 0, 'nothing above the reference maximum');
    assert.equal(f.profile.moments.n, 1461);
    // Streamed (Welford) moments, as in live traffic: numpy's to rounding (measured <= 2e-15).
    assert.ok(relClose(f.profile.moments.mean, NUMPY[name]!.mean, 1e-13), `${name} mean ${f.profile.moments.mean}`);
    assert.ok(relClose(f.profile.moments.m2, NUMPY[name]!.m2, 1e-13), `${name} m2 ${f.profile.moments.m2}`);
    assert.equal(f.profile.moments.min, e.lo);
    assert.equal(f.profile.moments.max, e.hi);
    assert.equal(f.profile.missing, 0);
  }
  // continuous-ish columns get ~10 bins of ~10% each; precipitation (half zeros) gets fewer
  for (const name of ['temp_max', 'temp_min', 'wind']) {
    const e = ref.features[name]!.binEdges!;
    assert.equal(e.edges.length, 9, name);
    for (const c of ref.features[name]!.profile.bins!.counts.slice(1, -1)) {
      assert.ok(c > 0.05 * 1461 && c < 0.16 * 1461, `${name} bin count ${c}`);
    }
  }
  const p = ref.features['precipitation']!.binEdges!;
  assert.ok(p.edges.length < 9 && p.edges.length >= 3, `precipitation edges ${p.edges}`);
  assert.equal(binIndex(p, 0), 1, 'all the dry days share the first bin');
  const w = ref.features['weather']!;
  assert.equal(w.kind, 'categorical');
  assert.equal(w.binEdges, null);
  assert.deepEqual(w.categories, ['rain', 'sun', 'fog', 'drizzle', 'snow'], 'by count, descending');
  assert.equal(w.profile.categories.counts['rain'], rows.filter((r) => r.weather === 'rain').length);
  assert.equal(w.profile.categories.unseen, 0);
});

test('buildReference without columns profiles every column; categories beyond the bound are unseen', () => {
  const ref = buildReference({
    model: 'm',
    version: '1',
    source: 's',
    createdAtMs: 0,
    rows,
    bins: 10,
    sketchK: 200,
    maxCategories: 3,
    predictions: rows.map((r) => ({ y: (r.temp_max as number) > 15 })),
  });
  assert.deepEqual(Object.keys(ref.features), ['date', 'precipitation', 'temp_max', 'temp_min', 'wind', 'weather']);
  assert.equal(ref.features['date']!.kind, 'categorical');
  assert.equal(ref.features['date']!.categories!.length, 3);
  assert.deepEqual(ref.features['weather']!.categories, ['rain', 'sun', 'fog']);
  assert.equal(ref.features['weather']!.profile.categories.unseen, rows.filter((r) => r.weather === 'drizzle' || r.weather === 'snow').length);
  assert.equal(ref.predictions['y']!.kind, 'categorical', 'booleans are categorical');
  assert.deepEqual([...ref.predictions['y']!.categories!].sort(), ['false', 'true']);
});

test('live windows count over the reference layout; unseen categories land in unseen', () => {
  const ref = weatherRef();
  const w = emptyWindow({ model: 'seattle-weather', version: '1', startMs: 0, windowSeconds: 60 }, DEFAULT_LATENCY_BOUNDS_MS);
  observeRows(w, [...rows.slice(0, 100), { temp_max: 99, weather: 'hail', precipitation: null }], [], ref, opts);
  const t = w.features['temp_max']!;
  assert.equal(t.bins!.layout, ref.features['temp_max']!.profile.bins!.layout);
  assert.equal(t.bins!.counts.at(-1), 1, '99 degrees is above the reference maximum');
  assert.equal(w.features['weather']!.categories.unseen, 1);
  assert.equal(w.features['precipitation']!.missing, 1);
  // date is not in the (column-restricted) reference: profiled without reference context
  assert.equal(w.features['date']!.bins, null);
  assert.equal(Object.keys(w.features['date']!.categories.counts).length, 50, 'bounded by maxCategories');
  assert.equal(w.features['date']!.categories.other, 50, '100 dates: 50 kept, 50 other');
});

test('referenceFromWindow: exact while the sketch is exact, within the PMF bound after compaction', () => {
  const ref = weatherRef();
  for (const sketchK of [2000, 200]) {
    const w = emptyWindow({ model: 'seattle-weather', version: '1', startMs: 0, windowSeconds: 86_400 }, DEFAULT_LATENCY_BOUNDS_MS);
    observeRows(w, rows, [], null, { sketchK, maxCategories: 50, maxFeatures: 64 });
    const live = referenceFromWindow(w, { source: 'traffic:a/b', createdAtMs: 5, bins: 10 });
    assert.equal(live.source, 'traffic:a/b');
    assert.equal(live.rows, 1461);
    assert.equal(live.features['weather']!.kind, 'categorical');
    assert.deepEqual(live.features['weather']!.categories, ref.features['weather']!.categories);
    assert.equal(live.features['date']!.kind, 'categorical');
    for (const name of NUMERIC) {
      const f = live.features[name]!;
      assert.equal(f.kind, 'numerical');
      const e = f.binEdges!;
      const truth = new Array<number>(e.edges.length + 3).fill(0);
      for (const r of rows) truth[binIndex(e, r[name] as number)]! += 1;
      const est = f.profile.bins!.counts;
      assert.equal(
        est.reduce((s, c) => s + c, 0),
        1461,
        'estimated counts keep the total',
      );
      if (kllIsExact(f.profile.sketch)) assert.deepEqual(est, truth, `${name} k=${sketchK}: exact`);
      else {
        const tol = kllRankErrorBound(sketchK, true) * 1461;
        est.forEach((c, i) => assert.ok(Math.abs(c - truth[i]!) <= tol, `${name} bin ${i}: ${c} vs ${truth[i]} (tol ${tol})`));
      }
      assert.equal(e.lo, ref.features[name]!.binEdges!.lo);
      assert.equal(e.hi, ref.features[name]!.binEdges!.hi);
    }
    assert.doesNotThrow(() => validateReference(JSON.parse(JSON.stringify(live))));
  }
});

test('validateReference accepts a round-tripped reference and names the bad path otherwise', () => {
  const good = JSON.parse(JSON.stringify(weatherRef())) as ReferenceProfile;
  assert.deepEqual(validateReference(good), good);
  const broken = (mutate: (r: any) => void): unknown => {
    const r = structuredClone(good) as any;
    mutate(r);
    return r;
  };
  const cases: [string, (r: any) => void, RegExp][] = [
    [
      'not an object',
      (r) => {
        r.features = [];
      },
      /features must be an object/,
    ],
    [
      'format',
      (r) => {
        r.format = 2;
      },
      /format must be 1/,
    ],
    [
      'model',
      (r) => {
        delete r.model;
      },
      /model must be a string/,
    ],
    [
      'edges order',
      (r) => {
        r.features.temp_max.binEdges.edges[3] = -100;
      },
      /features\.temp_max\.binEdges\.edges must be strictly increasing/,
    ],
    [
      'edges type',
      (r) => {
        r.features.wind.binEdges.edges[0] = 'x';
      },
      /features\.wind\.binEdges\.edges\[0\] must be a finite number/,
    ],
    [
      'kind',
      (r) => {
        r.features.wind.kind = 'text';
      },
      /features\.wind\.kind must be "numerical" or "categorical"/,
    ],
    [
      'categories',
      (r) => {
        r.features.weather.categories = ['rain', 'rain'];
      },
      /features\.weather\.categories\[1\] is a duplicate/,
    ],
    [
      'layout',
      (r) => {
        r.features.wind.profile.bins.layout = 'deadbeef';
      },
      /features\.wind\.profile\.bins\.layout does not match binEdges/,
    ],
    [
      'bin count',
      (r) => {
        r.features.wind.profile.bins.counts.pop();
      },
      /features\.wind\.profile\.bins\.counts must have/,
    ],
    [
      'sketch weight',
      (r) => {
        r.features.wind.profile.sketch.n += 1;
      },
      /features\.wind\.profile\.sketch\.n must equal the total weight/,
    ],
    [
      'missing',
      (r) => {
        r.features.wind.profile.missing = 1e9;
      },
      /features\.wind\.profile\.missing must be <= count/,
    ],
    [
      'root',
      (r) => {
        r.rows = -1;
      },
      /rows must be >= 0/,
    ],
  ];
  for (const [what, mutate, re] of cases) {
    assert.throws(() => validateReference(broken(mutate)), re, what);
  }
  assert.throws(() => validateReference(null), /\(root\) must be an object/);
});
