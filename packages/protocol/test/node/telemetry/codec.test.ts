import { createHash } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { HISTOGRAM_BUCKETS, histogramOf, type LatencyHistogram } from '../../../src/histogram.js';
import {
  decodeTelemetryBatch,
  encodeTelemetryBatch,
  MAX_TIMESTAMP_MS,
  STANDARD_METRIC_NAMES,
  TELEMETRY_WIRE_VERSION,
  TelemetryDecodeError,
} from '../../../src/node/telemetry/codec.js';
import { mulberry32 } from '../../../src/seeded-random.js';
import { ByteWriter } from '../../../src/telemetry/bytes.js';
import { PRESET_DICTIONARY_V1 } from '../../../src/telemetry/dictionary.js';
import { STATIC_SYMBOL_INDEX, staticSymbolTable } from '../../../src/telemetry/symbols.js';
import type { GaugePoint, TelemetryBatch, TelemetrySeries } from '../../../src/telemetry/types.js';

const T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

// ---- fixtures ------------------------------------------------------------------------

/**
 * One node's upload as the agent will build it: the standard node and agent metrics, and two
 * workloads with their request counters and a latency histogram of ~1,500 requests per
 * 5 minutes, log-normal around 20 ms. Values carry realistic noise and precision (bytes in
 * pages, temperatures in millidegrees, a CPU ratio as an arbitrary double).
 */
function realisticBatch(profile: 'metered' | 'lan', seed: number): TelemetryBatch {
  const random = mulberry32(seed);
  const resolutionMs = profile === 'metered' ? 300_000 : 15_000;
  const ts = Array.from({ length: profile === 'metered' ? 3 : 4 }, (_, i) => T0 + (i + 1) * resolutionMs);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  /** min / max / last of four samples of a random walk per interval. */
  const walk = (start: number, step: number, round: (x: number) => number) => {
    let v = start;
    return ts.map(() => {
      const samples = [0, 1, 2, 3].map(() => {
        v += step * normal();
        return round(v);
      });
      return { min: Math.min(...samples), max: Math.max(...samples), last: samples[3] as number };
    });
  };
  const gauge = (name: string, labels: Record<string, string>, values: Omit<GaugePoint, 't'>[]): TelemetrySeries => ({
    kind: 'gauge',
    name,
    labels,
    points: values.map((v, i) => ({ t: ts[i] as number, ...v })),
  });
  const constant = (name: string, v: number, labels: Record<string, string> = {}) =>
    gauge(
      name,
      labels,
      ts.map(() => ({ min: v, max: v, last: v })),
    );
  const counter = (name: string, labels: Record<string, string>, mean: number): TelemetrySeries => ({
    kind: 'counter',
    name,
    labels,
    points: ts.map((t) => ({ t, inc: mean === 0 ? 0 : Math.max(0, Math.round(mean * (1 + 0.2 * normal()))) })),
  });
  const decimals = (d: number) => (x: number) => Math.round(x * 10 ** d) / 10 ** d;
  const perSecond = resolutionMs / 1000;
  const series: TelemetrySeries[] = [
    gauge(
      'edgefleet_node_cpu_usage_ratio',
      {},
      walk(0.35, 0.05, (x) => Math.min(1, Math.max(0, x * (1 + 1e-9 * random())))),
    ),
    gauge('edgefleet_node_load1', {}, walk(1.2, 0.2, decimals(2))),
    gauge('edgefleet_node_load5', {}, walk(1.1, 0.05, decimals(2))),
    gauge('edgefleet_node_load15', {}, walk(1.0, 0.02, decimals(2))),
    gauge(
      'edgefleet_node_memory_used_bytes',
      {},
      walk(1_900_000 * 1024, 5_000 * 1024, (x) => Math.round(x / 1024) * 1024),
    ),
    constant('edgefleet_node_memory_total_bytes', 8_245_338_112),
    gauge(
      'edgefleet_node_disk_used_bytes',
      { device: 'mmcblk0' },
      walk(12_884_901_888, 400_000, (x) => Math.round(x / 4096) * 4096),
    ),
    constant('edgefleet_node_disk_total_bytes', 62_277_025_792, { device: 'mmcblk0' }),
    gauge('edgefleet_node_temperature_celsius', {}, walk(55.3, 0.8, decimals(3))),
    constant('edgefleet_node_throttled_flags', 0),
    gauge(
      'edgefleet_node_uptime_seconds',
      {},
      ts.map((t) => {
        const up = (t - T0) / 1000 + 86_400.37;
        return { min: up - perSecond, max: up, last: up };
      }),
    ),
    counter('edgefleet_node_network_receive_bytes_total', { interface: 'wwan0' }, 4_000 * perSecond),
    counter('edgefleet_node_network_transmit_bytes_total', { interface: 'wwan0' }, 1_500 * perSecond),
    constant('edgefleet_accelerator_healthy', 1, { accelerator: 'hailo8l' }),
    constant('edgefleet_agent_queue_records', 0),
    constant('edgefleet_agent_queue_bytes', 0),
    constant('edgefleet_agent_queue_capacity_bytes', 67_108_864),
    counter('edgefleet_agent_dropped_samples_total', { reason: 'queue-full' }, 0),
    counter('edgefleet_agent_dropped_log_lines_total', { reason: 'queue-full' }, 0),
    counter('edgefleet_agent_uplink_sent_bytes_total', {}, profile === 'metered' ? 400 : 300),
    counter('edgefleet_agent_uplink_received_bytes_total', {}, profile === 'metered' ? 150 : 120),
    gauge(
      'edgefleet_agent_last_upload_timestamp_seconds',
      {},
      ts.map((t) => ({ min: (t - 900_000) / 1000 + 0.412, max: (t - 60_000) / 1000 + 0.731, last: (t - 60_000) / 1000 + 0.731 })),
    ),
  ];
  const requestsPerPoint = Math.round((1500 * resolutionMs) / 300_000);
  for (const [deployment, revision, medianMs] of [
    ['people-counter', '7', 20],
    ['defect-detector', '3', 24],
  ] as const) {
    const labels = { deployment, revision };
    series.push(
      counter('edgefleet_inference_requests_total', { ...labels, outcome: 'ok' }, requestsPerPoint),
      counter('edgefleet_inference_requests_total', { ...labels, outcome: 'error' }, profile === 'metered' ? 1 : 0),
      counter('edgefleet_workload_restarts_total', labels, 0),
      constant('edgefleet_workload_fallback_active', 0, labels),
    );
    const points = ts.map((t) => {
      const latencies = Array.from({ length: requestsPerPoint }, () => medianMs * Math.exp(0.3 * normal()));
      return { t, sumMs: latencies.reduce((a, b) => a + b, 0), hist: histogramOf(latencies) };
    });
    series.push({ kind: 'histogram', name: 'edgefleet_inference_request_duration_seconds', labels, points });
  }
  return { stream: 'q-8f3a2c1e9b7d4a60', seq: 1234, resolutionMs, series };
}

/** A batch of anything the format allows, to shake out the corners of every encoding. */
function randomBatch(seed: number): TelemetryBatch {
  const random = mulberry32(seed);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const resolutionMs = pick([1, 15_000, 300_000, 1 + int(604_800_000)]);
  const number = (): number =>
    pick([
      () => int(100),
      () => int(2 ** 40) * 1024,
      () => Math.round(random() * 1e5) / 1000,
      () => random(),
      () => (random() - 0.5) * 1e300,
      () => 5e-324,
      () => -0,
      () => -int(1e6),
      () => Number.MAX_SAFE_INTEGER,
    ])();
  const text = () => pick(['', 'ok', 'café ☕', 'a'.repeat(200), `v${int(1e9)}`, '日本語', '\u0000\n"']);
  const labelName = () => pick(['deployment', 'outcome', 'x', '_private', `l${int(50)}`, 'A_b_9']);
  const timestamps = (n: number): number[] => {
    let t = int(MAX_TIMESTAMP_MS - 1e12);
    const regular = random() < 0.5;
    return Array.from({ length: n }, () => {
      t += regular ? resolutionMs : int(2 * resolutionMs) - int(resolutionMs / 2);
      return t;
    });
  };
  const histogram = (): LatencyHistogram => {
    const n = pick([0, 1, 5, 80, HISTOGRAM_BUCKETS]);
    const offset = int(HISTOGRAM_BUCKETS - Math.max(n, 1) + 1);
    return { v: 1, offset, counts: Array.from({ length: n }, () => pick([0, int(5), int(100), int(2 ** 45)])) };
  };
  const series = Array.from({ length: int(12) }, (): TelemetrySeries => {
    const name = random() < 0.5 ? pick(STANDARD_METRIC_NAMES) : `custom:metric_${int(1000)}`;
    const labels = Object.fromEntries(Array.from({ length: int(4) }, () => [labelName(), text()]));
    const ts = timestamps(int(7));
    const kind = pick(['counter', 'gauge', 'histogram'] as const);
    if (kind === 'counter') return { kind, name, labels, points: ts.map((t) => ({ t, inc: Math.abs(number()) })) };
    if (kind === 'histogram') return { kind, name, labels, points: ts.map((t) => ({ t, sumMs: number(), hist: histogram() })) };
    return {
      kind,
      name,
      labels,
      points: ts.map((t) => {
        const [min, last, max] = [number(), number(), number()].sort((a, b) => a - b) as [number, number, number];
        return { t, min, max, last };
      }),
    };
  });
  const batch: TelemetryBatch = { stream: `q-${int(1e9)}`, seq: int(2 ** 52), resolutionMs, series };
  if (random() < 0.3) batch.meta = { status: { phase: text(), n: int(10) } };
  return batch;
}

// ---- hand-built bodies, for what the encoder refuses to write ---------------------------

const sym = (s: string): number => STATIC_SYMBOL_INDEX.get(s) as number;

/** Header + uncompressed body. */
function frame(body: Uint8Array, version = TELEMETRY_WIRE_VERSION, flags = 0): Uint8Array {
  return new Uint8Array([0x45, 0x46, 0x54, version, flags, ...body]);
}

/** A body with a valid header, the given batch symbols, then `series` written by hand. */
function craft(series: ((w: ByteWriter) => void)[], opts: { symbols?: string[]; tableVersion?: number; meta?: string } = {}): Uint8Array {
  const w = new ByteWriter();
  w.string('q-1');
  w.varint(1);
  w.varint(300_000);
  w.varint(opts.tableVersion ?? 1);
  w.varint(opts.symbols?.length ?? 0);
  for (const s of opts.symbols ?? []) w.string(s);
  w.varint(series.length);
  for (const write of series) write(w);
  if (opts.meta === undefined) w.varint(0);
  else w.string(opts.meta);
  return frame(w.finish());
}

/** Series header: kind, name symbol, label pairs, one point at T0. */
function head(w: ByteWriter, kind: number, name: number, labels: [number, number][] = []): void {
  w.byte(kind);
  w.varint(name);
  w.varint(labels.length);
  for (const [k, v] of labels) {
    w.varint(k);
    w.varint(v);
  }
  w.varint(1);
  w.svarint(T0);
}

/** A well-formed counter series with one point of increase 1. */
const okCounter = (w: ByteWriter) => {
  head(w, 0, sym('edgefleet_inference_requests_total'), [[sym('outcome'), sym('ok')]]);
  w.varint(2);
};

/** The encoded batch with its body uncompressed (flags 0), so corruption hits the body itself. */
function uncompressed(encoded: Uint8Array): Uint8Array {
  const payload = encoded.subarray(5);
  const dictionary = encoded[4] === 2 ? { dictionary: PRESET_DICTIONARY_V1 } : {};
  return frame(encoded[4] === 0 ? payload : inflateRawSync(payload, dictionary));
}

function decodeError(bytes: Uint8Array, limits?: Parameters<typeof decodeTelemetryBatch>[1]): TelemetryDecodeError {
  try {
    decodeTelemetryBatch(bytes, limits);
  } catch (err) {
    if (err instanceof TelemetryDecodeError) return err;
    throw new Error(`expected a TelemetryDecodeError, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected the batch to be rejected, but it decoded');
}

// ---- tests ---------------------------------------------------------------------------

describe('telemetry batch round trip', () => {
  it.each(['metered', 'lan'] as const)('returns a realistic %s batch exactly as it was', (profile) => {
    for (const seed of [1, 2, 3]) {
      const batch = realisticBatch(profile, seed);
      expect(decodeTelemetryBatch(encodeTelemetryBatch(batch))).toStrictEqual(batch);
    }
  });

  it('keeps every float bit for bit, non-standard strings, empty series and the meta side-car', () => {
    const batch: TelemetryBatch = {
      stream: 'queue-ü',
      seq: Number.MAX_SAFE_INTEGER,
      resolutionMs: 15_000,
      series: [
        { kind: 'gauge', name: 'edgefleet_node_cpu_usage_ratio', labels: {}, points: [] },
        { kind: 'counter', name: 'site_specific:doors_opened_total', labels: { door: 'Entrée ⛩', empty: '' }, points: [{ t: T0, inc: 0.25 }] },
        {
          kind: 'gauge',
          name: 'weird_values',
          labels: {},
          points: [
            { t: T0, min: -0, max: 0, last: -0 },
            { t: T0 + 15_000, min: 5e-324, max: Number.MAX_VALUE, last: 0.1 + 0.2 },
            { t: T0 + 15_001, min: -1e300, max: 1e-300, last: -1e300 },
            { t: T0 + 1, min: 1, max: 1, last: 1 },
          ],
        },
        {
          kind: 'histogram',
          name: 'edgefleet_inference_request_duration_seconds',
          labels: { deployment: 'cam' },
          points: [
            { t: 0, sumMs: 0, hist: { v: 1, offset: 0, counts: [] } },
            { t: MAX_TIMESTAMP_MS, sumMs: 123.456789, hist: { v: 1, offset: HISTOGRAM_BUCKETS - 1, counts: [2 ** 52] } },
            { t: T0, sumMs: 1e9, hist: { v: 1, offset: 0, counts: Array.from({ length: HISTOGRAM_BUCKETS }, (_, i) => i % 7) } },
          ],
        },
      ],
      meta: {
        alerts: [
          { name: 'DiskAlmostFull', state: 'firing', severity: 'critical', since: T0, message: 'disk 93% full (threshold 90%)', labels: { device: 'sda' } },
        ],
        status: { phase: 'running', workloads: [{ deployment: 'cam', revision: 3 }] },
      },
    };
    const decoded = decodeTelemetryBatch(encodeTelemetryBatch(batch));
    expect(decoded).toStrictEqual(batch);
    const weird = decoded.series[2]?.points[0] as GaugePoint;
    expect(Object.is(weird.min, -0) && Object.is(weird.max, 0)).toBe(true);
  });

  it('returns any valid batch exactly as it was (300 random batches)', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const batch = randomBatch(seed);
      expect(decodeTelemetryBatch(encodeTelemetryBatch(batch)), `seed ${seed}`).toStrictEqual(batch);
    }
  });

  it('reads bodies sent uncompressed or with plain deflate (no preset dictionary)', () => {
    const batch = realisticBatch('lan', 4);
    const plain = uncompressed(encodeTelemetryBatch(batch));
    expect(decodeTelemetryBatch(plain)).toStrictEqual(batch);
    const deflated = frame(deflateRawSync(plain.subarray(5)), 1, 1);
    expect(decodeTelemetryBatch(deflated)).toStrictEqual(batch);
  });
});

describe('telemetry batch size on the wire', () => {
  // Measured over 50 seeds: metered 737–782 bytes (median 760), lan 628–661 (median 645).
  // A metered node uploads 2,880 times a month with ~400 bytes of HTTP and TLS on top:
  // (820 + 400) × 2,880 ≈ 3.5 MB, inside a 4 MB plan with room for the folded heartbeat.
  it('fits a metered upload (30 series × 3 points + 2 latency histograms) in 820 bytes', () => {
    for (let seed = 1; seed <= 10; seed++) expect(encodeTelemetryBatch(realisticBatch('metered', seed)).length).toBeLessThanOrEqual(820);
  });

  it('sends a lan upload at least 10× smaller than remote_write 1.0 of the same samples', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const batch = realisticBatch('lan', seed);
      const encoded = encodeTelemetryBatch(batch);
      expect(encoded.length).toBeLessThanOrEqual(700);
      // remote_write 1.0 averages ~50 bytes a sample. Counted at its least: one sample per
      // counter or gauge point (a gauge's last only) and two per histogram point (_sum and
      // _count, no buckets).
      const samples = batch.series.reduce((n, s) => n + s.points.length * (s.kind === 'histogram' ? 2 : 1), 0);
      expect(encoded.length * 10).toBeLessThanOrEqual(samples * 50);
    }
  });
});

describe('telemetry batch decoding of bad input', () => {
  it('rejects a batch cut short at any byte, compressed or not, with a TelemetryDecodeError', () => {
    const encoded = encodeTelemetryBatch({ ...realisticBatch('metered', 5), meta: { alerts: [] } });
    for (const bytes of [encoded, uncompressed(encoded)])
      for (let end = 0; end < bytes.length; end++) expect(decodeError(bytes.subarray(0, end)).reason).toBe('malformed');
  });

  it('never fails with anything but a TelemetryDecodeError on corrupted bytes', () => {
    const random = mulberry32(99);
    const compressed = encodeTelemetryBatch(realisticBatch('lan', 6));
    const plain = uncompressed(compressed);
    for (let i = 0; i < 3000; i++) {
      const bytes = (i % 2 === 0 ? plain : compressed).slice();
      for (let flips = 1 + Math.floor(random() * 3); flips > 0; flips--) bytes[5 + Math.floor(random() * (bytes.length - 5))] = Math.floor(random() * 256);
      try {
        decodeTelemetryBatch(bytes);
      } catch (err) {
        expect(err).toBeInstanceOf(TelemetryDecodeError);
      }
    }
  });

  it('rejects what is not a telemetry batch', () => {
    expect(decodeError(new TextEncoder().encode('{"series":[]}')).message).toMatch(/must start with "EFT"/);
    expect(decodeError(new Uint8Array([0x45, 0x46])).reason).toBe('malformed');
  });

  it('names a newer wire version, compression or symbol table as unsupported', () => {
    const body = uncompressed(encodeTelemetryBatch(realisticBatch('lan', 7))).subarray(5);
    const v2 = decodeError(frame(body, 2));
    expect(v2.reason).toBe('unsupported-version');
    expect(v2.message).toMatch(/wire version 2 is not supported/);
    expect(decodeError(frame(body, 1, 3)).reason).toBe('unsupported-version');
    expect(decodeError(frame(body, 1, 0x80)).reason).toBe('unsupported-version');
    const table2 = decodeError(craft([okCounter], { tableVersion: 2 }));
    expect(table2.reason).toBe('unsupported-version');
    expect(table2.message).toMatch(/static symbol table version 2/);
  });

  it('stops a deflate bomb at maxDecodedBytes with too-large', () => {
    const bomb = frame(deflateRawSync(new Uint8Array(64 * 1024 * 1024), { level: 9 }), 1, 1);
    expect(bomb.length).toBeLessThan(100_000);
    const err = decodeError(bomb);
    expect(err.reason).toBe('too-large');
    expect(err.message).toMatch(/more than 8388608 bytes/);
    expect(decodeError(frame(new Uint8Array(2000)), { maxDecodedBytes: 1000 }).reason).toBe('too-large');
  });

  it('enforces the series, point and bucket limits with too-large', () => {
    const batch = encodeTelemetryBatch(realisticBatch('metered', 8));
    expect(decodeError(batch, { maxSeries: 31 }).message).toMatch(/32 series, over the limit of 31/);
    expect(decodeError(batch, { maxPoints: 95 }).reason).toBe('too-large');
    expect(decodeError(batch, { maxBuckets: 100 }).message).toMatch(/more than 100 histogram buckets/);
    expect(decodeTelemetryBatch(batch, { maxSeries: 32, maxPoints: 96 }).series).toHaveLength(32);
  });

  it('names a bad label name, a reserved one, a duplicate, and a bad metric name', () => {
    const bad = (name: string) =>
      decodeError(craft([okCounter, (w) => head(w, 0, sym('edgefleet_inference_requests_total'), [[61, sym('ok')]])], { symbols: [name] }));
    const e = bad('1bad');
    expect(e.reason).toBe('malformed');
    expect(e.message).toBe('series 1 (edgefleet_inference_requests_total): label name "1bad" is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)');
    expect(bad('__name__').message).toMatch(/label name "__name__" starts with "__", which Prometheus reserves/);
    expect(bad('__proto__').message).toMatch(/label name "__proto__" starts with "__"/);
    expect(bad('has-dash').message).toMatch(/label name "has-dash"/);
    const twice = craft([
      (w) => {
        head(w, 0, sym('edgefleet_inference_requests_total'), [
          [sym('outcome'), sym('ok')],
          [sym('outcome'), sym('error')],
        ]);
        w.varint(1);
      },
    ]);
    expect(decodeError(twice).message).toMatch(/series 0 .*label outcome appears twice/);
    const metric = craft(
      [
        (w) => {
          head(w, 0, 61);
          w.varint(1);
        },
      ],
      { symbols: ['node-cpu'] },
    );
    expect(decodeError(metric).message).toMatch(/series 0 \(node-cpu\): metric name "node-cpu" is not a valid Prometheus metric name/);
  });

  it('rejects a negative or non-finite counter increase and a non-finite gauge', () => {
    const counter = (inc: number) =>
      craft([
        (w) => {
          head(w, 0, sym('edgefleet_workload_restarts_total'));
          w.varint(0);
          w.float64(inc);
        },
      ]);
    expect(decodeError(counter(-1)).message).toMatch(/series 0 \(edgefleet_workload_restarts_total\): point 0: counter increase -1 is negative/);
    expect(decodeError(counter(Number.POSITIVE_INFINITY)).message).toMatch(/counter increase Infinity is not a finite number/);
    const nanGauge = craft([
      (w) => {
        head(w, 1, sym('edgefleet_node_load1'));
        w.byte(0); // XOR mode
        w.byte(0x08); // last: 8 bytes follow
        w.bytes(new Uint8Array([0x7f, 0xf8, 0, 0, 0, 0, 0, 0])); // NaN
        w.byte(0x80); // min = last
        w.byte(0x80); // max = last
      },
    ]);
    expect(decodeError(nanGauge).message).toMatch(/gauge min NaN is not a finite number/);
  });

  it('rejects kinds, symbols, modes and histogram layouts that do not exist', () => {
    const kind = craft([
      (w) => {
        head(w, 7, sym('edgefleet_node_load1'));
        w.varint(1);
      },
    ]);
    expect(decodeError(kind).message).toMatch(/series 0: kind 7 is not a metric kind/);
    const symbol = craft([(w) => head(w, 0, 5000)]);
    expect(decodeError(symbol).message).toMatch(/symbol 5000 does not exist/);
    const mode = craft([
      (w) => {
        head(w, 1, sym('edgefleet_node_load1'));
        w.byte(42);
      },
    ]);
    expect(decodeError(mode).message).toMatch(/float mode 42/);
    const histogram = (offset: number, n: number) =>
      craft([
        (w) => {
          head(w, 2, sym('edgefleet_inference_request_duration_seconds'));
          w.byte(1); // sums as scaled integers, scale 1
          w.svarint(10); // sumMs
          w.svarint(offset);
          w.varint(n);
          w.byte(0); // plain counts, k = 0
          w.bytes(new Uint8Array(Math.ceil(n / 8))); // n zero counts
        },
      ]);
    expect(decodeError(histogram(HISTOGRAM_BUCKETS, 0)).message).toMatch(/histogram offset 667 is outside 0 … 666/);
    expect(decodeError(histogram(600, 100)).message).toMatch(/offset 600 \+ 100 counts runs past bucket 666/);
    expect(decodeTelemetryBatch(histogram(600, 67)).series[0]?.points).toHaveLength(1);
  });

  it('rejects timestamps out of range, invalid UTF-8, trailing bytes and a broken meta', () => {
    const late = craft([
      (w) => {
        w.byte(0);
        w.varint(sym('edgefleet_workload_restarts_total'));
        w.varint(0);
        w.varint(1);
        w.svarint(MAX_TIMESTAMP_MS + 1);
        w.varint(1);
      },
    ]);
    expect(decodeError(late).message).toMatch(/point 0: timestamp 253402300800000 is not a whole number of Unix milliseconds/);
    const utf8 = craft([okCounter], { symbols: ['x'] });
    utf8[utf8.indexOf(0x78)] = 0xff; // the batch symbol "x" becomes an invalid UTF-8 byte
    expect(decodeError(utf8).message).toMatch(/symbol table: .*not valid UTF-8/);
    const trailing = new Uint8Array([...craft([okCounter]), 0]);
    expect(decodeError(trailing).message).toMatch(/1 unexpected byte\(s\) after the meta section/);
    expect(decodeError(craft([okCounter], { meta: '{"alerts":' })).message).toMatch(/meta: it is not valid JSON/);
    expect(decodeError(craft([okCounter], { meta: '{"alerts":[{"name":"DiskAlmostFull"}]}' })).message).toMatch(/meta: alerts\.0\.state/);
    expect(decodeTelemetryBatch(craft([okCounter], { meta: '{"future":1}' })).meta).toEqual({ future: 1 });
  });
});

describe('telemetry batch encoding', () => {
  const one = (series: TelemetrySeries): TelemetryBatch => ({ stream: 'q', seq: 0, resolutionMs: 15_000, series: [series] });

  it('refuses a series the server would reject, naming it', () => {
    expect(() => encodeTelemetryBatch(one({ kind: 'counter', name: 'requests_total', labels: {}, points: [{ t: T0, inc: -3 }] }))).toThrow(
      /series 0 \(requests_total\): point 0: counter increase -3 is negative/,
    );
    expect(() => encodeTelemetryBatch(one({ kind: 'counter', name: 'requests_total', labels: { '1bad': 'x' }, points: [] }))).toThrow(
      /label name "1bad" is not a valid Prometheus label name/,
    );
    expect(() => encodeTelemetryBatch(one({ kind: 'gauge', name: 'g', labels: {}, points: [{ t: T0, min: 2, max: 3, last: 1 }] }))).toThrow(
      /min 2, last 1, max 3 are not in order/,
    );
    expect(() => encodeTelemetryBatch(one({ kind: 'gauge', name: 'g', labels: {}, points: [{ t: T0, min: 0, max: Number.NaN, last: 0 }] }))).toThrow(
      /gauge max NaN is not a finite number/,
    );
    expect(() =>
      encodeTelemetryBatch(
        one({ kind: 'histogram', name: 'h', labels: {}, points: [{ t: T0, sumMs: 1, hist: { v: 1, offset: 660, counts: [1, 2, 3, 4, 5, 6, 7, 8] } }] }),
      ),
    ).toThrow(/offset \+ counts.length must be at most 667/);
    expect(() => encodeTelemetryBatch(one({ kind: 'counter', name: 'c', labels: {}, points: [{ t: 1.5, inc: 1 }] }))).toThrow(/timestamp 1.5/);
    expect(() => encodeTelemetryBatch({ stream: '', seq: 0, resolutionMs: 15_000, series: [] })).toThrow(/stream must be a non-empty string/);
  });
});

describe('symbol table and dictionary of wire version 1', () => {
  // Queued batches must decode after an upgrade: an index or dictionary byte means the same
  // thing forever. A new standard string goes into table version 2 (append-only), never here.
  it('static symbol table v1 is frozen', () => {
    const table = staticSymbolTable(1) as readonly string[];
    expect(table).toHaveLength(61);
    expect(createHash('sha256').update(JSON.stringify(table)).digest('hex')).toBe('2b3ae351612a27f281c8fade8fd9b52dca0bf73ea2fb892f302bc9121b00740f');
    expect(Object.isFrozen(table)).toBe(true);
  });

  it('preset deflate dictionary v1 is frozen', () => {
    expect(createHash('sha256').update(PRESET_DICTIONARY_V1).digest('hex')).toBe('ed7ba831ce6b03ec510e8edca37315c5c222d35521d5c1f97c001fbe7cbafa8c');
  });

  it('gives every metric name the agent emits a one-byte symbol', () => {
    for (const name of STANDARD_METRIC_NAMES) expect(sym(name)).toBeLessThan(128);
  });
});
