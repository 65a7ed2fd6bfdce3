import type { Node } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import type { ServerContext } from '../../src/context.js';
import type { DeploymentRecord, NodeRecord } from '../../src/store/index.js';
import { WatchScopeFilter } from '../../src/watch/scope-filter.js';

const nodeRecord = (id: string, site: string): NodeRecord =>
  ({ id, name: id, operatorLabels: { 'geolocation.site': site }, detectedLabels: {} }) as unknown as NodeRecord;
const nodeView = (id: string, site: string): Node =>
  ({ id, operatorLabels: { 'geolocation.site': site }, labels: { 'geolocation.site': site } }) as unknown as Node;
const deployment = (name: string, selector: string): DeploymentRecord => ({ name, spec: { selector } }) as unknown as DeploymentRecord;

/** A store with two nodes and two deployments, one of each at store-12. */
const ctx = {
  store: {
    listNodes: async () => [nodeRecord('n12', 'store-12'), nodeRecord('n99', 'store-99')],
    listDeployments: async () => [deployment('mine', 'geolocation.site=store-12'), deployment('all', 'cpu.arch=arm64')],
  },
} as unknown as Pick<ServerContext, 'store'>;

const scoped = { role: 'operator', sites: ['store-12'], tokenId: 'me' } as const;
const audit = { event: 'audit', data: { items: [{ actor: 'token:me' }, { actor: 'token:other' }] } } as const;

describe('the watch stream follows the token scope', () => {
  it('passes everything to a fleet-wide operator', async () => {
    const f = await WatchScopeFilter.create(ctx, { role: 'operator', sites: null, tokenId: 'x' });
    const nodes = { event: 'nodes', data: { upserted: [nodeView('n99', 'store-99')], deleted: ['gone'] } } as const;
    expect(f.filter(nodes)).toBe(nodes);
    expect(f.filter(audit)).toEqual(audit);
  });

  it('gives viewers no audit entries (the audit route is for operators)', async () => {
    const f = await WatchScopeFilter.create(ctx, { role: 'viewer', sites: null, tokenId: 'v' });
    expect(f.filter(audit)).toBeUndefined();
  });

  it("drops other sites' nodes, deletes and rollouts, and a node that left the scope becomes a delete", async () => {
    const f = await WatchScopeFilter.create(ctx, scoped);
    expect(f.filter({ event: 'nodes', data: { upserted: [nodeView('n12', 'store-12'), nodeView('n99', 'store-99')], deleted: ['n99'] } })).toEqual({
      event: 'nodes',
      data: { upserted: [nodeView('n12', 'store-12')], deleted: [] },
    });
    // An operator moved n12 to another site: the scoped stream sees it go, not its new labels.
    expect(f.filter({ event: 'nodes', data: { upserted: [nodeView('n12', 'store-99')], deleted: [] } })).toEqual({
      event: 'nodes',
      data: { upserted: [], deleted: ['n12'] },
    });
    expect(f.filter({ event: 'nodes', data: { upserted: [], deleted: ['n12'] } })).toBeUndefined();
    expect(f.filter({ event: 'rollouts', data: { upserted: [{ deployment: 'all' }, { deployment: 'mine' }], deleted: ['all'] } })).toEqual({
      event: 'rollouts',
      data: { upserted: [{ deployment: 'mine' }], deleted: [] },
    });
    expect(f.filter({ event: 'events', data: { items: [{ deployment: 'all' }] } })).toBeUndefined();
    expect(f.filter({ event: 'alerts', data: { items: [{ nodeId: 'n99' }] } })).toEqual({ event: 'alerts', data: { items: [] } });
    expect(f.filter(audit)).toEqual({ event: 'audit', data: { items: [{ actor: 'token:me' }] } });
  });

  it('passes deployments in scope only, learning new ones from the stream', async () => {
    const f = await WatchScopeFilter.create(ctx, scoped);
    const view = (name: string, selector: string) => ({ metadata: { name }, spec: { selector } });
    expect(
      f.filter({ event: 'deployments', data: { upserted: [view('new', 'geolocation.site in (store-12)'), view('wide', 'x=y')], deleted: ['all'] } }),
    ).toEqual({ event: 'deployments', data: { upserted: [view('new', 'geolocation.site in (store-12)')], deleted: [] } });
    expect(f.filter({ event: 'events', data: { items: [{ deployment: 'new' }] } })).toEqual({ event: 'events', data: { items: [{ deployment: 'new' }] } });
  });
});
