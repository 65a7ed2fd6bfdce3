import { parseSelector } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { countBy, filterRows, healthCounts, nodeHealth, nodeRows, siteTiles, sortRows } from '../src/selectors.js';
import { alert, deployment, node } from './fixtures.js';

describe('node health', () => {
  it('is offline when the server has not heard from the node, whatever its workloads say', () => {
    expect(nodeHealth(node('1', { status: 'offline' }), [], false)).toBe('offline');
  });
  it('is degraded when a workload runs on the CPU fallback or failed, or an alert fires', () => {
    const w = (state: string) => [{ deployment: 'd', revision: 1, state, reason: null, message: null, endpoint: null }];
    expect(nodeHealth(node('1'), w('degraded'), false)).toBe('degraded');
    expect(nodeHealth(node('1'), w('verification-failed'), false)).toBe('degraded');
    expect(nodeHealth(node('1'), w('running'), true)).toBe('degraded');
    expect(nodeHealth(node('1'), w('running'), false)).toBe('online');
  });
});

describe('node rows', () => {
  const nodes = [
    node('1', { site: 'north', labels: { 'ai.accelerator': 'hailo8' }, temperatureC: 55 }),
    node('2', { site: 'north', status: 'offline', labels: { 'ai.accelerator': 'hailo8l' } }),
    node('3', { site: 'south', labels: { 'firmware.version': '20231206' } }),
    { ...node('4', { labels: {} }), site: null, labels: { 'cpu.arch': 'arm64' } },
  ];
  const deployments = [
    deployment('detect', 2, [
      { nodeId: '1', revision: 2, state: 'running' },
      { nodeId: '3', revision: 1, state: 'degraded' },
      { nodeId: '2', revision: null, state: 'pending' },
    ]),
  ];
  const rows = nodeRows(nodes, deployments, [alert('4')], new Map([['3', 61.25]]));

  it('joins each node with its revision per deployment, health and temperature', () => {
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(byId.get('1')).toMatchObject({ site: 'north', health: 'online', accelerator: 'hailo8', revisions: { detect: 2 }, temperature: 55 });
    expect(byId.get('2')).toMatchObject({ health: 'offline', revisions: { detect: null } });
    // Telemetry wins over the heartbeat's facts.
    expect(byId.get('3')).toMatchObject({ health: 'degraded', firmware: '20231206', temperature: 61.25 });
    expect(byId.get('4')).toMatchObject({ site: '(no site)', accelerator: 'none', firmware: 'unknown', health: 'degraded', revisions: {}, temperature: null });
  });

  it('filters by label selector and by name or site text', () => {
    expect(filterRows(rows, parseSelector('ai.accelerator in (hailo8,hailo8l)'), '').map((r) => r.id)).toEqual(['1', '2', '3']);
    expect(filterRows(rows, parseSelector('geolocation.site=north,ai.accelerator!=hailo8'), '').map((r) => r.id)).toEqual(['2']);
    expect(filterRows(rows, [], 'SOUTH').map((r) => r.id)).toEqual(['3']);
    expect(filterRows(rows, [], 'edge-4').map((r) => r.id)).toEqual(['4']);
  });

  it('sorts numbers numerically, names naturally, and nulls last in both directions', () => {
    const named = ['edge-10', 'edge-2', 'edge-1'].map((name, i) => ({ name, t: [3, null, 1][i] ?? null }));
    expect(sortRows(named, (r) => r.name, 'ascending').map((r) => r.name)).toEqual(['edge-1', 'edge-2', 'edge-10']);
    expect(sortRows(named, (r) => r.t, 'ascending').map((r) => r.t)).toEqual([1, 3, null]);
    expect(sortRows(named, (r) => r.t, 'descending').map((r) => r.t)).toEqual([3, 1, null]);
  });

  it('counts health, sites (worst first) and values', () => {
    expect(healthCounts(rows)).toEqual({ total: 4, online: 1, degraded: 2, offline: 1 });
    const tiles = siteTiles(rows);
    expect(tiles.map((t) => [t.site, t.health])).toEqual([
      ['north', 'critical'], // one of two offline
      ['(no site)', 'warning'],
      ['south', 'warning'],
    ]);
    expect(countBy(rows, (r) => r.accelerator)).toEqual([
      { value: 'hailo8l', count: 2 },
      { value: 'hailo8', count: 1 },
      { value: 'none', count: 1 },
    ]);
  });

  it('filters 10,000 rows by selector correctly', () => {
    const many = nodeRows(
      Array.from({ length: 10_000 }, (_, i) => node(String(i), { site: `site-${i % 20}` })),
      [],
      [],
      new Map(),
    );
    expect(filterRows(many, parseSelector('geolocation.site in (site-3,site-7)'), '')).toHaveLength(1_000);
  });
});
