/**
 * A two-stage Poisson bootstrap of latency quantiles over per-node histograms.
 *
 * Nodes are grouped into at most `MAX_GROUPS` groups per side (one group per node when there
 * are that few). Each replicate weights every group by Poisson(1) (stage one: which nodes
 * happened to be picked, and their speed) and every count c of a group by Poisson(c) (stage
 * two: which requests happened to arrive), then reads the quantiles of each side's
 * re-weighted histogram. The spread of the replicates is the uncertainty of the quantiles,
 * without assuming any shape for latency.
 *
 * Matching: the baseline is re-weighted to the canaries' mix of comparison units (a stratum,
 * a cohort, or the fleet: see gates.ts) in every replicate, so resampling nodes never
 * compares a replicate's canaries at one site with a baseline that lost that site. Baseline
 * groups each belong to one unit; canary groups carry their mass per unit. In a replicate
 * unit u's baseline is scaled to the canaries' drawn mass in u (from the group weights).
 *
 * A count may carry a weight: it is then drawn as Poisson(n) × (mean / n) with
 * n = mean² / variance, which has the count's mean and variance exactly. Large counts use the
 * normal approximation (from a table: no logarithms in the inner loop). Cost: replicates ×
 * non-empty (group, block) cells.
 */
import { bucketValue, HISTOGRAM_BUCKETS, type LatencyHistogram } from '@edgefleet/protocol';
import { normalQuantile } from './binomial.js';

/** At most this many resampling groups per side: enough for the between-node spread, few enough to stay cheap. */
export const MAX_GROUPS = 32;

/** Buckets per block: within-group counts are redrawn per block of this many neighbouring buckets. */
export const BLOCK = 8;
const BLOCKS = Math.ceil(HISTOGRAM_BUCKETS / BLOCK);

/** Counts at or above this are drawn from the normal approximation (cheaper than inversion, close enough from here). */
const NORMAL_FROM = 10;

const BUCKET_VALUES = Float64Array.from({ length: HISTOGRAM_BUCKETS }, (_, i) => bucketValue(i));

/** Φ⁻¹ at 4,096 evenly spaced probabilities: a normal draw is a table lookup. */
const NORMAL_TABLE = Float64Array.from({ length: 4096 }, (_, i) => normalQuantile((i + 0.5) / 4096));

/** Poisson(1) cumulative probabilities for 0 … 11 (the rest is < 1e-9). */
const POISSON1_CDF = (() => {
  const out = new Float64Array(12);
  let p = Math.exp(-1);
  let f = 0;
  for (let k = 0; k < 12; k++) {
    f += p;
    out[k] = f;
    p /= k + 1;
  }
  return out;
})();

/**
 * One group's non-empty blocks. Redrawing every bucket of every group costs too much for an
 * evaluation a second over thousands of nodes, so counts are redrawn per block of `BLOCK`
 * buckets (≈ 17 % of latency wide; a sum of Poisson counts is the Poisson count of the sum)
 * and each block's buckets keep their shares. Only the block a quantile falls in is then
 * read bucket by bucket, so a quantile keeps the histogram's 2 % resolution.
 */
export interface BootstrapGroup {
  /** The comparison unit of a baseline group (−1 on the canary side). */
  unit: number;
  /** Every count of the group together. */
  total: number;
  /** Canary side: the units the group has mass in, and that mass (latency values). */
  units: Int32Array;
  masses: Float64Array;
  /** Block number of each cell. */
  block: Int32Array;
  /** Weighted count of each cell. */
  mean: Float64Array;
  /** Effective count n = mean² / variance (the count itself when unweighted). */
  effective: Float64Array;
  /** e^−n for cells drawn by inversion (n below the normal approximation's range). */
  expNeg: Float64Array;
  /** Standard deviation of each cell (mean / √n). */
  sd: Float64Array;
  /** Each cell's bucket counts, `BLOCK` per cell. */
  fine: Float64Array;
  /** The cell of each block, or −1. */
  cellOf: Int32Array;
}

/** Groups summed at once by `unweightedSums` (a dense row of 667 buckets each: at most 5.5 MB). */
const SUM_ROWS = 1024;

/** One group's summed counts (`GroupBuilder.groupSums`). */
interface GroupSum {
  /** First bucket of `mean`. */
  from: number;
  /** Σ weight × count per bucket, from bucket `from` on. */
  mean: Float64Array;
  /** First block of `variance`. */
  blockFrom: number;
  /** Σ weight² × count per block, from block `blockFrom` on. */
  variance: Float64Array;
}

/**
 * Accumulates histograms into the groups of one side. Histograms are kept by reference and
 * summed one group at a time when the groups are built, so a side with thousands of groups
 * (many comparison units) costs memory for its non-empty cells only.
 */
export class GroupBuilder {
  private readonly used: Uint8Array;
  private readonly unitMass: Float64Array;
  private readonly itemGroup: number[] = [];
  private readonly itemHistogram: LatencyHistogram[] = [];
  private readonly itemWeight: number[] = [];
  private sums: (GroupSum | undefined)[] | null = null;
  /** Every item added with weight 1 (the gates add only these): `unweightedSums` applies. */
  private unweighted = true;

  /**
   * `groups` groups; on the baseline side `unitOf` gives each group's unit, on the canary
   * side `units` is how many units masses are kept for (`addMass`).
   */
  constructor(
    readonly groups: number,
    private readonly o: { unitOf?: ArrayLike<number>; units?: number } = {},
  ) {
    this.used = new Uint8Array(groups);
    this.unitMass = new Float64Array(groups * (o.units ?? 0));
  }

  /** Canary side: records that group `g` holds `n` latency values of unit `unit`. */
  addMass(g: number, unit: number, n: number): void {
    const k = g * (this.o.units ?? 0) + unit;
    this.unitMass[k] = (this.unitMass[k] as number) + n;
  }

  /**
   * Every group's counts together, each group's scaled by `scale(unit)` (default 1), as a
   * dense histogram. Each group's counts are summed first (whole numbers: the same in any
   * order and however the histograms were merged before), then scaled.
   */
  dense(scale?: (unit: number) => number): Float64Array {
    const out = new Float64Array(HISTOGRAM_BUCKETS);
    const sums = this.groupSums();
    for (let g = 0; g < this.groups; g++) {
      const sum = sums[g];
      if (sum === undefined) continue;
      const f = scale === undefined ? 1 : scale((this.o.unitOf?.[g] as number | undefined) ?? -1);
      if (f === 0) continue;
      const { from, mean } = sum;
      for (let j = 0; j < mean.length; j++) out[from + j] = (out[from + j] as number) + f * (mean[j] as number);
    }
    return out;
  }

  /**
   * Each group's weighted counts summed (Σ weight × count per bucket, Σ weight² × count per
   * block), over the buckets the group has counts in; undefined for a group without any.
   * Summed once, in the order the histograms were added, for `dense` and `build` both.
   */
  private groupSums(): (GroupSum | undefined)[] {
    if (this.sums !== null) return this.sums;
    if (this.unweighted) {
      this.sums = this.unweightedSums();
      return this.sums;
    }
    const out: (GroupSum | undefined)[] = new Array(this.groups);
    const mean = new Float64Array(HISTOGRAM_BUCKETS);
    const variance = new Float64Array(BLOCKS);
    // Items by group (a counting sort).
    const start = new Int32Array(this.groups + 1);
    for (const g of this.itemGroup) start[g + 1] = (start[g + 1] as number) + 1;
    for (let g = 0; g < this.groups; g++) start[g + 1] = (start[g + 1] as number) + (start[g] as number);
    const order = new Int32Array(this.itemGroup.length);
    const next = start.slice(0, this.groups);
    for (let i = 0; i < this.itemGroup.length; i++) {
      const g = this.itemGroup[i] as number;
      order[next[g] as number] = i;
      next[g] = (next[g] as number) + 1;
    }
    for (let g = 0; g < this.groups; g++) {
      let lo = HISTOGRAM_BUCKETS;
      let hi = -1;
      const from = start[g] as number;
      const to = start[g + 1] as number;
      // Unweighted groups (the gates add only weight 1): a block's variance is then the sum
      // of its counts, added up once per group instead of once per bucket and item (whole
      // numbers: the same sums in any order).
      let weighted = false;
      for (let k = from; k < to; k++) if (this.itemWeight[order[k] as number] !== 1) weighted = true;
      for (let k = from; k < to; k++) {
        const i = order[k] as number;
        const w = this.itemWeight[i] as number;
        if (w === 0) continue;
        const { counts, offset } = this.itemHistogram[i] as LatencyHistogram;
        if (weighted) {
          const w2 = w * w;
          for (let j = 0; j < counts.length; j++) {
            const c = counts[j] as number;
            if (c === 0) continue;
            const b = offset + j;
            if (b < lo) lo = b;
            if (b > hi) hi = b;
            mean[b] = (mean[b] as number) + c * w;
            const block = (b / BLOCK) | 0;
            variance[block] = (variance[block] as number) + c * w2;
          }
          continue;
        }
        // The item's non-zero run (adding the zeros inside it changes no sum).
        let first = 0;
        let last = counts.length - 1;
        while (first <= last && counts[first] === 0) first++;
        while (last >= first && counts[last] === 0) last--;
        if (first > last) continue;
        if (offset + first < lo) lo = offset + first;
        if (offset + last > hi) hi = offset + last;
        for (let j = first; j <= last; j++) mean[offset + j] = (mean[offset + j] as number) + (counts[j] as number);
      }
      if (hi < 0) continue;
      const bLo = (lo / BLOCK) | 0;
      const bHi = (hi / BLOCK) | 0;
      if (!weighted)
        for (let b = lo; b <= hi; b++) {
          const block = (b / BLOCK) | 0;
          variance[block] = (variance[block] as number) + (mean[b] as number);
        }
      out[g] = { from: lo, mean: mean.slice(lo, hi + 1), blockFrom: bLo, variance: variance.slice(bLo, bHi + 1) };
      mean.fill(0, lo, hi + 1);
      variance.fill(0, bLo, bHi + 1);
    }
    this.sums = out;
    return out;
  }

  /**
   * `groupSums` when every item has weight 1: the histograms are read in the order they were
   * added (memory order: reading 100,000 of them group by group, scattered, costs several
   * times more in cache misses), each added to its group's dense row, `SUM_ROWS` groups at a
   * time. A group's counts are still added in the order its histograms were added, and are
   * whole numbers: the same sums; a block's variance (Σ 1² × count) is its counts' sum.
   */
  private unweightedSums(): (GroupSum | undefined)[] {
    const groups = this.groups;
    const out: (GroupSum | undefined)[] = new Array(groups);
    const rowsAtOnce = Math.min(groups, SUM_ROWS);
    const rows = new Float64Array(rowsAtOnce * HISTOGRAM_BUCKETS);
    const lo = new Int32Array(rowsAtOnce);
    const hi = new Int32Array(rowsAtOnce);
    const itemGroup = this.itemGroup;
    const items = itemGroup.length;
    for (let g0 = 0; g0 < groups; g0 += rowsAtOnce) {
      const g1 = Math.min(groups, g0 + rowsAtOnce);
      lo.fill(HISTOGRAM_BUCKETS);
      hi.fill(-1);
      for (let i = 0; i < items; i++) {
        const g = itemGroup[i] as number;
        if (g < g0 || g >= g1) continue;
        const { counts, offset } = this.itemHistogram[i] as LatencyHistogram;
        // The histogram's non-zero run (adding the zeros inside it changes no sum).
        let first = 0;
        let last = counts.length - 1;
        while (first <= last && counts[first] === 0) first++;
        while (last >= first && counts[last] === 0) last--;
        if (first > last) continue;
        const r = g - g0;
        if (offset + first < (lo[r] as number)) lo[r] = offset + first;
        if (offset + last > (hi[r] as number)) hi[r] = offset + last;
        const base = r * HISTOGRAM_BUCKETS + offset;
        for (let j = first; j <= last; j++) rows[base + j] = (rows[base + j] as number) + (counts[j] as number);
      }
      for (let g = g0; g < g1; g++) {
        const r = g - g0;
        const l = lo[r] as number;
        const h = hi[r] as number;
        if (h < 0) continue;
        const base = r * HISTOGRAM_BUCKETS;
        const bLo = (l / BLOCK) | 0;
        const bHi = (h / BLOCK) | 0;
        const variance = new Float64Array(bHi - bLo + 1);
        for (let b = l; b <= h; b++) {
          const k = ((b / BLOCK) | 0) - bLo;
          variance[k] = (variance[k] as number) + (rows[base + b] as number);
        }
        out[g] = { from: l, mean: rows.slice(base + l, base + h + 1), blockFrom: bLo, variance };
        rows.fill(0, base + l, base + h + 1);
      }
    }
    return out;
  }

  /** Adds `weight` × `h` to group `g` (a weighted count has variance weight² × count). */
  add(g: number, h: LatencyHistogram, weight = 1): void {
    this.itemGroup.push(g);
    this.itemHistogram.push(h);
    this.itemWeight.push(weight);
    if (weight !== 1) this.unweighted = false;
    this.used[g] = 1;
    this.sums = null;
  }

  /**
   * The non-empty groups, compacted. With `range` (blocks `low` … `high`, from
   * `analysisRange`), each group's blocks below it are drawn as one cell and those above it
   * as another: no quantile of interest falls there, while a heavy tail spreads thin over
   * many blocks (a fifth to a third fewer cells on realistic histograms).
   */
  build(range?: { low: number; high: number }): BootstrapGroup[] {
    const out: BootstrapGroup[] = [];
    const sums = new Float64Array(BLOCKS);
    const vars = new Float64Array(BLOCKS);
    const fines = new Float64Array(BLOCKS * BLOCK);
    const mean = new Float64Array(BLOCKS * BLOCK);
    const variance = new Float64Array(BLOCKS);
    const low = range === undefined ? 0 : Math.max(1, range.low);
    const high = range === undefined ? BLOCKS - 1 : Math.min(BLOCKS - 2, range.high);
    const groupSums = this.groupSums();
    // Scratch arrays are cleared only where a group wrote (blocks bLo … bHi and the tails'
    // cells): a group spans a few dozen of the blocks, and adding zeros changes no sum.
    for (let g = 0; g < this.groups; g++) {
      const sum = groupSums[g];
      if (this.used[g] === 0 || sum === undefined) continue;
      const bLo = sum.blockFrom;
      const bHi = sum.blockFrom + sum.variance.length - 1;
      mean.set(sum.mean, sum.from);
      variance.set(sum.variance, bLo);
      const base = 0;
      // Cells written: the group's blocks and the merged tails' blocks (low − 1, high + 1).
      const rLo = Math.max(0, Math.min(bLo, low - 1, high + 1));
      const rHi = Math.min(BLOCKS - 1, Math.max(bHi, low - 1, high + 1));
      const clear = (): void => {
        sums.fill(0, rLo, rHi + 1);
        vars.fill(0, rLo, rHi + 1);
        fines.fill(0, rLo * BLOCK, (rHi + 1) * BLOCK);
      };
      for (let b = bLo; b <= bHi; b++) {
        let m = 0;
        for (let k = 0; k < BLOCK; k++) m += mean[base + b * BLOCK + k] as number;
        if (m === 0) continue;
        const v = variance[b] as number;
        // Merged tails: the lower one reads as the top of the block below the range, the upper one as the bottom of the block above.
        const to = b < low ? low - 1 : b > high ? high + 1 : b;
        sums[to] = (sums[to] as number) + m;
        vars[to] = (vars[to] as number) + v;
        if (to === b) for (let k = 0; k < BLOCK; k++) fines[b * BLOCK + k] = mean[base + b * BLOCK + k] as number;
        else if (b < low) fines[to * BLOCK + BLOCK - 1] = (fines[to * BLOCK + BLOCK - 1] as number) + m;
        else fines[to * BLOCK] = (fines[to * BLOCK] as number) + m;
      }
      mean.fill(0, bLo * BLOCK, (bHi + 1) * BLOCK);
      variance.fill(0, bLo, bHi + 1);
      let cells = 0;
      let total = 0;
      for (let b = rLo; b <= rHi; b++) {
        if ((sums[b] as number) > 0) cells++;
        total += sums[b] as number;
      }
      if (cells === 0) {
        clear();
        continue;
      }
      const units = this.o.units ?? 0;
      const unitList: number[] = [];
      const massList: number[] = [];
      for (let u = 0; u < units; u++) {
        const m = this.unitMass[g * units + u] as number;
        if (m > 0) {
          unitList.push(u);
          massList.push(m);
        }
      }
      const group: BootstrapGroup = {
        unit: (this.o.unitOf?.[g] as number | undefined) ?? -1,
        total,
        units: Int32Array.from(unitList),
        masses: Float64Array.from(massList),
        block: new Int32Array(cells),
        mean: new Float64Array(cells),
        effective: new Float64Array(cells),
        expNeg: new Float64Array(cells),
        sd: new Float64Array(cells),
        fine: new Float64Array(cells * BLOCK),
        cellOf: new Int32Array(BLOCKS).fill(-1),
      };
      let j = 0;
      for (let b = rLo; b <= rHi; b++) {
        const m = sums[b] as number;
        if (m <= 0) continue;
        const n = (m * m) / (vars[b] as number);
        group.block[j] = b;
        group.mean[j] = m;
        group.effective[j] = n;
        group.expNeg[j] = n < NORMAL_FROM ? Math.exp(-n) : 0;
        group.sd[j] = m / Math.sqrt(n);
        for (let k = 0; k < BLOCK; k++) group.fine[j * BLOCK + k] = fines[b * BLOCK + k] as number;
        group.cellOf[b] = j;
        j++;
      }
      clear();
      out.push(group);
    }
    return out;
  }
}

/**
 * The blocks a bootstrap needs bucket by bucket for the quantiles `qs` (ascending) of a side
 * whose histogram is `dense`: from the quantile at half the lowest q to the one at a fifth
 * of the highest's tail (P47.5 … P99 for a P95 gate), wide margins a replicate's quantile
 * does not cross when the side has enough groups (`MIN_GROUPS_TO_MERGE`). Undefined: use
 * every block.
 */
export function analysisRange(dense: Float64Array, qs: readonly number[], groups: number): { low: number; high: number } | undefined {
  if (groups < MIN_GROUPS_TO_MERGE || qs.length === 0) return undefined;
  let total = 0;
  for (let i = 0; i < HISTOGRAM_BUCKETS; i++) total += dense[i] as number;
  if (!(total > 0)) return undefined;
  const lowRank = ((qs[0] as number) / 2) * (total - 1);
  const highRank = (1 - (1 - (qs[qs.length - 1] as number)) / 5) * (total - 1);
  let cumulative = 0;
  let low = -1;
  let high = BLOCKS - 1;
  for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
    cumulative += dense[i] as number;
    if (low < 0 && cumulative > lowRank) low = Math.floor(i / BLOCK);
    if (cumulative > highRank) {
      high = Math.floor(i / BLOCK);
      break;
    }
  }
  return { low: Math.max(0, low), high };
}

/** Sides with fewer groups keep every block: a node's weight can move their quantiles far. */
const MIN_GROUPS_TO_MERGE = 8;

/** Resampling groups of a side with `nodes` nodes. */
export function groupCount(nodes: number): number {
  return Math.min(nodes, MAX_GROUPS);
}

/**
 * The group of a side's `ordinal`-th node (0-based) among `nodes`: its own when there are at
 * most `max` nodes, else one of `max` by a stable hash of its `key`.
 */
export function groupOf(ordinal: number, key: number, nodes: number, max = MAX_GROUPS): number {
  if (nodes <= max) return ordinal;
  // A 32-bit integer mix (murmur3's finaliser) of the node's key.
  let h = (key ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return h % max;
}

/** Replicate quantiles of both sides: `canary[q][r]`, `baseline[q][r]` (baseline null when not compared). */
export interface QuantileReplicates {
  canary: Float64Array[];
  baseline: Float64Array[] | null;
  /** Replicates in which every compared side had data (the arrays' used length). */
  count: number;
}

/**
 * Runs `replicates` bootstrap replicates of the quantiles `qs` of each side; `units` is the
 * number of comparison units (baseline groups' `unit`, canary groups' `units`). `random` is
 * the uniform draws, or a seed: then the draws are `mulberry32(seed)`'s, computed in place
 * (a function call per draw costs as much as the rest of a cell's draw).
 */
export function bootstrapQuantiles(
  canary: readonly BootstrapGroup[],
  baseline: readonly BootstrapGroup[] | null,
  qs: readonly number[],
  replicates: number,
  random: (() => number) | number,
  units = 0,
): QuantileReplicates {
  const uniforms = new Uniforms(random);
  const out: QuantileReplicates = {
    canary: qs.map(() => new Float64Array(replicates)),
    baseline: baseline === null ? null : qs.map(() => new Float64Array(replicates)),
    count: 0,
  };
  const cellsC = layOut(canary);
  const cellsB = baseline === null ? null : layOut(baseline);
  const blocksC = new Float64Array(BLOCKS);
  const blocksB = new Float64Array(BLOCKS);
  const multC = new Float64Array(canary.length);
  const multB = new Float64Array(baseline?.length ?? 0);
  const target = new Float64Array(units);
  const drawn = new Float64Array(units);
  for (let r = 0; r < replicates; r++) {
    // Stage one: every group's weight; the canaries' mass per unit follows from them.
    target.fill(0);
    for (let g = 0; g < canary.length; g++) {
      const c = canary[g] as BootstrapGroup;
      const w = poisson1(uniforms.next());
      multC[g] = w;
      if (w === 0) continue;
      for (let k = 0; k < c.units.length; k++) target[c.units[k] as number] = (target[c.units[k] as number] as number) + w * (c.masses[k] as number);
    }
    if (baseline !== null) {
      drawn.fill(0);
      for (let g = 0; g < baseline.length; g++) {
        const b = baseline[g] as BootstrapGroup;
        const w = poisson1(uniforms.next());
        multB[g] = w;
        if (b.unit >= 0) drawn[b.unit] = (drawn[b.unit] as number) + w * b.total;
      }
      // A unit whose every group drew 0 keeps its groups as they are: the canaries there
      // still need a baseline, and a lone node's weight cancels out in its unit anyway.
      for (let g = 0; g < baseline.length; g++) {
        const b = baseline[g] as BootstrapGroup;
        if (b.unit >= 0 && (drawn[b.unit] as number) === 0 && (target[b.unit] as number) > 0) multB[g] = 1;
      }
      drawn.fill(0);
      for (let g = 0; g < baseline.length; g++) {
        const b = baseline[g] as BootstrapGroup;
        if (b.unit >= 0) drawn[b.unit] = (drawn[b.unit] as number) + (multB[g] as number) * b.total;
      }
      // Each unit scaled to the canaries' drawn mass there (groups without a unit: as drawn).
      for (let g = 0; g < baseline.length; g++) {
        const b = baseline[g] as BootstrapGroup;
        if (b.unit < 0) continue;
        const d = drawn[b.unit] as number;
        multB[g] = d > 0 ? ((multB[g] as number) * (target[b.unit] as number)) / d : 0;
      }
    }
    // Stage two: the counts within each group.
    blocksC.fill(0);
    const totalC = drawSide(cellsC, multC, blocksC, uniforms);
    let totalB = 1;
    if (cellsB !== null) {
      blocksB.fill(0);
      totalB = drawSide(cellsB, multB, blocksB, uniforms);
    }
    // A replicate that left a side empty says nothing about its quantiles: skipped.
    if (!(totalC > 0 && totalB > 0)) continue;
    const k = out.count++;
    for (let i = 0; i < qs.length; i++) {
      const q = qs[i] as number;
      (out.canary[i] as Float64Array)[k] = quantileOf(cellsC, blocksC, totalC, q);
      if (out.baseline !== null && cellsB !== null) (out.baseline[i] as Float64Array)[k] = quantileOf(cellsB, blocksB, totalB, q);
    }
  }
  return out;
}

/**
 * The bootstrap's uniform draws in [0, 1): a given function's, or protocol's `mulberry32`
 * from a seed, its steps written out here so the draws of a side are one tight loop
 * (`fill`). The same seed gives the same draws either way (tested).
 */
class Uniforms {
  private state: number;
  private readonly random: (() => number) | null;

  constructor(random: (() => number) | number) {
    this.random = typeof random === 'number' ? null : random;
    this.state = typeof random === 'number' ? random >>> 0 : 0;
  }

  next(): number {
    if (this.random !== null) return this.random();
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    return mix(this.state);
  }

  /** The next `n` draws into `out`. */
  fill(out: Float64Array, n: number): void {
    const random = this.random;
    if (random !== null) {
      for (let i = 0; i < n; i++) out[i] = random();
      return;
    }
    let a = this.state;
    for (let i = 0; i < n; i++) {
      a = (a + 0x6d2b79f5) >>> 0;
      out[i] = mix(a);
    }
    this.state = a;
  }
}

/** mulberry32's output for state `a` (packages/protocol/src/seeded-random.ts). */
function mix(a: number): number {
  let t = a;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

/** A Poisson(1) draw from the uniform draw `u`. */
function poisson1(u: number): number {
  let w = 0;
  while (w < 11 && u > (POISSON1_CDF[w] as number)) w++;
  return w;
}

/** A Poisson draw by inversion stops at this count (the loop's bound; unreachable below `NORMAL_FROM` but for rounding). */
const MAX_INVERSION = 200;

/**
 * One side's cells, every group's one after another in flat arrays (`layOut`), for the
 * draws: a replicate reads them in order, without an object per group. Replicates differ
 * only in their draws, so everything that depends on a cell alone is computed here once
 * per bootstrap instead of once per replicate — above all each small count's Poisson
 * cumulative probabilities, which inversion otherwise adds up anew on every draw.
 */
interface SideCells {
  /** First cell of each group, then the end: group g's cells are from[g] … from[g + 1] − 1. */
  from: Int32Array;
  block: Int32Array;
  mean: Float64Array;
  /** Cells drawn from the normal approximation: the standard deviation. */
  sd: Float64Array;
  /** Cells drawn by inversion: mean / n, what one drawn count weighs. */
  perCount: Float64Array;
  /** Cells drawn by inversion: where their cumulative probabilities start in `cdf` (−1: normal cells), and how many. */
  cdfFrom: Int32Array;
  cdfLength: Int32Array;
  /**
   * Poisson(n) cumulative probabilities F(0), F(1), … of each inversion cell, summed exactly
   * as inversion sums them (p₀ = e^−n, pₖ = pₖ₋₁ · (n / k), F(k) = F(k − 1) + pₖ), so a
   * search of the table finds the count inversion finds. A table ends at `MAX_INVERSION`,
   * or earlier once F stops changing past the mode (the terms only shrink from there: a
   * draw above the last F is `MAX_INVERSION`, as inversion's loop would end).
   */
  cdf: Float64Array;
  /** Each cell's bucket counts, `BLOCK` per cell. */
  fine: Float64Array;
  /** The cells of block b, in group order: cellsOfBlock[blockFrom[b] … blockFrom[b + 1] − 1]. */
  blockFrom: Int32Array;
  cellsOfBlock: Int32Array;
  /** Scratch: this replicate's draw of each cell, times its group's weight (0 for a group weighed 0). */
  drawn: Float64Array;
  /** Scratch: the factors (drawn / mean) of one block's cells. */
  factor: Float64Array;
  /** Scratch: this replicate's uniform draws, one per cell drawn. */
  uniform: Float64Array;
}

/** Lays out a side's groups for the draws (see `SideCells`). */
function layOut(groups: readonly BootstrapGroup[]): SideCells {
  let cells = 0;
  for (const g of groups) cells += g.block.length;
  const from = new Int32Array(groups.length + 1);
  const block = new Int32Array(cells);
  const mean = new Float64Array(cells);
  const sd = new Float64Array(cells);
  const perCount = new Float64Array(cells);
  const cdfFrom = new Int32Array(cells);
  const cdfLength = new Int32Array(cells);
  const fine = new Float64Array(cells * BLOCK);
  const perBlock = new Int32Array(BLOCKS + 1);
  let cdf = new Float64Array(64);
  let cdfUsed = 0;
  let c = 0;
  for (let gi = 0; gi < groups.length; gi++) {
    const g = groups[gi] as BootstrapGroup;
    from[gi] = c;
    for (let j = 0; j < g.block.length; j++, c++) {
      const n = g.effective[j] as number;
      const m = g.mean[j] as number;
      block[c] = g.block[j] as number;
      mean[c] = m;
      perBlock[(g.block[j] as number) + 1] = (perBlock[(g.block[j] as number) + 1] as number) + 1;
      for (let k = 0; k < BLOCK; k++) fine[c * BLOCK + k] = g.fine[j * BLOCK + k] as number;
      if (n >= NORMAL_FROM) {
        sd[c] = g.sd[j] as number;
        cdfFrom[c] = -1;
        continue;
      }
      perCount[c] = m / n;
      if (cdf.length - cdfUsed < MAX_INVERSION) {
        const grown = new Float64Array(Math.max(cdf.length * 2, cdfUsed + MAX_INVERSION));
        grown.set(cdf.subarray(0, cdfUsed));
        cdf = grown;
      }
      cdfFrom[c] = cdfUsed;
      let p = g.expNeg[j] as number;
      let f = p;
      cdf[cdfUsed++] = f;
      for (let k = 1; k < MAX_INVERSION; k++) {
        p *= n / k;
        const next = f + p;
        // Past the mode p only shrinks, so once adding it leaves F as it is, every later term does too.
        if (next === f && k >= n) break;
        f = next;
        cdf[cdfUsed++] = f;
      }
      cdfLength[c] = cdfUsed - (cdfFrom[c] as number);
    }
  }
  from[groups.length] = c;
  // The cells of each block, in group order (a counting sort: groups are laid out in order).
  for (let b = 0; b < BLOCKS; b++) perBlock[b + 1] = (perBlock[b + 1] as number) + (perBlock[b] as number);
  const blockFrom = perBlock.slice();
  const cellsOfBlock = new Int32Array(cells);
  for (let k = 0; k < cells; k++) {
    const b = block[k] as number;
    cellsOfBlock[perBlock[b] as number] = k;
    perBlock[b] = (perBlock[b] as number) + 1;
  }
  return {
    from,
    block,
    mean,
    sd,
    perCount,
    cdfFrom,
    cdfLength,
    cdf,
    fine,
    blockFrom,
    cellsOfBlock,
    drawn: new Float64Array(cells),
    factor: new Float64Array(groups.length),
    uniform: new Float64Array(cells),
  };
}

/** Draws one replicate of a side, each group scaled by `mult`, into per-block totals (and each cell's draw); returns the total. */
function drawSide(s: SideCells, mult: Float64Array, blocks: Float64Array, uniforms: Uniforms): number {
  const { from, block, mean, sd, perCount, cdfFrom, cdfLength, cdf, drawn, uniform } = s;
  const groups = from.length - 1;
  // One draw per cell of every group weighed more than 0, in cell order: drawn first, all at once.
  let draws = 0;
  for (let g = 0; g < groups; g++) if ((mult[g] as number) !== 0) draws += (from[g + 1] as number) - (from[g] as number);
  uniforms.fill(uniform, draws);
  let u = 0;
  let total = 0;
  for (let g = 0; g < groups; g++) {
    const w = mult[g] as number;
    const first = from[g] as number;
    const end = from[g + 1] as number;
    if (w === 0) {
      drawn.fill(0, first, end);
      continue;
    }
    for (let j = first; j < end; j++) {
      const v = uniform[u++] as number;
      const t = cdfFrom[j] as number;
      let x: number;
      if (t < 0) {
        x = (mean[j] as number) + (sd[j] as number) * (NORMAL_TABLE[(v * 4096) | 0] as number);
        if (x < 0) x = 0;
      } else {
        // Poisson(n) by inversion: the first count whose cumulative probability reaches v.
        const last = t + (cdfLength[j] as number);
        let k = t;
        while (k < last && v > (cdf[k] as number)) k++;
        x = (k === last ? MAX_INVERSION : k - t) * (perCount[j] as number);
      }
      const wx = w * x;
      drawn[j] = wx;
      const b = block[j] as number;
      blocks[b] = (blocks[b] as number) + wx;
      total += wx;
    }
  }
  return total;
}

/** The q-quantile of a drawn side, read as `denseQuantile` reads a histogram (rank q · (total − 1)). */
function quantileOf(s: SideCells, blocks: Float64Array, total: number, q: number): number {
  const rank = q * (total - 1);
  let cumulative = 0;
  let lastBlock = 0;
  for (let b = 0; b < BLOCKS; b++) {
    const c = blocks[b] as number;
    if (c === 0) continue;
    lastBlock = b;
    if (cumulative + c <= rank) {
      cumulative += c;
      continue;
    }
    // The quantile is in this block: read its buckets, each cell's counts scaled by its draw.
    const { cellsOfBlock, drawn, mean, fine, factor } = s;
    const first = s.blockFrom[b] as number;
    const cells = (s.blockFrom[b + 1] as number) - first;
    for (let i = 0; i < cells; i++) {
      const cell = cellsOfBlock[first + i] as number;
      factor[i] = (drawn[cell] as number) / (mean[cell] as number);
    }
    let last = b * BLOCK;
    for (let k = 0; k < BLOCK; k++) {
      let sum = 0;
      for (let i = 0; i < cells; i++) sum += (factor[i] as number) * (fine[(cellsOfBlock[first + i] as number) * BLOCK + k] as number);
      if (sum === 0) continue;
      last = b * BLOCK + k;
      cumulative += sum;
      if (cumulative > rank) return BUCKET_VALUES[last] as number;
    }
    return BUCKET_VALUES[last] as number;
  }
  return BUCKET_VALUES[Math.min(lastBlock * BLOCK + BLOCK - 1, HISTOGRAM_BUCKETS - 1)] as number;
}

/** The central interval holding `confidence` of `values` (its first `count` entries): the percentile interval. */
export function percentileInterval(values: Float64Array, count: number, confidence: number): { low: number; high: number } | null {
  if (count === 0) return null;
  const sorted = values.slice(0, count).sort();
  const tail = (1 - confidence) / 2;
  const at = (p: number): number => sorted[Math.min(count - 1, Math.max(0, Math.round(p * (count - 1))))] as number;
  return { low: at(tail), high: at(1 - tail) };
}
