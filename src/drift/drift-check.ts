/**
 * The drift check: for every model version with recent traffic and a reference profile, the
 * configured current window (e.g. the last hour) against the reference, feature by feature
 * (inputs and predictions), turned into Findings. Reads the StatsStore interface only; never
 * alerts (alerts/ reads the findings).
 *
 * Per numeric feature: PSI over the reference's fixed bins plus a missing bin (exact, from the
 * stored integer counts), KS from the two KLL sketches (statistic with its error bound, the
 * asymptotic p-value) and the normalised Wasserstein distance. Per categorical feature: chi-square
 * test of homogeneity (unseen and other values are bins of their own) and the Jensen-Shannon
 * distance. p-values are corrected across one model's features when checks.drift.correction says
 * so.
 *
 * The verdict (checks.drift.rule): test-and-effect (default) fails a feature when the corrected
 * p-value is below alpha AND an effect (KS D, PSI, Wasserstein; JS for categorical features)
 * reaches its floor (checks.drift.minEffect), the same rule as `driftwatch drift`
 * (effect-rule.ts); insufficient_data below minSamplesTest. test-only is the rule before issue
 * 23: each statistic with its own minimum sample size and threshold, the worst verdict wins.
 */
import type { Finding, FindingStatus } from '../findings/finding.js';
import type { DriftCheckConfig } from '../config/schema.js';
import type { FeatureProfile, ReferenceFeature, ReferenceProfile, WindowProfile } from '../stats/types.js';
import { mergeWindows } from '../stats/window-profile.js';
import type { StatsStore } from '../store/types.js';
import { chiSquareHomogeneity, jensenShannonDistance } from './categorical.js';
import { ksFromSketches, ksPvalueAsymp } from './ks.js';
import { benjaminiHochberg, bonferroni } from './multiple-testing.js';
import { psiFromCounts } from './psi.js';
import { WASSERSTEIN_MIN_NORM, wassersteinFromSketches } from './wasserstein.js';
import { momentsVariance } from '../stats/moments.js';
import { featureVerdict, type DriftStat, type FeatureVerdict } from './verdict.js';
import { decideDrift, type DriftDecision, type EffectReading } from './effect-rule.js';

export interface DriftCheckDeps {
  store: StatsStore;
  referenceFor(model: string, version: string): Promise<ReferenceProfile | null>;
  /** The models this analyzer checks (analyzer.shard); absent: every model. */
  owns?: (model: string) => boolean;
  /** Reads and merges a version's windows (a reader shared with the data-quality check); absent: the store's readWindows. */
  currentWindow?: (q: { model: string; version: string; fromMs: number; toMs: number }) => Promise<WindowProfile | null>;
}

export interface FeatureDrift {
  name: string;
  role: 'input' | 'prediction';
  kind: 'numerical' | 'categorical';
  nReference: number;
  nCurrent: number;
  psi: { value: number; bins: number } | null;
  ks: { statistic: number; pvalue: number; errorBound: number; exact: boolean } | null;
  chi2: { statistic: number; dof: number; pvalue: number } | null;
  jensenShannon: number | null;
  /** W1 from the sketches divided by the reference's population std (an effect of the
   *  test-and-effect rule; under test-only only when checks.drift.wasserstein is set). */
  wasserstein: { value: number; errorBound: number } | null;
  /** p-value after the configured correction (ks or chi2). */
  pvalueAdjusted: number | null;
  /** Each statistic against its own threshold (psiWarn, pvalue, jensenShannon, wasserstein): the
   *  verdict under the test-only rule, kept for reading under the other. */
  verdicts: FeatureVerdict[];
  /** Which test and which effect decided, with both values (null: the test had no verdict). Under
   *  test-only it is the test's half only: the distances give verdicts of their own there. */
  decision: DriftDecision | null;
  status: FindingStatus;
  insufficientData: boolean;
  /** Why a statistic could not be computed (no bins in the window, empty side, ...). */
  notes: string[];
}

const RANK: Record<FindingStatus, number> = { ok: 0, warn: 1, fail: 2, error: 3 };

function categoricalCounts(f: FeatureProfile): Record<string, number> {
  const out: Record<string, number> = Object.create(null);
  for (const [k, v] of Object.entries(f.categories.counts)) out[`v:${k}`] = v;
  // Unseen and "other" values are bins of their own, never a crash (prefixes keep them apart from real values).
  if (f.categories.unseen) out['unseen'] = f.categories.unseen;
  if (f.categories.other) out['other'] = f.categories.other;
  if (f.missing) out['missing'] = f.missing;
  return out;
}

/** Statistics for one feature; thresholds are applied later (after the p-value correction). */
function compare(name: string, role: 'input' | 'prediction', ref: ReferenceFeature, cur: FeatureProfile | undefined, withWasserstein: boolean): FeatureDrift {
  const base: FeatureDrift = {
    // Sample sizes count values that were there: numbers for numeric features, non-missing cells otherwise.
    name,
    role,
    kind: ref.kind,
    nReference: ref.kind === 'numerical' ? ref.profile.moments.n : ref.profile.count - ref.profile.missing,
    nCurrent: cur ? (ref.kind === 'numerical' ? cur.moments.n : cur.count - cur.missing) : 0,
    psi: null,
    ks: null,
    chi2: null,
    jensenShannon: null,
    wasserstein: null,
    pvalueAdjusted: null,
    verdicts: [],
    decision: null,
    status: 'ok',
    insufficientData: true,
    notes: [],
  };
  if (!cur || cur.count === 0) {
    base.notes.push('no values in the current window');
    return base;
  }
  if (ref.kind === 'numerical') {
    const rb = ref.profile.bins;
    if (!rb) base.notes.push('the reference has no bins');
    else if (!cur.bins || cur.bins.layout !== rb.layout)
      base.notes.push('the window was not binned against this reference (it arrived mid-window, or changed)');
    else {
      const r = psiFromCounts([...rb.counts, ref.profile.missing], [...cur.bins.counts, cur.missing]);
      base.psi = { value: r.value, bins: r.bins };
    }
    if (ref.profile.sketch.n > 0 && cur.sketch.n > 0) {
      const k = ksFromSketches(ref.profile.sketch, cur.sketch);
      // The sketch statistic is within errorBound of the sample's: the p-value is taken at the
      // smallest D the data can have, so sketch noise alone never reads as drift at large n.
      const dLow = Math.max(0, k.statistic - k.errorBound);
      base.ks = { statistic: k.statistic, pvalue: dLow === 0 ? 1 : ksPvalueAsymp(dLow, k.nReference, k.nCurrent), errorBound: k.errorBound, exact: k.exact };
      if (withWasserstein) {
        // Normalised by the reference's population std, as Evidently does (floored, so a constant reference does not divide by 0).
        const m = ref.profile.moments;
        const sd = Math.max(Math.sqrt(((momentsVariance(m) ?? 0) * (m.n - 1)) / Math.max(m.n, 1)), WASSERSTEIN_MIN_NORM);
        const w = wassersteinFromSketches(ref.profile.sketch, cur.sketch);
        base.wasserstein = { value: w.distance / sd, errorBound: w.errorBound / sd };
      }
    } else base.notes.push('no numeric values on one side for KS');
  } else {
    const rc = categoricalCounts(ref.profile);
    const cc = categoricalCounts(cur);
    const keys = [...new Set([...Object.keys(rc), ...Object.keys(cc)])].sort();
    if (Object.keys(rc).length && Object.keys(cc).length) {
      const chi = chiSquareHomogeneity(rc, cc);
      base.chi2 = { statistic: chi.statistic, dof: chi.dof, pvalue: chi.pvalue };
      base.jensenShannon = jensenShannonDistance(
        keys.map((k) => rc[k] ?? 0),
        keys.map((k) => cc[k] ?? 0),
      );
    } else base.notes.push('no values on one side');
  }
  return base;
}

function judge(f: FeatureDrift, config: DriftCheckConfig): void {
  const o = config.features[f.name];
  const verdicts: FeatureVerdict[] = [];
  const add = (stat: DriftStat, value: number, warn: number, fail: number, minSampleSize: number) =>
    verdicts.push(featureVerdict({ stat, value, nReference: f.nReference, nCurrent: f.nCurrent, thresholds: { warn, fail }, minSampleSize }));
  const p = o?.pvalue ?? config.pvalue;
  if (f.psi)
    add('psi', f.psi.value, o?.psiWarn ?? config.psiWarn, Math.max(o?.psiFail ?? config.psiFail, o?.psiWarn ?? config.psiWarn), config.minSamplesDistance);
  if (f.ks && f.pvalueAdjusted !== null) add('ks', f.pvalueAdjusted, p, p, config.minSamplesTest);
  if (f.chi2 && f.pvalueAdjusted !== null) add('chi2', f.pvalueAdjusted, p, p, config.minSamplesTest);
  if (f.jensenShannon !== null) add('jensenshannon', f.jensenShannon, config.jensenShannon, config.jensenShannon, config.minSamplesDistance);
  if (f.wasserstein && config.wasserstein !== undefined)
    add('wasserstein', f.wasserstein.value, config.wasserstein, config.wasserstein, config.minSamplesDistance);
  f.verdicts = verdicts;
  const test = verdicts.find((v) => v.stat === 'ks' || v.stat === 'chi2');
  if (test && test.status !== 'insufficient_data') {
    // Effects are compared at their point estimates (the sketch KS's p-value is already taken at
    // D minus its error bound, so sketch noise cannot make a feature significant); the floors are
    // about size, and a window of a few hundred rows is held back by the test, not by the floor.
    const m = config.minEffect;
    const effects: EffectReading[] = [];
    if (f.ks) effects.push({ stat: 'ks_statistic', value: f.ks.statistic, floor: m.ks });
    if (f.psi) effects.push({ stat: 'psi', value: f.psi.value, floor: m.psi });
    if (f.wasserstein) effects.push({ stat: 'wasserstein', value: f.wasserstein.value, floor: m.wasserstein });
    if (f.jensenShannon !== null) effects.push({ stat: 'jensen_shannon', value: f.jensenShannon, floor: m.jensenShannon });
    f.decision = decideDrift(config.rule, { stat: test.stat as 'ks' | 'chi2', pvalue: test.value, alpha: p }, effects);
  }
  if (config.rule === 'test-and-effect') {
    f.insufficientData = f.decision === null;
    f.status = f.decision?.drifted ? 'fail' : 'ok';
    return;
  }
  const judged = verdicts.filter((v) => v.status !== 'insufficient_data');
  f.insufficientData = judged.length === 0;
  f.status = judged.reduce<FindingStatus>((worst, v) => (RANK[v.status as FindingStatus] > RANK[worst] ? (v.status as FindingStatus) : worst), 'ok');
}

/**
 * The statistic a finding leads with. test-and-effect: the one that settled the verdict, the test
 * when it was not significant and the decisive effect otherwise (so value and status agree, and a
 * chart of it over time shows the effect against its floor). test-only: the verdict that set the
 * status (the worst).
 */
function headline(
  f: FeatureDrift,
  rule: DriftCheckConfig['rule'],
): { metric: string; value: number | null; warn: number | null; fail: number | null; direction: 'above' | 'below' } {
  const d = f.decision;
  if (rule === 'test-and-effect') {
    if (!d) return { metric: f.kind === 'numerical' ? 'ks_pvalue' : 'chi2_pvalue', value: null, warn: null, fail: null, direction: 'below' };
    if (d.decided_by === 'test' || !d.effect)
      return { metric: `${d.test.stat}_pvalue`, value: d.test.pvalue, warn: d.test.alpha, fail: d.test.alpha, direction: 'below' };
    return { metric: d.effect.stat, value: d.effect.value, warn: d.effect.floor, fail: d.effect.floor, direction: 'above' };
  }
  // Lead with the verdict that set the status (the worst), so value and status never disagree.
  const rank = (v: FeatureVerdict) => (v.status === 'insufficient_data' ? -1 : RANK[v.status]);
  const judged = f.verdicts.reduce<FeatureVerdict | undefined>((best, v) => (!best || rank(v) > rank(best) ? v : best), undefined);
  if (!judged) return { metric: f.kind === 'numerical' ? 'psi' : 'chi2_pvalue', value: null, warn: null, fail: null, direction: 'above' };
  const lower = judged.stat === 'ks' || judged.stat === 'chi2';
  const metric = judged.stat === 'ks' ? 'ks_pvalue' : judged.stat === 'chi2' ? 'chi2_pvalue' : judged.stat === 'jensenshannon' ? 'jensen_shannon' : judged.stat;
  return { metric, value: judged.value, warn: judged.thresholds.warn, fail: judged.thresholds.fail, direction: lower ? 'below' : 'above' };
}

function fmt(x: number | null): string {
  if (x === null) return '-';
  return Math.abs(x) >= 0.001 || x === 0 ? x.toPrecision(3) : x.toExponential(2);
}

/** " [ks p 1.2e-5 < 0.05 and psi 0.310 >= 0.06]": both halves of the rule, for people. */
function decisionText(d: DriftDecision | null): string {
  if (d?.rule !== 'test-and-effect') return '';
  const t = `${d.test.stat} p ${fmt(d.test.pvalue)} ${d.test.significant ? '<' : '>='} ${fmt(d.test.alpha)}`;
  const e = d.effect ? `${d.effect.stat} ${fmt(d.effect.value)} ${d.effect.large ? '>=' : '<'} ${fmt(d.effect.floor)}` : 'no effect measured';
  return ` [${t}${d.test.significant ? (d.effect?.large ? ' and ' : ' but ') : ', '}${e}]`;
}

/** Compares one merged current window with its reference: per-feature results, thresholds applied. */
export function compareWithReference(current: WindowProfile, ref: ReferenceProfile, config: DriftCheckConfig): FeatureDrift[] {
  const features: FeatureDrift[] = [];
  for (const [role, refs, cur] of [
    ['input', ref.features, current.features],
    ['prediction', ref.predictions, current.predictions],
  ] as const) {
    for (const [name, rf] of Object.entries(refs)) {
      if (config.features[name]?.ignore) continue;
      features.push(compare(name, role, rf, cur[name], config.wasserstein !== undefined || config.rule === 'test-and-effect'));
    }
  }
  const withP = features.filter((f) => f.ks || f.chi2);
  const raw = withP.map((f) => (f.ks ? f.ks.pvalue : f.chi2!.pvalue));
  const adjusted = config.correction === 'bonferroni' ? bonferroni(raw) : config.correction === 'benjamini-hochberg' ? benjaminiHochberg(raw) : raw;
  withP.forEach((f, i) => (f.pvalueAdjusted = adjusted[i]!));
  for (const f of features) judge(f, config);
  return features;
}

/** A version's windows in [fromMs, toMs) merged into one, or null when there are none. */
export async function readMerged(store: StatsStore, q: { model: string; version: string; fromMs: number; toMs: number }): Promise<WindowProfile | null> {
  const windows = await store.readWindows(q);
  return windows.length ? windows.reduce((a, b) => mergeWindows(a, b)) : null;
}

export async function runDriftCheck(deps: DriftCheckDeps, config: DriftCheckConfig, nowMs: number): Promise<Finding[]> {
  const windowMs = config.windowMs;
  const fromMs = nowMs - windowMs;
  const window = { fromMs, toMs: nowMs, label: config.window };
  const findings: Finding[] = [];
  const owns = deps.owns ?? (() => true);
  const series = (await deps.store.listSeries()).filter((s) => s.lastMs >= fromMs && owns(s.model));
  for (const s of series) {
    const base = { check: 'drift' as const, at: nowMs, window };
    let ref: ReferenceProfile | null;
    try {
      ref = await deps.referenceFor(s.model, s.version);
    } catch (e) {
      findings.push({
        ...base,
        subject: { model: s.model, version: s.version, name: '__dataset__' },
        status: 'error',
        metric: 'drift_share',
        value: null,
        threshold: { warn: null, fail: config.datasetDriftShare, direction: 'above' },
        sampleSize: 0,
        message: `reference of ${s.model} v${s.version} unreadable: ${(e as Error).message}`,
      });
      continue;
    }
    if (!ref) continue; // no reference yet: nothing to compare with (the staleness/traffic views still show it)
    const q = { model: s.model, version: s.version, fromMs, toMs: nowMs };
    const current = deps.currentWindow ? await deps.currentWindow(q) : await readMerged(deps.store, q);
    if (!current) continue;
    const features = compareWithReference(current, ref, config);
    for (const f of features) {
      const h = headline(f, config.rule);
      const statusText = f.insufficientData ? 'insufficient data' : f.status;
      findings.push({
        ...base,
        subject: { model: s.model, version: s.version, name: f.name, role: f.role },
        status: f.status,
        metric: h.metric,
        value: h.value,
        threshold: { warn: h.warn, fail: h.fail, direction: h.direction },
        sampleSize: f.nCurrent,
        message: `${s.model} v${s.version} ${f.role === 'prediction' ? 'prediction ' : ''}${f.name}: ${h.metric} ${fmt(h.value)} (${h.direction === 'below' ? 'drift below' : config.rule === 'test-and-effect' ? 'drift at' : 'warn at'} ${fmt(h.warn)}${h.fail !== h.warn ? `, fail at ${fmt(h.fail)}` : ''}) over the last ${config.window}, n=${f.nCurrent.toLocaleString('en-US')} vs reference n=${f.nReference.toLocaleString('en-US')}: ${statusText}${decisionText(f.decision)}`,
        ...(f.insufficientData ? { insufficientData: true } : {}),
        detail: {
          kind: f.kind,
          psi: f.psi,
          ks: f.ks,
          chi2: f.chi2,
          jensen_shannon: f.jensenShannon,
          wasserstein: f.wasserstein,
          pvalue_adjusted: f.pvalueAdjusted,
          correction: config.correction,
          rule: config.rule,
          // Which test and which effect decided, with both values (the status page plots the
          // effect unless decided_by is 'test'); null when the test had too few rows.
          decision: f.decision,
          n_reference: f.nReference,
          notes: f.notes,
        },
      });
    }
    const inputs = features.filter((f) => f.role === 'input');
    // Evidently's "share of drifted columns": drifted (failed) among the features with a verdict.
    const evaluated = inputs.filter((f) => !f.insufficientData);
    const share = {
      evaluated: evaluated.length,
      drifted: evaluated.filter((f) => f.status === 'fail').length,
      insufficient: inputs.length - evaluated.length,
      share: 0,
    };
    share.share = share.evaluated ? share.drifted / share.evaluated : 0;
    const datasetStatus: FindingStatus = share.evaluated === 0 ? 'ok' : share.share >= config.datasetDriftShare ? 'fail' : share.drifted > 0 ? 'warn' : 'ok';
    findings.push({
      ...base,
      subject: { model: s.model, version: s.version, name: '__dataset__' },
      status: datasetStatus,
      metric: 'drift_share',
      value: share.evaluated ? share.share : null,
      threshold: { warn: null, fail: config.datasetDriftShare, direction: 'above' },
      sampleSize: current.rows,
      message: `${s.model} v${s.version}: ${share.drifted} of ${share.evaluated} input feature(s) drifted over the last ${config.window}${share.insufficient ? ` (${share.insufficient} with too little data)` : ''}`,
      ...(share.evaluated === 0 ? { insufficientData: true } : {}),
      detail: {
        drifted: inputs.filter((f) => f.status === 'fail').map((f) => f.name),
        evaluated: share.evaluated,
        insufficient: share.insufficient,
        rows: current.rows,
      },
    });
  }
  return findings;
}
