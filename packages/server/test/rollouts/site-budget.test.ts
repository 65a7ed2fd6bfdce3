import { type RolloutStrategyInput, RolloutStrategySchema, resolveRolloutStrategy } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { NodeTable } from '../../src/rollouts/node-table.js';
import { SiteBudget } from '../../src/rollouts/site-budget.js';
import type { RolloutNode } from '../../src/rollouts/types.js';
import { labels, MIN, node, T0 } from './fleet.js';

const limitOf = (maxUnavailablePerSite: RolloutStrategyInput['maxUnavailablePerSite']) =>
  resolveRolloutStrategy(RolloutStrategySchema.parse({ maxUnavailablePerSite })).maxUnavailablePerSite;

/** Which of `order` (positions) the budget lets switch, in that order. */
function taken(nodes: RolloutNode[], limit: RolloutStrategyInput['maxUnavailablePerSite'], order: number[], assigned: string[] = []): number[] {
  const table = new NodeTable({
    nodes,
    state: null,
    revision: 2,
    cohortBy: ['geolocation.site'],
    deferAfterMs: 10 * MIN,
    now: T0,
    withCohorts: true,
  });
  for (const id of assigned) table.assign(nodes.findIndex((n) => n.id === id));
  const budget = new SiteBudget(table, limitOf(limit));
  return order.filter((p) => budget.take(p));
}

const site = (name: string, count: number, o: Parameters<typeof node>[2] = {}): RolloutNode[] =>
  Array.from({ length: count }, (_, i) => node(`${name}-${i}`, labels(name), o));

describe('SiteBudget: maxUnavailablePerSite, and never a site’s last serving node', () => {
  it.each([
    { name: '10 % of 10 nodes: one at a time', nodes: site('x', 10), limit: '10%' as const, order: [0, 1, 2], want: [0] },
    { name: '50 % of 4 nodes: two', nodes: site('x', 4), limit: '50%' as const, order: [0, 1, 2], want: [0, 1] },
    { name: 'a fixed limit of 3 nodes', nodes: site('x', 10), limit: 3, order: [0, 1, 2, 3], want: [0, 1, 2] },
    { name: 'a 2-node site at 100 %: its last serving node stays', nodes: site('x', 2), limit: '100%' as const, order: [0, 1], want: [0] },
    { name: 'a 1-node site may switch its only node', nodes: site('x', 1), limit: '10%' as const, order: [0], want: [0] },
    { name: 'sites have budgets of their own', nodes: [...site('x', 2), ...site('y', 2)], limit: 1, order: [0, 1, 2, 3], want: [0, 2] },
    {
      name: 'a node serving nothing loses nothing',
      nodes: [...site('x', 2), node('idle', labels('x'), { serving: null })],
      limit: 2,
      order: [2, 0, 1],
      want: [2, 0],
    },
    { name: 'a node without a site is not limited', nodes: [node('a'), node('b')], limit: 1, order: [0, 1], want: [0, 1] },
  ])('$name', ({ nodes, limit, order, want }) => {
    expect(taken(nodes, limit, order)).toEqual(want);
  });

  it('a node still switching counts as down for its site', () => {
    expect(taken(site('x', 4), 1, [1, 2], ['x-0'])).toEqual([]);
  });

  it('a node gone for deferAfter does not hold its site back', () => {
    const dead = node('dead', labels('x'), { online: false, lastSeen: T0 - 60 * MIN, serving: null });
    // Counted, the dead node would be one of 3 members already down, using up 50 % of 3 (1).
    expect(taken([...site('x', 2), dead], '50%', [0])).toEqual([0]);
    // Offline for less than deferAfter it still counts.
    const away = node('away', labels('x'), { online: false, lastSeen: T0 - MIN, serving: null });
    expect(taken([...site('x', 2), away], '50%', [0])).toEqual([]);
  });
});
