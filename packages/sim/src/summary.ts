/**
 * The simulation's summary: one object (`Simulation.summary()`), printed as one line per
 * interval and as the final JSON line. Kept apart so the command and the demo print the
 * same thing.
 */

import type { ResponseOf } from '@edgefleet/protocol';

/** A rollout as the summary shows it: the part of `GET /v1/deployments/NAME/rollout` (route `rolloutStatus`) it prints. */
export type RolloutView = Pick<ResponseOf<'rolloutStatus'>, 'revision' | 'phase' | 'step' | 'steps'>;

/** Everything a summary line says, and more for the JSON form. */
export interface SimulationSummary {
  /** ISO 8601 time of the summary. */
  at: string;
  elapsedSeconds: number;
  nodes: {
    total: number;
    /** Enrolled (or came up with a saved identity) so far. */
    started: number;
    /** Reporting to the server now. */
    online: number;
    /** Cut off by churn or a site outage. */
    offline: number;
    /** Powered off by a power cut, booting soon. */
    poweredOff: number;
    /** Running without their accelerator (failed). */
    acceleratorFailed: number;
    /** Agents that ended with an error no retry fixes. */
    failed: number;
  };
  /** Per deployment: nodes serving each revision (`{ detect: { "1": 12, "2": 6 } }`). */
  revisions: Record<string, Record<string, number>>;
  /** Per deployment: nodes that ever started each revision, rolled back or not (the blast radius). */
  everRan: Record<string, Record<string, number>>;
  /**
   * Container images pulled, per image reference: nodes that moved bytes of it over their
   * link, the bytes, and their mean per node (layers a node already held cost nothing).
   */
  images: Record<string, { nodes: number; bytes: number; bytesPerNode: number }>;
  /** Rollouts of deployments with `spec.rollout` (empty without an admin token). */
  rollouts: Record<string, RolloutView>;
  /** Inference requests and failed ones (5xx, or no instance ready) per second, over the last interval. */
  requestsPerSecond: number;
  errorsPerSecond: number;
  /** Totals since the start. */
  requests: number;
  errors: number;
  faults: { siteOutages: string[]; powerCuts: number; acceleratorFailures: number; offlineEpisodes: number };
  /** The simulator process (all agents). */
  process: { rssMb: number; heapUsedMb: number; cpuPercent: number };
}

/** `1h02m`, `4m10s`, `12s`. */
export function formatElapsed(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * One line: `[4m10s] nodes 58/60 online (2 offline) · detect r1:40 r2:18 · rollout detect → r2 Progressing step 2/4 · 300.0 req/s · 0.4 err/s · rss 410 MB cpu 35%`.
 */
export function formatSummaryLine(s: SimulationSummary): string {
  const n = s.nodes;
  const extra = [
    n.started < n.total ? `${n.started} started` : '',
    n.offline > 0 ? `${n.offline} offline` : '',
    n.poweredOff > 0 ? `${n.poweredOff} powered off` : '',
    n.acceleratorFailed > 0 ? `${n.acceleratorFailed} without accelerator` : '',
    n.failed > 0 ? `${n.failed} failed` : '',
  ].filter((x) => x !== '');
  const parts = [`nodes ${n.online}/${n.total} online${extra.length > 0 ? ` (${extra.join(', ')})` : ''}`];
  for (const [deployment, revs] of Object.entries(s.revisions).sort(([a], [b]) => a.localeCompare(b))) {
    const counts = Object.entries(revs)
      .sort(([a], [b]) => Number(a) - Number(b))
      .map(([r, c]) => `r${r}:${c}`)
      .join(' ');
    parts.push(`${deployment} ${counts}`);
  }
  for (const [deployment, r] of Object.entries(s.rollouts).sort(([a], [b]) => a.localeCompare(b))) {
    parts.push(`rollout ${deployment} → r${r.revision} ${r.phase} step ${r.step}/${r.steps}`);
  }
  if (s.faults.siteOutages.length > 0) parts.push(`outage ${s.faults.siteOutages.join(',')}`);
  parts.push(
    `${s.requestsPerSecond.toFixed(1)} req/s`,
    `${s.errorsPerSecond.toFixed(1)} err/s`,
    `rss ${Math.round(s.process.rssMb)} MB cpu ${Math.round(s.process.cpuPercent)}%`,
  );
  return `[${formatElapsed(s.elapsedSeconds)}] ${parts.join(' · ')}`;
}

/** One worker process of a simulation over several (`edgefleet sim --workers N`), as the merged summary lists it. */
export interface WorkerSummary {
  worker: number;
  pid: number;
  nodes: number;
  rssMb: number;
  heapUsedMb: number;
  cpuPercent: number;
}

function addCounts(into: Record<string, Record<string, number>>, from: Record<string, Record<string, number>>): void {
  for (const [deployment, revs] of Object.entries(from)) {
    const target = into[deployment] ?? {};
    into[deployment] = target;
    for (const [revision, n] of Object.entries(revs)) target[revision] = (target[revision] ?? 0) + n;
  }
}

const tenth = (x: number): number => Math.round(x * 10) / 10;

/**
 * The summary of a fleet run by several workers, from each worker's own (their nodes are
 * disjoint): node counts, revisions, pulls, requests and faults add up; site outages are the
 * union; rollouts come from the first worker that reads them (the server has one view);
 * `process` is the sum over the workers, each listed in `workers`. `at` and `elapsedSeconds`
 * are the latest.
 */
export function mergeSummaries(
  parts: ReadonlyArray<{ worker: number; pid: number; summary: SimulationSummary }>,
): SimulationSummary & { workers: WorkerSummary[] } {
  const sorted = [...parts].sort((a, b) => a.worker - b.worker);
  const nodes = { total: 0, started: 0, online: 0, offline: 0, poweredOff: 0, acceleratorFailed: 0, failed: 0 };
  const revisions: Record<string, Record<string, number>> = {};
  const everRan: Record<string, Record<string, number>> = {};
  const images: SimulationSummary['images'] = {};
  let rollouts: SimulationSummary['rollouts'] = {};
  const outages = new Set<string>();
  const faults = { powerCuts: 0, acceleratorFailures: 0, offlineEpisodes: 0 };
  let at = '';
  let elapsedSeconds = 0;
  let requestsPerSecond = 0;
  let errorsPerSecond = 0;
  let requests = 0;
  let errors = 0;
  const proc = { rssMb: 0, heapUsedMb: 0, cpuPercent: 0 };
  const workers: WorkerSummary[] = [];
  for (const { worker, pid, summary: s } of sorted) {
    for (const k of Object.keys(nodes) as Array<keyof typeof nodes>) nodes[k] += s.nodes[k];
    addCounts(revisions, s.revisions);
    addCounts(everRan, s.everRan);
    for (const [ref, p] of Object.entries(s.images)) {
      const m = images[ref] ?? { nodes: 0, bytes: 0, bytesPerNode: 0 };
      m.nodes += p.nodes;
      m.bytes += p.bytes;
      m.bytesPerNode = Math.round(m.bytes / Math.max(1, m.nodes));
      images[ref] = m;
    }
    if (Object.keys(rollouts).length === 0) rollouts = s.rollouts;
    for (const site of s.faults.siteOutages) outages.add(site);
    faults.powerCuts += s.faults.powerCuts;
    faults.acceleratorFailures += s.faults.acceleratorFailures;
    faults.offlineEpisodes += s.faults.offlineEpisodes;
    if (s.at > at) at = s.at;
    elapsedSeconds = Math.max(elapsedSeconds, s.elapsedSeconds);
    requestsPerSecond += s.requestsPerSecond;
    errorsPerSecond += s.errorsPerSecond;
    requests += s.requests;
    errors += s.errors;
    proc.rssMb += s.process.rssMb;
    proc.heapUsedMb += s.process.heapUsedMb;
    proc.cpuPercent += s.process.cpuPercent;
    workers.push({ worker, pid, nodes: s.nodes.total, ...s.process });
  }
  return {
    at,
    elapsedSeconds,
    nodes,
    revisions,
    everRan,
    images,
    rollouts,
    requestsPerSecond: tenth(requestsPerSecond),
    errorsPerSecond: tenth(errorsPerSecond),
    requests,
    errors,
    faults: { siteOutages: [...outages].sort(), ...faults },
    process: proc,
    workers,
  };
}
