/**
 * The agent's metrics: the registry and its Prometheus text exposition, the local `/metrics`
 * endpoint, the node readers, the standard metric set and the edge aggregator that turns it
 * all into per-interval points for the uplink.
 */
export { EdgeAggregator } from './aggregator.js';
export { EXPOSITION_CONTENT_TYPE, escapeHelp, escapeLabelValue, formatValue, renderExposition } from './exposition.js';
export { DEFAULT_METRICS_LISTEN, isLoopback, type MetricsEndpoint, type MetricsEndpointOptions, parseListen, startMetricsEndpoint } from './http.js';
export {
  type DiskUsage,
  type NodeCpuSample,
  type NodeMetricsReading,
  type NodeNetworkReading,
  type NodeReadOptions,
  parseCpu,
  readNodeMetrics,
} from './node.js';
export {
  type AnyMetric,
  type BoundCounter,
  type BoundGauge,
  type BoundHistogram,
  Counter,
  Gauge,
  Histogram,
  type HistogramSeries,
  LATENCY_BUCKETS_SECONDS,
  type MetricLabels,
  type MetricSink,
  MetricsRegistry,
  type MetricType,
  type ScalarSeries,
} from './registry.js';
export {
  AgentMetrics,
  type DropReason,
  INSTANCE_METRIC_NAMES,
  type ServingInstanceReading,
  STANDARD_METRIC_NAMES,
  YOUNG_INSTANCE,
  youngInstance,
} from './standard.js';
