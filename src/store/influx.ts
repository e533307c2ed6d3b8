/**
 * The InfluxDB statistics store, for fleets and Grafana (docs/influxdb.md). The one module that
 * imports @influxdata/influxdb-client: its Point does the line-protocol escaping and its node
 * transport does the HTTP (timeouts, TLS, proxies). Its WriteApi retry buffer is deliberately not
 * used: the outage contract here is explicit and bounded (and counted), not the client's.
 *
 * Writes. writeWindows() turns each delta into points (influx-schema.ts) and appends the lines to
 * an in-memory queue; it never waits for the server. appendPoints() feeds the same queue with the
 * findings and references influx-publisher.ts publishes for the dashboards. A background pump sends batches (at most
 * 5000 lines / 4 MiB) to
 *   v1: POST /write?db=&rp=&precision=ms       (InfluxDB 1.x; `us` would have to be sent as `u`:
 *                                              1.x does not know `us` and stores such times as ns)
 *   v2: POST /api/v2/write?org=&bucket=&precision=ms  (the request the stock WriteApi sends:
 *                                              InfluxDB 1.8+/2.x/3.x, VictoriaMetrics)
 * A failure is retried with exponential backoff and jitter from retryDelayMs up to 30 s. A 4xx
 * that no retry can fix (400: partial write, field type conflict, parse error; 413; ...) is
 * permanent: the lines it rejected are counted as dropped and the pump moves on. 401/403/404/408/
 * 425/429 are retried (credentials, a database not created yet, throttling: fixable without us).
 *
 * Bounds. At most maxBufferLines lines in memory (the batch in flight included); beyond that whole
 * batches spill to spoolDir (influx-spool.ts: one fsynced file per batch, at most maxSpoolBytes);
 * beyond both, lines are dropped and counted (health().dropped, in points). Spooled batches are
 * replayed oldest first, also by the next process after a restart, and deleted only after a 2xx.
 *
 * Exactly once, in effect. A point is identified by measurement + tag set + timestamp, and every
 * delta gets its own timestamp: the flush time clamped into its window, moved to the next free
 * millisecond of that window when this store already used it (so two flushes of one instance in
 * the same ms stay two points), and tagged with `instance` (so replicas never collide). Replaying a
 * batch that had in fact landed rewrites the same points with the same values: no double count.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { hostname } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { HttpError, InfluxDB, Point, type Transport, type WritePrecisionType } from '@influxdata/influxdb-client';
import type { InfluxStoreConfig } from '../config/schema.js';
import { DriftwatchError, messageOf } from '../errors.js';
import type { WindowProfile } from '../stats/types.js';
import { silentLogger, type Logger } from '../telemetry/logger.js';
import {
  assembleWindows,
  deltaToPoints,
  influxqlIdent,
  influxqlString,
  LIST_SERIES_STATEMENTS,
  MAX_WINDOW_SECONDS,
  REQUESTS_MEASUREMENT,
  readStatements,
  seriesFromFirstLast,
  windowSpan,
  type PointSpec,
  type QuerySeries,
} from './influx-schema.js';
import { LineSpool, type SpoolEntry } from './influx-spool.js';
import { latestFindingsFrom, latestFindingsStatements } from './influx-findings.js';
import type { Finding } from '../findings/finding.js';
import { spansOf } from '../challenger/stored-comparisons.js';
import { comparisonModelsStatement, comparisonStatement, comparisonsFromSeries } from './influx-challenger.js';
import type { ComparisonQuery, ComparisonRead, MaintenanceResult, SeriesInfo, StatsStore, StoreHealth, TrafficWindow, WindowQuery } from './types.js';

const MAX_BATCH_LINES = 5_000;
const MAX_BATCH_BYTES = 4 * 1024 * 1024;
const MAX_RETRY_DELAY_MS = 30_000;
/** Windows whose used timestamps are remembered (oldest forgotten first). */
const TIME_SLOT_WINDOWS = 4_096;
const PRECISION: WritePrecisionType = 'ms';

/** The `precision` parameter of InfluxDB 1.x /write: it says `u` for microseconds, never `us`. */
export function v1Precision(p: WritePrecisionType): string {
  return p === 'us' ? 'u' : p;
}

export interface InfluxStoreDeps {
  logger?: Logger;
  /** Clock for the points' timestamps (the delta's flush time). */
  now?: () => number;
}

export type InfluxStore = StatsStore & {
  /** Sends everything buffered (memory and spool) now; rejects with the error if a send fails. */
  flush(): Promise<void>;
  /** Points besides the window deltas, through the same buffer and spool (influx-publisher.ts). */
  appendPoints(points: readonly PointSpec[], what: string): void;
  /** The newest judged dw_finding of each finding key of these models with `at` in [fromMs, toMs)
   *  (influx-findings.ts), for the alert handover between sharded analyzers. */
  latestFindings(models: readonly string[], fromMs: number, toMs: number): Promise<Finding[]>;
  /** dw_challenger read back (StatsStore.readComparisons), always there on this store. */
  readComparisons(q: ComparisonQuery): Promise<ComparisonRead>;
  comparisonModels(fromMs: number, toMs: number): Promise<string[]>;
};

export function isInfluxStore(store: StatsStore): store is InfluxStore {
  return store instanceof InfluxStatsStore;
}

export function createInfluxStore(config: InfluxStoreConfig, deps: InfluxStoreDeps = {}): InfluxStore {
  return new InfluxStatsStore(config, deps);
}

interface Batch {
  lines: string[];
  bytes: number;
}

type Job = { kind: 'memory'; batch: Batch; lines: string[] } | { kind: 'spool'; entry: SpoolEntry; lines: string[] };

/** The URL without credentials, for logs and `describe`. */
function safeUrl(raw: string): string {
  try {
    const u = new URL(raw);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(invalid url)';
  }
}

function basic(user: string, pass: string): string {
  return 'Basic ' + Buffer.from(`${user}:${pass}`, 'utf8').toString('base64');
}

function isPermanent(e: unknown): e is HttpError {
  if (!(e instanceof HttpError)) return false;
  const s = e.statusCode;
  // The client's own retriable list (isStatusCodeRetriable: 404, 408, 425, 429) plus 401/403.
  return s >= 400 && s < 500 && ![401, 403, 404, 408, 425, 429].includes(s);
}

/**
 * How many of a batch's lines a 400 rejected. InfluxDB 1.x writes the valid points of a batch
 * and says "partial write: ... dropped=N" (plus "unable to parse '<line>'" for lines it could not
 * parse, which `dropped` leaves out); anything else: the whole batch.
 */
export function rejectedLines(e: HttpError, batchLines: number): number {
  const text = e.body || e.message;
  const m = /dropped=(\d+)/.exec(text);
  if (!m) return batchLines;
  const unparsed = text.split("unable to parse '").length - 1;
  return Math.min(batchLines, Number(m[1]) + unparsed);
}

class InfluxStatsStore implements InfluxStore {
  readonly describe: string;
  readonly instance: string;
  private readonly config: InfluxStoreConfig;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly transport: Transport;
  private readonly agent: HttpAgent | HttpsAgent;
  private readonly headers: Record<string, string>;
  private readonly writePath: string;
  private readonly batchLines: number;
  private readonly spool: LineSpool;

  private queue: Batch[] = [];
  /** Lines in memory: the queue plus the memory batch in flight. */
  private memLines = 0;
  /** Lines on their way to the spool (counted as pending until they land or are dropped). */
  private spilling = 0;
  private spoolChain: Promise<void> = Promise.resolve();
  private inflight: Job | null = null;
  private abort: AbortController | null = null;
  private pumpPromise: Promise<unknown> | null = null;
  private pumpScheduled = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private failures = 0;
  private dropped = 0;
  private lastError: string | null = null;
  private outageSince: number | null = null;
  private dropWarned = false;
  private closing = false;
  /** Set when close() gives up sending: the pump stops and what is left goes to the spool. */
  private stopped = false;
  private closePromise: Promise<void> | null = null;
  private closed = false;
  private readonly slots = new Map<string, Set<number>>();

  constructor(config: InfluxStoreConfig, deps: InfluxStoreDeps) {
    this.config = config;
    this.logger = deps.logger ?? silentLogger;
    this.now = deps.now ?? Date.now;
    this.instance = config.instance ?? `${hostname()}-${process.pid}`;
    const url = safeUrl(config.url);
    this.describe = `influxdb:${url} (${config.apiVersion}, ${config.apiVersion === 'v1' ? `db ${config.database}` : `bucket ${config.bucket}`})`;
    this.agent = config.url.startsWith('https:') ? new HttpsAgent({ keepAlive: true, maxSockets: 4 }) : new HttpAgent({ keepAlive: true, maxSockets: 4 });

    // Credentials. v2: the token as "Authorization: Token" (set by the transport). v1: basic auth
    // from username/password, or from a token written "username:password".
    this.headers = {};
    let token: string | undefined;
    if (config.apiVersion === 'v2' && config.token) token = config.token;
    else if (config.username !== undefined) this.headers.authorization = basic(config.username, config.password ?? '');
    else if (config.token?.includes(':')) {
      const i = config.token.indexOf(':');
      this.headers.authorization = basic(config.token.slice(0, i), config.token.slice(i + 1));
    } else if (config.token) token = config.token;
    const influx = new InfluxDB({ url: config.url, ...(token ? { token } : {}), timeout: config.timeoutMs, transportOptions: { agent: this.agent } });
    this.transport = influx.transport;

    const enc = encodeURIComponent;
    this.writePath =
      config.apiVersion === 'v1'
        ? `/write?db=${enc(config.database)}${config.retentionPolicy ? `&rp=${enc(config.retentionPolicy)}` : ''}&precision=${v1Precision(PRECISION)}`
        : `/api/v2/write?org=${enc(config.org)}&bucket=${enc(config.bucket)}&precision=${PRECISION}`;
    this.batchLines = Math.max(1, Math.min(MAX_BATCH_LINES, config.maxBufferLines));

    this.spool = new LineSpool(resolvePath(config.spoolDir), config.maxSpoolBytes);
    let recovered = { recovered: 0, recoveredLines: 0, removedTmp: 0 };
    try {
      recovered = this.spool.open();
    } catch (e) {
      throw new DriftwatchError('DW_ERR_STORE_OPEN', `the InfluxDB spool directory ${this.spool.dir} cannot be used: ${messageOf(e)}`, { cause: e });
    }
    if (recovered.recovered > 0) {
      this.logger.info('replaying InfluxDB batches spooled by an earlier run', {
        store: this.describe,
        files: recovered.recovered,
        lines: recovered.recoveredLines,
      });
      this.schedulePump();
    }
  }

  // -- writes --------------------------------------------------------------------------------

  async writeWindows(deltas: readonly WindowProfile[]): Promise<void> {
    if (this.closing) throw new DriftwatchError('DW_ERR_STORE_UNAVAILABLE', 'the statistics store is closed');
    const lines: string[] = [];
    for (const d of deltas) {
      const points = 1 + Object.keys(d.features).length + Object.keys(d.predictions).length;
      try {
        const t = this.timeSlot(d);
        if (t === null) {
          this.drop(points, `no free timestamp left in window ${d.model}@${d.version} ${new Date(d.startMs).toISOString()}`);
          continue;
        }
        const { points: specs, oversize } = deltaToPoints(d, this.instance, t);
        if (oversize > 0) this.drop(oversize, `${oversize} feature profile(s) of ${d.model}@${d.version} exceed the 60 KiB string field bound`);
        for (const p of specs) {
          const line = toLine(p);
          if (line !== undefined) lines.push(line);
        }
      } catch (e) {
        this.drop(points, `a delta of ${d.model}@${d.version} could not be converted to line protocol: ${messageOf(e)}`);
      }
    }
    if (lines.length === 0) return;
    this.enqueue(lines);
    this.schedulePump();
  }

  /**
   * Points besides the window deltas (influx-publisher.ts: dw_finding, dw_reference), through the
   * same buffer and spool as the statistics, so an outage of the database loses none of them
   * within the bounds. A point that cannot be written as line protocol is dropped and counted.
   */
  appendPoints(points: readonly PointSpec[], what: string): void {
    if (this.closing) throw new DriftwatchError('DW_ERR_STORE_UNAVAILABLE', 'the statistics store is closed');
    const lines: string[] = [];
    for (const p of points) {
      try {
        const line = toLine(p);
        if (line !== undefined) lines.push(line);
      } catch (e) {
        this.drop(1, `a point of ${what} could not be converted to line protocol: ${messageOf(e)}`);
      }
    }
    if (lines.length === 0) return;
    this.enqueue(lines);
    this.schedulePump();
  }

  /**
   * A millisecond inside the delta's window not used yet by this store: the flush time clamped into
   * the window, else the next free one (wrapping to the window start). null only when every ms of
   * the window is taken (more flushes than milliseconds).
   */
  private timeSlot(d: WindowProfile): number | null {
    const { startMs, lastMs } = windowSpan(d);
    const key = `${d.model}\u0000${d.version}\u0000${d.startMs}\u0000${d.windowSeconds}`;
    let used = this.slots.get(key);
    if (used === undefined) {
      used = new Set();
      this.slots.set(key, used);
      if (this.slots.size > TIME_SLOT_WINDOWS) this.slots.delete(this.slots.keys().next().value as string);
    }
    if (used.size >= lastMs - startMs + 1) return null;
    let t = Math.min(lastMs, Math.max(startMs, Math.floor(this.now())));
    while (used.has(t)) t = t >= lastMs ? startMs : t + 1;
    used.add(t);
    return t;
  }

  private enqueue(lines: string[]): void {
    for (const line of lines) {
      const bytes = Buffer.byteLength(line, 'utf8') + 1;
      let last = this.queue[this.queue.length - 1];
      if (last === undefined || last.lines.length >= this.batchLines || (last.bytes + bytes > MAX_BATCH_BYTES && last.lines.length > 0)) {
        last = { lines: [], bytes: 0 };
        this.queue.push(last);
      }
      last.lines.push(line);
      last.bytes += bytes;
    }
    this.memLines += lines.length;
    this.enforceMemoryBound();
  }

  /** Spills the oldest queued batches until memory is within maxBufferLines. */
  private enforceMemoryBound(): void {
    while (this.memLines > this.config.maxBufferLines && this.queue.length > 0) {
      const b = this.queue.shift()!;
      this.memLines -= b.lines.length;
      this.spill(b.lines);
    }
  }

  private spill(lines: string[]): void {
    const n = lines.length;
    this.spilling += n;
    this.spoolChain = this.spoolChain.then(async () => {
      try {
        if (await this.spool.append(lines, Date.now())) {
          if (!this.stopped) this.schedulePump();
        } else {
          this.drop(n, `memory buffer (${this.config.maxBufferLines} lines) and spool (${this.config.maxSpoolBytes} bytes) are full`);
        }
      } catch (e) {
        this.drop(n, `spooling to ${this.spool.dir} failed: ${messageOf(e)}`);
      } finally {
        this.spilling -= n;
      }
    });
  }

  private drop(points: number, reason: string): void {
    this.dropped += points;
    this.lastError = reason;
    if (!this.dropWarned) {
      this.dropWarned = true;
      this.logger.warn('InfluxDB store dropped statistics (counted in health().dropped)', { store: this.describe, reason, dropped: this.dropped });
    }
  }

  // -- the pump ------------------------------------------------------------------------------

  private hasWork(): boolean {
    return this.queue.length > 0 || this.spool.files > 0;
  }

  private schedulePump(): void {
    if (this.stopped || this.retryTimer !== null || this.pumpPromise !== null || this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      if (this.retryTimer === null && !this.stopped) void this.pump();
    });
  }

  /** Runs the pump (one at a time); resolves with the error that stopped it, or null when drained. */
  private pump(): Promise<unknown> {
    if (this.pumpPromise === null) {
      this.pumpPromise = this.runPump()
        .catch((e: unknown) => {
          // A bug, not an outage: keep the batch in flight and the process alive.
          const job = this.inflight;
          this.inflight = null;
          if (job?.kind === 'memory') this.queue.unshift(job.batch);
          this.logger.error('InfluxDB sender failed unexpectedly', { store: this.describe, error: messageOf(e) });
          // Retried with backoff like an outage, never in a hot loop.
          if (!this.stopped) this.onRetryableFailure(e);
          return e;
        })
        .finally(() => {
          this.pumpPromise = null;
          if (this.failures === 0 && this.hasWork()) this.schedulePump();
        });
    }
    return this.pumpPromise;
  }

  private async nextJob(): Promise<Job | null> {
    for (;;) {
      const entry = this.spool.oldest();
      if (entry !== undefined) {
        try {
          return { kind: 'spool', entry, lines: await this.spool.read(entry) };
        } catch (e) {
          // Unreadable (removed or damaged outside our control): count it and move on.
          await this.spool.remove(entry).catch(() => undefined);
          this.drop(entry.lines, `spooled batch ${entry.name} unreadable: ${messageOf(e)}`);
          continue;
        }
      }
      const batch = this.queue.shift();
      return batch === undefined ? null : { kind: 'memory', batch, lines: batch.lines };
    }
  }

  private async runPump(): Promise<unknown> {
    for (;;) {
      if (this.stopped) return null;
      const job = await this.nextJob();
      if (job === null) return null;
      this.inflight = job;
      const err = await this.send(job.lines);
      this.inflight = null;
      if (err === null) {
        await this.finish(job);
        this.onSuccess();
        continue;
      }
      if (isPermanent(err)) {
        const rejected = rejectedLines(err, job.lines.length);
        await this.finish(job);
        this.dropped += rejected;
        this.lastError = `InfluxDB rejected ${rejected} of ${job.lines.length} lines (HTTP ${err.statusCode}): ${messageOf(err).slice(0, 500)}`;
        this.logger.warn('InfluxDB rejected a batch; its points are dropped, not retried', {
          store: this.describe,
          status: err.statusCode,
          rejected,
          lines: job.lines.length,
          error: messageOf(err).slice(0, 500),
        });
        // Not a failed connection: the server is up, so an outage (if any) is over.
        this.onSuccess(false);
        continue;
      }
      if (job.kind === 'memory') {
        this.queue.unshift(job.batch);
        this.enforceMemoryBound();
      }
      // Aborted by close(): not an outage, the batch is spooled by close() itself.
      if (!this.stopped) this.onRetryableFailure(err);
      return err;
    }
  }

  private async finish(job: Job): Promise<void> {
    if (job.kind === 'memory') this.memLines -= job.lines.length;
    else {
      try {
        await this.spool.remove(job.entry);
      } catch (e) {
        // It is sent; a file we cannot delete is replayed once more after a restart (idempotent).
        this.logger.warn('could not delete a sent spool file', { file: job.entry.name, error: messageOf(e) });
      }
    }
  }

  private async send(lines: string[]): Promise<unknown> {
    const ac = new AbortController();
    this.abort = ac;
    try {
      await this.transport.request(this.writePath, lines.join('\n'), {
        method: 'POST',
        headers: { ...this.headers, 'content-type': 'text/plain; charset=utf-8', accept: 'application/json' },
        signal: ac.signal,
      });
      return null;
    } catch (e) {
      return e ?? new Error('write failed');
    } finally {
      this.abort = null;
    }
  }

  private onSuccess(clearError = true): void {
    this.failures = 0;
    if (clearError) this.lastError = null;
    if (this.outageSince !== null) {
      this.logger.info('InfluxDB writes recovered', {
        store: this.describe,
        outageMs: Date.now() - this.outageSince,
        pending: this.health().pending,
        dropped: this.dropped,
      });
      this.outageSince = null;
    }
    this.dropWarned = false;
  }

  private retryDelayMs(err: unknown): number {
    const exp = Math.min(MAX_RETRY_DELAY_MS, this.config.retryDelayMs * 2 ** Math.min(20, Math.max(0, this.failures - 1)));
    // Jitter (+0..25%) so a fleet that lost its server does not come back in lockstep.
    let d = Math.min(MAX_RETRY_DELAY_MS, exp * (1 + Math.random() * 0.25));
    if (err instanceof HttpError && err.retryAfter() > 0) d = Math.min(MAX_RETRY_DELAY_MS, Math.max(d, err.retryAfter() * 1000));
    return Math.round(d);
  }

  private onRetryableFailure(err: unknown): void {
    this.failures++;
    this.lastError = `write to ${this.describe} failed: ${messageOf(err).slice(0, 500)}`;
    if (this.outageSince === null) {
      this.outageSince = Date.now();
      this.logger.warn('InfluxDB unreachable; buffering statistics and retrying', {
        store: this.describe,
        error: messageOf(err).slice(0, 500),
        pending: this.health().pending,
      });
    }
    if (this.stopped) return;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopped) void this.pump();
    }, this.retryDelayMs(err));
    this.retryTimer.unref();
  }

  async flush(): Promise<void> {
    if (this.stopped) return;
    await this.spoolChain;
    for (let round = 0; round < 100; round++) {
      if (this.retryTimer !== null) {
        clearTimeout(this.retryTimer);
        this.retryTimer = null;
      }
      const err = await this.pump();
      if (err) {
        throw new DriftwatchError('DW_ERR_STORE_UNAVAILABLE', `flushing to ${this.describe} failed: ${messageOf(err)}`, { cause: err, retryable: true });
      }
      await this.spoolChain;
      if (this.stopped || (!this.hasWork() && this.spilling === 0 && this.inflight === null)) return;
    }
  }

  // -- reads ---------------------------------------------------------------------------------

  private async query(statements: string): Promise<QuerySeries[][]> {
    if (this.closed) throw new DriftwatchError('DW_ERR_STORE_UNAVAILABLE', 'the statistics store is closed');
    const params = new URLSearchParams({ db: this.config.database, epoch: 'ms', chunked: 'true', chunk_size: '10000', q: statements });
    if (this.config.retentionPolicy) params.set('rp', this.config.retentionPolicy);
    const chunks: Buffer[] = [];
    try {
      const it = this.transport.iterate('/query', params.toString(), {
        method: 'POST',
        headers: { ...this.headers, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        signal: AbortSignal.timeout(this.config.timeoutMs),
      });
      for await (const c of it) chunks.push(Buffer.from(c));
    } catch (e) {
      throw new DriftwatchError('DW_ERR_STORE_UNAVAILABLE', `query to ${this.describe} failed: ${messageOf(e).slice(0, 500)}`, { cause: e, retryable: true });
    }
    // chunked=true: one JSON object per line, a statement's series spread over several (a server
    // that ignores `chunked` sends one object: parsed whole first).
    type Response = { error?: string; results?: Array<{ statement_id?: number; error?: string; series?: QuerySeries[] }> };
    const text = Buffer.concat(chunks).toString('utf8');
    let objects: Response[];
    try {
      objects = [JSON.parse(text) as Response];
    } catch {
      try {
        objects = text
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => JSON.parse(l) as Response);
      } catch (e) {
        throw new DriftwatchError('DW_ERR_STORE_UNAVAILABLE', `${this.describe} sent a query response that is not JSON: ${messageOf(e)}`);
      }
    }
    const out: QuerySeries[][] = [];
    for (const obj of objects) {
      if (obj.error) throw new DriftwatchError('DW_ERR_STORE_UNAVAILABLE', `query to ${this.describe} failed: ${obj.error}`);
      for (const r of obj.results ?? []) {
        if (r.error) throw new DriftwatchError('DW_ERR_STORE_UNAVAILABLE', `query to ${this.describe} failed: ${r.error}`);
        const id = r.statement_id ?? 0;
        while (out.length <= id) out.push([]);
        for (const s of r.series ?? []) out[id]!.push(s);
      }
    }
    return out;
  }

  async readWindows(q: WindowQuery): Promise<WindowProfile[]> {
    const [requests = [], features = []] = await this.query(readStatements(q));
    const { windows, unreadable } = assembleWindows(q.model, requests, features, q);
    if (unreadable > 0) this.logger.warn('InfluxDB points without a readable profile were skipped', { store: this.describe, model: q.model, unreadable });
    return windows;
  }

  /**
   * The request side only (dw_requests), for the SLO check: it reads three days of windows every
   * minute, and without this it read every feature profile of them too (readWindows), which is
   * most of the bytes (bench/analyzer-bench.ts measures both).
   */
  async readTraffic(q: WindowQuery): Promise<TrafficWindow[]> {
    const [requests = []] = await this.query(trafficStatement(q));
    const { windows, unreadable } = assembleWindows(q.model, requests, [], q);
    if (unreadable > 0) this.logger.warn('InfluxDB points without a readable profile were skipped', { store: this.describe, model: q.model, unreadable });
    return windows.map((w) => ({
      model: w.model,
      version: w.version,
      startMs: w.startMs,
      windowSeconds: w.windowSeconds,
      requests: w.requests,
      latency: w.latency,
      rows: w.rows,
    }));
  }

  async latestFindings(models: readonly string[], fromMs: number, toMs: number): Promise<Finding[]> {
    if (models.length === 0) return [];
    return latestFindingsFrom(await this.query(latestFindingsStatements(models, fromMs, toMs)));
  }

  /**
   * dw_challenger read back: every writer's (instance's) point of each window, its lossless
   * `comparison` summed exactly; points without it are skipped and counted (the reader logs them).
   */
  async readComparisons(q: ComparisonQuery): Promise<ComparisonRead> {
    const [series = []] = await this.query(comparisonStatement(q));
    const { windows, skipped } = comparisonsFromSeries(series);
    return { spans: spansOf(windows, q.fromMs, q.toMs), skipped };
  }

  async comparisonModels(fromMs: number, toMs: number): Promise<string[]> {
    const [series = []] = await this.query(comparisonModelsStatement(fromMs, toMs));
    return [...new Set(series.map((s) => s.tags?.model).filter((m): m is string => typeof m === 'string'))].sort();
  }

  async listSeries(): Promise<SeriesInfo[]> {
    const [first = [], last = []] = await this.query(LIST_SERIES_STATEMENTS);
    return seriesFromFirstLast(first, last);
  }

  /** Retention is the database's (retention policy / bucket retention); nothing rolls up here. */
  async maintain(_nowMs: number): Promise<MaintenanceResult> {
    return { rolledUp: 0, deleted: 0 };
  }

  health(): StoreHealth {
    return { pending: this.memLines + this.spilling + this.spool.lines, dropped: this.dropped, lastError: this.lastError };
  }

  /**
   * Tries to send everything for up to timeoutMs, then spools what is left (memory and the batch
   * in flight), so a clean shutdown loses nothing the spool bound can hold. Idempotent.
   */
  close(): Promise<void> {
    if (this.closePromise !== null) return this.closePromise;
    this.closing = true;
    this.closePromise = (async () => {
      const deadline = Date.now() + this.config.timeoutMs;
      const giveUp = setTimeout(() => {
        this.stopped = true;
        this.abort?.abort();
      }, this.config.timeoutMs);
      try {
        while (!this.stopped && Date.now() < deadline) {
          try {
            await this.flush();
            break;
          } catch (e) {
            const wait = Math.min(this.retryDelayMs(e), deadline - Date.now());
            if (wait <= 0) break;
            await new Promise<void>((r) => setTimeout(r, wait));
          }
        }
      } finally {
        clearTimeout(giveUp);
      }
      this.stopped = true;
      if (this.retryTimer !== null) {
        clearTimeout(this.retryTimer);
        this.retryTimer = null;
      }
      this.abort?.abort();
      if (this.pumpPromise !== null) await this.pumpPromise;
      while (this.queue.length > 0) {
        const b = this.queue.shift()!;
        this.memLines -= b.lines.length;
        this.spill(b.lines);
      }
      await this.spoolChain;
      if (this.health().pending > 0) {
        this.logger.warn('InfluxDB store closed with statistics spooled for the next start', {
          store: this.describe,
          spooled: this.spool.lines,
          spoolDir: this.spool.dir,
        });
      }
      this.closed = true;
      this.agent.destroy();
    })();
    return this.closePromise;
  }
}

/** readStatements' first statement (dw_requests over the same time range), on its own. */
function trafficStatement(q: WindowQuery): string {
  const where = [
    `${influxqlIdent('model')} = ${influxqlString(q.model)}`,
    ...(q.version === undefined ? [] : [`${influxqlIdent('version')} = ${influxqlString(q.version)}`]),
    `time >= ${Math.floor(q.fromMs)}ms`,
    `time < ${Math.ceil(q.toMs) + MAX_WINDOW_SECONDS * 1000}ms`,
  ].join(' AND ');
  return `SELECT * FROM ${influxqlIdent(REQUESTS_MEASUREMENT)} WHERE ${where} GROUP BY *`;
}

function toLine(p: PointSpec): string | undefined {
  const point = new Point(p.measurement);
  for (const k of Object.keys(p.tags)) point.tag(k, p.tags[k]!);
  for (const f of p.fields) {
    if (f.type === 'int') point.intField(f.name, f.value);
    else if (f.type === 'float') point.floatField(f.name, f.value);
    else point.stringField(f.name, f.value);
  }
  point.timestamp(p.timeMs);
  return point.toLineProtocol({ convertTime: (t) => (t === undefined ? undefined : String(t)) });
}
