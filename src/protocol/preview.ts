/**
 * A short, JSON-like preview of a request value for error messages. Request values can be nested
 * thousands of levels deep or hold millions of entries: JSON.stringify on them overflows the call
 * stack (a 500 instead of a 400) or builds a huge message. This walk is iterative and stops once
 * `max` characters are written, so its time and output are bounded whatever the value.
 * Pure: no I/O.
 */

/** An item still to write: a literal piece of text, or a value. */
type Pending = { text: string } | { value: unknown };

export function preview(value: unknown, max = 60): string {
  let out = '';
  const stack: Pending[] = [{ value }];
  // Every step writes at least one character, so at most max + 1 steps run.
  while (stack.length > 0 && out.length <= max) {
    const item = stack.pop()!;
    if ('text' in item) {
      out += item.text;
      continue;
    }
    const v = item.value;
    if (Array.isArray(v)) {
      out += '[';
      const shown = Math.min(v.length, max);
      stack.push({ text: v.length > shown ? ',...]' : ']' });
      for (let i = shown - 1; i >= 0; i--) {
        stack.push({ value: v[i] });
        if (i > 0) stack.push({ text: ',' });
      }
    } else if (typeof v === 'object' && v !== null) {
      out += '{';
      // for...in with a cap, not Object.keys: a million-key object costs no more than a small one.
      const entries: Pending[] = [];
      let more = false;
      for (const k in v) {
        if (!Object.hasOwn(v, k)) continue;
        if (entries.length >= max) {
          more = true;
          break;
        }
        entries.push({ text: `${scalar(k, max)}:` }, { value: (v as Record<string, unknown>)[k] });
      }
      stack.push({ text: more ? ',...}' : '}' });
      for (let i = entries.length - 2; i >= 0; i -= 2) {
        stack.push(entries[i + 1]!, entries[i]!);
        if (i > 0) stack.push({ text: ',' });
      }
    } else out += scalar(v, max);
  }
  return out.length > max ? `${out.slice(0, max)}...` : out;
}

function scalar(v: unknown, max: number): string {
  if (typeof v === 'string') return JSON.stringify(v.length > max ? v.slice(0, max) : v);
  // Numbers (NaN and Infinity as words), booleans, null, undefined: short by nature.
  return String(v);
}
