/**
 * The dashboard's fleet state and the pure reducer that changes it, headlamp-style list +
 * watch: the watch stream opens, says `hello`, the client lists every resource, and each
 * later watch event is applied to those lists. Events that arrive while the lists are being
 * fetched are held and applied after them, so a list that is older than an event can never
 * undo it. No I/O here: actions in, new state out, every case tested.
 */
import type {
  AlertView,
  AuditEntry,
  DeploymentView,
  GateMeasured,
  GateThresholds,
  GateVerdict,
  Node,
  RolloutEvent,
  RolloutStatus,
  Upserts,
  WatchEvent,
} from './types.js';

/** How many rollout events, audit entries and gate points per deployment the page keeps. */
export const MAX_EVENTS = 1_000;
export const MAX_AUDIT = 200;
export const MAX_GATE_POINTS = 720;

/** One gate evaluation, for the gate charts. */
export interface GatePoint {
  /** When it was evaluated, ms since the epoch. */
  t: number;
  revision: number;
  result: string;
  p95LatencyMs: number | null;
  baselineP95LatencyMs: number | null;
  /** The P95 the canaries may reach: baseline × the ratio threshold, when there is a baseline. */
  p95LimitMs: number | null;
  maxP95LatencyMs: number | null;
  errorRate: number | null;
  maxErrorRate: number;
  /** Per gate verdicts (estimate, interval, threshold); empty for evaluations recorded before them. */
  gates: readonly GateVerdict[];
}

/** Everything the lists return, fetched after each `hello`. */
export interface FleetLists {
  nodes: Node[];
  deployments: DeploymentView[];
  rollouts: RolloutStatus[];
  alerts: AlertView[];
  events: RolloutEvent[];
  audit: AuditEntry[];
}

export type Connection = 'connecting' | 'listing' | 'live' | 'reconnecting';

/** A problem to show in the header: the server's message and hint. */
export interface Problem {
  message: string;
  hint: string;
}

export interface FleetState {
  connection: Connection;
  problem: Problem | undefined;
  /** True once the first lists arrived (pages show "loading" until then). */
  loaded: boolean;
  nodes: ReadonlyMap<string, Node>;
  deployments: ReadonlyMap<string, DeploymentView>;
  rollouts: ReadonlyMap<string, RolloutStatus>;
  /** Firing alerts. */
  alerts: readonly AlertView[];
  /** Rollout events, oldest first. */
  events: readonly RolloutEvent[];
  /** Audit entries, newest first. */
  audit: readonly AuditEntry[];
  /** Latest node temperature (°C) by node id, from the bulk telemetry read. */
  temperatures: ReadonlyMap<string, number>;
  /** Gate evaluations seen per deployment, oldest first: the events' and the live status's. */
  gateHistory: ReadonlyMap<string, readonly GatePoint[]>;
  /** Watch events held while the lists are fetched. */
  pending: readonly WatchEvent[];
}

export type FleetAction =
  | { type: 'watch'; event: WatchEvent }
  | { type: 'listed'; lists: FleetLists }
  | { type: 'disconnected'; problem: Problem }
  | { type: 'temperatures'; items: ReadonlyArray<{ nodeId: string; value: number }> };

export const initialFleetState: FleetState = {
  connection: 'connecting',
  problem: undefined,
  loaded: false,
  nodes: new Map(),
  deployments: new Map(),
  rollouts: new Map(),
  alerts: [],
  events: [],
  audit: [],
  temperatures: new Map(),
  gateHistory: new Map(),
  pending: [],
};

/** Applies inserts/replacements and deletions to a keyed list; the same map when nothing changed. */
export function applyUpserts<T>(map: ReadonlyMap<string, T>, change: Upserts<T>, key: (item: T) => string): ReadonlyMap<string, T> {
  if (change.upserted.length === 0 && change.deleted.every((k) => !map.has(k))) return map;
  const next = new Map(map);
  for (const item of change.upserted) next.set(key(item), item);
  for (const k of change.deleted) next.delete(k);
  return next;
}

const eventKey = (e: RolloutEvent): string => `${e.deployment}#${e.seq}`;

/** Adds events not seen yet, keeps them ordered by time (then number), and keeps the newest `MAX_EVENTS`. */
export function mergeEvents(current: readonly RolloutEvent[], incoming: readonly RolloutEvent[]): readonly RolloutEvent[] {
  const seen = new Set(current.map(eventKey));
  const fresh = incoming.filter((e) => !seen.has(eventKey(e)));
  if (fresh.length === 0) return current;
  const all = [...current, ...fresh].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.seq - b.seq));
  return all.length > MAX_EVENTS ? all.slice(all.length - MAX_EVENTS) : all;
}

/** A gate point from an evaluation's measured values, thresholds and per-gate verdicts. */
export function gatePoint(t: number, revision: number, result: string, m: GateMeasured, th: GateThresholds, gates: readonly GateVerdict[] = []): GatePoint {
  return {
    t,
    revision,
    result,
    p95LatencyMs: m.p95LatencyMs,
    baselineP95LatencyMs: m.baselineP95LatencyMs,
    p95LimitMs: th.p95LatencyRatio !== null && m.baselineP95LatencyMs !== null ? m.baselineP95LatencyMs * th.p95LatencyRatio : null,
    maxP95LatencyMs: th.maxP95LatencyMs,
    errorRate: m.errorRate,
    maxErrorRate: th.maxErrorRate,
    gates,
  };
}

/** Adds gate points to a deployment's history, one per (revision, time), in time order. */
export function mergeGatePoints(
  history: ReadonlyMap<string, readonly GatePoint[]>,
  deployment: string,
  points: readonly GatePoint[],
): ReadonlyMap<string, readonly GatePoint[]> {
  if (points.length === 0) return history;
  const current = history.get(deployment) ?? [];
  const seen = new Set(current.map((p) => `${p.revision}@${p.t}`));
  const fresh = points.filter((p) => !seen.has(`${p.revision}@${p.t}`));
  if (fresh.length === 0) return history;
  const all = [...current, ...fresh].sort((a, b) => a.t - b.t);
  const next = new Map(history);
  next.set(deployment, all.length > MAX_GATE_POINTS ? all.slice(all.length - MAX_GATE_POINTS) : all);
  return next;
}

function gatePointsOfEvents(history: ReadonlyMap<string, readonly GatePoint[]>, events: readonly RolloutEvent[]): ReadonlyMap<string, readonly GatePoint[]> {
  let next = history;
  for (const e of events) {
    if (e.gate === undefined) continue;
    next = mergeGatePoints(next, e.deployment, [gatePoint(e.gate.evaluatedAt, e.revision, e.gate.result, e.gate.measured, e.gate.thresholds, e.gate.gates)]);
  }
  return next;
}

function gatePointsOfRollouts(
  history: ReadonlyMap<string, readonly GatePoint[]>,
  rollouts: readonly RolloutStatus[],
): ReadonlyMap<string, readonly GatePoint[]> {
  let next = history;
  for (const r of rollouts) {
    if (r.gate === null) continue;
    next = mergeGatePoints(next, r.deployment, [
      gatePoint(Date.parse(r.gate.evaluatedAt), r.revision, r.gate.result, r.gate.measured, r.gate.thresholds, r.gate.gates),
    ]);
  }
  return next;
}

/** Applies one watch event to lists that are current. */
export function applyWatchEvent(state: FleetState, event: WatchEvent): FleetState {
  switch (event.kind) {
    case 'hello':
      // A new stream: list again, holding what arrives meanwhile.
      return { ...state, connection: 'listing', problem: undefined, pending: [] };
    case 'nodes':
      return { ...state, nodes: applyUpserts(state.nodes, event.data, (n) => n.id) };
    case 'deployments':
      return { ...state, deployments: applyUpserts(state.deployments, event.data, (d) => d.metadata.name) };
    case 'rollouts':
      return {
        ...state,
        rollouts: applyUpserts(state.rollouts, event.data, (r) => r.deployment),
        gateHistory: gatePointsOfRollouts(state.gateHistory, event.data.upserted),
      };
    case 'alerts':
      return { ...state, alerts: event.data.items };
    case 'events':
      return { ...state, events: mergeEvents(state.events, event.data.items), gateHistory: gatePointsOfEvents(state.gateHistory, event.data.items) };
    case 'audit':
      return { ...state, audit: event.data.items.slice(0, MAX_AUDIT) };
  }
}

const byKey = <T>(items: readonly T[], key: (item: T) => string): ReadonlyMap<string, T> => new Map(items.map((i) => [key(i), i]));

/** The fleet reducer. */
export function fleetReducer(state: FleetState, action: FleetAction): FleetState {
  switch (action.type) {
    case 'watch':
      if (state.connection === 'listing' && action.event.kind !== 'hello') return { ...state, pending: [...state.pending, action.event] };
      return applyWatchEvent(state, action.event);
    case 'listed': {
      const l = action.lists;
      let next: FleetState = {
        ...state,
        connection: 'live',
        problem: undefined,
        loaded: true,
        nodes: byKey(l.nodes, (n) => n.id),
        deployments: byKey(l.deployments, (d) => d.metadata.name),
        rollouts: byKey(l.rollouts, (r) => r.deployment),
        alerts: l.alerts,
        // Events are kept across relists: the list holds the newest ones, older ones stay useful.
        events: mergeEvents(state.events, l.events),
        audit: l.audit.slice(0, MAX_AUDIT),
        gateHistory: gatePointsOfRollouts(gatePointsOfEvents(state.gateHistory, l.events), l.rollouts),
        pending: [],
      };
      for (const e of state.pending) next = applyWatchEvent(next, e);
      return next;
    }
    case 'disconnected':
      return { ...state, connection: 'reconnecting', problem: action.problem, pending: [] };
    case 'temperatures':
      return { ...state, temperatures: new Map(action.items.map((i) => [i.nodeId, i.value])) };
  }
}
