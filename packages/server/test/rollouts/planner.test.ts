import { type RolloutStrategyInput, RolloutStrategySchema } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { SPEED_LOOKBACK_MS } from '../../src/rollouts/analysis/speed.js';
import { pickOrder, stepNodes, stepSize } from '../../src/rollouts/cohorts.js';
import { planRollout } from '../../src/rollouts/planner.js';
import { desiredRevisions, parseRolloutState, type RolloutState, statsWindow } from '../../src/rollouts/state.js';
import { countNodes, rolloutStatus } from '../../src/rollouts/status.js';
import { actionsOf, assignedBy, DEPLOYMENT, labels, MIN, node, Sim, spreadNodes, strategy, T0 } from './fleet.js';

const HOUR = 60 * MIN;

/** Runs plan → converge → traffic until `done` or `max` cycles. */
function runUntil(sim: Sim, done: (s: Sim) => boolean, max = 500, minutes = 1): void {
  for (let i = 0; i < max; i++) {
    sim.plan();
    sim.converge();
    if (done(sim)) return;
    sim.traffic({ minutes });
  }
  throw new Error(`not done after ${max} cycles: ${sim.state?.phase} ${sim.state?.reason} ${sim.state?.message}`);
}

const phase = (p: string) => (s: Sim) => s.state?.phase === p;
const atStep = (i: number) => (s: Sim) => (s.state?.stepIndex ?? 0) >= i;

describe('planRollout: the happy path', () => {
  it('a first plan starts step 1 of 4 with one canary', () => {
    const sim = new Sim({ nodes: spreadNodes(40, 4, 2) });
    const p = sim.plan();
    expect(p.actions.map((a) => (a.action === 'event' ? `event:${a.event.type}` : a.action))).toEqual([
      'event:RolloutStarted',
      'startStep',
      'event:StepStarted',
      'assign',
      'hold',
    ]);
    expect(actionsOf(p, 'startStep')[0]).toEqual({ action: 'startStep', index: 0, percent: 1, nodes: 1 });
    expect(assignedBy(p)).toHaveLength(1);
    expect(actionsOf(p, 'hold')[0]?.reason).toBe('NodesUpdating');
    expect(p.status).toMatchObject({ deployment: DEPLOYMENT, revision: 2, fromRevision: 1, phase: 'Progressing', step: 1, steps: 4 });
    expect(p.status.nodes).toEqual({ total: 40, updated: 0, pending: 40, deferred: 0, failed: 0, rolledBack: 0 });
  });

  it('a good release goes 1 → 10 → 50 → 100 % and succeeds, never ahead of its step', () => {
    const sim = new Sim({ nodes: spreadNodes(40, 4, 2), strategy: { maxUnavailablePerSite: '50%' } });
    let ahead = 0;
    for (let i = 0; i < 400 && sim.state?.phase !== 'Succeeded'; i++) {
      sim.plan();
      sim.converge();
      const st = sim.state as RolloutState;
      const allowed = stepSize(sim.strategy.steps[st.stepIndex]?.percent ?? 100, 40);
      if (sim.servingOn(2).length > allowed) ahead++;
      sim.traffic({ minutes: 2 });
    }
    expect(sim.state?.phase).toBe('Succeeded');
    expect(ahead).toBe(0);
    expect(sim.servingOn(2)).toHaveLength(40);
    const steps = sim.actions.flat().filter((a) => a.action === 'startStep');
    expect(steps.map((a) => (a.action === 'startStep' ? [a.percent, a.nodes] : []))).toEqual([
      [1, 1],
      [10, 4],
      [50, 20],
      [100, 40],
    ]);
    expect(sim.eventTypes().filter((t) => t === 'GatePassed')).toHaveLength(4);
    expect(sim.eventTypes().at(-1)).toBe('Succeeded');
    // Events are numbered without gaps.
    expect(sim.events.map((e) => e.seq)).toEqual(sim.events.map((_, i) => i));
    expect(sim.last.status.nodes).toEqual({ total: 40, updated: 40, pending: 0, deferred: 0, failed: 0, rolledBack: 0 });
    expect(sim.last.status.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'Succeeded' });
    expect(sim.last.actions.some((a) => a.action === 'finish' && a.phase === 'Succeeded')).toBe(true);
  });

  it('bakes: a reached step waits for its bake, then passes its gates', () => {
    const sim = new Sim({ nodes: spreadNodes(20, 2, 1), strategy: { steps: [{ percent: 10, bake: '10m' }, { percent: 100 }] } });
    sim.plan();
    sim.converge();
    sim.plan();
    const reachedAt = sim.state?.reachedAt as number;
    expect(reachedAt).toBe(sim.now);
    expect(actionsOf(sim.last, 'hold')[0]?.reason).toBe('Baking');
    sim.traffic({ minutes: 9 });
    expect(actionsOf(sim.plan(), 'hold')[0]?.reason).toBe('Baking');
    sim.traffic({ minutes: 1 });
    const p = sim.plan();
    expect(actionsOf(p, 'passGate')).toHaveLength(1);
    expect(actionsOf(p, 'startStep')[0]?.index).toBe(1);
  });
});

describe('planRollout: no data holds, never passes', () => {
  it.each([
    ['no traffic at all', 0, 'never'],
    ['too little traffic for minRequests during the bake', 10, 'later'],
  ])('%s', (_name, perMinute, outcome) => {
    // maxAnalysisTime long enough that only the data decides here (it has tests of its own).
    const sim = new Sim({
      nodes: spreadNodes(20, 2, 1),
      strategy: { steps: [{ percent: 5, bake: '10m' }, { percent: 100 }], gates: { maxAnalysisTime: '10h' } },
    });
    sim.requestsPerTick = perMinute;
    runUntil(sim, (s) => s.now >= T0 + 12 * MIN);
    expect(sim.state?.phase).toBe('Holding');
    expect(sim.state?.reason).toBe('InsufficientData');
    expect(sim.state?.stepIndex).toBe(0);
    expect(sim.last.status.gate).toMatchObject({ result: 'hold', reason: 'InsufficientData' });
    expect(sim.events.filter((e) => e.type === 'Holding')).toHaveLength(1);
    // Much later: with no data still holding (and not failed by the progress deadline);
    // with some data the canary reaches 200 requests in the window and passes.
    runUntil(sim, (s) => s.now >= T0 + 5 * HOUR || s.state?.stepIndex === 1, 400, 5);
    if (outcome === 'never') {
      expect(sim.state?.phase).toBe('Holding');
      expect(sim.eventTypes()).not.toContain('GatePassed');
    } else {
      expect(sim.state?.stepIndex).toBe(1);
      expect(sim.eventTypes()).toContain('GatePassed');
    }
  });
});

describe('planRollout: failures', () => {
  it('a measurably slower release is stopped at the first step and rolled back; no other node ever ran it', () => {
    const sim = new Sim({ nodes: spreadNodes(40, 4, 2) });
    sim.latency[2] = 40;
    let most = 0;
    for (let i = 0; i < 30 && sim.state?.phase !== 'RolledBack'; i++) {
      sim.plan();
      sim.converge();
      most = Math.max(most, sim.servingOn(2).length);
      sim.traffic();
    }
    expect(sim.state?.phase).toBe('RolledBack');
    expect(sim.state?.reason).toBe('GateFailed');
    expect(sim.state?.stepIndex).toBe(0);
    expect(most).toBe(1);
    expect(sim.servingOn(2)).toEqual([]);
    const failed = sim.events.find((e) => e.type === 'GateFailed');
    expect(failed?.gate?.failed).toEqual(['p95LatencyRatio']);
    expect(failed?.gate?.measured.p95LatencyMs).toBeGreaterThan(40);
    expect(failed?.gate?.measured.baselineP95LatencyMs).toBeLessThan(22);
    const verdict = failed?.gate?.gates.find((v) => v.gate === 'p95LatencyRatio');
    expect(verdict).toMatchObject({ verdict: 'failing', consecutiveFailures: 2, threshold: 1.2, confidence: 0.95 });
    expect(verdict?.interval?.low).toBeGreaterThan(1.2);
    const progressing = sim.last.status.conditions.find((c) => c.type === 'Progressing');
    expect(progressing).toMatchObject({ status: 'False', reason: 'GateFailed' });
    expect(progressing?.message).toMatch(
      /P95 ratio [12]\.\d\d \([12]\.\d\d–[12]\.\d\d at 95 %\), threshold 1\.2: failing \(2 of 2 consecutive evaluations\): P95 4\d\.\d ms against 2\d\.\d ms/,
    );
    // The first failing evaluation only held the step: a failure needs two in a row.
    const firstFailing = sim.actions.flat().find((a) => a.action === 'hold' && /failing \(1 of 2 consecutive evaluations\)/.test(a.message));
    expect(firstFailing).toBeDefined();
    expect(sim.last.status.nodes.rolledBack).toBe(1);
    expect(sim.eventTypes()).toEqual(expect.arrayContaining(['GateFailed', 'RollbackStarted']));
  });

  it('a release whose workload crashes is rolled back', () => {
    const sim = new Sim({ nodes: spreadNodes(10, 1, 1), strategy: { steps: [{ percent: 10 }, { percent: 100 }] } });
    for (const n of sim.nodes) n.broken.add(2);
    runUntil(sim, (s) => s.state?.phase === 'RolledBack', 10);
    expect(sim.state?.reason).toBe('NodesFailed');
    expect(sim.events.find((e) => e.type === 'NodesFailed')?.message).toMatch(/1 of 1 reachable nodes failed revision 2/);
  });

  it('rollback touches only the nodes that got the new revision', () => {
    const nodes = spreadNodes(40, 4, 2);
    const sim = new Sim({ nodes, strategy: { maxUnavailablePerSite: '100%' } });
    // The first node step 3 (50 %) picks is away from the start: deferred when its turn comes.
    const away = sim.get(pickOrder(DEPLOYMENT, 2, nodes, ['geolocation.site', 'ai.accelerator'])[stepSize(10, 40)] as string);
    away.online = false;
    runUntil(sim, atStep(2), 300, 2);
    expect(sim.state?.deferred).toEqual([away.id]);
    // Step 3 is being switched when the new revision turns slow.
    sim.latency[2] = 60;
    runUntil(sim, phase('RolledBack'), 50);
    const rollback = sim.actions.flat().find((a) => a.action === 'rollback');
    const assigned = new Set((sim.actions.flat().filter((a) => a.action === 'assign') as { nodeIds: string[] }[]).flatMap((a) => a.nodeIds));
    expect(rollback?.action === 'rollback' && new Set(rollback.nodeIds)).toEqual(assigned);
    expect(rollback?.action === 'rollback' && rollback.toRevision).toBe(1);
    expect(assigned.has(away.id)).toBe(false);
    expect(assigned.size).toBeLessThan(40);
    for (const n of sim.nodes) expect(sim.desired(n.id)).toBe(1);
  });

  it.each([
    ['rollback', 'RolledBack'],
    ['pause', 'Paused'],
  ] as const)('no progress for progressDeadline fails the rollout (onFailure %s → %s)', (onFailure, want) => {
    const sim = new Sim({ nodes: spreadNodes(10, 1, 1), strategy: { onFailure, progressDeadline: '2h' } });
    sim.plan(); // the canary is told but never switches
    sim.advance(2 * HOUR);
    expect(sim.plan().status.phase).toBe('Progressing');
    sim.advance(MIN);
    const p = sim.plan();
    expect(p.status.phase).toBe(want);
    expect(p.state.reason).toBe('ProgressDeadlineExceeded');
    expect(sim.eventTypes()).toContain('ProgressDeadlineExceeded');
  });

  it('onFailure pause stops for a person; resume judges the step on fresh data', () => {
    const sim = new Sim({ nodes: spreadNodes(20, 2, 1), strategy: { onFailure: 'pause', steps: [{ percent: 5, bake: '5m' }, { percent: 100 }] } });
    sim.latency[2] = 40;
    runUntil(sim, phase('Paused'), 20);
    expect(sim.state?.reason).toBe('GateFailed');
    expect(sim.servingOn(2)).toHaveLength(1);
    expect(actionsOf(sim.plan(), 'hold')[0]?.reason).toBe('Paused');
    sim.latency[2] = 20; // fixed on the node, say
    sim.traffic({ minutes: 3 });
    const resumed = sim.plan([{ command: 'resume', by: 'ops' }]);
    expect(resumed.state.windowStart).toBe(sim.now);
    expect(resumed.state.phase).not.toBe('Paused');
    runUntil(sim, phase('Succeeded'), 100);
  });
});

describe('planRollout: offline nodes', () => {
  function withAwayCanary(offlineFor: number): { sim: Sim; away: string } {
    const sim = new Sim({ nodes: spreadNodes(20, 1, 1), strategy: { steps: [{ percent: 5 }, { percent: 100 }], maxUnavailablePerSite: '100%' } });
    // Find the first canary and take it away before the rollout starts.
    const first = planRollout({ ...planInput(sim), now: sim.now }).state.picked[0] as string;
    const away = sim.get(first);
    away.online = false;
    away.lastSeen = sim.now - offlineFor;
    return { sim, away: first };
  }

  it('a canary offline for less than deferAfter is waited for', () => {
    const { sim, away } = withAwayCanary(MIN);
    const p = sim.plan();
    expect(p.state.picked).toEqual([away]);
    expect(assignedBy(p)).toEqual([]);
    expect(actionsOf(p, 'hold')[0]?.reason).toBe('NodesUpdating');
  });

  it('a canary offline for deferAfter is deferred, another is picked; it catches up on return', () => {
    const { sim, away } = withAwayCanary(2 * MIN);
    const p = sim.plan();
    expect(actionsOf(p, 'defer')).toEqual([{ action: 'defer', nodeIds: [away] }]);
    expect(p.state.picked).toHaveLength(2);
    expect(assignedBy(p)).toEqual([p.state.picked[1]]);
    expect(p.status.nodes.deferred).toBe(1);
    expect(p.status.nodes.failed).toBe(0);
    sim.converge();
    sim.traffic({ minutes: 3 });
    sim.plan();
    sim.converge();
    expect(sim.state?.stepIndex).toBe(1); // the step completed without it
    sim.get(away).online = true;
    const back = sim.plan();
    expect(back.actions.some((a) => a.action === 'event' && a.event.type === 'NodesReturned')).toBe(true);
    expect(assignedBy(back)).toContain(away);
  });

  it.each([
    ['going', 2, undefined],
    ['succeeded', 2, 'Succeeded'],
    ['rolled back', 1, 'RolledBack'],
  ] as const)('a deferred node returning while the rollout is %s gets revision %i', (_name, want, end) => {
    const { sim, away } = withAwayCanary(10 * MIN);
    if (end === 'RolledBack') sim.latency[2] = 50;
    if (end !== undefined) runUntil(sim, phase(end), 200);
    else runUntil(sim, atStep(1), 50);
    expect(sim.get(away).serving).toBe(1);
    sim.get(away).online = true;
    sim.plan();
    sim.converge();
    expect(sim.get(away).serving).toBe(want);
  });

  it('an offline node never blocks the fleet: a 100 % step succeeds without it', () => {
    const { sim, away } = withAwayCanary(10 * MIN);
    runUntil(sim, phase('Succeeded'), 100);
    expect(sim.get(away).serving).toBe(1);
    expect(sim.last.status.nodes).toMatchObject({ updated: 19, deferred: 1, failed: 0 });
    expect(sim.state?.message).toMatch(/1 deferred nodes get it when they return/);
  });
});

function planInput(sim: Sim) {
  return {
    deployment: DEPLOYMENT,
    strategy: sim.strategy,
    revision: sim.revision,
    fromRevision: sim.fromRevision,
    nodes: sim.view(),
    state: sim.state,
    now: sim.now,
  };
}

describe('planRollout: per-site limits and maxParallel', () => {
  const all = strategy({ steps: [{ percent: 100 }], maxParallel: 50 });
  const plan = (nodes: ReturnType<typeof node>[], s = all) =>
    planRollout({ deployment: DEPLOYMENT, strategy: s, revision: 2, fromRevision: 1, nodes, state: null, stats: [], now: T0 });

  it.each([
    ['a site of two serving nodes switches one at a time, even with 100 %', [node('a1', labels('A')), node('a2', labels('A'))], '100%', 1, false],
    ['a single-node site is switched', [node('a1', labels('A'))], 1, 1, false],
    [
      'the last serving node of a site waits while the other is briefly away',
      [node('a1', labels('A')), node('a2', labels('A'), { online: false, lastSeen: T0 - MIN })],
      '100%',
      0,
      true,
    ],
    [
      '…but not for a node gone longer than deferAfter',
      [node('a1', labels('A')), node('a2', labels('A'), { online: false, lastSeen: T0 - 10 * MIN })],
      '100%',
      1,
      false,
    ],
    [
      'a node that serves nothing is not protected',
      [node('a1', labels('A'), { serving: null }), node('a2', labels('A'), { online: false, lastSeen: T0 - MIN })],
      1,
      1,
      false,
    ],
    ['maxUnavailablePerSite 1 of 10', Array.from({ length: 10 }, (_, i) => node(`a${i}`, labels('A'))), 1, 1, false],
    ['maxUnavailablePerSite 3 of 10', Array.from({ length: 10 }, (_, i) => node(`a${i}`, labels('A'))), 3, 3, false],
    ['maxUnavailablePerSite 50 % of 10', Array.from({ length: 10 }, (_, i) => node(`a${i}`, labels('A'))), '50%', 5, false],
    [
      'an already unavailable node uses the site budget',
      [...Array.from({ length: 9 }, (_, i) => node(`a${i}`, labels('A'))), node('down', labels('A'), { serving: null })],
      2,
      2,
      false,
    ],
    ['per site, not fleet-wide', [...['A', 'B', 'C'].flatMap((s) => [node(`${s}1`, labels(s)), node(`${s}2`, labels(s))])], 1, 3, false],
    ['nodes without a site label have no site limit', Array.from({ length: 5 }, (_, i) => node(`x${i}`)), 1, 5, false],
  ] as const)('%s', (_name, nodes, limit, assigned, held) => {
    const p = plan([...nodes], strategy({ steps: [{ percent: 100 }], maxUnavailablePerSite: limit }));
    expect(assignedBy(p)).toHaveLength(assigned);
    expect(actionsOf(p, 'hold')[0]?.reason === 'SiteLimit').toBe(held || (assigned < nodes.filter((n) => n.online).length && assigned > 0));
  });

  it('when the protected node can go, it does: one node of the site is then updated', () => {
    const sim = new Sim({
      nodes: [
        { id: 'a1', labels: labels('A') },
        { id: 'a2', labels: labels('A') },
      ],
      strategy: { steps: [{ percent: 100 }], maxUnavailablePerSite: '100%' },
    });
    sim.plan();
    expect(sim.state?.assigned).toHaveLength(1);
    sim.converge();
    sim.plan();
    expect(sim.state?.assigned).toHaveLength(2);
  });

  it.each([
    [100, 10, 10],
    [100, 50, 50],
    [5, 50, 5],
  ])('maxParallel: %i nodes, maxParallel %i → %i switched at once', (count, maxParallel, want) => {
    const sim = new Sim({ nodes: Array.from({ length: count }, (_, i) => ({ id: `n${i}` })), strategy: { steps: [{ percent: 100 }], maxParallel } });
    expect(assignedBy(sim.plan())).toHaveLength(want);
    // Nothing more while those have not switched…
    sim.advance(MIN);
    expect(assignedBy(sim.plan())).toHaveLength(0);
    // …and the next batch once they have.
    sim.converge();
    expect(assignedBy(sim.plan())).toHaveLength(Math.min(want, count - want));
  });

  it('the last step succeeds only once every reachable picked node has been told', () => {
    const sim = new Sim({ nodes: Array.from({ length: 30 }, (_, i) => ({ id: `n${i}` })), strategy: { steps: [{ percent: 100 }], maxParallel: 10 } });
    sim.plan();
    sim.converge();
    sim.traffic({ minutes: 1 });
    sim.plan(); // 10 of 30 updated: not 90 %, 20 untold
    sim.converge();
    sim.traffic({ minutes: 1 });
    expect(sim.plan().state.phase).toBe('Progressing'); // 20 of 30 updated
    sim.converge();
    sim.traffic({ minutes: 1 });
    expect(sim.plan().state.phase).toBe('Succeeded');
  });
});

describe('planRollout: a newer revision supersedes', () => {
  it('mid-rollout: nodes on the abandoned revision go back to the baseline and the new rollout starts over', () => {
    const sim = new Sim({ nodes: spreadNodes(40, 4, 2), strategy: { maxUnavailablePerSite: '100%' } });
    runUntil(sim, atStep(1), 100);
    runUntil(sim, (s) => s.servingOn(2).length >= 4, 50);
    const on2 = sim.servingOn(2);
    sim.revision = 3;
    const p = sim.plan();
    expect(p.actions.filter((a) => a.action === 'event').map((a) => (a.action === 'event' ? a.event.type : ''))).toEqual(
      expect.arrayContaining(['RolloutSuperseded', 'RolloutStarted', 'RollbackStarted', 'StepStarted']),
    );
    const rollback = actionsOf(p, 'rollback')[0];
    expect(new Set(rollback?.nodeIds)).toEqual(new Set(on2));
    expect(rollback?.toRevision).toBe(1);
    expect(p.state).toMatchObject({ revision: 3, specRevision: 3, fromRevision: 1, stepIndex: 0, phase: 'Progressing' });
    expect(p.state.picked).toHaveLength(1);
    sim.converge();
    expect(sim.servingOn(2)).toEqual([]);
    expect(sim.servingOn(3)).toHaveLength(1);
    runUntil(sim, phase('Succeeded'), 400, 2);
    expect(sim.servingOn(3)).toHaveLength(40);
  });

  it.each([
    ['Succeeded', 2],
    ['RolledBack', 1],
  ] as const)('after the rollout %s it starts from revision %i with nothing to roll back', (end, base) => {
    const sim = new Sim({
      nodes: spreadNodes(10, 1, 1),
      strategy: { steps: [{ percent: 100 }], maxUnavailablePerSite: '100%', maxParallel: 100, gates: { maxP95LatencyMs: 30 } },
    });
    if (end === 'RolledBack') sim.latency[2] = 50;
    runUntil(sim, phase(end), 100);
    sim.revision = 3;
    const p = sim.plan();
    expect(p.state.fromRevision).toBe(base);
    expect(actionsOf(p, 'rollback')).toEqual([]);
  });
});

describe('planRollout: statistical gates', () => {
  it.each([
    ["with the nodes' samples from before the window (SPEED_LOOKBACK_MS): each canary compared with itself", true],
    ['without them: no canary has samples of its own from before its switch, none is adjusted', false],
  ] as const)('%s', (_name, lookback) => {
    // Every other node 1.4× slower (cooling, throttling); one site, one accelerator.
    const sim = new Sim({ nodes: spreadNodes(20, 1, 1), strategy: { steps: [{ percent: 10, bake: '5m' }, { percent: 100 }] } });
    const slow = (id: string) => Number(id.slice(1)) % 2 === 1;
    let seen = 0;
    const speeds = () => {
      sim.stats = sim.stats.map((s, i) => (i < seen || !slow(s.nodeId) ? s : { ...s, latency: { ...s.latency, offset: s.latency.offset + 17 } }));
      seen = sim.stats.length;
    };
    if (lookback) {
      sim.now = T0 - SPEED_LOOKBACK_MS;
      sim.traffic({ minutes: SPEED_LOOKBACK_MS / MIN });
    }
    speeds();
    for (let i = 0; i < 8; i++) {
      sim.cycle();
      speeds();
    }
    // Step 1's verdict, as its GatePassed event tells it.
    const passed = sim.events.find((e) => e.gate?.gates?.some((g) => g.gate === 'p95LatencyRatio'));
    const verdict = passed?.gate?.gates.find((g) => g.gate === 'p95LatencyRatio');
    expect(verdict?.verdict).toBe('passing');
    if (lookback) expect(verdict?.message).toContain('speed-adjusted: 2 of 2 canary nodes compared with themselves');
    else expect(verdict?.message).not.toContain('compared with themselves');
  });

  it.each([
    ['rollback', 'RolledBack'],
    ['pause', 'Paused'],
  ] as const)('no verdict for maxAnalysisTime after the bake ends the step (onFailure %s → %s), saying so', (onFailure, want) => {
    const sim = new Sim({
      nodes: spreadNodes(20, 2, 1),
      strategy: { onFailure, steps: [{ percent: 5, bake: '10m' }, { percent: 100 }], gates: { maxAnalysisTime: '30m' } },
    });
    sim.requestsPerTick = 0;
    sim.plan();
    sim.converge();
    sim.plan();
    const reachedAt = sim.state?.reachedAt as number;
    // 10 min bake + 30 min of holding: still holding at 40 min.
    runUntil(sim, (s) => s.now >= reachedAt + 40 * MIN, 100);
    expect(sim.state?.phase).toBe('Holding');
    expect(sim.state?.reason).toBe('InsufficientData');
    runUntil(sim, (s) => s.state?.phase === want, 5);
    expect(sim.state?.reason).toBe('AnalysisTimeExceeded');
    const event = sim.events.find((e) => e.type === 'AnalysisTimeExceeded');
    expect(event?.message).toMatch(
      /^step 1 of 2 failed: too little data for 3\d min after the bake \(maxAnalysisTime 30m\): insufficient data: .*0 of 200 requests after warm-up on revision 2/,
    );
    expect(event?.gate?.result).toBe('hold');
    if (want === 'RolledBack') {
      expect(sim.eventTypes()).toContain('RollbackStarted');
      expect(sim.servingOn(2)).toEqual([]);
    } else {
      expect(sim.state?.message).toMatch(/paused for an operator/);
      expect(sim.servingOn(2)).toHaveLength(1);
    }
    // Not a gate failure: no failGate action.
    expect(sim.actions.flat().some((a) => a.action === 'failGate')).toBe(false);
  });

  it('an undecided gate holds with reason Undecided; at maxAnalysisTime an estimate beyond the threshold ends the step', () => {
    // 1 % errors on the canary against a limit of 0.5 %: neither ruled out nor established over a few hundred requests.
    const sim = new Sim({
      nodes: spreadNodes(20, 2, 1),
      strategy: { steps: [{ percent: 5, bake: '2m' }, { percent: 100 }], gates: { maxAnalysisTime: '5m', maxErrorRate: 0.005 } },
    });
    sim.requestsPerTick = 100;
    sim.errorsPerTick[2] = 1;
    runUntil(sim, (s) => s.state?.reason === 'Undecided', 20);
    expect(sim.state?.phase).toBe('Holding');
    expect(sim.state?.message).toMatch(/^undecided: error rate 1 % .*: undecided$/);
    expect(sim.events.filter((e) => e.type === 'Holding').map((e) => e.message)).toEqual([expect.stringMatching(/^Undecided: undecided: error rate/)]);
    runUntil(sim, phase('RolledBack'), 20);
    expect(sim.state?.reason).toBe('AnalysisTimeExceeded');
    expect(sim.state?.message).toMatch(/no gate decided, and maxErrorRate estimated beyond its threshold for \d+ min after the bake \(maxAnalysisTime 5m\)/);
  });

  it('at maxAnalysisTime, undecided gates that estimate within their thresholds pass the step, and say so', () => {
    // 1 % errors against a limit of 1 %: never established, never ruled out; the estimate is within.
    const sim = new Sim({
      nodes: spreadNodes(20, 2, 1),
      strategy: { steps: [{ percent: 5, bake: '2m' }, { percent: 100 }], gates: { maxAnalysisTime: '5m' } },
    });
    sim.requestsPerTick = 100;
    sim.errorsPerTick[2] = 1;
    runUntil(sim, (s) => s.state?.reason === 'Undecided', 20);
    runUntil(sim, (s) => (s.state?.stepIndex ?? 0) > 0, 20);
    const passed = sim.events.find((e) => e.type === 'GatePassed');
    expect(passed?.message).toMatch(
      /passed at maxAnalysisTime 5m after the bake: no regression established, and the undecided gate estimates within threshold: error rate 1 %/,
    );
  });

  it('a failure needs failureThreshold failing evaluations an interval apart, however often the controller plans', () => {
    const sim = new Sim({
      nodes: spreadNodes(20, 2, 1),
      strategy: { steps: [{ percent: 5, bake: '10m' }, { percent: 100 }], gates: { failureThreshold: 3, interval: '1m' } },
    });
    sim.latency[2] = 60;
    runUntil(sim, (s) => (s.state?.gateStreaks?.p95LatencyRatio?.failures ?? 0) >= 1, 20);
    const firstAt = sim.now;
    // Planning every 10 s for 50 s counts nothing more.
    for (let i = 0; i < 5; i++) {
      sim.advance(10_000);
      sim.plan();
    }
    expect(sim.state?.gateStreaks?.p95LatencyRatio).toEqual({ failures: 1, countedAt: firstAt });
    expect(sim.state?.phase).not.toBe('RolledBack');
    sim.advance(10_000);
    sim.plan();
    expect(sim.state?.gateStreaks?.p95LatencyRatio).toEqual({ failures: 2, countedAt: firstAt + MIN });
    sim.advance(MIN);
    sim.plan();
    expect(sim.state?.phase).toBe('RolledBack');
    expect(sim.state?.message).toMatch(/failing \(3 of 3 consecutive evaluations\)/);
  });

  it('a new step starts with no streaks', () => {
    const sim = new Sim({ nodes: spreadNodes(20, 2, 1), strategy: { steps: [{ percent: 5, bake: '5m' }, { percent: 50, bake: '5m' }, { percent: 100 }] } });
    runUntil(sim, atStep(1), 50);
    expect(sim.state?.gateStreaks).toEqual({});
  });

  it('cold starts of the new instances are left out: a release as fast as the old one passes', () => {
    // Every new instance answers its first minute 5× slower, as happens when it starts beside the old one.
    const sim = new Sim({ nodes: spreadNodes(20, 2, 1), strategy: { steps: [{ percent: 10, bake: '5m' }, { percent: 100 }] } });
    sim.coldStart = { minutes: 1, factor: 5 };
    runUntil(sim, phase('Succeeded'), 60);
    const passed = sim.events.find((e) => e.type === 'GatePassed');
    expect(passed?.gate?.measured.warmupRequests).toBeGreaterThan(0);
    expect(sim.eventTypes()).not.toContain('GateFailed');
  });

  it('…and counted, they would have failed it (the same fleet, warm-up off)', () => {
    const sim = new Sim({
      nodes: spreadNodes(20, 2, 1),
      strategy: { steps: [{ percent: 10, bake: '5m' }, { percent: 100 }], gates: { warmup: { requests: 0, duration: '0s' }, failureThreshold: 1 } },
    });
    sim.coldStart = { minutes: 1, factor: 5 };
    runUntil(sim, (s) => s.state?.phase === 'RolledBack' || s.state?.phase === 'Succeeded', 60);
    expect(sim.state?.phase).toBe('RolledBack');
  });
});

describe('planRollout: operator commands', () => {
  const mk = () =>
    new Sim({ nodes: spreadNodes(20, 2, 1), strategy: { steps: [{ percent: 5, bake: '30m' }, { percent: 50, bake: '30m' }, { percent: 100 }] } });

  it('pause holds everything; resume continues', () => {
    const sim = mk();
    sim.plan();
    sim.converge();
    const paused = sim.plan([{ command: 'pause', by: 'alice' }]);
    expect(paused.state).toMatchObject({ phase: 'Paused', reason: 'PausedByOperator' });
    expect(paused.state.message).toMatch(/paused by alice at step 1 of 3/);
    sim.traffic({ minutes: 60 });
    const still = sim.plan();
    expect(still.state.phase).toBe('Paused');
    expect(still.actions.filter((a) => a.action !== 'hold')).toEqual([]);
    const resumed = sim.plan([{ command: 'resume' }]);
    expect(resumed.state.phase).not.toBe('Paused');
    expect(sim.eventTypes()).toEqual(expect.arrayContaining(['Paused', 'Resumed']));
  });

  it('promote skips the current bake', () => {
    const sim = mk();
    sim.plan();
    sim.converge();
    expect(actionsOf(sim.plan(), 'hold')[0]?.reason).toBe('Baking');
    const p = sim.plan([{ command: 'promote' }]);
    expect(actionsOf(p, 'startStep')[0]?.index).toBe(1);
    expect(p.state.promote).toBe('none');
    // Only that step: the next one bakes again.
    runUntil(sim, (x) => x.state?.reachedAt !== null, 30);
    expect(sim.state?.stepIndex).toBe(1);
    expect(actionsOf(sim.last, 'hold')[0]?.reason).toBe('Baking');
  });

  it('promote --full goes to the last step at once', () => {
    const sim = mk();
    sim.plan();
    const p = sim.plan([{ command: 'promote', full: true }]);
    expect(actionsOf(p, 'startStep').map((a) => a.index)).toEqual([2]);
    runUntil(sim, phase('Succeeded'), 20);
    expect(sim.eventTypes()).not.toContain('GatePassed');
  });

  it('abort puts back the nodes that got the revision and stops', () => {
    const sim = mk();
    sim.plan();
    sim.converge();
    const p = sim.plan([{ command: 'abort', by: 'bob' }]);
    expect(p.state.phase).toBe('Aborted');
    expect(actionsOf(p, 'rollback')[0]?.nodeIds).toEqual(p.state.assigned);
    expect(actionsOf(p, 'finish')).toEqual([{ action: 'finish', phase: 'Aborted' }]);
    sim.converge();
    expect(sim.servingOn(2)).toEqual([]);
  });

  it('undo after success moves back to the previous revision through the steps', () => {
    const sim = mk();
    sim.strategy = strategy({ steps: [{ percent: 5 }, { percent: 50 }, { percent: 100 }] });
    runUntil(sim, phase('Succeeded'), 100);
    const p = sim.plan([{ command: 'undo' }]);
    expect(p.state).toMatchObject({ revision: 1, fromRevision: 2, specRevision: 2, phase: 'Progressing', stepIndex: 0, scope: null });
    expect(assignedBy(p)).toHaveLength(1);
    sim.converge();
    expect(sim.servingOn(1)).toHaveLength(1);
    runUntil(sim, phase('Succeeded'), 100);
    expect(sim.servingOn(1)).toHaveLength(20);
    expect(sim.state?.revision).toBe(1); // and the deployment's revision 2 did not supersede it
  });

  it('undo mid-rollout moves back only the nodes that got the revision', () => {
    const sim = mk();
    sim.strategy = strategy({ steps: [{ percent: 5 }, { percent: 50 }, { percent: 100 }], maxUnavailablePerSite: '100%' });
    runUntil(sim, (s) => s.servingOn(2).length >= 5, 50);
    const on2 = sim.servingOn(2);
    const p = sim.plan([{ command: 'undo' }]);
    expect(new Set(p.state.scope)).toEqual(new Set(sim.state?.scope));
    expect(p.status.nodes.total).toBe(20);
    const untouched = sim.nodes.filter((n) => !on2.includes(n.id));
    runUntil(sim, phase('Succeeded'), 100);
    expect(sim.servingOn(2)).toEqual([]);
    for (const n of untouched) expect(n.serving).toBe(1);
  });

  it('undo --now puts every node back at once', () => {
    const sim = mk();
    sim.strategy = strategy({ steps: [{ percent: 100 }], maxParallel: 100, maxUnavailablePerSite: '100%' });
    runUntil(sim, phase('Succeeded'), 50);
    const p = sim.plan([{ command: 'undo', now: true }]);
    expect(p.state).toMatchObject({ phase: 'RolledBack', reason: 'Undone' });
    expect(actionsOf(p, 'rollback')[0]?.nodeIds).toHaveLength(20);
    sim.converge();
    expect(sim.servingOn(1)).toHaveLength(20);
  });

  it.each([
    ['pause', { command: 'pause' }, /is Succeeded/],
    ['resume', { command: 'resume' }, /is Succeeded/],
    ['abort', { command: 'abort' }, /is Succeeded/],
    ['promote', { command: 'promote' }, /is Succeeded/],
  ] as const)('%s on a finished rollout is ignored, with an event that says why', (_name, command, why) => {
    const sim = mk();
    sim.strategy = strategy({ steps: [{ percent: 100 }], maxParallel: 100, maxUnavailablePerSite: '100%' });
    runUntil(sim, phase('Succeeded'), 50);
    const p = sim.plan([command]);
    expect(p.state.phase).toBe('Succeeded');
    const e = p.actions.find((a) => a.action === 'event');
    expect(e?.action === 'event' && e.event.type).toBe('CommandIgnored');
    expect(e?.action === 'event' && e.event.message).toMatch(why);
  });

  it('undo of a first revision is refused: there is nothing to go back to', () => {
    const sim = new Sim({ nodes: spreadNodes(5, 1, 1), fromRevision: null });
    sim.plan();
    const p = sim.plan([{ command: 'undo' }]);
    expect(p.actions.find((a) => a.action === 'event' && a.event.type === 'CommandIgnored')).toBeDefined();
  });
});

describe('planRollout: restarts and persistence', () => {
  it('planning again from the persisted state at the same moment repeats nothing', () => {
    const sim = new Sim({ nodes: spreadNodes(40, 4, 2) });
    runUntil(sim, atStep(1), 100);
    sim.traffic();
    // The executor persisted `first.state`, then the server died before acting; on restart
    // it plans again from what it persisted, over the same facts.
    const input = planInput(sim);
    const first = planRollout(input);
    expect(first.actions.some((a) => a.action === 'event')).toBe(true);
    const again = planRollout({ ...input, state: first.state });
    expect(again.actions.filter((a) => a.action !== 'hold')).toEqual([]);
    expect(again.state).toEqual(first.state);
  });

  it('a state stored before statistical gates (no verdicts, no streaks) still parses and plans', () => {
    const sim = new Sim({ nodes: spreadNodes(20, 2, 1), strategy: { steps: [{ percent: 5, bake: '5m' }, { percent: 100 }] } });
    runUntil(sim, (s) => s.state?.gate !== null && s.state?.gate !== undefined, 10);
    const old = JSON.parse(JSON.stringify(sim.state));
    delete old.gateStreaks;
    delete old.gate.gates;
    delete old.gate.measured.warmupRequests;
    delete old.gate.measured.warmingNodes;
    for (const k of ['p50LatencyRatio', 'p99LatencyRatio', 'minLatencyDeltaMs', 'confidence', 'failureThreshold']) delete old.gate.thresholds[k];
    const parsed = parseRolloutState(old);
    expect(parsed.gate?.gates).toEqual([]);
    expect(parsed.gateStreaks).toEqual({});
    sim.state = parsed;
    expect(sim.plan().status.gate?.gates.length).toBeGreaterThan(0);
  });

  it('judges the gates again only a third of gates.interval after the last judgement of the same window', () => {
    const sim = new Sim({ nodes: spreadNodes(20, 2, 1), strategy: { steps: [{ percent: 10, bake: '30m' }, { percent: 100 }], gates: { interval: '30s' } } });
    runUntil(sim, (s) => s.state?.gate !== null && s.state?.gate !== undefined && (s.state.gate.gates.length ?? 0) > 0, 20);
    const first = sim.state?.gate;
    sim.advance(9_000);
    sim.plan();
    // 9 s later (under 30 s / 3): the same judgement, not a new one.
    expect(sim.state?.gate?.evaluatedAt).toBe(first?.evaluatedAt);
    sim.advance(1_000);
    sim.plan();
    expect(sim.state?.gate?.evaluatedAt).toBe(sim.now);
  });

  it('a state that went through JSON plans exactly like the one in memory', () => {
    const sim = new Sim({ nodes: spreadNodes(40, 4, 2) });
    runUntil(sim, atStep(2), 200, 2);
    const state = sim.state as RolloutState;
    const a = planRollout({ ...planInput(sim), state });
    const b = planRollout({ ...planInput(sim), state: parseRolloutState(JSON.parse(JSON.stringify(state))) });
    expect(b).toEqual(a);
  });

  it('stats as a flat list plan exactly like stats attached to their nodes', () => {
    const sim = new Sim({ nodes: spreadNodes(40, 4, 2) });
    runUntil(sim, atStep(1), 100);
    sim.traffic({ minutes: 5 });
    const attached = planRollout(planInput(sim));
    sim.flatStats = true;
    const flat = planRollout({ ...planInput(sim), stats: sim.stats });
    expect(flat).toEqual(attached);
    expect(flat.state.gate?.measured.canaryRequests).toBeGreaterThan(0);
  });

  it('the status read back from the persisted state is the one the plan returned', () => {
    const sim = new Sim({ nodes: spreadNodes(40, 4, 2) });
    for (const end of [atStep(1), atStep(2), phase('Succeeded')]) {
      runUntil(sim, end, 300, 2);
      const p = sim.plan();
      expect(rolloutStatus(p.state, sim.strategy.steps.length, sim.view())).toEqual(p.status);
      expect(countNodes(p.state, sim.view())).toEqual(p.status.nodes);
    }
  });

  it('statsWindow tells the executor which samples the next plan needs: the gate window and the node-speed lookback before it', () => {
    const sim = new Sim({ nodes: spreadNodes(10, 1, 1) });
    expect(statsWindow(null)).toBeNull();
    sim.plan();
    expect(statsWindow(sim.state)).toEqual({ from: T0 - SPEED_LOOKBACK_MS });
    sim.plan([{ command: 'abort' }]);
    expect(statsWindow(sim.state)).toBeNull();
  });

  it('does not modify its input', () => {
    const sim = new Sim({ nodes: spreadNodes(40, 4, 2) });
    runUntil(sim, atStep(1), 100);
    const input = planInput(sim);
    const before = JSON.stringify(input);
    planRollout({ ...input, commands: [{ command: 'abort' }] });
    expect(JSON.stringify(input)).toBe(before);
  });

  it('a strategy edited to fewer steps clamps the current step', () => {
    const sim = new Sim({ nodes: spreadNodes(40, 4, 2), strategy: { maxUnavailablePerSite: '100%' } });
    runUntil(sim, atStep(2), 200, 2);
    sim.strategy = strategy({ steps: [{ percent: 100 }], maxUnavailablePerSite: '100%' });
    const p = sim.plan();
    expect(p.status.steps).toBe(1);
    expect(p.status.step).toBe(1);
    runUntil(sim, phase('Succeeded'), 100);
  });
});

describe('planRollout: first revisions, adoption, status contract', () => {
  it('a first revision rolls out without a baseline comparison and rolls back to nothing', () => {
    const sim = new Sim({ nodes: spreadNodes(10, 1, 1), fromRevision: null, strategy: { steps: [{ percent: 10, bake: '5m' }, { percent: 100 }] } });
    runUntil(sim, atStep(1), 30);
    expect(sim.events.find((e) => e.type === 'GatePassed')?.gate?.thresholds.p95LatencyRatio).toBeNull();
    sim.latency[2] = 500;
    const p = sim.plan([{ command: 'abort' }]);
    expect(actionsOf(p, 'rollback')[0]?.toRevision).toBeNull();
    sim.converge();
    expect(sim.servingOn(2)).toEqual([]);
  });

  it('a deployment whose nodes already run the revision is adopted as Succeeded', () => {
    const sim = new Sim({ nodes: spreadNodes(5, 1, 1), revision: 1, fromRevision: 1 });
    expect(sim.plan().state.phase).toBe('Succeeded');
  });

  it('no targeted nodes: nothing to move, succeeded', () => {
    const sim = new Sim({ nodes: [] });
    expect(sim.plan().state).toMatchObject({ phase: 'Succeeded', message: 'no targeted nodes to move' });
  });

  it('status has exactly the contract keys', () => {
    const sim = new Sim({ nodes: spreadNodes(40, 4, 2) });
    runUntil(sim, (s) => s.state?.gate?.result === 'pass', 50);
    const status = JSON.parse(JSON.stringify(sim.last.status));
    expect(Object.keys(status)).toEqual(['deployment', 'revision', 'fromRevision', 'phase', 'step', 'steps', 'nodes', 'gate', 'conditions']);
    expect(Object.keys(status.nodes)).toEqual(['total', 'updated', 'pending', 'deferred', 'failed', 'rolledBack']);
    expect(Object.keys(status.gate)).toEqual(['evaluatedAt', 'result', 'reason', 'measured', 'thresholds', 'message', 'gates']);
    expect(status.gate.evaluatedAt).toBe(new Date(sim.now).toISOString());
    expect(status.conditions.map((c: { type: string }) => c.type)).toEqual(['Ready', 'Progressing', 'GatesPassing']);
  });
});

describe('desiredRevisions', () => {
  const base: RolloutState = {
    ...planRollout({
      deployment: DEPLOYMENT,
      strategy: strategy(),
      revision: 2,
      fromRevision: 1,
      nodes: [node('a'), node('b'), node('c')],
      state: null,
      stats: [],
      now: T0,
    }).state,
  };
  it.each<[string, Partial<RolloutState>, Record<string, number | null>]>([
    ['progressing: assigned nodes get the revision', { assigned: ['a'] }, { a: 2, b: 1, c: 1 }],
    ['succeeded: everyone, late joiners too', { phase: 'Succeeded' }, { a: 2, b: 2, zz: 2 }],
    ['rolled back: everyone on the previous revision', { phase: 'RolledBack', assigned: ['a'] }, { a: 1, b: 1 }],
    ['aborted: same', { phase: 'Aborted', assigned: ['a'] }, { a: 1, c: 1 }],
    ['a first revision: unassigned nodes run nothing', { fromRevision: null, assigned: ['a'] }, { a: 2, b: null }],
    ['an undo with a scope: nodes outside it stay on its target', { revision: 1, fromRevision: 2, scope: ['a', 'b'], assigned: ['a'] }, { a: 1, b: 2, c: 1 }],
    ['a rolled back undo: outside the scope unchanged', { revision: 1, fromRevision: 2, scope: ['a'], phase: 'RolledBack' }, { a: 2, c: 1 }],
  ])('%s', (_name, patch, want) => {
    const desired = desiredRevisions({ ...base, ...patch });
    for (const [id, rev] of Object.entries(want)) expect(desired(id)).toBe(rev);
  });
});

describe('planRollout: enough canaries (gates.minCanaryNodes)', () => {
  it.each<[string, number, number, number, boolean, number]>([
    // name, percent, targeted, minCanaryNodes, last step, nodes moved
    ['1 % of 200 with the default floor: 5, not 2', 1, 200, 5, false, 5],
    ['10 % of 200: the percent is more than the floor', 10, 200, 5, false, 20],
    ['1 % of 8: at most half the nodes (4), so as many stay to compare with', 1, 8, 5, false, 4],
    ['25 % of 8: 2 → 4', 25, 8, 5, false, 4],
    ['1 % of 3: half of 3 is 1', 1, 3, 5, false, 1],
    ['one node: 1', 1, 1, 5, false, 1],
    ['the last step is never raised or cut: 100 % of 8', 100, 8, 5, true, 8],
    ['a last step of 50 % stays 50 %', 50, 8, 5, true, 4],
    ['minCanaryNodes 1: the percent as written', 1, 200, 1, false, 2],
    ['minCanaryNodes 50 of 60: half, 30', 1, 60, 50, false, 30],
  ])('%s', (_name, percent, targeted, min, last, nodes) => {
    expect(stepNodes(percent, targeted, last, min)).toBe(nodes);
  });

  it.each<[string, number, RolloutStrategyInput, [number, number][]]>([
    ['the default strategy on 200 nodes: 5 canaries at step 1', 200, {}, [[1, 5]]],
    ['the default strategy on 8 nodes: 4 canaries at step 1', 8, {}, [[1, 4]]],
    ['minCanaryNodes 1 on 200 nodes: 2 canaries at step 1', 200, { gates: { minCanaryNodes: 1 } }, [[1, 2]]],
  ])('%s', (_name, count, input, first) => {
    const nodes = spreadNodes(count, Math.max(1, Math.floor(count / 2)), 2).map((n) => node(n.id, n.labels, { serving: 1 }));
    const p = planRollout({ deployment: DEPLOYMENT, strategy: RolloutStrategySchema.parse(input), revision: 2, fromRevision: 1, nodes, state: null, now: T0 });
    const started = actionsOf(p, 'startStep').map((a) => [a.percent, a.nodes]);
    expect(started).toEqual(first);
    expect(actionsOf(p, 'assign').flatMap((a) => a.nodeIds)).toHaveLength((first[0] as [number, number])[1]);
  });

  it('a bad value is refused with what to do', () => {
    const r = RolloutStrategySchema.safeParse({ gates: { minCanaryNodes: 0 } });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain('must be at least 1');
  });
});
