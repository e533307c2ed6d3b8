/**
 * The one schema for driftwatch's configuration. Types are inferred from it, so the file format,
 * the DRIFTWATCH_* environment names (derived from the paths, see env.ts) and the code cannot
 * disagree. Objects are strict: an unknown key is a typo until proven otherwise, and a typo in a
 * monitoring config silently turning a check off is the worst kind of failure.
 */
import { z } from 'zod';
import { parseDurationMs } from '../time-range.js';

const port = z.number().int().min(0).max(65535);
/** Registered model names: what MLflow accepts in practice, minus path separators (they become directories). */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const onnxSessionSchema = z.strictObject({
  /** Threads inside one operator. 1 is the steady choice on small boxes: more threads make p99 spike. */
  intraOpNumThreads: z.number().int().min(0).max(256).default(1),
  interOpNumThreads: z.number().int().min(0).max(256).default(1),
  graphOptimizationLevel: z.enum(['disabled', 'basic', 'extended', 'all']).default('all'),
  executionMode: z.enum(['sequential', 'parallel']).default('sequential'),
});

export const servedModelSchema = z.strictObject({
  /** Name under /v2/models/{name}; defaults to the registered model name (or the directory name). */
  name: z.string().regex(MODEL_NAME_PATTERN, 'letters, digits, ".", "_" and "-" only').optional(),
  /** models:/NAME/VERSION | models:/NAME/STAGE | models:/NAME/latest | models:/NAME@ALIAS | a directory. */
  uri: z.string().min(1),
  /** A challenger shadowing this model (same URI forms): scores a sample of its requests after they were answered (docs/challenger.md). */
  challenger: z.string().min(1).optional(),
  /** Share of the model's answered requests the challenger also scores (0..1; 0.1 when absent, applied where the challenger is built, so a model without one keeps its plain shape). */
  shadowSample: z.number().min(0).max(1).optional(),
});

/** Bounds of the challenger's shadow scoring, per served model (docs/challenger.md). */
export const shadowSchema = z.strictObject({
  /** Sampled requests waiting for the challenger; beyond it they are dropped and counted. */
  queueSize: z.number().int().min(1).max(100_000).default(64),
  /** Challenger inferences running at once. */
  maxConcurrent: z.number().int().min(1).max(64).default(1),
  /** A challenger inference not finished after this counts as a challenger error (timeout). */
  timeoutMs: z.number().int().min(1).max(600_000).default(10_000),
});

export const batchingSchema = z.strictObject({
  /** On by default: bench/RESULTS.md measures it about 2x at 1 row per request under load. */
  enabled: z.boolean().default(true),
  /** A batch is run at once when it holds this many rows; larger requests run alone. */
  maxBatchRows: z.number().int().min(2).max(1_000_000).default(256),
  /** 0: merge only requests already waiting (no added latency); >0: wait up to this long. */
  maxWaitMs: z.number().int().min(0).max(1000).default(0),
});

export const serveSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: port.default(8080),
  /** The first model is the default one that /invocations serves. */
  models: z.array(servedModelSchema).default([]),
  /** Up to 256 MiB: a body becomes one string, and V8's strings stop at about 512 MiB. */
  maxBodyBytes: z
    .number()
    .int()
    .min(1024)
    .max(256 * 1024 * 1024)
    .default(20 * 1024 * 1024),
  /** MLflow's scoring server times out at 60 s (MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT); so do we. */
  requestTimeoutMs: z.number().int().min(1).max(3_600_000).default(60_000),
  /** Time allowed on SIGTERM for in-flight requests before connections are cut. */
  shutdownGraceMs: z.number().int().min(0).max(600_000).default(10_000),
  /** Processes sharing the port (node:cluster). 1 keeps everything in one process. */
  workers: z.number().int().min(1).max(64).default(1),
  onnx: onnxSessionSchema.prefault({}),
  batching: batchingSchema.prefault({}),
  shadow: shadowSchema.prefault({}),
});

export const captureSchema = z.strictObject({
  /** Copy prediction bodies into the statistics pipeline. Off: only per-request metadata. */
  enabled: z.boolean().default(true),
  /** Share of prediction requests whose bodies are copied (0..1). */
  sampleRate: z.number().min(0).max(1).default(1),
  /** Bodies larger than this are counted and skipped, never buffered. */
  maxBodyBytes: z
    .number()
    .int()
    .min(0)
    .max(2 ** 30)
    .default(1024 * 1024),
  /** Paths besides /invocations and /v2/models/{name}[/versions/{v}]/infer that carry predictions. */
  extraPaths: z.array(z.string().startsWith('/')).default([]),
  /** Events waiting for the analysis side; beyond it new events are dropped and counted. */
  queueSize: z.number().int().min(1).max(1_000_000).default(10_000),
  /** Run extraction and profiling in a worker thread (at nice +10) instead of on the proxy's
   *  event loop. On the fast lane: 1.07-1.53x the proxy's throughput at 100-row requests,
   *  0.88-1.07x at 1 row (tiny payloads are about as cheap in-loop). Under a saturating load, capture
   *  then drops (counted) instead of slowing the traffic (bench/RESULTS.md, 2026-12-02). */
  worker: z.boolean().default(true),
});

/** The sidecar's shadow: a sample of the answered prediction requests is also sent to a challenger's endpoint (docs/challenger.md). */
export const proxyShadowSchema = z.strictObject({
  /** The challenger's prediction endpoint; absent: no shadow. */
  upstream: z.url({ protocol: /^https?$/ }).optional(),
  /** Share of the captured, answered (2xx) prediction requests also sent to the shadow upstream. */
  sample: z.number().min(0).max(1).default(0.1),
  /** Shadow requests in flight at once (its own connections); a sampled request beyond it is dropped and counted. */
  maxInFlight: z.number().int().min(1).max(1024).default(4),
  /** A shadow answer not complete after this counts as a challenger error (timeout). */
  timeoutMs: z.number().int().min(1).max(600_000).default(10_000),
  /** Answered pairs waiting for the comparison; beyond it they are dropped and counted. */
  queueSize: z.number().int().min(1).max(100_000).default(256),
  /** Version label of the challenger when its answer carries no x-driftwatch-model-version header. */
  version: z.string().min(1).max(128).optional(),
});

export const proxySchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: port.default(5000),
  /** The prediction endpoint to front, e.g. http://127.0.0.1:8080 (an MLflow, KServe or own server). */
  upstream: z.url({ protocol: /^https?$/ }).optional(),
  /** Model name for /invocations traffic (the /v2 routes name their model themselves). */
  model: z.string().min(1).optional(),
  /** Version label for traffic whose answer carries no x-driftwatch-model-version header (MLflow's
   *  and other servers' answers do not): the registered version they serve, so its reference
   *  profile and checks apply. Without it such traffic is recorded under version "unknown". */
  version: z.string().min(1).max(128).optional(),
  /** Names of the input columns, in order, for positional payloads of a foreign upstream
   *  (`instances: [[...]]`, unnamed CSV-like rows); without them they are f0, f1, ... */
  columns: z.array(z.string().min(1)).optional(),
  /** No response headers from the upstream within this time: 504. */
  upstreamTimeoutMs: z.number().int().min(1).max(3_600_000).default(60_000),
  /** Keep-alive connections to the upstream, at most. */
  maxSockets: z.number().int().min(1).max(65_536).default(256),
  /** engine of the data path. fast: HTTP/1.1 on raw sockets for the common request shapes (any
   *  other request, e.g. an upgrade, Expect: 100-continue or HTTP/1.0, is handed to the node:http
   *  path on the same connection); node: node:http + http.request for everything. Why two: the
   *  fast lane costs a fraction of node:http's CPU per request (bench/RESULTS.md). */
  engine: z.enum(['fast', 'node']).default('fast'),
  /** Idle keep-alive connections to the upstream are closed after this long: shorter than the
   *  upstream's own idle timeout (gunicorn's default is 2 s), so a reused socket is rarely one the
   *  upstream is closing. */
  upstreamIdleMs: z.number().int().min(10).max(3_600_000).default(1_500),
  /** fast: a prediction request (POST /invocations, /v2/.../infer, extra paths) whose reused
   *  upstream connection closed before any byte of the answer is resent once on a fresh one.
   *  Scoring is idempotent; turn this off for an upstream whose prediction calls have side effects.
   *  Idempotent methods are always resent, other POSTs never. */
  resendPredictions: z.boolean().default(true),
  /** Processes sharing the proxy port (node:cluster), each with its own capture worker; one admin
   *  port and one /metrics for the group. 1 keeps everything in one process. */
  workers: z.number().int().min(1).max(64).default(1),
  capture: captureSchema.prefault({}),
  shadow: proxyShadowSchema.prefault({}),
});

export const registrySchema = z.strictObject({
  /** local: a directory on disk; mlflow: an MLflow tracking server's Model Registry (REST API 2.0). */
  kind: z.enum(['local', 'mlflow']).default('local'),
  /** Directory of the local registry. Relative paths are resolved against the working directory. */
  root: z.string().min(1).default('.driftwatch/registry'),
  /** How often served stage/alias URIs are re-resolved to pick up a new version. */
  pollIntervalMs: z.number().int().min(100).max(86_400_000).default(5_000),
  /** mlflow: the tracking server, e.g. http://mlflow:5000 (or MLFLOW_TRACKING_URI). Checked in
   *  crossFieldProblems, so a non-HTTP MLFLOW_TRACKING_URI does not break a local-registry config. */
  trackingUri: z.string().min(1).optional(),
  /** mlflow: bearer token (or MLFLOW_TRACKING_TOKEN); never logged. */
  token: z.string().min(1).optional(),
  /** mlflow: HTTP Basic credentials (or MLFLOW_TRACKING_USERNAME / _PASSWORD); win over token, as in MLflow's client. */
  username: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  /** mlflow: downloaded model versions (verified, reused across restarts) and reference profiles. */
  cacheDir: z.string().min(1).default('.driftwatch/mlflow-cache'),
  /** mlflow: one REST call, from sending to the end of the answer. */
  timeoutMs: z.number().int().min(100).max(600_000).default(10_000),
  /** mlflow: one artifact file download (model files can be large). */
  downloadTimeoutMs: z.number().int().min(1000).max(86_400_000).default(600_000),
  /** mlflow: retries of a call that failed on the network or with 429/502/503/504, with doubling backoff. */
  retries: z.number().int().min(0).max(20).default(4),
  /** mlflow: delay before the first retry (then 2x, 4x, ... capped at 30 s, with jitter). */
  retryDelayMs: z.number().int().min(1).max(60_000).default(500),
});

export const adminSchema = z.strictObject({
  enabled: z.boolean().default(true),
  host: z.string().min(1).default('127.0.0.1'),
  // Not 9100 (node_exporter's) nor anything in 9100-9999, the range Prometheus's wiki allocates to
  // exporters; nor 9090-9094 (Prometheus, Pushgateway, Kafka, Alertmanager).
  port: port.default(9097),
  /** Bearer token for admin/control endpoints; required when host is not loopback. */
  token: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Host names (without port) the admin port answers besides localhost, 127.0.0.1, [::1] and
   *  admin.host, when bound to loopback: any other Host header is refused (DNS rebinding). */
  allowedHosts: z.array(z.string().regex(/^[A-Za-z0-9.:[\]_-]{1,253}$/, 'a host name or IP address, without port')).default([]),
});

export const statsSchema = z.strictObject({
  /** Window length of the stored profiles; windows are aligned to the epoch. */
  windowSeconds: z.number().int().min(1).max(86_400).default(60),
  /** How often the sidecar writes what it saw to the store: a hard kill loses at most this much. */
  flushIntervalMs: z.number().int().min(100).max(600_000).default(5_000),
  /** KLL sketch size: normalised rank error about 1.7% at k=200 (docs/statistics.md). */
  sketchK: z.number().int().min(8).max(4096).default(200),
  /** Distinct categories kept per feature and window without a reference; the rest count as "other". */
  maxCategories: z.number().int().min(1).max(10_000).default(100),
  /** Features (inputs + predictions) profiled per model and window; the rest are counted as dropped. */
  maxFeatures: z.number().int().min(1).max(10_000).default(512),
  /** Latency SLO thresholds in ms: each becomes an exact bucket boundary of the latency histogram. */
  latencySloMs: z.array(z.number().positive().max(3_600_000)).default([]),
  /** KLL sketch size of reference profiles: built once and compared on every drift check, so a
   *  bigger sketch is cheap; up to about this many rows the reference's CDF is exact. */
  referenceSketchK: z.number().int().min(8).max(65_536).default(2048),
  /** Bins of a reference profile's numeric features (its quantiles). */
  referenceBins: z.number().int().min(2).max(1000).default(10),
});

export const embeddedStoreSchema = z.strictObject({
  /** The database file (SQLite, WAL). Relative paths are resolved against the working directory. */
  path: z.string().min(1).default('.driftwatch/stats.db'),
  /** Windows older than this are deleted. */
  retentionDays: z.number().min(0.001).max(3650).default(30),
  /** Minute windows older than this are merged into hour windows. */
  rollupAfterHours: z.number().min(0.001).max(87_600).default(48),
});

export const influxStoreSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/ }).default('http://127.0.0.1:8086'),
  /** v2: /api/v2/write (InfluxDB 1.8+, 2.x, 3.x, Cloud); v1: /write (InfluxDB 1.x before 1.8). */
  apiVersion: z.enum(['v1', 'v2']).default('v2'),
  /** v1 database (and v2: the DBRP-mapped database InfluxQL reads). */
  database: z.string().min(1).default('driftwatch'),
  /** v1 retention policy; empty: the database's default. */
  retentionPolicy: z.string().default(''),
  /** v2 organisation and bucket. */
  org: z.string().default(''),
  bucket: z.string().default('driftwatch'),
  /** v2 API token (or v1 "username:password"); from DRIFTWATCH_STORE_INFLUXDB_TOKEN, never logged. */
  token: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  /** Tag that tells sidecar replicas apart (default: the host name and process id). */
  instance: z
    .string()
    .min(1)
    .regex(/^[A-Za-z0-9._:-]+$/)
    .optional(),
  timeoutMs: z.number().int().min(100).max(600_000).default(10_000),
  /** Lines held in memory while the server is unreachable; beyond this they spill to spoolDir. */
  maxBufferLines: z.number().int().min(100).max(10_000_000).default(5_000),
  spoolDir: z.string().min(1).default('.driftwatch/influx-spool'),
  /** Disk spool bound; beyond it deltas are dropped and counted (driftwatch_store_dropped_total). */
  maxSpoolBytes: z
    .number()
    .int()
    .min(0)
    .max(2 ** 40)
    .default(256 * 1024 * 1024),
  /** Retry delay after a failed write (doubles up to 30 s, with jitter). */
  retryDelayMs: z.number().int().min(10).max(600_000).default(1_000),
});

export const storeSchema = z.strictObject({
  kind: z.enum(['embedded', 'influxdb']).default('embedded'),
  embedded: embeddedStoreSchema.prefault({}),
  influxdb: influxStoreSchema.prefault({}),
});

/**
 * A span of time as people write it: 90s, 15m, 2h, 7d. Each object holding one gets the number
 * next to it at load time (window -> windowMs, ...), so no use site parses text; the text stays as
 * the label findings and logs print ("over the last 1h").
 */
const duration = z.string().regex(/^\d+(\.\d+)?(ms|s|m|h|d|w)$/, 'a duration like 90s, 15m, 2h or 7d');
/** Milliseconds of a text the `duration` schema accepted. */
const ms = (text: string): number => parseDurationMs(text)!;
/** Cron expressions are validated by the scheduler at start-up (the one node-cron import). */
const cronExpr = z.string().min(9);

export const driftFeatureSchema = z.strictObject({
  /** Leave this feature out of the drift check. */
  ignore: z.boolean().default(false),
  psiWarn: z.number().positive().optional(),
  psiFail: z.number().positive().optional(),
  pvalue: z.number().gt(0).lt(1).optional(),
});

export const driftCheckSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    schedule: cronExpr.default('*/5 * * * *'),
    /** The current window compared with the reference: the last this-much of traffic. */
    window: duration.default('1h'),
    psiWarn: z.number().positive().default(0.1),
    psiFail: z.number().positive().default(0.25),
    /** KS (numeric) and chi-square (categorical) tests: drift when the p-value is below this. */
    pvalue: z.number().gt(0).lt(1).default(0.05),
    /** Jensen-Shannon distance (categorical, base 2): drift at or above this. */
    jensenShannon: z.number().gt(0).max(1).default(0.1),
    /** Wasserstein-1 distance normalised by the reference's std (numeric features): drifted at or
     *  above this. Off unless set (Evidently's default threshold is 0.1). */
    wasserstein: z.number().positive().optional(),
    /** Rows needed on each side before PSI / JS / Wasserstein give a verdict (below: insufficient_data). */
    minSamplesDistance: z.number().int().min(1).default(1000),
    /** Rows needed on each side before the KS / chi-square tests give a verdict. */
    minSamplesTest: z.number().int().min(1).default(100),
    /** Correction of the p-values across one model's features. */
    correction: z.enum(['none', 'bonferroni', 'benjamini-hochberg']).default('none'),
    /** test-and-effect: drifted when the test is significant AND an effect reaches its floor
     *  (minEffect); test-only: the rule before issue 23 (the test, and the distance thresholds
     *  above each on its own). docs/drift.md has the measurements behind the default. */
    rule: z.enum(['test-and-effect', 'test-only']).default('test-and-effect'),
    /** Effect-size floors of the test-and-effect rule; the same numbers as src/drift/effect-rule.ts
     *  (config/ may not import drift/; a test ties them). */
    minEffect: z
      .strictObject({
        ks: z.number().min(0).max(1).default(0.1),
        psi: z.number().min(0).default(0.06),
        wasserstein: z.number().min(0).default(0.25),
        jensenShannon: z.number().min(0).max(1).default(0.1),
      })
      .prefault({}),
    /** The model's inputs count as drifted when at least this share of its features drifted. */
    datasetDriftShare: z.number().gt(0).max(1).default(0.5),
    /** Per-feature overrides, by feature (or prediction column) name. */
    features: z.record(z.string(), driftFeatureSchema).default({}),
  })
  .transform((c) => ({ ...c, windowMs: ms(c.window) }));

export const sloTargetSchema = z
  .strictObject({
    /** Model name, or "*" for every model without a target of its own. */
    model: z.string().min(1).default('*'),
    /** Window the quantile and error-rate targets are judged over. */
    window: duration.default('5m'),
    p50Ms: z.number().positive().optional(),
    p95Ms: z.number().positive().optional(),
    p99Ms: z.number().positive().optional(),
    /** Share of requests answered 5xx (or by the proxy's 502/504) that is acceptable. */
    errorRate: z.number().min(0).max(1).optional(),
    /** SLO objective for burn-rate alerts: share of requests that must be good (fast and not 5xx). */
    objective: z.number().gt(0).lt(1).default(0.999),
    /** A request slower than this is "bad" for the burn rate (none: only 5xx are bad). */
    latencyThresholdMs: z.number().positive().optional(),
    /** Multiwindow burn-rate rules (SRE workbook: 14.4x 1h+5m, 6x 6h+30m page; 1x 3d+6h ticket). */
    burnRate: z.boolean().default(true),
  })
  .transform((t) => ({ ...t, windowMs: ms(t.window) }));

export const sloCheckSchema = z.strictObject({
  enabled: z.boolean().default(true),
  schedule: cronExpr.default('* * * * *'),
  /** Requests needed in a window before a quantile or error-rate verdict is given. */
  minRequests: z.number().int().min(1).default(20),
  targets: z.array(sloTargetSchema).default([]),
});

export const stalenessCheckSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    schedule: cronExpr.default('*/15 * * * *'),
    /** Stale when a version has been in Production longer than this (0: rule off). */
    maxProductionAgeDays: z.number().min(0).default(90),
    /** Stale after this many drift-check runs in a row with a failed feature (0: rule off). */
    driftFailRuns: z.number().int().min(0).default(3),
    /** Stale when a served model version saw no traffic for this long (empty: rule off). */
    noTraffic: z.union([duration, z.literal('')]).default('24h'),
    /** Stale when the registry holds a newer version than the one in Production. */
    newerVersion: z.boolean().default(true),
    /** Write driftwatch.stale / stale_reason / stale_since tags on the model version (and clear them). */
    writeTags: z.boolean().default(true),
  })
  .transform((c) => ({ ...c, noTrafficMs: c.noTraffic ? ms(c.noTraffic) : null }));

/** Metrics the quality check can hold to a floor (or ceiling): names as in docs/quality.md. */
export const QUALITY_METRICS = ['accuracy', 'macro_f1', 'macro_precision', 'macro_recall', 'log_loss', 'brier', 'mae', 'rmse', 'mape', 'r2'] as const;

export const qualityCheckSchema = z
  .strictObject({
    /** Runs when labels.enabled is true (there is nothing to check otherwise). */
    enabled: z.boolean().default(true),
    schedule: cronExpr.default('*/5 * * * *'),
    /** Predictions made in the last this-much, with the labels that have arrived for them. */
    window: duration.default('1d'),
    /** Labelled predictions needed before a verdict (below: insufficient_data). */
    minLabelled: z.number().int().min(1).default(100),
    /** Per metric: warn / fail limits. Higher is better for accuracy, F1, precision, recall and r2 (a value below the limit is bad); lower is better for the rest. */
    thresholds: z
      .partialRecord(z.enum(QUALITY_METRICS), z.strictObject({ warn: z.number().nullable().default(null), fail: z.number().nullable().default(null) }))
      .default({}),
    /** The headline metric's fall from the reference's own value, in absolute points (accuracy and
     *  its estimate: below the reference; rmse: above it), when the reference was built with a label
     *  column. Off (null) by default: the finding is reported, not judged. */
    maxDrop: z.strictObject({ warn: z.number().min(0).nullable().default(null), fail: z.number().min(0).nullable().default(null) }).prefault({}),
  })
  .transform((c) => ({ ...c, windowMs: ms(c.window) }));

const shareLimits = (warn: number, fail: number) =>
  z.strictObject({ warn: z.number().min(0).max(1).nullable().default(warn), fail: z.number().min(0).max(1).nullable().default(fail) }).prefault({});

export const dataQualityCheckSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    schedule: cronExpr.default('*/5 * * * *'),
    /** The window judged: the last this-much of traffic. */
    window: duration.default('1h'),
    /** Values of a feature needed in the window before a verdict (below: insufficient_data). */
    minRows: z.number().int().min(1).default(100),
    /** Missing values: limits on the share *above the reference's own* missing share. */
    missing: shareLimits(0.05, 0.2),
    /** Numeric values outside the reference's [min, max]. */
    outOfRange: shareLimits(0.01, 0.05),
    /** Categorical values the reference never had. */
    unseenCategories: shareLimits(0.01, 0.05),
    /** Strings where the reference had numbers, numbers where it had categories. */
    typeMismatch: shareLimits(0.001, 0.01),
  })
  .transform((c) => ({ ...c, windowMs: ms(c.window) }));

/** The challenger check: is the challenger shadowing a served model ready to promote? */
export const challengerCheckSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    schedule: cronExpr.default('*/5 * * * *'),
    /** The paired requests of the last this-much are judged. */
    window: duration.default('1h'),
    /** Paired requests needed before a verdict (below: insufficient_data, not ready). */
    minPairs: z.number().int().min(1).default(200),
    /** Largest share of paired rows whose labels differ (classifiers). */
    maxDisagreement: z.number().min(0).max(1).default(0.05),
    /** Largest challenger p99 latency as a multiple of the champion's on the same requests. */
    maxLatencyRatio: z.number().positive().default(1.5),
    /** Largest share of shadowed requests the challenger failed on. */
    maxErrorRate: z.number().min(0).max(1).default(0.01),
    /** Labelled paired requests (labels.enabled) needed before both models' quality is compared; below it the quality rule is not evaluated. */
    minLabelledPairs: z.number().int().min(1).default(100),
    /** Largest quality loss allowed on the same labelled requests: accuracy points for classifiers (0.01 = 1 point), relative RMSE increase for regressors (0.01 = 1%). */
    maxQualityDrop: z.number().min(0).default(0.01),
    /** The labelled pairs of predictions made in the last this-much are compared (longer than `window`: labels arrive late). */
    qualityWindow: duration.default('24h'),
    /** Status of a "not ready" finding (it alerts like any other through the alert routes). */
    notReadyStatus: z.enum(['warn', 'fail']).default('warn'),
  })
  .transform((c) => ({ ...c, windowMs: ms(c.window), qualityWindowMs: ms(c.qualityWindow) }));

export const checksSchema = z.strictObject({
  /** Run the scheduled checks in `driftwatch start` and `driftwatch analyze`. */
  enabled: z.boolean().default(true),
  /** A run still going after this is abandoned (and reported as timed out). */
  timeoutMs: z.number().int().min(100).max(3_600_000).default(60_000),
  /** Findings with history (always a local file, whatever the statistics store). */
  findingsPath: z.string().min(1).default('.driftwatch/findings.db'),
  findingsRetentionDays: z.number().min(1).max(3650).default(90),
  drift: driftCheckSchema.prefault({}),
  slo: sloCheckSchema.prefault({}),
  staleness: stalenessCheckSchema.prefault({}),
  quality: qualityCheckSchema.prefault({}),
  dataQuality: dataQualityCheckSchema.prefault({}),
  challenger: challengerCheckSchema.prefault({}),
});

/**
 * Several analyzers sharing one fleet (docs/deployment.md#more-than-one-analyzer): "i/n" makes
 * this one check only the models a stable hash of the model name gives to shard i of n
 * (checks/shard.ts); each model is checked, and alerted on, by exactly one of the n.
 */
export const analyzerSchema = z
  .strictObject({
    shard: z
      .string()
      .regex(/^\s*\d{1,4}\s*\/\s*\d{1,4}\s*$/, 'i/n, e.g. 0/3 (i counts from 0, a StatefulSet ordinal)')
      .refine((t) => {
        const [i, n] = t.split('/').map(Number) as [number, number];
        return n >= 1 && n <= 1024 && i < n;
      }, 'i/n needs 0 <= i < n and 1 <= n <= 1024')
      .default('0/1'),
    /** How long a model taken over from another analyzer has its first firing notifications held
     *  back, so the old owner's "resolved" reaches receivers first (alerts/handover.ts). */
    handoverGrace: duration.default('10m'),
  })
  .transform((c) => {
    const [index, count] = c.shard.split('/').map(Number) as [number, number];
    return { ...c, shardIndex: index, shardCount: count, handoverGraceMs: ms(c.handoverGrace) };
  });

export const receiverSchema = z.strictObject({
  /** Name routes refer to and `driftwatch alerts test NAME` takes. */
  name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ".", "_" and "-" only'),
  /** webhook: generic JSON signed per Standard Webhooks; alertmanager: the body of Alertmanager's
   *  webhook_config (v4), for consumers of Alertmanager webhooks, NOT for Alertmanager itself;
   *  alertmanager-api: an Alertmanager server's API (url: its base URL; alerts are POSTed to
   *  <url>/api/v2/alerts); slack: incoming webhook; pagerduty: Events API v2. */
  kind: z.enum(['webhook', 'alertmanager', 'alertmanager-api', 'slack', 'pagerduty']),
  /** Where to POST (PagerDuty: defaults to its public events endpoint). A Slack URL is a secret. */
  url: z.url({ protocol: /^https?$/ }).optional(),
  /** webhook: the signing secret ("whsec_" + base64, as Standard Webhooks issues them). */
  secret: z.string().min(8).optional(),
  /** pagerduty: the integration's routing key (a secret). */
  routingKey: z.string().min(8).optional(),
  /** alertmanager-api: sent as `Authorization: Bearer <token>` (a secret). Basic auth: the url's
   *  user:password. */
  bearerToken: z.string().min(1).optional(),
  /** alertmanager-api: a firing alert is re-posted this often (endsAt is 4 of these ahead, so
   *  Alertmanager keeps it active between posts); unset: 1 minute, Prometheus' resend delay. No
   *  zod default: it would change every receiver's config hash (the 410-disabled flag's key). */
  resendIntervalMs: z.number().int().min(1_000).max(3_600_000).optional(),
  timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
});

export const routeSchema = z.strictObject({
  receiver: z.string().min(1),
  /** Statuses that go to this receiver (resolutions follow the alerts they resolve). */
  severities: z.array(z.enum(['warn', 'fail', 'error'])).default(['warn', 'fail']),
  /** Model names; empty: every model. */
  models: z.array(z.string().min(1)).default([]),
});

export const alertsSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** Durable outbox and alert state (local SQLite), so a restart resends what was not acknowledged. */
    outboxPath: z.string().min(1).default('.driftwatch/alerts.db'),
    /** A still-firing alert is sent again at most this often. */
    repeatInterval: duration.default('4h'),
    /** Receivers by name; secrets (HMAC keys, routing keys, Slack URLs) are best given through
     *  DRIFTWATCH_ALERTS_RECEIVERS (JSON) or the config file with tight permissions; never logged. */
    receivers: z.array(receiverSchema).default([]),
    /** Which alerts go where; without routes every receiver gets warn and fail alerts. */
    routes: z.array(routeSchema).default([]),
    /** Retries on network errors, 429 and 5xx: exponential backoff with jitter from this delay ... */
    retryInitialDelayMs: z.number().int().min(10).max(3_600_000).default(1_000),
    /** ... up to this delay between attempts ... */
    retryMaxDelayMs: z.number().int().min(10).max(86_400_000).default(300_000),
    /** ... and for at most this long after the first attempt; then the delivery is recorded as failed. */
    retryMaxAge: duration.default('24h'),
    /** Where driftwatch's admin port is reached from outside: Alertmanager's externalURL, and the
     *  base of the default dashboard link (the status page, externalUrl + "/ui"). Unset, the
     *  loader derives it from the admin port and host the config ends up with (adminUrlFor); this
     *  default only serves an alerts section parsed on its own. */
    externalUrl: z.url().default('http://127.0.0.1:9097'),
    /** The "link to the dashboard" in every notification (Slack text, webhook externalUrl,
     *  Alertmanager generatorURL, PagerDuty client_url/links): a URL template where {model} is
     *  replaced by the URL-encoded model name, e.g. https://grafana/d/driftwatch-model?var-model={model}.
     *  Unset: the status page. */
    dashboardUrl: z
      .string()
      .refine((t) => /^https?:\/\//.test(t) && URL.canParse(t.replace(/\{model\}/g, 'm')), 'must be an http(s) URL, optionally with {model}')
      .optional(),
  })
  .transform((c) => ({ ...c, repeatIntervalMs: ms(c.repeatInterval), retryMaxAgeMs: ms(c.retryMaxAge) }));

export const logSchema = z.strictObject({
  level: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
});

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * The admin port's URL as the config describes it: the default alerts.externalUrl, so links in
 * notifications follow --admin-port / admin.port. A wildcard bind (0.0.0.0, ::) names no address a
 * reader can open: loopback then (behind a wildcard bind, set alerts.externalUrl to the name
 * people reach). Port 0 (any free port) cannot be known before listening: set it explicitly.
 */
export function adminUrlFor(admin: { host: string; port: number }): string {
  const h = admin.host.trim();
  const host = h === '0.0.0.0' || h === '::' || h === '[::]' || h === '' ? '127.0.0.1' : h.includes(':') && !h.startsWith('[') ? `[${h}]` : h;
  return `http://${host}:${admin.port}`;
}

/**
 * The fleet's prediction log on PostgreSQL (labels.store: postgres; docs/quality.md, "Fleets"):
 * every sidecar writes there, labels posted to any of them join there. The password comes apart
 * from the URL (DRIFTWATCH_LABELS_POSTGRES_PASSWORD), like the InfluxDB token; both are secrets.
 */
export const labelsPostgresSchema = z.strictObject({
  /** postgres://USER@HOST:PORT/DATABASE (?sslmode=require|verify-full); a password in it is accepted and redacted in logs. */
  url: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  /** The password (or in the URL); from DRIFTWATCH_LABELS_POSTGRES_PASSWORD, never logged. */
  password: z.string().min(1).optional(),
  /** A connection attempt gives up after this long. */
  connectTimeoutMs: z.number().int().min(100).max(600_000).default(5_000),
  /** A statement gives up after this long (the server cancels it; the call fails as unavailable). */
  statementTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
  /** Connections per process (per handle: the capture worker and the main thread each have one). */
  maxConnections: z.number().int().min(1).max(100).default(4),
  /** First wait after a failure, doubling up to 30 s; calls fail at once meanwhile. */
  retryDelayMs: z.number().int().min(10).max(600_000).default(500),
});

/**
 * Ground truth (issue 20, docs/quality.md): the prediction log that labels are joined to. Off by
 * default: logging every prediction costs a few microseconds of the capture thread per row and
 * disk (about 250 bytes a row); turn it on where labels will be posted.
 */
export const labelsSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** Where the log lives: sqlite (embedded, one host) or postgres (a fleet; labels.postgres). */
    store: z.enum(['sqlite', 'postgres']).default('sqlite'),
    /** The embedded prediction log (SQLite); two sidecars on one host may share it. */
    path: z.string().min(1).default('.driftwatch/predictions.db'),
    postgres: labelsPostgresSchema.prefault({}),
    /** How long a prediction waits for its label. */
    horizon: duration.default('30d'),
    /** Rows kept at most; past it a deterministic sample of ids is kept (halving). */
    maxRows: z.number().int().min(1000).max(1_000_000_000).default(1_000_000),
    /** An input column holding the client's own id per row (else the request id, `#row` for multi-row requests). */
    idColumn: z.string().min(1).max(256).optional(),
    /** The output holding the predicted class or value (else the first of label, prediction, ...). */
    predictionColumn: z.string().min(1).max(256).optional(),
    /** The vector output holding the class probabilities. */
    probabilitiesColumn: z.string().min(1).max(256).default('probabilities'),
    /** Class names, in the order of the probabilities vector (else the MLmodel's metadata.classes, else 0, 1, ...). */
    classes: z.array(z.string().min(1)).max(10_000).optional(),
    task: z.enum(['auto', 'classification', 'regression']).default('auto'),
    /** Records waiting to be written at most (past it they are dropped and counted). */
    maxPending: z.number().int().min(100).max(10_000_000).default(100_000),
  })
  .transform((c) => ({ ...c, horizonMs: ms(c.horizon) }));

export const configSchema = z.strictObject({
  serve: serveSchema.prefault({}),
  proxy: proxySchema.prefault({}),
  registry: registrySchema.prefault({}),
  admin: adminSchema.prefault({}),
  stats: statsSchema.prefault({}),
  store: storeSchema.prefault({}),
  checks: checksSchema.prefault({}),
  analyzer: analyzerSchema.prefault({}),
  alerts: alertsSchema.prefault({}),
  labels: labelsSchema.prefault({}),
  log: logSchema.prefault({}),
});

/**
 * Rules across fields. Run on the raw merged input as well as on parsed values, so they are
 * reported together with type errors elsewhere (zod skips refinements on invalid objects).
 */
export function crossFieldProblems(raw: unknown): Array<{ path: string; message: string }> {
  const problems: Array<{ path: string; message: string }> = [];
  // biome-ignore lint/suspicious/noExplicitAny: raw, unvalidated config: every field is checked before use
  const o = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, any>;
  const admin = (typeof o.admin === 'object' && o.admin !== null ? o.admin : {}) as Record<string, unknown>;
  const host = typeof admin.host === 'string' ? admin.host : '127.0.0.1';
  if (admin.enabled !== false && !isLoopbackHost(host) && !admin.token) {
    problems.push({
      path: 'admin.token',
      message: `admin.host ${host} is not loopback: set admin.token (or DRIFTWATCH_ADMIN_TOKEN) so control endpoints demand a bearer token`,
    });
  }
  const waitMs = o.serve?.batching?.maxWaitMs;
  const timeoutMs = o.serve?.requestTimeoutMs ?? 60_000;
  if (typeof waitMs === 'number' && typeof timeoutMs === 'number' && waitMs >= timeoutMs) {
    problems.push({ path: 'serve.batching.maxWaitMs', message: `must be below serve.requestTimeoutMs (${timeoutMs}), or every batched request times out` });
  }
  const models = Array.isArray(o.serve?.models) ? (o.serve.models as unknown[]) : [];
  const names = new Set<string>();
  models.forEach((m, i) => {
    const name = (m as { name?: unknown } | null)?.name;
    if (typeof name !== 'string') return;
    if (names.has(name)) problems.push({ path: `serve.models.${i}.name`, message: `duplicate model name ${name}` });
    names.add(name);
  });
  // The MLflow registry needs a tracking server URL; credentials go in their own fields, not in the URL.
  const registry = (typeof o.registry === 'object' && o.registry !== null ? o.registry : {}) as Record<string, unknown>;
  if (registry.kind === 'mlflow') {
    const uri = registry.trackingUri;
    let url: URL | null = null;
    try {
      url = typeof uri === 'string' ? new URL(uri) : null;
    } catch {
      url = null;
    }
    if (typeof uri !== 'string' || !uri)
      problems.push({ path: 'registry.trackingUri', message: 'registry.kind mlflow needs trackingUri (or MLFLOW_TRACKING_URI), e.g. http://mlflow:5000' });
    else if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
      problems.push({ path: 'registry.trackingUri', message: 'must be an http:// or https:// URL of an MLflow tracking server' });
    else if (url.username || url.password)
      problems.push({
        path: 'registry.trackingUri',
        message: 'must not carry credentials; set registry.username/password (MLFLOW_TRACKING_USERNAME/PASSWORD) or registry.token',
      });
    if (!!registry.username !== !!registry.password)
      problems.push({
        path: registry.username ? 'registry.password' : 'registry.username',
        message: 'HTTP Basic auth needs both registry.username and registry.password',
      });
  }
  // Alert receivers and routes: caught at load time with every other problem, not at the first alert.
  const alerts = (typeof o.alerts === 'object' && o.alerts !== null ? o.alerts : {}) as Record<string, unknown>;
  const receivers = Array.isArray(alerts.receivers) ? (alerts.receivers as Array<Record<string, unknown> | null>) : [];
  const receiverNames = new Set<string>();
  receivers.forEach((r, i) => {
    if (!r || typeof r !== 'object') return;
    if (typeof r.name === 'string') {
      if (receiverNames.has(r.name)) problems.push({ path: `alerts.receivers.${i}.name`, message: `duplicate receiver name ${r.name}` });
      receiverNames.add(r.name);
    }
    if (r.kind === 'pagerduty' && !r.routingKey)
      problems.push({ path: `alerts.receivers.${i}.routingKey`, message: 'a pagerduty receiver needs its integration routingKey' });
    if (r.kind !== 'pagerduty' && r.kind !== undefined && !r.url)
      problems.push({ path: `alerts.receivers.${i}.url`, message: `a ${String(r.kind)} receiver needs a url` });
    // kind alertmanager keeps meaning the webhook body (existing configs aimed at webhook consumers
    // keep working); aimed at Alertmanager's own API it could only ever get 400, so say what to change.
    if (r.kind === 'alertmanager' && typeof r.url === 'string' && /\/api\/v[12]\/alerts\/?$/.test(r.url.split(/[?#]/)[0] ?? '')) {
      problems.push({
        path: `alerts.receivers.${i}.kind`,
        message:
          'kind alertmanager sends the webhook body (for consumers of Alertmanager webhooks); to post to an Alertmanager server use kind: alertmanager-api with its base url (e.g. http://alertmanager:9093)',
      });
    }
    for (const field of ['bearerToken', 'resendIntervalMs'] as const) {
      if (r[field] !== undefined && r.kind !== 'alertmanager-api')
        problems.push({ path: `alerts.receivers.${i}.${field}`, message: `${field} is for kind alertmanager-api only` });
    }
    // Credentials in a receiver URL are sent as Authorization: Basic (alerts/delivery.ts); a
    // malformed percent-escape in them could never be decoded into a password.
    if (typeof r.url === 'string' && URL.canParse(r.url)) {
      const u = new URL(r.url);
      try {
        decodeURIComponent(u.username);
        decodeURIComponent(u.password);
      } catch {
        problems.push({ path: `alerts.receivers.${i}.url`, message: 'the user or password in the URL has a malformed percent-escape (write "%" as %25)' });
      }
    }
    if (r.kind === 'webhook' && !r.secret)
      problems.push({
        path: `alerts.receivers.${i}.secret`,
        message: 'a webhook receiver needs a signing secret (Standard Webhooks: "whsec_" + base64), so receivers can verify what they get',
      });
  });
  // The fleet's prediction log needs somewhere to be.
  const labels = (typeof o.labels === 'object' && o.labels !== null ? o.labels : {}) as Record<string, unknown>;
  if (labels.store === 'postgres' && !(labels.postgres as { url?: unknown } | undefined)?.url)
    problems.push({
      path: 'labels.postgres.url',
      message: 'labels.store postgres needs labels.postgres.url (or DRIFTWATCH_LABELS_POSTGRES_URL), e.g. postgres://driftwatch@db:5432/driftwatch',
    });
  const routes = Array.isArray(alerts.routes) ? (alerts.routes as Array<Record<string, unknown> | null>) : [];
  routes.forEach((r, i) => {
    if (r && typeof r.receiver === 'string' && !receiverNames.has(r.receiver)) {
      problems.push({
        path: `alerts.routes.${i}.receiver`,
        message: `no receiver named ${r.receiver} (configured: ${[...receiverNames].join(', ') || 'none'})`,
      });
    }
  });
  return problems;
}

export type Config = z.infer<typeof configSchema>;
export type ServeConfig = Config['serve'];
export type OnnxSessionConfig = Config['serve']['onnx'];
export type BatchingConfig = Config['serve']['batching'];
export type RegistryConfig = Config['registry'];
export type ProxyConfig = Config['proxy'];
export type CaptureConfig = Config['proxy']['capture'];
export type AdminConfig = Config['admin'];
export type ServedModelConfig = Config['serve']['models'][number];
export type StatsConfig = Config['stats'];
export type StoreConfig = Config['store'];
export type EmbeddedStoreConfig = Config['store']['embedded'];
export type InfluxStoreConfig = Config['store']['influxdb'];
export type ChecksConfig = Config['checks'];
export type AnalyzerConfig = Config['analyzer'];
export type DriftCheckConfig = Config['checks']['drift'];
export type SloCheckConfig = Config['checks']['slo'];
export type SloTarget = Config['checks']['slo']['targets'][number];
export type StalenessCheckConfig = Config['checks']['staleness'];
export type QualityCheckConfig = Config['checks']['quality'];
export type DataQualityCheckConfig = Config['checks']['dataQuality'];
export type ChallengerCheckConfig = Config['checks']['challenger'];
export type LabelsPostgresConfig = Config['labels']['postgres'];
export type ShadowConfig = Config['serve']['shadow'];
export type ProxyShadowConfig = Config['proxy']['shadow'];
export type AlertsConfig = Config['alerts'];
export type ReceiverConfig = Config['alerts']['receivers'][number];
export type RouteConfig = Config['alerts']['routes'][number];
export type LabelsConfig = Config['labels'];
