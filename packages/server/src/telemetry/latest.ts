import { histogramCount, type TelemetrySeries } from '@edgefleet/protocol';
import type { LatestSample } from '../store/index.js';

/**
 * The newest value of each series in a batch, for the dashboard and `nodes get`: a gauge's
 * last value, a counter's increase over its last interval, a histogram's count over its
 * last interval. Full history goes to Prometheus; the server keeps only this.
 */
export function latestSamples(series: readonly TelemetrySeries[]): LatestSample[] {
  const out: LatestSample[] = [];
  for (const s of series) {
    const p = s.points.at(-1);
    if (p === undefined) continue;
    const value =
      s.kind === 'gauge'
        ? (p as { last: number }).last
        : s.kind === 'counter'
          ? (p as { inc: number }).inc
          : histogramCount((p as { hist: Parameters<typeof histogramCount>[0] }).hist);
    out.push({ name: s.name, labels: s.labels, kind: s.kind, t: p.t, value });
  }
  return out;
}
