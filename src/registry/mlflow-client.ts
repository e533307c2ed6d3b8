/**
 * HTTP to an MLflow tracking server: the REST API 2.0 (JSON) and the artifact proxy (files), with
 * per-call timeouts, bounded retries with backoff, and MLflow's `{"error_code","message"}` bodies
 * mapped to DriftwatchError codes. Node's built-in fetch; no third-party import.
 *
 * Facts of real servers this follows (mlflow/server/handlers.py, 2.x and 3.x):
 * - GET parameters go in the query string; POST and DELETE parameters in a JSON body, with
 *   `Content-Type: application/json` (the server answers 400 without it).
 * - Errors are `{"error_code": "...", "message": "..."}`; unknown routes answer Flask's HTML 404.
 *
 * Credentials: Basic (username + password) wins over Bearer (token), as in MLflow's own client
 * (mlflow/utils/rest_utils.py). They live in one private header value and never enter a message,
 * a log line or an error: messages name the server by `describe` (the URI, which config refuses
 * to carry credentials in).
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DriftwatchError, messageOf, type ErrorCode } from '../errors.js';
import type { Logger } from '../telemetry/logger.js';

export interface MlflowCredentials {
  token?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
}

export interface MlflowClientOptions {
  trackingUri: string;
  credentials?: MlflowCredentials;
  timeoutMs: number;
  downloadTimeoutMs: number;
  /** Retries after the first attempt, for network errors, timeouts and 429/502/503/504. */
  retries: number;
  retryDelayMs: number;
  logger?: Logger;
  /** Injected so tests need not wait for real backoff. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** An error answer of the MLflow server, with its own error_code kept for the adapter's mapping. */
export class MlflowRestError extends DriftwatchError {
  readonly httpStatus: number;
  readonly mlflowErrorCode: string;
  /** The server's own message (the error's message also names the server and the call). */
  readonly serverMessage: string;
  constructor(code: ErrorCode, message: string, httpStatus: number, mlflowErrorCode: string, serverMessage: string) {
    super(code, message);
    this.httpStatus = httpStatus;
    this.mlflowErrorCode = mlflowErrorCode;
    this.serverMessage = serverMessage;
  }
}

/** The calls the adapter may make: a fixed list, so the HTTP surface is explicit and checkable. */
export type MlflowEndpoint =
  | 'GET registered-models/get'
  | 'GET registered-models/search'
  | 'POST registered-models/create'
  | 'GET registered-models/alias'
  | 'POST registered-models/alias'
  | 'DELETE registered-models/alias'
  | 'GET model-versions/get'
  | 'GET model-versions/search'
  | 'POST model-versions/create'
  | 'GET model-versions/get-download-uri'
  | 'POST model-versions/transition-stage'
  | 'POST model-versions/set-tag'
  | 'DELETE model-versions/delete-tag';

const RETRY_STATUSES = new Set([429, 502, 503, 504]);
const MAX_RETRY_DELAY_MS = 30_000;
/** MLflow answers are small JSON documents; a bigger one is not MLflow's and is not buffered whole. */
const MAX_JSON_BYTES = 64 * 1024 * 1024;

function codeFor(status: number, errorCode: string, write: boolean): ErrorCode {
  if (status === 401 || status === 403 || errorCode === 'UNAUTHENTICATED' || errorCode === 'PERMISSION_DENIED') return 'DW_ERR_REGISTRY_UNAUTHORIZED';
  if (errorCode === 'RESOURCE_DOES_NOT_EXIST') return 'DW_ERR_REGISTRY_MODEL_NOT_FOUND';
  // Flask's HTML 404 (or ENDPOINT_NOT_FOUND): the server lacks the route, e.g. aliases before MLflow 2.3.
  if (status === 404 || status === 405 || errorCode === 'ENDPOINT_NOT_FOUND') return 'DW_ERR_REGISTRY_UNSUPPORTED';
  if (status >= 400 && status < 500) return 'DW_ERR_REGISTRY_INVALID';
  // A write MLflow refused with its own error body: the server is up and said no (MLflow raises
  // plain MlflowExceptions, INTERNAL_ERROR 500, for some refusals, e.g. archiving into None).
  if (write && errorCode === 'INTERNAL_ERROR') return 'DW_ERR_REGISTRY_INVALID';
  return 'DW_ERR_REGISTRY_UNAVAILABLE';
}

export class MlflowClient {
  /** The server as named in messages: the tracking URI (never with credentials). */
  readonly describe: string;
  private readonly base: string;
  private readonly authorization: string | null;
  private readonly opts: MlflowClientOptions;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(opts: MlflowClientOptions) {
    const url = new URL(opts.trackingUri);
    // Belt and braces: config refuses userinfo in the URI; never let it reach a message anyway.
    url.username = '';
    url.password = '';
    this.base = url.toString().replace(/\/+$/, '');
    this.describe = this.base;
    const c = opts.credentials ?? {};
    this.authorization =
      c.username && c.password ? `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}` : c.token ? `Bearer ${c.token}` : null;
    this.opts = opts;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { accept: 'application/json', ...(this.authorization ? { authorization: this.authorization } : {}), ...extra };
  }

  private backoffMs(attempt: number): number {
    const full = Math.min(MAX_RETRY_DELAY_MS, this.opts.retryDelayMs * 2 ** attempt);
    return Math.round(full * (0.5 + 0.5 * (this.opts.random ?? Math.random)()));
  }

  /**
   * One HTTP exchange with retries. `attempt` returns the parsed result or throws; a thrown
   * error with `retryable` set (network, timeout, 429/502/503/504) is tried again.
   */
  private async withRetries<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    let last: unknown;
    for (let i = 0; i <= this.opts.retries; i++) {
      if (i > 0) {
        const delay = this.backoffMs(i - 1);
        this.opts.logger?.debug('retrying a call to the MLflow server', {
          server: this.describe,
          call: what,
          attempt: i + 1,
          delayMs: delay,
          error: messageOf(last),
        });
        await this.sleep(delay);
      }
      try {
        return await attempt();
      } catch (e) {
        last = e;
        if (!(e instanceof TransientError)) throw e;
      }
    }
    const attempts = this.opts.retries + 1;
    throw new DriftwatchError(
      'DW_ERR_REGISTRY_UNAVAILABLE',
      `MLflow tracking server ${this.describe} unreachable (${what}) after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${messageOf(last)}`,
      { cause: last },
    );
  }

  private async send(method: string, url: string, init: { body?: string | Buffer; headers?: Record<string, string>; timeoutMs: number }): Promise<Response> {
    try {
      return await fetch(url, {
        method,
        headers: this.headers(init.headers),
        ...(init.body !== undefined ? { body: init.body, duplex: 'half' } : {}),
        signal: AbortSignal.timeout(init.timeoutMs),
        redirect: 'error', // a redirect would resend the credentials elsewhere
      } as RequestInit);
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      const why = (e as Error).name === 'TimeoutError' ? `no answer within ${init.timeoutMs} ms` : (cause?.code ?? cause?.message ?? messageOf(e));
      throw new TransientError(why);
    }
  }

  private async readText(res: Response): Promise<string> {
    const declared = Number(res.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > MAX_JSON_BYTES) {
      await res.body?.cancel();
      throw new DriftwatchError(
        'DW_ERR_REGISTRY_UNAVAILABLE',
        `MLflow tracking server ${this.describe} answered ${declared} bytes where a small JSON document was expected`,
      );
    }
    return res.text();
  }

  /** An error answer as a DriftwatchError (non-JSON bodies, e.g. Flask's HTML 404, included). */
  private async errorOf(res: Response, what: string, write = false): Promise<Error> {
    const text = await this.readText(res).catch(() => '');
    let errorCode = '';
    let message = '';
    try {
      const body = JSON.parse(text) as { error_code?: unknown; message?: unknown };
      if (typeof body.error_code === 'string') errorCode = body.error_code;
      if (typeof body.message === 'string') message = body.message;
    } catch {
      // not MLflow's error shape: keep the status and a short excerpt
    }
    if (RETRY_STATUSES.has(res.status)) return new TransientError(`HTTP ${res.status}${errorCode ? ` ${errorCode}` : ''}${message ? `: ${message}` : ''}`);
    const detail = errorCode ? `${errorCode}: ${message}` : `HTTP ${res.status}${text ? `: ${text.replace(/\s+/g, ' ').slice(0, 200)}` : ''}`;
    const code = codeFor(res.status, errorCode, write);
    const hint =
      code === 'DW_ERR_REGISTRY_UNAUTHORIZED'
        ? ' (check registry.token or registry.username/password, or MLFLOW_TRACKING_TOKEN / _USERNAME / _PASSWORD)'
        : code === 'DW_ERR_REGISTRY_UNSUPPORTED'
          ? ' (no such route on this server: is it an MLflow tracking server, 2.3 or newer, with the artifact proxy on?)'
          : '';
    return new MlflowRestError(code, `MLflow ${this.describe} ${what}: ${detail}${hint}`, res.status, errorCode, message);
  }

  /**
   * A REST API 2.0 call: GET parameters as a query string, POST/DELETE as a JSON body.
   * Resolves the parsed JSON answer ({} for an empty body).
   */
  async call<T = Record<string, unknown>>(endpoint: MlflowEndpoint, params: Record<string, unknown>): Promise<T> {
    const space = endpoint.indexOf(' ');
    const method = endpoint.slice(0, space);
    const path = endpoint.slice(space + 1);
    let url = `${this.base}/api/2.0/mlflow/${path}`;
    let body: string | undefined;
    if (method === 'GET') {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(params)) {
        if (v === undefined) continue;
        if (Array.isArray(v)) for (const x of v) q.append(k, String(x));
        else q.append(k, String(v));
      }
      const qs = q.toString();
      if (qs) url += `?${qs}`;
    } else body = JSON.stringify(params);
    return this.withRetries(endpoint, async () => {
      const res = await this.send(method, url, {
        ...(body !== undefined ? { body, headers: { 'content-type': 'application/json' } } : {}),
        timeoutMs: this.opts.timeoutMs,
      });
      if (!res.ok) throw await this.errorOf(res, endpoint, method !== 'GET');
      const text = await this.readText(res);
      if (!text.trim()) return {} as T;
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new DriftwatchError(
          'DW_ERR_REGISTRY_UNAVAILABLE',
          `MLflow ${this.describe} ${endpoint} answered something that is not JSON (is ${this.describe} an MLflow tracking server?)`,
        );
      }
    });
  }

  private artifactUrl(path: string): string {
    return `${this.base}/api/2.0/mlflow-artifacts/artifacts/${path.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** GET /api/2.0/mlflow-artifacts/artifacts?path=P: one directory level (names are basenames). */
  async listArtifacts(path: string): Promise<Array<{ path: string; is_dir?: boolean; file_size?: number | string }>> {
    const url = `${this.base}/api/2.0/mlflow-artifacts/artifacts?${new URLSearchParams({ path })}`;
    const what = `list artifacts ${path}`;
    return this.withRetries(what, async () => {
      const res = await this.send('GET', url, { timeoutMs: this.opts.timeoutMs });
      if (!res.ok) throw await this.artifactError(res, what);
      const text = await this.readText(res);
      try {
        const body = (text.trim() ? JSON.parse(text) : {}) as { files?: unknown };
        // proto3 JSON leaves out an empty list: an empty directory is {}
        return Array.isArray(body.files) ? (body.files as Array<{ path: string; is_dir?: boolean; file_size?: number | string }>) : [];
      } catch {
        throw new DriftwatchError(
          'DW_ERR_REGISTRY_ARTIFACT',
          `MLflow ${this.describe} ${what}: the answer is not JSON (is the artifact proxy enabled: mlflow server --serve-artifacts?)`,
        );
      }
    });
  }

  private async artifactError(res: Response, what: string): Promise<Error> {
    const e = await this.errorOf(res, what);
    // MLflow answers a missing artifact with 500 (the artifact repository's own error).
    if (e instanceof MlflowRestError && e.code !== 'DW_ERR_REGISTRY_UNAUTHORIZED') {
      return new MlflowRestError('DW_ERR_REGISTRY_ARTIFACT', e.message, e.httpStatus, e.mlflowErrorCode, e.serverMessage);
    }
    return e;
  }

  /** Streams one artifact file to dest; resolves its size and SHA-256 (hex). */
  async downloadArtifact(path: string, dest: string): Promise<{ bytes: number; sha256: string }> {
    const what = `download artifact ${path}`;
    return this.withRetries(what, async () => {
      const res = await this.send('GET', this.artifactUrl(path), { headers: { accept: '*/*' }, timeoutMs: this.opts.downloadTimeoutMs });
      if (!res.ok) throw await this.artifactError(res, what);
      const hash = createHash('sha256');
      let bytes = 0;
      const body = res.body ? Readable.fromWeb(res.body as import('node:stream/web').ReadableStream) : Readable.from([]);
      body.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        hash.update(chunk);
      });
      try {
        await pipeline(body, createWriteStream(dest));
      } catch (e) {
        await rm(dest, { force: true });
        // A cut connection mid-body is worth another attempt.
        throw new TransientError(`download of ${path} broke off after ${bytes} bytes: ${messageOf(e)}`);
      }
      return { bytes, sha256: hash.digest('hex') };
    });
  }

  /** PUT /api/2.0/mlflow-artifacts/artifacts/P (the artifact proxy's upload). */
  async uploadArtifact(path: string, data: Buffer): Promise<void> {
    const what = `upload artifact ${path}`;
    await this.withRetries(what, async () => {
      const res = await this.send('PUT', this.artifactUrl(path), {
        body: data,
        headers: { 'content-type': 'application/octet-stream' },
        timeoutMs: this.opts.downloadTimeoutMs,
      });
      if (!res.ok) throw await this.artifactError(res, what);
      await res.body?.cancel();
    });
  }
}

/** A failure another attempt may cure (network, timeout, 429/502/503/504). Internal to this module. */
class TransientError extends Error {}
