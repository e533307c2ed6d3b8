/**
 * Labels as they arrive (the admin endpoint's JSON or NDJSON body, or the rows of a file given to
 * `driftwatch feedback load`) -> validated LabelRecords. Pure: no I/O; the arrival time is passed in.
 *
 * Accepted shapes (docs/quality.md):
 *  - a JSON array of objects, or an object with a `labels` array of them;
 *  - NDJSON: one object per line (blank lines ignored);
 *  - each object: the id under `idField` (default `request_id`; `id` is also read when the default
 *    is used) and the label under `labelField` (default `label`): a string, a finite number or a
 *    boolean (kept as "true"/"false", as a classifier's label).
 * An entry that is not valid is counted and reported (the first few, with their position), never
 * a reason to lose the valid entries of the same batch. A body that is not JSON at all is an error.
 */
import type { LabelRecord } from './prediction-log.js';

export interface LabelFields {
  idField: string;
  labelField: string;
}

export const DEFAULT_LABEL_FIELDS: LabelFields = { idField: 'request_id', labelField: 'label' };

export interface ParsedLabels {
  labels: LabelRecord[];
  invalid: number;
  /** The first few problems, e.g. "entry 3: no request_id". */
  errors: string[];
}

/** An id is a key: bounded like the capture side's ids (capture/prediction-records.ts). */
export const MAX_ID_CHARS = 256;
const MAX_LABEL_CHARS = 1024;
const MAX_ERRORS = 10;

export class LabelInputError extends Error {}

function idOf(v: unknown): string | null {
  if (typeof v === 'string') return v.length > 0 && v.length <= MAX_ID_CHARS ? v : null;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  return null;
}

function labelOf(v: unknown): string | number | null {
  if (typeof v === 'string') return v.length > 0 && v.length <= MAX_LABEL_CHARS ? v : null;
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'boolean') return String(v);
  return null;
}

/** Validates entries (already-parsed objects or table rows); `position(i)` names entry i in errors. */
export function labelsFromEntries(
  entries: readonly unknown[],
  atMs: number,
  fields: LabelFields = DEFAULT_LABEL_FIELDS,
  position: (i: number) => string = (i) => `entry ${i}`,
): ParsedLabels {
  const out: ParsedLabels = { labels: [], invalid: 0, errors: [] };
  const fail = (i: number, why: string) => {
    out.invalid++;
    if (out.errors.length < MAX_ERRORS) out.errors.push(`${position(i)}: ${why}`);
  };
  const readsId = fields.idField === DEFAULT_LABEL_FIELDS.idField;
  entries.forEach((e, i) => {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) return fail(i, 'not an object');
    const o = e as Record<string, unknown>;
    const rawId = Object.hasOwn(o, fields.idField) ? o[fields.idField] : readsId && Object.hasOwn(o, 'id') ? o.id : undefined;
    if (rawId === undefined || rawId === null || rawId === '') return fail(i, `no ${fields.idField}`);
    const id = idOf(rawId);
    if (id === null) return fail(i, `${fields.idField} must be a string of 1 to ${MAX_ID_CHARS} characters or an integer`);
    const rawLabel = Object.hasOwn(o, fields.labelField) ? o[fields.labelField] : undefined;
    if (rawLabel === undefined || rawLabel === null || rawLabel === '') return fail(i, `no ${fields.labelField}`);
    const label = labelOf(rawLabel);
    if (label === null) return fail(i, `${fields.labelField} must be a string (at most ${MAX_LABEL_CHARS} characters), a finite number or a boolean`);
    out.labels.push({ id, label, atMs });
  });
  return out;
}

/**
 * A request body: JSON (array, or `{ "labels": [...] }`) or NDJSON, told apart by the media type
 * (`application/x-ndjson`, `application/jsonl`) or, for JSON, by its first character. Throws
 * LabelInputError for a body that cannot be read at all.
 */
export function parseLabelBody(text: string, mediaType: string, atMs: number, fields: LabelFields = DEFAULT_LABEL_FIELDS): ParsedLabels {
  const ndjson = mediaType === 'application/x-ndjson' || mediaType === 'application/jsonl' || mediaType === 'application/json-lines';
  if (!ndjson) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new LabelInputError(
        `the body is not JSON (${(e as Error).message}); send an array of {"${fields.idField}": ..., "${fields.labelField}": ...} or NDJSON`,
      );
    }
    const entries = Array.isArray(json)
      ? json
      : typeof json === 'object' && json !== null && Array.isArray((json as Record<string, unknown>).labels)
        ? ((json as Record<string, unknown>).labels as unknown[])
        : null;
    if (entries === null) throw new LabelInputError(`expected a JSON array of labels or an object with a "labels" array`);
    return labelsFromEntries(entries, atMs, fields);
  }
  const entries: unknown[] = [];
  const lines: number[] = [];
  const bad: ParsedLabels = { labels: [], invalid: 0, errors: [] };
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      entries.push(JSON.parse(line));
      lines.push(i + 1);
    } catch {
      bad.invalid++;
      if (bad.errors.length < MAX_ERRORS) bad.errors.push(`line ${i + 1}: not JSON`);
    }
  });
  const parsed = labelsFromEntries(entries, atMs, fields, (i) => `line ${lines[i]}`);
  return { labels: parsed.labels, invalid: bad.invalid + parsed.invalid, errors: [...bad.errors, ...parsed.errors].slice(0, MAX_ERRORS) };
}
