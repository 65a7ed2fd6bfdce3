/**
 * Consecutive failures: one failing evaluation is not enough to fail a step (a burst of load
 * on a canary's machine can fail one), so each gate keeps a streak. A failing evaluation
 * counts only when `gates.interval` passed since the streak's last counted one (the
 * controller evaluates every second; counting each would make "2 in a row" mean "2 s"), and
 * any evaluation in which the gate is not failing ends its streak.
 */
import type { GateName } from '@edgefleet/protocol';

/** One gate's failing streak: counted failing evaluations in a row, and when the last was counted. */
export interface GateStreak {
  failures: number;
  countedAt: number;
}

/** Streaks by gate; a gate without one is not failing. */
export type GateStreaks = Partial<Record<GateName, GateStreak>>;

/** The gate's streak after an evaluation at `now` in which it is (or is not) failing. */
export function nextStreak(previous: GateStreak | undefined, failing: boolean, now: number, intervalMs: number): GateStreak | undefined {
  if (!failing) return undefined;
  if (previous === undefined) return { failures: 1, countedAt: now };
  if (now - previous.countedAt >= intervalMs) return { failures: previous.failures + 1, countedAt: now };
  return previous;
}
