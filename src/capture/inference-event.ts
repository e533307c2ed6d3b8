/**
 * InferenceEvent: the one type the data path and the analysis side share. The proxy fills it on
 * the request path with what it already has (no parsing); everything else happens after the
 * bounded queue, off the request's tick.
 */
export interface TappedBody {
  /** The raw bytes as they crossed the wire (still compressed if Content-Encoding says so). */
  bytes: Buffer;
  contentType: string;
  contentEncoding: string;
}

export interface InferenceEvent {
  requestId: string;
  /** Epoch milliseconds at request start. */
  startedAtMs: number;
  method: string;
  /** Path without the query string. */
  path: string;
  /** Model name from the route (/v2/models/{name}/...) or the proxy's configured model. */
  model: string | null;
  /** Version from the route (/versions/{v}) or the upstream's x-driftwatch-model-version header. */
  version: string | null;
  /** `invocations`, `infer`, `extra` (a configured extra path) or `other`. */
  route: 'invocations' | 'infer' | 'extra' | 'other';
  status: number;
  /** Time to the upstream's response headers, and to the last byte to the client. */
  upstreamMs: number;
  totalMs: number;
  requestBytes: number;
  responseBytes: number;
  /** Bodies, when the route carries predictions, the request was sampled and the bodies fit the cap. */
  request: TappedBody | null;
  response: TappedBody | null;
  /** Why bodies are missing: null when present or not a prediction route. */
  skipped: 'sampled_out' | 'too_large' | 'aborted' | null;
}
