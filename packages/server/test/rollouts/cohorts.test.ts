import { describe, expect, it } from 'vitest';
import { type CohortNode, cohortByProblems, extendPicks, pickOrder, stableHash, stepSize } from '../../src/rollouts/cohorts.js';
import { labels, spreadNodes } from './fleet.js';

const BY = ['geolocation.site', 'ai.accelerator'];

function covered(nodes: readonly CohortNode[], ids: readonly string[], key: string): Set<string> {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  return new Set(ids.map((id) => byId.get(id)?.labels[key] ?? ''));
}

describe('step size', () => {
  it.each([
    [1, 100, 1],
    [1, 1000, 10],
    [1, 1001, 11],
    [10, 30, 3],
    [50, 3, 2],
    [100, 7, 7],
    [0.5, 10, 1],
    [1, 1, 1],
    [1, 0, 0],
    [100, 0, 0],
  ])('%s %% of %i targeted nodes is %i', (percent, targeted, want) => {
    expect(stepSize(percent, targeted)).toBe(want);
  });
});

describe('cohort picks', () => {
  it('the hash is stable and depends on every part', () => {
    expect(stableHash('detector\u00002\u0000n1')).toBe(stableHash('detector\u00002\u0000n1'));
    expect(stableHash('detector\u00002\u0000n1')).not.toBe(stableHash('detector\u00003\u0000n1'));
    expect(Number.isSafeInteger(stableHash('x'))).toBe(true);
  });

  it.each([
    // [nodes, sites, accelerators]
    [300, 4, 3],
    [1000, 50, 4],
    [97, 7, 2],
    [40, 10, 4],
  ])('with %i nodes over %i sites × %i accelerators, the first canaries cover every site and kind', (count, sites, accs) => {
    const nodes = spreadNodes(count, sites, accs);
    const order = pickOrder('detector', 2, nodes, BY);
    expect(new Set(order).size).toBe(count);
    // As many picks as the larger label set cover both label sets entirely.
    const first = order.slice(0, Math.max(sites, accs));
    expect(covered(nodes, first, 'geolocation.site').size).toBe(sites);
    expect(covered(nodes, first, 'ai.accelerator').size).toBe(accs);
    // As many picks as there are combinations present cover every combination.
    const combos = new Set(nodes.map((n) => `${n.labels['geolocation.site']}/${n.labels['ai.accelerator']}`));
    const firstRound = order.slice(0, combos.size);
    expect(new Set(firstRound.map((id) => nodes.find((n) => n.id === id)?.labels).map((l) => `${l?.['geolocation.site']}/${l?.['ai.accelerator']}`)).size).toBe(
      combos.size,
    );
  });

  it('two picks over 3 sites × 2 kinds cover 2 sites and both kinds (greedy coverage, not just combinations)', () => {
    const nodes = spreadNodes(60, 3, 2);
    const first = pickOrder('detector', 2, nodes, BY).slice(0, 2);
    expect(covered(nodes, first, 'geolocation.site').size).toBe(2);
    expect(covered(nodes, first, 'ai.accelerator').size).toBe(2);
  });

  it('small sites get canaries as early as big ones', () => {
    const nodes = [...Array.from({ length: 500 }, (_, i) => ({ id: `big${i}`, labels: labels('big') })), { id: 'tiny0', labels: labels('tiny') }];
    const first = pickOrder('detector', 2, nodes, BY).slice(0, 2);
    expect(first.some((id) => id.startsWith('tiny'))).toBe(true);
  });

  it('does not depend on the order nodes are listed in', () => {
    const nodes = spreadNodes(200, 5, 2);
    const shuffled = [...nodes].sort((a, b) => stableHash(a.id) - stableHash(b.id));
    expect(pickOrder('detector', 2, shuffled, BY)).toEqual(pickOrder('detector', 2, nodes, BY));
  });

  it('differs between revisions, so the same nodes are not always first', () => {
    const nodes = spreadNodes(200, 5, 2);
    expect(pickOrder('detector', 3, nodes, BY).slice(0, 5)).not.toEqual(pickOrder('detector', 2, nodes, BY).slice(0, 5));
  });

  it('without cohortBy it is plain hash order', () => {
    const nodes = spreadNodes(50, 5, 2);
    const order = pickOrder('detector', 2, nodes, []);
    const byHash = [...nodes].sort((a, b) => stableHash(`detector\u00002\u0000${a.id}`) - stableHash(`detector\u00002\u0000${b.id}`)).map((n) => n.id);
    expect(order).toEqual(byHash);
  });
});

describe('extending picks', () => {
  const nodes = spreadNodes(300, 6, 2);
  const input = { deployment: 'detector', revision: 2, nodes, cohortBy: BY };

  it('each step extends the previous picks (1 % ⊂ 10 % ⊂ 50 % ⊂ 100 %)', () => {
    let picked: readonly string[] = [];
    for (const percent of [1, 10, 50, 100]) {
      const next = extendPicks({ ...input, picked, want: stepSize(percent, nodes.length) });
      expect(next.slice(0, picked.length)).toEqual(picked);
      expect(next.length).toBe(stepSize(percent, nodes.length));
      picked = next;
    }
  });

  it('returns the persisted picks themselves when they already suffice (no pick order computed)', () => {
    const picked = extendPicks({ ...input, picked: [], want: 30 });
    expect(extendPicks({ ...input, picked, want: 30 })).toBe(picked);
  });

  it('is stable across a restart: the same persisted picks give the same next picks', () => {
    const step1 = extendPicks({ ...input, picked: [], want: 3 });
    const fresh = extendPicks({ ...input, picked: [], want: 30 });
    const resumed = extendPicks({ ...input, picked: JSON.parse(JSON.stringify(step1)) as string[], want: 30 });
    expect(resumed).toEqual(fresh);
  });

  it('keeps earlier picks when the node set changed, even picks no longer targeted', () => {
    const step1 = extendPicks({ ...input, picked: [], want: 30 });
    const gone = step1[0] as string;
    const changed = [...nodes.filter((n) => n.id !== gone), ...spreadNodes(10, 2, 1).map((n) => ({ ...n, id: `new-${n.id}` }))];
    const step2 = extendPicks({ ...input, nodes: changed, picked: step1, want: 60 });
    expect(step2.slice(0, step1.length)).toEqual(step1);
    // 29 of the old picks are still targeted, so 31 new ones are added.
    expect(step2.length).toBe(30 + 31);
  });

  it('a picked node that does not count (offline) is kept and another is picked', () => {
    const first = extendPicks({ ...input, picked: [], want: 3 });
    const offline = new Set([first[0]]);
    const next = extendPicks({ ...input, picked: [], want: 3, counts: (id) => !offline.has(id) });
    expect(next).toEqual(extendPicks({ ...input, picked: [], want: 4 }));
  });
});

describe('cohortBy keys no node has', () => {
  it.each([
    [['geolocation.site', 'ai.accelerator'], []],
    [['geolocation.site', 'rack'], ['cohortBy.1']],
    [['zone'], ['cohortBy.0']],
  ])('%j → %j', (keys, fields) => {
    expect(cohortByProblems(keys, spreadNodes(10, 2, 2)).map((p) => p.field)).toEqual(fields);
  });

  it('says nothing when there are no nodes', () => {
    expect(cohortByProblems(['zone'], [])).toEqual([]);
  });
});
