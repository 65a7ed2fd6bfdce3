import { HISTOGRAM_BUCKETS, histogramOf, histogramQuantile, mulberry32 } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { type ComputeKind, sampleLatencyMs } from '../../packages/sim/src/latency.js';
import { LatencySampler, LN_GAMMA } from './latency-sampler.js';

const DRAWS = 200_000;

/** Quantiles of the sampler's buckets, read back as the histogram reads them. */
function samplerQuantiles(kind: ComputeKind, shift: number, seed: number): { p50: number; p95: number; p98: number; p995: number; failed: number } {
  const sampler = new LatencySampler(kind);
  const random = mulberry32(seed);
  const dense = new Array<number>(HISTOGRAM_BUCKETS).fill(0);
  let failed = 0;
  for (let i = 0; i < DRAWS; i++) {
    const b = sampler.bucket(shift, 0.01, random);
    if (b < 0) failed++;
    else dense[b] = (dense[b] as number) + 1;
  }
  const h = { v: 1 as const, offset: 0, counts: dense };
  const q = (p: number): number => histogramQuantile(h, p) as number;
  return { p50: q(0.5), p95: q(0.95), p98: q(0.98), p995: q(0.995), failed };
}

describe('LatencySampler', () => {
  // P99 sits where the 1 % tail meets the body, where a few draws move it by 20 %: the
  // body is checked below it and the tail above it.
  it.each(['hailo8l', 'hailo8', 'coral-pcie'] as const)("draws sampleLatencyMs's law for %s (P50, P95, P98 within 2 %, P99.5 within 3 %)", (kind) => {
    const random = mulberry32(11);
    const reference = histogramOf(Array.from({ length: DRAWS }, () => sampleLatencyMs(kind, random)));
    const mine = samplerQuantiles(kind, 0, 12);
    for (const [q, value, within] of [
      [0.5, mine.p50, 0.02],
      [0.95, mine.p95, 0.02],
      [0.98, mine.p98, 0.02],
      [0.995, mine.p995, 0.03],
    ] as const) {
      const ref = histogramQuantile(reference, q) as number;
      expect(Math.abs(value / ref - 1), `q ${q}: ${value} vs ${ref}`).toBeLessThan(within);
    }
  });

  it('multiplies every quantile by the multiplier whose log it is given', () => {
    const plain = samplerQuantiles('hailo8l', 0, 5);
    const slow = samplerQuantiles('hailo8l', Math.log(2) / LN_GAMMA, 5);
    // The same draws, shifted: the ratio is 2 within one bucket (γ ≈ 1.02).
    expect(slow.p95 / plain.p95).toBeGreaterThan(2 / 1.021);
    expect(slow.p95 / plain.p95).toBeLessThan(2 * 1.021);
    expect(slow.p50 / plain.p50).toBeCloseTo(2, 1);
  });

  it('fails the given share of requests', () => {
    const { failed } = samplerQuantiles('hailo8', 0, 3);
    expect(failed / DRAWS).toBeGreaterThan(0.009);
    expect(failed / DRAWS).toBeLessThan(0.011);
  });
});
