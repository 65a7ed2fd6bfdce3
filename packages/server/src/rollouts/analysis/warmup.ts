/**
 * Warm-up: a new instance's first requests and seconds are slow for reasons a release does
 * not cause (cold caches, JIT, a model still loading, the old instance still sharing the
 * CPU during the switch). Gate analysis leaves them out, on both sides.
 */
import type { WorkloadStats } from '@edgefleet/protocol';

/** What counts as warm-up (`gates.warmup`, its duration in ms). */
export interface WarmupRule {
  /** An instance's first requests. */
  requests: number;
  /** An instance's first milliseconds. */
  ms: number;
}

/**
 * Whether a sample is (partly) warm-up. A sample that straddles the end of warm-up is left
 * out whole: a report interval holds no finer detail, and leaving out one interval too many
 * costs little while counting cold requests can fail a good release. Samples without
 * `instanceStartedAt` (agents from before warm-up existed) count as warm.
 */
export function isWarmup(s: WorkloadStats, rule: WarmupRule): boolean {
  if (s.instanceStartedAt === undefined) return false;
  return s.intervalStart < s.instanceStartedAt + rule.ms || (s.instanceRequestsBefore ?? 0) < rule.requests;
}
