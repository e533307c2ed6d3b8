/**
 * Silence matchers: each of model, check, name (feature or rule) and status is an exact value or
 * "*" (a missing matcher is "*"). An alert matches when every matcher does. Pure.
 */
import type { Finding } from '../findings/finding.js';
import type { Silence, SilenceMatchers } from './outbox.js';

export const MATCHER_FIELDS = ['model', 'check', 'name', 'status'] as const;

function field(f: Finding, k: (typeof MATCHER_FIELDS)[number]): string {
  if (k === 'model') return f.subject.model;
  if (k === 'name') return f.subject.name;
  if (k === 'check') return f.check;
  return f.status;
}

export function silenceMatches(m: SilenceMatchers, f: Finding): boolean {
  return MATCHER_FIELDS.every((k) => {
    const want = m[k];
    return want === undefined || want === '*' || want === field(f, k);
  });
}

export function activeSilenceFor(silences: readonly Silence[], f: Finding, nowMs: number): Silence | null {
  return silences.find((s) => s.untilMs > nowMs && silenceMatches(s.matchers, f)) ?? null;
}

/** A problem with the matchers as one line, or null. At least one matcher must not be "*". */
export function matchersProblem(m: unknown): string | null {
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return 'matchers must be an object';
  const keys = Object.keys(m);
  const unknown = keys.filter((k) => !(MATCHER_FIELDS as readonly string[]).includes(k));
  if (unknown.length) return `unknown matcher ${unknown.join(', ')} (allowed: ${MATCHER_FIELDS.join(', ')})`;
  for (const [k, v] of Object.entries(m)) if (typeof v !== 'string' || v === '') return `matcher ${k} must be a non-empty string`;
  if (!Object.values(m).some((v) => v !== '*')) return 'a silence needs at least one matcher that is not "*" (it would silence everything)';
  return null;
}
