import { describe, expect, it } from 'vitest';
import { NodeTable, type NodeTableInput, packIds } from '../../src/rollouts/node-table.js';
import type { RolloutState } from '../../src/rollouts/state.js';
import { countNodes } from '../../src/rollouts/status.js';
import type { RolloutNode } from '../../src/rollouts/types.js';
import { DEPLOYMENT, labels, MIN, node, sample, T0 } from './fleet.js';

/** A persisted state of a rollout 1 → 2 with the given lists. */
function state(o: Partial<RolloutState> = {}): RolloutState {
  return {
    v: 1,
    deployment: DEPLOYMENT,
    specRevision: 2,
    revision: 2,
    fromRevision: 1,
    scope: null,
    phase: 'Progressing',
    reason: 'NodesUpdating',
    message: '',
    stepIndex: 0,
    startedAt: T0,
    stepStartedAt: T0,
    reachedAt: null,
    windowStart: T0,
    lastProgressAt: T0,
    updatedCount: 0,
    picked: [],
    assigned: [],
    deferred: [],
    rolledBack: [],
    promote: 'none',
    hold: null,
    gate: null,
    events: 0,
    finishedAt: null,
    ...o,
  };
}

function table(nodes: RolloutNode[], st: RolloutState | null, o: Partial<NodeTableInput> = {}): NodeTable {
  return new NodeTable({
    nodes,
    state: st,
    revision: st?.revision ?? 2,
    cohortBy: ['geolocation.site'],
    deferAfterMs: 10 * MIN,
    now: T0,
    withCohorts: true,
    ...o,
  });
}

const ids = ['a', 'b', 'c', 'd'];
const fleet = (): RolloutNode[] => ids.map((id) => node(id, labels(`s-${id}`)));

describe('packIds: every persisted list of a state in one map probe per node', () => {
  it.each([
    { name: 'a pick carries its rank', st: state({ picked: ['x', 'y'] }), id: 'y', bits: 1, rank: 2 },
    { name: 'a duplicate pick keeps its first rank', st: state({ picked: ['x', 'y', 'x'] }), id: 'x', bits: 1, rank: 1 },
    { name: 'assigned and deferred add their bits', st: state({ picked: ['x'], assigned: ['x'], deferred: ['x'] }), id: 'x', bits: 1 | 2 | 4, rank: 1 },
    { name: 'rolled back, never picked: no rank', st: state({ rolledBack: ['z'] }), id: 'z', bits: 8, rank: 0 },
    { name: 'a scope member', st: state({ scope: ['z'] }), id: 'z', bits: 16, rank: 0 },
  ])('$name', ({ st, id, bits, rank }) => {
    const v = packIds(st).get(id) as number;
    expect(v & 31).toBe(bits);
    expect(v >> 5).toBe(rank);
  });
});

describe('NodeTable: the persisted lists joined to positions', () => {
  it('picked positions follow the pick order, skipping ids no longer targeted', () => {
    const t = table(fleet(), state({ picked: ['c', 'gone', 'a'], assigned: ['c'] }));
    expect(t.pickedPositions()).toEqual([2, 0]);
    expect([0, 1, 2, 3].map((p) => t.isPicked(p))).toEqual([true, false, true, false]);
    expect([0, 1, 2, 3].map((p) => t.isAssigned(p))).toEqual([false, false, true, false]);
  });

  it.each([
    { name: 'no state: every node in scope', st: null, inScope: [true, true, true, true], size: 4 },
    { name: 'no scope: every node', st: state(), inScope: [true, true, true, true], size: 4 },
    { name: "an undo's scope", st: state({ scope: ['b', 'd', 'gone'] }), inScope: [false, true, false, true], size: 2 },
  ])('scope: $name', ({ st, inScope, size }) => {
    const t = table(fleet(), st);
    expect([0, 1, 2, 3].map((p) => t.inScope(p))).toEqual(inScope);
    expect(t.scopeSize).toBe(size);
  });

  it('unchanged lists are the input state’s own arrays; an append copies first', () => {
    const st = state({ picked: ['a'], assigned: ['a'], rolledBack: ['d'] });
    const t = table(fleet(), st);
    expect(t.lists().picked).toBe(st.picked);
    expect(t.lists().rolledBack).toBe(st.rolledBack);
    t.pick(1);
    t.assign(1);
    expect(t.lists().picked).toEqual(['a', 'b']);
    expect(t.lists().assigned).toEqual(['a', 'b']);
    expect(st.picked).toEqual(['a']);
    expect(st.assigned).toEqual(['a']);
  });

  it('reset forgets every mark and sets the new scope', () => {
    const t = table(fleet(), state({ picked: ['a'], assigned: ['a'], deferred: ['a'], rolledBack: ['b'] }));
    t.reset(['c']);
    expect(t.lists()).toEqual({ picked: [], assigned: [], deferred: [], rolledBack: [] });
    expect(t.pickedPositions()).toEqual([]);
    expect([0, 1, 2, 3].map((p) => t.inScope(p))).toEqual([false, false, true, false]);
    expect(t.scopeSize).toBe(1);
  });

  it('setRolledBack replaces the earlier rollback', () => {
    const t = table(fleet(), state({ rolledBack: ['a', 'b'] }));
    expect(t.setRolledBack([2])).toEqual(['c']);
    expect([0, 1, 2, 3].map((p) => t.isRolledBack(p))).toEqual([false, false, true, false]);
    expect(t.lists().rolledBack).toEqual(['c']);
  });
});

describe('NodeTable: what nodes report, for the rollout revision', () => {
  const cases: { name: string; n: RolloutNode; expected: Record<string, boolean> }[] = [
    {
      name: 'serving the new revision',
      n: node('a', {}, { serving: 2 }),
      expected: { updated: true, failed: false, settled: true, serving: true, online: true, gone: false },
    },
    { name: 'on the old revision', n: node('a'), expected: { updated: false, failed: false, settled: false, serving: true, online: true, gone: false } },
    {
      name: 'failed the new revision, still serving the old',
      n: node('a', {}, { workload: { revision: 2, state: 'failed', servingRevision: 1 } }),
      expected: { updated: false, failed: true, settled: true, serving: true, online: true, gone: false },
    },
    {
      name: 'serving nothing',
      n: node('a', {}, { serving: null }),
      expected: { updated: false, failed: false, settled: false, serving: false, online: true, gone: false },
    },
    {
      name: 'offline for less than deferAfter',
      n: node('a', {}, { online: false, lastSeen: T0 - 9 * MIN }),
      expected: { updated: false, failed: false, settled: false, serving: false, online: false, gone: false },
    },
    {
      name: 'offline for deferAfter',
      n: node('a', {}, { online: false, lastSeen: T0 - 10 * MIN }),
      expected: { updated: false, failed: false, settled: false, serving: false, online: false, gone: true },
    },
    {
      name: 'never seen',
      n: { ...node('a', {}, { online: false, serving: null }), lastSeen: null },
      expected: { updated: false, failed: false, settled: false, serving: false, online: false, gone: true },
    },
  ];
  it.each(cases)('$name', ({ n, expected }) => {
    const t = table([n], state());
    expect({
      updated: t.isUpdated(0),
      failed: t.hasFailed(0),
      settled: t.isSettled(0),
      serving: t.isServing(0),
      online: t.isOnline(0),
      gone: t.isGone(0),
    }).toEqual(expected);
  });

  it('setRevision re-reads the reports for another revision', () => {
    const t = table([node('a', {}, { serving: 1 })], state());
    expect(t.isUpdated(0)).toBe(false);
    t.setRevision(1);
    expect(t.isUpdated(0)).toBe(true);
  });
});

describe('NodeTable: tallies and counts', () => {
  const nodes = [
    node('a', {}, { serving: 2 }),
    node('b', {}, { workload: { revision: 2, state: 'failed', servingRevision: 1 } }),
    node('c', {}, { online: false, lastSeen: T0 - HOUR }),
    node('d'),
    node('e'),
    node('f', {}, { serving: 1 }),
  ];
  const st = state({ picked: ['a', 'b', 'c', 'd'], assigned: ['a', 'b'], deferred: ['c'], rolledBack: ['f'] });

  it('a step tally counts the picked nodes of the scope', () => {
    expect(table(nodes, st).tally()).toEqual({ reachable: 3, updated: 1, failed: 1, unassigned: 1, deferred: 1 });
    expect(table(nodes, { ...st, scope: ['a', 'd'] }).tally()).toEqual({ reachable: 2, updated: 1, failed: 0, unassigned: 1, deferred: 0 });
  });

  it('status counts agree with countNodes', () => {
    expect(table(nodes, st).counts()).toEqual(countNodes(st, nodes));
    expect(table(nodes, st).counts()).toEqual({ total: 6, updated: 1, pending: 2, deferred: 1, failed: 1, rolledBack: 1 });
  });
});

describe('NodeTable: sites and stats', () => {
  it('numbers sites in order of appearance; a node without a site label is -1', () => {
    const nodes = [node('a', labels('x')), node('b', {}), node('c', labels('y')), node('d', labels('x'))];
    for (const withCohorts of [true, false]) {
      const { siteOf, sites } = table(nodes, state(), { withCohorts }).siteIndex();
      expect([...siteOf]).toEqual([0, -1, 1, 0]);
      expect(sites).toBe(2);
    }
  });

  it("joins a flat stats list to each node's own samples without changing them", () => {
    const own = [sample('a', 2)];
    const nodes = [{ ...node('a'), stats: own }, node('b')];
    const t = table(nodes, state(), { stats: [sample('a', 2, { requests: 5 }), sample('b', 1), sample('gone', 2)] });
    const samples = t.samplesByNode();
    expect(samples[0]?.map((s) => s.requests)).toEqual([100, 5]);
    expect(samples[1]?.map((s) => s.revision)).toEqual([1]);
    expect(own).toHaveLength(1);
  });
});

const HOUR = 60 * MIN;
