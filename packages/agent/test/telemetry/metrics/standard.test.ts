import { type CounterPoint, histogramCount, type TelemetrySeries } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { EdgeAggregator } from '../../../src/telemetry/metrics/aggregator.js';
import { renderExposition } from '../../../src/telemetry/metrics/exposition.js';
import type { NodeMetricsReading } from '../../../src/telemetry/metrics/node.js';
import { AgentMetrics, INSTANCE_METRIC_NAMES, STANDARD_METRIC_NAMES, YOUNG_INSTANCE, youngInstance } from '../../../src/telemetry/metrics/standard.js';

const W = ['deployment', 'revision'];

/** The standard set as dashboards, gates and the docs know it: name → [type, labels]. */
const EXPECTED: Record<string, [string, string[]]> = {
  edgefleet_node_cpu_usage_ratio: ['gauge', []],
  edgefleet_node_load1: ['gauge', []],
  edgefleet_node_load5: ['gauge', []],
  edgefleet_node_load15: ['gauge', []],
  edgefleet_node_memory_used_bytes: ['gauge', []],
  edgefleet_node_memory_total_bytes: ['gauge', []],
  edgefleet_node_disk_used_bytes: ['gauge', []],
  edgefleet_node_disk_total_bytes: ['gauge', []],
  edgefleet_node_temperature_celsius: ['gauge', []],
  edgefleet_node_throttled_flags: ['gauge', []],
  edgefleet_node_network_receive_bytes_total: ['counter', ['interface']],
  edgefleet_node_network_transmit_bytes_total: ['counter', ['interface']],
  edgefleet_node_uptime_seconds: ['gauge', []],
  edgefleet_inference_request_duration_seconds: ['histogram', W],
  edgefleet_inference_requests_total: ['counter', [...W, 'outcome']],
  edgefleet_model_load_failures_total: ['counter', W],
  edgefleet_workload_restarts_total: ['counter', W],
  edgefleet_workload_fallback_active: ['gauge', W],
  edgefleet_workload_instance_start_timestamp_seconds: ['gauge', W],
  edgefleet_workload_instance_requests: ['gauge', W],
  edgefleet_accelerator_healthy: ['gauge', ['accelerator']],
  edgefleet_agent_queue_records: ['gauge', []],
  edgefleet_agent_queue_bytes: ['gauge', []],
  edgefleet_agent_queue_capacity_bytes: ['gauge', []],
  edgefleet_agent_dropped_samples_total: ['counter', ['reason']],
  edgefleet_agent_dropped_log_lines_total: ['counter', ['reason']],
  edgefleet_agent_uplink_sent_bytes_total: ['counter', []],
  edgefleet_agent_uplink_received_bytes_total: ['counter', []],
  edgefleet_agent_last_upload_timestamp_seconds: ['gauge', []],
  edgefleet_agent_log_lines_suppressed_total: ['counter', []],
};

function reading(over: Partial<NodeMetricsReading> = {}): NodeMetricsReading {
  return {
    cpu: null,
    cpuUsageRatio: null,
    load1: null,
    load5: null,
    load15: null,
    memoryUsedBytes: null,
    memoryTotalBytes: null,
    diskUsedBytes: null,
    diskTotalBytes: null,
    temperatureC: null,
    throttledBits: null,
    network: [],
    uptimeSeconds: null,
    ...over,
  };
}

describe('AgentMetrics', () => {
  it('declares exactly the standard metric set, with its types and labels', () => {
    const m = new AgentMetrics();
    const declared = Object.fromEntries(m.registry.all().map((x) => [x.name, [x.type, [...x.labelNames]]]));
    expect(declared).toEqual(EXPECTED);
    // Every name has its short symbol but the instance gauges (the static table is frozen at v1).
    expect([...STANDARD_METRIC_NAMES, ...Object.values(INSTANCE_METRIC_NAMES)].sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it('counts requests by outcome and times only the successful ones', () => {
    const m = new AgentMetrics();
    m.inference('cam-detect', 3, 12, true);
    m.inference('cam-detect', 3, 18, true);
    m.inference('cam-detect', 3, 0.02, false);
    const text = renderExposition(m.registry);
    expect(text).toContain('edgefleet_inference_requests_total{deployment="cam-detect",revision="3",outcome="ok"} 2\n');
    expect(text).toContain('edgefleet_inference_requests_total{deployment="cam-detect",revision="3",outcome="error"} 1\n');
    expect(text).toContain('edgefleet_inference_request_duration_seconds_count{deployment="cam-detect",revision="3"} 2\n');
    expect(text).toContain('edgefleet_inference_request_duration_seconds_sum{deployment="cam-detect",revision="3"} 0.03\n');
    const h = m.registry.get('edgefleet_inference_request_duration_seconds');
    expect(h?.type === 'histogram' ? histogramCount(h.all()[0]?.latency ?? { v: 1, offset: 0, counts: [] }) : -1).toBe(2);
  });

  it('keeps the requests of each revision apart, on /metrics and upstream, however the calls interleave', () => {
    let now = 1_736_942_400_001;
    const agg = new EdgeAggregator(15_000, () => now);
    const m = new AgentMetrics(agg);
    const calls: Array<[string, number | string, number, boolean]> = [
      ['detect', 1, 10, true],
      ['detect', 2, 20, true],
      ['count', 1, 5, true],
      // The proxy may name a revision as a string: the same series as the number.
      ['detect', '1', 30, false],
      ['detect', 1, 12, true],
      ['detect', 2, 22, false],
    ];
    for (const c of calls) m.inference(...c);
    const text = renderExposition(m.registry);
    for (const line of [
      'edgefleet_inference_requests_total{deployment="detect",revision="1",outcome="ok"} 2',
      'edgefleet_inference_requests_total{deployment="detect",revision="1",outcome="error"} 1',
      'edgefleet_inference_requests_total{deployment="detect",revision="2",outcome="ok"} 1',
      'edgefleet_inference_requests_total{deployment="detect",revision="2",outcome="error"} 1',
      'edgefleet_inference_requests_total{deployment="count",revision="1",outcome="ok"} 1',
      'edgefleet_inference_request_duration_seconds_sum{deployment="detect",revision="1"} 0.022',
      'edgefleet_inference_request_duration_seconds_count{deployment="count",revision="1"} 1',
    ])
      expect(text).toContain(`\n${line}\n`);
    // An outcome that never happened has no series yet.
    expect(text).not.toContain('deployment="count",revision="1",outcome="error"');
    now += 15_000;
    const out = agg.closeDue();
    const inc = (labels: Record<string, string>) =>
      (out.find((s) => s.name === 'edgefleet_inference_requests_total' && JSON.stringify(s.labels) === JSON.stringify(labels))?.points as CounterPoint[])[0]
        ?.inc;
    expect(inc({ deployment: 'detect', revision: '1', outcome: 'ok' })).toBe(2);
    expect(inc({ deployment: 'detect', revision: '1', outcome: 'error' })).toBe(1);
    expect(inc({ deployment: 'detect', revision: '2', outcome: 'ok' })).toBe(1);
    expect(inc({ deployment: 'count', revision: '1', outcome: 'ok' })).toBe(1);
    const sums = out
      .filter((s) => s.name === 'edgefleet_inference_request_duration_seconds')
      .map((s) => [s.labels.deployment, s.labels.revision, (s.points[0] as { sumMs: number }).sumMs]);
    expect(sums.sort()).toEqual([
      ['count', '1', 5],
      ['detect', '1', 22],
      ['detect', '2', 20],
    ]);
  });

  it("sends the serving instance's start and request count with every request, for the server's warm-up fields", () => {
    let now = 1_736_942_401_500;
    const agg = new EdgeAggregator(15_000, () => now);
    const m = new AgentMetrics(agg);
    // Revision 2's instance began serving 1.5 s into the interval; then a restart: a new
    // instance at 10 s, its first request the window's last.
    m.inference('detect', 2, 10, true, { startedAt: 1_736_942_401_500, answered: 1 });
    now += 1_000;
    m.inference('detect', 2, 11, false, { startedAt: 1_736_942_401_500, answered: 2 });
    now = 1_736_942_410_000;
    m.inference('detect', 2, 12, true, { startedAt: now, answered: 1 });
    m.inference('detect', 3, 12, true);
    now += 15_000;
    const out = agg.closeDue();
    const point = (name: string) => out.find((s) => s.name === name && s.labels.revision === '2')?.points;
    const t = 1_736_942_415_000;
    expect(point(INSTANCE_METRIC_NAMES.start)).toEqual([{ t, min: 1_736_942_401.5, max: 1_736_942_410, last: 1_736_942_410 }]);
    expect(point(INSTANCE_METRIC_NAMES.requests)).toEqual([{ t, min: 1, max: 2, last: 1 }]);
    // A revision no instance was announced for has no instance gauges.
    expect(out.filter((s) => s.labels.revision === '3').map((s) => s.name)).not.toContain(INSTANCE_METRIC_NAMES.start);
    expect(renderExposition(m.registry)).toContain('edgefleet_workload_instance_requests{deployment="detect",revision="2"} 1\n');
  });

  it('moves the instance gauges only while the instance is young (they cost a metered upload about 90 bytes)', () => {
    const start = 1_736_942_400_000;
    const cases: Array<[string, number, number, { startedAt: number; answered: number } | undefined]> = [
      ['a new instance', 1, start + 10, { startedAt: start, answered: 1 }],
      ['many requests within the hour', 50_000, start + YOUNG_INSTANCE.ms - 1, { startedAt: start, answered: 50_000 }],
      ['an old instance with few requests', YOUNG_INSTANCE.requests, start + 86_400_000, { startedAt: start, answered: YOUNG_INSTANCE.requests }],
      ['past both', YOUNG_INSTANCE.requests + 1, start + YOUNG_INSTANCE.ms, undefined],
      // The clock stepped back an hour since the instance started: its start reads as now.
      ['a clock stepped back', 3, start - 3_600_000, { startedAt: start - 3_600_000, answered: 3 }],
    ];
    for (const [what, answered, now, expected] of cases) expect(youngInstance({ startedAt: start, answered }, now), what).toEqual(expected);
    expect(youngInstance(undefined, start)).toBeUndefined();
  });

  it('shows workload, accelerator, queue and uplink state', () => {
    const m = new AgentMetrics();
    m.restart('cam-detect', 3);
    m.modelLoadFailure('cam-detect', 4);
    m.fallback('cam-detect', 3, true);
    m.accelerator('hailo8l', false);
    m.queue({ records: 7, bytes: 12_345, maxBytes: 67_108_864, droppedRecords: 0, droppedBytes: 0 });
    m.dropped('samples', 'queue-full', 120);
    m.dropped('logs', 'queue-full', 9);
    m.logLinesSuppressed(41);
    m.uplink(2_000, 500);
    m.uplink(1_000, 250, 1_736_942_400_000);
    const text = renderExposition(m.registry);
    for (const line of [
      'edgefleet_workload_restarts_total{deployment="cam-detect",revision="3"} 1',
      'edgefleet_model_load_failures_total{deployment="cam-detect",revision="4"} 1',
      'edgefleet_workload_fallback_active{deployment="cam-detect",revision="3"} 1',
      'edgefleet_accelerator_healthy{accelerator="hailo8l"} 0',
      'edgefleet_agent_queue_records 7',
      'edgefleet_agent_queue_bytes 12345',
      'edgefleet_agent_queue_capacity_bytes 67108864',
      'edgefleet_agent_dropped_samples_total{reason="queue-full"} 120',
      'edgefleet_agent_dropped_log_lines_total{reason="queue-full"} 9',
      'edgefleet_agent_log_lines_suppressed_total 41',
      'edgefleet_agent_uplink_sent_bytes_total 3000',
      'edgefleet_agent_uplink_received_bytes_total 750',
      'edgefleet_agent_last_upload_timestamp_seconds 1736942400',
    ])
      expect(text).toContain(`\n${line}\n`);
  });

  it('sends network bytes upstream as increases between samples, the first sample being the baseline', () => {
    let now = 1_736_942_400_001;
    const agg = new EdgeAggregator(15_000, () => now);
    const m = new AgentMetrics(agg);
    const net = (rx: number) => reading({ network: [{ interface: 'eth0', receiveBytes: rx, transmitBytes: 0 }], temperatureC: 50 + rx / 1000 });
    m.sampleNode(net(1_000));
    now += 5_000;
    m.sampleNode(net(4_000));
    now += 5_000;
    m.sampleNode(net(10_000));
    now += 15_000;
    const out: TelemetrySeries[] = agg.closeDue();
    const rx = out.find((s) => s.name === 'edgefleet_node_network_receive_bytes_total');
    expect(rx?.points as CounterPoint[]).toEqual([{ t: 1_736_942_415_000, inc: 9_000 }]);
    expect(out.find((s) => s.name === 'edgefleet_node_temperature_celsius')?.points).toEqual([{ t: 1_736_942_415_000, min: 51, max: 60, last: 60 }]);
    // The transmit counter never moved: not sent at all.
    expect(out.find((s) => s.name === 'edgefleet_node_network_transmit_bytes_total')).toBeUndefined();
  });
});
