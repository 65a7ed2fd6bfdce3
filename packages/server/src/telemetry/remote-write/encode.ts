import protobuf from 'protobufjs';
import { compress, uncompress } from 'snappyjs';
import { type PromSeries, sortedLabelNames } from './samples.js';

/**
 * The Prometheus remote_write 1.0 body: a `prometheus.WriteRequest` protobuf, compressed
 * with snappy's BLOCK format (not the framed/stream format), as the spec requires
 * (https://prometheus.io/docs/specs/remote_write_spec/). The schema is the spec's subset of
 * upstream `prompb/remote.proto` and `types.proto`, written out here so there is no code
 * generation step; only field numbers matter on the wire. Labels go out sorted by name
 * and samples in time order, both of which the spec demands of senders.
 */

const SCHEMA = `
syntax = "proto3";
package prometheus;

message WriteRequest {
  repeated TimeSeries timeseries = 1;
  reserved 2;
  repeated MetricMetadata metadata = 3;
}

message TimeSeries {
  repeated Label labels = 1;
  repeated Sample samples = 2;
}

message Label {
  string name = 1;
  string value = 2;
}

message Sample {
  double value = 1;
  int64 timestamp = 2;
}

message MetricMetadata {
  enum MetricType {
    UNKNOWN = 0;
    COUNTER = 1;
    GAUGE = 2;
    HISTOGRAM = 3;
    GAUGEHISTOGRAM = 4;
    SUMMARY = 5;
    INFO = 6;
    STATESET = 7;
  }
  MetricType type = 1;
  string metric_family_name = 2;
  string help = 4;
  string unit = 5;
}
`;

const WriteRequest = protobuf.parse(SCHEMA, { keepCase: true }).root.lookupType('prometheus.WriteRequest');

/** Request headers every remote_write 1.0 POST carries (the caller adds `User-Agent`). */
export const REMOTE_WRITE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Encoding': 'snappy',
  'Content-Type': 'application/x-protobuf',
  'X-Prometheus-Remote-Write-Version': '0.1.0',
};

/** The snappy-compressed `WriteRequest` for `series` (labels sorted, samples by time). */
export function encodeWriteRequest(series: readonly PromSeries[]): Uint8Array {
  const timeseries = series.map((s) => ({
    labels: sortedLabelNames(s.labels).map((name) => ({ name, value: s.labels[name] })),
    samples: [...s.samples].sort((a, b) => a.t - b.t).map((p) => ({ value: p.v, timestamp: p.t })),
  }));
  const bytes = WriteRequest.encode(WriteRequest.fromObject({ timeseries })).finish();
  return compress(bytes);
}

/**
 * Reads a snappy-compressed `WriteRequest` back (tests and fake targets). Refuses a body
 * that claims to decompress to more than `maxBytes` (default 32 MiB) before allocating it.
 */
export function decodeWriteRequest(body: Uint8Array, maxBytes = 32 * 1024 * 1024): PromSeries[] {
  const bytes = uncompress(body, maxBytes);
  const message = WriteRequest.toObject(WriteRequest.decode(bytes), { longs: Number, defaults: true, arrays: true }) as {
    timeseries: { labels: { name: string; value: string }[]; samples: { value: number; timestamp: number }[] }[];
  };
  return message.timeseries.map((ts) => ({
    labels: Object.fromEntries(ts.labels.map((l) => [l.name, l.value])),
    samples: ts.samples.map((s) => ({ t: s.timestamp, v: s.value })),
  }));
}
