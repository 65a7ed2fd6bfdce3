import { denseCounts, denseQuantile, histogramOf, type LatencyHistogram, mulberry32 } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import {
  analysisRange,
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
});
