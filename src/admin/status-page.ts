/**
 * The built-in status page (GET /ui on the admin port) for users without Grafana: one static HTML
 * page, a stylesheet and a vanilla script that reads the admin API with fetch and draws its charts
 * as inline SVG. Shipped as string constants so `tsc` output needs no copy step and there is no
 * front-end build. The page carries no data itself; everything comes from /api (with the bearer
 * token the user types in when one is configured), so it can stay open like /healthz.
 *
 * The script is written without template literals on purpose: it lives inside a TypeScript
 * template string, where a backtick or a dollar-brace would end or interpolate it.
 */

/** Strict: no inline script or style, nothing from other origins, not frameable. */
export const STATUS_PAGE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>driftwatch status</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/style.css">
<script src="/ui/app.js" defer></script>
</head>
<body>
<header>
  <h1>driftwatch</h1>
  <span id="status" class="muted" data-refreshes="0">loading&hellip;</span>
</header>
<section id="auth" class="card" hidden>
  <form id="auth-form">
    <label for="token">This admin API needs its bearer token (<code>admin.token</code>):</label>
    <input id="token" name="token" type="password" autocomplete="off" required>
    <button type="submit">Use token</button>
  </form>
  <p class="muted">Kept in this browser tab's session storage only.</p>
</section>
<main id="main"></main>
<noscript>The status page needs JavaScript; the same data is at /api/models, /api/findings, /api/alerts/history and /api/windows.</noscript>
</body>
</html>
`;

export const STATUS_PAGE_CSS = `
:root { --ok: #2e7d32; --warn: #b26a00; --fail: #c62828; --error: #6a1b9a; --ref: #5b7fa6; --cur: #e07b2a; --line: #ddd; --muted: #666; }
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; padding: 0 1.5rem 2rem; color: #222; background: #f6f7f9; }
header { display: flex; align-items: baseline; gap: 1rem; padding: 1rem 0 .5rem; }
h1 { font-size: 1.4rem; margin: 0; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
h3 { font-size: 1rem; margin: 0 0 .25rem; }
code { font-size: .95em; }
.muted { color: var(--muted); }
.error-text { color: var(--fail); }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .75rem 1rem; margin: .5rem 0; }
.empty { color: var(--muted); font-style: italic; padding: .5rem 0; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef0f3; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.status-warn td { background: #fff6e5; }
tr.status-fail td { background: #fdecec; }
tr.status-error td { background: #f5ebf8; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 3px; color: #fff; font-size: .8rem; font-weight: 600; text-transform: uppercase; }
.badge.ok { background: var(--ok); } .badge.warn { background: var(--warn); } .badge.fail { background: var(--fail); } .badge.error { background: var(--error); }
.features { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(430px, 100%), 1fr)); gap: .75rem; }
.feature { min-width: 0; }
.table-wrap { overflow-x: auto; max-width: 100%; }
td code { overflow-wrap: anywhere; }
header { flex-wrap: wrap; }
@media (max-width: 600px) {
  body { padding: 0 .5rem 1rem; }
  .card { padding: .5rem; }
  th, td { padding: .25rem .35rem; }
}
.feature.status-fail { border-left: 4px solid var(--fail); } .feature.status-warn { border-left: 4px solid var(--warn); }
.charts { display: flex; flex-wrap: wrap; gap: .5rem; }
svg.chart { background: #fff; overflow: visible; max-width: 100%; height: auto; }
svg.chart text { font-size: 10px; fill: #555; }
svg.chart .axis { stroke: #999; stroke-width: 1; }
svg.chart .grid { stroke: #eee; stroke-width: 1; }
svg.chart .bar-ref { fill: var(--ref); }
svg.chart .bar-cur { fill: var(--cur); }
svg.chart .psi-line { fill: none; stroke: var(--cur); stroke-width: 2; }
svg.chart .psi-point { fill: var(--cur); }
svg.chart .threshold-warn { stroke: var(--warn); stroke-dasharray: 4 3; }
svg.chart .threshold-fail { stroke: var(--fail); stroke-dasharray: 4 3; }
.legend { font-size: .8rem; color: var(--muted); }
.legend .swatch { display: inline-block; width: .8em; height: .8em; margin: 0 .25em 0 .6em; vertical-align: -1px; }
.swatch.ref { background: var(--ref); } .swatch.cur { background: var(--cur); }
#auth form { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
.alert-history { list-style: none; margin: 0; padding: 0; background: #fff; border: 1px solid var(--line); }
.alert-history li { padding: .35rem .6rem; border-bottom: 1px solid var(--line); border-left: 4px solid var(--line); overflow-wrap: anywhere; }
.alert-history li:last-child { border-bottom: 0; }
.alert-history li.firing.sev-fail { border-left-color: var(--fail); } .alert-history li.firing.sev-warn { border-left-color: var(--warn); } .alert-history li.firing.sev-error { border-left-color: var(--error); }
.alert-history .head { display: flex; flex-wrap: wrap; gap: .2rem .5rem; align-items: baseline; }
.alert-history .state { font-size: .8rem; font-weight: 600; text-transform: uppercase; }
.alert-history .state.firing { color: var(--fail); } .alert-history .state.resolved { color: var(--ok); }
.alert-history .meta { font-size: .85rem; color: var(--muted); }
svg.chart .est-line { fill: none; stroke: var(--ref); stroke-width: 2; stroke-dasharray: 5 3; }
svg.chart .est-point { fill: var(--ref); }
.swatch.est { background: var(--ref); }
table.confusion { width: auto; }
table.confusion td.agree { background: #e8f3e9; font-weight: 600; }
`;

export const STATUS_PAGE_JS = String.raw`(function () {
  'use strict';
  var TOKEN_KEY = 'driftwatch.adminToken';
  // ?refresh=SECONDS (1 to 3600) overrides the 10 s default, for a wall screen or a slow link.
  var refreshParam = Number(new URLSearchParams(location.search).get('refresh'));
  var REFRESH_MS = refreshParam >= 1 && refreshParam <= 3600 ? Math.round(refreshParam * 1000) : 10000;
  var HISTORY = '24h';
  // Alert episodes listed (the API keeps the newest 1000 resolved ones and every firing one).
  var ALERTS_SHOWN = 20;
  var STAT_LABELS = { psi: 'PSI', ks_pvalue: 'KS p-value', ks_statistic: 'KS D', chi2_pvalue: 'chi-square p-value', wasserstein: 'Wasserstein (normalised)', jensen_shannon: 'Jensen-Shannon distance' };
  var SVG_NS = 'http://www.w3.org/2000/svg';
  var RANK = { fail: 0, error: 1, warn: 2, ok: 3 };
  var main = document.getElementById('main');
  var statusLine = document.getElementById('status');
  var authBox = document.getElementById('auth');
  var authForm = document.getElementById('auth-form');
  var tokenInput = document.getElementById('token');
  var refreshes = 0;
  var timer = null;
  var running = false;
  // References change only when someone rebuilds one: re-read them once a minute, not every refresh.
  var refCache = {};
  var REF_TTL_MS = 60000;

  function AuthNeeded() { this.name = 'AuthNeeded'; }

  // Falls back to memory where session storage is refused (some private modes).
  var memoryToken = '';
  function readToken() {
    try { return sessionStorage.getItem(TOKEN_KEY) || memoryToken; } catch (e) { return memoryToken; }
  }

  // Endpoints this process does not run (a proxy alone has no checks and no registry): learnt from
  // their first 404 and not asked again while the page is open, since a process's parts do not
  // change while it runs (a reload of the page asks again).
  var absent = {};
  function isAbsent(path) { return absent[path.split('?')[0]] === true; }

  // null: this process does not run that part (404); throws AuthNeeded on 401.
  function api(path) {
    var base = path.split('?')[0];
    if (absent[base]) return Promise.resolve(null);
    var headers = { Accept: 'application/json' };
    var token = readToken();
    if (token) headers.Authorization = 'Bearer ' + token;
    return fetch(path, { headers: headers, cache: 'no-store' }).then(function (res) {
      if (res.status === 401) throw new AuthNeeded();
      if (res.status === 404) {
        return res.json().catch(function () { return {}; }).then(function (body) {
          // Only "no such part here": a 404 for one model (not registered) says nothing of the endpoint.
          if (body && body.error_code === 'ENDPOINT_NOT_FOUND') absent[base] = true;
          return null;
        });
      }
      return res.json().catch(function () { return {}; }).then(function (body) {
        if (!res.ok) throw new Error(path + ': HTTP ' + res.status + (body && body.message ? ' ' + body.message : ''));
        return body;
      });
    });
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }
  function svg(tag, attrs, children) {
    var node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }
  function setAttrs(node, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      if (attrs[k] !== null && attrs[k] !== undefined) node.setAttribute(k, String(attrs[k]));
    });
  }
  function append(node, children) {
    if (children === null || children === undefined) return;
    (Array.isArray(children) ? children : [children]).forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      node.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    });
  }

  function fmt(v) {
    if (v === null || v === undefined || typeof v !== 'number' || !isFinite(v)) return '\u2014';
    var a = Math.abs(v);
    if (a === 0) return '0';
    if (a >= 1000) return Math.round(v).toLocaleString('en-US');
    if (a >= 0.001) return String(Number(v.toPrecision(3)));
    return v.toExponential(2);
  }
  function pct(v) { return (v * 100).toFixed(v >= 0.1 ? 0 : 1) + '%'; }
  function time(ms) { return ms ? new Date(ms).toLocaleString() : '\u2014'; }
  function badge(status) { return el('span', { class: 'badge ' + status }, status); }
  function empty(text) { return el('p', { class: 'empty' }, text); }
  function thresholdText(t) {
    if (!t) return '\u2014';
    var op = t.direction === 'below' ? '\u2264 ' : '\u2265 ';
    var parts = [];
    if (t.warn !== null && t.warn !== undefined && t.warn !== t.fail) parts.push('warn ' + op + fmt(t.warn));
    if (t.fail !== null && t.fail !== undefined) parts.push('fail ' + op + fmt(t.fail));
    return parts.length ? parts.join(', ') : '\u2014';
  }
  // Traffic whose answer named no version (a proxy without --model-version) is stored under
  // "unknown": shown as the model alone, never as a version called "unknown".
  function known(version) { return !!version && version !== 'unknown'; }
  function modelText(model, version) { return model + (known(version) ? ' v' + version : ''); }
  function subjectText(f) {
    var s = f.subject;
    return modelText(s.model, s.version) + ' \u00b7 ' + (s.role === 'prediction' ? 'prediction ' : '') + s.name;
  }
  function byStatus(a, b) {
    return (RANK[a.status] - RANK[b.status]) || a.check.localeCompare(b.check) || subjectText(a).localeCompare(subjectText(b));
  }
  // Wide tables scroll inside their own box on a narrow screen; the page itself never scrolls sideways.
  function table(headers, rows) {
    return el('div', { class: 'table-wrap' }, el('table', null, [
      el('thead', null, el('tr', null, headers.map(function (h) { return el('th', null, h); }))),
      el('tbody', null, rows),
    ]));
  }
  function key(model, version) { return model + '\u001f' + version; }

  // ---- charts ----

  /** Bars over the reference's bins (or categories): reference shares vs current shares. */
  function histogramChart(model, version, name, bars, hasCurrent) {
    var W = 420, H = 170, ml = 34, mr = 6, mt = 8, mb = 34;
    var n = bars.length;
    var max = 0;
    bars.forEach(function (b) { max = Math.max(max, b.ref, b.cur || 0); });
    if (max === 0) max = 1;
    var y = function (share) { return mt + (H - mt - mb) * (1 - share / max); };
    var gw = (W - ml - mr) / n;
    var bw = Math.max(1, gw * 0.38);
    var nodes = [
      svg('line', { class: 'axis', x1: ml, x2: W - mr, y1: H - mb, y2: H - mb }),
      svg('line', { class: 'grid', x1: ml, x2: W - mr, y1: y(max), y2: y(max) }),
      svg('text', { x: ml - 4, y: y(max) + 3, 'text-anchor': 'end' }, pct(max)),
      svg('text', { x: ml - 4, y: H - mb + 3, 'text-anchor': 'end' }, '0'),
    ];
    bars.forEach(function (b, i) {
      var x0 = ml + i * gw + gw * 0.1;
      nodes.push(svg('rect', { class: 'bar bar-ref', x: x0, y: y(b.ref), width: bw, height: H - mb - y(b.ref), 'data-share': b.ref.toFixed(4) },
        svg('title', null, b.label + ': reference ' + pct(b.ref))));
      if (hasCurrent) {
        nodes.push(svg('rect', { class: 'bar bar-cur', x: x0 + bw, y: y(b.cur), width: bw, height: H - mb - y(b.cur), 'data-share': b.cur.toFixed(4) },
          svg('title', null, b.label + ': current ' + pct(b.cur))));
      }
      // Label as many bins as fit without overlapping.
      var every = Math.ceil(n / 8);
      if (i % every === 0) {
        nodes.push(svg('text', { x: ml + i * gw + gw / 2, y: H - mb + 13, 'text-anchor': 'middle' }, b.short));
      }
    });
    nodes.push(svg('text', { x: (ml + W - mr) / 2, y: H - 4, 'text-anchor': 'middle' }, name + (bars.isCategorical ? ' (categories)' : ' (reference bins)')));
    return svg('svg', { class: 'chart histogram', width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'data-chart': 'histogram', 'data-model': model, 'data-version': version, 'data-feature': name, 'data-bars': n, 'aria-label': name + ': reference vs current distribution' }, nodes);
  }

  /**
   * One statistic per drift check run over the history span (PSI; the KS p-value when KS decides
   * the verdict), with the thresholds when that statistic decides. kind: 'psi', or the metric of
   * the finding that decides (ks_pvalue: data-chart "ks"; any other: data-chart "stat").
   */
  function psiChart(model, version, name, points, threshold, kind) {
    kind = kind || 'psi';
    var label = STAT_LABELS[kind] || kind;
    var chart = kind === 'psi' ? 'psi' : kind === 'ks_pvalue' ? 'ks' : 'stat';
    var W = 420, H = 150, ml = 34, mr = 8, mt = 8, mb = 30;
    var xs = points.map(function (p) { return p.at; });
    var t0 = Math.min.apply(null, xs), t1 = Math.max.apply(null, xs);
    if (t1 === t0) { t0 -= 60000; t1 += 60000; }
    // A p-value lives in [0, 1]; PSI from 0 up, with room above the conventional 0.25.
    var max = /_pvalue$/.test(kind) ? 1 / 1.05 : kind === 'psi' ? 0.3 : 0;
    points.forEach(function (p) { max = Math.max(max, p.psi); });
    if (threshold) max = Math.max(max, threshold.fail || 0, threshold.warn || 0);
    max = (max || 1) * 1.05;
    var x = function (t) { return ml + (W - ml - mr) * (t - t0) / (t1 - t0); };
    var y = function (v) { return mt + (H - mt - mb) * (1 - v / max); };
    var nodes = [
      svg('line', { class: 'axis', x1: ml, x2: W - mr, y1: H - mb, y2: H - mb }),
      svg('line', { class: 'axis', x1: ml, x2: ml, y1: mt, y2: H - mb }),
      svg('text', { x: ml - 4, y: y(max) + 3, 'text-anchor': 'end' }, fmt(max)),
      svg('text', { x: ml - 4, y: H - mb + 3, 'text-anchor': 'end' }, '0'),
      svg('text', { x: ml, y: H - mb + 13, 'text-anchor': 'start' }, new Date(t0).toLocaleTimeString()),
      svg('text', { x: W - mr, y: H - mb + 13, 'text-anchor': 'end' }, new Date(t1).toLocaleTimeString()),
      svg('text', { x: (ml + W - mr) / 2, y: H - 4, 'text-anchor': 'middle' }, name + ': ' + label + ' over the last ' + HISTORY),
    ];
    if (threshold) {
      if (threshold.warn !== null && threshold.warn !== undefined) nodes.push(svg('line', { class: 'threshold-warn', x1: ml, x2: W - mr, y1: y(threshold.warn), y2: y(threshold.warn) }, svg('title', null, 'warn at ' + fmt(threshold.warn))));
      if (threshold.fail !== null && threshold.fail !== undefined) nodes.push(svg('line', { class: 'threshold-fail', x1: ml, x2: W - mr, y1: y(threshold.fail), y2: y(threshold.fail) }, svg('title', null, 'fail at ' + fmt(threshold.fail))));
    }
    if (points.length > 1) {
      nodes.push(svg('polyline', { class: 'psi-line', points: points.map(function (p) { return x(p.at).toFixed(1) + ',' + y(p.psi).toFixed(1); }).join(' ') }));
    }
    points.forEach(function (p) {
      nodes.push(svg('circle', { class: 'psi-point', cx: x(p.at), cy: y(p.psi), r: 3, 'data-psi': kind === 'psi' ? p.psi : null, 'data-value': p.psi }, svg('title', null, time(p.at) + ': ' + label + ' ' + fmt(p.psi))));
    });
    return svg('svg', { class: 'chart ' + chart, width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'data-chart': chart, 'data-metric': kind, 'data-model': model, 'data-version': version, 'data-feature': name, 'data-points': points.length, 'aria-label': name + ': ' + label + ' over time' }, nodes);
  }

  /** The bars for one feature: reference and current shares over the same bins or categories. */
  function barsFor(refFeature, curFeature) {
    var bars = [];
    var hasCurrent = false;
    if (refFeature.bins) {
      var b = refFeature.bins;
      var cut = [b.lo].concat(b.edges, [b.hi]);
      var cur = curFeature && curFeature.bins && curFeature.bins.layout === b.layout ? curFeature.bins.counts : null;
      hasCurrent = !!cur;
      var refTotal = b.counts.reduce(function (s, c) { return s + c; }, 0) || 1;
      var curTotal = cur ? (cur.reduce(function (s, c) { return s + c; }, 0) || 1) : 1;
      b.counts.forEach(function (c, i) {
        var label, short;
        if (i === 0) { label = '< ' + fmt(b.lo); short = '<' + fmt(b.lo); }
        else if (i === b.counts.length - 1) { label = '> ' + fmt(b.hi); short = '>' + fmt(b.hi); }
        else { label = '[' + fmt(cut[i - 1]) + ', ' + fmt(cut[i]) + (i === b.counts.length - 2 ? ']' : ')'); short = fmt(cut[i - 1]); }
        bars.push({ label: label, short: short, ref: c / refTotal, cur: cur ? cur[i] / curTotal : 0 });
      });
      // The outer bins hold nothing of the reference by construction: show them only when traffic lands there.
      bars = bars.filter(function (bar, i) { return !(i === 0 || i === b.counts.length - 1) || bar.ref > 0 || bar.cur > 0; });
    } else if (refFeature.categories) {
      var rc = refFeature.categories;
      var cc = curFeature && curFeature.categories ? curFeature.categories : null;
      hasCurrent = !!cc;
      var names = Object.keys(rc.counts);
      var sum = function (o) { return Object.keys(o.counts).reduce(function (s, k) { return s + o.counts[k]; }, 0) + o.unseen + o.other; };
      var rt = sum(rc) || 1, ct = cc ? (sum(cc) || 1) : 1;
      names.forEach(function (k) { bars.push({ label: k, short: k.slice(0, 8), ref: rc.counts[k] / rt, cur: cc ? (cc.counts[k] || 0) / ct : 0 }); });
      if (cc && (cc.unseen || cc.other)) bars.push({ label: 'not in the reference', short: 'unseen', ref: 0, cur: (cc.unseen + cc.other) / ct });
      bars.isCategorical = true;
    }
    return { bars: bars, hasCurrent: hasCurrent };
  }

  // ---- sections ----

  function modelsSection(models, series, staleness) {
    var rows = [];
    var seen = {};
    var staleFor = function (name) {
      return staleness.filter(function (f) { return f.subject.model === name && (f.status === 'warn' || f.status === 'fail'); });
    };
    var staleCell = function (name) {
      var st = staleFor(name);
      return st.length ? el('td', null, st.map(function (f) { return el('div', null, [badge(f.status), ' ', f.message]); })) : el('td', { class: 'muted' }, staleness.length ? 'no' : '\u2014');
    };
    (models || []).forEach(function (m) {
      seen[m.name] = true;
      rows.push(el('tr', { class: staleFor(m.name).length ? 'status-warn' : null, 'data-model': m.name }, [
        el('td', null, m.name), el('td', null, m.version || '\u2014'),
        el('td', null, [el('code', null, m.uri)].concat(m.challenger ? [el('div', { class: 'muted', 'data-challenger': m.challenger.uri }, ['challenger ', el('code', null, m.challenger.uri), m.challenger.version ? ' (v' + m.challenger.version + ')' : ' (not loaded)'])] : [])),
        el('td', null, time(m.loadedAtMs)),
        el('td', { class: m.lastError || m.registryError ? 'error-text' : 'muted' }, m.lastError || m.registryError || 'none'),
        staleCell(m.name),
      ]));
    });
    // In an analyzer of its own no model is served here: list what the store has seen instead.
    (series || []).forEach(function (s) {
      if (seen[s.model]) return;
      seen[s.model] = true;
      rows.push(el('tr', { 'data-model': s.model }, [
        el('td', null, s.model), el('td', null, known(s.version) ? s.version : '\u2014'), el('td', { class: 'muted' }, 'not served by this process'),
        el('td', { class: 'muted' }, '\u2014'), el('td', { class: 'muted' }, '\u2014'), staleCell(s.model),
      ]));
    });
    return [
      el('h2', null, 'Models'),
      rows.length ? table(['Model', 'Version', 'URI', 'Loaded at', 'Last error', 'Stale'], rows) : empty('no models served or seen by this process'),
    ];
  }

  function findingsSection(latest) {
    if (latest === null) return [el('h2', null, 'Latest findings'), empty('no checks run in this process (driftwatch start or driftwatch analyze)')];
    var rows = latest.slice().sort(byStatus).map(function (f) {
      return el('tr', { class: 'status-' + f.status, 'data-check': f.check, 'data-subject': f.subject.name, 'data-status': f.status }, [
        el('td', null, f.check), el('td', { title: f.message }, subjectText(f)), el('td', null, badge(f.status)),
        el('td', null, f.metric), el('td', { class: 'num' }, fmt(f.value)), el('td', null, thresholdText(f.threshold)),
        el('td', { class: 'num' }, f.sampleSize ? f.sampleSize.toLocaleString('en-US') : '\u2014'), el('td', null, time(f.at)),
      ]);
    });
    return [
      el('h2', null, 'Latest findings'),
      rows.length ? table(['Check', 'Subject', 'Status', 'Metric', 'Value', 'Threshold', 'n', 'At'], rows) : empty('no checks have run yet'),
    ];
  }

  function sloSection(latest) {
    var slo = (latest || []).filter(function (f) { return f.check === 'slo'; }).sort(byStatus);
    var rows = slo.map(function (f) {
      return el('tr', { class: 'status-' + f.status, 'data-subject': f.subject.name }, [
        el('td', null, f.subject.model), el('td', null, f.subject.name), el('td', null, badge(f.status)),
        el('td', null, f.metric), el('td', { class: 'num' }, fmt(f.value)), el('td', null, thresholdText(f.threshold)),
        el('td', { class: 'num' }, f.sampleSize ? f.sampleSize.toLocaleString('en-US') : '\u2014'), el('td', null, f.window ? f.window.label : '\u2014'),
      ]);
    });
    return [
      el('h2', null, 'SLOs'),
      rows.length ? table(['Model', 'Objective', 'Status', 'Metric', 'Value', 'Threshold', 'Requests', 'Window'], rows) : empty(latest === null ? 'no checks run in this process' : 'no SLO checks have run (checks.slo.targets)'),
    ];
  }

  function duration(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.round(s / 60) + ' min';
    if (s < 86400) return (s / 3600).toFixed(s < 36000 ? 1 : 0) + ' h';
    return (s / 86400).toFixed(1) + ' d';
  }
  function deliveryText(d) {
    if (!d) return null;
    var text = d.state === 'pending' ? 'pending (' + d.attempts + ' tries)' : d.state === 'pruned' ? 'sent (record pruned)' : d.state;
    if (d.state !== 'delivered' && d.lastStatus) text += ' (HTTP ' + d.lastStatus + ')';
    return text;
  }

  /** Fired and resolved alerts, newest transition first: a compact list that fits a phone. */
  function alertsSection(history) {
    var title = 'Alerts: fired and resolved' + (history && history.length ? ', last ' + history.length : '');
    if (history === null) return [el('h2', null, 'Alerts'), empty('no alerts run in this process (driftwatch start or driftwatch analyze)')];
    if (!history.length) return [el('h2', null, title), empty('no alert has fired yet')];
    var items = history.map(function (a) {
      var subject = modelText(a.model, a.version) + ' · ' + a.check + ' ' + (a.role === 'prediction' ? 'prediction ' : '') + a.name;
      var when = 'fired ' + time(a.firedAtMs) + (a.resolvedAtMs ? ' → resolved ' + time(a.resolvedAtMs) + ' (after ' + duration(a.resolvedAtMs - a.firedAtMs) + ')' : '');
      var changes = a.transitions.filter(function (t, i) { return i > 0 && t.state === 'firing'; }).map(function (t) { return t.severity + ' at ' + time(t.atMs); });
      var told = a.receivers.map(function (r) {
        var parts = [deliveryText(r.firing), r.resolved ? 'resolved ' + deliveryText(r.resolved) : null].filter(function (x) { return x; });
        return r.name + ': ' + (parts.join(', ') || '—');
      });
      return el('li', { class: a.state + ' sev-' + a.severity, 'data-key': a.key, 'data-state': a.state, 'data-severity': a.severity, 'data-model': a.model, 'data-subject': a.name }, [
        el('div', { class: 'head' }, [badge(a.severity), el('span', { class: 'state ' + a.state }, a.state), el('span', null, subject)]),
        el('div', { class: 'meta' }, when),
        changes.length ? el('div', { class: 'meta' }, 'severity changed: ' + changes.join(', ')) : null,
        el('div', { class: 'meta', title: a.message }, told.length ? 'told ' + told.join('; ') : 'no receiver told (none routed for it, or silenced)'),
      ]);
    });
    return [el('h2', null, title), el('ol', { class: 'alert-history' }, items)];
  }

  /** A drift statistic of one run, read from the finding's detail (whatever its headline was). */
  function statOf(f, metric) {
    var d = f.detail || {};
    if (metric === 'ks_statistic') return d.ks ? d.ks.statistic : null;
    if (metric === 'ks_pvalue') return d.ks ? d.ks.pvalue : null;
    if (metric === 'chi2_pvalue') return d.chi2 ? d.chi2.pvalue : null;
    if (metric === 'wasserstein') return d.wasserstein ? d.wasserstein.value : null;
    if (metric === 'jensen_shannon') return typeof d.jensen_shannon === 'number' ? d.jensen_shannon : typeof d.jensenShannon === 'number' ? d.jensenShannon : null;
    return f.metric === metric && typeof f.value === 'number' ? f.value : null;
  }

  function featureCard(model, version, role, name, refFeature, curFeature, finding, history) {
    var status = finding ? finding.status : 'ok';
    var hb = barsFor(refFeature, curFeature);
    var charts = [];
    if (hb.bars.length) charts.push(histogramChart(model, version, name, hb.bars, hb.hasCurrent));
    else charts.push(empty('no bins or categories in the reference'));
    var points = history.filter(function (f) { return f.detail && f.detail.psi && typeof f.detail.psi.value === 'number'; })
      .map(function (f) { return { at: f.at, psi: f.detail.psi.value }; })
      .sort(function (a, b) { return a.at - b.at; });
    var psiThreshold = finding && finding.metric === 'psi' ? finding.threshold : null;
    charts.push(points.length ? psiChart(model, version, name, points, psiThreshold) : empty(history.length ? 'no PSI for this feature (too few rows, or categorical without bins)' : 'no drift checks have run for this feature yet'));
    // When another statistic decides the verdict (the KS p-value, or the effect that settled it:
    // KS D, Wasserstein, Jensen-Shannon), its value over time is what crossed or did not cross
    // the threshold: drawn too, with that threshold.
    var decisive = finding && finding.metric !== 'psi' && typeof finding.value === 'number' ? finding.metric : null;
    if (decisive) {
      // From each run's detail, not its headline: the headline switches between the test's
      // p-value and the effect as the verdict changes, the detail has every statistic every run.
      var stat = history.map(function (f) { return { at: f.at, psi: statOf(f, decisive) }; })
        .filter(function (p) { return typeof p.psi === 'number'; })
        .sort(function (a, b) { return a.at - b.at; });
      if (stat.length) charts.push(psiChart(model, version, name, stat, finding.threshold, decisive));
    }
    return el('div', { class: 'card feature status-' + status, 'data-model': model, 'data-version': version, 'data-feature': name, 'data-status': status }, [
      el('h3', null, [(role === 'prediction' ? 'prediction ' : '') + name + ' ', finding ? badge(status) : el('span', { class: 'muted' }, 'not checked yet')]),
      finding ? el('p', { class: 'muted' }, finding.message) : null,
      el('div', { class: 'legend' }, [el('span', { class: 'swatch ref' }), 'reference', el('span', { class: 'swatch cur' }), hb.hasCurrent ? 'current window' : 'current window (no binned traffic yet)']),
      el('div', { class: 'charts' }, charts),
    ]);
  }

  function reference(model, version) {
    var k = key(model, version);
    var hit = refCache[k];
    if (hit && Date.now() - hit.at < REF_TTL_MS) return Promise.resolve(hit.value);
    return api('/api/reference?model=' + encodeURIComponent(model) + '&version=' + encodeURIComponent(version)).then(function (body) {
      var value = body ? body.reference : null;
      refCache[k] = { at: Date.now(), value: value };
      return value;
    }).catch(function (e) {
      // One model's reference failing (registry down, a name the registry refuses) must not blank
      // the whole page: that model's cards show "no reference" until the next try.
      if (e instanceof AuthNeeded) throw e;
      refCache[k] = { at: Date.now(), value: null };
      return null;
    });
  }

  function driftSection(subjects, latest, history) {
    if (!subjects.length) return Promise.resolve([el('h2', null, 'Drift per feature'), empty('no traffic yet: nothing in the statistics store')]);
    return Promise.all(subjects.map(function (s) {
      var drift = (latest || []).filter(function (f) { return f.check === 'drift' && f.subject.model === s.model && f.subject.version === s.version; });
      var dataset = drift.filter(function (f) { return f.subject.name === '__dataset__'; })[0];
      var w = dataset && dataset.window;
      // The current distribution over the span the latest drift check compared (else the last hour).
      var range = w ? '&from=' + encodeURIComponent(new Date(w.fromMs).toISOString()) + '&to=' + encodeURIComponent(new Date(w.toMs + 1).toISOString()) : '&from=1h';
      return Promise.all([
        // No version known: there is no reference to ask for.
        known(s.version) ? reference(s.model, s.version) : Promise.resolve(null),
        api('/api/windows?model=' + encodeURIComponent(s.model) + '&version=' + encodeURIComponent(s.version) + '&view=total' + range),
      ]).then(function (r) {
        var ref = r[0], win = r[1];
        var total = win && win.versions ? win.versions.filter(function (v) { return v.version === s.version; })[0] : null;
        var head = el('h3', null, [modelText(s.model, s.version) + ' ', dataset ? badge(dataset.status) : null]);
        var intro = el('p', { class: 'muted' }, dataset ? dataset.message : (total ? total.rows + ' rows in the last hour; no drift check has run yet' : 'no traffic in the last hour'));
        if (!ref) {
          var hint = !known(s.version)
            ? 'no model version is known for this traffic: start the proxy with --model-version V to bin against its reference'
            : isAbsent('/api/reference')
              ? 'this process has no model registry to read the reference from: the analyzer (driftwatch analyze) compares it'
              : 'no reference profile for this version yet (driftwatch reference build)';
          return el('section', { class: 'card', 'data-model': s.model, 'data-version': s.version }, [head, intro, empty(hint)]);
        }
        var cards = [];
        ['features', 'predictions'].forEach(function (group) {
          var role = group === 'features' ? 'input' : 'prediction';
          Object.keys(ref[group]).forEach(function (name) {
            var finding = drift.filter(function (f) { return f.subject.name === name && (f.subject.role || 'input') === role; })[0];
            var hist = history.filter(function (f) { return f.subject.model === s.model && f.subject.version === s.version && f.subject.name === name && (f.subject.role || 'input') === role; });
            var cur = total ? total[group][name] : null;
            cards.push({ rank: finding ? RANK[finding.status] : 4, name: name, node: featureCard(s.model, s.version, role, name, ref[group][name], cur, finding, hist) });
          });
        });
        cards.sort(function (a, b) { return (a.rank - b.rank) || a.name.localeCompare(b.name); });
        return el('section', { class: 'subject', 'data-model': s.model, 'data-version': s.version }, [head, intro, el('div', { class: 'features' }, cards.map(function (c) { return c.node; }))]);
      });
    })).then(function (sections) { return [el('h2', null, 'Drift per feature')].concat(sections); });
  }

  /** Realised and estimated accuracy of one model version over time (the quality check's history). */
  function qualityChart(model, version, realised, estimated, threshold) {
    var W = 420, H = 150, ml = 34, mr = 8, mt = 8, mb = 30;
    var all = realised.concat(estimated);
    var xs = all.map(function (p) { return p.at; });
    var t0 = Math.min.apply(null, xs), t1 = Math.max.apply(null, xs);
    if (t1 === t0) { t0 -= 60000; t1 += 60000; }
    var x = function (t) { return ml + (W - ml - mr) * (t - t0) / (t1 - t0); };
    var y = function (v) { return mt + (H - mt - mb) * (1 - v); };
    var nodes = [
      svg('line', { class: 'axis', x1: ml, x2: W - mr, y1: H - mb, y2: H - mb }),
      svg('line', { class: 'axis', x1: ml, x2: ml, y1: mt, y2: H - mb }),
      svg('text', { x: ml - 4, y: y(1) + 3, 'text-anchor': 'end' }, '1'),
      svg('text', { x: ml - 4, y: H - mb + 3, 'text-anchor': 'end' }, '0'),
      svg('text', { x: ml, y: H - mb + 13, 'text-anchor': 'start' }, new Date(t0).toLocaleTimeString()),
      svg('text', { x: W - mr, y: H - mb + 13, 'text-anchor': 'end' }, new Date(t1).toLocaleTimeString()),
      svg('text', { x: (ml + W - mr) / 2, y: H - 4, 'text-anchor': 'middle' }, 'accuracy over the last ' + HISTORY),
    ];
    if (threshold && threshold.warn !== null && threshold.warn !== undefined) nodes.push(svg('line', { class: 'threshold-warn', x1: ml, x2: W - mr, y1: y(threshold.warn), y2: y(threshold.warn) }));
    if (threshold && threshold.fail !== null && threshold.fail !== undefined) nodes.push(svg('line', { class: 'threshold-fail', x1: ml, x2: W - mr, y1: y(threshold.fail), y2: y(threshold.fail) }));
    [[realised, 'psi-line', 'psi-point', 'realised'], [estimated, 'est-line', 'est-point', 'estimated']].forEach(function (s) {
      var pts = s[0];
      if (pts.length > 1) nodes.push(svg('polyline', { class: s[1], points: pts.map(function (p) { return x(p.at).toFixed(1) + ',' + y(p.v).toFixed(1); }).join(' ') }));
      pts.forEach(function (p) { nodes.push(svg('circle', { class: s[2], cx: x(p.at), cy: y(p.v), r: 3, 'data-series': s[3], 'data-value': p.v }, svg('title', null, time(p.at) + ': ' + s[3] + ' accuracy ' + fmt(p.v)))); });
    });
    return svg('svg', { class: 'chart quality', width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'data-chart': 'quality', 'data-model': model, 'data-version': version, 'data-realised': realised.length, 'data-estimated': estimated.length, 'aria-label': modelText(model, version) + ': realised and estimated accuracy over time' }, nodes);
  }

  /** Model quality where labels are logged: per model version the latest metrics and accuracy over time. */
  function qualitySection(latest, history) {
    var q = (latest || []).filter(function (f) { return f.check === 'quality'; });
    if (!q.length) return [];
    var groups = {};
    var order = [];
    q.forEach(function (f) {
      var k = key(f.subject.model, f.subject.version);
      if (!groups[k]) { groups[k] = { model: f.subject.model, version: f.subject.version, findings: [] }; order.push(k); }
      groups[k].findings.push(f);
    });
    order.sort();
    return [el('h2', null, 'Model quality')].concat(order.map(function (k) {
      var g = groups[k];
      var d = (g.findings[0] && g.findings[0].detail) || {};
      var rows = g.findings.slice().sort(byStatus).map(function (f) {
        return el('tr', { class: 'status-' + f.status, 'data-metric': f.metric }, [
          el('td', null, f.metric), el('td', null, badge(f.insufficientData ? 'ok' : f.status)), el('td', { class: 'num' }, fmt(f.value)),
          el('td', null, f.insufficientData ? 'too few rows' : thresholdText(f.threshold)), el('td', { class: 'num' }, f.sampleSize.toLocaleString('en-US')),
        ]);
      });
      var mine = history.filter(function (f) { return f.subject.model === g.model && f.subject.version === g.version && typeof f.value === 'number' && !f.insufficientData; });
      var series = function (metric) { return mine.filter(function (f) { return f.metric === metric; }).map(function (f) { return { at: f.at, v: f.value }; }).sort(function (a, b) { return a.at - b.at; }); };
      var realised = series('accuracy');
      var estimated = series('estimated_accuracy');
      var acc = g.findings.filter(function (f) { return f.metric === 'accuracy'; })[0];
      var intro = el('p', { class: 'muted' }, [
        'predictions of the last ', g.findings[0].window.label, ': ', (d.predictions || 0).toLocaleString('en-US'), ', labelled ',
        typeof d.labelled_share === 'number' ? pct(d.labelled_share) : '—',
        typeof d.label_delay_p50_ms === 'number' ? ', median label delay ' + duration(d.label_delay_p50_ms) : '',
      ]);
      var chart = realised.length || estimated.length
        ? [qualityChart(g.model, g.version, realised, estimated, acc && acc.threshold), el('div', { class: 'legend' }, [el('span', { class: 'swatch cur' }), 'realised', el('span', { class: 'swatch est' }), 'estimated (from the probabilities)'])]
        : [];
      return el('section', { class: 'card quality', 'data-model': g.model, 'data-version': g.version }, [
        el('h3', null, modelText(g.model, g.version)), intro,
        el('div', { class: 'table-wrap' }, table(['Metric', 'Status', 'Value', 'Threshold', 'n'], rows)),
      ].concat(chart));
    }));
  }

  /** Data quality: per feature and rule, the worst first; all-ok rules folded into one line. */
  function dataQualitySection(latest) {
    var dq = (latest || []).filter(function (f) { return f.check === 'data_quality'; });
    if (!dq.length) return [];
    var bad = dq.filter(function (f) { return f.status !== 'ok'; }).sort(byStatus);
    var rows = bad.map(function (f) {
      var d = f.detail || {};
      return el('tr', { class: 'status-' + f.status, 'data-feature': d.feature, 'data-rule': f.metric }, [
        el('td', null, modelText(f.subject.model, f.subject.version)), el('td', null, d.feature || f.subject.name), el('td', null, f.metric.replace(/_share$/, '').replace(/_/g, ' ')),
        el('td', null, badge(f.status)), el('td', { class: 'num' }, typeof f.value === 'number' ? pct(f.value) : '—'),
        el('td', null, thresholdText(f.threshold)), el('td', { class: 'num' }, f.sampleSize.toLocaleString('en-US')),
      ]);
    });
    var okCount = dq.length - bad.length;
    return [
      el('h2', null, 'Data quality'),
      rows.length ? el('div', { class: 'table-wrap' }, table(['Model', 'Feature', 'Rule', 'Status', 'Share', 'Threshold', 'n'], rows)) : null,
      el('p', { class: 'muted', 'data-ok': okCount }, okCount + ' of ' + dq.length + ' feature rules ok (missing values, out of range, unseen categories, wrong types)'),
    ].filter(function (x) { return x; });
  }

  function diffText(d) {
    return d ? fmt(d.p50) + ' / ' + fmt(d.p95) + ' / ' + fmt(d.p99) : '\u2014';
  }
  /** A span in people's words: "hour", "30 min", "6 h", "2 days" (the challenger window). */
  function spanText(ms) {
    var min = Math.round(ms / 60000);
    if (!(min > 0)) return 'hour';
    if (min === 60) return 'hour';
    if (min < 120) return min + ' min';
    var h = Math.round(min / 60);
    return h < 48 ? h + ' h' : Math.round(h / 24) + ' days';
  }
  function msText(v) { return v === null || v === undefined ? '\u2014' : fmt(v) + ' ms'; }

  /** Champion label x challenger label counts of one comparison; the diagonal is the agreement. */
  function confusionTable(c) {
    var rowsLabels = Object.keys(c.confusion || {}).sort();
    if (!rowsLabels.length) return null;
    var cols = {};
    rowsLabels.forEach(function (a) { Object.keys(c.confusion[a]).forEach(function (b) { cols[b] = true; }); });
    var colLabels = Object.keys(cols).sort();
    var rows = rowsLabels.map(function (a) {
      return el('tr', { 'data-champion-label': a }, [el('th', null, a)].concat(colLabels.map(function (b) {
        var n = c.confusion[a][b] || 0;
        return el('td', { class: 'num' + (a === b ? ' agree' : ''), 'data-challenger-label': b }, n ? n.toLocaleString('en-US') : '\u00b7');
      })));
    });
    return el('div', { class: 'table-wrap' }, [
      el('p', { class: 'muted' }, 'Labels, champion (rows) \u00d7 challenger (columns), v' + c.championVersion + ' vs v' + c.challengerVersion + ':'),
      el('table', { class: 'confusion' }, [el('thead', null, el('tr', null, [el('th', null, '')].concat(colLabels.map(function (b) { return el('th', null, b); })))), el('tbody', null, rows)]),
    ]);
  }

  /**
   * Champion vs challenger per shadowed model (GET /api/challenger): the verdict of the latest
   * version pair first (the same rules as the challenger check), then every pair of the span the
   * API answered for (without a "from": the check's window, checks.challenger.window).
   */
  /** Both models' quality on the same labelled requests of a version pair (labels.enabled). */
  function pairQualityLine(q) {
    var one = function (m) {
      return q.task === 'regression' ? 'RMSE ' + (m.rmse === null ? '\u2014' : m.rmse.toPrecision(4)) : 'accuracy ' + (m.accuracy === null ? '\u2014' : pct(m.accuracy));
    };
    return el('p', { class: 'muted', 'data-quality-pairs': q.labelledPairs, 'data-champion-accuracy': q.champion.accuracy === null ? '' : q.champion.accuracy, 'data-challenger-accuracy': q.challenger.accuracy === null ? '' : q.challenger.accuracy },
      'On ' + q.labelledPairs.toLocaleString('en-US') + ' labelled requests: champion ' + one(q.champion) + ', challenger ' + one(q.challenger));
  }

  function challengerSection(report) {
    if (!report || !report.models || !report.models.length) return [];
    var span = spanText(Date.parse(report.to) - Date.parse(report.from));
    return [el('h2', null, 'Challenger: champion vs challenger, last ' + span)].concat(report.models.map(function (m) {
      var pairs = (m.comparisons || []).slice().sort(function (a, b) { return Date.parse(b.to) - Date.parse(a.to); });
      var latest = pairs[0];
      var verdict = latest ? (latest.verdict.ready ? 'ready' : latest.verdict.insufficient ? 'insufficient' : 'not-ready') : 'none';
      var sh = m.shadow || {};
      var head = el('h3', null, [m.model + ': challenger ' + (m.challenger.version ? 'v' + m.challenger.version : '(not loaded)') + ' vs champion ' + (m.champion.version ? 'v' + m.champion.version : '\u2014') + ' ', latest ? badge(latest.status) : null]);
      var rows = pairs.map(function (c) {
        var diff = c.probDiff ? diffText(c.probDiff) + ' (probability)' : c.valueDiff ? diffText(c.valueDiff) + ' (value)' : '\u2014';
        return el('tr', { class: 'status-' + c.status, 'data-champion': c.championVersion, 'data-challenger': c.challengerVersion, 'data-status': c.status }, [
          el('td', null, 'v' + c.championVersion + ' \u2192 v' + c.challengerVersion), el('td', null, badge(c.status)),
          el('td', { class: 'num', 'data-requests': c.requests }, c.requests.toLocaleString('en-US')),
          el('td', { class: 'num', 'data-agreement': c.agreement === null ? '' : c.agreement }, c.agreement === null ? '\u2014' : pct(c.agreement)),
          el('td', { class: 'num' }, diff),
          el('td', { class: 'num' }, msText(c.champion.p50Ms) + ' / ' + msText(c.champion.p99Ms)),
          el('td', { class: 'num' }, msText(c.challenger.p50Ms) + ' / ' + msText(c.challenger.p99Ms)),
          el('td', { class: 'num', 'data-errors': c.challenger.errors }, c.challenger.errors + (c.challenger.errorRate ? ' (' + pct(c.challenger.errorRate) + ')' : '')),
        ]);
      });
      return el('section', { class: 'card challenger', 'data-model': m.model, 'data-verdict': verdict }, [
        head,
        el('p', { class: latest && latest.status !== 'ok' ? 'error-text verdict' : 'muted verdict' }, latest ? latest.verdict.message : 'no shadowed request answered in the last ' + span),
        el('p', { class: 'muted' }, [
          'champion ', el('code', null, m.champion.uri), ', challenger ', el('code', null, m.challenger.uri), ', sample ', pct(m.sampleRate),
          ' \u00b7 since start: ', String(sh.sampled || 0), ' sampled, ', String(sh.scored || 0), ' scored, ', String(sh.failed || 0), ' failed, ',
          String(sh.dropped || 0), ' dropped (queue full), ', String(sh.notLoaded || 0), ' while not loaded',
        ]),
        m.challenger.lastError ? el('p', { class: 'error-text' }, 'challenger: ' + m.challenger.lastError) : null,
        latest && latest.quality && latest.quality.labelledPairs ? pairQualityLine(latest.quality) : null,
        rows.length ? table(['Versions', 'Status', 'Requests', 'Agreement', 'Difference p50 / p95 / p99', 'Champion p50 / p99', 'Challenger p50 / p99', 'Challenger errors'], rows) : null,
        latest ? confusionTable(latest) : null,
      ]);
    }));
  }

  function load() {
    return Promise.all([
      api('/api/models'),
      api('/api/series'),
      api('/api/findings'),
      api('/api/findings?check=drift&since=' + HISTORY + '&limit=10000'),
      api('/api/findings?check=quality&since=' + HISTORY + '&limit=10000'),
    ]).then(function (r) {
      // Asked only where a served model has a challenger (GET /api/models says so), so other
      // processes never see a 404 for it.
      var shadowed = r[0] && (r[0].models || []).some(function (m) { return !!m.challenger; });
      return (shadowed ? api('/api/challenger') : Promise.resolve(null)).then(function (c) { return r.concat([c]); });
    }).then(function (r) {
      // Alerts run where the checks run: a process without findings is not asked (no 404 each refresh).
      return (r[2] ? api('/api/alerts/history?limit=' + ALERTS_SHOWN) : Promise.resolve(null)).then(function (alerts) { return r.concat([alerts]); });
    }).then(function (r) {
      var models = r[0] ? r[0].models : [];
      var series = r[1] ? r[1].series : null;
      var latest = r[2] ? r[2].findings : null;
      var history = r[3] ? r[3].findings : [];
      var qualityHistory = r[4] ? r[4].findings : [];
      var challengers = r[5];
      var alertHistory = r[6] ? r[6].alerts : null;
      var subjects = [];
      var seen = {};
      var add = function (model, version) {
        if (!model || !version || model === '*' || seen[key(model, version)]) return;
        seen[key(model, version)] = true;
        subjects.push({ model: model, version: String(version) });
      };
      (series || []).forEach(function (s) { add(s.model, s.version); });
      (latest || []).forEach(function (f) { if (f.check === 'drift') add(f.subject.model, f.subject.version); });
      subjects.sort(function (a, b) { return a.model.localeCompare(b.model) || a.version.localeCompare(b.version); });
      var staleness = (latest || []).filter(function (f) { return f.check === 'staleness'; });
      return driftSection(subjects, latest, history).then(function (drift) {
        return [].concat(
          modelsSection(models, series, staleness), challengerSection(challengers), findingsSection(latest), sloSection(latest), qualitySection(latest, qualityHistory),
          dataQualitySection(latest), alertsSection(alertHistory), drift,
        );
      });
    });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, REFRESH_MS);
  }

  function refresh() {
    if (running) return;
    running = true;
    load().then(function (nodes) {
      // Built off-screen and swapped in one step, so a refresh never flickers.
      var frag = document.createDocumentFragment();
      append(frag, nodes);
      main.replaceChildren(frag);
      authBox.hidden = true;
      refreshes += 1;
      statusLine.className = 'muted';
      statusLine.textContent = 'updated ' + new Date().toLocaleTimeString() + ' \u00b7 refreshes every ' + (REFRESH_MS / 1000) + ' s';
      statusLine.setAttribute('data-refreshes', String(refreshes));
      schedule();
    }, function (e) {
      if (e instanceof AuthNeeded) {
        // Wait for the token: polling without one would only collect more 401s.
        authBox.hidden = false;
        statusLine.className = 'error-text';
        statusLine.textContent = readToken() ? 'the token was refused: enter the admin token again' : 'enter the admin token to see the status';
        tokenInput.focus();
        return;
      }
      statusLine.className = 'error-text';
      statusLine.textContent = 'refresh failed: ' + (e && e.message ? e.message : String(e)) + ' (retrying)';
      schedule();
    }).then(function () { running = false; }, function (e) { running = false; throw e; });
  }

  authForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    memoryToken = tokenInput.value.trim();
    try { sessionStorage.setItem(TOKEN_KEY, memoryToken); } catch (e) { /* refused: the token lasts this page only */ }
    tokenInput.value = '';
    refCache = {};
    refresh();
  });
  refresh();
})();
`;
