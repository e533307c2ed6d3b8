/**
 * What the lean JSON readers (issue 24; lean-mlflow-json.ts, lean-predictions.ts) share besides
 * the number reader (decimal.ts): comparing a token with one read before byte for byte, and
 * giving up on a body (null: the generic path answers) by one throw. Their byte constants and
 * white-space test stay in each reader: V8 folds a module's own constants into hot loops but
 * loads an imported binding at every use (measured, see lean-predictions.ts). Pure.
 */

/** Whether bytes [a, z) of b equal the z - a bytes at c (a key against the first row's). */
export function sameBytes(b: Uint8Array, a: number, z: number, c: number): boolean {
  if (c + (z - a) > b.length) return false;
  for (let k = 0; k < z - a; k++) if (b[a + k] !== b[c + k]) return false;
  return true;
}

/**
 * Thrown inside a lean reader to give up on a body; its entry point catches it and returns null,
 * so it never escapes. A throw, not a result checked at every step: giving up is rare and the
 * readers are deep recursive scanners.
 */
export const GIVE_UP = Symbol('lean reader: not a lean body');

export function giveUp(): never {
  throw GIVE_UP;
}
