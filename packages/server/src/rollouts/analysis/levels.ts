/**
 * Hardware levels: a fleet mixes accelerators whose latencies differ tenfold (Hailo-10H
 * about 4 ms, Hailo-8L 13 ms, Coral 43 ms). The ratio gates read quantiles of every
 * compared node's histograms together, and the P95 of such a mixture falls wherever the
 * slowest kind's share puts it: with one Coral among five canaries it is the Coral node's
 * P75 or so, read where the mixture has few values (between the kinds' bodies), so a
 * small change in one node's share or tail moves it by a third. Identical releases were
 * rolled back at the time limit with estimates like "P95 ratio 1.62 (0.77–1.65)".
 *
 * So each hardware family (the same accelerator at every site, `cohortFamilies`) is moved to
 * a common level before the quantiles are read, on both sides alike: its histograms are
 * shifted by the family's mean bucket on the baseline revision (after node speeds) minus the
 * canaries' mean level. The compared quantiles are then those of one law — latency relative
 * to what the node's hardware usually takes — whose P95 sits in its body. A regression that
 * multiplies every latency by r still reads r; one that slows a single kind counts by that
 * kind's share of the canaries' requests instead of vanishing under the slowest kind.
 * Within a comparison unit (one cohort, one family) the shift is the same on both sides and
 * changes nothing; the fleet-wide fallback baseline is made comparable by it.
 *
 * The level is a mean of log latency (bucket index), for the reasons node speed is
 * (`speed.ts`). A family with too little baseline of its own keeps its level (no shift),
 * and so do all when fewer than two families have one.
 */
import type { LatencyHistogram } from '@edgefleet/protocol';
import { MIN_UNIT_NODES } from './matching.js';
import { bucketSums } from './speed.js';

/** A side's analysed values of a node: position and latency (`SlotEntry`). */
interface LevelEntry {
  p: number;
  n: number;
  latency: LatencyHistogram;
}

/** What `familyShifts` found. */
export interface FamilyShifts {
  /** Buckets by family; only non-zero shifts are present. */
  shifts: Map<number, number>;
  /** Families lined up (each with a level of its own); 0 when nothing moved. */
  families: number;
}

/**
 * Each family's shift in buckets (only non-zero shifts are present): its baseline mean
 * bucket, each node's histograms taken shifted by −`nodeShift(p)` (its speed), minus the
 * canaries' level (each family's level weighted by the canaries' values in it).
 */
export function familyShifts(
  canary: readonly LevelEntry[],
  baseline: readonly LevelEntry[],
  familyOf: (p: number) => number,
  nodeShift: (p: number) => number,
  /** Fewest baseline values and nodes a family's level is taken from (`minRequests`, `MIN_UNIT_NODES`). */
  minValues: number,
  minNodes = MIN_UNIT_NODES,
): FamilyShifts {
  const gathered = new Map<number, { n: number; sum: number; nodes: Set<number> }>();
  for (const e of baseline) {
    const { n, sum } = bucketSums(e.latency);
    if (n === 0) continue;
    const f = familyOf(e.p);
    const v = gathered.get(f) ?? { n: 0, sum: 0, nodes: new Set<number>() };
    v.n += n;
    v.sum += sum - n * nodeShift(e.p);
    v.nodes.add(e.p);
    gathered.set(f, v);
  }
  // A level from one node's few values would move its family by that node's chance: only
  // families with as much baseline as a comparison unit needs (`weighBaseline`) have one.
  const base = new Map<number, { n: number; sum: number }>();
  for (const [f, v] of gathered) if (v.n >= minValues && v.nodes.size >= minNodes) base.set(f, v);
  const canaryValues = new Map<number, number>();
  for (const e of canary) if (e.n > 0) canaryValues.set(familyOf(e.p), (canaryValues.get(familyOf(e.p)) ?? 0) + e.n);
  let weight = 0;
  let level = 0;
  for (const [f, n] of canaryValues) {
    const b = base.get(f);
    if (b === undefined) continue;
    weight += n;
    level += (n * b.sum) / b.n;
  }
  const shifts = new Map<number, number>();
  // One family with a level, or no canary in one: nothing to line up.
  if (weight === 0 || base.size < 2) return { shifts, families: 0 };
  const reference = level / weight;
  for (const [f, b] of base) {
    // + 0: never −0.
    const k = Math.round(b.sum / b.n - reference) + 0;
    if (k !== 0) shifts.set(f, k);
  }
  return { shifts, families: shifts.size === 0 ? 0 : base.size };
}
