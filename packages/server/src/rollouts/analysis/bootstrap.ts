/**
 * A two-stage Poisson bootstrap of latency quantiles over per-node histograms.
 *
 * Nodes are grouped into at most `MAX_GROUPS` groups per side (one group per node when there
 * are that few). Each replicate weights every group by Poisson(1) (stage one: which nodes
 * happened to be picked, and their speed) and every bucket count c of a group by Poisson(c)
 * (stage two: which requests happened to arrive), then reads the quantiles of each side's
 * re-weighted histogram. The spread of the replicates is the uncertainty of the quantiles,
 * without assuming any shape for latency.
 *
 * A bucket may carry a weight (the baseline re-weighted to the canaries' mix): it is then
 * drawn as Poisson(n) × (mean / n) with n = mean² / variance, which has the bucket's mean and
 * variance exactly. Large counts use the normal approximation (from a table: no logarithms in
 * the inner loop). Cost: replicates × non-empty (group, bucket) cells.
 */
import { bucketValue, HISTOGRAM_BUCKETS, type LatencyHistogram } from '@edgefleet/protocol';
import { normalQuantile } from './binomial.js';

/** At most this many resampling groups per side: enough for the between-node spread, few enough to stay cheap. */
export const MAX_GROUPS = 32;

/** Counts at or above this are drawn from the normal approximation. */
const NORMAL_FROM = 20;

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

/** One group's non-empty buckets. */
export interface BootstrapGroup {
  index: Int32Array;
  /** Weighted count of each bucket. */
  mean: Float64Array;
  /** Effective count n = mean² / variance (the count itself when unweighted). */
  effective: Float64Array;
}

/** Accumulates histograms into the groups of one side. */
export class GroupBuilder {
  private readonly mean: Float64Array;
  private readonly variance: Float64Array;
  private readonly used: Uint8Array;

  constructor(readonly groups: number) {
    this.mean = new Float64Array(groups * HISTOGRAM_BUCKETS);
    this.variance = new Float64Array(groups * HISTOGRAM_BUCKETS);
    this.used = new Uint8Array(groups);
  }

  /** Adds `weight` × `h` to group `g` (a weighted count has variance weight² × count). */
  add(g: number, h: LatencyHistogram, weight = 1): void {
    const base = g * HISTOGRAM_BUCKETS + h.offset;
    const w2 = weight * weight;
    const { counts } = h;
    for (let j = 0; j < counts.length; j++) {
      const c = counts[j] as number;
      if (c === 0) continue;
      this.mean[base + j] = (this.mean[base + j] as number) + c * weight;
      this.variance[base + j] = (this.variance[base + j] as number) + c * w2;
    }
    this.used[g] = 1;
  }

  /** The non-empty groups, compacted. */
  build(): BootstrapGroup[] {
    const out: BootstrapGroup[] = [];
    for (let g = 0; g < this.groups; g++) {
      if (this.used[g] === 0) continue;
      const base = g * HISTOGRAM_BUCKETS;
      let cells = 0;
      for (let i = 0; i < HISTOGRAM_BUCKETS; i++) if ((this.mean[base + i] as number) > 0) cells++;
      if (cells === 0) continue;
      const group: BootstrapGroup = { index: new Int32Array(cells), mean: new Float64Array(cells), effective: new Float64Array(cells) };
      let k = 0;
      for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
        const m = this.mean[base + i] as number;
        if (m <= 0) continue;
        group.index[k] = i;
        group.mean[k] = m;
        group.effective[k] = (m * m) / (this.variance[base + i] as number);
        k++;
      }
      out.push(group);
    }
    return out;
  }
}

/** Resampling groups of a side with `nodes` nodes. */
export function groupCount(nodes: number): number {
  return Math.min(nodes, MAX_GROUPS);
}

/**
 * The group of a side's `ordinal`-th node (0-based): its own when the side has at most
 * `MAX_GROUPS` nodes, else by a stable hash of its `key`.
 */
export function groupOf(ordinal: number, key: number, nodes: number): number {
  if (nodes <= MAX_GROUPS) return ordinal;
  // A 32-bit integer mix (murmur3's finaliser) of the node's key.
  let h = (key ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return h % MAX_GROUPS;
}

/** Replicate quantiles of both sides: `canary[q][r]`, `baseline[q][r]` (baseline null when not compared). */
export interface QuantileReplicates {
  canary: Float64Array[];
  baseline: Float64Array[] | null;
  /** Replicates in which every compared side had data (the arrays' used length). */
  count: number;
}

/** Runs `replicates` bootstrap replicates of the quantiles `qs` (ascending) of each side. */
export function bootstrapQuantiles(
  canary: readonly BootstrapGroup[],
  baseline: readonly BootstrapGroup[] | null,
  qs: readonly number[],
  replicates: number,
  random: () => number,
): QuantileReplicates {
  const out: QuantileReplicates = {
    canary: qs.map(() => new Float64Array(replicates)),
    baseline: baseline === null ? null : qs.map(() => new Float64Array(replicates)),
    count: 0,
  };
  const denseC = new Float64Array(HISTOGRAM_BUCKETS);
  const denseB = new Float64Array(HISTOGRAM_BUCKETS);
  const valuesC = new Float64Array(qs.length);
  const valuesB = new Float64Array(qs.length);
  for (let r = 0; r < replicates; r++) {
    denseC.fill(0);
    const totalC = drawSide(canary, denseC, random);
    let totalB = 1;
    if (baseline !== null) {
      denseB.fill(0);
      totalB = drawSide(baseline, denseB, random);
    }
    // A replicate that left a side empty says nothing about its quantiles: skipped.
    if (!(totalC > 0 && totalB > 0)) continue;
    quantilesOf(denseC, totalC, qs, valuesC);
    if (baseline !== null) quantilesOf(denseB, totalB, qs, valuesB);
    const k = out.count++;
    for (let i = 0; i < qs.length; i++) {
      (out.canary[i] as Float64Array)[k] = valuesC[i] as number;
      if (out.baseline !== null) (out.baseline[i] as Float64Array)[k] = valuesB[i] as number;
    }
  }
  return out;
}

function drawSide(groups: readonly BootstrapGroup[], dense: Float64Array, random: () => number): number {
  let total = 0;
  for (const g of groups) {
    const u = random();
    let w = 0;
    while (w < 11 && u > (POISSON1_CDF[w] as number)) w++;
    if (w === 0) continue;
    const { index, mean, effective } = g;
    for (let j = 0; j < index.length; j++) {
      const n = effective[j] as number;
      const m = mean[j] as number;
      let x: number;
      if (n >= NORMAL_FROM) {
        x = m + (m / Math.sqrt(n)) * (NORMAL_TABLE[(random() * 4096) | 0] as number);
        if (x < 0) x = 0;
      } else {
        // Poisson(n) by inversion, scaled to the weighted mean.
        const v = random();
        let p = Math.exp(-n);
        let f = p;
        let k = 0;
        while (v > f && k < 200) {
          k++;
          p *= n / k;
          f += p;
        }
        x = k * (m / n);
      }
      if (x === 0) continue;
      dense[index[j] as number] = (dense[index[j] as number] as number) + w * x;
      total += w * x;
    }
  }
  return total;
}

/** Quantiles `qs` (ascending) of a dense histogram of total `total`, as `denseQuantile` reads them. */
export function quantilesOf(dense: Float64Array, total: number, qs: readonly number[], out: Float64Array): void {
  let q = 0;
  let cumulative = 0;
  let last = 0;
  for (let i = 0; i < HISTOGRAM_BUCKETS && q < qs.length; i++) {
    const c = dense[i] as number;
    if (c === 0) continue;
    last = i;
    cumulative += c;
    while (q < qs.length && cumulative > (qs[q] as number) * (total - 1)) out[q++] = BUCKET_VALUES[i] as number;
  }
  while (q < qs.length) out[q++] = BUCKET_VALUES[last] as number;
}

/** The central interval holding `confidence` of `values` (its first `count` entries): the percentile interval. */
export function percentileInterval(values: Float64Array, count: number, confidence: number): { low: number; high: number } | null {
  if (count === 0) return null;
  const sorted = values.slice(0, count).sort();
  const tail = (1 - confidence) / 2;
  const at = (p: number): number => sorted[Math.min(count - 1, Math.max(0, Math.round(p * (count - 1))))] as number;
  return { low: at(tail), high: at(1 - tail) };
}
