import { histogramOf, type WorkloadStats } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { historyRecordsOf, hourOf } from '../../../src/telemetry/latency-history/records.js';

const H = 3_600_000;

function stats(over: Partial<WorkloadStats>): WorkloadStats {
  return {
    deployment: 'detect',
    revision: 2,
    intervalStart: 10 * H,
    intervalEnd: 10 * H + 60_000,
    requests: 3,
    errors: 1,
    restarts: 0,
    fallback: false,
    latency: histogramOf([5, 6, 7]),
    ...over,
  };
}

describe('historyRecordsOf', () => {
  const current = new Map([['detect', 2]]);
  const cases: Array<{ name: string; stats: WorkloadStats[]; want: Array<[string, number, number, number, number]> }> = [
    { name: 'one interval: one row at its hour', stats: [stats({})], want: [['detect', 2, 10, 3, 1]] },
    {
      name: 'intervals of one hour and revision add up',
      stats: [stats({}), stats({ intervalStart: 10 * H + 60_000, intervalEnd: 10 * H + 120_000, requests: 2, errors: 0, latency: histogramOf([9, 9]) })],
      want: [['detect', 2, 10, 5, 1]],
    },
    {
      name: 'an interval ending exactly on the hour belongs to the hour before',
      stats: [stats({ intervalStart: 11 * H - 30_000, intervalEnd: 11 * H })],
      want: [['detect', 2, 10, 3, 1]],
    },
    {
      name: 'revisions get rows of their own',
      stats: [stats({}), stats({ revision: 1 })],
      want: [
        ['detect', 2, 10, 3, 1],
        ['detect', 1, 10, 3, 1],
      ],
    },
    { name: 'an unknown deployment makes no row', stats: [stats({ deployment: 'forged' })], want: [] },
    { name: 'a revision beyond the current one makes no row', stats: [stats({ revision: 3 })], want: [] },
    { name: 'an interval without requests makes no row', stats: [stats({ requests: 0, errors: 0, restarts: 1, latency: histogramOf([]) })], want: [] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const rows = historyRecordsOf(c.stats, 'site-a', current);
      expect(rows.map((r) => [r.deployment, r.revision, r.hour / H, r.requests, r.errors])).toEqual(c.want);
      for (const r of rows) expect(r.site).toBe('site-a');
    });
  }

  it('merges histograms losslessly', () => {
    const [row] = historyRecordsOf(
      [stats({ latency: histogramOf([5, 6, 7]) }), stats({ intervalEnd: 10 * H + 90_000, latency: histogramOf([50, 60, 70]) })],
      '',
      current,
    );
    expect(row?.latency).toEqual(histogramOf([5, 6, 7, 50, 60, 70]));
  });

  it('hourOf rounds down to the hour', () => {
    expect([hourOf(0), hourOf(H - 1), hourOf(H), hourOf(5 * H + 17)]).toEqual([0, 0, H, 5 * H]);
  });
});
