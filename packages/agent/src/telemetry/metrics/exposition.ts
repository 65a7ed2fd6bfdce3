/**
 * The Prometheus text exposition format, version 0.0.4: what the agent's local `/metrics`
 * serves so that a site's own Prometheus (or anything that scrapes node-exporter style) reads
 * the node without knowing edgefleet. Written by hand rather than with prom-client: the
 * format is small, and the registry must also feed the uplink aggregator, which prom-client
 * has no hook for.
 *
 * Rules followed (https://prometheus.io/docs/instrumenting/exposition_formats/):
 * - one `# HELP` and one `# TYPE` line per metric, before its samples; in HELP text `\` and
 *   line feeds are escaped; in label values `\`, `"` and line feeds are;
 * - a histogram is `_bucket{…,le="…"}` lines with cumulative counts ending at `le="+Inf"`
 *   (which equals `_count`), then `_sum` (seconds) and `_count`;
 * - values are Go-parseable floats: `+Inf`, `-Inf`, `NaN` spelled as Prometheus spells them;
 * - the body ends with a line feed.
 */
import { type AnyMetric, type Histogram, LATENCY_BUCKETS_SECONDS, type MetricLabels, type MetricsRegistry } from './registry.js';

/** The content type of {@link renderExposition}'s output. */
export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The registry's metrics as exposition text. */
export function renderExposition(registry: MetricsRegistry): string {
  const lines: string[] = [];
  for (const metric of registry.all()) renderMetric(metric, lines);
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

function renderMetric(metric: AnyMetric, lines: string[]): void {
  lines.push(`# HELP ${metric.name} ${escapeHelp(metric.help)}`);
  lines.push(`# TYPE ${metric.name} ${metric.type}`);
  if (metric.type === 'histogram') {
    renderHistogram(metric, lines);
    return;
  }
  const series = metric.all();
  // A label-less counter is shown at 0 before it first moves, so a scrape can tell "nothing
  // happened" from "not exported"; a gauge is shown only once measured (a missing
  // thermal zone must not read as 0 °C).
  if (series.length === 0 && metric.type === 'counter' && metric.labelNames.length === 0) lines.push(`${metric.name} 0`);
  for (const s of series) lines.push(`${metric.name}${formatLabels(s.labels)} ${formatValue(s.value)}`);
}

function renderHistogram(metric: Histogram, lines: string[]): void {
  const series = metric.all();
  if (series.length === 0 && metric.labelNames.length === 0) {
    for (const le of LATENCY_BUCKETS_SECONDS) lines.push(`${metric.name}_bucket${formatLabels({}, formatValue(le))} 0`);
    lines.push(`${metric.name}_bucket${formatLabels({}, '+Inf')} 0`, `${metric.name}_sum 0`, `${metric.name}_count 0`);
    return;
  }
  for (const s of series) {
    let cumulative = 0;
    LATENCY_BUCKETS_SECONDS.forEach((le, i) => {
      cumulative += s.bucketCounts[i] as number;
      lines.push(`${metric.name}_bucket${formatLabels(s.labels, formatValue(le))} ${cumulative}`);
    });
    lines.push(`${metric.name}_bucket${formatLabels(s.labels, '+Inf')} ${s.count}`);
    lines.push(`${metric.name}_sum${formatLabels(s.labels)} ${formatValue(s.sumMs / 1000)}`);
    lines.push(`${metric.name}_count${formatLabels(s.labels)} ${s.count}`);
  }
}

/** `{a="1",b="2"}` (with `le` last when given), or nothing for no labels. */
function formatLabels(labels: MetricLabels, le?: string): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  if (le !== undefined) pairs.push(`le="${le}"`);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

/** A label value as the text format wants it: `\` → `\\`, `"` → `\"`, line feed → `\n`. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text as the text format wants it: `\` → `\\`, line feed → `\n` (quotes stay). */
export function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A sample value or `le` bound as Go's ParseFloat reads it. */
export function formatValue(v: number): string {
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  // JavaScript prints 1e21 as "1e+21" and 1e-7 as "1e-7"; both parse in Go.
  return String(v);
}
