/**
 * The scoring server's Prometheus metrics, on a registry of its own (never prom-client's global
 * one: two servers in one process, as in tests, must not share counters). The one prom-client
 * import outside admin/. Names follow Prometheus conventions: driftwatch_ prefix, base units,
 * bounded labels (model, version, route, status_class; never request ids).
 */
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, type RegistryContentType, collectDefaultMetrics } from 'prom-client';
import { VERSION } from '../version.js';
import { HotCounter, HotHistogram, type RegistrableMetric } from './hot-metrics.js';

/** Buckets in seconds: dense below 10 ms where a small ONNX model answers, sparse up to the timeout. */
export const LATENCY_BUCKETS_SECONDS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * The latency buckets plus each SLO threshold as an exact bucket boundary, so
 * `histogram_quantile` and "share of requests under the SLO" read a real boundary, not an
 * interpolation between two neighbours (the same reason the stored latency histograms do it).
 */
export function latencyBucketsSeconds(sloThresholdsMs: readonly number[] = []): number[] {
  const all = new Set(LATENCY_BUCKETS_SECONDS);
  for (const ms of sloThresholdsMs) if (Number.isFinite(ms) && ms > 0) all.add(ms / 1000);
  return [...all].sort((a, b) => a - b);
}

export interface ServeMetrics {
  registry: Registry;
  requestDuration: Histogram<'model' | 'version' | 'route' | 'status_class'>;
  requests: Counter<'model' | 'route' | 'status_class'>;
  rows: Counter<'model' | 'version'>;
  modelLoaded: Gauge<'model' | 'version'>;
  modelSwaps: Counter<'model'>;
  modelLoadFailures: Counter<'model'>;
  registryPollErrors: Counter<'model'>;
  /** 1 while the last re-resolution against the registry succeeded, 0 while it is degraded. */
  registryUp: Gauge;
  /** Tells driftwatch_registry_up whether every served URI last re-resolved fine (default: true). */
  setRegistryUpSource(fn: () => boolean): void;
  inflight: Gauge;
}

export function createServeMetrics(opts: { defaultMetrics?: boolean; sloThresholdsMs?: readonly number[] } = {}): ServeMetrics {
  const registry = new Registry();
  const buckets = latencyBucketsSeconds(opts.sloThresholdsMs);
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'driftwatch_' });
  registerBuildInfo(registry);
  let upSource: () => boolean = () => true;
  return {
    setRegistryUpSource: (fn) => {
      upSource = fn;
    },
    registry,
    requestDuration: new Histogram({
      name: 'driftwatch_request_duration_seconds',
      help: 'Time from request start to response end on the scoring routes.',
      labelNames: ['model', 'version', 'route', 'status_class'],
      buckets,
      registers: [registry],
    }),
    requests: new Counter({
      name: 'driftwatch_requests_total',
      help: 'Requests answered by the scoring server, by route and status class (2xx, 4xx, 5xx).',
      labelNames: ['model', 'route', 'status_class'],
      registers: [registry],
    }),
    rows: new Counter({
      name: 'driftwatch_predicted_rows_total',
      help: 'Rows (batch entries) scored.',
      labelNames: ['model', 'version'],
      registers: [registry],
    }),
    modelLoaded: new Gauge({
      name: 'driftwatch_model_loaded',
      help: '1 for the model version currently serving under each name.',
      labelNames: ['model', 'version'],
      aggregator: 'max', // with several workers: still 1, not the number of workers
      registers: [registry],
    }),
    modelSwaps: new Counter({
      name: 'driftwatch_model_swaps_total',
      help: 'Live swaps to a new model version.',
      labelNames: ['model'],
      registers: [registry],
    }),
    modelLoadFailures: new Counter({
      name: 'driftwatch_model_load_failures_total',
      help: 'Failed attempts to load a model version (the previous version keeps serving).',
      labelNames: ['model'],
      registers: [registry],
    }),
    registryPollErrors: new Counter({
      name: 'driftwatch_registry_poll_errors_total',
      help: 'Failed attempts to re-resolve a served model URI against the registry.',
      labelNames: ['model'],
      registers: [registry],
    }),
    registryUp: new Gauge({
      name: 'driftwatch_registry_up',
      help: '0 while the last re-resolution of any served URI against the registry failed (the loaded versions keep serving); 1 otherwise.',
      aggregator: 'min', // with several workers: 0 if any of them cannot reach the registry
      registers: [registry],
      // Read at scrape time from the served models (one gauge, many models: a last-writer-wins
      // set() would flip between them); a process serving nothing has nothing failing: 1.
      collect() {
        this.set(upSource() ? 1 : 0);
      },
    }),
    inflight: new Gauge({
      name: 'driftwatch_inflight_requests',
      help: 'Scoring requests currently being handled.',
      registers: [registry],
    }),
  };
}

const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'];

/** "2xx", "5xx", ...: the common ones are constants (a template string per request allocates). */
export function statusClass(status: number): string {
  const c = Math.floor(status / 100);
  return STATUS_CLASSES[c] ?? `${c}xx`;
}

/**
 * driftwatch_build_info: which driftwatch and which Node.js a scraped process runs (value 1), so a
 * rollout or a runtime change can be told apart on the dashboards. Registered once per registry.
 */
export function registerBuildInfo(registry: Registry): void {
  if (registry.getSingleMetric('driftwatch_build_info')) return;
  const g = new Gauge({
    name: 'driftwatch_build_info',
    help: 'Always 1; the labels say which driftwatch version and Node.js version this process runs.',
    labelNames: ['version', 'node_version'],
    aggregator: 'max', // with several workers: still 1
    registers: [registry],
  });
  g.set({ version: VERSION, node_version: process.versions.node }, 1);
}

/** A prom-client registry as /metrics reads it (also the cluster primary's aggregated one). */
export interface ExpositionSource {
  readonly contentType: string;
  metrics(): Promise<string>;
  getMetricsAsArray(): unknown[];
}

/** The two exposition formats /metrics can answer in. */
export type MetricsFormat = 'prometheus' | 'openmetrics';

/**
 * The format a scraper asked for in its Accept header: OpenMetrics when it lists
 * application/openmetrics-text with a higher (or equal and earlier) weight than text/plain, else
 * Prometheus text 0.0.4 (also for a missing or unparseable header: every scraper reads it).
 */
export function metricsFormatFor(accept: string | undefined): MetricsFormat {
  if (!accept) return 'prometheus';
  let om = -1;
  let text = -1;
  for (const part of accept.split(',')) {
    const [type, ...params] = part.split(';').map((x) => x.trim().toLowerCase());
    let q = 1;
    for (const p of params) if (p.startsWith('q=')) q = Number(p.slice(2));
    if (!Number.isFinite(q)) continue;
    if (type === 'application/openmetrics-text') om = Math.max(om, q);
    else if (type === 'text/plain' || type === 'text/*' || type === '*/*') text = Math.max(text, q);
  }
  return om > 0 && om >= text ? 'openmetrics' : 'prometheus';
}

/**
 * A registry's exposition in either format. OpenMetrics goes through a throwaway registry of
 * wrappers: prom-client's OpenMetrics writer renames counters in place (drops `_total` from the
 * metric object's name), which would change the Prometheus-format names of every later scrape.
 */
export async function renderMetrics(registry: ExpositionSource, format: MetricsFormat): Promise<{ contentType: string; body: string }> {
  if (format === 'prometheus' && registry.contentType === Registry.PROMETHEUS_CONTENT_TYPE)
    return { contentType: registry.contentType, body: await registry.metrics() };
  const out = new Registry<RegistryContentType>();
  if (format === 'openmetrics') out.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  for (const m of registry.getMetricsAsArray() as unknown as Array<RegistrableMetric & { getForPromString?: RegistrableMetric['get'] }>) {
    const name = m.type === 'counter' && format === 'openmetrics' ? m.name.replace(/_total$/, '') : m.name;
    const wrapper = {
      name,
      help: m.help,
      type: m.type,
      aggregator: m.aggregator,
      get: async () => ({ ...(await m.get()), name }),
      // prom-client's histograms format from this one (shared labels kept apart), as the registry would
      ...(m.getForPromString ? { getForPromString: async () => ({ ...(await m.getForPromString!.call(m)), name }) } : {}),
      reset: () => {},
    };
    out.registerMetric(wrapper as unknown as Parameters<Registry<RegistryContentType>['registerMetric']>[0]);
  }
  return { contentType: out.contentType, body: await out.metrics() };
}

/** Sums per-worker metrics (prom-client's AggregatorRegistry rules: counters and histograms add up). */
export async function aggregateMetrics(perWorker: unknown[], format: MetricsFormat = 'prometheus'): Promise<{ contentType: string; body: string }> {
  const registry = AggregatorRegistry.aggregate(perWorker as Parameters<typeof AggregatorRegistry.aggregate>[0]);
  return renderMetrics(registry, format);
}

/** The proxy's per-request metrics are hot-metrics.ts's (no label hashing per update). */
export interface ProxyMetrics {
  registry: Registry;
  requests: HotCounter;
  upstreamDuration: HotHistogram;
  totalDuration: HotHistogram;
  upstreamErrors: Counter<'kind'>;
  handovers: Counter<'reason'>;
  upstreamRetries: Counter;
  capture: HotCounter;
  captureDropped: Counter;
  captureWorkerRestarts: Counter;
  queueDepth: Gauge;
  unparseable: Counter<'reason'>;
  extractedRows: Counter<'model'>;
  predictionsLogged: Counter;
  predictionsDropped: Counter<'reason'>;
}

/** The proxy's metrics; pass the scoring server's registry to expose both on one /metrics. */
export function createProxyMetrics(opts: { registry?: Registry; defaultMetrics?: boolean; sloThresholdsMs?: readonly number[] } = {}): ProxyMetrics {
  const registry = opts.registry ?? new Registry();
  const buckets = latencyBucketsSeconds(opts.sloThresholdsMs);
  if (!opts.registry && (opts.defaultMetrics ?? true)) collectDefaultMetrics({ register: registry, prefix: 'driftwatch_' });
  if (!opts.registry) registerBuildInfo(registry);
  const registers = [registry];
  const hot = <M extends RegistrableMetric>(m: M): M => {
    registry.registerMetric(m as unknown as Parameters<Registry['registerMetric']>[0]);
    return m;
  };
  return {
    registry,
    requests: hot(
      new HotCounter('driftwatch_proxy_requests_total', 'Requests passed through the proxy, by route and status class.', ['route', 'status_class']),
    ),
    upstreamDuration: hot(
      new HotHistogram('driftwatch_proxy_upstream_duration_seconds', "Time from the request's start to the upstream's response headers.", ['route'], buckets),
    ),
    totalDuration: hot(
      new HotHistogram('driftwatch_proxy_request_duration_seconds', "Time from the request's start to the last byte of the answer.", ['route'], buckets),
    ),
    upstreamErrors: new Counter({
      name: 'driftwatch_proxy_upstream_errors_total',
      help: 'Upstream failures answered by the proxy itself (refused, reset, timeout).',
      labelNames: ['kind'],
      registers,
    }),
    handovers: new Counter({
      name: 'driftwatch_proxy_handovers_total',
      help: 'Client connections the fast lane handed to the node:http path, by the request shape that needed it (upgrade, expect, version, ...).',
      labelNames: ['reason'],
      registers,
    }),
    upstreamRetries: new Counter({
      name: 'driftwatch_proxy_upstream_retries_total',
      help: 'Requests resent once on a fresh upstream connection because a reused keep-alive connection closed before any byte of the answer.',
      registers,
    }),
    capture: hot(
      new HotCounter('driftwatch_capture_events_total', 'Prediction requests seen by the tap, by outcome: captured, sampled_out, too_large, aborted.', [
        'outcome',
      ]),
    ),
    captureDropped: new Counter({ name: 'driftwatch_capture_dropped_total', help: 'Events dropped because the capture queue was full.', registers }),
    captureWorkerRestarts: new Counter({
      name: 'driftwatch_capture_worker_restarts_total',
      help: 'Restarts of the capture worker thread after it exited (proxy.capture.worker).',
      registers,
    }),
    queueDepth: new Gauge({ name: 'driftwatch_capture_queue_depth', help: 'Events waiting for the analysis side.', registers }),
    unparseable: new Counter({
      name: 'driftwatch_capture_unparseable_total',
      help: 'Captured payloads that could not be turned into feature rows, by reason.',
      labelNames: ['reason'],
      registers,
    }),
    extractedRows: new Counter({
      name: 'driftwatch_capture_rows_total',
      help: 'Feature rows extracted from captured traffic.',
      labelNames: ['model'],
      registers,
    }),
    predictionsLogged: new Counter({
      name: 'driftwatch_predictions_logged_total',
      help: 'Predictions written to the prediction log that labels are joined to (labels.enabled), whether its sample kept them or not.',
      registers,
    }),
    predictionsDropped: new Counter({
      name: 'driftwatch_predictions_log_dropped_total',
      help: 'Predictions not written to the prediction log, by reason: full (labels.maxPending waiting), unavailable (a PostgreSQL log down, timed out or in its retry backoff), write_failed.',
      labelNames: ['reason'],
      registers,
    }),
  };
}

export interface StoreMetrics {
  flushes: Counter<'outcome'>;
  windowsWritten: Counter;
  pendingWindows: Gauge;
  droppedWindows: Counter;
  pendingPoints: Gauge;
  droppedPoints: Counter;
  maintenance: Counter<'action'>;
}

/**
 * The statistics side's metrics: flushes of window deltas to the store and what is waiting or
 * was lost. pending/dropped points mirror the store's own health() (InfluxDB's buffer and spool).
 */
export function createStoreMetrics(registry: Registry, health: () => { pending: number; dropped: number }): StoreMetrics {
  const registers = [registry];
  let droppedSeen = 0;
  return {
    flushes: new Counter({
      name: 'driftwatch_store_flushes_total',
      help: 'Flushes of window deltas to the statistics store, by outcome (ok, failed: the deltas are kept and retried).',
      labelNames: ['outcome'],
      registers,
    }),
    windowsWritten: new Counter({ name: 'driftwatch_store_windows_written_total', help: 'Window deltas written to the statistics store.', registers }),
    pendingWindows: new Gauge({
      name: 'driftwatch_store_pending_windows',
      help: 'Window deltas held in memory, waiting for the next flush (or for a failed store).',
      registers,
    }),
    droppedWindows: new Counter({
      name: 'driftwatch_store_dropped_windows_total',
      help: 'Window deltas dropped because too many were waiting for an unavailable store.',
      registers,
    }),
    pendingPoints: new Gauge({
      name: 'driftwatch_store_backend_pending',
      help: 'Writes the store backend accepted but has not made durable yet (InfluxDB: lines buffered in memory or spooled to disk).',
      registers,
      collect() {
        this.set(health().pending);
      },
    }),
    droppedPoints: new Counter({
      name: 'driftwatch_store_backend_dropped_total',
      help: 'Writes the store backend lost since start because its buffer and spool were full, or the server refused them for good.',
      registers,
      // The backend keeps its own running count; a counter (rate() and increase() work, resets
      // are seen as restarts) follows it by the increase since the last scrape.
      collect() {
        const dropped = health().dropped;
        if (dropped > droppedSeen) {
          this.inc(dropped - droppedSeen);
          droppedSeen = dropped;
        } else if (dropped < droppedSeen) droppedSeen = dropped; // a backend recreated: follow its new count
      },
    }),
    maintenance: new Counter({
      name: 'driftwatch_store_maintenance_windows_total',
      help: 'Windows rolled up (minutes into hours) or deleted past retention.',
      labelNames: ['action'],
      registers,
    }),
  };
}

export interface CheckMetrics {
  runs: Counter<'check' | 'outcome'>;
  duration: Histogram<'check'>;
  findings: Gauge<'check' | 'status'>;
  psi: Gauge<'model' | 'version' | 'feature'>;
  ksStatistic: Gauge<'model' | 'version' | 'feature'>;
  driftShare: Gauge<'model' | 'version'>;
  driftEffect: Gauge<'model' | 'version' | 'feature' | 'statistic'>;
  burnRate: Gauge<'model' | 'version' | 'rule'>;
  latency: Gauge<'model' | 'version' | 'quantile'>;
  errorRate: Gauge<'model' | 'version'>;
  stale: Gauge<'model' | 'version'>;
  registryTagWriteErrors: Counter<'reason'>;
  /** driftwatch_quality_<metric>{model,version}: the quality check's latest value of each metric. */
  quality: Readonly<Record<string, Gauge<'model' | 'version'>>>;
  qualityLabelledShare: Gauge<'model' | 'version'>;
  dataQualityShare: Gauge<'model' | 'version' | 'feature' | 'rule'>;
}

/** The quality check's gauges, by metric, and what each says (docs/metrics.md lists them). */
const QUALITY_GAUGES: Readonly<Record<string, string>> = {
  accuracy: 'Accuracy of the predictions whose labels arrived, over the quality window (by prediction time).',
  estimated_accuracy: 'Accuracy estimated from the predicted probabilities (CBPE) over every prediction of the quality window, labelled or not.',
  macro_f1: 'Macro-averaged F1 of the labelled predictions over the quality window.',
  macro_precision: 'Macro-averaged precision of the labelled predictions over the quality window.',
  macro_recall: 'Macro-averaged recall of the labelled predictions over the quality window.',
  log_loss: 'Log loss of the labelled predictions with probabilities over the quality window.',
  brier: 'Multiclass Brier score of the labelled predictions with probabilities over the quality window.',
  mae: 'Mean absolute error of the labelled predictions over the quality window.',
  rmse: 'Root mean squared error of the labelled predictions over the quality window.',
  mape: 'Mean absolute percentage error (a fraction) of the labelled predictions over the quality window.',
  r2: 'R-squared of the labelled predictions over the quality window.',
  accuracy_drop: "The reference's accuracy minus the quality window's (positive: worse than on the reference data).",
  estimated_accuracy_drop: "The reference's accuracy minus the quality window's estimated accuracy.",
  rmse_increase: "The quality window's RMSE minus the reference's (positive: worse than on the reference data).",
};

/** The scheduled checks' metrics: runs and, per model and feature, the latest values they found. */
export function createCheckMetrics(registry: Registry): CheckMetrics {
  const registers = [registry];
  const runs = new Counter({
    name: 'driftwatch_check_runs_total',
    help: 'Scheduled check runs by check and outcome (ok, failed, timeout, skipped_overlap).',
    labelNames: ['check', 'outcome'],
    registers,
  });
  // Every series at 0 from the start: a labelled counter has no sample before its first event,
  // so Prometheus' increase() would miss the first failure (the alerting rules read it) and the
  // dashboard's panel would be empty until then.
  for (const check of ['drift', 'slo', 'staleness', 'quality', 'data_quality'])
    for (const outcome of ['ok', 'failed', 'timeout', 'skipped_overlap']) runs.inc({ check, outcome }, 0);
  return {
    runs,
    duration: new Histogram({
      name: 'driftwatch_check_duration_seconds',
      help: 'Duration of check runs.',
      labelNames: ['check'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
      registers,
    }),
    findings: new Gauge({
      name: 'driftwatch_check_findings',
      help: 'Findings of the latest run of each check, by status (ok, warn, fail, error).',
      labelNames: ['check', 'status'],
      registers,
    }),
    psi: new Gauge({
      name: 'driftwatch_drift_psi',
      help: 'Latest PSI of a feature (inputs and prediction columns) against its reference.',
      labelNames: ['model', 'version', 'feature'],
      registers,
    }),
    ksStatistic: new Gauge({
      name: 'driftwatch_drift_ks_statistic',
      help: 'Latest two-sample KS statistic of a numeric feature against its reference (from sketches).',
      labelNames: ['model', 'version', 'feature'],
      registers,
    }),
    driftShare: new Gauge({
      name: 'driftwatch_drift_share',
      help: "Share of a model's input features that drifted in the latest drift check.",
      labelNames: ['model', 'version'],
      registers,
    }),
    driftEffect: new Gauge({
      name: 'driftwatch_drift_effect',
      help: "Latest effect size of a feature's shift that the drift verdict weighed (the one furthest above, or least below, its floor; statistic: ks_statistic, psi, wasserstein, jensen_shannon).",
      labelNames: ['model', 'version', 'feature', 'statistic'],
      registers,
    }),
    burnRate: new Gauge({
      name: 'driftwatch_slo_burn_rate',
      help: 'Error-budget burn rate over the long window of each burn-rate rule.',
      labelNames: ['model', 'version', 'rule'],
      registers,
    }),
    latency: new Gauge({
      name: 'driftwatch_slo_latency_seconds',
      help: "Latency quantiles over each model's SLO window, from the stored histograms.",
      labelNames: ['model', 'version', 'quantile'],
      registers,
    }),
    errorRate: new Gauge({
      name: 'driftwatch_slo_error_rate',
      help: "Share of 5xx answers over each model's SLO window.",
      labelNames: ['model', 'version'],
      registers,
    }),
    stale: new Gauge({
      name: 'driftwatch_model_stale',
      help: '1 when a Production model version is flagged stale by any rule.',
      labelNames: ['model', 'version'],
      registers,
    }),
    registryTagWriteErrors: new Counter({
      name: 'driftwatch_registry_tag_write_errors_total',
      help: 'Stale-tag writes (set or delete) the registry refused or could not take, by reason (unauthorized, unavailable, ...); the findings are kept.',
      labelNames: ['reason'],
      registers,
    }),
    quality: Object.fromEntries(
      Object.entries(QUALITY_GAUGES).map(([metric, help]) => [
        metric,
        new Gauge({ name: `driftwatch_quality_${metric}`, help, labelNames: ['model', 'version'], registers }),
      ]),
    ),
    dataQualityShare: new Gauge({
      name: 'driftwatch_data_quality_share',
      help: "Share of an input feature's values in the data-quality window that break a rule (missing_share, out_of_range_share, unseen_category_share, type_mismatch_share).",
      labelNames: ['model', 'version', 'feature', 'rule'],
      registers,
    }),
    qualityLabelledShare: new Gauge({
      name: 'driftwatch_quality_labelled_ratio',
      help: "Share of the quality window's predictions whose labels have arrived.",
      labelNames: ['model', 'version'],
      registers,
    }),
  };
}

/** One served model's champion and challenger as the challenger gauges read them at scrape time. */
export interface ChallengerGaugeRow {
  model: string;
  championVersion: string;
  challengerVersion: string;
  /** Share of paired rows with the same label; null: no labels (not exported). */
  agreement: number | null;
  championP99Ms: number | null;
  challengerP99Ms: number | null;
  /** Share of shadowed requests the challenger failed on; null: none yet. */
  errorRate: number | null;
  requests: number;
}

export interface ChallengerMetrics {
  /** Shadow outcomes per served model: scored, failed, dropped, not_loaded. */
  shadowRequests: Counter<'model' | 'outcome'>;
}

/**
 * The challenger's metrics (docs/challenger.md): a counter of what became of each sampled request,
 * and gauges read at scrape time from the in-memory comparisons over the check's window, so they
 * follow version changes (an alias move) without stale series.
 */
export function createChallengerMetrics(registry: Registry, rows: () => readonly ChallengerGaugeRow[]): ChallengerMetrics {
  const registers = [registry];
  const labelNames = ['model', 'champion_version', 'challenger_version'] as const;
  const labelsOf = (r: ChallengerGaugeRow) => ({ model: r.model, champion_version: r.championVersion, challenger_version: r.challengerVersion });
  new Gauge({
    name: 'driftwatch_challenger_agreement',
    help: "Share of the shadowed rows where the challenger's label equals the champion's, over the challenger check's window.",
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const r of rows()) if (r.agreement !== null) this.set(labelsOf(r), r.agreement);
    },
  });
  new Gauge({
    name: 'driftwatch_challenger_latency_p99_seconds',
    help: 'p99 of prepare + inference on the shadowed requests, per role (champion, challenger), over the challenger check window.',
    labelNames: [...labelNames, 'role'],
    registers,
    collect() {
      this.reset();
      for (const r of rows()) {
        if (r.championP99Ms !== null) this.set({ ...labelsOf(r), role: 'champion' }, r.championP99Ms / 1000);
        if (r.challengerP99Ms !== null) this.set({ ...labelsOf(r), role: 'challenger' }, r.challengerP99Ms / 1000);
      }
    },
  });
  new Gauge({
    name: 'driftwatch_challenger_error_ratio',
    help: 'Share of the shadowed requests the challenger failed on (error, timeout, input it cannot read), over the challenger check window.',
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const r of rows()) if (r.errorRate !== null) this.set(labelsOf(r), r.errorRate);
    },
  });
  new Gauge({
    name: 'driftwatch_challenger_requests',
    help: 'Shadowed requests (answered or failed by the challenger) over the challenger check window.',
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const r of rows()) this.set(labelsOf(r), r.requests);
    },
  });
  return {
    shadowRequests: new Counter({
      name: 'driftwatch_shadow_requests_total',
      help: 'Requests sampled for the challenger, by outcome: scored, failed (the challenger erred or timed out), dropped (its queue was full), not_loaded.',
      labelNames: ['model', 'outcome'],
      registers,
    }),
  };
}

/** One model's number on the labelled pairs of a version pair (challenger/paired-quality.ts). */
export interface ChallengerQualityValue {
  role: 'champion' | 'challenger';
  /** accuracy, macro_f1, log_loss, rmse, mae, labelled_pairs. */
  metric: string;
  value: number;
}

export interface ChallengerQualityGauge {
  /** Replaces the model's series with this version pair's values (an alias move drops the old pair's). */
  set(key: { model: string; championVersion: string; challengerVersion: string }, values: readonly ChallengerQualityValue[]): void;
}

/**
 * Both models' quality on the same labelled requests, per version pair: set when the challenger
 * check (or GET /api/challenger) reads the labelled pairs from the prediction log, not at scrape
 * time (that read is I/O). Idempotent per registry: `start` and an analyzer may share one.
 */
export function createChallengerQualityMetrics(registry: Registry): ChallengerQualityGauge {
  const name = 'driftwatch_challenger_quality';
  const gauge =
    (registry.getSingleMetric(name) as Gauge<'model' | 'champion_version' | 'challenger_version' | 'role' | 'metric'> | undefined) ??
    new Gauge({
      name,
      help: "Both models' quality on the same labelled shadowed requests over checks.challenger.qualityWindow, per role (champion, challenger) and metric (accuracy, macro_f1, log_loss, rmse, mae, labelled_pairs).",
      labelNames: ['model', 'champion_version', 'challenger_version', 'role', 'metric'],
      registers: [registry],
    });
  const shown = new Map<string, Array<Record<string, string>>>();
  return {
    set(key, values) {
      for (const labels of shown.get(key.model) ?? []) gauge.remove(labels);
      const now: Array<Record<string, string>> = [];
      for (const v of values) {
        const labels = { model: key.model, champion_version: key.championVersion, challenger_version: key.challengerVersion, role: v.role, metric: v.metric };
        gauge.set(labels, v.value);
        now.push(labels);
      }
      shown.set(key.model, now);
    },
  };
}

/** The scoring server's shadow predictions on their way to the prediction log (labels.enabled). */
export function createShadowPredictionMetrics(registry: Registry): Counter<'outcome'> {
  const name = 'driftwatch_shadow_predictions_total';
  return (
    (registry.getSingleMetric(name) as Counter<'outcome'> | undefined) ??
    new Counter({
      name,
      help: "Challenger rows of the scoring server's shadow for the prediction log, by outcome: written, full (too many waiting), write_failed, unreadable (the answer could not be read as predictions), no_id (no X-Request-ID and no labels.idColumn).",
      labelNames: ['outcome'],
      registers: [registry],
    })
  );
}

export interface ProxyShadowMetrics {
  /** Sampled requests the sidecar's shadow did not send: busy (proxy.shadow.maxInFlight), down, closed; or whose pair was not compared: queue_full, unreadable (the champion's answer holds no predictions). */
  dropped: Counter<'reason'>;
  /** Shadow requests the challenger's endpoint failed: timeout, connection, status (non-2xx), too_large. */
  errors: Counter<'kind'>;
  /** Shadow requests in flight now. */
  inFlight: Gauge;
}

/** The sidecar's shadow (`driftwatch proxy --shadow-upstream`, docs/challenger.md); its outcomes also count in driftwatch_shadow_requests_total. */
export function createProxyShadowMetrics(registry: Registry, inFlight: () => number): ProxyShadowMetrics {
  const registers = [registry];
  return {
    dropped: new Counter({
      name: 'driftwatch_proxy_shadow_dropped_total',
      help: 'Sampled requests the proxy did not shadow or compare, by reason: busy (maxInFlight reached), down (backing off after a refused connection), closed, queue_full (the comparison queue), unreadable, worker_exit (taken by a capture worker that ended before comparing them).',
      labelNames: ['reason'],
      registers,
    }),
    errors: new Counter({
      name: 'driftwatch_proxy_shadow_errors_total',
      help: 'Shadow requests the challenger endpoint failed, by kind: timeout, connection, status (non-2xx), too_large.',
      labelNames: ['kind'],
      registers,
    }),
    inFlight: new Gauge({
      name: 'driftwatch_proxy_shadow_in_flight',
      help: 'Shadow requests sent to the challenger endpoint and not answered yet.',
      registers,
      collect() {
        this.set(inFlight());
      },
    }),
  };
}
