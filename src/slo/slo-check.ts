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
 */
import type { Finding } from '../findings/finding.js';
import { statusFor } from '../findings/finding.js';
import type { SloCheckConfig, SloTarget } from '../config/schema.js';
import { latencyCount, latencyFractionAbove, latencyQuantile, mergeLatency } from '../stats/latency-histogram.js';
import type { LatencyHistogram } from '../stats/types.js';
import type { StatsStore, TrafficWindow } from '../store/types.js';
import { evaluateBurnRule, SRE_BURN_RULES, type WindowCounts } from './burn-rate.js';

interface Span {
  requests: number;
  errors: number;
  latency: LatencyHistogram | null;
}

/** Requests, 5xx and latency of the windows starting at or after fromMs (all versions together). */
function span(windows: readonly TrafficWindow[], fromMs: number): Span {
  const out: Span = { requests: 0, errors: 0, latency: null };
  for (const w of windows) {
    // A window counts when it overlaps the span (a 1 h window still holds the last 5 min).
    if (w.startMs + w.windowSeconds * 1000 <= fromMs) continue;
    for (const [cls, n] of Object.entries(w.requests)) {
      out.requests += n;
      if (cls === '5xx') out.errors += n;
    }
    out.latency = out.latency ? mergeLatency(out.latency, w.latency) : w.latency;
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

/** owns: the models this analyzer checks (analyzer.shard); absent: every model. */
export async function runSloCheck(deps: { store: StatsStore; owns?: (model: string) => boolean }, config: SloCheckConfig, nowMs: number): Promise<Finding[]> {
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
  for (const model of models) {
    const target = targetFor(config.targets, model);
    if (!target) continue;
    const q = { model, fromMs: readFromMs, toMs: nowMs };
    // Three days of minute windows every minute: read only their request side where the store can.
    const windows: TrafficWindow[] = deps.store.readTraffic ? await deps.store.readTraffic(q) : await deps.store.readWindows(q);
    const windowMs = target.windowMs;
    const current = span(windows, nowMs - windowMs);
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
        const long = badCounts(span(windows, nowMs - rule.longSeconds * 1000), target.latencyThresholdMs);
        const short = badCounts(span(windows, nowMs - rule.shortSeconds * 1000), target.latencyThresholdMs);
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
