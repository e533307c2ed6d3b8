/**
 * The demo's data: the Seattle weather data set (vega-datasets, 2012-2015, one row a day) split
 * into the winter reference and the replayed seasons. Plain data, no driftwatch imports, so the
 * demo's test can compute what the data says on its own and compare with what driftwatch said.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const FEATURES = ['precipitation', 'temp_max', 'temp_min', 'wind'] as const;
export type Feature = (typeof FEATURES)[number];

export interface DayRow {
  date: string;
  precipitation: number;
  temp_max: number;
  temp_min: number;
  wind: number;
  weather: string;
}

/** The full data set, in date order. */
export function datasetPath(): string {
  // vega-datasets' package exports do not list its data files, so the path is taken as installed.
  return fileURLToPath(new URL('../../node_modules/vega-datasets/data/seattle-weather.csv', import.meta.url));
}

export function readDays(path = datasetPath()): DayRow[] {
  const [head, ...lines] = readFileSync(path, 'utf8').trim().split(/\r?\n/);
  const cols = head!.split(',');
  const at = (name: string) => {
    const i = cols.indexOf(name);
    if (i < 0) throw new Error(`${path} has no column ${name}`);
    return i;
  };
  const [d, p, tx, tn, w, we] = ['date', 'precipitation', 'temp_max', 'temp_min', 'wind', 'weather'].map(at) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return lines
    .map((l) => l.split(','))
    .map((c) => ({ date: c[d]!, precipitation: Number(c[p]), temp_max: Number(c[tx]), temp_min: Number(c[tn]), wind: Number(c[w]), weather: c[we]! }))
    .sort((a, b) => a.date.localeCompare(b.date));
}

const month = (r: DayRow) => Number(r.date.slice(5, 7));

/**
 * The reference: the winter months (December, January, February) of the model's training period
 * (2012-2013, examples/seattle-weather/training.csv), 181 days.
 */
export function winterReference(days: readonly DayRow[]): DayRow[] {
  return days.filter((r) => r.date < '2014-01-01' && [12, 1, 2].includes(month(r)));
}

export interface Phase {
  name: string;
  from: string;
  /** Inclusive. */
  to: string;
  /** What a person should expect, printed before the phase. */
  expect: string;
}

/**
 * Three seasons of later traffic, in time order, each judged as one drift-check window:
 * - winter 2014 (January-February): held-out winter days, the same climate as the reference;
 * - summer 2014 (June-August): the seasonal shift: warm, dry, calmer;
 * - December 2015: winter again, back at the reference's distribution.
 * Spring and autumn are left out on purpose (README.md): in those months features drift one at a
 * time (temp_max first, then temp_min, then precipitation), so each month is an alert of its own,
 * and the winter of 2014-15 was unusually warm (its temperatures stay drifted against 2012-13).
 */
export const PHASES: readonly Phase[] = [
  { name: 'winter 2014', from: '2014-01-01', to: '2014-02-28', expect: 'like the reference: no drift' },
  { name: 'summer 2014', from: '2014-06-01', to: '2014-08-31', expect: 'seasonal shift: the drift check fires' },
  { name: 'December 2015', from: '2015-12-01', to: '2015-12-31', expect: 'winter again: the alert resolves' },
];

export function phaseDays(days: readonly DayRow[], p: Phase): DayRow[] {
  return days.filter((r) => r.date >= p.from && r.date <= p.to);
}

export function toCsv(rows: readonly DayRow[]): string {
  const cols = ['date', ...FEATURES, 'weather'] as const;
  return [cols.join(','), ...rows.map((r) => cols.map((c) => String(r[c])).join(','))].join('\n') + '\n';
}
