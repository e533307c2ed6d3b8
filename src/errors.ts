/**
 * Every error driftwatch can report, declared once.
 *
 * Why one registry: the code, its HTTP status, whether a retry can help and what it means are the
 * contract with users and their automation. docs/errors.md documents each code and a test ties the
 * two together (the pattern fastify and undici follow), so neither can drift from the other.
 */

export interface ErrorSpec {
  /** HTTP status when this error answers a request. */
  readonly status: number;
  /** The MLflow REST `error_code` used in `{"error_code","message"}` bodies. */
  readonly mlflowCode: string;
  /** Whether the same call may succeed later without a change by the caller. */
  readonly retryable: boolean;
  /** One line for docs/errors.md. */
  readonly description: string;
}

export const ERRORS = {
  DW_ERR_CONFIG_INVALID: {
    status: 400,
    mlflowCode: 'INVALID_PARAMETER_VALUE',
    retryable: false,
    description: 'The configuration (file, DRIFTWATCH_* environment or flags) failed validation; every problem is listed.',
  },
  DW_ERR_CONFIG_FILE: {
    status: 400,
    mlflowCode: 'INVALID_PARAMETER_VALUE',
    retryable: false,
    description: 'The configuration file could not be read or parsed as YAML/JSON.',
  },
  DW_ERR_CLI_USAGE: {
    status: 400,
    mlflowCode: 'INVALID_PARAMETER_VALUE',
    retryable: false,
    description: 'A command-line call named an unknown command or option, or lacked a required argument.',
  },
  DW_ERR_MODEL_URI_INVALID: {
    status: 400,
    mlflowCode: 'INVALID_PARAMETER_VALUE',
    retryable: false,
    description: 'A model URI is not one of models:/NAME/VERSION, models:/NAME/STAGE, models:/NAME/latest, models:/NAME@ALIAS or a directory path.',
  },
  DW_ERR_MODEL_INVALID: {
    status: 400,
    mlflowCode: 'INVALID_PARAMETER_VALUE',
    retryable: false,
    description: 'A model directory is not a loadable MLflow ONNX model (missing or malformed MLmodel, no onnx flavor, bad signature, missing model file).',
  },
  DW_ERR_MODEL_LOAD: {
    status: 500,
    mlflowCode: 'INTERNAL_ERROR',
    retryable: true,
    description: 'onnxruntime could not create or warm a session for the model file.',
  },
  DW_ERR_REGISTRY_MODEL_NOT_FOUND: {
    status: 404,
    mlflowCode: 'RESOURCE_DOES_NOT_EXIST',
    retryable: false,
    description: 'No registered model has that name.',
  },
  DW_ERR_REGISTRY_VERSION_NOT_FOUND: {
    status: 404,
    mlflowCode: 'RESOURCE_DOES_NOT_EXIST',
    retryable: false,
    description: 'The registered model has no such version, or no version in the requested stage.',
  },
  DW_ERR_REGISTRY_ALIAS_NOT_FOUND: {
    status: 404,
    mlflowCode: 'RESOURCE_DOES_NOT_EXIST',
    retryable: false,
    description: 'The registered model has no such alias.',
  },
  DW_ERR_REGISTRY_INVALID: {
    status: 400,
    mlflowCode: 'INVALID_PARAMETER_VALUE',
    retryable: false,
    description: 'A registry write was refused: bad name, stage, alias or tag.',
  },
  DW_ERR_REGISTRY_CORRUPT: {
    status: 500,
    mlflowCode: 'INTERNAL_ERROR',
    retryable: false,
    description: 'A registry file on disk could not be parsed; the message names the file.',
  },
  DW_ERR_REGISTRY_LOCKED: {
    status: 503,
    mlflowCode: 'TEMPORARILY_UNAVAILABLE',
    retryable: true,
    description: 'Another writer holds the registry lock for longer than the wait allows.',
  },
  DW_ERR_REGISTRY_UNAVAILABLE: {
    status: 503,
    mlflowCode: 'TEMPORARILY_UNAVAILABLE',
    retryable: true,
    description:
      'The MLflow tracking server could not be reached or answered 5xx / non-JSON after the configured retries; the message names the server URI (never credentials).',
  },
  DW_ERR_REGISTRY_UNAUTHORIZED: {
    status: 502,
    mlflowCode: 'BAD_GATEWAY',
    retryable: false,
    description: 'The MLflow tracking server refused the credentials (401/403): check registry.token or registry.username/password (MLFLOW_TRACKING_*).',
  },
  DW_ERR_REGISTRY_ARTIFACT: {
    status: 502,
    mlflowCode: 'BAD_GATEWAY',
    retryable: true,
    description:
      "A model version's artifacts could not be listed or downloaded through MLflow's artifact proxy, or failed verification (size or hash mismatch, missing file).",
  },
  DW_ERR_REGISTRY_UNSUPPORTED: {
    status: 400,
    mlflowCode: 'INVALID_PARAMETER_VALUE',
    retryable: false,
    description:
      "The MLflow registry cannot do this: an artifact URI outside the artifact proxy (s3://, file:, ...), a route the server lacks (404), or a name MLflow's search filter cannot express.",
  },
  DW_ERR_SERVE_LISTEN: {
    status: 500,
    mlflowCode: 'INTERNAL_ERROR',
    retryable: true,
    description: 'A listener could not bind its host and port (in use, or no such interface); the message names which.',
  },
  DW_ERR_SERVE_BAD_REQUEST: {
    status: 400,
    mlflowCode: 'BAD_REQUEST',
    retryable: false,
    description: 'The request body could not be parsed (malformed JSON or CSV, wrong top-level shape).',
  },
  DW_ERR_SERVE_SCHEMA: {
    status: 400,
    mlflowCode: 'INVALID_PARAMETER_VALUE',
    retryable: false,
    description: "The input does not match the model's signature (missing column, uncastable value, wrong shape).",
  },
  DW_ERR_SERVE_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    mlflowCode: 'BAD_REQUEST',
    retryable: false,
    description: 'The Content-Type is not application/json or text/csv.',
  },
  DW_ERR_SERVE_BODY_TOO_LARGE: {
    status: 413,
    mlflowCode: 'BAD_REQUEST',
    retryable: false,
    description: 'The request body exceeds serve.maxBodyBytes.',
  },
  DW_ERR_SERVE_TIMEOUT: {
    status: 504,
    mlflowCode: 'DEADLINE_EXCEEDED',
    retryable: true,
    description: 'Inference did not finish within serve.requestTimeoutMs.',
  },
  DW_ERR_SERVE_NOT_FOUND: {
    status: 404,
    mlflowCode: 'ENDPOINT_NOT_FOUND',
    retryable: false,
    description: 'No such route, model or model version on this server.',
  },
  DW_ERR_SERVE_METHOD_NOT_ALLOWED: {
    status: 405,
    mlflowCode: 'BAD_REQUEST',
    retryable: false,
    description: 'The route exists but not for this HTTP method.',
  },
  DW_ERR_SERVE_NOT_READY: {
    status: 503,
    mlflowCode: 'TEMPORARILY_UNAVAILABLE',
    retryable: true,
    description: 'The model is not loaded yet, or the server is shutting down.',
  },
  DW_ERR_SERVE_INFERENCE: {
    status: 500,
    mlflowCode: 'INTERNAL_ERROR',
    retryable: false,
    description: 'onnxruntime failed while running the model on a request that passed validation.',
  },
  DW_ERR_PROXY_UPSTREAM_UNAVAILABLE: {
    status: 502,
    mlflowCode: 'BAD_GATEWAY',
    retryable: true,
    description: 'The proxy could not reach the upstream, or it reset the connection before answering; the body names the request id.',
  },
  DW_ERR_PROXY_UPSTREAM_TIMEOUT: {
    status: 504,
    mlflowCode: 'DEADLINE_EXCEEDED',
    retryable: true,
    description: 'The upstream sent no response headers within proxy.upstreamTimeoutMs.',
  },
  DW_ERR_ADMIN_UNAUTHORIZED: {
    status: 401,
    mlflowCode: 'UNAUTHENTICATED',
    retryable: false,
    description: 'An admin/control endpoint needs `Authorization: Bearer <admin.token>` and did not get a matching one.',
  },
  DW_ERR_ADMIN_FORBIDDEN: {
    status: 403,
    mlflowCode: 'PERMISSION_DENIED',
    retryable: false,
    description:
      'The admin port refused a request from a browser context it does not trust: a Host name it does not answer to (DNS rebinding), or a cross-site Origin or `Sec-Fetch-Site: cross-site` on a POST/PUT/PATCH/DELETE (CSRF).',
  },
  DW_ERR_STORE_OPEN: {
    status: 500,
    mlflowCode: 'INTERNAL_ERROR',
    retryable: false,
    description:
      'The statistics store could not be opened: the embedded database file is not a driftwatch store, is corrupt, or was written by a newer driftwatch.',
  },
  DW_ERR_STORE_UNAVAILABLE: {
    status: 503,
    mlflowCode: 'TEMPORARILY_UNAVAILABLE',
    retryable: true,
    description:
      'The statistics store failed a read or write (disk full, database locked past its timeout, InfluxDB down); writes are kept and retried within the stated bounds.',
  },
  DW_ERR_PREDICTION_LOG_UNAVAILABLE: {
    status: 503,
    mlflowCode: 'TEMPORARILY_UNAVAILABLE',
    retryable: true,
    description:
      'The prediction log (labels.store postgres) is unreachable or timed out: labels posted now are not applied (the whole batch is rolled back) and may be sent again; captured predictions are dropped and counted.',
  },
  DW_ERR_REFERENCE_DATA: {
    status: 400,
    mlflowCode: 'INVALID_PARAMETER_VALUE',
    retryable: false,
    description:
      "A reference data file could not be used: unreadable, not CSV or JSON lines, or its columns do not match the model's signature (the message lists both).",
  },
  DW_ERR_REFERENCE_NOT_FOUND: {
    status: 404,
    mlflowCode: 'RESOURCE_DOES_NOT_EXIST',
    retryable: false,
    description: 'The model version has no reference profile yet (build one with `driftwatch reference build`).',
  },
  DW_ERR_REFERENCE_INVALID: {
    status: 500,
    mlflowCode: 'INTERNAL_ERROR',
    retryable: false,
    description: 'A stored reference profile failed validation when read back (the message names the bad field).',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export class DriftwatchError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, opts: { status?: number; cause?: unknown; retryable?: boolean } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'DriftwatchError';
    this.code = code;
    this.status = opts.status ?? ERRORS[code].status;
    this.retryable = opts.retryable ?? ERRORS[code].retryable;
  }

  get mlflowCode(): string {
    return ERRORS[this.code].mlflowCode;
  }
}

export function isDriftwatchError(e: unknown): e is DriftwatchError {
  return e instanceof DriftwatchError;
}

/** Any thrown value as a message, for logs and error bodies (never a stack to clients). */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
