/**
 * The example model's weights (examples/seattle-weather/weights.json) and its label computed in
 * float64 from them: the reference the challenger tests compare a served model's answers with
 * (the scoring server's and the sidecar's shadow tests each had a copy).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

export interface Weights {
  classes: string[];
  mean: number[];
  std: number[];
  weights: number[][];
  bias: number[];
}

export const BASE: Weights = JSON.parse(readFileSync(join(ROOT, 'examples', 'seattle-weather', 'weights.json'), 'utf8'));

/** The model's label for a row, in float64, and the margin between its two best classes. */
export function predict(w: Weights, x: number[]): { label: string; margin: number } {
  const z = w.classes.map((_, c) => w.bias[c]! + x.reduce((s, v, j) => s + ((v - w.mean[j]!) / w.std[j]!) * w.weights[j]![c]!, 0));
  const order = z.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]);
  return { label: w.classes[order[0]![1]]!, margin: order[0]![0] - order[1]![0] };
}
