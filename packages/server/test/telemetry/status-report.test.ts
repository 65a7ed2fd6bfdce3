import { EdgefleetError, type WorkloadStats } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { reanchorStats, refuseInconsistentInstances } from '../../src/telemetry/status-report.js';

const sample = (over: Partial<WorkloadStats>): WorkloadStats => ({
  deployment: 'detect',
  revision: 2,
  intervalStart: 1_000,
  intervalEnd: 2_000,
  requests: 10,
  errors: 0,
  restarts: 0,
  fallback: false,
  latency: { v: 1, offset: 0, counts: [] },
  ...over,
});

const SERVER_NOW = 1_764_000_000_000;

describe('reanchorStats', () => {
  const cases: Array<{ name: string; node: Partial<WorkloadStats>; server: Partial<WorkloadStats> }> = [
    {
      name: 'moves the instance start by the same offset as the interval',
      node: { intervalStart: 50_000, intervalEnd: 60_000, instanceStartedAt: 20_000, instanceRequestsBefore: 7 },
      server: { intervalStart: SERVER_NOW - 10_000, intervalEnd: SERVER_NOW, instanceStartedAt: SERVER_NOW - 40_000, instanceRequestsBefore: 7 },
    },
    {
      name: 'keeps an instance start that the node clock put after the interval start at the interval start',
      node: { intervalStart: 50_000, intervalEnd: 60_000, instanceStartedAt: 55_000, instanceRequestsBefore: 0 },
      server: { intervalStart: SERVER_NOW - 10_000, intervalEnd: SERVER_NOW, instanceStartedAt: SERVER_NOW - 10_000, instanceRequestsBefore: 0 },
    },
    {
      // A Pi booted with its clock in 1970 started the instance, then NTP set the clock: the
      // start is far before the interval. It stays there (older by time than it is); its
      // first requests still count as warm-up by `instanceRequestsBefore`.
      name: 'never moves an instance start before 0',
      node: { intervalStart: 1_763_999_000_000, intervalEnd: 1_764_000_000_000, instanceStartedAt: 5_000, instanceRequestsBefore: 3 },
      server: { intervalStart: SERVER_NOW - 1_000_000, intervalEnd: SERVER_NOW, instanceStartedAt: 5_000, instanceRequestsBefore: 3 },
    },
    {
      name: 'leaves the fields out when the node sent none',
      node: { intervalStart: 50_000, intervalEnd: 60_000 },
      server: { intervalStart: SERVER_NOW - 10_000, intervalEnd: SERVER_NOW },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const [out] = reanchorStats([sample(c.node)], SERVER_NOW);
      expect(out).toEqual(sample(c.server));
    });
  }

  it('uses one offset for the whole report: the newest interval ends now', () => {
    const out = reanchorStats(
      [
        sample({ revision: 1, intervalStart: 0, intervalEnd: 30_000, instanceStartedAt: 0 }),
        sample({ revision: 2, intervalStart: 40_000, intervalEnd: 60_000, instanceStartedAt: 35_000 }),
      ],
      SERVER_NOW,
    );
    expect(out.map((s) => [s.intervalStart, s.intervalEnd, s.instanceStartedAt])).toEqual([
      [SERVER_NOW - 60_000, SERVER_NOW - 30_000, SERVER_NOW - 60_000],
      [SERVER_NOW - 20_000, SERVER_NOW, SERVER_NOW - 25_000],
    ]);
  });
});

describe('refuseInconsistentInstances', () => {
  it('refuses an instance said to have started after the interval it served, naming the field', () => {
    const bad = [sample({}), sample({ intervalEnd: 2_000, instanceStartedAt: 2_001, instanceRequestsBefore: 0 })];
    const err = (() => {
      try {
        refuseInconsistentInstances(bad, 'stats');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(EdgefleetError);
    expect(err).toMatchObject({ status: 400, code: 'bad_request', field: 'stats.1.instanceStartedAt' });
    expect((err as Error).message).toContain('2001 is after the interval');
  });

  it('takes a start at or before the interval end, and samples without one', () => {
    expect(() =>
      refuseInconsistentInstances([sample({ instanceStartedAt: 2_000 }), sample({ instanceStartedAt: 0, instanceRequestsBefore: 9 }), sample({})], 'stats'),
    ).not.toThrow();
  });
});
