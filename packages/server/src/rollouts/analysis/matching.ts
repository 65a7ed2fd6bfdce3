/**
 * Matching canaries and baseline: the baseline is re-weighted to the canaries' mix of
 * strata (cohort × time slot), each canary stratum compared with a pool of baseline samples
 * — a comparison unit — of the same stratum, else the same cohort, else the fleet; and both
 * sides are put into bootstrap groups by node (`bootstrap.ts`), the baseline's per unit so a
 * replicate can scale each unit to the canaries' drawn mass there.
 */
import type { WorkloadStats } from '@edgefleet/protocol';
import { GroupBuilder, groupCount, groupOf, MAX_GROUPS } from './bootstrap.js';

/** One side's analysed sample: node position, the sample, and its count of latency values. */
export interface Entry {
  p: number;
  s: WorkloadStats;
  n: number;
}

/** How the baseline is re-weighted to the canaries' mix. */
export interface Strata {
  /** Comparison units: strata, cohorts or the fleet, each a pool of baseline samples. */
  units: number;
  /** Canary latency values each unit's baseline is scaled to. */
  target: Float64Array;
  /** Baseline latency values in each unit. */
  pool: Float64Array;
  /** target / pool of each unit. */
  scale: Float64Array;
  /** Unit of each canary entry (−1: no baseline to compare with). */
  canaryUnit: Int32Array;
  /** Units of each baseline entry: a sample may serve its stratum, its cohort and the fleet. */
  baselineUnits: number[][];
  /** Each baseline entry's weight in the point estimates: the sum of its units' scales. */
  weights: Float64Array;
  cohortsCompared: number;
  cohortsOnFleetBaseline: number;
}

/**
 * Re-weights the baseline to the canaries' mix of strata (cohort × time slot, the slot of a
 * sample's midpoint counted in `slotMs` from `spanFrom`): each stratum
 * the canaries have latency values in is compared with the baseline's values of the same
 * stratum when the baseline has at least `minValues` there; else with the cohort's (every
 * slot); else with the fleet's. Each such pool is a comparison unit, scaled to the canaries'
 * count in the strata it serves.
 */
export function weighBaseline(
  canary: readonly Entry[],
  baseline: readonly Entry[],
  cohortOf: ArrayLike<number>,
  slotMs: number,
  spanFrom: number,
  minValues: number,
): Strata {
  const none: Strata = {
    units: 0,
    target: new Float64Array(0),
    pool: new Float64Array(0),
    scale: new Float64Array(0),
    canaryUnit: new Int32Array(canary.length).fill(-1),
    baselineUnits: baseline.map(() => []),
    weights: new Float64Array(baseline.length),
    cohortsCompared: 0,
    cohortsOnFleetBaseline: 0,
  };
  if (baseline.length === 0 || canary.length === 0) return none;
  const firstSlot = Math.floor(spanFrom / slotMs);
  const key = (e: Entry): number => (cohortOf[e.p] as number) * 1_000_000 + (Math.floor((e.s.intervalStart + e.s.intervalEnd) / 2 / slotMs) - firstSlot);
  const canaryCount = new Map<number, number>();
  for (const e of canary) {
    if (e.n === 0) continue;
    const k = key(e);
    canaryCount.set(k, (canaryCount.get(k) ?? 0) + e.n);
  }
  const stratumCount = new Map<number, number>();
  const cohortCount = new Map<number, number>();
  let fleetCount = 0;
  for (const e of baseline) {
    const k = key(e);
    stratumCount.set(k, (stratumCount.get(k) ?? 0) + e.n);
    const c = cohortOf[e.p] as number;
    cohortCount.set(c, (cohortCount.get(c) ?? 0) + e.n);
    fleetCount += e.n;
  }
  // Units by level: stratum key, cohort number, the fleet.
  const stratumUnit = new Map<number, number>();
  const cohortUnit = new Map<number, number>();
  let fleetUnit = -1;
  const target: number[] = [];
  const pool: number[] = [];
  const unitOfStratum = new Map<number, number>();
  const onFleet = new Set<number>();
  const compared = new Set<number>();
  const unit = (map: Map<number, number> | null, k: number, size: number): number => {
    let u = map === null ? fleetUnit : (map.get(k) ?? -1);
    if (u < 0) {
      u = target.length;
      target.push(0);
      pool.push(size);
      if (map === null) fleetUnit = u;
      else map.set(k, u);
    }
    return u;
  };
  for (const [k, n] of canaryCount) {
    const cohort = Math.floor(k / 1_000_000);
    const inStratum = stratumCount.get(k) ?? 0;
    const inCohort = cohortCount.get(cohort) ?? 0;
    let u: number;
    if (inStratum >= minValues) u = unit(stratumUnit, k, inStratum);
    else if (inCohort >= minValues) u = unit(cohortUnit, cohort, inCohort);
    else if (fleetCount > 0) {
      u = unit(null, 0, fleetCount);
      onFleet.add(cohort);
    } else continue;
    if (!onFleet.has(cohort)) compared.add(cohort);
    target[u] = (target[u] as number) + n;
    unitOfStratum.set(k, u);
  }
  const units = target.length;
  const scale = Float64Array.from(target, (t, u) => t / (pool[u] as number));
  const canaryUnit = Int32Array.from(canary, (e) => (e.n === 0 ? -1 : (unitOfStratum.get(key(e)) ?? -1)));
  const weights = new Float64Array(baseline.length);
  const baselineUnits = baseline.map((e, i) => {
    const list: number[] = [];
    const s = stratumUnit.get(key(e));
    const c = cohortUnit.get(cohortOf[e.p] as number);
    if (s !== undefined) list.push(s);
    if (c !== undefined) list.push(c);
    if (fleetUnit >= 0) list.push(fleetUnit);
    for (const u of list) weights[i] = (weights[i] as number) + (scale[u] as number);
    return list;
  });
  let cohortsCompared = 0;
  for (const c of compared) if (!onFleet.has(c)) cohortsCompared++;
  return {
    units,
    target: Float64Array.from(target),
    pool: Float64Array.from(pool),
    scale,
    canaryUnit,
    baselineUnits,
    weights,
    cohortsCompared,
    cohortsOnFleetBaseline: onFleet.size,
  };
}

/** Distinct nodes among entries. */
export function countNodes(entries: readonly Entry[]): number {
  const nodes = new Set<number>();
  for (const e of entries) nodes.add(e.p);
  return nodes.size;
}

/** The canaries in bootstrap groups (by node), with each group's mass per comparison unit. */
export function canaryGroupsOf(entries: readonly Entry[], strata: Strata): GroupBuilder {
  const ordinal = new Map<number, number>();
  for (const e of entries) if (!ordinal.has(e.p)) ordinal.set(e.p, ordinal.size);
  const nodes = ordinal.size;
  const builder = new GroupBuilder(groupCount(nodes), { units: strata.units });
  entries.forEach((e, i) => {
    if (e.n === 0) return;
    const g = groupOf(ordinal.get(e.p) as number, e.p, nodes);
    builder.add(g, e.s.latency);
    const u = strata.canaryUnit[i] as number;
    if (u >= 0) builder.addMass(g, u, e.n);
  });
  return builder;
}

/**
 * The baseline in bootstrap groups: each unit's nodes in groups of their own (a share of
 * `MAX_GROUPS` by the unit's weight, at least 2 or one per node), so a replicate can scale
 * each unit to the canaries' drawn mass there.
 */
export function baselineGroupsOf(entries: readonly Entry[], strata: Strata): GroupBuilder {
  const totalTarget = strata.target.reduce((a, b) => a + b, 0);
  const members: Map<number, number>[] = Array.from({ length: strata.units }, () => new Map());
  entries.forEach((e, i) => {
    for (const u of strata.baselineUnits[i] as number[]) {
      const m = members[u] as Map<number, number>;
      if (!m.has(e.p)) m.set(e.p, m.size);
    }
  });
  const first = new Int32Array(strata.units);
  const size = new Int32Array(strata.units);
  const unitOf: number[] = [];
  for (let u = 0; u < strata.units; u++) {
    const nodes = (members[u] as Map<number, number>).size;
    const share = totalTarget > 0 ? (strata.target[u] as number) / totalTarget : 0;
    const k = Math.min(nodes, Math.max(2, Math.round(MAX_GROUPS * share)));
    first[u] = unitOf.length;
    size[u] = k;
    for (let g = 0; g < k; g++) unitOf.push(u);
  }
  const builder = new GroupBuilder(unitOf.length, { unitOf });
  entries.forEach((e, i) => {
    if (e.n === 0) return;
    for (const u of strata.baselineUnits[i] as number[]) {
      const m = members[u] as Map<number, number>;
      builder.add((first[u] as number) + groupOf(m.get(e.p) as number, e.p, m.size, size[u] as number), e.s.latency);
    }
  });
  return builder;
}
