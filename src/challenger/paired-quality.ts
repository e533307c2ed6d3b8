/**
 * Both models' quality on the same labelled requests, as the verdict (verdict.ts) and the report
 * (report.ts) read it: the shapes only. The counting is pure math of the quality loop and lives
 * beside it (quality/paired-quality.ts), so challenger/ never imports quality/ (whose check
 * files read the store, which reads challenger/).
 */

/** One model's prediction of a pair (the prediction log's PairedLabelledRow sides, declared here so pure math imports no I/O module). */
export interface PairSide {
  version: string;
  predicted: string | null;
  value: number | null;
  probabilities: Readonly<Record<string, number>> | null;
}

/** One labelled id with both models' predictions. */
export interface LabelledPair {
  label: string | number;
  champion: PairSide;
  challenger: PairSide;
}

/** One model's numbers on the labelled pairs (null where they do not apply). */
export interface ModelQuality {
  accuracy: number | null;
  macroF1: number | null;
  /** Over the pairs whose probabilities name the predicted class (`probRows`). */
  logLoss: number | null;
  rmse: number | null;
  mae: number | null;
}

export interface PairedQualitySummary {
  /** Labelled pairs both models were scored on. */
  labelledPairs: number;
  skipped: number;
  /** Classification when any pair was scored as classes, else regression when any as values; null without pairs. */
  task: 'classification' | 'regression' | null;
  champion: ModelQuality;
  challenger: ModelQuality;
}
