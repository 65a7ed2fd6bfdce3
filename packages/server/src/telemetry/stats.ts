import { emptyHistogram, mergeHistograms, type TelemetrySeries, type WorkloadStats } from '@edgefleet/protocol';

/**
 * The rollout gates' per-interval workload stats, read out of a node's telemetry batch.
 * Metered nodes do not send the stats in their (folded) heartbeat — the batch already holds
 * the same numbers, and a cellular plan should not pay for them twice — so the server derives
 * them: requests and errors from `edgefleet_inference_requests_total`, latency from the
 * duration histogram, restarts from `edgefleet_workload_restarts_total`, fallback from
 * `edgefleet_workload_fallback_active` (max over the interval). One row per deployment,
 * revision and interval end.
 */
export function statsFromSeries(series: readonly TelemetrySeries[], resolutionMs: number): WorkloadStats[] {
  const rows = new Map<string, WorkloadStats>();
  const row = (labels: Record<string, string>, t: number): WorkloadStats | undefined => {
    const deployment = labels.deployment;
    const revision = Number(labels.revision);
    if (deployment === undefined || !Number.isInteger(revision) || revision < 1) return undefined;
    const key = `${deployment}\u0000${revision}\u0000${t}`;
    let r = rows.get(key);
    if (r === undefined) {
      r = {
        deployment,
        revision,
        intervalStart: Math.max(0, t - resolutionMs),
        intervalEnd: t,
        requests: 0,
        errors: 0,
        restarts: 0,
        fallback: false,
        latency: emptyHistogram(),
      };
      rows.set(key, r);
    }
    return r;
  };
  for (const s of series) {
    for (const p of s.points) {
      if (s.kind === 'counter' && s.name === 'edgefleet_inference_requests_total') {
        const r = row(s.labels, p.t);
        const inc = (p as { inc: number }).inc;
        if (r === undefined) continue;
        r.requests += inc;
        if (s.labels.outcome === 'error') r.errors += inc;
      } else if (s.kind === 'counter' && s.name === 'edgefleet_workload_restarts_total') {
        const r = row(s.labels, p.t);
        if (r !== undefined) r.restarts += (p as { inc: number }).inc;
      } else if (s.kind === 'gauge' && s.name === 'edgefleet_workload_fallback_active') {
        const r = row(s.labels, p.t);
        if (r !== undefined && (p as { max: number }).max > 0) r.fallback = true;
      } else if (s.kind === 'histogram' && s.name === 'edgefleet_inference_request_duration_seconds') {
        const r = row(s.labels, p.t);
        if (r !== undefined) r.latency = mergeHistograms(r.latency, (p as { hist: WorkloadStats['latency'] }).hist);
      }
    }
  }
  // Only intervals with traffic or trouble matter to a gate.
  return [...rows.values()].filter((r) => r.requests > 0 || r.restarts > 0 || r.fallback);
}
