import { type RolloutGates, RolloutGatesSchema } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { cohortIndex } from '../../src/rollouts/cohorts.js';
import { evaluateGates, type GateInput } from '../../src/rollouts/gates.js';
import type { NodeWorkloadStats } from '../../src/rollouts/types.js';
import { DEPLOYMENT, MIN, sample, T0 } from './fleet.js';

const BY = ['geolocation.site'];

/** Nodes c* (canaries) and b* (baseline) at sites given by the id's suffix: `c1@hot`. */
function input(samples: NodeWorkloadStats[], o: { gates?: Partial<RolloutGates>; compare?: boolean; cohortBy?: string[]; nodes?: string[] } = {}): GateInput {
  const ids = o.nodes ?? [...new Set(samples.map((s) => s.nodeId))];
  const nodes = ids.map((id) => ({ id, labels: { 'geolocation.site': id.split('@')[1] ?? 'main' } }));
  return {
    deployment: DEPLOYMENT,
    gates: RolloutGatesSchema.parse({ minRequests: 200, ...o.gates }),
    revision: 2,
    baselineRevision: 1,
    compareWithBaseline: o.compare ?? true,
    samples: ids.map((id) => samples.filter((s) => s.nodeId === id)),
    cohortOf: cohortIndex(nodes, o.cohortBy ?? BY).of,
    window: { from: T0, to: T0 + 10 * MIN },
    now: T0 + 10 * MIN,
  };
}

const canary = (id: string, o: Parameters<typeof sample>[2] = {}): NodeWorkloadStats => sample(id, 2, o);
const base = (id: string, o: Parameters<typeof sample>[2] = {}): NodeWorkloadStats => sample(id, 1, o);

describe('gates: no data never passes', () => {
  it.each<[string, NodeWorkloadStats[], RegExp]>([
    ['no samples at all', [], /0 requests on revision 2.*0 requests on baseline/],
    ['canaries below minRequests', [canary('c1', { requests: 150 }), base('b1', { requests: 500 })], /150 requests on revision 2 \(need 200\)/],
    ['baseline below minRequests', [canary('c1', { requests: 500 }), base('b1', { requests: 199 })], /199 requests on baseline revision 1/],
    [
      'enough requests in total but outside the window',
      [canary('c1', { requests: 500, start: T0 - 5 * MIN, end: T0 }), base('b1', { requests: 500 })],
      /0 requests on revision 2/,
    ],
    ['samples of another deployment', [canary('c1', { requests: 500, deployment: 'other' }), base('b1', { requests: 500 })], /0 requests on revision 2/],
  ])('%s → hold InsufficientData', (_name, samples, message) => {
    const g = evaluateGates(input(samples));
    expect(g.result).toBe('hold');
    expect(g.reason).toBe('InsufficientData');
    expect(g.message).toMatch(message);
  });

  it('samples of nodes that are not targeted are ignored', () => {
    const g = evaluateGates(input([canary('c1', { requests: 500 }), base('b1', { requests: 500 })], { nodes: ['b1'] }));
    expect(g.result).toBe('hold');
    expect(g.measured.canaryRequests).toBe(0);
  });

  it('without a baseline comparison only the canary side needs minRequests', () => {
    const g = evaluateGates(input([canary('c1', { requests: 300 })], { compare: false }));
    expect(g.result).toBe('pass');
    expect(g.thresholds.p95LatencyRatio).toBeNull();
    expect(g.measured.baselineP95LatencyMs).toBeNull();
  });
});

describe('gates: thresholds', () => {
  it.each<[string, 'pass' | 'fail', string[], NodeWorkloadStats[], Partial<RolloutGates>]>([
    ['same latency', 'pass', [], [canary('c1', { ms: 20, requests: 300 }), base('b1', { ms: 20, requests: 300 })], {}],
    ['10 % slower, within 1.2', 'pass', [], [canary('c1', { ms: 22, requests: 300 }), base('b1', { ms: 20, requests: 300 })], {}],
    ['50 % slower', 'fail', ['p95LatencyRatio'], [canary('c1', { ms: 30, requests: 300 }), base('b1', { ms: 20, requests: 300 })], {}],
    [
      'above the absolute ceiling',
      'fail',
      ['maxP95LatencyMs'],
      [canary('c1', { ms: 120, requests: 300 }), base('b1', { ms: 115, requests: 300 })],
      { maxP95LatencyMs: 100 },
    ],
    ['2 % errors', 'fail', ['maxErrorRate'], [canary('c1', { requests: 300, errors: 6 }), base('b1', { requests: 300 })], {}],
    ['1 % errors is allowed', 'pass', [], [canary('c1', { requests: 300, errors: 3 }), base('b1', { requests: 300 })], {}],
    ['a restart', 'fail', ['maxRestarts'], [canary('c1', { requests: 300, restarts: 1 }), base('b1', { requests: 300 })], {}],
    [
      'restarts per node, not summed',
      'pass',
      [],
      [canary('c1', { requests: 300, restarts: 1 }), canary('c2', { restarts: 1 }), base('b1', { requests: 300 })],
      { maxRestarts: 1 },
    ],
    ['a node on the fallback', 'fail', ['maxFallbackRate'], [canary('c1', { requests: 300, fallback: true }), base('b1', { requests: 300 })], {}],
    [
      'a fallback share within the limit',
      'pass',
      [],
      [canary('c1', { requests: 300, fallback: true }), canary('c2'), canary('c3'), base('b1', { requests: 300 })],
      { maxFallbackRate: 0.5 },
    ],
    [
      'slow and failing',
      'fail',
      ['maxErrorRate', 'p95LatencyRatio'],
      [canary('c1', { ms: 40, requests: 300, errors: 30 }), base('b1', { ms: 20, requests: 300 })],
      {},
    ],
  ])('%s → %s %j', (_name, result, failed, samples, gates) => {
    const g = evaluateGates(input(samples, { gates }));
    expect(g.result).toBe(result);
    expect(g.failed).toEqual(failed);
  });

  it('a crash fails at once, even with too few requests to judge latency', () => {
    const g = evaluateGates(input([canary('c1', { requests: 5, restarts: 2 })]));
    expect(g).toMatchObject({ result: 'fail', reason: 'RestartsExceeded', failed: ['maxRestarts'] });
    expect(g.message).toMatch(/restarted revision 2 2 times \(limit 0\)/);
  });

  it('a failure names the gate, the measured values of both revisions and the thresholds', () => {
    const g = evaluateGates(input([canary('c1', { ms: 30, requests: 300 }), base('b1', { ms: 20, requests: 300 })]));
    expect(g.reason).toBe('P95LatencyRatioExceeded');
    expect(g.measured.p95LatencyMs).toBeCloseTo(30 * 1.04, 0);
    expect(g.measured.baselineP95LatencyMs).toBeCloseTo(20 * 1.04, 0);
    expect(g.measured.p95LatencyRatio).toBeCloseTo(1.5, 1);
    expect(g.thresholds).toEqual({ minRequests: 200, p95LatencyRatio: 1.2, maxP95LatencyMs: null, maxErrorRate: 0.01, maxRestarts: 0, maxFallbackRate: 0 });
    expect(g.message).toMatch(/^p95LatencyRatio: P95 31\.\d ms on revision 2 is 1\.\d\d × baseline revision 1's 2\d\.\d ms \(limit 1\.2\)$/);
  });
});

describe('gates: percentiles from merged histograms, baseline by cohort', () => {
  it('the P95 is that of all requests together, not an average of node P95s', () => {
    // 900 fast requests on one node, 100 slow on another: the merged P95 is slow-ish
    // (rank 949 of 1000 falls among the slow ones), while the mean of node P95s would be ~105 ms.
    const g = evaluateGates(input([canary('c1', { ms: 10, requests: 900 }), canary('c2', { ms: 200, requests: 100 })], { compare: false }));
    expect(g.measured.p95LatencyMs).toBeGreaterThan(180);
  });

  it('canaries at a hot site are compared with that site, not with the fleet', () => {
    // The hot site is slow on both revisions; the cool site is fast and busy.
    const samples = [canary('c1@hot', { ms: 100, requests: 300 }), base('b1@hot', { ms: 100, requests: 300 }), base('b2@cool', { ms: 10, requests: 10_000 })];
    const byCohort = evaluateGates(input(samples));
    expect(byCohort.result).toBe('pass');
    expect(byCohort.measured.cohortsCompared).toBe(1);
    expect(byCohort.measured.p95LatencyRatio).toBeCloseTo(1, 1);
    // Without cohorts the busy cool site makes the baseline fast: a false regression.
    const fleetWide = evaluateGates(input(samples, { cohortBy: [] }));
    expect(fleetWide.result).toBe('fail');
    expect(fleetWide.failed).toEqual(['p95LatencyRatio']);
  });

  it('re-weights the baseline to the canaries cohort mix', () => {
    // Canaries: 300 requests at hot (100 ms), 3000 at cool (10 ms). Baseline the reverse mix.
    // Same per-site latency on both revisions, so the re-weighted baseline matches exactly.
    const samples = [
      canary('c1@hot', { ms: 100, requests: 300 }),
      canary('c2@cool', { ms: 10, requests: 3000 }),
      base('b1@hot', { ms: 100, requests: 3000 }),
      base('b2@cool', { ms: 10, requests: 300 }),
    ];
    const g = evaluateGates(input(samples));
    expect(g.measured.cohortsCompared).toBe(2);
    expect(g.measured.p95LatencyRatio).toBeCloseTo(1, 2);
    expect(g.result).toBe('pass');
  });

  it('a cohort with too little baseline data is compared with the fleet-wide baseline', () => {
    const samples = [canary('c1@new', { ms: 20, requests: 300 }), base('b1@new', { ms: 5, requests: 20 }), base('b2@main', { ms: 20, requests: 500 })];
    const g = evaluateGates(input(samples));
    expect(g.measured.cohortsCompared).toBe(0);
    expect(g.measured.cohortsOnFleetBaseline).toBe(1);
    expect(g.result).toBe('pass');
  });

  it('a sample overlapping the window edge counts', () => {
    const g = evaluateGates(input([canary('c1', { requests: 300, start: T0 - MIN, end: T0 + MIN }), base('b1', { requests: 300 })]));
    expect(g.measured.canaryRequests).toBe(300);
  });
});
