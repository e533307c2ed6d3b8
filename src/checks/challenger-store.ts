/**
 * The challenger check's comparisons as an analyzer reads them: from the statistics store, where
 * every process that shadows (the scoring server's challenger, `driftwatch proxy
 * --shadow-upstream`) writes its closed minute windows (app/comparison-publishing.ts). So the
 * sidecar's shadow gets its verdict, findings and alerts from `driftwatch analyze`, and a fleet's
 * replicas are judged on their summed comparison.
 *
 * The models judged are those with comparisons in the last max(window, a day), not only in the
 * window: a challenger that stopped shadowing gets an "ok, too few pairs" finding for a day, which
 * resolves an alert it had raised, instead of leaving that alert firing with no finding to end it.
 */
import type { StatsStore } from '../store/types.js';
import type { Logger } from '../telemetry/logger.js';
import type { ChallengerCheckDeps } from './challenger.js';

/** How far back a model with comparisons is still judged (see above). */
export const CHALLENGER_MODELS_LOOKBACK_MS = 86_400_000;

export function storeChallengerDeps(
  store: Required<Pick<StatsStore, 'readComparisons' | 'comparisonModels'>> & Pick<StatsStore, 'describe'>,
  opts: { windowMs: number; owns?: (model: string) => boolean; logger: Logger; now?: () => number },
): ChallengerCheckDeps {
  const now = opts.now ?? Date.now;
  const owns = opts.owns ?? (() => true);
  // The end of the run's span: models() is asked right after spans() in one run.
  let toMs: number | null = null;
  return {
    async spans(fromMs, to) {
      toMs = to;
      const { spans, skipped } = await store.readComparisons({ fromMs, toMs: to });
      if (skipped > 0) opts.logger.warn('stored comparison windows without a readable comparison were skipped', { store: store.describe, skipped });
      // Each model is judged by its shard's analyzer only (analyzer.shard).
      return spans.filter((s) => owns(s.model));
    },
    async models() {
      const to = toMs ?? now();
      const names = await store.comparisonModels(to - Math.max(opts.windowMs, CHALLENGER_MODELS_LOOKBACK_MS), to);
      return names.filter(owns);
    },
  };
}
