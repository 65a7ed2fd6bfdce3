/**
 * The bench's figures from run results: what counts as a false rollback, a detection, and
 * the time to detect. Pure, so the classification is table-tested.
 *
 * - falseRollbackRate: A/A runs (identical releases) that ended rolled back (or paused by a
 *   failure), for any reason, over all A/A runs.
 * - detection1_3x: 1.3× runs rolled back at any step, over all 1.3× runs.
 * - detection2x: 2× runs rolled back before step 1's bake was over, over all 2× runs.
 * - medianSecondsToDetect2x: the median time from the rollout's start to the rollback,
 *   over the 2× runs counted as detected (null when none was).
 */

/** What the figures need of one run (`RunResult` has it). */
export interface RunSummary {
  outcome: 'succeeded' | 'rolled-back' | 'passed-first-bake' | 'unfinished';
  rolledBackAfterMs: number | null;
  withinFirstBake: boolean;
}

/** A rate is null when its scenario has no runs (a chunk of `--scenarios` without it). */
export interface BenchFigures {
  runs: number;
  falseRollbackRate: number | null;
  detection1_3x: number | null;
  detection2x: number | null;
  medianSecondsToDetect2x: number | null;
}

/** The final JSON line's figures; `runs` is the number of runs per scenario. */
export function benchFigures(aa: readonly RunSummary[], ab13: readonly RunSummary[], ab2: readonly RunSummary[]): BenchFigures {
  const share = (list: readonly RunSummary[], counts: (r: RunSummary) => boolean): number | null =>
    list.length === 0 ? null : round(list.filter(counts).length / list.length, 4);
  const caught2x = ab2.filter(detectedInFirstBake);
  return {
    runs: Math.max(aa.length, ab13.length, ab2.length),
    falseRollbackRate: share(aa, (r) => r.outcome === 'rolled-back'),
    detection1_3x: share(ab13, (r) => r.outcome === 'rolled-back'),
    detection2x: share(ab2, detectedInFirstBake),
    medianSecondsToDetect2x: caught2x.length === 0 ? null : round(median(caught2x.map((r) => (r.rolledBackAfterMs ?? 0) / 1000)), 1),
  };
}

/** Rolled back before step 1's bake was over. */
export function detectedInFirstBake(r: RunSummary): boolean {
  return r.outcome === 'rolled-back' && r.withinFirstBake;
}

/** The median (mean of the middle two for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Wilson score interval of a share (95 %): how far a rate from `runs` runs can be trusted. */
export function wilson(successes: number, runs: number, z = 1.96): { low: number; high: number } {
  if (runs === 0) return { low: 0, high: 1 };
  const p = successes / runs;
  const d = 1 + (z * z) / runs;
  const centre = (p + (z * z) / (2 * runs)) / d;
  const half = (z * Math.sqrt((p * (1 - p)) / runs + (z * z) / (4 * runs * runs))) / d;
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
