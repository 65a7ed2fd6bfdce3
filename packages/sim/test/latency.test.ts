import { mulberry32 } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { bodyQuantileMs, type ComputeKind, inverseNormal, LATENCY_MODELS, sampleLatencyMs } from '../src/latency.js';

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

function draw(kind: ComputeKind, n: number, seed: number, multiplier = 1): number[] {
  const random = mulberry32(seed);
  return Array.from({ length: n }, () => sampleLatencyMs(kind, random, multiplier)).sort((a, b) => a - b);
}

describe('latency models', () => {
  it.each(Object.keys(LATENCY_MODELS) as ComputeKind[])('%s: quantiles of 40,000 draws sit where the model puts them', (kind) => {
    const xs = draw(kind, 40_000, 1);
    for (const q of [0.1, 0.5, 0.9, 0.95]) {
      const expected = bodyQuantileMs(kind, q);
      // The 1 % tail shifts body quantiles a little (q → about q / 0.99 of the body).
      expect(quantile(xs, q)).toBeGreaterThan(expected * 0.95);
      expect(quantile(xs, q)).toBeLessThan(expected * 1.08);
    }
    // The heavy tail: the top 0.3 % is far beyond the body's own 99.9th percentile.
    expect(quantile(xs, 0.997)).toBeGreaterThan(bodyQuantileMs(kind, 0.999) * 1.5);
  });

  it('ranks the accelerators as HARDWARE.md measures them; the CPU fallback is far slower', () => {
    const p50 = (k: ComputeKind): number => quantile(draw(k, 5_000, 2), 0.5);
    expect(p50('hailo8l')).toBeGreaterThan(12);
    expect(p50('hailo8l')).toBeLessThan(14.5);
    expect(p50('hailo8')).toBeLessThan(p50('hailo8l') / 1.8);
    expect(p50('hailo10h')).toBeLessThan(p50('hailo8'));
    expect(p50('cpu')).toBeGreaterThan(p50('hailo8l') * 8);
    expect(p50('coral-pcie')).toBeLessThan(p50('coral-usb'));
  });

  it('scales with a release multiplier', () => {
    const slow = draw('hailo8l', 5_000, 3, 3);
    const normal = draw('hailo8l', 5_000, 3);
    expect(quantile(slow, 0.95) / quantile(normal, 0.95)).toBeCloseTo(3, 5);
  });

  it('is deterministic per seed and differs across seeds', () => {
    expect(draw('hailo8', 100, 42)).toEqual(draw('hailo8', 100, 42));
    expect(draw('hailo8', 100, 42)).not.toEqual(draw('hailo8', 100, 43));
  });

  it('inverts the normal CDF', () => {
    expect(inverseNormal(0.5)).toBeCloseTo(0, 9);
    expect(inverseNormal(0.975)).toBeCloseTo(1.959964, 5);
    expect(inverseNormal(0.01)).toBeCloseTo(-2.326348, 5);
    expect(() => inverseNormal(1)).toThrow(RangeError);
  });
});
