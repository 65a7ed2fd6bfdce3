import type { TelemetrySeries } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { attributeSeries, type Uploader } from '../../src/telemetry/attribute.js';
import { latestSamples } from '../../src/telemetry/latest.js';
import { reportIntervalMs, telemetrySettingsFor } from '../../src/telemetry/settings.js';
import { statsFromSeries } from '../../src/telemetry/stats.js';

const node: Uploader = { name: 'edge-7', site: 'quarry', runs: (d, r) => d === 'detect' && r <= 3 };
const gauge = (labels: Record<string, string>): TelemetrySeries => ({
  kind: 'gauge',
  name: 'edgefleet_node_temperature_celsius',
  labels,
  points: [{ t: 1, min: 40, max: 50, last: 45 }],
});

describe('attributing a node’s series', () => {
  it('stamps node and site, keeping the node’s own labels', () => {
    const r = attributeSeries([gauge({ interface: 'eth0' })], node);
    expect(r).toEqual({ ok: true, rejected: [], series: [{ ...gauge({}), labels: { interface: 'eth0', node: 'edge-7', site: 'quarry' } }] });
  });

  it.each([
    [{ node: 'edge-8' }, 'claims node "edge-8"'],
    [{ site: 'harbour' }, 'claims site "harbour"'],
  ])('fails the whole batch for %j', (labels, message) => {
    const r = attributeSeries([gauge({}), gauge(labels)], node);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.forged).toContain(message);
  });

  it('accepts its own node and site labels as they are', () => {
    expect(attributeSeries([gauge({ node: 'edge-7', site: 'quarry' })], node).ok).toBe(true);
  });

  it.each([
    [{ deployment: 'detect', revision: '2' }, undefined],
    [{ deployment: 'detect', revision: '4' }, 'no record of this node running detect revision 4'],
    [{ deployment: 'other', revision: '1' }, 'no record of this node running other'],
    [{ deployment: 'detect' }, 'needs both a deployment and a whole revision'],
    [{ deployment: 'detect', revision: 'x' }, 'needs both a deployment and a whole revision'],
  ])('workload labels %j → %s', (labels, reason) => {
    const r = attributeSeries([gauge(labels)], node);
    if (!r.ok) throw new Error('unexpected forgery');
    if (reason === undefined) expect(r.series).toHaveLength(1);
    else expect(r.rejected[0]?.reason).toContain(reason);
  });

  it('leaves out site on a node that has none', () => {
    const r = attributeSeries([gauge({})], { ...node, site: null });
    expect(r.ok && r.series[0]?.labels).toEqual({ node: 'edge-7' });
  });
});

describe('telemetry settings per node', () => {
  it('gives lan by default, at the heartbeat interval when that is shorter than 60 s', () => {
    expect(telemetrySettingsFor({}, 60_000)).toEqual({ profile: 'lan', resolutionMs: 15_000, uploadIntervalMs: 60_000, foldHeartbeats: false });
    expect(telemetrySettingsFor({}, 1_000)).toEqual({ profile: 'lan', resolutionMs: 1_000, uploadIntervalMs: 1_000, foldHeartbeats: false });
  });
  it('gives metered by label, and counts a metered node offline only after three missed uploads', () => {
    const labels = { 'telemetry.profile': 'metered' };
    expect(telemetrySettingsFor(labels, 60_000)).toMatchObject({ profile: 'metered', resolutionMs: 300_000, uploadIntervalMs: 900_000, foldHeartbeats: true });
    expect(reportIntervalMs(labels, 60_000)).toBe(900_000);
    expect(reportIntervalMs({}, 60_000)).toBe(60_000);
  });
});

describe('latest values', () => {
  it('keeps the last point of each series: gauge last, counter increase, histogram count', () => {
    const out = latestSamples([
      gauge({}),
      {
        kind: 'counter',
        name: 'edgefleet_inference_requests_total',
        labels: {},
        points: [
          { t: 1, inc: 3 },
          { t: 2, inc: 7 },
        ],
      },
      {
        kind: 'histogram',
        name: 'edgefleet_inference_request_duration_seconds',
        labels: {},
        points: [{ t: 5, sumMs: 30, hist: { v: 1, offset: 100, counts: [2, 1] } }],
      },
      { kind: 'counter', name: 'edgefleet_workload_restarts_total', labels: {}, points: [] },
    ]);
    expect(out.map((s) => [s.kind, s.t, s.value])).toEqual([
      ['gauge', 1, 45],
      ['counter', 2, 7],
      ['histogram', 5, 3],
    ]);
  });
});

describe('workload stats read out of a metered batch', () => {
  const w = { deployment: 'detect', revision: '2' };
  it('sums requests and errors, merges latency, counts restarts and fallback per interval', () => {
    const stats = statsFromSeries(
      [
        {
          kind: 'counter',
          name: 'edgefleet_inference_requests_total',
          labels: { ...w, outcome: 'ok' },
          points: [
            { t: 300_000, inc: 90 },
            { t: 600_000, inc: 80 },
          ],
        },
        {
          kind: 'counter',
          name: 'edgefleet_inference_requests_total',
          labels: { ...w, outcome: 'error' },
          points: [
            { t: 300_000, inc: 10 },
            { t: 600_000, inc: 0 },
          ],
        },
        { kind: 'counter', name: 'edgefleet_workload_restarts_total', labels: w, points: [{ t: 600_000, inc: 1 }] },
        { kind: 'gauge', name: 'edgefleet_workload_fallback_active', labels: w, points: [{ t: 600_000, min: 0, max: 1, last: 0 }] },
        {
          kind: 'histogram',
          name: 'edgefleet_inference_request_duration_seconds',
          labels: w,
          points: [{ t: 300_000, sumMs: 900, hist: { v: 1, offset: 200, counts: [60, 30] } }],
        },
        // Not a workload series: ignored.
        gauge({}),
      ],
      300_000,
    );
    expect(stats).toEqual([
      {
        deployment: 'detect',
        revision: 2,
        intervalStart: 0,
        intervalEnd: 300_000,
        requests: 100,
        errors: 10,
        restarts: 0,
        fallback: false,
        latency: { v: 1, offset: 200, counts: [60, 30] },
      },
      {
        deployment: 'detect',
        revision: 2,
        intervalStart: 300_000,
        intervalEnd: 600_000,
        requests: 80,
        errors: 0,
        restarts: 1,
        fallback: true,
        latency: { v: 1, offset: 0, counts: [] },
      },
    ]);
  });

  it('leaves out intervals where nothing happened', () => {
    expect(
      statsFromSeries([{ kind: 'counter', name: 'edgefleet_inference_requests_total', labels: { ...w, outcome: 'ok' }, points: [{ t: 1, inc: 0 }] }], 1),
    ).toEqual([]);
  });
});
