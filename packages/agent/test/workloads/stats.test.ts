import { histogramCount, WorkloadStatsSchema } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { MAX_HELD_SAMPLES, WorkloadStatsCollector } from '../../src/workloads/stats.js';

/** A collector on a clock the test moves. */
function collector(start = 10_000): { stats: WorkloadStatsCollector; at: (t: number) => void } {
  let now = start;
  return {
    stats: new WorkloadStatsCollector(() => now),
    at: (t) => {
      now = t;
    },
  };
}

/** The fields a test compares (latency as its count). */
function brief(s: ReturnType<WorkloadStatsCollector['drain']>[number]) {
  return {
    revision: s.revision,
    intervalStart: s.intervalStart,
    intervalEnd: s.intervalEnd,
    requests: s.requests,
    restarts: s.restarts,
    latencyCount: histogramCount(s.latency),
    instanceStartedAt: s.instanceStartedAt,
    instanceRequestsBefore: s.instanceRequestsBefore,
  };
}

describe('WorkloadStatsCollector', () => {
  it('reports the serving instance and the requests it answered before each interval', () => {
    const { stats, at } = collector();
    stats.instanceStarted('detect', 1, 10_000);
    at(11_000);
    for (let i = 0; i < 3; i++) stats.request('detect', 1, 5, true, false);
    at(20_000);
    expect(stats.drain().map(brief)).toEqual([
      {
        revision: 1,
        intervalStart: 11_000,
        intervalEnd: 20_000,
        requests: 3,
        restarts: 0,
        latencyCount: 3,
        instanceStartedAt: 10_000,
        instanceRequestsBefore: 0,
      },
    ]);
    at(21_000);
    stats.request('detect', 1, 5, false, false);
    stats.request('detect', 1, 5, true, false);
    at(30_000);
    expect(stats.drain().map(brief)).toEqual([
      {
        revision: 1,
        intervalStart: 21_000,
        intervalEnd: 30_000,
        requests: 2,
        restarts: 0,
        latencyCount: 1,
        instanceStartedAt: 10_000,
        instanceRequestsBefore: 3,
      },
    ]);
  });

  it('leaves the fields out for requests no instance was announced for (counted as warm by the server)', () => {
    const { stats, at } = collector();
    stats.request('detect', 1, 5, true, false);
    at(12_000);
    const [s] = stats.drain();
    expect(s).not.toHaveProperty('instanceStartedAt');
    expect(s).not.toHaveProperty('instanceRequestsBefore');
  });

  it('on a switch, gives the new revision its own instance and forgets the old one', () => {
    const { stats, at } = collector();
    stats.instanceStarted('detect', 1, 10_000);
    stats.request('detect', 1, 5, true, false);
    at(15_000);
    stats.instanceStarted('detect', 2, 15_000);
    // A request still in flight on the old instance lands in revision 1's open interval.
    stats.request('detect', 1, 5, true, false);
    at(16_000);
    stats.request('detect', 2, 7, true, false);
    at(20_000);
    expect(stats.drain().map(brief)).toEqual([
      {
        revision: 1,
        intervalStart: 10_000,
        intervalEnd: 20_000,
        requests: 2,
        restarts: 0,
        latencyCount: 2,
        instanceStartedAt: 10_000,
        instanceRequestsBefore: 0,
      },
      {
        revision: 2,
        intervalStart: 16_000,
        intervalEnd: 20_000,
        requests: 1,
        restarts: 0,
        latencyCount: 1,
        instanceStartedAt: 15_000,
        instanceRequestsBefore: 0,
      },
    ]);
    expect(stats.instance('detect', 1)).toBeUndefined();
    expect(stats.instance('detect', 2)).toEqual({ startedAt: 15_000, answered: 1 });
  });

  it('on a restart, closes the interval at the instance change so each sample belongs to one instance', () => {
    const { stats, at } = collector();
    stats.instanceStarted('detect', 2, 10_000);
    at(11_000);
    for (let i = 0; i < 60; i++) stats.request('detect', 2, 5, true, false);
    at(12_000);
    stats.restart('detect', 2);
    at(14_000);
    stats.instanceStarted('detect', 2, 14_000);
    at(14_500);
    for (let i = 0; i < 4; i++) stats.request('detect', 2, 9, true, false);
    at(20_000);
    expect(stats.drain().map(brief)).toEqual([
      {
        revision: 2,
        intervalStart: 11_000,
        intervalEnd: 14_000,
        requests: 60,
        restarts: 1,
        latencyCount: 60,
        instanceStartedAt: 10_000,
        instanceRequestsBefore: 0,
      },
      {
        revision: 2,
        intervalStart: 14_500,
        intervalEnd: 20_000,
        requests: 4,
        restarts: 0,
        latencyCount: 4,
        instanceStartedAt: 14_000,
        instanceRequestsBefore: 0,
      },
    ]);
  });

  it('restores an unsent report without mixing instances, and merges samples of the same instance', () => {
    const { stats, at } = collector();
    stats.instanceStarted('detect', 2, 10_000);
    at(11_000);
    for (let i = 0; i < 5; i++) stats.request('detect', 2, 5, true, false);
    at(20_000);
    const first = stats.drain();
    stats.restore(first); // the report failed
    at(21_000);
    for (let i = 0; i < 2; i++) stats.request('detect', 2, 5, true, false);
    at(22_000);
    stats.instanceStarted('detect', 2, 22_000); // a restart while the server is out of reach
    at(23_000);
    stats.request('detect', 2, 5, true, false);
    at(30_000);
    const second = stats.drain();
    expect(second.map(brief)).toEqual([
      // The failed report and the rest of that instance's traffic: one sample, its count before from the first.
      {
        revision: 2,
        intervalStart: 11_000,
        intervalEnd: 22_000,
        requests: 7,
        restarts: 0,
        latencyCount: 7,
        instanceStartedAt: 10_000,
        instanceRequestsBefore: 0,
      },
      {
        revision: 2,
        intervalStart: 23_000,
        intervalEnd: 30_000,
        requests: 1,
        restarts: 0,
        latencyCount: 1,
        instanceStartedAt: 22_000,
        instanceRequestsBefore: 0,
      },
    ]);
    // Put back again, the samples stay as they were.
    stats.restore(second);
    at(31_000);
    expect(stats.drain().map(brief)).toEqual(second.map(brief));
  });

  it('never reports an instance start after its interval start, even when the clock stepped back', () => {
    const { stats, at } = collector(1_000_000);
    stats.instanceStarted('detect', 1, 1_000_000);
    at(400_000); // NTP corrected a clock that ran ahead
    stats.request('detect', 1, 5, true, false);
    at(300_000); // and again, within the interval
    const [s] = stats.drain();
    expect(s).toMatchObject({ intervalStart: 400_000, intervalEnd: 400_000, instanceStartedAt: 400_000, instanceRequestsBefore: 0 });
    expect(WorkloadStatsSchema.safeParse(s).success).toBe(true);
  });

  it(`holds at most ${MAX_HELD_SAMPLES} samples while reports fail, merging the oldest into a newer instance`, () => {
    const { stats, at } = collector();
    let t = 10_000;
    let undelivered = stats.drain();
    // A crash loop while offline: a new instance every few seconds, each answering a request.
    for (let n = 0; n < MAX_HELD_SAMPLES + 50; n++) {
      stats.instanceStarted('detect', 3, t);
      at(t + 1);
      stats.request('detect', 3, 5, true, false);
      stats.restart('detect', 3);
      t += 5_000;
      at(t);
      stats.restore(undelivered);
      undelivered = stats.drain();
    }
    expect(undelivered.length).toBeLessThanOrEqual(MAX_HELD_SAMPLES);
    expect(undelivered.reduce((sum, s) => sum + s.requests, 0)).toBe(MAX_HELD_SAMPLES + 50);
    expect(undelivered.reduce((sum, s) => sum + s.restarts, 0)).toBe(MAX_HELD_SAMPLES + 50);
    for (const s of undelivered) {
      expect(WorkloadStatsSchema.safeParse(s).success).toBe(true);
      expect(s.instanceStartedAt).toBeLessThanOrEqual(s.intervalStart);
    }
  });
});
