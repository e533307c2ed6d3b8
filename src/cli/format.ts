/** Output formatting shared by several commands. */

/** An epoch-ms time as `2026-01-02 03:04:05Z`. */
export function fmtTime(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}
