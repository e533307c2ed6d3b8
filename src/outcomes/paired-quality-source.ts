/**
 * Both models' quality on the same labelled requests, read from the prediction log: the pairs of
 * a champion's record and a challenger version's shadow record for one labelled id
 * (`PredictionLog.scanPairs`), page by page into the mergeable counts of
 * challenger/paired-quality.ts. The challenger check (checks/challenger.ts) and GET
 * /api/challenger take it as their `pairedQuality` dep; app/ builds it from whichever log it opened
 * (the scoring server's `start`, an analyzer over a fleet's log), so all read the same numbers.
 */
import type { PairedQualitySummary } from '../challenger/paired-quality.js';
import { emptyPairedQuality, observePair, summarizePairedQuality } from '../quality/paired-quality.js';
import type { PredictionLog } from './prediction-log.js';

export interface PairedQualityQuery {
  model: string;
  /** Only pairs whose champion prediction was made by this version (null: any champion version). */
  championVersion: string | null;
  challengerVersion: string;
  /** The champions' prediction times, [fromMs, toMs): quality is attributed to the prediction's window. */
  fromMs: number;
  toMs: number;
}

export type PairedQualitySource = (q: PairedQualityQuery) => Promise<PairedQualitySummary>;

/**
 * Pairs per page. The embedded log reads a page synchronously on the thread that asks (in `start`,
 * the scoring server's): about 10 us a pair, so a page of 2,000 holds the event loop ~20 ms.
 */
const PAGE_SIZE = 2_000;

export function pairedQualityFrom(log: PredictionLog): PairedQualitySource {
  return async (q) => {
    const counts = emptyPairedQuality();
    for await (const page of log.scanPairs(q.model, q.challengerVersion, q.fromMs, q.toMs, PAGE_SIZE)) {
      for (const row of page) if (q.championVersion === null || row.champion.version === q.championVersion) observePair(counts, row);
      // Between pages the event loop serves requests: an async iterator alone resumes in a
      // microtask, and a day of pairs would be read in one block.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return summarizePairedQuality(counts);
  };
}
