import { EdgefleetError } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { parseWorkers, planFleet, shardIndexes, splitPlan, validateWorkers } from '../src/plan.js';
import { mergeSummaries, type SimulationSummary } from '../src/summary.js';

const OPTIONS = { nodes: 103, sites: 7, seed: 1234, hatMix: { hailo8l: 0.5, hailo8: 0.3, none: 0.2 } };

describe('planFleet', () => {
  it('is fixed by the options: the same nodes (name, site, hardware, serial) every time', () => {
    const a = planFleet(OPTIONS, '/d');
    const b = planFleet(OPTIONS, '/d');
    expect(b).toEqual(a);
    expect(a).toHaveLength(103);
    expect(new Set(a.map((p) => p.name)).size).toBe(103);
    expect(new Set(a.map((p) => p.serial)).size).toBe(103);
    expect(a[0]).toMatchObject({ index: 0, name: 'site-01-n001', site: 'site-01', dir: '/d/nodes/site-01-n001' });
    expect(a[8]).toMatchObject({ index: 8, name: 'site-02-n002', site: 'site-02' });
    // Another seed gives other hardware and serials.
    const c = planFleet({ ...OPTIONS, seed: 99 }, '/d');
    expect(c.map((p) => p.serial)).not.toEqual(a.map((p) => p.serial));
  });
});

describe('splitPlan', () => {
  for (const nodes of [1, 2, 7, 100, 1001]) {
    for (const workers of [1, 2, 3, 4, 8, 16]) {
      if (workers > nodes) continue;
      it(`${nodes} nodes over ${workers} workers: every node exactly once, the same split every time, balanced`, () => {
        const split = splitPlan(nodes, workers);
        expect(split).toHaveLength(workers);
        expect(splitPlan(nodes, workers)).toEqual(split);
        const all = split.flat().sort((x, y) => x - y);
        expect(all).toEqual(Array.from({ length: nodes }, (_, i) => i));
        const sizes = split.map((s) => s.length);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
        for (const [w, s] of split.entries()) expect(shardIndexes(nodes, { worker: w, workers })).toEqual(s);
      });
    }
  }

  it('gives each node the same plan whatever the number of workers', () => {
    const whole = planFleet(OPTIONS, '/d');
    for (const workers of [1, 2, 5]) {
      const seen = splitPlan(OPTIONS.nodes, workers).flatMap((indexes) => indexes.map((i) => planFleet(OPTIONS, '/d')[i]));
      expect(seen.sort((x, y) => (x?.index ?? 0) - (y?.index ?? 0))).toEqual(whole);
    }
  });

  it('refuses a worker count that makes no sense, saying what to give', () => {
    expect(() => validateWorkers(3, 2)).toThrow(/--workers \(3\) is more than --nodes \(2\)/);
    expect(() => validateWorkers(0, 2)).toThrow(EdgefleetError);
    expect(() => shardIndexes(10, { worker: 2, workers: 2 })).toThrow(/worker 2 is not one of 0 … 1/);
    expect(() => parseWorkers('two')).toThrow(/--workers must be a whole number from 1 to 256, got "two"/);
    expect(() => parseWorkers('1.5')).toThrow(EdgefleetError);
    expect(parseWorkers('4')).toBe(4);
  });
});

describe('mergeSummaries', () => {
  const part = (o: Partial<SimulationSummary>): SimulationSummary => ({
    at: '2026-12-04T10:00:00.000Z',
    elapsedSeconds: 10,
    nodes: { total: 5, started: 5, online: 4, offline: 1, poweredOff: 0, acceleratorFailed: 1, failed: 0 },
    revisions: { detect: { '1': 4 } },
    everRan: { detect: { '1': 5 } },
    images: { img: { nodes: 2, bytes: 200, bytesPerNode: 100 } },
    rollouts: {},
    requestsPerSecond: 10.04,
    errorsPerSecond: 0,
    requests: 100,
    errors: 1,
    faults: { siteOutages: ['site-02'], powerCuts: 1, acceleratorFailures: 1, offlineEpisodes: 2 },
    process: { rssMb: 100, heapUsedMb: 50, cpuPercent: 20 },
    ...o,
  });
  it('adds what the workers count, takes the union of outages and one view of the rollouts', () => {
    const m = mergeSummaries([
      {
        worker: 1,
        pid: 11,
        summary: part({
          at: '2026-12-04T10:00:01.000Z',
          revisions: { detect: { '1': 2, '2': 2 } },
          images: { img: { nodes: 1, bytes: 400, bytesPerNode: 400 } },
          faults: { siteOutages: ['site-01'], powerCuts: 0, acceleratorFailures: 0, offlineEpisodes: 1 },
          elapsedSeconds: 11,
        }),
      },
      { worker: 0, pid: 10, summary: part({ rollouts: { detect: { revision: 2, phase: 'Progressing', step: 1, steps: 4 } } }) },
    ]);
    expect(m.nodes).toEqual({ total: 10, started: 10, online: 8, offline: 2, poweredOff: 0, acceleratorFailed: 2, failed: 0 });
    expect(m.revisions).toEqual({ detect: { '1': 6, '2': 2 } });
    expect(m.everRan).toEqual({ detect: { '1': 10 } });
    expect(m.images).toEqual({ img: { nodes: 3, bytes: 600, bytesPerNode: 200 } });
    expect(m.rollouts).toEqual({ detect: { revision: 2, phase: 'Progressing', step: 1, steps: 4 } });
    expect(m.faults).toEqual({ siteOutages: ['site-01', 'site-02'], powerCuts: 1, acceleratorFailures: 1, offlineEpisodes: 3 });
    expect(m).toMatchObject({ requests: 200, errors: 2, requestsPerSecond: 20.1, at: '2026-12-04T10:00:01.000Z', elapsedSeconds: 11 });
    expect(m.process).toEqual({ rssMb: 200, heapUsedMb: 100, cpuPercent: 40 });
    expect(m.workers.map((w) => [w.worker, w.pid, w.nodes])).toEqual([
      [0, 10, 5],
      [1, 11, 5],
    ]);
  });
});
