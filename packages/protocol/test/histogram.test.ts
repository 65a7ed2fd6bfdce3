import { describe, expect, it } from 'vitest';
import {
  addToDense,
  bucketIndex,
  bucketValue,
  denseCounts,
  denseQuantile,
  emptyHistogram,
  HISTOGRAM_ALPHA,
  HISTOGRAM_BUCKETS,
  HISTOGRAM_MAX_MS,
  HISTOGRAM_MIN_MS,
  histogramCount,
  histogramOf,
  histogramQuantile,
  type LatencyHistogram,
  LatencyHistogramSchema,
  mergeAllHistograms,
  mergeHistograms,
  recordLatency,
  WorkloadStatsSchema,
} from '../src/histogram.js';
import { mulberry32 } from '../src/seeded-random.js';

const rng = mulberry32;

/** Latencies shaped like inference: log-normal-ish around a median, with a tail. */
function latencies(random: () => number, n: number): number[] {
  const median = 0.5 + random() * 200;
  const spread = 0.1 + random() * 1.5;
  return Array.from({ length: n }, () => {
    const u = random() + random() + random() - 1.5; // ~ normal, sd 0.5
    return Math.min(60_000, Math.max(HISTOGRAM_MIN_MS, median * Math.exp(spread * 2 * u)));
  });
}

/** The exact quantile under the histogram's definition: rank ⌊q(n−1)⌋ of the sorted values. */
function exactQuantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(q * (sorted.length - 1))] as number;
}

const QUANTILES = [0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1];
// The bound is α exactly; floating-point rounding at a bucket boundary may add a hair.
const BOUND = HISTOGRAM_ALPHA + 1e-9;

describe('latency histogram layout', () => {
  it('has 667 log-spaced buckets from 0.1 ms to about 61 s', () => {
    expect(HISTOGRAM_BUCKETS).toBe(667);
    expect(HISTOGRAM_MAX_MS).toBeGreaterThan(60_000);
    expect(HISTOGRAM_MAX_MS).toBeLessThan(61_000);
    expect(bucketIndex(0)).toBe(0);
    expect(bucketIndex(-5)).toBe(0);
    expect(bucketIndex(HISTOGRAM_MIN_MS)).toBe(0);
    expect(bucketIndex(60_000)).toBe(HISTOGRAM_BUCKETS - 1);
    expect(bucketIndex(1e9)).toBe(HISTOGRAM_BUCKETS - 1);
    expect(() => bucketIndex(Number.NaN)).toThrow(RangeError);
  });

  it('reads every bucket back within α of any value it holds', () => {
    const random = rng(7);
    let worst = 0;
    for (let k = 0; k < 100_000; k++) {
      const v = HISTOGRAM_MIN_MS * Math.exp(random() * Math.log(60_000 / HISTOGRAM_MIN_MS));
      worst = Math.max(worst, Math.abs(bucketValue(bucketIndex(v)) - v) / v);
    }
    expect(worst).toBeLessThanOrEqual(BOUND);
    expect(worst).toBeGreaterThan(HISTOGRAM_ALPHA * 0.99); // the bound is tight, not loose
  });
});

describe('histogram operations', () => {
  it.each([
    ['one value', [12], 0.5, 12],
    ['the median of five', [5, 10, 50, 50, 50], 0.5, 50],
    ['the minimum', [5, 10, 50], 0, 5],
    ['the maximum', [5, 10, 50], 1, 50],
    ['P95 of 1…100', Array.from({ length: 100 }, (_, i) => i + 1), 0.95, 95],
  ])('quantile of %s', (_name, values, q, exact) => {
    const got = histogramQuantile(histogramOf(values), q) as number;
    expect(Math.abs(got - exact) / exact).toBeLessThanOrEqual(BOUND);
  });

  it('an empty histogram has no quantile and a count of 0', () => {
    expect(histogramQuantile(emptyHistogram(), 0.5)).toBeUndefined();
    expect(histogramCount(emptyHistogram())).toBe(0);
    expect(() => histogramQuantile(emptyHistogram(), 1.5)).toThrow(RangeError);
  });

  it('recordLatency grows the run both ways and counts repeats', () => {
    const h = emptyHistogram();
    recordLatency(h, 10);
    recordLatency(h, 100, 3);
    recordLatency(h, 1);
    recordLatency(h, 5, 0);
    expect(histogramCount(h)).toBe(5);
    expect(h.offset).toBe(bucketIndex(1));
    expect(h.counts.length).toBe(bucketIndex(100) - bucketIndex(1) + 1);
    expect(h).toEqual(histogramOf([10, 100, 100, 100, 1]));
    expect(() => recordLatency(h, 1, -1)).toThrow(RangeError);
  });

  it('merge leaves its inputs alone', () => {
    const a = histogramOf([1, 2, 3]);
    const b = histogramOf([300]);
    const before = JSON.stringify([a, b]);
    expect(histogramCount(mergeHistograms(a, b))).toBe(4);
    expect(JSON.stringify([a, b])).toBe(before);
    expect(mergeHistograms(emptyHistogram(), emptyHistogram())).toEqual(emptyHistogram());
  });

  it('weighted dense sums read quantiles as repeated values would', () => {
    const dense = denseCounts();
    addToDense(dense, histogramOf([10, 20]), 3);
    expect(denseQuantile(dense, 0.5)).toBe(histogramQuantile(histogramOf([10, 10, 10, 20, 20, 20]), 0.5));
  });
});

describe('histogram properties (seeded)', () => {
  it('quantiles of merged node histograms equal those of the histogram of the union', () => {
    const random = rng(42);
    for (let trial = 0; trial < 200; trial++) {
      const nodes = 1 + Math.floor(random() * 12);
      const parts = Array.from({ length: nodes }, () => latencies(random, Math.floor(random() * 300)));
      const histograms = parts.map((p) => histogramOf(p));
      const union = histogramOf(parts.flat());
      const pairwise = histograms.reduce<LatencyHistogram>((acc, h) => mergeHistograms(acc, h), emptyHistogram());
      const all = mergeAllHistograms(histograms);
      expect(pairwise).toEqual(union);
      expect(all).toEqual(union);
      for (const q of QUANTILES) expect(histogramQuantile(all, q)).toBe(histogramQuantile(union, q));
    }
  });

  it('merging is commutative and associative', () => {
    const random = rng(5);
    for (let trial = 0; trial < 100; trial++) {
      const [a, b, c] = [0, 1, 2].map(() => histogramOf(latencies(random, 50))) as [LatencyHistogram, LatencyHistogram, LatencyHistogram];
      expect(mergeHistograms(a, b)).toEqual(mergeHistograms(b, a));
      expect(mergeHistograms(mergeHistograms(a, b), c)).toEqual(mergeHistograms(a, mergeHistograms(b, c)));
    }
  });

  it('every quantile is within 1 % of the exact quantile of the recorded values', () => {
    const random = rng(1234);
    let checks = 0;
    let worst = 0;
    for (let trial = 0; trial < 300; trial++) {
      const values = latencies(random, 1 + Math.floor(random() * 2000));
      const h = histogramOf(values);
      expect(histogramCount(h)).toBe(values.length);
      const sorted = [...values].sort((a, b) => a - b);
      for (const q of QUANTILES) {
        const exact = exactQuantile(sorted, q);
        const got = histogramQuantile(h, q) as number;
        worst = Math.max(worst, Math.abs(got - exact) / exact);
        checks++;
      }
    }
    expect(checks).toBe(3000);
    expect(worst).toBeLessThanOrEqual(BOUND);
  });

  it('survives its JSON wire form unchanged', () => {
    const random = rng(9);
    for (let trial = 0; trial < 50; trial++) {
      const h = histogramOf(latencies(random, 100));
      const back = LatencyHistogramSchema.parse(JSON.parse(JSON.stringify(h)));
      expect(back).toEqual(h);
    }
  });
});

describe('wire schemas', () => {
  it.each([
    ['a wrong version', { v: 2, offset: 0, counts: [] }, ['v']],
    ['a negative count', { v: 1, offset: 3, counts: [1, -1] }, ['counts', 1]],
    ['a fractional count', { v: 1, offset: 3, counts: [1.5] }, ['counts', 0]],
    ['a run past the last bucket', { v: 1, offset: 660, counts: [1, 1, 1, 1, 1, 1, 1, 1] }, ['counts']],
    ['an offset past the last bucket', { v: 1, offset: 667, counts: [] }, ['offset']],
    ['an unknown field', { v: 1, offset: 0, counts: [], sum: 3 }, []],
  ])('LatencyHistogramSchema refuses %s', (_name, value, path) => {
    const parsed = LatencyHistogramSchema.safeParse(value);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(path);
  });

  const stats = {
    deployment: 'detector',
    revision: 3,
    intervalStart: 1_000,
    intervalEnd: 11_000,
    requests: 10,
    errors: 1,
    restarts: 0,
    fallback: false,
    latency: histogramOf([5, 6, 7, 8, 9]),
  };

  it('WorkloadStatsSchema accepts a report', () => {
    expect(WorkloadStatsSchema.parse(stats)).toEqual(stats);
  });

  it.each([
    ['more errors than requests', { errors: 11 }, ['errors']],
    ['an interval that ends before it starts', { intervalEnd: 500 }, ['intervalEnd']],
    ['more latencies than requests', { requests: 4, errors: 0 }, ['latency']],
    ['a revision 0', { revision: 0 }, ['revision']],
    ['a negative restart count', { restarts: -1 }, ['restarts']],
  ])('WorkloadStatsSchema refuses %s', (_name, patch, path) => {
    const parsed = WorkloadStatsSchema.safeParse({ ...stats, ...patch });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(path);
  });
});
