/**
 * Matching canaries and baseline: the baseline is re-weighted to the canaries' mix of
 * strata (cohort × time slot), each canary stratum compared with a pool of baseline samples
 * — a comparison unit — of the same stratum, else the same hardware at every site in the
 * same slot (the cohort's family × slot), else the same cohort, else the family, else the
 * fleet; and both
 * sides are put into bootstrap groups by node (`bootstrap.ts`), the baseline's per unit so a
 * replicate can scale each unit to the canaries' drawn mass there.
 */
import type { LatencyHistogram } from '@edgefleet/protocol';
import type { SlotEntry } from './aggregates.js';
import { GroupBuilder, groupCount, groupOf, MAX_GROUPS } from './bootstrap.js';

/**
 * One side's analysed samples of a node in a time slot (`aggregates.ts`): node position,
 * slot, and its counts of samples, latency values, requests and errors, with its merged
 * latency.
 */
export type Entry = SlotEntry;

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
  /** Level of each unit: 0 a stratum, 1 a family × slot, 2 a cohort, 3 a family, 4 the fleet. */
  level: Int8Array;
  /** Each baseline entry's weight in the point estimates: the sum of its units' scales. */
  weights: Float64Array;
  cohortsCompared: number;
  cohortsOnFleetBaseline: number;
}

/**
 * Fewest baseline nodes a comparison unit may have. Intervals come from resampling nodes, so
 * a unit of one or two nodes (at 200 nodes, a site × accelerator cohort has two or three)
 * scales one node's latencies by the canaries' whole mass there and widens every interval:
 * identical releases then stay undecided until `maxAnalysisTime` (measured: `bench:gates`).
 */
export const MIN_UNIT_NODES = 3;

/**
 * Levels of comparison, finest first (indexes into per-level maps). The family × slot comes
 * before the cohort: a step's canaries switch within minutes of each other, so their values
 * crowd into the step's first slots, and a pool over every slot would weigh a load burst of
 * those minutes (fleet-wide, 1.5–3× for up to a minute) at a fraction of the canaries' share.
 * At half a request a second a site × accelerator cohort of two or three nodes rarely has
 * enough baseline in one slot; the same hardware at every site nearly always has.
 * (`bench:gates`, low traffic: identical releases failed at step 3, "P95 36.1 ms against
 * 26.8 ms", the canaries' last two minutes in a burst, the baseline's hour mostly not.)
 */
const Level = { Stratum: 0, FamilySlot: 1, Cohort: 2, Family: 3 } as const;
type Level = (typeof Level)[keyof typeof Level];
/** `Strata.level` of the fleet-wide unit. */
const FLEET_LEVEL = 4;

/** Whether a unit of this level pools one time slot (its baseline entries count by slot, not by node). */
export const slotLevel = (level: number): boolean => level === Level.Stratum || level === Level.FamilySlot;

/**
 * Re-weights the baseline to the canaries' mix of strata (cohort × time slot, the slot of a
 * sample's midpoint counted in `slotMs` from `spanFrom`): each stratum the canaries have
 * latency values in is compared with the baseline of the finest level that has at least
 * `minValues` values from at least {@link MIN_UNIT_NODES} nodes: the same stratum, else the
 * cohort's family (the same hardware at every site, `cohortFamily`) in the same slot, else
 * the cohort (every slot), else the family (every slot), else the fleet. Each such pool is a
 * comparison unit, scaled to the canaries' count in the strata it serves.
 */
export function weighBaseline(
  canary: readonly Entry[],
  baseline: readonly Entry[],
  cohortOf: ArrayLike<number>,
  slotMs: number,
  spanFrom: number,
  minValues: number,
  /** Family number of each cohort number (`cohortFamilies`); default: each cohort its own. */
  cohortFamily?: ArrayLike<number>,
  /** Fewest baseline nodes a unit may have (the fleet excepted). */
  minNodes = MIN_UNIT_NODES,
): Strata {
  const none: Strata = {
    units: 0,
    target: new Float64Array(0),
    pool: new Float64Array(0),
    scale: new Float64Array(0),
    level: new Int8Array(0),
    canaryUnit: new Int32Array(canary.length).fill(-1),
    baselineUnits: baseline.map(() => []),
    weights: new Float64Array(baseline.length),
    cohortsCompared: 0,
    cohortsOnFleetBaseline: 0,
  };
  if (baseline.length === 0 || canary.length === 0) return none;
  const firstSlot = Math.floor(spanFrom / slotMs);
  const cohort = (e: Entry): number => cohortOf[e.p] as number;
  const family = (c: number): number => (cohortFamily === undefined ? c : (cohortFamily[c] as number));
  const key = (e: Entry): number => cohort(e) * 1_000_000 + (e.slot - firstSlot);
  // A stratum key's family × slot key (the slot offset is the key's last six digits).
  const familySlot = (k: number): number => family(Math.floor(k / 1_000_000)) * 1_000_000 + (k % 1_000_000);
  // The key of an entry at each level; keys of different levels never meet (separate maps).
  const canaryCount = new Map<number, number>();
  for (const e of canary) {
    if (e.n === 0) continue;
    const k = key(e);
    canaryCount.set(k, (canaryCount.get(k) ?? 0) + e.n);
  }
  // Baseline values and distinct nodes per key, at each level. Entries come node by node
  // (`assemble`): a node is counted once per key by remembering the last node counted there;
  // entries in another order are counted with sets.
  const maps = <T>(): Map<number, T>[] => [new Map(), new Map(), new Map(), new Map()];
  const values = maps<number>();
  const nodeCounts = maps<number>();
  let byNode = true;
  for (let i = 1; i < baseline.length; i++) if ((baseline[i] as Entry).p < (baseline[i - 1] as Entry).p) byNode = false;
  const lastNode = maps<number>();
  const nodeSets = maps<Set<number>>();
  const count = (level: Level, k: number, e: Entry): void => {
    const v = values[level] as Map<number, number>;
    v.set(k, (v.get(k) ?? 0) + e.n);
    const counts = nodeCounts[level] as Map<number, number>;
    if (byNode) {
      const last = lastNode[level] as Map<number, number>;
      if (last.get(k) === e.p) return;
      last.set(k, e.p);
      counts.set(k, (counts.get(k) ?? 0) + 1);
      return;
    }
    const sets = nodeSets[level] as Map<number, Set<number>>;
    let set = sets.get(k);
    if (set === undefined) {
      set = new Set();
      sets.set(k, set);
    }
    if (set.has(e.p)) return;
    set.add(e.p);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  };
  let fleetCount = 0;
  for (const e of baseline) {
    const c = cohort(e);
    const k = key(e);
    count(Level.Stratum, k, e);
    count(Level.FamilySlot, familySlot(k), e);
    count(Level.Cohort, c, e);
    count(Level.Family, family(c), e);
    fleetCount += e.n;
  }
  const enough = (level: Level, k: number): boolean =>
    ((values[level] as Map<number, number>).get(k) ?? 0) >= minValues && ((nodeCounts[level] as Map<number, number>).get(k) ?? 0) >= minNodes;
  // Units by level: stratum key, family × slot key, cohort number, family number; then the fleet.
  const unitAt = maps<number>();
  let fleetUnit = -1;
  const target: number[] = [];
  const pool: number[] = [];
  const levels: number[] = [];
  const unitOfStratum = new Map<number, number>();
  const onFleet = new Set<number>();
  const compared = new Set<number>();
  const unit = (level: Level | null, k: number): number => {
    const map = level === null ? null : (unitAt[level] as Map<number, number>);
    let u = map === null ? fleetUnit : (map.get(k) ?? -1);
    if (u < 0) {
      u = target.length;
      target.push(0);
      levels.push(level === null ? FLEET_LEVEL : level);
      pool.push(level === null ? fleetCount : ((values[level] as Map<number, number>).get(k) as number));
      if (map === null) fleetUnit = u;
      else map.set(k, u);
    }
    return u;
  };
  for (const [k, n] of canaryCount) {
    const c = Math.floor(k / 1_000_000);
    let u: number;
    if (enough(Level.Stratum, k)) u = unit(Level.Stratum, k);
    else if (enough(Level.FamilySlot, familySlot(k))) u = unit(Level.FamilySlot, familySlot(k));
    else if (enough(Level.Cohort, c)) u = unit(Level.Cohort, c);
    else if (enough(Level.Family, family(c))) u = unit(Level.Family, family(c));
    else if (fleetCount > 0) {
      u = unit(null, 0);
      onFleet.add(c);
    } else continue;
    if (!onFleet.has(c)) compared.add(c);
    target[u] = (target[u] as number) + n;
    unitOfStratum.set(k, u);
  }
  const units = target.length;
  const scale = Float64Array.from(target, (t, u) => t / (pool[u] as number));
  const canaryUnit = Int32Array.from(canary, (e) => (e.n === 0 ? -1 : (unitOfStratum.get(key(e)) ?? -1)));
  const weights = new Float64Array(baseline.length);
  const stratumUnits = unitAt[Level.Stratum] as Map<number, number>;
  const familySlotUnits = unitAt[Level.FamilySlot] as Map<number, number>;
  const cohortUnits = unitAt[Level.Cohort] as Map<number, number>;
  const familyUnits = unitAt[Level.Family] as Map<number, number>;
  // An entry's units follow from its stratum key alone (the cohort and family are in it):
  // one list per key, shared by its entries (read only).
  const byKey = new Map<number, { c: number; list: number[]; w: number }>();
  const baselineUnits = baseline.map((e, i) => {
    const sk = key(e);
    const c = cohort(e);
    let known = byKey.get(sk);
    if (known === undefined || known.c !== c) {
      const list: number[] = [];
      const us = stratumUnits.size === 0 ? undefined : stratumUnits.get(sk);
      if (us !== undefined) list.push(us);
      const ufs = familySlotUnits.size === 0 ? undefined : familySlotUnits.get(familySlot(sk));
      if (ufs !== undefined) list.push(ufs);
      const uc = cohortUnits.size === 0 ? undefined : cohortUnits.get(c);
      if (uc !== undefined) list.push(uc);
      const uf = familyUnits.size === 0 ? undefined : familyUnits.get(family(c));
      if (uf !== undefined) list.push(uf);
      if (fleetUnit >= 0) list.push(fleetUnit);
      let w = 0;
      for (const u of list) w += scale[u] as number;
      known = { c, list, w };
      byKey.set(sk, known);
    }
    weights[i] = known.w;
    return known.list;
  });
  let cohortsCompared = 0;
  for (const c of compared) if (!onFleet.has(c)) cohortsCompared++;
  return {
    units,
    target: Float64Array.from(target),
    pool: Float64Array.from(pool),
    scale,
    level: Int8Array.from(levels),
    canaryUnit,
    baselineUnits,
    weights,
    cohortsCompared,
    cohortsOnFleetBaseline: onFleet.size,
  };
}

/** Distinct nodes among entries. */
export function countNodes(entries: readonly Entry[]): number {
  // Node by node (`assemble`): count where the node changes.
  let count = 0;
  let byNode = true;
  for (let i = 0; i < entries.length && byNode; i++) {
    const p = (entries[i] as Entry).p;
    const before = i === 0 ? -1 : (entries[i - 1] as Entry).p;
    if (p < before) byNode = false;
    else if (p !== before) count++;
  }
  if (byNode) return count;
  const nodes = new Set<number>();
  for (const e of entries) nodes.add(e.p);
  return nodes.size;
}

/**
 * The canaries in bootstrap groups (by node), with each group's mass per comparison unit:
 * each node's merged latency (`hist`) once, its entries' masses per unit.
 */
export function canaryGroupsOf(entries: readonly Entry[], strata: Strata, hist: (p: number) => LatencyHistogram | undefined): GroupBuilder {
  const ordinal = new Map<number, number>();
  for (const e of entries) if (!ordinal.has(e.p)) ordinal.set(e.p, ordinal.size);
  const nodes = ordinal.size;
  const builder = new GroupBuilder(groupCount(nodes), { units: strata.units });
  const added = new Set<number>();
  entries.forEach((e, i) => {
    if (e.n === 0) return;
    const g = groupOf(ordinal.get(e.p) as number, e.p, nodes);
    if (!added.has(e.p)) {
      added.add(e.p);
      const h = hist(e.p);
      if (h !== undefined) builder.add(g, h);
    }
    const u = strata.canaryUnit[i] as number;
    if (u >= 0) builder.addMass(g, u, e.n);
  });
  return builder;
}

/**
 * The baseline in bootstrap groups: each unit's nodes in groups of their own (a share of
 * `MAX_GROUPS` by the unit's weight, at least 2 or one per node), so a replicate can scale
 * each unit to the canaries' drawn mass there. A stratum or a family × slot gets its entries' latency; a cohort,
 * a family or the fleet each node's whole latency in the span (`pieces`), added once.
 */
export function baselineGroupsOf(entries: readonly Entry[], strata: Strata, pieces: (p: number) => readonly LatencyHistogram[]): GroupBuilder {
  const totalTarget = strata.target.reduce((a, b) => a + b, 0);
  const units = strata.units;
  // Entries come node by node (`assemble`): a unit's distinct nodes and each node's ordinal
  // there are then counted by remembering the last node seen per unit, without a map per
  // unit; entries in another order use maps.
  let byNode = true;
  for (let i = 1; i < entries.length; i++) if ((entries[i] as Entry).p < (entries[i - 1] as Entry).p) byNode = false;
  const members: Map<number, number>[] | null = byNode ? null : Array.from({ length: units }, () => new Map());
  const memberCount = new Int32Array(units);
  const lastMember = new Int32Array(units).fill(-1);
  entries.forEach((e, i) => {
    for (const u of strata.baselineUnits[i] as number[]) {
      if (members === null) {
        if (lastMember[u] === e.p) continue;
        lastMember[u] = e.p;
        memberCount[u] = (memberCount[u] as number) + 1;
        continue;
      }
      const m = members[u] as Map<number, number>;
      if (!m.has(e.p)) m.set(e.p, m.size);
    }
  });
  if (members !== null) for (let u = 0; u < units; u++) memberCount[u] = (members[u] as Map<number, number>).size;
  const first = new Int32Array(units);
  const size = new Int32Array(units);
  const unitOf: number[] = [];
  for (let u = 0; u < units; u++) {
    const nodes = memberCount[u] as number;
    const share = totalTarget > 0 ? (strata.target[u] as number) / totalTarget : 0;
    const k = Math.min(nodes, Math.max(2, Math.round(MAX_GROUPS * share)));
    first[u] = unitOf.length;
    size[u] = k;
    for (let g = 0; g < k; g++) unitOf.push(u);
  }
  const builder = new GroupBuilder(unitOf.length, { unitOf });
  // By node: ordinals counted again in the same order; a node-level unit gets a node's
  // pieces once (its entries are together).
  const ordinal = new Int32Array(units).fill(-1);
  lastMember.fill(-1);
  const addedFor = new Int32Array(units).fill(-1);
  const done = members === null ? null : new Set<number>();
  entries.forEach((e, i) => {
    if (e.n === 0) {
      // Not added, but counted in the unit's ordinals as before.
      if (members === null)
        for (const u of strata.baselineUnits[i] as number[])
          if (lastMember[u] !== e.p) {
            lastMember[u] = e.p;
            ordinal[u] = (ordinal[u] as number) + 1;
          }
      return;
    }
    for (const u of strata.baselineUnits[i] as number[]) {
      let o: number;
      if (members === null) {
        if (lastMember[u] !== e.p) {
          lastMember[u] = e.p;
          ordinal[u] = (ordinal[u] as number) + 1;
        }
        o = ordinal[u] as number;
      } else o = (members[u] as Map<number, number>).get(e.p) as number;
      const g = (first[u] as number) + groupOf(o, e.p, memberCount[u] as number, size[u] as number);
      if (slotLevel(strata.level[u] as number)) builder.add(g, e.latency);
      else {
        // Node-level units: the node's whole latency in the span, once per unit.
        if (done === null) {
          if (addedFor[u] === e.p) continue;
          addedFor[u] = e.p;
        } else {
          const k = e.p * units + u;
          if (done.has(k)) continue;
          done.add(k);
        }
        for (const h of pieces(e.p)) builder.add(g, h);
      }
    }
  });
  return builder;
}
