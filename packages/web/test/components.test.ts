import { createElement, type ReactNode } from 'react';
import { renderToString } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { Api } from '../src/api.js';
import { type Column, minRowWidth, scrollToShow, VirtualTable, visibleWindow } from '../src/components/virtual-table.js';
import { selectorText, stateCounts } from '../src/deployment-view.js';
import { listFleet } from '../src/fleet-provider.js';
import { FleetContext } from '../src/hooks.js';
import { Events } from '../src/pages/events.js';
import { NodePage } from '../src/pages/node.js';
import { Nodes } from '../src/pages/nodes.js';
import { Overview } from '../src/pages/overview.js';
import { availableCommands, gateChartData, RolloutPage } from '../src/pages/rollout.js';
import { type FleetLists, type FleetState, fleetReducer, initialFleetState } from '../src/reducers.js';
import type { Role } from '../src/types.js';
import { deployment, node, rollout } from './fixtures.js';

function fleet(o: Partial<FleetLists> = {}): FleetState {
  return fleetReducer(initialFleetState, {
    type: 'listed',
    lists: { nodes: [], deployments: [], rollouts: [], alerts: [], events: [], audit: [], ...o },
  });
}
const render = (state: FleetState, role: Role, page: ReactNode) =>
  renderToString(createElement(FleetContext.Provider, { value: { state, api: new Api('efa_x_y'), role } }, page));
const count = (html: string, needle: string) => html.split(needle).length - 1;

describe('windowed table', () => {
  it('renders only the rows in view of 10,000, and says how many there are', () => {
    const rows = Array.from({ length: 10_000 }, (_, i) => ({ id: String(i), name: `edge-${i}` }));
    const columns: Column<(typeof rows)[number]>[] = [{ id: 'name', header: 'Name', width: '1fr', value: (r) => r.name }];
    const html = renderToString(createElement(VirtualTable<(typeof rows)[number]>, { rows, columns, rowKey: (r) => r.id, label: 'Nodes' }));
    expect(html).toContain('aria-rowcount="10001"');
    expect(html).toContain('edge-0<');
    expect(html).not.toContain('edge-500<');
    expect(count(html, '<tr')).toBeLessThan(40);
  });

  it('computes the window and the scroll that shows a row', () => {
    expect(visibleWindow(10_000, 40, 4_000, 400, 5)).toEqual({ start: 95, end: 115 });
    expect(visibleWindow(3, 40, 0, 400, 5)).toEqual({ start: 0, end: 3 });
    expect(scrollToShow(50, 40, 0, 400)).toBe(50 * 40 + 40 - 400);
    expect(scrollToShow(2, 40, 400, 400)).toBe(80);
    expect(scrollToShow(12, 40, 400, 400)).toBe(400);
  });

  it('keeps every row as wide as the sum of the columns’ minimums, so columns line up', () => {
    expect(minRowWidth(['minmax(9rem, 2fr)', '7rem', 'minmax(5rem, 0.8fr)'])).toBe('24.6rem');
  });
});

describe('pages', () => {
  const nodes = [node('1', { site: 'north' }), node('2', { site: 'north', status: 'offline' }), node('3', { site: 'south' })];
  const deployments = [
    deployment(
      'detect',
      2,
      [
        { nodeId: '1', revision: 2, state: 'running' },
        { nodeId: '3', revision: 1, state: 'degraded' },
      ],
      { steps: [{ percent: 50, bake: '1m' }, { percent: 100 }] },
    ),
  ];

  it('overview: counts by health and a tile per site, worst first', () => {
    const html = render(fleet({ nodes, deployments }), 'viewer', createElement(Overview));
    expect(html).toMatch(/stat-value">3<.*nodes/s);
    expect(html).toContain('tile tile-critical');
    expect(html.indexOf('north')).toBeLessThan(html.indexOf('south'));
    expect(html).toContain('hailo8l');
  });

  it('nodes: a column per deployment revision and the count of rows shown', () => {
    const html = render(fleet({ nodes, deployments }), 'viewer', createElement(Nodes, { selector: 'geolocation.site=north' }));
    expect(html).toContain('detect rev.');
    expect(html).toMatch(/Showing <!-- -->2<!-- --> of <!-- -->3<!-- --> nodes/);
    expect(html).toContain('edge-1');
    expect(html).not.toContain('edge-3<');
  });

  it('node: labels with who set them, and workloads', () => {
    const html = render(fleet({ nodes, deployments }), 'viewer', createElement(NodePage, { nodeRef: 'edge-3' }));
    expect(html).toContain('geolocation.site');
    expect(html).toContain('degraded');
    expect(html).toContain('href="/deployments/detect"');
  });

  it('rollout: commands only for operators, enabled by phase', () => {
    const state = fleet({ deployments, rollouts: [rollout('detect', { phase: 'Progressing', evaluatedAt: '2025-01-01T00:00:00Z' })] });
    const operator = render(state, 'operator', createElement(RolloutPage, { name: 'detect' }));
    expect(operator).toContain('>Pause</button>');
    expect(operator).toMatch(/<button[^>]*disabled=""[^>]*>Resume<\/button>/);
    expect(operator).toContain('Step <!-- -->1');
    const viewer = render(state, 'viewer', createElement(RolloutPage, { name: 'detect' }));
    expect(viewer).not.toContain('>Pause</button>');
    expect(viewer).toContain('viewer role');
  });

  it('rollout commands follow the phase', () => {
    expect(availableCommands({ phase: 'Paused', fromRevision: 1 })).toEqual({ pause: false, resume: true, promote: true, abort: true, undo: true });
    expect(availableCommands({ phase: 'Succeeded', fromRevision: 1 })).toEqual({ pause: false, resume: false, promote: false, abort: false, undo: true });
    expect(availableCommands({ phase: 'Progressing', fromRevision: null }).undo).toBe(false);
  });

  it('plots the P95 of both sides and the limit from the gate points', () => {
    const s = fleet({ rollouts: [rollout('detect', { evaluatedAt: new Date(5_000).toISOString(), p95: 12, baseline: 10 })] });
    expect(gateChartData(s.gateHistory.get('detect') ?? [])).toEqual({ times: [5_000], values: [[12], [10], [20]] });
  });
});

describe('deployment summaries', () => {
  it('counts nodes by state and revision', () => {
    const d = deployment('detect', 2, [
      { nodeId: '1', revision: 2, state: 'running' },
      { nodeId: '2', revision: 2, state: 'running' },
      { nodeId: '3', revision: 1, state: 'running' },
      { nodeId: '4', revision: null, state: 'pending' },
    ]);
    expect(stateCounts(d)).toEqual([
      { label: 'running r2', count: 2 },
      { label: 'pending', count: 1 },
      { label: 'running r1', count: 1 },
    ]);
    expect(selectorText({ selector: { matchLabels: { 'ai.accelerator': 'hailo8' } } })).toBe('ai.accelerator=hailo8');
    expect(selectorText({ selector: '' })).toBe('(every node)');
  });
});

describe('events page and the audit log', () => {
  it('tells a viewer the audit log is for operators instead of showing an empty table', () => {
    const viewer = render(fleet(), 'viewer', createElement(Events));
    expect(viewer).toContain('The audit log is for operators');
    const operator = render(fleet(), 'operator', createElement(Events));
    expect(operator).not.toContain('The audit log is for operators');
    expect(operator).toContain('Nothing recorded yet.');
  });
});

describe('listing the fleet', () => {
  it('does not ask a viewer for the audit log (403): the dashboard would never load', async () => {
    const asked: string[] = [];
    const api = {
      nodes: async () => [],
      deployments: async () => [],
      alerts: async () => [],
      events: async () => [],
      audit: async () => {
        asked.push('audit');
        return [];
      },
      rollout: async () => undefined,
    } as unknown as Api;
    await listFleet(api, 'viewer');
    expect(asked).toEqual([]);
    await listFleet(api, 'operator');
    expect(asked).toEqual(['audit']);
  });
});
