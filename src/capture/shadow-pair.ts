/**
 * The sidecar's shadowed requests, on the analysis side: the champion's answer and the
 * challenger's answer to the same request are read with the capture's own extraction
 * (extract.ts, so both answers are read as the capture reads every answer) and turned into the
 * pair the challenger comparison takes (challenger/comparison.ts), the scoring server's pairs'
 * shape: per output a tensor, so both paths are compared by the same readPredictions.
 *
 * The shape it takes is declared here, not imported from proxy/ (the analysis side imports
 * nothing from the data path); app/ hands the proxy's ShadowExchange over, which has it.
 */
import type { PairObservation } from '../challenger/comparison.js';
import type { HostTensor } from '../protocol/tensor.js';
import { type Extracted, type ExtractOptions, extract, extractAnswer, type Row } from './extract.js';
import type { InferenceEvent, TappedBody } from './inference-event.js';

export interface ShadowedRequest {
  event: InferenceEvent;
  atMs: number;
  challenger: { status: number | null; response: TappedBody | null; version: string | null; latencyMs: number | null; error: string | null };
}

export interface ShadowPairOptions {
  extract: ExtractOptions;
  /** Column names for positional inputs of this model (proxy.columns or the served model's signature). */
  columnsFor?: (model: string | null) => readonly string[] | null;
  /** Versions when the answers name none (proxy.version, proxy.shadow.version); else "unknown". */
  championVersion?: string | null;
  challengerVersion?: string | null;
}

export type ShadowPairResult =
  | {
      ok: true;
      pair: PairObservation;
      /** The challenger's answer read as the capture reads the champion's (its rows, its version): for its prediction records; null when it failed. */
      challenger: Extracted | null;
    }
  | { ok: false; reason: string };

/**
 * The pair for one shadowed request. Not ok when the champion's own answer cannot be read as
 * predictions (nothing to compare against); a challenger answer that cannot be read is the
 * challenger's error, as on the scoring server.
 */
export function shadowPair(s: ShadowedRequest, opts: ShadowPairOptions): ShadowPairResult {
  const e = s.event;
  const columns = opts.columnsFor?.(e.model) ?? null;
  const champ = extract(e, opts.extract, columns, null);
  if (!champ.ok) return { ok: false, reason: champ.reason };
  const rows = champ.value.features.length;
  if (rows === 0 || champ.value.predictions.length !== rows) return { ok: false, reason: 'unsupported_shape' };
  const championOutputs = outputsOf(champ.value.predictions);
  const c = s.challenger;
  let outputs: Record<string, HostTensor> | null = null;
  let read: Extracted | null = null;
  let error = c.error;
  const challengerVersion = c.version ?? opts.challengerVersion ?? 'unknown';
  if (error === null && c.response !== null) {
    // The same request: only the challenger's answer is read (the champion's rows are its rows).
    const chall = extractAnswer(e.route, c.response, opts.extract, rows);
    if (!chall.ok) error = `the challenger's answer could not be read (${chall.reason})`;
    else if (chall.value.length !== rows) error = `the challenger answered ${chall.value.length} predictions for ${rows} rows`;
    else {
      outputs = outputsOf(chall.value);
      read = { model: champ.value.model, version: challengerVersion, features: champ.value.features, predictions: chall.value };
    }
  } else error ??= 'the challenger sent no answer';
  return {
    ok: true,
    pair: {
      model: e.model ?? 'unknown',
      atMs: s.atMs,
      rows,
      champion: { version: e.version ?? opts.championVersion ?? 'unknown', outputs: championOutputs, latencyMs: e.upstreamMs },
      challenger: { version: challengerVersion, outputs, latencyMs: c.latencyMs, error },
    },
    challenger: read,
  };
}

const VECTOR_COLUMN = /^(.*)_(\d+)$/;

/**
 * Extracted prediction rows back into one tensor per output: a vector output extract.ts split
 * into name_0..name_{k-1} becomes a float tensor of k per row again (probabilities), strings a
 * string tensor (labels), integers an int64 tensor (labels, as sklearn classifiers answer them),
 * other numbers a float64 tensor (regression values). A column whose cells mix kinds is left out.
 */
export function outputsOf(rows: readonly Row[]): Record<string, HostTensor> {
  const n = rows.length;
  const names = Object.keys(rows[0] ?? {});
  const out: Record<string, HostTensor> = {};
  const vectors = new Map<string, number>();
  const present = new Set(names);
  const vectorOf = new Map<string, string>();
  for (const name of names) {
    const m = VECTOR_COLUMN.exec(name);
    if (m && present.has(`${m[1]}_0`)) {
      vectors.set(m[1]!, Math.max(vectors.get(m[1]!) ?? 0, Number(m[2]) + 1));
      vectorOf.set(name, m[1]!);
    }
  }
  for (const [base, k] of vectors) {
    const data = new Float64Array(n * k);
    const cols = Array.from({ length: k }, (_, j) => `${base}_${j}`);
    let whole = true;
    for (let i = 0; i < n && whole; i++) {
      for (let j = 0; j < k; j++) {
        const v = rows[i]![cols[j]!];
        if (typeof v !== 'number') {
          whole = false;
          break;
        }
        data[i * k + j] = v;
      }
    }
    if (whole) out[base] = { type: 'float64', data, dims: [n, k] };
  }
  for (const name of names) {
    if (vectorOf.has(name)) continue;
    const cells = rows.map((r) => r[name]);
    if (cells.every((v) => typeof v === 'string')) out[name] = { type: 'string', data: cells as string[], dims: [n] };
    else if (cells.every((v) => typeof v === 'number' && Number.isInteger(v)))
      out[name] = { type: 'int64', data: BigInt64Array.from(cells as number[], (v) => BigInt(v)), dims: [n] };
    else if (cells.every((v) => typeof v === 'number')) out[name] = { type: 'float64', data: Float64Array.from(cells as number[]), dims: [n] };
  }
  return out;
}
