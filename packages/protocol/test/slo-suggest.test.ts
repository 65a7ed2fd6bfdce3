import { describe, expect, it } from 'vitest';
import type { LatencyHistory, LatencyHour } from '../src/api/views.js';
import { gatesYaml, quantileOf, suggestGates } from '../src/slo-suggest.js';

const H = 3_600_000;
const START = Date.UTC(2026, 10, 1);

/** A history of `hours` hours at each site, every value from `at(hourIndex, siteIndex)`. */
function history(hours: number, sites: string[], at: (i: number, s: number) => Partial<LatencyHour> | undefined, revision = 3): LatencyHistory {
  const rows: LatencyHour[] = [];
  for (let i = 0; i < hours; i++) {
    for (let s = 0; s < sites.length; s++) {
      const over = at(i, s);
      if (over === undefined) continue;
      rows.push({
        hour: new Date(START + i * H).toISOString(),
        revision,
        site: sites[s] ?? '',
        requests: 600,
        errors: 0,
        p50Ms: 5,
        p95Ms: 10,
        p99Ms: 20,
        ...over,
      });
    }
  }
  return {
    deployment: 'detect',
    revision,
    since: new Date(START).toISOString(),
    until: new Date(START + hours * H).toISOString(),
    bucketSeconds: 3600,
    site: null,
    bySite: true,
    hours: rows,
    revisions: [],
  };
}

describe('suggestGates: what is missing', () => {
  const cases: Array<{ name: string; history: LatencyHistory; says: RegExp[] }> = [
    { name: 'no history at all', history: history(0, ['a'], () => ({})), says: [/no latency history of revision 3/] },
    {
      name: 'history of another revision only',
      history: { ...history(48, ['a'], () => ({})), revision: 4 },
      says: [/no latency history of revision 4/],
    },
    { name: 'less than a day', history: history(10, ['a'], () => ({})), says: [/only 10 hour\(s\).*needs 24/] },
    { name: 'quiet hours do not count', history: history(48, ['a'], (i) => ({ requests: i < 40 ? 10 : 600 })), says: [/only 8 hour\(s\)/] },
    {
      name: 'no consecutive hours to compare',
      history: history(60, ['a'], (i) => (i % 2 === 0 ? {} : undefined)),
      says: [/only 0 pair\(s\) of consecutive hours/],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const s = suggestGates(c.history);
      expect(s.ok).toBe(false);
      if (s.ok) return;
      for (const re of c.says) expect(s.missing.join('\n')).toMatch(re);
    });
  }
});

describe('suggestGates: thresholds', () => {
  const cases: Array<{
    name: string;
    history: LatencyHistory;
    firstStepPercent?: number;
    fleetNodes?: number;
    gates: Partial<ReturnType<typeof gatesOf>>;
    bake?: string;
    why?: RegExp;
  }> = [
    {
      name: 'a steady release gets the floors',
      history: history(168, ['a', 'b'], () => ({})),
      gates: { p95LatencyRatio: 1.2, p99LatencyRatio: 1.2, minLatencyDeltaMs: 2, maxP95LatencyMs: 15, maxErrorRate: 0.005 },
    },
    {
      name: 'hour-to-hour swings of ×1.3 widen the ratio to cover them',
      history: history(168, ['a'], (i) => ({ p95Ms: i % 2 === 0 ? 10 : 13, p99Ms: i % 2 === 0 ? 20 : 30 })),
      gates: { p95LatencyRatio: 1.4, p99LatencyRatio: 1.6, minLatencyDeltaMs: 3, maxP95LatencyMs: 20 },
    },
    {
      name: 'a daily cycle moves slowly hour to hour and leaves the ratio at its floor',
      history: history(168, ['a'], (i) => ({ p95Ms: 10 * (1 + 0.3 * Math.sin((2 * Math.PI * i) / 24)) })),
      gates: { p95LatencyRatio: 1.2, maxP95LatencyMs: 20 },
    },
    {
      name: 'errors: the allowance is the spread of hourly rates above the mean',
      history: history(100, ['a'], (i) => ({ errors: i % 10 === 0 ? 30 : 3 })),
      gates: { maxErrorRate: 0.041 },
    },
    {
      name: 'busy fleets collect more requests per gate',
      history: history(48, ['a'], () => ({ requests: 2_000_000 })),
      gates: { minRequests: 1000 },
      bake: '10m',
    },
    {
      name: 'a small fleet: the first step is at least one node',
      history: history(48, ['a'], () => ({ requests: 600 })),
      fleetNodes: 10,
      // 1 of 10 nodes: 60 requests an hour → 200 in 200 minutes → bake 400 minutes.
      gates: { minRequests: 200 },
      bake: '6h40m',
      why: /1 % \(1 of 10 nodes\)/,
    },
    {
      name: 'quiet fleets bake the first step longer',
      history: history(48, ['a'], () => ({ requests: 600 })),
      firstStepPercent: 10,
      gates: { minRequests: 200 },
      bake: '6h40m',
      why: /larger first step \(percent: 100\)/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const s = suggestGates(c.history, {
        ...(c.firstStepPercent === undefined ? {} : { firstStepPercent: c.firstStepPercent }),
        ...(c.fleetNodes === undefined ? {} : { fleetNodes: c.fleetNodes }),
      });
      if (!s.ok) throw new Error(s.missing.join('; '));
      expect(s.gates).toMatchObject(c.gates);
      if (c.bake !== undefined) expect(s.firstStep.bake).toBe(c.bake);
      if (c.why !== undefined) expect(s.reasons.map((r) => r.why).join('\n')).toMatch(c.why);
      // Every setting is explained, and the explanation names its value.
      for (const r of s.reasons) expect(r.why).toContain(String(r.value).replace(/^0\.(\d+)$/, ''));
    });
  }
});

function gatesOf() {
  const s = suggestGates(history(48, ['a'], () => ({})));
  if (!s.ok) throw new Error('unreachable');
  return s.gates;
}

describe('gatesYaml', () => {
  it('prints a block ready to paste under spec.rollout', () => {
    expect(gatesYaml(gatesOf())).toBe(
      'gates:\n  minRequests: 200\n  p95LatencyRatio: 1.2\n  p99LatencyRatio: 1.2\n  maxP95LatencyMs: 15\n  minLatencyDeltaMs: 2\n  maxErrorRate: 0.005\n',
    );
  });
});

describe('quantileOf', () => {
  it.each([
    [[1, 2, 3, 4, 5], 0.5, 3],
    [[5, 1, 4, 2, 3], 0.95, 4.8],
    [[7], 0.1, 7],
  ])('%j at %d is %d', (values, q, want) => {
    expect(quantileOf(values, q)).toBeCloseTo(want, 9);
  });
  it('is NaN for no values', () => {
    expect(quantileOf([], 0.5)).toBeNaN();
  });
});
