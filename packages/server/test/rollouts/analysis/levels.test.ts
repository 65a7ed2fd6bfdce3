/**
 * Hardware levels (src/rollouts/analysis/levels.ts) and node speed against the family: a
 * fleet of fast and slow accelerators (Hailo-10H about 4 ms, Coral 43 ms) is judged on all
 * its canaries, not on the slowest kind's one node that the P95 of a mixture would read,
 * nor on a canary's one cohort peer.
 */
import { histogramOf, mulberry32, RolloutGatesSchema, type WorkloadStats } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { familyShifts } from '../../../src/rollouts/analysis/levels.js';
import { evaluateGates, type GateInput } from '../../../src/rollouts/gates.js';
import { DEPLOYMENT, MIN, T0 } from '../fleet.js';

const KINDS = [
  { name: 'hailo10h', ms: 4.3 },
  { name: 'coral', ms: 43 },
] as const;
const SITES = 4;
const SWITCH = T0 + MIN;

interface NodePlan {
  kind: 0 | 1;
  /** Default: the node's position modulo `SITES`. */
  site?: number;
  /** The board's speed factor (default 1). */
  speed?: number;
  canary: boolean;
  /** The new revision's latency factor on this node. */
  regression: number;
}

/**
 * Per-minute samples from 15 minutes before T0 to T0 + 20 min, 60 requests a minute,
 * log-normal (σ 0.18) around the kind's median with 1 % of requests 4 × as long; canaries
 * switch to revision 2 at T0 + 1 min (warm from then on).
 */
function fleet(plans: NodePlan[], seed: number): GateInput {
  const random = mulberry32(seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
  const samples = plans.map((plan) => {
    const out: WorkloadStats[] = [];
    for (let t = T0 - 15 * MIN; t < T0 + 20 * MIN; t += MIN) {
      const onNew = plan.canary && t >= SWITCH;
      const factor = (onNew ? plan.regression : 1) * (plan.speed ?? 1);
      const values = Array.from({ length: 60 }, () => KINDS[plan.kind].ms * factor * Math.exp(0.18 * normal()) * (random() < 0.01 ? 4 : 1));
      out.push({
        deployment: DEPLOYMENT,
        revision: onNew ? 2 : 1,
        intervalStart: t,
        intervalEnd: t + MIN,
        requests: 60,
        errors: 0,
        restarts: 0,
        fallback: false,
        latency: histogramOf(values),
        ...(onNew ? { instanceStartedAt: SWITCH, instanceRequestsBefore: 100 } : {}),
      });
    }
    return out;
  });
  return {
    deployment: DEPLOYMENT,
    gates: RolloutGatesSchema.parse({ minRequests: 200 }),
    revision: 2,
    baselineRevision: 1,
    compareWithBaseline: true,
    samples,
    // Cohort = site × accelerator; family = the accelerator at every site.
    cohortOf: plans.map((plan, i) => (plan.site ?? i % SITES) * 2 + plan.kind),
    cohortFamily: Array.from({ length: SITES * 2 }, (_, c) => c % 2),
    window: { from: T0, to: T0 + 20 * MIN },
    speedFrom: T0 - 15 * MIN,
    now: T0 + 20 * MIN,
  };
}

/** 40 Hailo-10H and 12 Coral nodes; the first four Hailo nodes and the first Coral node are canaries. */
function plans(regression: { hailo: number; coral: number }): NodePlan[] {
  const out: NodePlan[] = [];
  for (let i = 0; i < 40; i++) out.push({ kind: 0, canary: i < 4, regression: regression.hailo });
  for (let i = 0; i < 12; i++) out.push({ kind: 1, canary: i === 0, regression: regression.coral });
  return out;
}

const p95 = (input: GateInput) => evaluateGates(input).gates.find((g) => g.gate === 'p95LatencyRatio');

describe('hardware levels: every canary counts, whatever its accelerator', () => {
  it('a 1.5× regression on the four Hailo canaries fails, though the one Coral canary is unchanged', () => {
    // The P95 of the mixed canaries (4 fast nodes, 1 ten times slower at the same rate) is
    // the Coral node's P75: read as a mixture, this ratio is the Coral node's alone, ~1.0.
    const v = p95(fleet(plans({ hailo: 1.5, coral: 1 }), 7));
    expect(v?.verdict).toBe('failing');
    expect(v?.estimate).toBeGreaterThan(1.3);
    expect(v?.message).toContain('2 hardware families lined up at one level');
  });

  it('identical releases pass, and a 1.5× regression on every canary reads 1.5', () => {
    const same = p95(fleet(plans({ hailo: 1, coral: 1 }), 11));
    expect(same?.verdict).toBe('passing');
    const slow = p95(fleet(plans({ hailo: 1.5, coral: 1.5 }), 11));
    expect(slow?.verdict).toBe('failing');
    expect(slow?.estimate).toBeGreaterThan(1.4);
    expect(slow?.estimate).toBeLessThan(1.6);
  });
});

describe('node speed against the same hardware at every site', () => {
  it('a canary whose one cohort peer is a slow board is not taken for fast: an identical release passes', () => {
    // Site 0 has two Hailo nodes: the canary (speed 1) and a board at 1.35. Against its
    // cohort the canary reads 0.74× and, adjusted, would sit at 1.35 × its kind: "P95 ratio 1.35".
    const plans: NodePlan[] = [
      { kind: 0, site: 0, canary: true, regression: 1 },
      { kind: 0, site: 0, canary: false, regression: 1, speed: 1.35 },
      ...Array.from({ length: 30 }, (_, i): NodePlan => ({ kind: 0, site: 1 + (i % 3), canary: false, regression: 1 })),
    ];
    const v = p95(fleet(plans, 5));
    expect(v?.estimate).toBeLessThan(1.1);
    expect(v?.verdict).toBe('passing');
  });
});

describe('familyShifts', () => {
  const entry = (p: number, ms: number, n = 300) => ({ p, n, latency: histogramOf(Array.from({ length: n }, () => ms)) });
  const family = (p: number): number => (p < 10 ? 0 : 1);

  it('moves each family to the canaries’ level, by its baseline’s mean bucket', () => {
    // Family 0 at 4 ms, family 1 at 40 ms; all canary values in family 0: family 1 moves down ~116 buckets (log 10 / log 1.02).
    const baseline = [entry(1, 4), entry(2, 4), entry(3, 4), entry(11, 40), entry(12, 40), entry(13, 40)];
    const { shifts, families } = familyShifts([entry(0, 4)], baseline, family, () => 0, 200);
    expect(families).toBe(2);
    expect(shifts.has(0)).toBe(false);
    expect(shifts.get(1)).toBeGreaterThan(110);
    expect(shifts.get(1)).toBeLessThan(122);
  });

  it('leaves a family alone whose baseline is one or two nodes, and everything when one family has a level', () => {
    const baseline = [entry(1, 4), entry(2, 4), entry(3, 4), entry(11, 40), entry(12, 40)];
    expect(familyShifts([entry(0, 4), entry(10, 40)], baseline, family, () => 0, 200)).toEqual({ shifts: new Map(), families: 0 });
  });

  it('takes each baseline node at its speed-adjusted level', () => {
    const baseline = [entry(1, 4), entry(2, 4), entry(3, 4), entry(11, 40), entry(12, 40), entry(13, 40)];
    // Family 1's nodes said to be 116 buckets slower than their cohort: their level is family 0's.
    const { shifts } = familyShifts([entry(0, 4)], baseline, family, (p) => (p >= 10 ? 116 : 0), 200);
    expect(Math.abs(shifts.get(1) ?? 0)).toBeLessThanOrEqual(6);
  });
});
