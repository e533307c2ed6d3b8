/**
 * The prediction log's deterministic id sample (prediction-log.ts), pure: which ids a log at a
 * given sample level keeps. One rule for every implementation and every process (the embedded
 * SQLite log, the PostgreSQL log of a fleet, each sidecar writing to it, the label ingest), so a
 * label either finds its prediction or is known to be outside the sample (`notRetained`).
 */
import { fnv1a32 } from '../stats/own-keys.js';

/** The id's 32-bit FNV-1a hash, unsigned: what the sample compares (stored beside each row). */
export function idHash(id: string): number {
  return fnv1a32(id);
}

/** The exclusive upper bound of the hashes the sample keeps at `level`: 2^(32 - level). */
export function sampleBound(level: number): number {
  return 2 ** (32 - level);
}

/** Whether the sample at `level` keeps an id with hash h: the lowest 2^(32 - level) hashes. */
export function keeps(h: number, level: number): boolean {
  return level === 0 || h < sampleBound(level);
}
