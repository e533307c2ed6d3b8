/**
 * Both models' quality on labelled requests, wired: the scoring server's shadow logs the
 * challenger's rows under the champion's ids (ShadowPredictionLogging), and the challenger check
 * and GET /api/challenger read the labelled pairs back (challengerQualityDep), setting the
 * `driftwatch_challenger_quality` gauge as they do. Used by serve-app.ts and all-in-one.ts; an
 * analyzer over a fleet's prediction log wires challengerQualityDep the same way.
 */
import type { PairedQualitySummary } from '../challenger/paired-quality.js';
import { PredictionBuffer } from '../capture/prediction-buffer.js';
import { recordOptionsFrom } from '../capture/prediction-records.js';
import { type ServedShadowAnswer, servedShadowRecords } from '../capture/served-shadow-records.js';
import type { Config } from '../config/schema.js';
import { messageOf } from '../errors.js';
import { type PairedQualityQuery, pairedQualityFrom } from '../outcomes/paired-quality-source.js';
import type { PredictionLog } from '../outcomes/prediction-log.js';
import type { ShadowPair } from '../serve/shadow.js';
import type { Logger } from '../telemetry/logger.js';
import type { ChallengerQualityGauge, ChallengerQualityValue } from '../telemetry/metrics.js';

/** The challenger check's `pairedQuality` dep over a prediction log, feeding the gauge when given. */
export function challengerQualityDep(
  log: PredictionLog,
  gauge: ChallengerQualityGauge | null = null,
): (q: PairedQualityQuery) => Promise<PairedQualitySummary> {
  const read = pairedQualityFrom(log);
  return async (q) => {
    const summary = await read(q);
    if (gauge && q.championVersion !== null)
      gauge.set({ model: q.model, championVersion: q.championVersion, challengerVersion: q.challengerVersion }, gaugeValues(summary));
    return summary;
  };
}

/**
 * The same reads for GET /api/challenger, shared for `maxAgeMs`: every open status page asks every
 * 10 s, and each read scans a day of labelled pairs. A read in flight is shared too. The check
 * reads through the dep itself (fresh on every run).
 */
export function sharedQualityReads(
  read: (q: PairedQualityQuery) => Promise<PairedQualitySummary>,
  maxAgeMs: number,
  now: () => number = Date.now,
): (q: PairedQualityQuery) => Promise<PairedQualitySummary> {
  const recent = new Map<string, { atMs: number; result: Promise<PairedQualitySummary> }>();
  return (q) => {
    const key = JSON.stringify([q.model, q.championVersion, q.challengerVersion]);
    const t = now();
    const hit = recent.get(key);
    if (hit && t - hit.atMs < maxAgeMs) return hit.result;
    const result = read(q);
    recent.set(key, { atMs: t, result });
    // A failed read is not kept: the next report tries again.
    result.catch(() => {
      if (recent.get(key)?.result === result) recent.delete(key);
    });
    return result;
  };
}

function gaugeValues(s: PairedQualitySummary): ChallengerQualityValue[] {
  const out: ChallengerQualityValue[] = [];
  if (s.task === null) return out;
  for (const role of ['champion', 'challenger'] as const) {
    const m = s[role];
    out.push({ role, metric: 'labelled_pairs', value: s.labelledPairs });
    const metrics: Array<[string, number | null]> =
      s.task === 'classification'
        ? [
            ['accuracy', m.accuracy],
            ['macro_f1', m.macroF1],
            ['log_loss', m.logLoss],
          ]
        : [
            ['rmse', m.rmse],
            ['mae', m.mae],
          ];
    for (const [metric, value] of metrics) if (value !== null) out.push({ role, metric, value });
  }
  return out;
}

export interface ShadowPredictionLoggingDeps {
  log: PredictionLog;
  config: Config;
  logger: Logger;
  /** driftwatch_shadow_predictions_total (telemetry createShadowPredictionMetrics): rows, or requests for unreadable and no_id. */
  counter: { inc(labels: { outcome: string }, n?: number): void };
  /** Column names of a served model's positional inputs (its signature), as the capture in front uses. */
  columnsFor(model: string): readonly string[] | null;
  /** Class names of the challenger's probabilities (its MLmodel's metadata.classes) when labels.classes names none. */
  classesFor(model: string): readonly string[] | null;
}

/** Pairs read per turn of the event loop: a batch small enough not to be felt by the champion. */
const PAIRS_PER_TURN = 16;

/**
 * The scoring server's shadow pairs -> the challenger's rows in the prediction log. Off the request
 * path twice over: the pair is handed over after the champion answered and the challenger ran, and
 * the reading (extraction of both bodies) runs from a setImmediate, a few pairs per turn. Bounded:
 * at most `serve.shadow.queueSize` pairs wait to be read and `labels.maxPending` rows to be
 * written; beyond that they are dropped and counted (driftwatch_shadow_predictions_total).
 */
export class ShadowPredictionLogging {
  private readonly buffer: PredictionBuffer;
  private readonly waiting: ServedShadowAnswer[] = [];
  private scheduled = false;
  private closed = false;
  private readonly maxWaiting: number;
  private readonly extractOptions: { maxDecompressedBytes: number };

  constructor(private readonly deps: ShadowPredictionLoggingDeps) {
    const { config, counter, log } = deps;
    this.maxWaiting = config.serve.shadow.queueSize;
    // The capture's own bound on what a body may decompress to (app/proxy-app.ts).
    this.extractOptions = { maxDecompressedBytes: Math.max(config.proxy.capture.maxBodyBytes * 20, 1024 * 1024) };
    this.buffer = new PredictionBuffer({
      log: { recordPredictions: (rows) => log.recordShadowPredictions(rows) },
      maxPending: config.labels.maxPending,
      flushEveryMs: config.stats.flushIntervalMs,
      logger: deps.logger,
      counts: {
        written: (n) => counter.inc({ outcome: 'written' }, n),
        dropped: (n, reason) => counter.inc({ outcome: reason === 'full' ? 'full' : 'write_failed' }, n),
      },
    });
  }

  start(): void {
    this.buffer.start();
  }

  /** The shadow's onPair: O(1), never throws; a pair without a request or an answer has nothing to log. */
  offer(pair: ShadowPair): void {
    const answer = pair.challenger.answer;
    if (this.closed || !pair.request || !answer) return;
    // Nothing to key the rows by (no sidecar in front, no id column): not worth encoding the answer.
    if (pair.request.id === null && (this.deps.config.labels.idColumn ?? null) === null) {
      this.deps.counter.inc({ outcome: 'no_id' });
      return;
    }
    if (this.waiting.length >= this.maxWaiting) {
      this.deps.counter.inc({ outcome: 'full' }, pair.rows);
      return;
    }
    // The answer is encoded here, while the pair is at hand: its outputs are not kept past this call.
    let body: { body: Buffer; contentType: string };
    try {
      body = answer();
    } catch {
      this.deps.counter.inc({ outcome: 'unreadable' });
      return;
    }
    this.waiting.push({ model: pair.model, version: pair.challenger.version, atMs: pair.atMs, request: pair.request, answer: body });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    this.scheduled = false;
    const batch = this.waiting.splice(0, PAIRS_PER_TURN);
    for (const s of batch) {
      try {
        const r = servedShadowRecords(s, {
          extract: this.extractOptions,
          columns: this.deps.columnsFor(s.model),
          records: recordOptionsFrom(this.deps.config.labels, this.deps.classesFor(s.model)),
        });
        if (!r.ok) this.deps.counter.inc({ outcome: r.reason === 'no_id' ? 'no_id' : 'unreadable' });
        else if (r.records.length > 0) this.buffer.add(r.records);
      } catch (e) {
        this.deps.counter.inc({ outcome: 'unreadable' });
        this.deps.logger.debug('a shadow pair could not be read for the prediction log', { error: messageOf(e) });
      }
    }
    if (this.waiting.length > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  /** Reads what waits and writes everything pending (tests and shutdown). */
  async flush(): Promise<void> {
    while (this.waiting.length > 0) this.drain();
    await this.buffer.flush();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    await this.buffer.stop();
  }
}
