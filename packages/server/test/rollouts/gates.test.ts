import { type RolloutGates, RolloutGatesSchema } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { cohortFamilies, cohortIndex } from '../../src/rollouts/cohorts.js';
import { evaluateGates, type GateEvaluation, type GateInput, type GateName, judgeGates } from '../../src/rollouts/gates.js';
import type { NodeWorkloadStats } from '../../src/rollouts/types.js';
import { DEPLOYMENT, MIN, sample, T0 } from './fleet.js';

const BY = ['geolocation.site'];

/** Nodes c* (canaries) and b* (baseline) at sites given by the id's suffix: `c1@hot`. */
function input(
  samples: NodeWorkloadStats[],
  o: { gates?: Partial<RolloutGates>; compare?: boolean; cohortBy?: string[]; nodes?: string[]; now?: number } = {},
): GateInput {
  const ids = o.nodes ?? [...new Set(samples.map((s) => s.nodeId))];
  const nodes = ids.map((id) => ({ id, labels: { 'geolocation.site': id.split('@')[1] ?? 'main' } }));
  const cohorts = cohortIndex(nodes, o.cohortBy ?? BY);
  return {
    deployment: DEPLOYMENT,
    gates: RolloutGatesSchema.parse({ minRequests: 200, ...o.gates }),
    revision: 2,
    baselineRevision: 1,
    compareWithBaseline: o.compare ?? true,
    samples: ids.map((id) => samples.filter((s) => s.nodeId === id)),
    cohortOf: cohorts.of,
    cohortFamily: cohortFamilies(cohorts, o.cohortBy ?? BY),
    window: { from: T0, to: T0 + 10 * MIN },
    now: o.now ?? T0 + 10 * MIN,
  };
}

const canary = (id: string, o: Parameters<typeof sample>[2] = {}): NodeWorkloadStats => sample(id, 2, o);
const base = (id: string, o: Parameters<typeof sample>[2] = {}): NodeWorkloadStats => sample(id, 1, o);

/** A gate's verdict in an evaluation (undefined: not configured). */
const verdictOf = (g: GateEvaluation, gate: GateName) => g.gates.find((v) => v.gate === gate);

describe('gates: no data never passes', () => {
  it.each<[string, NodeWorkloadStats[], RegExp]>([
    ['no samples at all', [], /0 of 200 requests after warm-up on revision 2.*0 of 200 requests after warm-up on baseline revision 1/],
    ['canaries below minRequests', [canary('c1', { requests: 150 }), base('b1', { requests: 500 })], /150 of 200 requests after warm-up on revision 2/],
    [
      'baseline below minRequests',
      [canary('c1', { requests: 500 }), base('b1', { requests: 199 })],
      /199 of 200 requests after warm-up on baseline revision 1/,
    ],
    [
      'enough requests in total but outside the window',
      [canary('c1', { requests: 500, start: T0 - 5 * MIN, end: T0 }), base('b1', { requests: 500 })],
      /0 of 200 requests after warm-up on revision 2/,
    ],
    [
      'samples of another deployment',
      [canary('c1', { requests: 500, deployment: 'other' }), base('b1', { requests: 500 })],
      /0 of 200 requests after warm-up on revision 2/,
    ],
    [
      'enough canary requests, but all warm-up',
      [canary('c1', { requests: 500, instanceStartedAt: T0, instanceRequestsBefore: 0 }), base('b1', { requests: 500 })],
      /0 of 200 requests after warm-up on revision 2/,
    ],
  ])('%s → hold InsufficientData', (_name, samples, message) => {
    const g = evaluateGates(input(samples));
    expect(g.result).toBe('hold');
    expect(g.reason).toBe('InsufficientData');
    expect(g.message).toMatch(message);
    expect(verdictOf(g, 'p95LatencyRatio')?.verdict).toBe('insufficient-data');
  });

  it('samples of nodes that are not targeted are ignored', () => {
    const g = evaluateGates(input([canary('c1', { requests: 500 }), base('b1', { requests: 500 })], { nodes: ['b1'] }));
    expect(g.result).toBe('hold');
    expect(g.measured.canaryRequests).toBe(0);
  });

  it('without a baseline comparison only the canary side needs minRequests, and the ratio gates are not judged', () => {
    const g = evaluateGates(input([canary('c1', { requests: 400 })], { compare: false }));
    expect(g.result).toBe('pass');
    expect(g.thresholds.p95LatencyRatio).toBeNull();
    expect(g.measured.baselineP95LatencyMs).toBeNull();
    expect(g.gates.map((v) => v.gate)).toEqual(['maxRestarts', 'maxFallbackRate', 'maxErrorRate']);
  });
});

describe('gates: one verdict per configured gate', () => {
  // Deterministic samples (±5 % around `ms`), one node per side: a verdict from the requests alone.
  it.each<[string, GateName, 'passing' | 'failing' | 'undecided', NodeWorkloadStats[], Partial<RolloutGates>]>([
    ['same latency', 'p95LatencyRatio', 'passing', [canary('c1', { ms: 20, requests: 300 }), base('b1', { ms: 20, requests: 300 })], {}],
    ['10 % slower, within 1.2', 'p95LatencyRatio', 'passing', [canary('c1', { ms: 22, requests: 300 }), base('b1', { ms: 20, requests: 300 })], {}],
    ['50 % slower', 'p95LatencyRatio', 'failing', [canary('c1', { ms: 30, requests: 300 }), base('b1', { ms: 20, requests: 300 })], {}],
    [
      '2× slower but by 1.5 ms: under the 2 ms noise floor',
      'p95LatencyRatio',
      'passing',
      [canary('c1', { ms: 3, requests: 300 }), base('b1', { ms: 1.5, requests: 300 })],
      {},
    ],
    [
      'the same without a noise floor',
      'p95LatencyRatio',
      'failing',
      [canary('c1', { ms: 3, requests: 300 }), base('b1', { ms: 1.5, requests: 300 })],
      { minLatencyDeltaMs: 0 },
    ],
    [
      'P50 ratio when configured',
      'p50LatencyRatio',
      'failing',
      [canary('c1', { ms: 40, requests: 300 }), base('b1', { ms: 20, requests: 300 })],
      { p50LatencyRatio: 1.5 },
    ],
    [
      'P99 ratio when configured',
      'p99LatencyRatio',
      'passing',
      [canary('c1', { ms: 21, requests: 300 }), base('b1', { ms: 20, requests: 300 })],
      { p99LatencyRatio: 1.5 },
    ],
    [
      'above the absolute ceiling',
      'maxP95LatencyMs',
      'failing',
      [canary('c1', { ms: 120, requests: 300 }), base('b1', { ms: 115, requests: 300 })],
      { maxP95LatencyMs: 100 },
    ],
    [
      'under the absolute ceiling',
      'maxP95LatencyMs',
      'passing',
      [canary('c1', { ms: 80, requests: 300 }), base('b1', { ms: 80, requests: 300 })],
      { maxP95LatencyMs: 100 },
    ],
    ['2 % errors over 3,000 requests', 'maxErrorRate', 'failing', [canary('c1', { requests: 3000, errors: 60 }), base('b1', { requests: 3000 })], {}],
    ['0.2 % errors over 3,000 requests', 'maxErrorRate', 'passing', [canary('c1', { requests: 3000, errors: 6 }), base('b1', { requests: 3000 })], {}],
    [
      '1 % errors over 300 requests: neither ruled out nor established',
      'maxErrorRate',
      'undecided',
      [canary('c1', { requests: 300, errors: 3 }), base('b1', { requests: 300 })],
      {},
    ],
    [
      '2 % errors when the baseline fails 1.5 %: within baseline + 1 %',
      'maxErrorRate',
      'passing',
      [canary('c1', { requests: 20_000, errors: 400 }), base('b1', { requests: 20_000, errors: 300 })],
      {},
    ],
    ['a restart', 'maxRestarts', 'failing', [canary('c1', { requests: 300, restarts: 1 }), base('b1', { requests: 300 })], {}],
    [
      'restarts per node, not summed',
      'maxRestarts',
      'passing',
      [canary('c1', { requests: 300, restarts: 1 }), canary('c2', { restarts: 1 }), base('b1', { requests: 300 })],
      { maxRestarts: 1 },
    ],
    ['a node on the fallback', 'maxFallbackRate', 'failing', [canary('c1', { requests: 300, fallback: true }), base('b1', { requests: 300 })], {}],
    [
      'a fallback share within the limit',
      'maxFallbackRate',
      'passing',
      [canary('c1', { requests: 300, fallback: true }), canary('c2'), canary('c3'), base('b1', { requests: 300 })],
      { maxFallbackRate: 0.5 },
    ],
  ])('%s → %s %s', (_name, gate, verdict, samples, gates) => {
    const g = evaluateGates(input(samples, { gates }));
    expect(verdictOf(g, gate)?.verdict).toBe(verdict);
  });

  it('the absolute ceiling is judged on the canaries even while the baseline has too little data', () => {
    const g = evaluateGates(input([canary('c1', { ms: 120, requests: 300 }), base('b1', { ms: 115, requests: 50 })], { gates: { maxP95LatencyMs: 100 } }));
    expect(verdictOf(g, 'maxP95LatencyMs')?.verdict).toBe('failing');
    expect(verdictOf(g, 'maxP95LatencyMs')?.message).toMatch(
      /^P95 12\d\.\d ms \(12\d(\.\d)?–12\d(\.\d)? ms at 95 %\), limit 100 ms: failing \(1 of 2 consecutive evaluations\)$/,
    );
    expect(verdictOf(g, 'p95LatencyRatio')?.verdict).toBe('insufficient-data');
    expect(g.reason).toBe('InsufficientData');
  });

  it('a passing ratio reads like the contract: "P95 ratio 1.00 (0.98–1.02 at 95 %), threshold 1.2: passing"', () => {
    const g = evaluateGates(input([canary('c1', { ms: 20, requests: 300 }), base('b1', { ms: 20, requests: 300 })]));
    const v = verdictOf(g, 'p95LatencyRatio');
    expect(v?.message).toMatch(/^P95 ratio 1\.00 \([01]\.\d\d–1\.\d\d at 95 %\), threshold 1\.2: passing$/);
    expect(v?.interval?.low).toBeLessThanOrEqual(1);
    expect(v?.interval?.high).toBeGreaterThanOrEqual(1);
    expect(v).toMatchObject({ estimate: 1, confidence: 0.95, threshold: 1.2, consecutiveFailures: 0 });
    expect(v?.canary).toMatchObject({ nodes: 1, requests: 300 });
    expect(v?.baseline).toMatchObject({ nodes: 1, requests: 300 });
  });

  it('under the noise floor says so', () => {
    const g = evaluateGates(input([canary('c1', { ms: 3, requests: 300 }), base('b1', { ms: 1.5, requests: 300 })]));
    expect(verdictOf(g, 'p95LatencyRatio')?.message).toMatch(
      /^P95 ratio 2\.\d\d \(.*\), threshold 1\.2: passing \(at most 1\.\d+ ms slower, within the 2 ms noise floor\)$/,
    );
  });

  it('every verdict passing: pass, with one line summarising them', () => {
    const g = evaluateGates(input([canary('c1', { ms: 20, requests: 3000 }), base('b1', { ms: 20, requests: 3000 })]));
    expect(g.result).toBe('pass');
    expect(g.reason).toBe('GatesPassed');
    expect(g.gates.map((v) => v.verdict)).toEqual(['passing', 'passing', 'passing', 'passing']);
    expect(g.message).toMatch(/^gates passed over 3000 requests on 1 nodes: restarts 0 .*; P95 ratio 1\.00 .*: passing$/);
  });

  it('an undecided gate holds with reason Undecided, naming it', () => {
    const g = evaluateGates(input([canary('c1', { requests: 300, errors: 3 }), base('b1', { requests: 300 })]));
    expect(g).toMatchObject({ result: 'hold', reason: 'Undecided', failed: [] });
    expect(g.message).toMatch(/^undecided: error rate 1 % \(0\.\d+–\d\.\d+ % at 95 %\), limit 1 % \(baseline 0 % \+ 1 %\): undecided$/);
  });
});

describe('gates: consecutive failures', () => {
  const slow = [canary('c1', { ms: 30, requests: 300 }), base('b1', { ms: 20, requests: 300 })];

  it('with failureThreshold 1 a failing gate fails the evaluation at once, naming it, both revisions and the threshold', () => {
    const g = evaluateGates(input(slow, { gates: { failureThreshold: 1 } }));
    expect(g).toMatchObject({ result: 'fail', reason: 'P95LatencyRatioExceeded', failed: ['p95LatencyRatio'] });
    expect(g.measured.p95LatencyMs).toBeCloseTo(30 * 1.04, 0);
    expect(g.measured.baselineP95LatencyMs).toBeCloseTo(20 * 1.04, 0);
    expect(g.measured.p95LatencyRatio).toBeCloseTo(1.5, 1);
    expect(g.thresholds).toMatchObject({
      minRequests: 200,
      p95LatencyRatio: 1.2,
      maxP95LatencyMs: null,
      maxErrorRate: 0.01,
      failureThreshold: 1,
      confidence: 0.95,
    });
    expect(g.message).toMatch(
      /^P95 ratio 1\.\d\d \(1\.\d\d–1\.\d\d at 95 %\), threshold 1\.2: failing \(1 of 1 consecutive evaluations\): P95 31\.\d ms against 2\d\.\d ms$/,
    );
  });

  it('by default the first failing evaluation holds, the second an interval later fails', () => {
    const first = judgeGates(input(slow));
    expect(first.evaluation).toMatchObject({ result: 'hold', reason: 'Undecided', failed: [] });
    expect(first.evaluation.message).toMatch(/P95 ratio .*: failing \(1 of 2 consecutive evaluations\)/);
    expect(verdictOf(first.evaluation, 'p95LatencyRatio')?.consecutiveFailures).toBe(1);
    // Evaluated again 10 s later: does not count yet.
    const soon = judgeGates({ ...input(slow, { now: T0 + 10 * MIN + 10_000 }), streaks: first.streaks });
    expect(soon.evaluation.result).toBe('hold');
    expect(soon.streaks.p95LatencyRatio).toEqual(first.streaks.p95LatencyRatio);
    // 30 s after the first: the second counted failure fails the gate.
    const later = judgeGates({ ...input(slow, { now: T0 + 10 * MIN + 30_000 }), streaks: soon.streaks });
    expect(later.evaluation).toMatchObject({ result: 'fail', reason: 'P95LatencyRatioExceeded', failed: ['p95LatencyRatio'] });
    expect(later.evaluation.message).toMatch(/failing \(2 of 2 consecutive evaluations\)/);
  });

  it('a passing evaluation in between resets the streak', () => {
    const first = judgeGates(input(slow));
    const fine = judgeGates({
      ...input([canary('c1', { ms: 20, requests: 300 }), base('b1', { ms: 20, requests: 300 })], { now: T0 + 10 * MIN + 30_000 }),
      streaks: first.streaks,
    });
    expect(fine.streaks).toEqual({});
    const again = judgeGates({ ...input(slow, { now: T0 + 10 * MIN + 60_000 }), streaks: fine.streaks });
    expect(again.evaluation.result).toBe('hold');
    expect(verdictOf(again.evaluation, 'p95LatencyRatio')?.consecutiveFailures).toBe(1);
  });

  it('a crash counts even with too few requests to judge latency', () => {
    const crash = [canary('c1', { requests: 5, restarts: 2 })];
    const first = judgeGates(input(crash));
    expect(first.evaluation).toMatchObject({ result: 'hold', reason: 'InsufficientData' });
    expect(verdictOf(first.evaluation, 'maxRestarts')).toMatchObject({ verdict: 'failing', consecutiveFailures: 1 });
    const second = judgeGates({ ...input(crash, { now: T0 + 11 * MIN }), streaks: first.streaks });
    expect(second.evaluation).toMatchObject({ result: 'fail', reason: 'RestartsExceeded', failed: ['maxRestarts'] });
    expect(second.evaluation.message).toMatch(/^restarts 2 \(most on one node\), limit 0: failing \(2 of 2 consecutive evaluations\)$/);
  });

  it('evaluations are deterministic for the same input, time included', () => {
    const a = evaluateGates(input([canary('c1', { ms: 25, requests: 300 }), base('b1', { ms: 20, requests: 300 })]));
    const b = evaluateGates(input([canary('c1', { ms: 25, requests: 300 }), base('b1', { ms: 20, requests: 300 })]));
    expect(a).toEqual(b);
  });
});

describe('gates: warm-up', () => {
  it('cold samples are left out and reported; a node with nothing but warm-up is warming', () => {
    const samples = [
      // c1 started 10 s into the window: its first minute is cold and slow, the rest warm.
      canary('c1', { ms: 200, requests: 100, instanceStartedAt: T0 + 10_000, instanceRequestsBefore: 0 }),
      canary('c1', { ms: 20, requests: 300, start: T0 + MIN, end: T0 + 2 * MIN, instanceStartedAt: T0 + 10_000, instanceRequestsBefore: 100 }),
      // c2 started at the end: all of it is warm-up.
      canary('c2', { ms: 200, requests: 100, start: T0 + MIN, end: T0 + 2 * MIN, instanceStartedAt: T0 + 90_000, instanceRequestsBefore: 0 }),
      base('b1', { ms: 20, requests: 300, start: T0 + MIN, end: T0 + 2 * MIN }),
    ];
    const g = evaluateGates(input(samples, { gates: { maxErrorRate: 0.05 } }));
    expect(g.measured.warmupRequests).toBe(200);
    expect(g.measured.warmingNodes).toBe(1);
    expect(g.measured.canaryRequests).toBe(300);
    expect(verdictOf(g, 'p95LatencyRatio')?.verdict).toBe('passing');
    expect(verdictOf(g, 'p95LatencyRatio')?.canary.nodes).toBe(1);
  });

  it('restarts during warm-up still count', () => {
    const g = evaluateGates(
      input([canary('c1', { requests: 300, restarts: 1, instanceStartedAt: T0, instanceRequestsBefore: 0 })], { gates: { failureThreshold: 1 } }),
    );
    expect(g.reason).toBe('RestartsExceeded');
  });
});

describe('gates: percentiles from merged histograms, baseline matched in cohorts and time', () => {
  it('the P95 is that of all requests together, not an average of node P95s', () => {
    // 900 fast requests on one node, 100 slow on another: the merged P95 is slow-ish
    // (rank 949 of 1000 falls among the slow ones), while the mean of node P95s would be ~105 ms.
    const g = evaluateGates(input([canary('c1', { ms: 10, requests: 900 }), canary('c2', { ms: 200, requests: 100 })], { compare: false }));
    expect(g.measured.p95LatencyMs).toBeGreaterThan(180);
  });

  it('canaries at a hot site are compared with that site, not with the fleet', () => {
    // The hot site is slow on both revisions; the cool site is fast and busy.
    const cool = ['b2@cool', 'b3@cool', 'b4@cool', 'b5@cool', 'b6@cool'].map((id) => base(id, { ms: 10, requests: 6000 }));
    const hot = ['b1@hot', 'b7@hot', 'b8@hot'].map((id) => base(id, { ms: 100, requests: 300 }));
    const samples = [canary('c1@hot', { ms: 100, requests: 300 }), ...hot, ...cool];
    const byCohort = evaluateGates(input(samples));
    expect(byCohort.result).toBe('pass');
    expect(byCohort.measured.cohortsCompared).toBe(1);
    expect(byCohort.measured.p95LatencyRatio).toBeCloseTo(1, 1);
    // Without cohorts the busy cool site makes the baseline fast: what looks like a 10×
    // regression, which the gate cannot pass.
    const fleetWide = evaluateGates(input(samples, { cohortBy: [], gates: { failureThreshold: 1 } }));
    expect(fleetWide.measured.p95LatencyRatio).toBeGreaterThan(5);
    expect(fleetWide.result).not.toBe('pass');
    expect(verdictOf(fleetWide, 'p95LatencyRatio')?.verdict).not.toBe('passing');
  });

  it('re-weights the baseline to the canaries cohort mix', () => {
    // Canaries: 300 requests at hot (100 ms), 3000 at cool (10 ms). Baseline the reverse mix.
    // Same per-site latency on both revisions, so the re-weighted baseline matches exactly.
    const samples = [
      canary('c1@hot', { ms: 100, requests: 300 }),
      canary('c2@cool', { ms: 10, requests: 3000 }),
      ...['b1@hot', 'b3@hot', 'b5@hot'].map((id) => base(id, { ms: 100, requests: 1000 })),
      ...['b2@cool', 'b4@cool', 'b6@cool'].map((id) => base(id, { ms: 10, requests: 100 })),
    ];
    const g = evaluateGates(input(samples));
    expect(g.measured.cohortsCompared).toBe(2);
    expect(g.measured.p95LatencyRatio).toBeCloseTo(1, 2);
    expect(g.result).toBe('pass');
  });

  it('a cohort with too little baseline data is compared with its family (here every site: the nodes carry no accelerator label)', () => {
    // Five nodes at main: resampling nodes rarely leaves the fleet baseline to the new site's fast few requests.
    const main = ['b2@main', 'b3@main', 'b4@main', 'b5@main', 'b6@main'].map((id) => base(id, { ms: 20, requests: 600 }));
    const samples = [canary('c1@new', { ms: 20, requests: 3000 }), base('b1@new', { ms: 5, requests: 20 }), ...main];
    const g = evaluateGates(input(samples));
    expect(g.measured.cohortsCompared).toBe(1);
    expect(g.measured.cohortsOnFleetBaseline).toBe(0);
    expect(g.result).toBe('pass');
    // Without families (cohortBy names no site to pool across), the fleet serves.
    const fleet = evaluateGates({ ...input(samples), cohortFamily: undefined });
    expect(fleet.measured.cohortsOnFleetBaseline).toBe(1);
    expect(fleet.result).toBe('pass');
  });

  it('the baseline counts only over the canaries span: a quiet fast hour before does not make it look fast', () => {
    const samples = [
      canary('c1', { ms: 40, requests: 300, start: T0 + 5 * MIN, end: T0 + 6 * MIN }),
      base('b1', { ms: 40, requests: 300, start: T0 + 5 * MIN, end: T0 + 6 * MIN }),
      base('b1', { ms: 10, requests: 3000, start: T0, end: T0 + MIN }),
    ];
    const g = evaluateGates(input(samples));
    expect(g.measured.baselineRequests).toBe(300);
    expect(g.measured.p95LatencyRatio).toBeCloseTo(1, 2);
    expect(g.result).toBe('pass');
  });

  it('the baseline is re-weighted by time slot: a busy slow minute weighs as much as the canaries had in it', () => {
    // Both revisions: minute 1 fast, minute 2 slow (load). The canaries have most requests
    // in minute 2; the baseline most in minute 1. Matched by slot, the two agree.
    const samples = [
      canary('c1', { ms: 10, requests: 300, start: T0, end: T0 + MIN }),
      canary('c1', { ms: 30, requests: 3000, start: T0 + MIN, end: T0 + 2 * MIN }),
      ...['b1', 'b2', 'b3'].flatMap((id) => [
        base(id, { ms: 10, requests: 1000, start: T0, end: T0 + MIN }),
        base(id, { ms: 30, requests: 100, start: T0 + MIN, end: T0 + 2 * MIN }),
      ]),
    ];
    const g = evaluateGates(input(samples));
    expect(g.measured.p95LatencyRatio).toBeCloseTo(1, 2);
    expect(g.result).toBe('pass');
  });

  it('many strata (100 sites × 10 minutes): every canary site compared with its own baseline, identical releases pass', () => {
    const samples: NodeWorkloadStats[] = [];
    for (let site = 0; site < 100; site++)
      for (let m = 0; m < 10; m++) {
        const ms = 10 + site + 5 * m;
        const at = { start: T0 + m * MIN, end: T0 + (m + 1) * MIN };
        samples.push(canary(`c${site}@s${site}`, { ms, requests: 50, ...at }));
        for (const b of ['b', 'd', 'e']) samples.push(base(`${b}${site}@s${site}`, { ms, requests: 200, ...at }));
      }
    const g = evaluateGates(input(samples));
    expect(g.measured.cohortsCompared).toBe(100);
    expect(g.measured.cohortsOnFleetBaseline).toBe(0);
    expect(g.measured.p95LatencyRatio).toBeCloseTo(1, 2);
    expect(verdictOf(g, 'p95LatencyRatio')?.verdict).toBe('passing');
  });

  it('a sample overlapping the window edge counts', () => {
    const g = evaluateGates(input([canary('c1', { requests: 300, start: T0 - MIN, end: T0 + MIN }), base('b1', { requests: 300 })]));
    expect(g.measured.canaryRequests).toBe(300);
  });
});

describe('gates: each canary node compared with itself (node speed)', () => {
  const LOOKBACK = 15 * MIN;
  /**
   * A node's per-minute samples from `from` to T0 + 10 min, 100 requests each at 20 ms ×
   * `speed`: on revision 1 until `switchAt`, then on revision 2 (× `regression`), warm from
   * its first minute (its instance started at `switchAt`, 100 requests before).
   */
  function node(id: string, o: { speed: number; switchAt?: number; regression?: number; from?: number; requests?: number }): NodeWorkloadStats[] {
    const out: NodeWorkloadStats[] = [];
    for (let t = o.from ?? T0 - LOOKBACK; t < T0 + 10 * MIN; t += MIN) {
      const on = o.switchAt !== undefined && t >= o.switchAt;
      const ms = 20 * o.speed * (on ? (o.regression ?? 1) : 1);
      const at = { start: t, end: t + MIN, ms, requests: o.requests ?? 100 };
      out.push(on ? canary(id, { ...at, instanceStartedAt: o.switchAt as number, instanceRequestsBefore: 100 }) : base(id, at));
    }
    return out;
  }
  /** Six baseline nodes at 0.9–1.1 of the fleet's speed. */
  const fleet = (): NodeWorkloadStats[] => [0.9, 0.95, 1, 1, 1.05, 1.1].flatMap((speed, i) => node(`b${i}`, { speed }));
  const judge = (samples: NodeWorkloadStats[], lookback = true) => evaluateGates({ ...input(samples), speedFrom: lookback ? T0 - LOOKBACK : undefined });
  const SWITCH = T0 + MIN;

  it.each<[string, NodeWorkloadStats[], 'passing' | 'failing', string]>([
    [
      'identical releases, one canary 1.4× slower than the fleet',
      [...node('c1', { speed: 1, switchAt: SWITCH }), ...node('c2', { speed: 1.4, switchAt: SWITCH }), ...fleet()],
      'passing',
      '2 of 2 canary nodes compared with themselves',
    ],
    [
      'identical releases, both canaries 1.3× slower than the fleet',
      [...node('c1', { speed: 1.3, switchAt: SWITCH }), ...node('c2', { speed: 1.35, switchAt: SWITCH }), ...fleet()],
      'passing',
      '2 of 2 canary nodes compared with themselves',
    ],
    [
      'a 1.3× regression on two canaries faster than the fleet',
      [...node('c1', { speed: 0.8, switchAt: SWITCH, regression: 1.3 }), ...node('c2', { speed: 0.85, switchAt: SWITCH, regression: 1.3 }), ...fleet()],
      'failing',
      '2 of 2 canary nodes compared with themselves',
    ],
    [
      'a 1.3× regression on canaries of different speeds',
      [...node('c1', { speed: 0.85, switchAt: SWITCH, regression: 1.3 }), ...node('c2', { speed: 1.15, switchAt: SWITCH, regression: 1.3 }), ...fleet()],
      'failing',
      '2 of 2 canary nodes compared with themselves',
    ],
  ])('%s', (_name, samples, verdict, says) => {
    const v = verdictOf(judge(samples), 'p95LatencyRatio');
    expect(v?.verdict).toBe(verdict);
    expect(v?.message).toContain(says);
  });

  it.each<[string, NodeWorkloadStats[], 'undecided' | 'passing']>([
    [
      'identical releases, one canary 1.4× slower',
      [...node('c1', { speed: 1, switchAt: SWITCH }), ...node('c2', { speed: 1.4, switchAt: SWITCH }), ...fleet()],
      'undecided',
    ],
    [
      'a 1.3× regression on two fast canaries',
      [...node('c1', { speed: 0.8, switchAt: SWITCH, regression: 1.3 }), ...node('c2', { speed: 0.85, switchAt: SWITCH, regression: 1.3 }), ...fleet()],
      'passing',
    ],
  ])('without their own samples from before the switch: %s (the node speed, not the release)', (_name, samples, verdict) => {
    const withoutPast = samples.filter((s) => !(s.nodeId.startsWith('c') && s.revision === 1));
    expect(verdictOf(judge(withoutPast), 'p95LatencyRatio')?.verdict).toBe(verdict);
  });

  it.each<[string, NodeWorkloadStats[], string]>([
    [
      'a canary with too few requests before its switch (one minute of 100) is unadjusted',
      [...node('c1', { speed: 1, switchAt: SWITCH }), ...node('c2', { speed: 1.4, switchAt: SWITCH, from: T0 }), ...fleet()],
      '1 of 2 canary nodes compared with themselves',
    ],
    [
      "an earlier step's canary that switched before the lookback is unadjusted",
      [...node('c1', { speed: 1, switchAt: SWITCH }), ...node('c2', { speed: 1.4, switchAt: T0 - 20 * MIN }), ...fleet()],
      '1 of 2 canary nodes compared with themselves',
    ],
    [
      "an earlier step's canary that switched within the lookback is adjusted from the samples loaded before its switch",
      [...node('c1', { speed: 1, switchAt: SWITCH }), ...node('c2', { speed: 1.4, switchAt: T0 - 10 * MIN }), ...fleet()],
      '2 of 2 canary nodes compared with themselves',
    ],
  ])('%s', (_name, samples, says) => {
    expect(verdictOf(judge(samples), 'p95LatencyRatio')?.message).toContain(says);
  });

  it('without the lookback only the window’s samples from before each switch tell speed: one minute of 100 requests, too few', () => {
    const samples = [...node('c1', { speed: 1, switchAt: SWITCH }), ...node('c2', { speed: 1.4, switchAt: SWITCH }), ...fleet()];
    const v = verdictOf(judge(samples, false), 'p95LatencyRatio');
    expect(v?.verdict).toBe('undecided');
    expect(v?.message).not.toContain('compared with themselves');
  });

  it('lookback samples are never analysed: the baseline and the measured P95 are those of the window, as served', () => {
    const samples = [...node('c1', { speed: 1, switchAt: SWITCH }), ...node('c2', { speed: 1.4, switchAt: SWITCH }), ...fleet()];
    const withLookback = judge(samples);
    const windowOnly = evaluateGates(input(samples.filter((s) => s.intervalEnd > T0)));
    expect(withLookback.measured.baselineRequests).toBe(windowOnly.measured.baselineRequests);
    expect(withLookback.measured.canaryRequests).toBe(windowOnly.measured.canaryRequests);
    expect(withLookback.measured.p95LatencyMs).toBe(windowOnly.measured.p95LatencyMs);
    expect(withLookback.measured.p95LatencyMs).toBeGreaterThan(26);
  });

  it('the absolute ceiling judges latency as served, not speed-adjusted', () => {
    const samples = [...node('c1', { speed: 1.4, switchAt: SWITCH }), ...node('c2', { speed: 1.45, switchAt: SWITCH }), ...fleet()];
    const g = evaluateGates({ ...input(samples, { gates: { maxP95LatencyMs: 25 } }), speedFrom: T0 - LOOKBACK });
    expect(verdictOf(g, 'p95LatencyRatio')?.verdict).toBe('passing');
    expect(verdictOf(g, 'maxP95LatencyMs')?.verdict).toBe('failing');
  });
});
