/**
 * The model's performance on its reference data (training or holdout rows that hold the label
 * column), in the same mergeable counts the quality check keeps for live windows, plus the
 * isotonic calibration maps fitted on those rows. Pure: no I/O, no clock.
 *
 * Why on the reference: the quality check needs a baseline to say how far performance fell (the
 * drop relative to the reference), and the estimate (CBPE, estimate.ts) is only as good as the
 * probabilities are calibrated; NannyML fits its calibrator on the reference for the same reason.
 * Rows are read as the live log reads them (the same predicted class, value and probabilities), so
 * the reference's accuracy and the live accuracy are the same metric over different rows.
 *
 * A caveat the docs repeat: on the rows the model was *trained* on, performance is optimistic and
 * the probabilities look better calibrated than they will be on new rows; a holdout set is the
 * better reference for both.
 */
import type { ReferencePerformance } from '../stats/types.js';
import { fitClassCalibration } from './calibration.js';
import { emptyClassification, observeClassification } from './classification.js';
import { emptyRegression, observeRegression } from './regression.js';

/** One reference row: its observed outcome and what the model predicted for it. */
export interface LabelledPrediction {
  /** The observed outcome (a class or a value); null when the row has none (not counted). */
  label: string | number | boolean | null;
  /** The predicted class, for classifiers. */
  predicted: string | null;
  /** The predicted value, for regressors. */
  value: number | null;
  probabilities: Readonly<Record<string, number>> | null;
}

/**
 * The task follows the predictions, as the quality check decides it for live windows: any row
 * with a predicted class makes it classification; otherwise regression (a label that is not a
 * finite number is then not counted). A boolean label is a class "true"/"false", as labels posted
 * to the API are read.
 */
export function measureReferencePerformance(
  rows: Iterable<LabelledPrediction>,
  opts: { labelColumn: string; predictionsFrom: ReferencePerformance['predictionsFrom'] },
): ReferencePerformance {
  const list = [...rows];
  const classification = list.some((r) => r.predicted !== null);
  const classes = emptyClassification();
  const regression = emptyRegression();
  const forCalibration: { actual: string; probabilities: Readonly<Record<string, number>> }[] = [];
  let labelled = 0;
  for (const r of list) {
    if (r.label === null) continue;
    if (classification) {
      if (r.predicted === null) continue;
      const actual = typeof r.label === 'boolean' ? (r.label ? 'true' : 'false') : String(r.label);
      // As the quality check reads them: probabilities not keyed by class names (the predicted
      // class is not among them) are left out, or log loss and calibration would be nonsense.
      const probabilities = r.probabilities !== null && Object.hasOwn(r.probabilities, r.predicted) ? r.probabilities : null;
      observeClassification(classes, actual, r.predicted, probabilities);
      if (probabilities !== null) forCalibration.push({ actual, probabilities });
      labelled++;
    } else if (typeof r.label === 'number' && r.value !== null && observeRegression(regression, r.label, r.value)) {
      labelled++;
    }
  }
  const maps = classification ? fitClassCalibration(forCalibration) : null;
  return {
    labelColumn: opts.labelColumn,
    predictionsFrom: opts.predictionsFrom,
    labelled,
    classification: classification ? classes : null,
    regression: classification ? null : regression,
    // Below MIN_CALIBRATION_ROWS rows fitClassCalibration gives null, and no class may have had
    // two distinct scores: either way the estimate stays uncalibrated (and says so).
    calibration: maps !== null && Object.keys(maps).length > 0 ? maps : null,
  };
}
