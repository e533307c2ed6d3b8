/**
 * The offline comparison behind `driftwatch drift --reference REF --current CUR`: two tables,
 * column by column, on the raw values (no sketches: this is where exact KS p-values matching scipy
 * are affordable). Pure: tables in, a report out; the CLI reads the files and prints.
 *
 * Per column present in both: numerical when every non-missing value on both sides is a finite
 * number, categorical otherwise. Numerical: PSI (fixed mode: the reference's quantile bins plus
 * under/overflow and a missing bin, as the sidecar counts live traffic; or Evidently's binning)
 * and the two-sample KS test. Categorical: PSI over one bin per category (unseen ones included),
 * the chi-square test and the Jensen-Shannon distance; numerical columns also get the normalised
 * Wasserstein distance. `drifted` follows the rule (effect-rule.ts, the same function the scheduled
 * check calls): by default the test (KS p-value for numerical columns, chi-square for categorical
 * ones, after the optional correction across columns) must be significant AND an effect (KS D,
 * PSI, Wasserstein; Jensen-Shannon) must reach its floor; `rule: 'test-only'` is the test alone
 * (the rule before issue 23), and `stat: 'psi'` lets PSI alone decide.
 */
import { binEdgesFromSorted, binIndex } from '../stats/bins.js';
import type { Cell } from '../stats/feature-profile.js';
import { chiSquareHomogeneity, jensenShannonDistance } from './categorical.js';
import { ks2samp, type KsMethod } from './ks.js';
import { benjaminiHochberg, bonferroni } from './multiple-testing.js';
import { psiEvidently, psiFromCounts } from './psi.js';
import { DEFAULT_DRIFT_RULE, DEFAULT_MIN_EFFECT, decideDrift, type DriftDecision, type DriftRule, type EffectReading, type MinEffect } from './effect-rule.js';
import { populationStd, WASSERSTEIN_MIN_NORM, wasserstein1Sorted } from './wasserstein.js';

export interface OfflineOptions {
  psiMode: 'fixed' | 'evidently';
  ksMethod: KsMethod;
  /** Fixed mode: reference quantile bins; Evidently mode: equal-width bins (default: Sturges). */
  bins?: number;
  /** Which statistic decides `drifted`: the test (KS / chi-square p-value, under `rule`) or PSI alone. */
  stat: 'test' | 'psi';
  /** With stat 'test': the test and an effect floor (default), or the test alone. */
  rule: DriftRule;
  /** Effect-size floors of the test-and-effect rule. */
  minEffect: MinEffect;
  pvalue: number;
  psiThreshold: number;
  correction: 'none' | 'bonferroni' | 'benjamini-hochberg';
  datasetDriftShare: number;
  /** Below this many non-missing values on either side, a column gets no verdict. */
  minSamples: number;
}

export const DEFAULT_OFFLINE_OPTIONS: OfflineOptions = {
  psiMode: 'fixed',
  ksMethod: 'auto',
  stat: 'test',
  rule: DEFAULT_DRIFT_RULE,
  minEffect: { ...DEFAULT_MIN_EFFECT },
  pvalue: 0.05,
  psiThreshold: 0.1,
  correction: 'none',
  datasetDriftShare: 0.5,
  minSamples: 30,
};

export interface OfflineFeature {
  name: string;
  kind: 'numerical' | 'categorical';
  n_reference: number;
  n_current: number;
  missing_reference: number;
  missing_current: number;
  psi: { value: number; mode: 'fixed' | 'evidently'; bins: number } | null;
  ks?: { statistic: number; pvalue: number; method: 'exact' | 'asymp' };
  chi2?: { statistic: number; dof: number; pvalue: number };
  jensen_shannon?: number;
  /** W1 / the reference's population std (numerical columns). */
  wasserstein?: number;
  pvalue_adjusted?: number;
  /** Which test and which effect decided, with both values (absent with --stat psi or too few rows). */
  decision?: DriftDecision;
  /** null: too few values for a verdict. */
  drifted: boolean | null;
  stat: 'ks' | 'chi2' | 'psi';
  threshold: number;
}

export interface OfflineReport {
  features: OfflineFeature[];
  drift_share: number;
  dataset_drifted: boolean;
  /** Columns in one file only (not compared). */
  only_in_reference: string[];
  only_in_current: string[];
  options: OfflineOptions;
}

/** One column as the comparison needs it (the shape readColumns gives; see src/data/table-file.ts). */
export interface ColumnInput {
  name: string;
  /** All non-missing values, when every one of them is a finite number. */
  numbers: ArrayLike<number> | null;
  /** Otherwise the non-missing cells. */
  cells: readonly Cell[] | null;
  length: number;
  missing: number;
}

const isMissing = (v: Cell | undefined) => v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v));

/** Rows to columns (the API for small tables and tests; the CLI reads columns directly). */
export function toColumns(columns: readonly string[], rows: ReadonlyArray<Record<string, Cell>>): ColumnInput[] {
  return columns.map((name) => {
    const values: Cell[] = [];
    let missing = 0;
    for (const r of rows) {
      const v = r[name];
      if (isMissing(v)) missing++;
      else values.push(v as Cell);
    }
    const numeric = values.every((v) => typeof v === 'number');
    return { name, numbers: numeric ? Float64Array.from(values as number[]) : null, cells: numeric ? null : values, length: values.length, missing };
  });
}

const catKey = (v: Cell) => String(v);

function counts(c: ColumnInput): Record<string, number> {
  const out: Record<string, number> = Object.create(null);
  const add = (k: string) => (out[k] = (out[k] ?? 0) + 1);
  if (c.numbers) for (let i = 0; i < c.length; i++) add(catKey(c.numbers[i]!));
  else for (const v of c.cells!) add(catKey(v));
  return out;
}

const allFinite = (xs: ArrayLike<number>) => {
  for (let i = 0; i < xs.length; i++) if (!Number.isFinite(xs[i]!)) return false;
  return true;
};
const asArray = (xs: ArrayLike<number>) => xs as unknown as number[];
const cellsOf = (c: ColumnInput): Cell[] => (c.numbers ? Array.from(c.numbers) : [...c.cells!]);

export function compareTables(
  reference: { columns: string[]; rows: ReadonlyArray<Record<string, Cell>> },
  current: { columns: string[]; rows: ReadonlyArray<Record<string, Cell>> },
  options: Partial<OfflineOptions> = {},
): OfflineReport {
  return compareColumns(toColumns(reference.columns, reference.rows), toColumns(current.columns, current.rows), options);
}

export function compareColumns(reference: readonly ColumnInput[], current: readonly ColumnInput[], options: Partial<OfflineOptions> = {}): OfflineReport {
  const opts = { ...DEFAULT_OFFLINE_OPTIONS, ...options };
  const curBy = new Map(current.map((c) => [c.name, c]));
  const refNames = new Set(reference.map((c) => c.name));
  const features: OfflineFeature[] = [];
  for (const r of reference) {
    const c = curBy.get(r.name);
    if (!c) continue;
    const numeric = r.numbers !== null && c.numbers !== null && r.length > 0 && allFinite(r.numbers) && allFinite(c.numbers);
    const f: OfflineFeature = {
      name: r.name,
      kind: numeric ? 'numerical' : 'categorical',
      n_reference: r.length,
      n_current: c.length,
      missing_reference: r.missing,
      missing_current: c.missing,
      psi: null,
      drifted: null,
      stat: opts.stat === 'psi' ? 'psi' : numeric ? 'ks' : 'chi2',
      threshold: opts.stat === 'psi' ? opts.psiThreshold : opts.pvalue,
    };
    if (r.length && c.length) {
      if (numeric) {
        // Sorted once here: the bin edges read the sorted reference, and KS sorts presorted input fast.
        const rv = Float64Array.from(r.numbers!).sort();
        const cv = Float64Array.from(c.numbers!).sort();
        if (opts.psiMode === 'evidently') {
          const p = psiEvidently(asArray(rv), asArray(cv), opts.bins ? { bins: opts.bins } : {});
          f.psi = { value: p.value, mode: 'evidently', bins: p.bins };
        } else {
          const edges = binEdgesFromSorted(rv, opts.bins ?? 10)!;
          const n = edges.edges.length + 3;
          const rc = new Array<number>(n + 1).fill(0);
          const cc = new Array<number>(n + 1).fill(0);
          for (let i = 0; i < rv.length; i++) rc[binIndex(edges, rv[i]!)]!++;
          for (let i = 0; i < cv.length; i++) cc[binIndex(edges, cv[i]!)]!++;
          rc[n] = r.missing;
          cc[n] = c.missing;
          const p = psiFromCounts(rc, cc);
          f.psi = { value: p.value, mode: 'fixed', bins: p.bins };
        }
        const ks = ks2samp(asArray(rv), asArray(cv), { method: opts.ksMethod });
        f.ks = { statistic: ks.statistic, pvalue: ks.pvalue, method: ks.method };
        // Normalised as the scheduled check does (population std of the reference, floored).
        f.wasserstein = wasserstein1Sorted(rv, cv) / Math.max(populationStd(asArray(rv)), WASSERSTEIN_MIN_NORM);
      } else {
        const rc = counts(r);
        const cc = counts(c);
        const keys = [...new Set([...Object.keys(rc), ...Object.keys(cc)])].sort();
        if (opts.psiMode === 'evidently') {
          const p = psiEvidently(cellsOf(r).map(catKey), cellsOf(c).map(catKey));
          f.psi = { value: p.value, mode: 'evidently', bins: p.bins };
        } else {
          const p = psiFromCounts(
            keys.map((k) => rc[k] ?? 0),
            keys.map((k) => cc[k] ?? 0),
          );
          f.psi = { value: p.value, mode: 'fixed', bins: p.bins };
        }
        const chi = chiSquareHomogeneity(rc, cc);
        f.chi2 = { statistic: chi.statistic, dof: chi.dof, pvalue: chi.pvalue };
        f.jensen_shannon = jensenShannonDistance(
          keys.map((k) => rc[k] ?? 0),
          keys.map((k) => cc[k] ?? 0),
        );
      }
    }
    features.push(f);
  }
  // Correction across columns of the test p-values.
  const tested = features.filter((f) => f.ks || f.chi2);
  const raw = tested.map((f) => (f.ks ? f.ks.pvalue : f.chi2!.pvalue));
  const adj = opts.correction === 'bonferroni' ? bonferroni(raw) : opts.correction === 'benjamini-hochberg' ? benjaminiHochberg(raw) : raw;
  tested.forEach((f, i) => (f.pvalue_adjusted = adj[i]!));
  for (const f of features) {
    if (Math.min(f.n_reference, f.n_current) < opts.minSamples) continue;
    if (opts.stat === 'psi') f.drifted = f.psi ? f.psi.value >= opts.psiThreshold : null;
    else if (f.pvalue_adjusted === undefined || Number.isNaN(f.pvalue_adjusted)) f.drifted = null;
    else {
      const m = opts.minEffect;
      const effects: EffectReading[] = [];
      if (f.ks) effects.push({ stat: 'ks_statistic', value: f.ks.statistic, floor: m.ks });
      // PSI is an effect where the scheduled check has it too: numerical columns (its bins); for
      // categorical ones the check has Jensen-Shannon only, and so does this rule.
      if (f.psi && f.kind === 'numerical') effects.push({ stat: 'psi', value: f.psi.value, floor: m.psi });
      if (f.wasserstein !== undefined) effects.push({ stat: 'wasserstein', value: f.wasserstein, floor: m.wasserstein });
      if (f.jensen_shannon !== undefined) effects.push({ stat: 'jensen_shannon', value: f.jensen_shannon, floor: m.jensenShannon });
      f.decision = decideDrift(opts.rule, { stat: f.ks ? 'ks' : 'chi2', pvalue: f.pvalue_adjusted, alpha: opts.pvalue }, effects);
      f.drifted = f.decision.drifted;
    }
  }
  const judged = features.filter((f) => f.drifted !== null);
  const share = judged.length ? judged.filter((f) => f.drifted).length / judged.length : 0;
  return {
    features,
    drift_share: share,
    dataset_drifted: judged.length > 0 && share >= opts.datasetDriftShare,
    only_in_reference: reference.filter((c) => !curBy.has(c.name)).map((c) => c.name),
    only_in_current: current.filter((c) => !refNames.has(c.name)).map((c) => c.name),
    options: opts,
  };
}

/** A fixed-width table for terminals. */
export function formatReport(r: OfflineReport): string {
  const fmt = (x: number | undefined | null) => (x === undefined || x === null ? '-' : Math.abs(x) >= 0.001 || x === 0 ? x.toPrecision(4) : x.toExponential(2));
  const head = ['FEATURE', 'KIND', 'N_REF', 'N_CUR', 'PSI', 'KS', 'P-VALUE', 'DRIFTED', 'EFFECT'];
  // The effect the rule weighed: the one furthest above (or least below) its floor.
  const effect = (d: DriftDecision | undefined) =>
    d?.effect ? `${d.effect.stat} ${fmt(d.effect.value)} ${d.effect.large ? '>=' : '<'} ${fmt(d.effect.floor)}` : '-';
  const rows = r.features.map((f) => [
    f.name,
    f.kind,
    String(f.n_reference),
    String(f.n_current),
    fmt(f.psi?.value),
    fmt(f.ks?.statistic),
    fmt(f.pvalue_adjusted ?? f.ks?.pvalue ?? f.chi2?.pvalue),
    f.drifted === null ? 'n/a (too few rows)' : f.drifted ? 'YES' : f.decision?.decided_by === 'effect' ? 'no (small)' : 'no',
    effect(f.decision),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const lines = [head, ...rows].map((row) =>
    row
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
  const judged = r.features.filter((f) => f.drifted !== null);
  lines.push(
    '',
    `drift share ${(r.drift_share * 100).toFixed(1)}% (${judged.filter((f) => f.drifted).length} of ${judged.length} columns): dataset ${r.dataset_drifted ? 'DRIFTED' : 'not drifted'}` +
      ` [psi ${r.options.psiMode}, ks ${r.options.ksMethod}, decided by ${r.options.stat === 'psi' ? `PSI >= ${r.options.psiThreshold}` : r.options.rule === 'test-only' ? `p < ${r.options.pvalue}` : `p < ${r.options.pvalue} and an effect at its floor (ks ${r.options.minEffect.ks}, psi ${r.options.minEffect.psi}, wasserstein ${r.options.minEffect.wasserstein}, js ${r.options.minEffect.jensenShannon})`}${r.options.correction !== 'none' ? `, ${r.options.correction}` : ''}]`,
  );
  if (r.only_in_reference.length) lines.push(`only in the reference (not compared): ${r.only_in_reference.join(', ')}`);
  if (r.only_in_current.length) lines.push(`only in the current file (not compared): ${r.only_in_current.join(', ')}`);
  return lines.join('\n');
}
