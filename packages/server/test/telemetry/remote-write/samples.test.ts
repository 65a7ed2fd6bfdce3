import { bucketIndex, HISTOGRAM_GAMMA, histogramOf, type TelemetrySeries } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { CounterTotals, classicBucketOf, LATENCY_BUCKETS_SECONDS, type PromSeries, toPromSeries } from '../../../src/telemetry/remote-write/samples.js';

const stamped = { node: 'pi-1', site: 'depot', deployment: 'detector', revision: '3' };

const byName = (out: PromSeries[], name: string, extra: Record<string, string> = {}): PromSeries => {
  const found = out.filter((s) => s.labels.__name__ === name && Object.entries(extra).every(([k, v]) => s.labels[k] === v));
  expect(found, `${name} ${JSON.stringify(extra)}`).toHaveLength(1);
  return found[0] as PromSeries;
};

describe('counters become running totals', () => {
  it('sends the cumulative value at each point, across batches, with the stamped labels', () => {
    const totals = new CounterTotals();
    const batch = (points: { t: number; inc: number }[]): TelemetrySeries[] => [
      { kind: 'counter', name: 'edgefleet_inference_requests_total', labels: { ...stamped, outcome: 'ok' }, points },
    ];
    const first = toPromSeries(
      batch([
        { t: 2_000, inc: 5 },
        { t: 1_000, inc: 3 },
      ]),
      totals,
    );
    const second = toPromSeries(batch([{ t: 3_000, inc: 7 }]), totals);
    expect(first).toEqual([
      {
        labels: { ...stamped, outcome: 'ok', __name__: 'edgefleet_inference_requests_total' },
        samples: [
          { t: 1_000, v: 3 },
          { t: 2_000, v: 8 },
        ],
      },
    ]);
    expect(second[0]?.samples).toEqual([{ t: 3_000, v: 15 }]);
  });

  it('keeps one total per label set, and starts again from 0 after a restart (a counter reset)', () => {
    const totals = new CounterTotals();
    const series = (outcome: string, inc: number): TelemetrySeries => ({
      kind: 'counter',
      name: 'c_total',
      labels: { ...stamped, outcome },
      points: [{ t: 1, inc }],
    });
    toPromSeries([series('ok', 10), series('error', 1)], totals);
    const out = toPromSeries([series('ok', 10), series('error', 1)], totals);
    expect(byName(out, 'c_total', { outcome: 'ok' }).samples[0]?.v).toBe(20);
    expect(byName(out, 'c_total', { outcome: 'error' }).samples[0]?.v).toBe(2);
    expect(toPromSeries([series('ok', 10)], new CounterTotals())[0]?.samples[0]?.v).toBe(10);
  });

  it('forgets a series idle for longer than idleMs', () => {
    let now = 0;
    const totals = new CounterTotals({ idleMs: 1_000, clock: () => now });
    const labels = { __name__: 'c_total', node: 'pi-1' };
    expect(totals.add(labels, 4)).toBe(4);
    now = 500;
    expect(totals.add(labels, 4)).toBe(8);
    now = 2_000;
    expect(totals.add({ __name__: 'other', node: 'pi-1' }, 1)).toBe(1);
    expect(totals.size).toBe(1);
    expect(totals.add(labels, 4)).toBe(4);
  });

  it('never lets a total go down on a negative or non-finite increase', () => {
    const totals = new CounterTotals();
    const labels = { __name__: 'c_total' };
    totals.add(labels, 5);
    expect(totals.add(labels, -3)).toBe(5);
    expect(totals.add(labels, Number.NaN)).toBe(5);
  });
});

describe('gauges', () => {
  it('become name (last), name_min and name_max', () => {
    const out = toPromSeries(
      [
        {
          kind: 'gauge',
          name: 'edgefleet_node_temperature_celsius',
          labels: { node: 'pi-1', site: 'depot' },
          points: [
            { t: 2_000, min: 50, max: 71, last: 66 },
            { t: 1_000, min: 48, max: 60, last: 55 },
          ],
        },
      ],
      new CounterTotals(),
    );
    expect(out.map((s) => s.labels.__name__)).toEqual([
      'edgefleet_node_temperature_celsius',
      'edgefleet_node_temperature_celsius_min',
      'edgefleet_node_temperature_celsius_max',
    ]);
    expect(out.map((s) => s.samples.map((p) => p.v))).toEqual([
      [55, 66],
      [48, 50],
      [60, 71],
    ]);
    expect(out[0]?.samples.map((p) => p.t)).toEqual([1_000, 2_000]);
  });
});

describe('latency histograms become classic Prometheus histograms in seconds', () => {
  it('counts cumulatively over the buckets and over time, with _sum in seconds and _count', () => {
    const first = [15, 15, 15, 15, 15, 25, 25, 25, 12_000, 12_000];
    const second = [0.05, 40];
    const name = 'edgefleet_inference_request_duration_seconds';
    const totals = new CounterTotals();
    const out = toPromSeries(
      [
        {
          kind: 'histogram',
          name,
          labels: stamped,
          points: [
            { t: 1_000, sumMs: first.reduce((a, b) => a + b), hist: histogramOf(first) },
            { t: 2_000, sumMs: second.reduce((a, b) => a + b), hist: histogramOf(second) },
          ],
        },
      ],
      totals,
    );
    const bucket = (le: string): number[] => byName(out, `${name}_bucket`, { le }).samples.map((p) => p.v);
    expect(out.filter((s) => s.labels.__name__ === `${name}_bucket`).map((s) => s.labels.le)).toEqual([
      '0.001',
      '0.0025',
      '0.005',
      '0.01',
      '0.02',
      '0.03',
      '0.05',
      '0.075',
      '0.1',
      '0.15',
      '0.2',
      '0.3',
      '0.5',
      '0.75',
      '1',
      '2.5',
      '5',
      '10',
      '+Inf',
    ]);
    expect(bucket('0.001')).toEqual([0, 1]);
    expect(bucket('0.01')).toEqual([0, 1]);
    expect(bucket('0.02')).toEqual([5, 6]);
    expect(bucket('0.03')).toEqual([8, 9]);
    expect(bucket('0.05')).toEqual([8, 10]);
    expect(bucket('10')).toEqual([8, 10]);
    expect(bucket('+Inf')).toEqual([10, 12]);
    expect(byName(out, `${name}_count`).samples.map((p) => p.v)).toEqual([10, 12]);
    const sums = byName(out, `${name}_sum`).samples.map((p) => p.v);
    expect(sums[0]).toBeCloseTo(24.15, 12);
    expect(sums[1]).toBeCloseTo(24.15 + 0.04005, 12);
    expect(byName(out, `${name}_bucket`, { le: '0.02' }).labels).toEqual({ ...stamped, le: '0.02', __name__: `${name}_bucket` });
  });

  it('never counts a value under an le below it, and lowers a boundary by at most a factor γ', () => {
    // Every value from 0.05 ms to 20 s, 0.1 % apart.
    for (let ms = 0.05; ms < 20_000; ms *= 1.001) {
      const le = classicBucketOf(bucketIndex(ms));
      const ideal = LATENCY_BUCKETS_SECONDS.find((b) => b >= ms / 1000) as number;
      expect(le).toBeGreaterThanOrEqual(ms / 1000);
      // Counted one classic bucket too high only when the value sits within a factor γ below the boundary.
      if (le !== ideal) expect(ms / 1000).toBeGreaterThan(ideal / HISTOGRAM_GAMMA);
    }
  });
});

describe('names and labels', () => {
  it('makes names valid for Prometheus, drops reserved and empty labels', () => {
    const out = toPromSeries(
      [
        {
          kind: 'gauge',
          name: 'edgefleet.cpu-use',
          labels: { node: 'pi-1', 'ai.accelerator': 'hailo8', __name__: 'forged', zone: '' },
          points: [{ t: 1, min: 0, max: 1, last: 1 }],
        },
      ],
      new CounterTotals(),
    );
    expect(out[0]?.labels).toEqual({ node: 'pi-1', ai_accelerator: 'hailo8', __name__: 'edgefleet_cpu_use' });
  });
});
