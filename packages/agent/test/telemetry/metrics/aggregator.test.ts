import {
  type CounterPoint,
  type GaugePoint,
  type HistogramPoint,
  histogramOf,
  mergeAllHistograms,
  mulberry32,
  TELEMETRY_PROFILES,
  type TelemetrySeries,
} from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { EdgeAggregator } from '../../../src/telemetry/metrics/aggregator.js';
import { MetricsRegistry } from '../../../src/telemetry/metrics/registry.js';
import { AgentMetrics } from '../../../src/telemetry/metrics/standard.js';

/** A clock the test moves by hand. */
function manualClock(start: number): { now: () => number; set: (t: number) => void } {
  let t = start;
  return {
    now: () => t,
    set: (v) => {
      t = v;
    },
  };
}

function find(series: TelemetrySeries[], name: string, labels: Record<string, string> = {}): TelemetrySeries | undefined {
  return series.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels));
}

/** Points of one series gathered over several `closeDue` calls. */
function points<P>(batches: TelemetrySeries[][], name: string, labels: Record<string, string> = {}): P[] {
  return batches.flatMap((b) => (find(b, name, labels)?.points ?? []) as P[]);
}

const RES = 15_000;
const T0 = 1_736_942_400_000; // 2025-01-15T12:00:00Z, a multiple of 15 s

describe('EdgeAggregator exactness', () => {
  it('loses nothing: increases add up to the counter total, interval histograms merge into the histogram of every observation', () => {
    for (const seed of [1, 7, 42]) {
      const random = mulberry32(seed);
      const clock = manualClock(T0 + 3_217);
      const agg = new EdgeAggregator(RES, clock.now);
      const metrics = new AgentMetrics(agg);
      const batches: TelemetrySeries[][] = [];
      const latencies: number[] = [];
      let requests = 0;
      let errors = 0;
      let sent = 0;
      for (let i = 0; i < 5_000; i++) {
        // Irregular gaps, sometimes landing exactly on a boundary, sometimes skipping intervals.
        const r = random();
        clock.set(clock.now() + (r < 0.02 ? RES * 3 : r < 0.05 ? RES - (clock.now() % RES) : Math.floor(random() * 400)));
        const ms = 0.05 + random() ** 3 * 2_000;
        const ok = random() > 0.1;
        metrics.inference('cam-detect', 3, ms, ok);
        if (ok) latencies.push(ms);
        else errors++;
        requests++;
        const bytes = Math.floor(random() * 5000);
        metrics.uplink(bytes, 10);
        sent += bytes;
        if (random() < 0.01) batches.push(agg.closeDue(clock.now()));
      }
      clock.set(clock.now() + RES + 1);
      batches.push(agg.closeDue(clock.now()));

      const labels = { deployment: 'cam-detect', revision: '3' };
      const sumInc = (name: string, l: Record<string, string>) => points<CounterPoint>(batches, name, l).reduce((a, p) => a + p.inc, 0);
      expect(sumInc('edgefleet_inference_requests_total', { ...labels, outcome: 'ok' })).toBe(requests - errors);
      expect(sumInc('edgefleet_inference_requests_total', { ...labels, outcome: 'error' })).toBe(errors);
      expect(sumInc('edgefleet_agent_uplink_sent_bytes_total', {})).toBe(sent);

      const hist = points<HistogramPoint>(batches, 'edgefleet_inference_request_duration_seconds', labels);
      expect(mergeAllHistograms(hist.map((p) => p.hist))).toEqual(histogramOf(latencies));
      const exactSum = latencies.reduce((a, b) => a + b, 0);
      expect(Math.abs(hist.reduce((a, p) => a + p.sumMs, 0) - exactSum) / exactSum).toBeLessThan(1e-12);
      // The registry (local /metrics) agrees with what the uplink carried.
      const reg = metrics.registry.get('edgefleet_inference_request_duration_seconds');
      expect(reg?.type === 'histogram' ? reg.all()[0]?.latency : undefined).toEqual(histogramOf(latencies));
    }
  });
});

describe('EdgeAggregator intervals', () => {
  it('ends intervals on multiples of the resolution, so every node lines up', () => {
    for (const start of [T0 + 1, T0 + 7_777, T0 + 14_999]) {
      const clock = manualClock(start);
      const registry = new MetricsRegistry();
      const agg = new EdgeAggregator(RES, clock.now);
      registry.addSink(agg);
      const c = registry.counter('demo_total', 'x');
      const out: TelemetrySeries[][] = [];
      for (let k = 0; k < 10; k++) {
        c.inc();
        clock.set(clock.now() + 6_100);
        out.push(agg.closeDue());
      }
      const ts = points<CounterPoint>(out, 'demo_total').map((p) => p.t);
      expect(ts.length).toBeGreaterThan(3);
      for (const t of ts) expect(t % RES).toBe(0);
      expect(new Set(ts).size).toBe(ts.length);
      expect(ts).toEqual([...ts].sort((a, b) => a - b));
    }
  });

  it('treats an interval as (t − resolution, t]: a change at the boundary belongs to the interval ending there', () => {
    const clock = manualClock(T0 + 1);
    const registry = new MetricsRegistry();
    const agg = new EdgeAggregator(RES, clock.now);
    registry.addSink(agg);
    const c = registry.counter('demo_total', 'x');
    c.inc({}, 1);
    clock.set(T0 + RES);
    c.inc({}, 2);
    expect(agg.closeDue(T0 + RES)).toEqual([]);
    clock.set(T0 + RES + 1);
    c.inc({}, 4);
    expect(agg.closeDue(T0 + RES + 1)).toEqual([{ kind: 'counter', name: 'demo_total', labels: {}, points: [{ t: T0 + RES, inc: 3 }] }]);
    expect(agg.closeDue(T0 + 2 * RES + 1)).toEqual([{ kind: 'counter', name: 'demo_total', labels: {}, points: [{ t: T0 + 2 * RES, inc: 4 }] }]);
  });

  it('sends a counter only once it moved, then every interval (zeros included) so a gap means no data', () => {
    const clock = manualClock(T0 + 1);
    const registry = new MetricsRegistry();
    const agg = new EdgeAggregator(RES, clock.now);
    registry.addSink(agg);
    const drops = registry.counter('demo_dropped_total', 'x', ['reason']);
    drops.inc({ reason: 'queue-full' }, 0);
    clock.set(T0 + RES + 1);
    expect(agg.closeDue()).toEqual([]);
    drops.inc({ reason: 'queue-full' }, 5);
    clock.set(T0 + 2 * RES + 1);
    agg.closeDue();
    clock.set(T0 + 3 * RES + 1);
    expect(agg.closeDue()).toEqual([{ kind: 'counter', name: 'demo_dropped_total', labels: { reason: 'queue-full' }, points: [{ t: T0 + 3 * RES, inc: 0 }] }]);
  });

  it('summarises gauges as min / max / last, and has no point where a gauge was not set', () => {
    const clock = manualClock(T0 + 1);
    const registry = new MetricsRegistry();
    const agg = new EdgeAggregator(RES, clock.now);
    registry.addSink(agg);
    const temp = registry.gauge('demo_temperature_celsius', 'x');
    for (const [dt, v] of [
      [1_000, 55],
      [4_000, 71.5],
      [9_000, 49],
      [14_000, 60],
    ] as const) {
      clock.set(T0 + dt);
      temp.set({}, v);
    }
    clock.set(T0 + 2 * RES + 1);
    const out = agg.closeDue();
    expect(points<GaugePoint>([out], 'demo_temperature_celsius')).toEqual([{ t: T0 + RES, min: 49, max: 71.5, last: 60 }]);
  });

  it('after skipped intervals (agent suspended) sends no invented zeros for them', () => {
    const clock = manualClock(T0 + 1);
    const registry = new MetricsRegistry();
    const agg = new EdgeAggregator(RES, clock.now);
    registry.addSink(agg);
    const c = registry.counter('demo_total', 'x');
    c.inc();
    clock.set(T0 + 10 * RES + 5);
    c.inc();
    clock.set(T0 + 11 * RES + 1);
    expect(points<CounterPoint>([agg.closeDue()], 'demo_total')).toEqual([
      { t: T0 + RES, inc: 1 },
      { t: T0 + 11 * RES, inc: 1 },
    ]);
  });

  it('switching profile closes the open interval early and returns it for the old resolution', () => {
    const clock = manualClock(T0 + 1);
    const registry = new MetricsRegistry();
    const lan = TELEMETRY_PROFILES.lan.resolutionMs;
    const metered = TELEMETRY_PROFILES.metered.resolutionMs;
    const agg = new EdgeAggregator(lan, clock.now);
    registry.addSink(agg);
    const c = registry.counter('demo_total', 'x');
    c.inc({}, 2);
    clock.set(T0 + lan + 4_000);
    c.inc({}, 3);
    const tail = agg.setResolution(metered);
    expect(agg.resolutionMs).toBe(metered);
    expect(points<CounterPoint>([tail], 'demo_total')).toEqual([
      { t: T0 + lan, inc: 2 },
      { t: T0 + lan + 4_000, inc: 3 },
    ]);
    c.inc({}, 7);
    clock.set(T0 + metered + 1);
    expect(points<CounterPoint>([agg.closeDue()], 'demo_total')).toEqual([{ t: T0 + metered, inc: 7 }]);
    expect(() => agg.setResolution(15)).toThrow(/≥ 1000/);
  });

  it('tells series apart by name when callers reuse one frozen labels object', () => {
    const agg = new EdgeAggregator(RES, () => T0 + 1);
    const labels = Object.freeze({ reason: 'queue-full' });
    agg.counterIncreased('demo_a_total', labels, 1);
    agg.counterIncreased('demo_b_total', labels, 2);
    agg.counterIncreased('demo_a_total', labels, 3);
    // The same values in another object are the same series.
    agg.counterIncreased('demo_b_total', { reason: 'queue-full' }, 4);
    const out = agg.closeDue(T0 + RES + 1);
    expect(points<CounterPoint>([out], 'demo_a_total', labels)).toEqual([{ t: T0 + RES, inc: 4 }]);
    expect(points<CounterPoint>([out], 'demo_b_total', labels)).toEqual([{ t: T0 + RES, inc: 6 }]);
  });

  it('brings a bound series back, locally and upstream, after it was removed', () => {
    const clock = manualClock(T0 + 1);
    const registry = new MetricsRegistry();
    const agg = new EdgeAggregator(RES, clock.now);
    registry.addSink(agg);
    const c = registry.counter('demo_total', 'x', ['reason']);
    const bound = c.bind({ reason: 'queue-full' });
    bound.inc(2);
    c.remove();
    expect(c.all()).toEqual([]);
    bound.inc(5);
    expect(c.all()).toEqual([{ labels: { reason: 'queue-full' }, value: 5 }]);
    clock.set(T0 + RES + 1);
    expect(points<CounterPoint>([agg.closeDue()], 'demo_total', { reason: 'queue-full' })).toEqual([{ t: T0 + RES, inc: 7 }]);
  });
});
