import { bucketValue, denseCounts, denseQuantile, HISTOGRAM_BUCKETS, histogramOf, type LatencyHistogram, mulberry32 } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { normalQuantile } from '../../../src/rollouts/analysis/binomial.js';
import {
  analysisRange,
  BLOCK,
  type BootstrapGroup,
  bootstrapQuantiles,
  GroupBuilder,
  groupCount,
  groupOf,
  MAX_GROUPS,
  percentileInterval,
} from '../../../src/rollouts/analysis/bootstrap.js';

/** Per-node histograms: log-normal bodies around `medianMs`, each node a little faster or slower (seeded). */
function fleet(nodes: number, medianMs: number, requests: number, seed: number): LatencyHistogram[] {
  const random = mulberry32(seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return Array.from({ length: nodes }, () => {
    const speed = Math.exp(0.1 * normal());
    return histogramOf(Array.from({ length: requests }, () => medianMs * speed * Math.exp(0.3 * normal())));
  });
}

function groups(hs: LatencyHistogram[]) {
  const b = new GroupBuilder(groupCount(hs.length));
  hs.forEach((h, i) => {
    b.add(groupOf(i, i, hs.length), h);
  });
  return b.build();
}

/** The P95 ratio's percentile interval at 95 % (canary / baseline). */
function ratioInterval(canary: LatencyHistogram[], baseline: LatencyHistogram[], seed: number) {
  const r = bootstrapQuantiles(groups(canary), groups(baseline), [0.95], 200, mulberry32(seed));
  const c = r.canary[0] as Float64Array;
  const b = r.baseline?.[0] as Float64Array;
  const ratios = Float64Array.from({ length: r.count }, (_, i) => (c[i] as number) / (b[i] as number));
  return percentileInterval(ratios, r.count, 0.95);
}

describe('bootstrap of latency quantiles', () => {
  it('A/A: identical releases give an interval that covers 1', () => {
    const i = ratioInterval(fleet(10, 20, 100, 1), fleet(40, 20, 100, 2), 7);
    expect(i?.low).toBeLessThanOrEqual(1);
    expect(i?.high).toBeGreaterThanOrEqual(1);
    expect((i?.high ?? 0) - (i?.low ?? 0)).toBeLessThan(0.4);
  });

  it('A/A over 20 fleets: the 95 % interval covers 1 at least 17 times', () => {
    let covered = 0;
    for (let k = 0; k < 20; k++) {
      const i = ratioInterval(fleet(8, 20, 60, 100 + k), fleet(30, 20, 60, 200 + k), k);
      if (i !== null && i.low <= 1 && i.high >= 1) covered++;
    }
    expect(covered).toBeGreaterThanOrEqual(17);
  });

  it('a 2× regression on enough data: the whole interval is far above 1.5', () => {
    const i = ratioInterval(fleet(10, 40, 100, 3), fleet(40, 20, 100, 4), 7);
    expect(i?.low).toBeGreaterThan(1.6);
    expect(i?.high).toBeLessThan(2.5);
  });

  it('a single canary node: still an interval, from its requests alone', () => {
    const i = ratioInterval(fleet(1, 20, 300, 5), fleet(20, 20, 100, 6), 7);
    expect(i).not.toBeNull();
    expect(i?.low).toBeLessThan(1.05);
    expect(i?.high).toBeGreaterThan(0.95);
  });

  it('more data, a narrower interval', () => {
    const small = ratioInterval(fleet(5, 20, 50, 8), fleet(20, 20, 50, 9), 7);
    const large = ratioInterval(fleet(30, 20, 500, 8), fleet(100, 20, 500, 9), 7);
    expect((large?.high ?? 0) - (large?.low ?? 0)).toBeLessThan(((small?.high ?? 0) - (small?.low ?? 0)) / 2);
  });

  it('deterministic for the same seed, different for another', () => {
    const canary = fleet(10, 20, 100, 1);
    const baseline = fleet(40, 20, 100, 2);
    const a = bootstrapQuantiles(groups(canary), groups(baseline), [0.5, 0.95], 50, mulberry32(42));
    const b = bootstrapQuantiles(groups(canary), groups(baseline), [0.5, 0.95], 50, mulberry32(42));
    const c = bootstrapQuantiles(groups(canary), groups(baseline), [0.5, 0.95], 50, mulberry32(43));
    expect(Array.from(a.canary[1] as Float64Array)).toEqual(Array.from(b.canary[1] as Float64Array));
    expect(Array.from(a.baseline?.[1] as Float64Array)).toEqual(Array.from(b.baseline?.[1] as Float64Array));
    expect(Array.from(a.canary[1] as Float64Array)).not.toEqual(Array.from(c.canary[1] as Float64Array));
  });

  it('replicates centre on the point estimate and read quantiles at the histogram resolution', () => {
    const hs = fleet(20, 20, 200, 11);
    const dense = denseCounts();
    for (const h of hs) for (let j = 0; j < h.counts.length; j++) dense[h.offset + j] = (dense[h.offset + j] as number) + (h.counts[j] as number);
    const point = denseQuantile(dense, 0.95) as number;
    const r = bootstrapQuantiles(groups(hs), null, [0.95], 200, mulberry32(1));
    const sorted = Array.from((r.canary[0] as Float64Array).subarray(0, r.count)).sort((x, y) => x - y);
    const median = sorted[Math.floor(sorted.length / 2)] as number;
    expect(Math.abs(median / point - 1)).toBeLessThan(0.03);
    expect(new Set(sorted).size).toBeGreaterThan(3);
  });

  it('nodes beyond MAX_GROUPS share groups by a stable hash; fewer keep their own', () => {
    expect(groupCount(5)).toBe(5);
    expect(groupCount(1000)).toBe(MAX_GROUPS);
    expect([0, 1, 2, 3, 4].map((i) => groupOf(i, 100 + i, 5))).toEqual([0, 1, 2, 3, 4]);
    const seen = new Set(Array.from({ length: 1000 }, (_, i) => groupOf(i, i, 1000)));
    expect(seen.size).toBe(MAX_GROUPS);
    expect(groupOf(7, 12345, 1000)).toBe(groupOf(900, 12345, 1000));
  });

  it('drawing the tails outside the analysed range as one cell each: fewer cells, the same intervals', () => {
    // Heavy tails: 2 % of requests 5–50× slower, spread thin over many buckets.
    const random = mulberry32(3);
    const hs = Array.from({ length: 64 }, () =>
      histogramOf(Array.from({ length: 200 }, () => 10 * Math.exp(0.3 * (random() + random() + random() - 1.5)) * (random() < 0.02 ? 5 + 45 * random() : 1))),
    );
    const builder = new GroupBuilder(groupCount(hs.length));
    hs.forEach((h, i) => {
      builder.add(groupOf(i, i, hs.length), h);
    });
    const range = analysisRange(builder.dense(), [0.95], builder.groups);
    expect(range).toBeDefined();
    const all = builder.build();
    const merged = builder.build(range);
    const cells = (gs: typeof all) => gs.reduce((n, g) => n + g.block.length, 0);
    expect(cells(merged)).toBeLessThan(cells(all) * 0.85);
    const p95 = (gs: typeof all) => {
      const r = bootstrapQuantiles(gs, null, [0.95], 200, mulberry32(9));
      return percentileInterval(r.canary[0] as Float64Array, r.count, 0.95);
    };
    const a = p95(all);
    const b = p95(merged);
    expect(Math.abs((b?.low ?? 0) / (a?.low ?? 1) - 1)).toBeLessThan(0.03);
    expect(Math.abs((b?.high ?? 0) / (a?.high ?? 1) - 1)).toBeLessThan(0.03);
    // Few groups: every block is kept (a node's weight can move a quantile far).
    expect(analysisRange(builder.dense(), [0.95], 4)).toBeUndefined();
  });

  it('percentile interval of known values', () => {
    const values = Float64Array.from({ length: 201 }, (_, i) => i);
    expect(percentileInterval(values, 201, 0.95)).toEqual({ low: 5, high: 195 });
    expect(percentileInterval(values, 0, 0.95)).toBeNull();
  });

  it('draws what straightforward inversion draws, replicate for replicate, in the same order', () => {
    // The draws read precomputed tables (each small count's Poisson cumulative probabilities,
    // cells laid out flat); `straightforward` below adds the probabilities up on every draw,
    // as the bootstrap did before. Every replicate must be the same number: verdicts, and the
    // runs of a bench:gates measurement made in chunks, depend on it.
    const random = mulberry32(5);
    const hist = (median: number, requests: number) =>
      histogramOf(Array.from({ length: requests }, () => median * Math.exp(0.4 * (random() + random() + random() - 1.5)) * (random() < 0.03 ? 8 : 1)));
    for (const [nodes, requests, weighted] of [
      [6, 30, false],
      [40, 400, false],
      [12, 60, true],
      [3, 8, true],
    ] as const) {
      const units = 3;
      const canary = new GroupBuilder(groupCount(nodes), { units });
      const unitOf = Array.from({ length: 2 * units }, (_, g) => g % units);
      const baseline = new GroupBuilder(unitOf.length, { unitOf });
      for (let i = 0; i < nodes; i++) {
        // Weights spread the effective counts over the inversion and normal ranges alike.
        canary.add(groupOf(i, i, nodes), hist(20, requests), weighted ? 0.3 + 2 * random() : 1);
        canary.addMass(groupOf(i, i, nodes), i % units, requests);
        baseline.add(i % unitOf.length, hist(18, 2 * requests), weighted ? 0.5 + random() : 1);
      }
      const qs = [0.5, 0.95, 0.99];
      for (const range of [undefined, analysisRange(canary.dense(), qs, canary.groups)]) {
        const c = canary.build(range);
        const b = baseline.build(range);
        const fast = bootstrapQuantiles(c, b, qs, 100, mulberry32(nodes), units);
        const slow = straightforward(c, b, qs, 100, mulberry32(nodes), units);
        expect(fast.count).toBe(slow.count);
        expect(fast.count).toBeGreaterThan(0);
        expect(fast.canary.map((a) => Array.from(a))).toEqual(slow.canary.map((a) => Array.from(a)));
        expect(fast.baseline?.map((a) => Array.from(a))).toEqual(slow.baseline?.map((a) => Array.from(a)));
        // A seed instead of the function: mulberry32's draws computed in place, the same replicates.
        const seeded = bootstrapQuantiles(c, b, qs, 100, nodes, units);
        expect(seeded.canary.map((a) => Array.from(a))).toEqual(slow.canary.map((a) => Array.from(a)));
        expect(seeded.baseline?.map((a) => Array.from(a))).toEqual(slow.baseline?.map((a) => Array.from(a)));
      }
    }
    // Counts drawn by inversion in these cases, so the tables are what was compared.
    const small = new GroupBuilder(2);
    small.add(0, histogramOf([10, 10, 11, 30]), 0.7);
    small.add(1, histogramOf([12, 12, 12, 13, 40]));
    expect(small.build().every((g) => Array.from(g.effective).some((n) => n < 10))).toBe(true);
  });
});

/** Φ⁻¹ table and Poisson(1) probabilities as bootstrap.ts builds them. */
const NORMAL = Float64Array.from({ length: 4096 }, (_, i) => normalQuantile((i + 0.5) / 4096));
const POISSON1 = (() => {
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
const BLOCKS = Math.ceil(HISTOGRAM_BUCKETS / BLOCK);

/** The bootstrap as it was before its tables: every draw adds up its own Poisson probabilities. */
function straightforward(
  canary: readonly BootstrapGroup[],
  baseline: readonly BootstrapGroup[] | null,
  qs: readonly number[],
  replicates: number,
  random: () => number,
  units: number,
) {
  const out = { canary: qs.map(() => new Float64Array(replicates)), baseline: baseline === null ? null : qs.map(() => new Float64Array(replicates)), count: 0 };
  const poisson1 = (): number => {
    const u = random();
    let w = 0;
    while (w < 11 && u > (POISSON1[w] as number)) w++;
    return w;
  };
  const factors = new Map<BootstrapGroup, Float64Array>();
  const draw = (groups: readonly BootstrapGroup[], mult: Float64Array, blocks: Float64Array): number => {
    let total = 0;
    groups.forEach((g, gi) => {
      const factor = new Float64Array(g.block.length);
      factors.set(g, factor);
      const w = mult[gi] as number;
      if (w === 0) return;
      for (let j = 0; j < g.block.length; j++) {
        const n = g.effective[j] as number;
        const m = g.mean[j] as number;
        let x: number;
        if (n >= 10) {
          x = m + (g.sd[j] as number) * (NORMAL[(random() * 4096) | 0] as number);
          if (x < 0) x = 0;
        } else {
          const v = random();
          let p = g.expNeg[j] as number;
          let f = p;
          let k = 0;
          while (v > f && k < 200) {
            k++;
            p *= n / k;
            f += p;
          }
          x = k * (m / n);
        }
        const wx = w * x;
        factor[j] = wx / m;
        blocks[g.block[j] as number] = (blocks[g.block[j] as number] as number) + wx;
        total += wx;
      }
    });
    return total;
  };
  const quantile = (groups: readonly BootstrapGroup[], blocks: Float64Array, total: number, q: number): number => {
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
      let last = b * BLOCK;
      for (let k = 0; k < BLOCK; k++) {
        let fine = 0;
        for (const g of groups) {
          const j = g.cellOf[b] as number;
          if (j >= 0) fine += ((factors.get(g) as Float64Array)[j] as number) * (g.fine[j * BLOCK + k] as number);
        }
        if (fine === 0) continue;
        last = b * BLOCK + k;
        cumulative += fine;
        if (cumulative > rank) return bucketValue(last);
      }
      return bucketValue(last);
    }
    return bucketValue(Math.min(lastBlock * BLOCK + BLOCK - 1, HISTOGRAM_BUCKETS - 1));
  };
  const multC = new Float64Array(canary.length);
  const multB = new Float64Array(baseline?.length ?? 0);
  for (let r = 0; r < replicates; r++) {
    const target = new Float64Array(units);
    canary.forEach((c, g) => {
      const w = poisson1();
      multC[g] = w;
      if (w !== 0)
        for (let k = 0; k < c.units.length; k++) target[c.units[k] as number] = (target[c.units[k] as number] as number) + w * (c.masses[k] as number);
    });
    if (baseline !== null) {
      const drawn = new Float64Array(units);
      baseline.forEach((b, g) => {
        const w = poisson1();
        multB[g] = w;
        if (b.unit >= 0) drawn[b.unit] = (drawn[b.unit] as number) + w * b.total;
      });
      baseline.forEach((b, g) => {
        if (b.unit >= 0 && drawn[b.unit] === 0 && (target[b.unit] as number) > 0) multB[g] = 1;
      });
      drawn.fill(0);
      baseline.forEach((b, g) => {
        if (b.unit >= 0) drawn[b.unit] = (drawn[b.unit] as number) + (multB[g] as number) * b.total;
      });
      baseline.forEach((b, g) => {
        if (b.unit < 0) return;
        const d = drawn[b.unit] as number;
        multB[g] = d > 0 ? ((multB[g] as number) * (target[b.unit] as number)) / d : 0;
      });
    }
    const blocksC = new Float64Array(BLOCKS);
    const totalC = draw(canary, multC, blocksC);
    const blocksB = new Float64Array(BLOCKS);
    const totalB = baseline === null ? 1 : draw(baseline, multB, blocksB);
    if (!(totalC > 0 && totalB > 0)) continue;
    const k = out.count++;
    qs.forEach((q, i) => {
      (out.canary[i] as Float64Array)[k] = quantile(canary, blocksC, totalC, q);
      if (out.baseline !== null && baseline !== null) (out.baseline[i] as Float64Array)[k] = quantile(baseline, blocksB, totalB, q);
    });
  }
  return out;
}
