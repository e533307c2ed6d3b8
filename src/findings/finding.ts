/**
 * A Finding: what a check concluded about one subject, as a value (never an exception). It always
 * carries the threshold it applied, the window it looked at and the sample size, so whoever reads
 * it (the alert router, the admin API, a person) can judge it without re-running the check.
 * alerts/ knows only this type; checks know nothing of alerts.
 */
export type FindingStatus = 'ok' | 'warn' | 'fail' | 'error';
export type CheckName = 'drift' | 'slo' | 'staleness' | 'quality' | 'data_quality' | 'challenger';

export interface FindingSubject {
  model: string;
  /** null: the check is about the model as a whole (e.g. "newer version not deployed"). */
  version: string | null;
  /** drift: the feature (or prediction column); slo: the rule (p99, error_rate, burn_1h); staleness: the rule. */
  name: string;
  /** drift only: an input feature or a prediction output. */
  role?: 'input' | 'prediction';
}

export interface FindingThreshold {
  warn: number | null;
  fail: number | null;
  /** 'above': value >= threshold is bad (PSI, latency); 'below': value < threshold is bad (p-values). */
  direction: 'above' | 'below';
}

export interface Finding {
  check: CheckName;
  subject: FindingSubject;
  status: FindingStatus;
  /** What was measured: psi, ks_pvalue, chi2_pvalue, p99_ms, error_rate, burn_rate, age_days, ... */
  metric: string;
  value: number | null;
  threshold: FindingThreshold;
  /** The span the value describes, epoch ms, and how the config named it ("1h", "5m+1h"). */
  window: { fromMs: number; toMs: number; label: string };
  /** Observations behind the value (rows, requests); 0 when not applicable. */
  sampleSize: number;
  /** When the check ran, epoch ms. */
  at: number;
  /** One line for people: "temp_max PSI 0.41 >= 0.25 over the last 1h (n=1,204)". */
  message: string;
  /** Set when too few observations made a verdict meaningless: status is then ok, never warn/fail. */
  insufficientData?: boolean;
  /** Check-specific extras (all statistics computed, the correction applied, ...). */
  detail?: Record<string, unknown>;
}

/** The key an alert is deduplicated on: one per check and subject. */
export function findingKey(f: Pick<Finding, 'check' | 'subject'>): string {
  const s = f.subject;
  return [f.check, s.model, s.version ?? '*', s.role ?? '', s.name].join('\u001f');
}

/** Status from a value and a threshold: the one place the comparison direction is applied. */
export function statusFor(value: number | null, t: FindingThreshold): FindingStatus {
  if (value === null || Number.isNaN(value)) return 'error';
  const bad = (limit: number | null) => limit !== null && (t.direction === 'above' ? value >= limit : value < limit);
  if (bad(t.fail)) return 'fail';
  if (bad(t.warn)) return 'warn';
  return 'ok';
}
