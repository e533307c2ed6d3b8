/**
 * The SLO check: per model with recent traffic and a target (checks.slo.targets; "*" for the
 * rest), latency quantiles and the error rate over the target's window, and the SRE workbook's
 * multiwindow burn-rate rules, as Findings. Reads the StatsStore interface only.
 *
 * Latency comes from the stored mergeable histograms (quantiles interpolated within a bucket:
 * error at most one bucket width; the share of requests slower than a configured threshold is
 * exact, because every configured threshold is a bucket boundary). Errors are 5xx answers,
 * including the proxy's own 502/504. For burn rates a request is bad when it failed or was slower
 * than latencyThresholdMs; the histogram cannot tell which slow requests also failed, so bad is
 * min(total, 5xx + slow): an upper bound, i.e. it may page slightly early, never late.
 *
 * With a cache (createSloCache, kept by the scheduled check between runs) a run reads only what
 * can differ from the previous one: the unsettled last hour or so, the hour each span starts in,
 * and hours not read for REFRESH_MS; the other hours come from their sums (traffic-hours.ts).
 * The findings are those of reading everything, exactly, as long as no window changes more than
 * SETTLE_MS after its end (a longer stats.flushIntervalMs, or a replay from an InfluxDB store's
 * spool): such a change is seen within REFRESH_MS, and a failed read empties the cache, since an
 * outage is what makes a spool replay late windows.
 */
import type { Finding } from '../findings/finding.js';
import { statusFor } from '../findings/finding.js';
import type { SloCheckConfig, SloTarget } from '../config/schema.js';
import { latencyCount, latencyFractionAbove, latencyQuantile } from '../stats/latency-histogram.js';
import type { StatsStore, TrafficWindow, WindowQuery } from '../store/types.js';
import { evaluateBurnRule, SRE_BURN_RULES, type WindowCounts } from './burn-rate.js';
import { emptySpan, HOUR_MS, type HourSums, type SpanSums, spanFrom, sumByHour } from './traffic-hours.js';

type Span = SpanSums;

/** A window's counts are final this long after it ends: stats.flushIntervalMs is at most 10 minutes. */
export const SETTLE_MS = 15 * 60_000;
/** A cached hour is read again after this, so a change later than SETTLE_MS is seen within it. */
export const REFRESH_MS = HOUR_MS;

/** The settled hours' sums of each model, between runs of one check (never shared by two). */
export interface SloCache {
  models: Map<string, Map<number, { sums: HourSums; readAtMs: number }>>;
}

export function createSloCache(): SloCache {
  return { models: new Map() };
}

/** Requests, 5xx and latency of the windows ending after fromMs (all versions together). */
function span(windows: readonly TrafficWindow[], fromMs: number): Span {
  // A window counts when it overlaps the span (a 1 h window still holds the last 5 min).
  return spanFrom(fromMs, windows, [])!;
}

async function readAll(store: StatsStore, q: WindowQuery): Promise<TrafficWindow[]> {
  // Three days of minute windows every minute: read only their request side where the store can.
  return store.readTraffic ? await store.readTraffic(q) : await store.readWindows(q);
}

/** The spans starting at each of `starts`, from one read of [readFromMs, nowMs). */
async function readSpans(store: StatsStore, model: string, readFromMs: number, nowMs: number, starts: readonly number[]): Promise<Map<number, Span>> {
  const windows = await readAll(store, { model, fromMs: readFromMs, toMs: nowMs });
  return new Map(starts.map((from) => [from, span(windows, from)]));
}

/**
 * The same spans from fresh reads of what may have changed since the previous run (the hours not
 * settled, the lowest one, the hour each span starts in, hours due for a refresh) and the cached
 * sums of the other hours, which the reads here update.
 */
async function cachedSpans(
  store: StatsStore,
  cache: SloCache,
  model: string,
  readFromMs: number,
  nowMs: number,
  starts: readonly number[],
): Promise<Map<number, Span>> {
  const hour = (t: number) => Math.floor(t / HOUR_MS) * HOUR_MS;
  const lowest = hour(readFromMs);
  // From this hour on, windows may still start or take deltas.
  const settledBefore = hour(nowMs - SETTLE_MS);
  // A span's first hour is summed window by window from a fresh read: a roll-up may have turned
  // its minutes into one hour window (which then counts whole) since it was cached.
  const boundaries = new Set(starts.map(hour));
  let cached = cache.models.get(model);
  if (!cached) cache.models.set(model, (cached = new Map()));
  for (const h of cached.keys()) if (h <= lowest || h >= settledBefore) cached.delete(h);
  const isFresh = (h: number) => {
    if (h === lowest || h >= settledBefore || boundaries.has(h)) return true;
    const c = cached.get(h);
    if (!c || nowMs - c.readAtMs >= REFRESH_MS) return true;
    // Windows longer than an hour: some of the hour's windows reach into a span, others do not.
    return starts.some((from) => h < from && c.sums.minEndMs <= from && c.sums.maxEndMs > from);
  };
  const freshHours: number[] = [];
  const windows: TrafficWindow[] = [];
  for (let h = lowest; h < nowMs; ) {
    if (!isFresh(h)) {
      h += HOUR_MS;
      continue;
    }
    let end = h;
    while (end < nowMs && isFresh(end)) freshHours.push(end), (end += HOUR_MS);
    windows.push(...(await readAll(store, { model, fromMs: Math.max(h, readFromMs), toMs: Math.min(end, nowMs) })));
    h = end;
  }
  const freshSums = sumByHour(windows);
  const readNow = new Set(freshHours);
  for (const h of freshHours) {
    if (h === lowest || h >= settledBefore) continue;
    const sums = freshSums.get(h) ?? { hourMs: h, ...emptySpan(), minEndMs: Infinity, maxEndMs: -Infinity };
    // A window ending less than SETTLE_MS ago (longer than an hour) may still change: not kept.
    if (sums.maxEndMs + SETTLE_MS <= nowMs) cached.set(h, { sums, readAtMs: nowMs });
    else cached.delete(h);
  }
  const byHour = new Map<number, TrafficWindow[]>();
  for (const w of windows) {
    const h = hour(w.startMs);
    const list = byHour.get(h);
    if (list) list.push(w);
    else byHour.set(h, [w]);
  }
  let all: TrafficWindow[] | null = null;
  const out = new Map<number, Span>();
  for (const from of starts) {
    const one: TrafficWindow[] = [];
    const sums: HourSums[] = [];
    for (const [h, hs] of freshSums) {
      // The hour the span starts in, or one whose windows end on both sides of the start: one by one.
      if (h === hour(from) || (h < from && hs.minEndMs <= from && hs.maxEndMs > from)) one.push(...byHour.get(h)!);
      else sums.push(hs);
    }
    for (const [h, c] of cached) if (!readNow.has(h)) sums.push(c.sums);
    const s = spanFrom(from, one, sums);
    if (s) out.set(from, s);
    else {
      // Not expected (isFresh reads such hours); kept so a mistake costs a read, not a wrong finding.
      all ??= await readAll(store, { model, fromMs: readFromMs, toMs: nowMs });
      out.set(from, span(all, from));
    }
  }
  return out;
}

function badCounts(s: Span, thresholdMs: number | undefined): WindowCounts {
  const slow =
    thresholdMs !== undefined && s.latency && latencyCount(s.latency) > 0
      ? Math.round((latencyFractionAbove(s.latency, thresholdMs) ?? 0) * latencyCount(s.latency))
      : 0;
  return { total: s.requests, bad: Math.min(s.requests, s.errors + slow) };
}

/** The target for a model: its own, else the "*" one, else none. */
export function targetFor(targets: readonly SloTarget[], model: string): SloTarget | null {
  return targets.find((t) => t.model === model) ?? targets.find((t) => t.model === '*') ?? null;
}

const fmtMs = (x: number | null) => (x === null ? '-' : `${x.toFixed(x < 10 ? 2 : 1)} ms`);
const pct = (x: number) => `${(x * 100).toFixed(x < 0.01 ? 3 : 2)}%`;

/** owns: the models this analyzer checks (analyzer.shard); absent: every model. cache: see the top. */
export async function runSloCheck(
  deps: { store: StatsStore; owns?: (model: string) => boolean; cache?: SloCache },
  config: SloCheckConfig,
  nowMs: number,
): Promise<Finding[]> {
  try {
    return await sloFindings(deps, config, nowMs);
  } catch (e) {
    // The store failed (an outage, say): what it holds may change behind the cache (a spool
    // replaying late windows), so the next run reads everything again.
    deps.cache?.models.clear();
    throw e;
  }
}

async function sloFindings(
  deps: { store: StatsStore; owns?: (model: string) => boolean; cache?: SloCache },
  config: SloCheckConfig,
  nowMs: number,
): Promise<Finding[]> {
  if (!config.targets.length) return [];
  const longestMs = Math.max(
    ...config.targets.map((t) => t.windowMs),
    ...(config.targets.some((t) => t.burnRate) ? SRE_BURN_RULES.map((r) => r.longSeconds * 1000) : [0]),
  );
  const findings: Finding[] = [];
  // Windows that started up to an hour before a span still overlap it (hour windows, roll-ups).
  const readFromMs = nowMs - longestMs - 3_600_000;
  const series = await deps.store.listSeries();
  const owns = deps.owns ?? (() => true);
  const models = [...new Set(series.filter((s) => s.lastMs >= readFromMs && owns(s.model)).map((s) => s.model))].sort();
  // A model without traffic in the span (or now another analyzer's) leaves the cache.
  if (deps.cache) for (const m of deps.cache.models.keys()) if (!models.includes(m)) deps.cache.models.delete(m);
  for (const model of models) {
    const target = targetFor(config.targets, model);
    if (!target) continue;
    const windowMs = target.windowMs;
    const starts = [nowMs - windowMs, ...(target.burnRate ? SRE_BURN_RULES.flatMap((r) => [nowMs - r.longSeconds * 1000, nowMs - r.shortSeconds * 1000]) : [])];
    const spans = deps.cache
      ? await cachedSpans(deps.store, deps.cache, model, readFromMs, nowMs, starts)
      : await readSpans(deps.store, model, readFromMs, nowMs, starts);
    const current = spans.get(nowMs - windowMs)!;
    const base = { check: 'slo' as const, at: nowMs, window: { fromMs: nowMs - windowMs, toMs: nowMs, label: target.window } };
    const few = current.requests < config.minRequests;
    for (const [name, q, limit] of [
      ['p50', 0.5, target.p50Ms],
      ['p95', 0.95, target.p95Ms],
      ['p99', 0.99, target.p99Ms],
    ] as const) {
      if (limit === undefined) continue;
      const value = current.latency && latencyCount(current.latency) ? latencyQuantile(current.latency, q) : null;
      const threshold = { warn: null, fail: limit, direction: 'above' as const };
      const status = few || value === null ? 'ok' : statusFor(value, threshold);
      findings.push({
        ...base,
        subject: { model, version: null, name: `latency_${name}` },
        status,
        metric: `${name}_ms`,
        value,
        threshold,
        sampleSize: current.requests,
        message: `${model} ${name} latency ${fmtMs(value)} ${value !== null && value >= limit ? '>=' : '<'} target ${fmtMs(limit)} over the last ${target.window} (n=${current.requests.toLocaleString('en-US')})${few ? ': too few requests for a verdict' : ''}`,
        ...(few ? { insufficientData: true } : {}),
      });
    }
    if (target.errorRate !== undefined) {
      const value = current.requests ? current.errors / current.requests : null;
      const threshold = { warn: null, fail: target.errorRate, direction: 'above' as const };
      const status = few || value === null ? 'ok' : statusFor(value, threshold);
      findings.push({
        ...base,
        subject: { model, version: null, name: 'error_rate' },
        status,
        metric: 'error_rate',
        value,
        threshold,
        sampleSize: current.requests,
        message: `${model} error rate ${value === null ? '-' : pct(value)} (${current.errors} of ${current.requests} answers 5xx) vs target ${pct(target.errorRate)} over the last ${target.window}${few ? ': too few requests for a verdict' : ''}`,
        ...(few ? { insufficientData: true } : {}),
      });
    }
    if (target.burnRate) {
      for (const rule of SRE_BURN_RULES) {
        const long = badCounts(spans.get(nowMs - rule.longSeconds * 1000)!, target.latencyThresholdMs);
        const short = badCounts(spans.get(nowMs - rule.shortSeconds * 1000)!, target.latencyThresholdMs);
        const e = evaluateBurnRule(rule, long, short, target.objective);
        // One failed request in a quiet hour is a 1000x burn: no page without minRequests in the short window.
        const fewBurn = short.total < config.minRequests;
        if (fewBurn) e.firing = false;
        const label = `${rule.longSeconds >= 86400 ? `${rule.longSeconds / 86400}d` : `${rule.longSeconds / 3600}h`}+${rule.shortSeconds >= 3600 ? `${rule.shortSeconds / 3600}h` : `${rule.shortSeconds / 60}m`}`;
        const status = e.firing ? rule.severity : 'ok';
        findings.push({
          check: 'slo',
          at: nowMs,
          window: { fromMs: nowMs - rule.longSeconds * 1000, toMs: nowMs, label },
          subject: { model, version: null, name: rule.name },
          status,
          metric: 'burn_rate',
          value: e.burnLong,
          threshold: { warn: rule.severity === 'warn' ? rule.factor : null, fail: rule.severity === 'fail' ? rule.factor : null, direction: 'above' },
          sampleSize: long.total,
          message: `${model} error-budget burn ${e.burnLong === null ? '-' : e.burnLong.toFixed(1)}x over ${label.split('+')[0]} and ${e.burnShort === null ? '-' : e.burnShort.toFixed(1)}x over ${label.split('+')[1]} (rule: both > ${rule.factor}x; objective ${pct(target.objective)}${target.latencyThresholdMs ? `, slower than ${target.latencyThresholdMs} ms is bad` : ''}): ${e.firing ? (rule.severity === 'fail' ? 'page' : 'ticket') : 'ok'}`,
          detail: { burn_long: e.burnLong, burn_short: e.burnShort, long, short, factor: rule.factor, objective: target.objective },
          ...(fewBurn ? { insufficientData: true } : {}),
        });
      }
    }
  }
  return findings;
}
