import { badRequest, emptyHistogram, type GaugePoint, mergeHistograms, type TelemetrySeries, type WorkloadStats } from '@edgefleet/protocol';

/**
 * The agent's gauges of the instance serving a revision (agent/telemetry/metrics/standard.ts),
 * set with every request: when it began serving (Unix seconds, node clock) and how many
 * requests it had answered, that one included.
 */
export const INSTANCE_START_METRIC = 'edgefleet_workload_instance_start_timestamp_seconds';
export const INSTANCE_REQUESTS_METRIC = 'edgefleet_workload_instance_requests';

/**
 * The rollout gates' per-interval workload stats, read out of a node's telemetry batch.
 * Metered nodes do not send the stats in their (folded) heartbeat — the batch already holds
 * the same numbers, and a cellular plan should not pay for them twice — so the server derives
 * them: requests and errors from `edgefleet_inference_requests_total`, latency from the
 * duration histogram, restarts from `edgefleet_workload_restarts_total`, fallback from
 * `edgefleet_workload_fallback_active` (max over the interval). One row per deployment,
 * revision and interval end.
 *
 * The instance fields come from the instance gauges (`instanceFields`). An interval of the
 * batch has a fixed length and cannot be cut at a restart as the heartbeat's stats are, so
 * when two instances served in it, the row takes the newer one, with no requests before:
 * the whole interval counts as that instance's warm-up. That leaves some requests of the
 * older, warm instance out of the gates rather than counting a cold one's as warm.
 */
export function statsFromSeries(series: readonly TelemetrySeries[], resolutionMs: number): WorkloadStats[] {
  const rows = new Map<string, WorkloadStats>();
  const starts = new Map<WorkloadStats, GaugePoint>();
  const answered = new Map<WorkloadStats, GaugePoint>();
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
      } else if (s.kind === 'gauge' && (s.name === INSTANCE_START_METRIC || s.name === INSTANCE_REQUESTS_METRIC)) {
        const r = row(s.labels, p.t);
        if (r !== undefined) (s.name === INSTANCE_START_METRIC ? starts : answered).set(r, p as GaugePoint);
      }
    }
  }
  for (const [r, start] of starts) {
    const count = answered.get(r);
    if (count !== undefined) Object.assign(r, instanceFields(start, count));
  }
  // Only intervals with traffic or trouble matter to a gate.
  return [...rows.values()].filter((r) => r.requests > 0 || r.restarts > 0 || r.fallback);
}

/**
 * One interval's instance fields from its gauge points. One instance served throughout when
 * the start did not change: the least count is that of the interval's first request, so one
 * less were answered before it. Otherwise the newest instance (the largest start) began in
 * the interval, with nothing answered before it.
 */
function instanceFields(start: GaugePoint, count: GaugePoint): Pick<WorkloadStats, 'instanceStartedAt' | 'instanceRequestsBefore'> {
  const instanceStartedAt = Math.round(start.max * 1000);
  const instanceRequestsBefore = start.min === start.max ? Math.max(0, Math.round(count.min) - 1) : 0;
  return { instanceStartedAt, instanceRequestsBefore };
}

/**
 * Refuses (400) a batch whose instance gauges contradict it: a start after the end of the
 * interval it was sent in, or a start or count that is negative, fractional where it must be
 * whole, or not finite. The same rule as for the heartbeat's stats (status-report.ts): a node
 * that could place its instances' starts in the future would mark all its samples warm-up
 * and keep them out of the gates.
 */
export function refuseInconsistentInstanceSeries(series: readonly TelemetrySeries[]): void {
  for (const s of series) {
    if (s.kind !== 'gauge' || (s.name !== INSTANCE_START_METRIC && s.name !== INSTANCE_REQUESTS_METRIC)) continue;
    for (const p of s.points) {
      const problem = instancePointProblem(s.name, p);
      if (problem !== undefined)
        throw badRequest(
          `telemetry batch: series ${s.name}{deployment="${s.labels.deployment}",revision="${s.labels.revision}"} at ${p.t}: ${problem}`,
          'send when the instance serving the revision began serving (at or before the requests it answered) and how many it answered, on the clock of the batch',
        );
    }
  }
}

/** What is wrong with one point of an instance gauge, if anything. */
function instancePointProblem(name: string, p: GaugePoint): string | undefined {
  const values = [p.min, p.max, p.last];
  if (name === INSTANCE_REQUESTS_METRIC)
    return values.every((v) => Number.isSafeInteger(v) && v >= 0) ? undefined : 'a count of requests must be a whole number, 0 or more';
  if (!values.every((v) => Number.isFinite(v) && v >= 0)) return 'a start must be a Unix time in seconds, 0 or more';
  const startedAt = Math.round(p.max * 1000);
  return startedAt > p.t ? `the instance started at ${startedAt} ms, after the end of the interval (${p.t} ms) it served` : undefined;
}
