import { bucketIndex, HISTOGRAM_GAMMA, HISTOGRAM_MIN_MS, histogramOf, mulberry32, type TelemetrySeries } from '@edgefleet/protocol';
import { MemoryQueue } from '@edgefleet/queues';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrometheus, type ThrowawayPrometheus } from '../../../../../test-support/prometheus.js';
import { RemoteWriteForwarder } from '../../../src/telemetry/remote-write/forwarder.js';
import { CounterTotals, LATENCY_BUCKETS_SECONDS, type PromSeries, toPromSeries } from '../../../src/telemetry/remote-write/samples.js';

/**
 * What a node measured reaches a real Prometheus (the Debian package, remote_write
 * receiver on) through the server's conversion and forwarder, with the stamped labels and
 * the right values — read back with PromQL, `histogram_quantile` included.
 */

const HIST = 'edgefleet_inference_request_duration_seconds';
const MINUTE = 60_000;

/** Log-normal latencies around `medianMs` (Box–Muller on a seeded PRNG). */
function latencies(seed: number, n: number, medianMs: number, sigma: number): number[] {
  const random = mulberry32(seed);
  const out: number[] = [];
  while (out.length < n) {
    const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    out.push(medianMs * Math.exp(sigma * z));
  }
  return out;
}

/** The classic bucket each latency lands in by the documented rule: the first le ≥ its DDSketch bucket's upper bound. */
function classicCounts(valuesMs: readonly number[]): number[] {
  const counts = LATENCY_BUCKETS_SECONDS.map(() => 0);
  for (const v of valuesMs) {
    const upperSeconds = (HISTOGRAM_MIN_MS * HISTOGRAM_GAMMA ** bucketIndex(v)) / 1000;
    const k = LATENCY_BUCKETS_SECONDS.findIndex((le) => le >= upperSeconds);
    counts[k] = (counts[k] as number) + 1;
  }
  let below = 0;
  return counts.map((c) => {
    below += c;
    return below;
  });
}

/** Prometheus' `histogram_quantile` over cumulative classic buckets: linear inside the bucket holding rank q·total. */
function classicQuantile(q: number, cumulative: readonly number[]): { value: number; lower: number; upper: number } {
  const total = cumulative.at(-1) as number;
  const rank = q * total;
  const b = cumulative.findIndex((c) => c >= rank);
  const upper = LATENCY_BUCKETS_SECONDS[b] as number;
  const lower = b === 0 ? 0 : (LATENCY_BUCKETS_SECONDS[b - 1] as number);
  const below = b === 0 ? 0 : (cumulative[b - 1] as number);
  return { value: lower + ((upper - lower) * (rank - below)) / ((cumulative[b] as number) - below), lower, upper };
}

describe('remote_write to a real Prometheus', () => {
  let prom: ThrowawayPrometheus;
  let queue: MemoryQueue;
  let forwarder: RemoteWriteForwarder;
  // Prometheus 2.42 appends only samples within about an hour of its newest: use the last few minutes.
  const t0 = Math.floor(Date.now() / 1000) * 1000 - 4 * MINUTE;
  const times = [t0, t0 + MINUTE, t0 + 2 * MINUTE, t0 + 3 * MINUTE];
  const last = times[3] as number;
  const nodes = [
    { node: 'pi-1', site: 'depot', latencies: latencies(1, 3000, 20, 0.35) },
    { node: 'pi-2', site: 'quarry', latencies: latencies(2, 2000, 24, 0.3) },
  ];
  const requestIncs = [120, 95, 0, 130];

  beforeAll(async () => {
    prom = await startPrometheus();
    queue = new MemoryQueue({ maxBytes: 16 * 1024 * 1024 });
    forwarder = new RemoteWriteForwarder({ url: prom.remoteWriteUrl, queue, log: pino({ level: 'silent' }) });
    forwarder.start();

    // What the server's ingest holds after stamping: per node, a counter, a gauge and a histogram.
    const stamped: TelemetrySeries[] = nodes.flatMap(({ node, site, latencies }) => {
      const labels = { node, site, deployment: 'detector', revision: '3' };
      const perPoint = latencies.length / times.length;
      return [
        {
          kind: 'counter',
          name: 'edgefleet_inference_requests_total',
          labels: { ...labels, outcome: 'ok' },
          points: times.map((t, i) => ({ t, inc: requestIncs[i] as number })),
        },
        {
          kind: 'gauge',
          name: 'edgefleet_node_temperature_celsius',
          labels: { node, site },
          points: times.map((t, i) => ({ t, min: 50 + i, max: 70 + i, last: 60 + i })),
        },
        {
          kind: 'histogram',
          name: HIST,
          labels,
          points: times.map((t, i) => {
            const slice = latencies.slice(i * perPoint, (i + 1) * perPoint);
            return { t, sumMs: slice.reduce((a, b) => a + b, 0), hist: histogramOf(slice) };
          }),
        },
      ] satisfies TelemetrySeries[];
    });
    forwarder.enqueue(toPromSeries(stamped, new CounterTotals()));
    await forwarder.drained();
  });

  afterAll(async () => {
    await forwarder?.stop();
    queue?.close();
    await prom?.stop();
  });

  it('delivers every sample, nothing dropped', () => {
    // Per node: 4 points × (1 counter + 3 gauge + 19 buckets + sum + count) samples.
    expect(forwarder.stats()).toMatchObject({ sentSamples: 2 * 4 * 25, droppedSamples: 0, droppedRequests: 0, retries: 0 });
  });

  it('has the counter as a running total with the stamped labels', async () => {
    const result = await prom.query('edgefleet_inference_requests_total', last);
    expect(result.map((r) => r.metric).sort((a, b) => (a.node as string).localeCompare(b.node as string))).toEqual([
      { __name__: 'edgefleet_inference_requests_total', node: 'pi-1', site: 'depot', deployment: 'detector', revision: '3', outcome: 'ok' },
      { __name__: 'edgefleet_inference_requests_total', node: 'pi-2', site: 'quarry', deployment: 'detector', revision: '3', outcome: 'ok' },
    ]);
    expect(result.map((r) => r.value)).toEqual([345, 345]);
    // The increase between the first and the last point: all but the first interval's 120.
    const [grown] = await prom.query('sum(edgefleet_inference_requests_total - edgefleet_inference_requests_total offset 3m)', last);
    expect(grown?.value).toBe(2 * (95 + 0 + 130));
  });

  it('has the gauge as last, min and max', async () => {
    for (const [name, value] of [
      ['edgefleet_node_temperature_celsius', 63],
      ['edgefleet_node_temperature_celsius_min', 53],
      ['edgefleet_node_temperature_celsius_max', 73],
    ] as const) {
      const result = await prom.query(`${name}{node="pi-1", site="depot"}`, last);
      expect(
        result.map((r) => r.value),
        name,
      ).toEqual([value]);
    }
  });

  it('answers histogram_quantile over the fleet exactly as the classic buckets dictate, close to the exact P95', async () => {
    const all = nodes.flatMap((n) => n.latencies);
    const cumulative = classicCounts(all);
    const expected = classicQuantile(0.95, cumulative);
    const [p95] = await prom.query(`histogram_quantile(0.95, sum by (le) (${HIST}_bucket{deployment="detector", revision="3"}))`, last);
    expect(p95?.value).toBeCloseTo(expected.value, 12);

    // The exact P95 of the raw latencies lies in the classic bucket Prometheus interpolated in:
    // that bucket's width is all the error the classic layout allows (here 30 ms … 50 ms:
    // Prometheus reads 44.3 ms for an exact 36.5 ms, the cost of linear interpolation).
    const sorted = [...all].sort((a, b) => a - b);
    const exact = (sorted[Math.ceil(0.95 * sorted.length) - 1] as number) / 1000;
    expect(exact).toBeGreaterThan(expected.lower);
    expect(exact).toBeLessThanOrEqual(expected.upper);
    expect(Math.abs((p95?.value as number) - exact)).toBeLessThan(expected.upper - expected.lower);

    const [count] = await prom.query(`sum(${HIST}_count)`, last);
    expect(count?.value).toBe(all.length);
    const [sum] = await prom.query(`sum(${HIST}_sum)`, last);
    expect(sum?.value).toBeCloseTo(all.reduce((a, b) => a + b, 0) / 1000, 9);
    const [inf] = await prom.query(`sum(${HIST}_bucket{le="+Inf"})`, last);
    expect(inf?.value).toBe(all.length);
  });

  it('keeps the labels per node, so one node P95 can be read too', async () => {
    const result = await prom.query(`histogram_quantile(0.95, ${HIST}_bucket{node="pi-2"})`, last);
    expect(result).toHaveLength(1);
    expect(result[0]?.metric).toEqual({ node: 'pi-2', site: 'quarry', deployment: 'detector', revision: '3' });
    expect(result[0]?.value).toBeCloseTo(classicQuantile(0.95, classicCounts(nodes[1]?.latencies ?? [])).value, 12);
  });

  it('does not retry when Prometheus refuses a request with 400 (an out-of-order sample)', async () => {
    let requests = 0;
    const statuses: number[] = [];
    // A forwarder that has not seen the earlier samples (a restarted server) sends an older one.
    const fresh = new RemoteWriteForwarder({
      url: prom.remoteWriteUrl,
      queue: new MemoryQueue({ maxBytes: 1024 * 1024 }),
      log: pino({ level: 'silent' }),
      fetch: async (url, init) => {
        requests++;
        const res = await globalThis.fetch(url, init);
        statuses.push(res.status);
        return res;
      },
    });
    const stale: PromSeries = { labels: { __name__: 'edgefleet_node_temperature_celsius', node: 'pi-1', site: 'depot' }, samples: [{ t: t0 + 30_000, v: 99 }] };
    fresh.enqueue([stale]);
    fresh.start();
    await fresh.drained();
    await fresh.stop();
    expect(statuses).toEqual([400]);
    expect(requests).toBe(1);
    expect(fresh.stats()).toMatchObject({ droppedRequests: 1, droppedSamples: 1, retries: 0 });
    expect(fresh.stats().lastError).toContain('out of order');
    const [gauge] = await prom.query('edgefleet_node_temperature_celsius{node="pi-1"}', t0 + 30_000);
    expect(gauge?.value).toBe(60);
  });
});
