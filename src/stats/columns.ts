import type { Cell } from './feature-profile.js';

/**
 * A captured request's table as columns (issue 24): what the lean codecs read, profiled without a
 * JS object per row. Each column is what the rows' values under one name would be, in row order:
 * observing the columns gives the same profile as observing the rows (window-profile.ts).
 */
export type Column = NumberColumn | CellColumn;

/**
 * values[offset + i * stride] is row i's value (a column of a row-major frame); NaN is missing.
 * A Float64Array (the lean request codecs') or a plain array of doubles (the lean answer reader's).
 */
export interface NumberColumn {
  kind: 'number';
  name: string;
  values: ArrayLike<number>;
  offset: number;
  stride: number;
}

/** Cells of any kind (strings, booleans, nulls, numbers), one per row. */
export interface CellColumn {
  kind: 'cells';
  name: string;
  cells: readonly Cell[];
}
