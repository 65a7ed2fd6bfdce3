import type { LatencyHistory } from '@edgefleet/protocol';
import { createElement } from 'react';
import { renderToString } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { Api } from '../../src/api.js';
import { LatencyHistoryPanel, latencyChartData } from '../../src/components/latency-history.js';
import { FleetContext } from '../../src/hooks.js';
import { initialFleetState } from '../../src/reducers.js';

const H = 3_600_000;
const T0 = Date.UTC(2026, 10, 1);

const hour = (i: number, revision: number, requests: number, p95Ms: number): LatencyHistory['hours'][number] => ({
  hour: new Date(T0 + i * H).toISOString(),
  revision,
  site: null,
  requests,
  errors: 0,
  p50Ms: p95Ms / 2,
  p95Ms,
  p99Ms: p95Ms * 2,
});

function history(hours: LatencyHistory['hours']): LatencyHistory {
  return {
    deployment: 'detect',
    revision: 2,
    since: new Date(T0).toISOString(),
    until: new Date(T0 + 3 * H).toISOString(),
    bucketSeconds: 3600,
    site: null,
    bySite: false,
    hours,
    revisions: [],
  };
}

describe('latency history panel', () => {
  it('charts each hour once, from the revision that answered most of it, oldest first', () => {
    const data = latencyChartData(history([hour(0, 1, 500, 10), hour(1, 1, 400, 11), hour(1, 2, 100, 30), hour(2, 1, 10, 12), hour(2, 2, 600, 9)]));
    expect(data.times).toEqual([T0, T0 + H, T0 + 2 * H]);
    expect(data.values).toEqual([
      [5, 5.5, 4.5],
      [10, 11, 9],
      [20, 22, 18],
    ]);
    expect(latencyChartData(history([]))).toEqual({ times: [], values: [[], [], []] });
  });

  it('renders its window choice and chart before the history arrives', () => {
    const html = renderToString(
      createElement(
        FleetContext.Provider,
        { value: { state: initialFleetState, api: new Api('efa_x_y'), role: 'viewer' } },
        createElement(LatencyHistoryPanel, { name: 'detect', revision: 2 }),
      ),
    );
    expect(html).toContain('Latency history');
    expect(html).toContain('last 7d');
    expect(html).toContain('Hourly latency of detect, last 7d');
  });
});
