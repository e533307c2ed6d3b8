/**
 * Bearer-token check for admin/control endpoints. Compared in constant time: both sides are hashed
 * to a fixed length first, so neither the content nor the length of the token leaks through timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export function tokenMatches(expected: string, authorization: string | undefined): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(authorization ?? '');
  const given = m ? m[1]!.trim() : '';
  // Always compare, even when nothing was sent, so the timing of a miss does not depend on input.
  const ok = timingSafeEqual(digest(expected), digest(given));
  return ok && given.length > 0;
}
