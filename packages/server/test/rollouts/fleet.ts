/**
 * A tiny simulated fleet for planner tests: nodes that do what desired state says
 * (`desiredRevisions(state)`) when `converge()` is called, traffic that produces stats
 * samples, and a clock moved by hand. It persists the plan's state through JSON and
 * `parseRolloutState` between plans, as the executor will.
 */
import { histogramOf, type RolloutStrategy, type RolloutStrategyInput, RolloutStrategySchema, type WorkloadState } from '@edgefleet/protocol';
import {
  desiredRevisions,
  type NodeWorkloadStats,
  parseRolloutState,
  planRollout,
  type RolloutAction,
  type RolloutCommand,
  type RolloutEvent,
  type RolloutNode,
  type RolloutPlan,
  type RolloutState,
} from '../../src/rollouts/index.js';

export const T0 = Date.parse('2026-03-01T08:00:00Z');
export const MIN = 60_000;
export const DEPLOYMENT = 'detector';

/**
 * A strategy as `spec.rollout` parses, except that `gates.minCanaryNodes` is 1 unless set:
 * these fleets are small and the planner tests are about steps of the percent written
 * (one canary at 1 % or 10 %); the canary floor has its own cases (planner.test.ts,
 * "enough canaries") with the default.
 */
export function strategy(input: RolloutStrategyInput = {}): RolloutStrategy {
  return RolloutStrategySchema.parse({ ...input, gates: { minCanaryNodes: 1, ...input.gates } });
}

/** A targeted node serving `revision` (or nothing when null). */
export function node(id: string, labels: Record<string, string> = {}, o: Partial<RolloutNode> & { serving?: number | null } = {}): RolloutNode {
  const serving = o.serving === undefined ? 1 : o.serving;
  return {
    id,
    labels,
    online: o.online ?? true,
    lastSeen: o.lastSeen ?? T0,
    workload: o.workload !== undefined ? o.workload : serving === null ? null : { revision: serving, state: 'running', servingRevision: serving },
  };
}

/** A stats sample: `requests` requests at about `ms` each (±5 %, deterministic). */
export function sample(
  nodeId: string,
  revision: number,
  o: {
    ms?: number;
    requests?: number;
    errors?: number;
    restarts?: number;
    fallback?: boolean;
    start?: number;
    end?: number;
    deployment?: string;
    instanceStartedAt?: number;
    instanceRequestsBefore?: number;
  } = {},
): NodeWorkloadStats {
  const requests = o.requests ?? 100;
  const ms = o.ms ?? 20;
  const values = Array.from({ length: requests }, (_, i) => ms * (0.95 + (0.1 * ((i * 37) % 100)) / 100));
  return {
    nodeId,
    deployment: o.deployment ?? DEPLOYMENT,
    revision,
    intervalStart: o.start ?? T0,
    intervalEnd: o.end ?? T0 + MIN,
    requests,
    errors: o.errors ?? 0,
    restarts: o.restarts ?? 0,
    fallback: o.fallback ?? false,
    latency: histogramOf(values),
    ...(o.instanceStartedAt === undefined ? {} : { instanceStartedAt: o.instanceStartedAt }),
    ...(o.instanceRequestsBefore === undefined ? {} : { instanceRequestsBefore: o.instanceRequestsBefore }),
  };
}

/** Site × accelerator labels. */
export function labels(site: string, accelerator = 'hailo8l'): Record<string, string> {
  return { 'geolocation.site': site, 'ai.accelerator': accelerator };
}

interface SimNode {
  id: string;
  labels: Record<string, string>;
  online: boolean;
  lastSeen: number;
  /** What the node reports as its desired revision. */
  reported: number | null;
  serving: number | null;
  state: WorkloadState;
  /** Revisions that fail on this node. */
  broken: Set<number>;
  /** When the instance serving now started, and the requests it answered so far. */
  startedAt: number;
  answered: number;
}

export interface SimOptions {
  nodes: { id: string; labels?: Record<string, string> }[];
  strategy?: RolloutStrategyInput;
  revision?: number;
  fromRevision?: number | null;
}

/** A fleet of agents that obey desired state, a clock and a stats store. */
export class Sim {
  now = T0;
  revision: number;
  fromRevision: number | null;
  strategy: RolloutStrategy;
  state: RolloutState | null = null;
  readonly events: RolloutEvent[] = [];
  readonly actions: RolloutAction[][] = [];
  stats: NodeWorkloadStats[] = [];
  readonly nodes: SimNode[];
  /** Latency by revision, ms; a revision missing here gets 20 ms. */
  latency: Record<number, number> = {};
  /** Requests per node per traffic tick. */
  requestsPerTick = 100;
  /** Failed requests per node per traffic tick, by revision (none unless set). */
  errorsPerTick: Record<number, number> = {};
  /**
   * Cold starts: when set, samples carry the instance fields (`instanceStartedAt`,
   * `instanceRequestsBefore`) and a new instance's first `minutes` are `factor` × slower.
   */
  coldStart: { minutes: number; factor: number } | null = null;
  /** Pass stats as the planner's flat `stats` list instead of on each node. */
  flatStats = false;
  last!: RolloutPlan;

  constructor(o: SimOptions) {
    this.revision = o.revision ?? 2;
    this.fromRevision = o.fromRevision === undefined ? 1 : o.fromRevision;
    this.strategy = strategy(o.strategy);
    const start = this.fromRevision;
    this.nodes = o.nodes.map((n) => ({
      id: n.id,
      labels: n.labels ?? {},
      online: true,
      lastSeen: T0,
      reported: start,
      serving: start,
      state: start === null ? 'pending' : 'running',
      broken: new Set(),
      // The old instances have run for a day.
      startedAt: T0 - 24 * 60 * MIN,
      answered: 1_000_000,
    }));
  }

  get(id: string): SimNode {
    const n = this.nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  view(): RolloutNode[] {
    const byNode = new Map<string, NodeWorkloadStats[]>();
    if (!this.flatStats) for (const s of this.stats) byNode.set(s.nodeId, [...(byNode.get(s.nodeId) ?? []), s]);
    return this.nodes.map((n) => ({
      id: n.id,
      labels: n.labels,
      online: n.online,
      lastSeen: n.lastSeen,
      workload: n.reported === null ? null : { revision: n.reported, state: n.state, servingRevision: n.serving },
      ...(byNode.has(n.id) ? { stats: byNode.get(n.id) } : {}),
    }));
  }

  /** One plan; its state goes through JSON like a store round trip. */
  plan(commands: RolloutCommand[] = []): RolloutPlan {
    const p = planRollout({
      deployment: DEPLOYMENT,
      strategy: this.strategy,
      revision: this.revision,
      fromRevision: this.fromRevision,
      nodes: this.view(),
      state: this.state,
      ...(this.flatStats ? { stats: this.stats } : {}),
      commands,
      now: this.now,
    });
    this.state = parseRolloutState(JSON.parse(JSON.stringify(p.state)));
    for (const a of p.actions) if (a.action === 'event') this.events.push(a.event);
    this.actions.push(p.actions);
    this.last = p;
    return p;
  }

  /** What desired state tells each node now. */
  desired(id: string): number | null {
    if (this.state === null) return this.fromRevision;
    return desiredRevisions(this.state)(id);
  }

  /** Every online node switches to its desired revision (or fails it, if broken). */
  converge(): void {
    for (const n of this.nodes) {
      if (!n.online) continue;
      n.lastSeen = this.now;
      const want = this.desired(n.id);
      if (want === n.reported && (n.state === 'running' || n.state === 'failed' || want === null)) continue;
      n.reported = want;
      if (want === null) {
        n.serving = null;
        n.state = 'stopped';
      } else if (n.broken.has(want)) {
        n.state = 'failed';
      } else {
        if (n.serving !== want) {
          n.startedAt = this.now;
          n.answered = 0;
        }
        n.serving = want;
        n.state = 'running';
      }
    }
  }

  /** Moves the clock; online nodes keep reporting. */
  advance(ms: number): void {
    this.now += ms;
    for (const n of this.nodes) if (n.online) n.lastSeen = this.now;
  }

  /** One minute of traffic on every online serving node, recorded as samples. */
  traffic(o: { minutes?: number } = {}): void {
    for (let m = 0; m < (o.minutes ?? 1); m++) {
      const start = this.now;
      this.advance(MIN);
      for (const n of this.nodes) {
        if (!n.online || n.serving === null) continue;
        let ms = this.latency[n.serving] ?? 20;
        const cold = this.coldStart;
        if (cold !== null && start < n.startedAt + cold.minutes * MIN) ms *= cold.factor;
        this.stats.push(
          sample(n.id, n.serving, {
            ms,
            requests: this.requestsPerTick,
            errors: this.errorsPerTick[n.serving] ?? 0,
            start,
            end: this.now,
            ...(cold === null ? {} : { instanceStartedAt: n.startedAt, instanceRequestsBefore: n.answered }),
          }),
        );
        n.answered += this.requestsPerTick;
      }
    }
  }

  /** plan → converge → traffic, `times` times; stops when the rollout ends. */
  cycle(times = 1, minutes = 1): RolloutPlan {
    for (let i = 0; i < times; i++) {
      this.plan();
      this.converge();
      if (this.state !== null && !['Progressing', 'Holding'].includes(this.state.phase)) break;
      this.traffic({ minutes });
    }
    return this.last;
  }

  /** Node ids currently serving `revision`. */
  servingOn(revision: number): string[] {
    return this.nodes.filter((n) => n.serving === revision).map((n) => n.id);
  }

  eventTypes(): string[] {
    return this.events.map((e) => e.type);
  }
}

/** `count` nodes spread over sites s0… and accelerators a0… round-robin. */
export function spreadNodes(count: number, sites: number, accelerators: number): { id: string; labels: Record<string, string> }[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `n${String(i).padStart(4, '0')}`,
    labels: labels(`s${i % sites}`, `a${Math.floor(i / sites) % accelerators}`),
  }));
}

/** Actions of one kind from a plan. */
export function actionsOf<K extends RolloutAction['action']>(plan: RolloutPlan, kind: K): Extract<RolloutAction, { action: K }>[] {
  return plan.actions.filter((a): a is Extract<RolloutAction, { action: K }> => a.action === kind);
}

/** Node ids assigned by a plan. */
export function assignedBy(plan: RolloutPlan): string[] {
  return actionsOf(plan, 'assign').flatMap((a) => a.nodeIds);
}
