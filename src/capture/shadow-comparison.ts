/**
 * The sidecar shadow's comparison step, on the analysis side: each shadowed request (the
 * champion's event and the challenger's answer) becomes a pair (shadow-pair.ts) added to minute
 * windows, and the per-model outcomes are counted; with the prediction log on, the challenger's
 * per-row predictions become records with the champion's ids. What it has gathered is handed out
 * as a delta (take()), which the main thread merges into the windows /api/challenger, the gauges
 * and the InfluxDB publisher read.
 *
 * One step for both places the capture runs: in the capture worker thread (proxy.capture.worker,
 * the default), where the delta crosses to the main thread with the worker's snapshots and
 * flushes, so the proxy's event loop pays no JSON parse for the shadow; and in-loop (capture
 * worker off), where the main thread takes the delta after each batch. So the two cannot differ.
 * No I/O: records go to whatever collector is passed in (a bounded PredictionBuffer).
 */
import { ComparisonDeltas, type ComparisonWindowDelta } from '../challenger/comparison-deltas.js';
import type { PredictionRecord } from '../outcomes/prediction-log.js';
import { type PredictionRecordOptions, predictionRecords } from './prediction-records.js';
import { type ShadowedRequest, type ShadowPairOptions, shadowPair } from './shadow-pair.js';

/** Per model, what its shadowed requests came to since the last delta. */
export interface ShadowModelDelta {
  model: string;
  /** The challenger answered (its predictions were read), or failed (error, timeout, unreadable answer). */
  scored: number;
  failed: number;
  /** The champion's own answer held no predictions to compare with. */
  lost: number;
  /** The latest failure's reason, null when none in this delta. */
  lastError: string | null;
  /** The versions of the latest pair, null when no pair in this delta. */
  versions: { champion: string; challenger: string } | null;
}

/** What the comparison step hands the main thread: structured-cloneable. */
export interface ShadowDelta {
  windows: ComparisonWindowDelta[];
  models: ShadowModelDelta[];
  /** Shadowed requests this delta accounts for (compared or lost). */
  resolved: number;
}

export interface ShadowComparisonDeps {
  pair: ShadowPairOptions;
  /** labels.enabled: the challenger's predictions, keyed like the champion's records (recordShadowPredictions). */
  records?: { options: PredictionRecordOptions; add(records: readonly PredictionRecord[]): void } | null;
}

/** Model names come from traffic: at most this many are counted per delta. */
const MAX_MODELS = 256;

export class ShadowComparison {
  private readonly deltas = new ComparisonDeltas();
  private models = new Map<string, ShadowModelDelta>();
  private resolved = 0;

  constructor(private readonly deps: ShadowComparisonDeps) {}

  /** Something to hand out. */
  get dirty(): boolean {
    return this.resolved > 0;
  }

  add(s: ShadowedRequest): void {
    this.resolved++;
    const m = this.modelOf(s.event.model ?? 'unknown');
    const res = shadowPair(s, this.deps.pair);
    if (!res.ok) {
      if (m) m.lost++;
      return;
    }
    const pair = res.pair;
    this.deltas.recordPair(pair);
    if (m) {
      m.versions = { champion: pair.champion.version, challenger: pair.challenger.version };
      if (pair.challenger.error !== null) {
        m.failed++;
        m.lastError = pair.challenger.error;
      } else m.scored++;
    }
    const records = this.deps.records;
    if (records && res.challenger !== null) {
      // The champion's record of this request has the same ids: the same rows, request id and time.
      const rows = predictionRecords(res.challenger, s.event.requestId, s.event.startedAtMs, records.options);
      if (rows.length > 0) records.add(rows);
    }
  }

  /** What was gathered since the last take(), and a fresh start. */
  take(): ShadowDelta {
    const out: ShadowDelta = { windows: this.deltas.take(0, { all: true }), models: [...this.models.values()], resolved: this.resolved };
    this.models = new Map();
    this.resolved = 0;
    return out;
  }

  private modelOf(model: string): ShadowModelDelta | null {
    let m = this.models.get(model);
    if (!m) {
      if (this.models.size >= MAX_MODELS) return null;
      m = { model, scored: 0, failed: 0, lost: 0, lastError: null, versions: null };
      this.models.set(model, m);
    }
    return m;
  }
}
