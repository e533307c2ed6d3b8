/**
 * The scoring server's shadow, on the analysis side: a challenger's answer to a shadowed request ->
 * the prediction log's records for the challenger, keyed like the champion's records that the
 * sidecar in front logged for the same request. Both are read the same way on purpose: the request
 * body and the challenger's answer (encoded as the server would have answered) go through the
 * capture's own extraction (extract.ts) and prediction-records.ts, so the id (request id, `#row`,
 * or the id column), the predicted class or value and the probabilities mean what they mean for
 * the champion's record. Pure apart from decoding; app/ runs it off the request path.
 *
 * The shape it takes is declared here, not imported from serve/ (the analysis side imports nothing
 * from the data path); app/ hands the shadow's pair over, which has it.
 */
import type { PredictionRecord } from '../outcomes/prediction-log.js';
import { type ExtractFailure, type ExtractOptions, extract } from './extract.js';
import type { TappedBody } from './inference-event.js';
import { type PredictionRecordOptions, predictionRecords } from './prediction-records.js';

export interface ServedShadowAnswer {
  /** The served model's name (the champion's, as the sidecar in front records it). */
  model: string;
  /** The challenger's version: the records' version. */
  version: string;
  /** When the challenger answered (the records' time: it only decides when they are pruned). */
  atMs: number;
  request: { id: string | null; route: 'invocations' | 'infer'; path: string; body: Buffer; contentType: string };
  answer: { body: Buffer; contentType: string };
}

export type ServedShadowRecords = { ok: true; records: PredictionRecord[] } | { ok: false; reason: ExtractFailure | 'no_id' };

const identity = (bytes: Buffer, contentType: string): TappedBody => ({ bytes, contentType, contentEncoding: 'identity' });

export function servedShadowRecords(
  s: ServedShadowAnswer,
  opts: { extract: ExtractOptions; columns: readonly string[] | null; records: PredictionRecordOptions },
): ServedShadowRecords {
  // No id to join on: without the sidecar's X-Request-ID only an id column can key the rows.
  if (s.request.id === null && opts.records.idColumn === null) return { ok: false, reason: 'no_id' };
  const x = extract(
    {
      requestId: s.request.id ?? '',
      startedAtMs: s.atMs,
      method: 'POST',
      path: s.request.path,
      model: s.model,
      version: s.version,
      route: s.request.route,
      status: 200,
      upstreamMs: 0,
      totalMs: 0,
      requestBytes: s.request.body.length,
      responseBytes: s.answer.body.length,
      request: identity(s.request.body, s.request.contentType),
      response: identity(s.answer.body, s.answer.contentType),
      skipped: null,
    },
    opts.extract,
    opts.columns,
    s.version,
  );
  if (!x.ok) return { ok: false, reason: x.reason };
  return { ok: true, records: predictionRecords(x.value, s.request.id ?? '', s.atMs, opts.records) };
}
