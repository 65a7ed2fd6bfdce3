import { describe, expect, it } from 'vitest';
import { applyUpserts, type FleetLists, type FleetState, fleetReducer, initialFleetState, MAX_EVENTS, mergeEvents } from '../src/reducers.js';
import type { WatchEvent } from '../src/types.js';
import { deployment, event, node, rollout } from './fixtures.js';

const lists = (o: Partial<FleetLists> = {}): FleetLists => ({ nodes: [], deployments: [], rollouts: [], alerts: [], events: [], audit: [], ...o });
const hello: WatchEvent = { kind: 'hello', data: { pollMs: 1500, heartbeatMs: 15000, role: 'viewer' } };
const run = (state: FleetState, ...actions: Parameters<typeof fleetReducer>[1][]) => actions.reduce(fleetReducer, state);

describe('fleet reducer: list + watch', () => {
  it('lists after hello, then applies each change to the lists', () => {
    let s = run(initialFleetState, { type: 'watch', event: hello });
    expect(s.connection).toBe('listing');
    s = run(s, { type: 'listed', lists: lists({ nodes: [node('1'), node('2')] }) });
    expect(s).toMatchObject({ connection: 'live', loaded: true });
    expect([...s.nodes.keys()]).toEqual(['1', '2']);
    s = run(s, { type: 'watch', event: { kind: 'nodes', data: { upserted: [node('2', { status: 'offline' }), node('3')], deleted: ['1'] } } });
    expect([...s.nodes.keys()].sort()).toEqual(['2', '3']);
    expect(s.nodes.get('2')?.status).toBe('offline');
  });

  it('holds changes that arrive while listing and applies them after the list, so an older list cannot undo them', () => {
    let s = run(initialFleetState, { type: 'watch', event: hello });
    s = run(s, { type: 'watch', event: { kind: 'nodes', data: { upserted: [node('1', { status: 'offline' })], deleted: [] } } });
    expect(s.nodes.size).toBe(0); // held, not applied yet
    s = run(s, { type: 'listed', lists: lists({ nodes: [node('1', { status: 'online' })] }) });
    expect(s.nodes.get('1')?.status).toBe('offline');
    expect(s.pending).toEqual([]);
  });

  it('drops held changes when the stream breaks: the next hello lists again', () => {
    let s = run(initialFleetState, { type: 'watch', event: hello });
    s = run(s, { type: 'watch', event: { kind: 'nodes', data: { upserted: [node('1')], deleted: [] } } });
    s = run(s, { type: 'disconnected', problem: { message: 'cannot reach the server', hint: 'check it' } });
    expect(s).toMatchObject({ connection: 'reconnecting', pending: [], problem: { message: 'cannot reach the server' } });
  });

  it('keys deployments by name and rollouts by deployment', () => {
    let s = run(initialFleetState, { type: 'watch', event: hello }, { type: 'listed', lists: lists({ deployments: [deployment('detect', 1, [])] }) });
    s = run(s, { type: 'watch', event: { kind: 'deployments', data: { upserted: [deployment('detect', 2, [])], deleted: [] } } });
    expect(s.deployments.get('detect')?.status.revision).toBe(2);
    s = run(s, { type: 'watch', event: { kind: 'rollouts', data: { upserted: [rollout('detect', { phase: 'Paused' })], deleted: [] } } });
    expect(s.rollouts.get('detect')?.phase).toBe('Paused');
    s = run(s, { type: 'watch', event: { kind: 'deployments', data: { upserted: [], deleted: ['detect'] } } });
    expect(s.deployments.size).toBe(0);
  });

  it('keeps the P95 history of gate evaluations from events and live status, once per evaluation, in time order', () => {
    let s = run(initialFleetState, { type: 'watch', event: hello });
    s = run(s, {
      type: 'listed',
      lists: lists({
        events: [event('detect', 0, '2025-01-01T00:00:01.000Z', { gateAt: 1_000, p95: 12, baseline: 10 })],
        rollouts: [rollout('detect', { evaluatedAt: new Date(3_000).toISOString(), p95: 14 })],
      }),
    });
    s = run(s, {
      type: 'watch',
      event: { kind: 'rollouts', data: { upserted: [rollout('detect', { evaluatedAt: new Date(2_000).toISOString(), p95: 13 })], deleted: [] } },
    });
    // The same evaluation again (the stream repeats a change the list already had): no new point.
    s = run(s, {
      type: 'watch',
      event: { kind: 'rollouts', data: { upserted: [rollout('detect', { evaluatedAt: new Date(3_000).toISOString(), p95: 14 })], deleted: [] } },
    });
    const points = s.gateHistory.get('detect') ?? [];
    expect(points.map((p) => [p.t, p.p95LatencyMs])).toEqual([
      [1_000, 12],
      [2_000, 13],
      [3_000, 14],
    ]);
    // The limit is the baseline times the ratio threshold (2 in the fixtures).
    expect(points[0]?.p95LimitMs).toBe(20);
  });

  it('adds only new events, in time order, and keeps them across relists', () => {
    let s = run(initialFleetState, { type: 'watch', event: hello }, { type: 'listed', lists: lists({ events: [event('a', 0, '2025-01-01T00:00:01Z')] }) });
    s = run(s, { type: 'watch', event: { kind: 'events', data: { items: [event('a', 1, '2025-01-01T00:00:03Z'), event('b', 0, '2025-01-01T00:00:02Z')] } } });
    s = run(s, { type: 'watch', event: { kind: 'events', data: { items: [event('a', 1, '2025-01-01T00:00:03Z')] } } });
    expect(s.events.map((e) => `${e.deployment}#${e.seq}`)).toEqual(['a#0', 'b#0', 'a#1']);
    s = run(s, { type: 'watch', event: hello }, { type: 'listed', lists: lists({ events: [event('a', 1, '2025-01-01T00:00:03Z')] }) });
    expect(s.events).toHaveLength(3);
  });

  it('replaces temperatures with each bulk read', () => {
    const s = run(
      initialFleetState,
      { type: 'temperatures', items: [{ nodeId: '1', value: 51.5 }] },
      { type: 'temperatures', items: [{ nodeId: '2', value: 60 }] },
    );
    expect([...s.temperatures]).toEqual([['2', 60]]);
  });
});

describe('list helpers', () => {
  it('returns the same map when a change changes nothing, so React skips the render', () => {
    const m = new Map([['1', node('1')]]);
    expect(applyUpserts(m, { upserted: [], deleted: ['9'] }, (n) => n.id)).toBe(m);
    expect(applyUpserts(m, { upserted: [node('1')], deleted: [] }, (n) => n.id)).not.toBe(m);
  });

  it('keeps at most the newest MAX_EVENTS events', () => {
    const many = Array.from({ length: MAX_EVENTS + 10 }, (_, i) => event('a', i, new Date(i * 1000).toISOString()));
    const kept = mergeEvents([], many);
    expect(kept).toHaveLength(MAX_EVENTS);
    expect(kept[0]?.seq).toBe(10);
  });
});
