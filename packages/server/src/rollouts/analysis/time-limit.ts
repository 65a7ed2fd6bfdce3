/**
 * What a step decides when `maxAnalysisTime` runs out while its gates are still undecided.
 *
 * The gates are a sequential test: each evaluation fails a gate only when the regression is
 * established at the configured confidence and passes it only when the regression is ruled
 * out. Such a test must end somewhere; where it is truncated, the decision falls to the
 * estimate (as a truncated sequential test's does). So, once the time is up:
 * - a gate that lacks data, or whose estimate is beyond its threshold, ends the step with
 *   `onFailure` (`AnalysisTimeExceeded`): nothing vouches for the release;
 * - when every gate has data and each undecided one estimates within its threshold, the
 *   step passes: no regression was established in all that time, and the best estimate
 *   says there is none.
 * Without this, a step of two canaries at half a request a second (1 % of 200 nodes) whose
 * release is identical to the last one was rolled back whenever its interval stayed wider
 * than the threshold after an hour: most such rollouts in `bench:gates`.
 */
import type { GateVerdict } from '@edgefleet/protocol';

/** The decision at the time limit, and why, in plain words. */
export type TimeLimitDecision = { pass: true; message: string } | { pass: false; what: string };

export function decideAtTimeLimit(gates: readonly GateVerdict[]): TimeLimitDecision {
  if (gates.length === 0) return { pass: false, what: 'no gate decided' };
  const lacking = gates.filter((g) => g.verdict === 'insufficient-data');
  if (lacking.length > 0) return { pass: false, what: 'too little data' };
  const beyond = gates.filter((g) => g.verdict === 'failing' || (g.verdict === 'undecided' && (g.estimate === null || g.estimate > g.threshold)));
  if (beyond.length > 0)
    return {
      pass: false,
      what: `no gate decided, and ${beyond.map((g) => g.gate).join(', ')} estimated beyond ${beyond.length === 1 ? 'its' : 'their'} threshold`,
    };
  const undecided = gates.filter((g) => g.verdict === 'undecided');
  return {
    pass: true,
    message: `no regression established, and ${undecided.length === 1 ? 'the undecided gate estimates' : `all ${undecided.length} undecided gates estimate`} within threshold: ${undecided.map((g) => g.message).join('; ')}`,
  };
}
