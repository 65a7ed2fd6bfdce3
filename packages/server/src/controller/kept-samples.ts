/**
 * The stats samples of each active rollout, kept by the controller between passes, with the
 * gate aggregates built over them (`rollouts/analysis/aggregates.ts`). A pass reads from
 * the store only the nodes that reported since the last pass, and hands the planner the
 * very sample objects it read before: a gate judgement then reads only new samples, instead
 * of every sample of the window loaded anew each second.
 *
 * What changed is told by the nodes' `lastSeen`, which the controller reads every pass
 * anyway: stats only arrive with a status report (`telemetry/status-report.ts`), whose
 * heartbeat sets `lastSeen` first. A node is read again
 * - when its `lastSeen` moved (it reported), and once more `SETTLE_MS` after that report
 *   (its stats commit just after the heartbeat, maybe after that first read);
 * - when it became targeted, or when its list has to lose samples (the window moved on,
 *   old stats were pruned).
 *
 * Everything is dropped — and read whole at the next pass — when the rollout is a new one
 * (another revision, a restart, an undo: `startedAt` moved), when it is over, and when the
 * controller loses the lead (`forgetAll`): what another leader's passes saw is not known.
 *
 * A node's list is kept in one order, by interval end, then start, then revision, so that a
 * list kept over many passes is the list a fresh load gives (`sortSamples`); a sample read
 * again that equals a kept one (`sameSample`) is replaced by the kept object.
 */
import type { WorkloadStats } from '@edgefleet/protocol';
import { GateAggregates, type RolloutNode, type RolloutState, statsWindow } from '../rollouts/index.js';
import type { Store } from '../store/index.js';

/**
 * How long after a report its stats are surely committed: the heartbeat and the stats are
 * written one after the other in the same request. A node is read once more this long
 * after its report.
 */
export const SETTLE_MS = 30_000;

/** One node's kept samples. */
interface KeptNode {
  /** Sorted (`sortSamples`). */
  samples: WorkloadStats[];
  /** The node's lastSeen when last read. */
  seen: number | null;
  /** When last read (the pass's clock). */
  readAt: number;
}

/** A rollout's kept samples. */
interface KeptRollout {
  /** Which rollout they belong to: revision, baseline and start (`rolloutKey`). */
  key: string;
  /** The window's start the lists are cut at (`statsWindow(state).from`). */
  from: number;
  /** Samples older than this were pruned (interval end before it). */
  prunedBefore: number;
  nodes: Map<string, KeptNode>;
  aggregates: GateAggregates;
}

/** What one pass plans with: each node's samples, and the aggregates kept over them. */
export interface PassSamples {
  /** Samples by node id (targeted nodes with samples only). */
  byNode: ReadonlyMap<string, readonly WorkloadStats[]>;
  aggregates: GateAggregates;
  /** Nodes read from the store in this pass (for tests and logs). */
  nodesRead: number;
}

const rolloutKey = (s: RolloutState): string => `${s.revision}\u0000${s.fromRevision}\u0000${s.startedAt}\u0000${s.specRevision}`;

export class KeptSamples {
  private readonly rollouts = new Map<string, KeptRollout>();
  /** Interval ends before this are pruned from the store (`noteRetention`). */
  private retainedFrom = Number.NEGATIVE_INFINITY;

  constructor(private readonly store: Pick<Store, 'listWorkloadStats'>) {}

  /**
   * The samples of `deployment`'s targeted `nodes` for its rollout in `state`, brought up to
   * date with what changed since the last pass; null when the rollout needs none (no
   * rollout, or one that is over: its kept samples are dropped).
   */
  async forPass(deployment: string, state: RolloutState | null, nodes: readonly RolloutNode[], now: number): Promise<PassSamples | null> {
    const window = statsWindow(state);
    if (state === null || window === null) {
      this.rollouts.delete(deployment);
      return null;
    }
    const key = rolloutKey(state);
    let kept = this.rollouts.get(deployment);
    // A new rollout, or a window reaching further back than the lists: read everything.
    if (kept === undefined || kept.key !== key || window.from < kept.from) {
      kept = { key, from: window.from, prunedBefore: this.retainedFrom, nodes: new Map(), aggregates: new GateAggregates() };
      this.rollouts.set(deployment, kept);
      return this.readAll(deployment, kept, nodes, now);
    }
    const cutFrom = window.from !== kept.from || kept.prunedBefore !== this.retainedFrom;
    kept.from = window.from;
    kept.prunedBefore = this.retainedFrom;
    const stale: string[] = [];
    const staleSeen: (number | null)[] = [];
    const targeted = new Set<string>();
    for (const n of nodes) {
      targeted.add(n.id);
      const k = kept.nodes.get(n.id);
      if (k === undefined || k.seen !== n.lastSeen || (n.lastSeen !== null && k.readAt < n.lastSeen + SETTLE_MS && now >= n.lastSeen + SETTLE_MS)) {
        stale.push(n.id);
        staleSeen.push(n.lastSeen);
        continue;
      }
      if (cutFrom) k.samples = this.cut(k.samples, kept.from);
    }
    for (const id of kept.nodes.keys()) if (!targeted.has(id)) kept.nodes.delete(id);
    if (stale.length > 0) {
      const rows = await this.store.listWorkloadStats(deployment, kept.from, stale);
      const read = groupByNode(rows);
      stale.forEach((id, i) => {
        const fresh = sortSamples(this.cut(read.get(id) ?? [], kept.from));
        const before = kept.nodes.get(id);
        kept.nodes.set(id, { samples: before === undefined ? fresh : reuse(before.samples, fresh), seen: staleSeen[i] ?? null, readAt: now });
      });
    }
    return this.result(kept, stale.length);
  }

  /** Stats with an interval end before `before` were pruned from the store: they go here too. */
  noteRetention(before: number): void {
    this.retainedFrom = before;
  }

  /** Forgets everything (the controller lost the lead, or stops). */
  forgetAll(): void {
    this.rollouts.clear();
  }

  /** Forgets one deployment's samples (deleted, or no rollout strategy any more). */
  forget(deployment: string): void {
    this.rollouts.delete(deployment);
  }

  /** Deployments with kept samples (for tests). */
  deployments(): string[] {
    return [...this.rollouts.keys()];
  }

  private async readAll(deployment: string, kept: KeptRollout, nodes: readonly RolloutNode[], now: number): Promise<PassSamples> {
    const read = groupByNode(await this.store.listWorkloadStats(deployment, kept.from));
    for (const n of nodes) kept.nodes.set(n.id, { samples: sortSamples(this.cut(read.get(n.id) ?? [], kept.from)), seen: n.lastSeen, readAt: now });
    return this.result(kept, nodes.length);
  }

  /** Drops samples out of the window or pruned: their interval ends at or before `from`, or before the retention. */
  private cut(samples: WorkloadStats[], from: number): WorkloadStats[] {
    const keep = (s: WorkloadStats): boolean => s.intervalEnd > from && s.intervalEnd >= this.retainedFrom;
    return samples.every(keep) ? samples : samples.filter(keep);
  }

  private result(kept: KeptRollout, nodesRead: number): PassSamples {
    const byNode = new Map<string, readonly WorkloadStats[]>();
    for (const [id, k] of kept.nodes) if (k.samples.length > 0) byNode.set(id, k.samples);
    return { byNode, aggregates: kept.aggregates, nodesRead };
  }
}

function groupByNode(rows: ReadonlyArray<WorkloadStats & { nodeId: string }>): Map<string, WorkloadStats[]> {
  const out = new Map<string, WorkloadStats[]>();
  for (const { nodeId, ...s } of rows) {
    const list = out.get(nodeId);
    if (list === undefined) out.set(nodeId, [s]);
    else list.push(s);
  }
  return out;
}

/** A node's samples in the one order kept lists and fresh loads share. */
export function sortSamples(samples: WorkloadStats[]): WorkloadStats[] {
  return samples.sort(
    (a, b) =>
      a.intervalEnd - b.intervalEnd ||
      a.intervalStart - b.intervalStart ||
      a.revision - b.revision ||
      a.requests - b.requests ||
      a.errors - b.errors ||
      a.restarts - b.restarts,
  );
}

/** Whether two samples say the same (a sample read again from the store). */
export function sameSample(a: WorkloadStats, b: WorkloadStats): boolean {
  if (
    a.deployment !== b.deployment ||
    a.revision !== b.revision ||
    a.intervalStart !== b.intervalStart ||
    a.intervalEnd !== b.intervalEnd ||
    a.requests !== b.requests ||
    a.errors !== b.errors ||
    a.restarts !== b.restarts ||
    a.fallback !== b.fallback ||
    a.instanceStartedAt !== b.instanceStartedAt ||
    a.instanceRequestsBefore !== b.instanceRequestsBefore ||
    a.latency.offset !== b.latency.offset ||
    a.latency.counts.length !== b.latency.counts.length
  )
    return false;
  const x = a.latency.counts;
  const y = b.latency.counts;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/**
 * `fresh` (sorted) with each sample that equals a kept one replaced by the kept object, in
 * `fresh`'s order: the aggregates recognise the objects they read.
 */
function reuse(kept: readonly WorkloadStats[], fresh: WorkloadStats[]): WorkloadStats[] {
  const used = new Uint8Array(kept.length);
  let start = 0;
  return fresh.map((s) => {
    // Both sorted by interval end: look from the first kept sample not before this one.
    while (start < kept.length && (kept[start] as WorkloadStats).intervalEnd < s.intervalEnd) start++;
    for (let i = start; i < kept.length && (kept[i] as WorkloadStats).intervalEnd === s.intervalEnd; i++) {
      if (used[i] === 0 && sameSample(kept[i] as WorkloadStats, s)) {
        used[i] = 1;
        return kept[i] as WorkloadStats;
      }
    }
    return s;
  });
}
