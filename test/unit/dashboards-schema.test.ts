/**
 * The Grafana dashboards (dashboards/*.json) checked offline against Grafana's own dashboard model:
 * a JSON Schema generated from @grafana/schema's Dashboard type (test/fixtures/grafana-schema/generate.ts),
 * plus what the schema cannot say: schemaVersion 42, panel ids unique, every data source uid one
 * the provisioning file declares, the drill-down's template variables. The checks are shown to
 * reject broken copies, so a passing run means something.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';

// Not from ../helpers.js: that imports the whole app, and this test needs none of it.
const ROOT = resolve(fileURLToPath(import.meta.url), '..', '..', '..');

const DIR = join(ROOT, 'dashboards');
const FILES = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();
// Kept outside dashboards/: Grafana's file provider would try to load any .json under it.
const SCHEMA = JSON.parse(readFileSync(join(DIR, '..', 'test', 'fixtures', 'grafana-schema', 'dashboard.schema.json'), 'utf8'));
const load = (f: string): any => JSON.parse(readFileSync(join(DIR, f), 'utf8'));
const ajv = new Ajv({ allErrors: true, strict: false });
const validateSchema = ajv.compile(SCHEMA);
/** The validator without its type guard (which would narrow the dashboards to `unknown`). */
const validate = (x: unknown): boolean => validateSchema(x);
/** The errors of the last validate() call. */
const errors = () => validateSchema.errors;

const provisioned = parseYaml(readFileSync(join(DIR, 'provisioning', 'datasources', 'driftwatch.yaml'), 'utf8')) as {
  datasources: Array<{ uid: string; type: string }>;
};
const DATASOURCES = new Map(provisioned.datasources.map((d) => [d.uid, d.type]));

/** Every panel, rows' nested panels included. */
function panels(d: any): any[] {
  const out: any[] = [];
  for (const p of d.panels ?? []) {
    out.push(p);
    for (const q of p.panels ?? []) out.push(q);
  }
  return out;
}

/** Every datasource reference in a dashboard: panels, targets, template variables, annotations. */
function datasourceRefs(d: any): Array<{ where: string; uid: string; type: string }> {
  const out: Array<{ where: string; uid: string; type: string }> = [];
  const add = (where: string, ds: any) => {
    if (ds && typeof ds === 'object' && ds.type !== 'grafana') out.push({ where, uid: ds.uid, type: ds.type });
  };
  for (const p of panels(d)) {
    add(`panel ${p.id}`, p.datasource);
    for (const t of p.targets ?? []) add(`panel ${p.id} target ${t.refId}`, t.datasource);
  }
  for (const v of d.templating?.list ?? []) add(`variable ${v.name}`, v.datasource);
  for (const a of d.annotations?.list ?? []) add(`annotation ${a.name}`, a.datasource);
  return out;
}

/** Problems beyond the schema; empty when the dashboard is fine. */
function problems(d: any): string[] {
  const out: string[] = [];
  if (d.schemaVersion !== 42) out.push(`schemaVersion ${d.schemaVersion}, want 42`);
  const ids = panels(d).map((p) => p.id);
  const dup = ids.filter((id, i) => ids.indexOf(id) !== i);
  if (dup.length) out.push(`duplicate panel ids ${dup.join(', ')}`);
  if (ids.some((id) => typeof id !== 'number')) out.push('a panel without a numeric id');
  for (const r of datasourceRefs(d)) {
    if (!DATASOURCES.has(r.uid)) out.push(`${r.where}: datasource uid ${r.uid} is not provisioned`);
    else if (DATASOURCES.get(r.uid) !== r.type) out.push(`${r.where}: datasource ${r.uid} has type ${r.type}, provisioned as ${DATASOURCES.get(r.uid)}`);
  }
  for (const p of panels(d)) if (p.type !== 'row' && !(p.targets?.length > 0)) out.push(`panel ${p.id} (${p.title}) has no query`);
  return out;
}

/** The text of `s` outside parentheses (an InfluxQL subquery's, a function's arguments). */
function topLevel(s: string): string {
  let depth = 0;
  let out = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (depth === 0) out += ch;
    if (ch === ')') depth--;
  }
  return out;
}

/**
 * Why a panel's legend would give two series the same name; empty when every series is named
 * apart. InfluxQL (Grafana's alias): a GROUP BY tag must appear as $tag_<tag>, and a query
 * selecting several columns (or a /regex/ of fields) needs $col; without an alias Grafana names
 * series by measurement, column and tags, which are distinct. PromQL (legendFormat): every label
 * the result keeps (the `by (...)` labels but `le`) must appear as {{label}}, and a query that
 * does not aggregate keeps job and instance, so its legend needs {{instance}} and {{job}}. Two
 * targets of one panel never share a legend.
 */
function legendProblems(p: any): string[] {
  if (p.type === 'table' || p.type === 'row') return [];
  const out: string[] = [];
  const where = `panel ${p.id} (${p.title})`;
  const legends: string[] = [];
  for (const t of p.targets ?? []) {
    if (typeof t.query === 'string') {
      const outer = topLevel(t.query.replace(/\$timeFilter|\$__interval/g, ''));
      const groupBy = /\bGROUP BY\s+(.*?)(?:\s+fill|\s*$)/i.exec(outer)?.[1] ?? '';
      const tags = [...groupBy.matchAll(/"([^"]+)"/g)].map((m) => m[1]!);
      const select = /^SELECT\s+(.*?)\s+FROM\b/i.exec(t.query)?.[1] ?? '';
      const columns = topLevel(select).split(',').length;
      const multi = columns > 1 || /\/[^/]+\//.test(select);
      if (t.alias) {
        for (const tag of tags)
          if (!t.alias.includes(`$tag_${tag}`) && !t.alias.includes(`[[tag_${tag}]]`))
            out.push(`${where} ${t.refId}: GROUP BY "${tag}" but the alias "${t.alias}" has no $tag_${tag}`);
        if (multi && !/\$col\b|\[\[col\]\]/.test(t.alias)) out.push(`${where} ${t.refId}: several columns but the alias "${t.alias}" has no $col`);
      }
      legends.push(t.alias ?? `${t.refId}:default`);
    } else if (typeof t.expr === 'string') {
      const legend = String(t.legendFormat ?? '');
      const byLabels = [...t.expr.matchAll(/\bby\s*\(([^)]*)\)/g)].flatMap((m) =>
        m[1]!
          .split(',')
          .map((x: string) => x.trim())
          .filter((x: string) => x && x !== 'le'),
      );
      const needed = /\b(sum|avg|max|min|count)\b[^(]*\bby\s*\(/.test(t.expr) ? byLabels : [...byLabels, 'job', 'instance'];
      for (const label of new Set(needed))
        if (!legend.includes(`{{${label}}}`)) out.push(`${where} ${t.refId}: the result varies by ${label} but the legend "${legend}" has no {{${label}}}`);
      legends.push(legend);
    }
  }
  const dup = legends.filter((l, i) => legends.indexOf(l) !== i);
  if (dup.length) out.push(`${where}: targets share the legend ${dup.join(', ')}`);
  return out;
}

describe('Grafana dashboards against the schema generated from @grafana/schema', () => {
  test('the schema is the generated one, for the installed @grafana/schema', () => {
    const require = createRequire(join(ROOT, 'package.json'));
    const installed = (JSON.parse(readFileSync(require.resolve('@grafana/schema/package.json'), 'utf8')) as { version: string }).version;
    assert.equal(SCHEMA['x-grafana-schema-version'], installed, 'regenerate: npx tsx test/fixtures/grafana-schema/generate.ts');
    assert.equal(SCHEMA.$ref, '#/definitions/Dashboard');
    assert.ok(SCHEMA.definitions.Panel && SCHEMA.definitions.VariableModel);
  });

  test('the three dashboards are there', () => {
    assert.deepEqual(FILES, ['fleet-overview.json', 'model-drilldown.json', 'sidecar-health.json']);
  });

  for (const f of FILES) {
    test(`${f} validates and passes the structural checks`, () => {
      const d = load(f);
      assert.ok(validate(d), `${f}: ${ajv.errorsText(errors(), { separator: '\n' })}`);
      assert.deepEqual(problems(d), []);
      assert.ok(panels(d).filter((p) => p.type !== 'row').length >= 6, 'a dashboard worth the name');
      assert.match(d.uid, /^driftwatch-/);
    });
  }

  test('the InfluxDB dashboards query InfluxDB in InfluxQL, the health board Prometheus', () => {
    for (const f of ['fleet-overview.json', 'model-drilldown.json']) {
      for (const p of panels(load(f)))
        for (const t of p.targets ?? []) {
          assert.equal(t.datasource.uid, 'driftwatch-influxdb', `${f} panel ${p.id}`);
          assert.equal(t.rawQuery, true);
          assert.match(t.query, /^SELECT /);
        }
    }
    for (const p of panels(load('sidecar-health.json')))
      for (const t of p.targets ?? []) {
        assert.equal(t.datasource.uid, 'driftwatch-prometheus');
        assert.match(t.expr, /driftwatch_/);
      }
    assert.equal(DATASOURCES.get('driftwatch-influxdb'), 'influxdb');
    assert.equal(DATASOURCES.get('driftwatch-prometheus'), 'prometheus');
  });

  test('the drill-down has model and version variables from SHOW TAG VALUES (and feature)', () => {
    const vars = new Map<string, any>(load('model-drilldown.json').templating.list.map((v: any) => [v.name, v]));
    for (const name of ['model', 'version', 'feature']) {
      const v = vars.get(name);
      assert.ok(v, `variable ${name} missing`);
      assert.equal(v.type, 'query');
      assert.equal(v.datasource.uid, 'driftwatch-influxdb');
      assert.match(v.query, new RegExp(`^SHOW TAG VALUES FROM "dw_\\w+" WITH KEY = "${name}"`));
    }
    assert.match(vars.get('version').query, /WHERE "model" = '\$model'/, 'versions of the chosen model');
  });

  for (const f of FILES) {
    test(`${f}: every panel's legend names its series apart`, () => {
      assert.deepEqual(panels(load(f)).flatMap(legendProblems), []);
    });
  }

  test('sidecar-health.json: job and instance variables, and every query filters by them', () => {
    const d = load('sidecar-health.json');
    const vars = new Map<string, any>(d.templating.list.map((v: any) => [v.name, v]));
    for (const name of ['job', 'instance']) {
      const v = vars.get(name);
      assert.ok(v, `variable ${name} missing`);
      assert.equal(v.datasource.uid, 'driftwatch-prometheus');
      assert.match(v.query.query, new RegExp(`^label_values\\(driftwatch_build_info.*, ${name}\\)$`));
      assert.equal(v.includeAll, true);
    }
    for (const p of panels(d)) {
      for (const t of p.targets ?? []) {
        for (const m of String(t.expr).matchAll(/\bdriftwatch_[a-z0-9_]+(\{[^}]*\})?/g)) {
          assert.ok(
            m[1]?.includes('job=~"$job"') && m[1].includes('instance=~"$instance"'),
            `panel ${p.id} ${t.refId}: ${m[0]} is not filtered by $job and $instance`,
          );
        }
      }
    }
  });

  test('fleet-overview.json: a stat panel of firing findings shows 0, not "No data", when none fire', () => {
    const stats = panels(load('fleet-overview.json')).filter((p) => p.type === 'stat' && /firing/i.test(p.title));
    assert.ok(stats.length >= 1);
    for (const p of stats) assert.equal(p.fieldConfig?.defaults?.noValue, '0', `panel ${p.id} (${p.title})`);
  });

  test('the dashboard provider points at a folder and the datasource file names both uids', () => {
    const prov = parseYaml(readFileSync(join(DIR, 'provisioning', 'dashboards', 'driftwatch.yaml'), 'utf8')) as any;
    assert.equal(prov.apiVersion, 1);
    const p = prov.providers[0];
    assert.equal(p.type, 'file');
    assert.ok(typeof p.options.path === 'string' && p.options.path.startsWith('/'));
    assert.deepEqual([...DATASOURCES.keys()].sort(), ['driftwatch-influxdb', 'driftwatch-prometheus']);
  });
});

describe('the checks reject broken dashboards', () => {
  const good = () => load('model-drilldown.json');

  test('the schema rejects a wrong type, a missing required key and an unknown key', () => {
    const a = good();
    a.panels[1].gridPos.w = 'wide';
    assert.equal(validate(a), false);
    assert.ok(
      errors()!.some((e: { instancePath: string }) => e.instancePath === '/panels/1/gridPos/w'),
      ajv.errorsText(errors()),
    );
    const b = good();
    delete b.schemaVersion;
    assert.equal(validate(b), false);
    const c = good();
    c.templating.list[0].refrsh = 1;
    assert.equal(validate(c), false);
    const e = good();
    e.graphTooltip = 7;
    assert.equal(validate(e), false);
  });

  test('the legend check catches same-named series', () => {
    const influx = (query: string, alias?: string) => ({ id: 1, type: 'bargauge', title: 't', targets: [{ refId: 'A', query, ...(alias ? { alias } : {}) }] });
    assert.match(legendProblems(influx('SELECT last("a") AS "a", last("b") AS "b" FROM "m"', 'reference')).join(), /no \$col/);
    assert.match(legendProblems(influx('SELECT sum(/^cat\\./) FROM "m" WHERE $timeFilter GROUP BY "feature"', '$tag_feature')).join(), /no \$col/);
    assert.match(
      legendProblems(influx('SELECT sum("x") FROM "m" WHERE $timeFilter GROUP BY time($__interval), "model" fill(0)', 'traffic')).join(),
      /GROUP BY "model" but the alias "traffic" has no \$tag_model/,
    );
    assert.deepEqual(legendProblems(influx('SELECT sum("x") FROM "m" WHERE $timeFilter GROUP BY time($__interval), "model" fill(0)', '$tag_model')), []);
    const prom = (...targets: Array<[string, string]>) => ({
      id: 2,
      type: 'timeseries',
      title: 't',
      targets: targets.map(([expr, legendFormat], i) => ({ refId: String(i), expr, legendFormat })),
    });
    assert.match(legendProblems(prom(['driftwatch_capture_queue_depth', 'queue depth'])).join(), /no \{\{job\}\}/);
    assert.match(legendProblems(prom(['sum by (route, kind) (rate(x[1m]))', '{{route}}'])).join(), /varies by kind/);
    assert.match(legendProblems(prom(['sum by (route) (rate(x[1m]))', '{{route}}'], ['sum by (route) (rate(y[1m]))', '{{route}}'])).join(), /share the legend/);
    assert.deepEqual(legendProblems(prom(['histogram_quantile(0.99, sum by (le, route) (rate(x_bucket[1m])))', '{{route}} p99'])), []);
  });

  test('the structural checks catch a wrong schemaVersion, duplicate ids and an unknown datasource', () => {
    const a = good();
    a.schemaVersion = 39;
    a.panels[2].id = a.panels[1].id;
    a.panels[3].targets[0].datasource = { type: 'influxdb', uid: 'my-influx' };
    a.templating.list[1].datasource = { type: 'prometheus', uid: 'driftwatch-influxdb' };
    const p = problems(a);
    assert.ok(
      p.some((x) => x.startsWith('schemaVersion 39')),
      p.join('\n'),
    );
    assert.ok(
      p.some((x) => x.startsWith('duplicate panel ids')),
      p.join('\n'),
    );
    assert.ok(
      p.some((x) => x.includes('my-influx is not provisioned')),
      p.join('\n'),
    );
    assert.ok(
      p.some((x) => x.includes('has type prometheus')),
      p.join('\n'),
    );
  });
});

describe('docs/influxdb.md lists exactly the fields the store writes and the dashboards read', () => {
  /** Field-name patterns per measurement, from the tables under "### `dw_...`" headings. */
  function documented(): Map<string, RegExp[]> {
    const doc = readFileSync(join(ROOT, 'docs', 'influxdb.md'), 'utf8');
    const out = new Map<string, RegExp[]>();
    let current: string | null = null;
    for (const line of doc.split('\n')) {
      const h = /^### `(dw_\w+)`/.exec(line);
      if (h) {
        current = h[1]!;
        out.set(current, []);
        continue;
      }
      if (line.startsWith('#')) current = null;
      if (current === null || !line.startsWith('| `')) continue;
      const first = line.split('|')[1]!;
      for (const m of first.matchAll(/`([^`]+)`/g)) {
        const esc = m[1]!
          .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
          .replace(/<jjj\\\+1>|<jjj>/g, '\\d{3}')
          .replace(/<value>/g, '.+');
        out.get(current)!.push(new RegExp(`^${esc}$`));
      }
    }
    return out;
  }

  async function writtenFields(): Promise<Map<string, Set<string>>> {
    const { buildReference } = await import('../../src/stats/reference.js');
    const { deltaToPoints, findingToPoint, referenceToPoints } = await import('../../src/store/influx-schema.js');
    const { emptyLatency } = await import('../../src/stats/latency-histogram.js');
    const rows = Array.from({ length: 200 }, (_, i) => ({ x: (i * 37) % 101, c: ['a', 'b', 'unseen'][i % 3]! }));
    const ref = buildReference({ model: 'm', version: '1', source: 'test', createdAtMs: 1, rows, bins: 4, sketchK: 64, maxCategories: 10 });
    const window = {
      model: 'm',
      version: '1',
      startMs: 0,
      windowSeconds: 60,
      requests: { '2xx': 3, '4xx': 1 },
      latency: emptyLatency([5, 10]),
      rows: 200,
      features: { x: ref.features.x!.profile, c: ref.features.c!.profile },
      predictions: {},
      droppedFeatures: 0,
    };
    const drift = {
      check: 'drift' as const,
      subject: { model: 'm', version: '1', name: 'x', role: 'input' as const },
      status: 'fail' as const,
      metric: 'ks_pvalue',
      value: 1e-9,
      threshold: { warn: 0.05, fail: 0.01, direction: 'below' as const },
      window: { fromMs: 0, toMs: 3_600_000, label: '1h' },
      sampleSize: 200,
      at: 5,
      message: 'x drifted',
      detail: { psi: { value: 0.3, bins: 6 }, ks: { statistic: 0.4, pvalue: 1e-9 } },
    };
    const stale = {
      ...drift,
      check: 'staleness' as const,
      subject: { model: 'm', version: '1', name: 'age' },
      status: 'warn' as const,
      metric: 'age_days',
      value: 100,
      detail: undefined,
    };
    // A quality drop finding carries every quality field (outcomes/quality-check.ts's detail).
    const quality = {
      ...drift,
      check: 'quality' as const,
      subject: { model: 'm', version: '1', name: 'accuracy_drop' },
      status: 'warn' as const,
      metric: 'accuracy_drop',
      value: 0.07,
      threshold: { warn: 0.05, fail: 0.1, direction: 'above' as const },
      detail: {
        predictions: 400,
        labelled: 300,
        labelled_share: 0.75,
        label_delay_p50_ms: 86_400_000,
        estimate: { n: 400, standard_error: 0.02, calibrated: true },
        current: 0.7,
        reference: { metric: 'accuracy', value: 0.77, labelled: 731, label_column: 'weather', source: 'train.csv' },
      },
    };
    // dw_challenger: one classifier window with probabilities and one regression window, so every
    // field group is written (store/influx-challenger.ts).
    const { comparisonToPoint } = await import('../../src/store/influx-challenger.js');
    const { addPair, emptyComparison } = await import('../../src/challenger/comparison.js');
    const classes = emptyComparison();
    const regression = emptyComparison();
    const t = (type: string, data: unknown) => ({ type, dims: [2], data }) as any;
    addPair(classes, {
      model: 'm',
      atMs: 0,
      rows: 2,
      champion: {
        version: '1',
        outputs: { label: t('string', ['a', 'b']), probabilities: t('float32', Float32Array.from([0.9, 0.1, 0.2, 0.8])) },
        latencyMs: 1,
      },
      challenger: {
        version: '2',
        outputs: { label: t('string', ['a', 'a']), probabilities: t('float32', Float32Array.from([0.8, 0.2, 0.6, 0.4])) },
        latencyMs: 2,
        error: null,
      },
    });
    addPair(regression, {
      model: 'm',
      atMs: 0,
      rows: 2,
      champion: { version: '1', outputs: { y: t('float32', Float32Array.from([1, 2])) }, latencyMs: 1 },
      challenger: { version: '2', outputs: { y: t('float32', Float32Array.from([1.5, 2])) }, latencyMs: 2, error: null },
    });
    const pairKey = { model: 'm', championVersion: '1', challengerVersion: '2', startMs: 0, windowSeconds: 60 };
    const points = [
      ...deltaToPoints(window, 'i', 1).points,
      ...referenceToPoints(ref, 2),
      findingToPoint(drift),
      findingToPoint(stale),
      findingToPoint(quality),
      comparisonToPoint({ ...pairKey, comparison: classes }, 'i', 3),
      comparisonToPoint({ ...pairKey, comparison: regression }, 'i', 4),
    ];
    const out = new Map<string, Set<string>>();
    for (const p of points) {
      const s = out.get(p.measurement) ?? new Set<string>();
      for (const f of p.fields) s.add(f.name);
      out.set(p.measurement, s);
    }
    return out;
  }

  test('every field the code writes is documented under its measurement, and the new tables are complete', async () => {
    const docs = documented();
    const written = await writtenFields();
    assert.deepEqual([...written.keys()].sort(), ['dw_challenger', 'dw_feature', 'dw_finding', 'dw_reference', 'dw_requests']);
    for (const [m, fields] of written) {
      const patterns = docs.get(m);
      assert.ok(patterns && patterns.length > 0, `no field table for ${m} in docs/influxdb.md`);
      for (const f of fields)
        assert.ok(
          patterns.some((re) => re.test(f)),
          `${m}.${f} is written but not documented`,
        );
    }
    for (const m of ['dw_reference', 'dw_finding', 'dw_challenger']) {
      for (const re of docs.get(m)!)
        assert.ok(
          [...written.get(m)!].some((f) => re.test(f)),
          `docs/influxdb.md documents ${m} ${re} but the code never writes it`,
        );
    }
    assert.ok(written.get('dw_feature')!.has('bin_003') && written.get('dw_feature')!.has('cat.a') && written.get('dw_feature')!.has('cat_unseen'));
  });

  test('a category value line protocol cannot carry (a trailing backslash) gets no cat. field; the others do', async () => {
    const { buildReference } = await import('../../src/stats/reference.js');
    const { deltaToPoints } = await import('../../src/store/influx-schema.js');
    const { emptyLatency } = await import('../../src/stats/latency-histogram.js');
    const rows = ['ok', 'trail\\', 'x'.repeat(201), 'ok'].map((c) => ({ c }));
    const profile = buildReference({ model: 'm', version: '1', source: 'test', createdAtMs: 1, rows, bins: 4, sketchK: 64, maxCategories: 10 }).features.c!
      .profile;
    const w = {
      model: 'm',
      version: '1',
      startMs: 0,
      windowSeconds: 60,
      requests: {},
      latency: emptyLatency([5]),
      rows: 4,
      features: { c: profile },
      predictions: {},
      droppedFeatures: 0,
    };
    const point = deltaToPoints(w, 'i', 1).points.find((p) => p.measurement === 'dw_feature')!;
    const cats = point.fields.filter((f) => f.name.startsWith('cat'));
    assert.deepEqual(
      cats.map((f) => [f.name, f.value]),
      [
        ['cat.ok', 2],
        ['cat_unseen', 0],
        ['cat_other', 0],
      ],
    );
    assert.ok(
      point.fields.some((f) => f.name === 'profile' && String(f.value).includes('trail')),
      'the JSON profile keeps every value',
    );
  });

  test('at most 20 cat. fields per point, the most frequent; the rest count in cat_other', async () => {
    const { buildReference } = await import('../../src/stats/reference.js');
    const { deltaToPoints, MAX_CATEGORY_FIELDS } = await import('../../src/store/influx-schema.js');
    const { emptyLatency } = await import('../../src/stats/latency-histogram.js');
    // 30 values; value vK appears K+1 times.
    const rows = Array.from({ length: 30 }, (_, k) => Array.from({ length: k + 1 }, () => ({ c: `v${k}` }))).flat();
    const profile = buildReference({ model: 'm', version: '1', source: 'test', createdAtMs: 1, rows, bins: 4, sketchK: 64, maxCategories: 100 }).features.c!
      .profile;
    const w = {
      model: 'm',
      version: '1',
      startMs: 0,
      windowSeconds: 60,
      requests: {},
      latency: emptyLatency([5]),
      rows: rows.length,
      features: { c: profile },
      predictions: {},
      droppedFeatures: 0,
    };
    const point = deltaToPoints(w, 'i', 1).points.find((p) => p.measurement === 'dw_feature')!;
    const cats = point.fields.filter((f) => f.name.startsWith('cat.'));
    assert.equal(cats.length, MAX_CATEGORY_FIELDS);
    assert.deepEqual(new Set(cats.map((f) => f.name)), new Set(Array.from({ length: 20 }, (_, i) => `cat.v${29 - i}`)));
    const rest = Array.from({ length: 10 }, (_, k) => k + 1).reduce((a, b) => a + b, 0);
    assert.equal(point.fields.find((f) => f.name === 'cat_other')!.value, profile.categories.other + rest);
  });

  test('regression: a window of only 5xx answers still writes status_2xx = 0, so the error-rate ratio is 1, not null', async () => {
    const { deltaToPoints } = await import('../../src/store/influx-schema.js');
    const { emptyLatency } = await import('../../src/stats/latency-histogram.js');
    const w = {
      model: 'm',
      version: '1',
      startMs: 0,
      windowSeconds: 60,
      requests: { '5xx': 7 },
      latency: emptyLatency([5]),
      rows: 0,
      features: {},
      predictions: {},
      droppedFeatures: 0,
    };
    const req = deltaToPoints(w, 'i', 1).points.find((p) => p.measurement === 'dw_requests')!;
    const status = Object.fromEntries(req.fields.filter((f) => f.name.startsWith('status_')).map((f) => [f.name, f.value]));
    assert.deepEqual(status, { status_2xx: 0, status_4xx: 0, status_5xx: 7 });
    assert.equal(req.fields.find((f) => f.name === 'requests')!.value, 7);
  });

  test('every field a dashboard query reads is documented under the measurement it reads', () => {
    const docs = documented();
    for (const f of ['fleet-overview.json', 'model-drilldown.json']) {
      for (const p of panels(load(f)))
        for (const t of p.targets ?? []) {
          const m = /FROM "(dw_\w+)"/.exec(t.query)?.[1];
          assert.ok(m && docs.has(m), `${f} panel ${p.id}: reads ${m}`);
          const aliases = new Set([...t.query.matchAll(/AS "([^"]+)"/g)].map((x: RegExpMatchArray) => x[1]));
          for (const x of t.query.matchAll(/\b(?:sum|last|max|min|mean|count)\("([^"]+)"\)/g)) {
            if (aliases.has(x[1])) continue; // an outer query over a subquery's alias
            assert.ok(
              docs.get(m)!.some((re) => re.test(x[1]!)),
              `${f} panel "${p.title}": ${m}.${x[1]} is not documented`,
            );
          }
        }
    }
  });
});
