/**
 * Node metrics as the dashboard saw them. The server keeps only each series' latest value
 * (history belongs in Prometheus), so a node page charts what it observes while open: each
 * fetch of the node's latest values adds the samples it has not seen yet, by sample time.
 */

import type { NodeTelemetry } from '@edgefleet/protocol';

/** One series' points, oldest first. */
export interface ObservedSeries {
  times: number[];
  values: number[];
}

/** A latest-value sample of `GET /v1/nodes/{ref}/telemetry` (the route table's shape), as far as a chart reads it. */
export type LatestSample = Pick<NodeTelemetry['latest'][number], 'name' | 'labels' | 't' | 'value'>;

/** How many points each series keeps (an hour at 10 s). */
export const MAX_OBSERVED_POINTS = 360;

/**
 * The node-level series of a metric: the one with the fewest labels (the server stamps
 * `node` and `site` on every series; per-deployment or per-interface series carry more).
 */
export function nodeLevelSample(latest: readonly LatestSample[], name: string): LatestSample | undefined {
  let best: LatestSample | undefined;
  for (const s of latest) {
    if (s.name !== name) continue;
    if (best === undefined || Object.keys(s.labels).length < Object.keys(best.labels).length) best = s;
  }
  return best;
}

/**
 * Adds each metric's node-level sample (see `nodeLevelSample`) when it is newer than the series' last point.
 * Returns the same map when nothing is new, so React skips the re-render.
 */
export function observe(
  history: ReadonlyMap<string, ObservedSeries>,
  latest: readonly LatestSample[],
  names: readonly string[],
  max = MAX_OBSERVED_POINTS,
): ReadonlyMap<string, ObservedSeries> {
  let next: Map<string, ObservedSeries> | undefined;
  for (const name of names) {
    const s = nodeLevelSample(latest, name);
    if (s === undefined || !Number.isFinite(s.value)) continue;
    const cur = history.get(name) ?? { times: [], values: [] };
    const last = cur.times.at(-1);
    if (last !== undefined && s.t <= last) continue;
    const times = [...cur.times, s.t];
    const values = [...cur.values, s.value];
    const drop = Math.max(0, times.length - max);
    next ??= new Map(history);
    next.set(name, { times: times.slice(drop), values: values.slice(drop) });
  }
  return next ?? history;
}
