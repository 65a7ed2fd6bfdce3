import { AgentMetrics, EdgeAggregator, WorkloadStatsCollector } from '@edgefleet/agent';
import { EdgefleetError, type TelemetrySeries } from '@edgefleet/protocol';
import { decodeTelemetryBatch, encodeTelemetryBatch } from '@edgefleet/protocol/node';
import { describe, expect, it } from 'vitest';
import { INSTANCE_REQUESTS_METRIC, INSTANCE_START_METRIC, refuseInconsistentInstanceSeries, statsFromSeries } from '../../src/telemetry/stats.js';

const RES = 300_000;
const T = 1_764_000_300_000;
const W = { deployment: 'detect', revision: '2' };

const requests = (inc: number, t = T): TelemetrySeries => ({
  kind: 'counter',
  name: 'edgefleet_inference_requests_total',
  labels: { ...W, outcome: 'ok' },
  points: [{ t, inc }],
});
const gauge = (name: string, min: number, max: number, last = max, t = T): TelemetrySeries => ({
  kind: 'gauge',
  name,
  labels: W,
  points: [{ t, min, max, last }],
});

describe('statsFromSeries: the instance fields of a metered batch', () => {
  const cases: Array<{ name: string; series: TelemetrySeries[]; fields: Record<string, number> | undefined }> = [
    {
      name: 'one instance throughout: its start, and one less than the least count',
      series: [requests(40), gauge(INSTANCE_START_METRIC, 1_764_000_000.5, 1_764_000_000.5), gauge(INSTANCE_REQUESTS_METRIC, 101, 140)],
      fields: { instanceStartedAt: 1_764_000_000_500, instanceRequestsBefore: 100 },
    },
    {
      name: 'an instance that began serving in the interval: none before',
      series: [requests(3), gauge(INSTANCE_START_METRIC, 1_764_000_100, 1_764_000_100), gauge(INSTANCE_REQUESTS_METRIC, 1, 3)],
      fields: { instanceStartedAt: 1_764_000_100_000, instanceRequestsBefore: 0 },
    },
    {
      name: 'a restart in the interval: the newer instance, with nothing before (the interval is its warm-up)',
      series: [requests(70), gauge(INSTANCE_START_METRIC, 1_764_000_000, 1_764_000_200), gauge(INSTANCE_REQUESTS_METRIC, 4, 900, 4)],
      fields: { instanceStartedAt: 1_764_000_200_000, instanceRequestsBefore: 0 },
    },
    { name: 'an agent without the gauges: no fields (counted as warm)', series: [requests(5)], fields: undefined },
    { name: 'a start without a count: no fields', series: [requests(5), gauge(INSTANCE_START_METRIC, 1_764_000_000, 1_764_000_000)], fields: undefined },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const [row, ...rest] = statsFromSeries(c.series, RES);
      expect(rest).toEqual([]);
      expect(row).toMatchObject({ deployment: 'detect', revision: 2, intervalStart: T - RES, intervalEnd: T });
      if (c.fields === undefined) {
        expect(row).not.toHaveProperty('instanceStartedAt');
        expect(row).not.toHaveProperty('instanceRequestsBefore');
      } else {
        expect(row).toMatchObject(c.fields);
      }
    });
  }
});

describe('refuseInconsistentInstanceSeries', () => {
  const refusal = (series: TelemetrySeries[]): unknown => {
    try {
      refuseInconsistentInstanceSeries(series);
    } catch (e) {
      return e;
    }
    return undefined;
  };

  const refused: Array<{ name: string; series: TelemetrySeries; says: string }> = [
    { name: 'a start after the interval it served', series: gauge(INSTANCE_START_METRIC, 1_764_000_000, T / 1000 + 1), says: 'after the end of the interval' },
    { name: 'a negative start', series: gauge(INSTANCE_START_METRIC, -1, 1_764_000_000), says: 'Unix time in seconds, 0 or more' },
    { name: 'a negative count', series: gauge(INSTANCE_REQUESTS_METRIC, -5, 10), says: 'whole number, 0 or more' },
    { name: 'a fractional count', series: gauge(INSTANCE_REQUESTS_METRIC, 1.5, 10), says: 'whole number, 0 or more' },
  ];
  for (const c of refused) {
    it(`refuses ${c.name} with a 400 naming the series`, () => {
      const err = refusal([requests(1), c.series]);
      expect(err).toBeInstanceOf(EdgefleetError);
      expect(err).toMatchObject({ status: 400, code: 'bad_request' });
      expect((err as Error).message).toContain(`series ${c.series.name}{deployment="detect",revision="2"}`);
      expect((err as Error).message).toContain(c.says);
    });
  }

  it('takes honest gauges: a start at the interval end at the latest, whole counts from 1', () => {
    expect(refusal([gauge(INSTANCE_START_METRIC, 1_764_000_000, T / 1000), gauge(INSTANCE_REQUESTS_METRIC, 1, 9)])).toBeUndefined();
  });
});

describe("statsFromSeries reads what a real agent's metrics send", () => {
  it('across a restart: the instance of each interval and its requests before, after encoding and decoding', () => {
    const res = 15_000;
    let now = 1_764_000_000_000 + 1;
    const clock = (): number => now;
    const collector = new WorkloadStatsCollector(clock);
    const aggregator = new EdgeAggregator(res, clock);
    const metrics = new AgentMetrics(aggregator);
    // What Agent.recordInference does with every request.
    const request = (n: number): void => {
      for (let i = 0; i < n; i++) {
        collector.request('detect', 2, 10, true, false);
        const inst = collector.instance('detect', 2);
        metrics.inference('detect', 2, 10, true, inst === undefined ? undefined : { startedAt: inst.startedAt, answered: inst.answered });
      }
    };
    const firstStart = now + 2_000;
    now = firstStart;
    collector.instanceStarted('detect', 2, now);
    request(3); // window 1
    now += 15_000;
    request(4); // window 2
    now += 15_000;
    request(2); // window 3, then a restart in it
    const secondStart = now + 1_000;
    now = secondStart;
    collector.instanceStarted('detect', 2, now);
    request(5);
    now += 15_000;
    request(6); // window 4
    now += 15_000;
    const body = encodeTelemetryBatch({ stream: 's', seq: 1, resolutionMs: res, series: aggregator.closeDue() });
    const rows = statsFromSeries(decodeTelemetryBatch(body).series, res).sort((a, b) => a.intervalEnd - b.intervalEnd);
    expect(rows.map((r) => [r.requests, r.instanceStartedAt, r.instanceRequestsBefore])).toEqual([
      [3, firstStart, 0],
      [4, firstStart, 3],
      // Two instances in one interval: the newer, its warm-up.
      [7, secondStart, 0],
      [6, secondStart, 5],
    ]);
  });
});
