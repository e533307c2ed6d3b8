/**
 * Helpers for the plain-object records in the stats shapes (`Record<string, number>` and friends).
 * Keys come from traffic (column names, category values), so a key can be "__proto__" or
 * "constructor": a plain `obj[key] = v` with "__proto__" would change the prototype instead of
 * adding a key, and `obj[key]` with "constructor" would find an inherited function. These helpers
 * keep such keys ordinary own data properties (the shapes stay plain JSON objects).
 */

/** Own-property read: inherited members (toString, constructor, ...) are never returned. */
export function getOwn<T>(obj: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** Own-property write that also works for "__proto__". */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}

/** Shallow copy of a numeric record that keeps "__proto__" an own key (spread does too). */
export function copyCounts(src: Record<string, number>): Record<string, number> {
  return { ...src };
}

/**
 * FNV-1a 32-bit (Fowler, Noll, Vo; http://www.isthe.com/chongo/tech/comp/fnv/) over the UTF-16
 * code units of `s`: small, fast, stable across platforms; good enough to tell layouts apart and
 * to derive per-column PRNG seeds. Not a cryptographic hash.
 */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
