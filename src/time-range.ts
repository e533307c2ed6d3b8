/**
 * Points in time as users write them on the command line and in query strings: an ISO 8601
 * timestamp, epoch milliseconds, "now", or a duration back from now ("90s", "15m", "2h", "7d").
 */
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/;
/** The range of a JavaScript Date (beyond it toISOString throws). */
const MAX_TIME_MS = 8.64e15;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** A duration like "15m" in ms, or null when the text is not one. */
export function parseDurationMs(text: string): number | null {
  const m = DURATION.exec(text.trim());
  return m ? Number(m[1]) * UNIT_MS[m[2]!]! : null;
}

/** Epoch ms for the text, relative to nowMs; null when it is none of the accepted forms. */
export function parseTimePoint(text: string, nowMs: number): number | null {
  const t = text.trim();
  const ok = (ms: number) => (Number.isFinite(ms) && Math.abs(ms) <= MAX_TIME_MS ? ms : null);
  if (t === 'now') return nowMs;
  const d = parseDurationMs(t);
  if (d !== null) return ok(nowMs - d);
  // 10 digits are epoch seconds (date +%s), 13 are milliseconds.
  if (/^\d{10}$/.test(t)) return ok(Number(t) * 1000);
  if (/^\d{13}$/.test(t)) return ok(Number(t));
  if (/^\d{4}-\d{2}-\d{2}/.test(t)) return ok(Date.parse(t));
  return null;
}

export const TIME_POINT_HELP =
  'an ISO time (2026-12-01T10:00:00Z), epoch seconds (10 digits) or ms (13), "now", or a duration back from now (90s, 15m, 2h, 7d)';
