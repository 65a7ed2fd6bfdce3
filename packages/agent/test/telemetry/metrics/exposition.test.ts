import { histogramCount } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { renderExposition } from '../../../src/telemetry/metrics/exposition.js';
import { LATENCY_BUCKETS_SECONDS, MetricsRegistry } from '../../../src/telemetry/metrics/registry.js';

function smallRegistry(): MetricsRegistry {
  const r = new MetricsRegistry();
  const requests = r.counter('demo_requests_total', 'Requests served.', ['path', 'outcome']);
  const temp = r.gauge('demo_temperature_celsius', 'SoC temperature.');
  const latency = r.histogram('demo_duration_seconds', 'Request latency.', ['deployment']);
  requests.inc({ path: '/v2/models/cam', outcome: 'ok' }, 3);
  requests.inc({ path: '/v2/models/cam', outcome: 'error' });
  temp.set({}, 52.3);
  latency.observe({ deployment: 'cam' }, 0.004);
  latency.observe({ deployment: 'cam' }, 0.004);
  latency.observe({ deployment: 'cam' }, 0.25);
  latency.observe({ deployment: 'cam' }, 42);
  return r;
}

describe('Prometheus text exposition', () => {
  it('writes HELP, TYPE, samples and cumulative buckets exactly', () => {
    const text = renderExposition(smallRegistry());
    const buckets = [0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3];
    expect(text).toBe(
      [
        '# HELP demo_requests_total Requests served.',
        '# TYPE demo_requests_total counter',
        'demo_requests_total{path="/v2/models/cam",outcome="ok"} 3',
        'demo_requests_total{path="/v2/models/cam",outcome="error"} 1',
        '# HELP demo_temperature_celsius SoC temperature.',
        '# TYPE demo_temperature_celsius gauge',
        'demo_temperature_celsius 52.3',
        '# HELP demo_duration_seconds Request latency.',
        '# TYPE demo_duration_seconds histogram',
        ...LATENCY_BUCKETS_SECONDS.map((le, i) => `demo_duration_seconds_bucket{deployment="cam",le="${le}"} ${buckets[i]}`),
        'demo_duration_seconds_bucket{deployment="cam",le="+Inf"} 4',
        'demo_duration_seconds_sum{deployment="cam"} 42.258',
        'demo_duration_seconds_count{deployment="cam"} 4',
        '',
      ].join('\n'),
    );
  });

  it('puts an observation equal to a bound in that bucket (le is "less or equal")', () => {
    const r = new MetricsRegistry();
    const h = r.histogram('edge_seconds', 'Edge cases.');
    h.observeMs({}, 2.5);
    h.observe({}, 0.0025);
    h.observe({}, 10);
    expect(renderExposition(r)).toContain('edge_seconds_bucket{le="0.001"} 0\nedge_seconds_bucket{le="0.0025"} 2\n');
    expect(renderExposition(r)).toContain('edge_seconds_bucket{le="5"} 2\nedge_seconds_bucket{le="10"} 3\nedge_seconds_bucket{le="+Inf"} 3\n');
  });

  it('escapes label values and help text', () => {
    const r = new MetricsRegistry();
    r.gauge('demo_info', 'Help with a backslash \\ and\na line feed; "quotes" stay.', ['path']).set({ path: 'C:\\models\\"cam"\nv2' }, 1);
    expect(renderExposition(r)).toBe(
      [
        '# HELP demo_info Help with a backslash \\\\ and\\na line feed; "quotes" stay.',
        '# TYPE demo_info gauge',
        'demo_info{path="C:\\\\models\\\\\\"cam\\"\\nv2"} 1',
        '',
      ].join('\n'),
    );
  });

  it('shows label-less counters and histograms at zero before they move, but never an unmeasured gauge', () => {
    const r = new MetricsRegistry();
    r.counter('demo_events_total', 'Events.');
    r.gauge('demo_temperature_celsius', 'Temperature.');
    r.histogram('demo_seconds', 'Latency.');
    const text = renderExposition(r);
    expect(text).toContain('\ndemo_events_total 0\n');
    expect(text).not.toMatch(/^demo_temperature_celsius /m);
    expect(text).toContain('\ndemo_seconds_bucket{le="+Inf"} 0\ndemo_seconds_sum 0\ndemo_seconds_count 0\n');
  });

  it('writes special values as Prometheus spells them', () => {
    const r = new MetricsRegistry();
    const g = r.gauge('demo_value', 'A value.', ['case']);
    g.set({ case: 'pos' }, Number.POSITIVE_INFINITY);
    g.set({ case: 'neg' }, Number.NEGATIVE_INFINITY);
    g.set({ case: 'tiny' }, 1e-7);
    expect(renderExposition(r)).toContain('demo_value{case="pos"} +Inf\ndemo_value{case="neg"} -Inf\ndemo_value{case="tiny"} 1e-7\n');
  });

  it('keeps the mergeable histogram and an exact sum beside the classic buckets', () => {
    const r = smallRegistry();
    const h = r.get('demo_duration_seconds');
    if (h?.type !== 'histogram') throw new Error('histogram missing');
    const [series] = h.all();
    expect(series?.count).toBe(4);
    expect(series?.sumMs).toBeCloseTo(42258, 9);
    expect(histogramCount(series?.latency ?? { v: 1, offset: 0, counts: [] })).toBe(4);
  });

  it('refuses what would make invalid exposition text', () => {
    const r = new MetricsRegistry();
    expect(() => r.counter('9lives_total', 'x')).toThrow(/not a valid metric name/);
    expect(() => r.gauge('demo_g', 'x', ['__reserved'])).toThrow(/not a valid label name/);
    expect(() => r.histogram('demo_h', 'x', ['le'])).toThrow(/cannot have a label "le"/);
    const c = r.counter('demo_total', 'x', ['reason']);
    expect(() => r.counter('demo_total', 'x')).toThrow(/declared twice/);
    expect(() => c.inc({ reason: 'full' }, -1)).toThrow(/can only grow/);
    expect(() => c.inc({})).toThrow(/needs label "reason"/);
    expect(() => c.inc({ reason: 'full', extra: 'x' })).toThrow(/has no label "extra"/);
  });

  it('mirrors a kernel total as a counter, counting a reset as a fresh start', () => {
    const r = new MetricsRegistry();
    const c = r.counter('demo_bytes_total', 'Bytes.', ['interface']);
    const seen: number[] = [];
    r.addSink({ counterIncreased: (_n, _l, by) => seen.push(by), gaugeSet: () => {}, histogramObserved: () => {} });
    c.setTotal({ interface: 'eth0' }, 1000);
    c.setTotal({ interface: 'eth0' }, 1500);
    c.setTotal({ interface: 'eth0' }, 200);
    expect(seen).toEqual([500, 200]);
    expect(renderExposition(r)).toContain('demo_bytes_total{interface="eth0"} 200\n');
  });
});
