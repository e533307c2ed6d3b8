/**
 * The fleet's findings read back from InfluxDB (dw_finding, written by influx-publisher.ts), for
 * the alert handover between sharded analyzers (alerts/handover.ts): the newest judged finding of
 * each finding key of some models before a time, i.e. what the analyzer that had those models
 * last concluded. Pure: the statement text and the rows -> findings; influx.ts sends it.
 *
 * A finding key is (check, model, version, role, subject name), the tags of a dw_finding point
 * besides `metric` and `status`, which are tags too: a key whose status changed has a series per
 * status. So the statement groups by the key's tags and `metric` (a series per metric a key ever
 * had) and takes the last point of each (InfluxQL's last() with the other fields of the same
 * point), and the reader keeps the newest per key. Insufficient-data findings neither fire nor
 * resolve an alert, so they are left out by the statement.
 */
import type { Finding, FindingStatus } from '../findings/finding.js';
import { FINDING_MEASUREMENT, influxqlIdent, influxqlString, type QuerySeries, rowsOf, STATUS_LEVEL } from './influx-schema.js';

/** Models per statement: keeps each statement's text short; the statements go in one request. */
const MODELS_PER_STATEMENT = 100;

const STATUS_OF_LEVEL = new Map<number, FindingStatus>(Object.entries(STATUS_LEVEL).map(([s, l]) => [l, s as FindingStatus]));

/** The statements for latestFindings: one per MODELS_PER_STATEMENT models, `;`-joined. */
export function latestFindingsStatements(models: readonly string[], fromMs: number, toMs: number): string {
  const out: string[] = [];
  for (let i = 0; i < models.length; i += MODELS_PER_STATEMENT) {
    const which = models
      .slice(i, i + MODELS_PER_STATEMENT)
      .map((m) => `${influxqlIdent('model')} = ${influxqlString(m)}`)
      .join(' OR ');
    out.push(
      `SELECT last("status_level") AS "level", "value", "threshold_warn", "threshold_fail", "n", "window_seconds", "message" FROM ${influxqlIdent(FINDING_MEASUREMENT)}` +
        ` WHERE (${which}) AND "insufficient" = 0 AND time >= ${Math.floor(fromMs)}ms AND time < ${Math.ceil(toMs)}ms` +
        ' GROUP BY "check", "model", "version", "subject", "role", "metric"',
    );
  }
  return out.join('; ');
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/**
 * The newest finding per finding key of the statements' results. What a point does not keep
 * (detail, the threshold's direction) is filled in: the direction from the two thresholds
 * (below when fail < warn), enough for a message and the alert's labels.
 */
export function latestFindingsFrom(results: readonly QuerySeries[][]): Finding[] {
  const newest = new Map<string, Finding>();
  for (const series of results) {
    for (const row of rowsOf(series)) {
      const t = row.tags;
      const status = STATUS_OF_LEVEL.get(Number(row.get('level')));
      if (!status || !t.check || !t.model || t.subject === undefined) continue;
      const key = [t.check, t.model, t.version ?? '', t.role ?? '', t.subject].join('\u001f');
      const had = newest.get(key);
      if (had && had.at >= row.timeMs) continue;
      const warn = num(row.get('threshold_warn'));
      const fail = num(row.get('threshold_fail'));
      const windowS = num(row.get('window_seconds')) ?? 0;
      newest.set(key, {
        check: t.check as Finding['check'],
        subject: { model: t.model, version: t.version ? t.version : null, name: t.subject, ...(t.role ? { role: t.role as 'input' | 'prediction' } : {}) },
        status,
        metric: t.metric ?? '',
        value: num(row.get('value')),
        threshold: { warn, fail, direction: warn !== null && fail !== null && fail < warn ? 'below' : 'above' },
        window: { fromMs: row.timeMs - windowS * 1000, toMs: row.timeMs, label: `${windowS}s` },
        sampleSize: num(row.get('n')) ?? 0,
        at: row.timeMs,
        message: typeof row.get('message') === 'string' ? (row.get('message') as string) : '',
      });
    }
  }
  return [...newest.values()];
}
