/**
 * The dashboard's live feed behind `GET /v1/watch`. Change detection polls the store, not
 * in-process events, so a dashboard connected to one replica sees what every replica over
 * the same PostgreSQL writes. One `FleetWatch` per server process polls on behalf of all
 * its connected dashboards, and only while at least one is connected: each tick reads
 * nodes, workloads, deployments, rollouts, firing alerts and the newest events and audit
 * entries, compares them with the previous tick, and sends only what changed, in the same
 * shapes the list routes return (the views in views/, nodes/view.ts, rollouts/view.ts). A
 * client lists first after `hello` and then applies the changes (list + watch); a change
 * made between its list and the next tick arrives again, which the client's reducers treat
 * as a no-op.
 */
import type { AlertView, AuditEntry, DeploymentView, Node, NodeStatus, RolloutEventView, RolloutStatus, WorkloadStatus } from '@edgefleet/protocol';
import type { ServerContext } from '../context.js';
import { nodeStatus, nodeView } from '../nodes/view.js';
import { readRolloutStates } from '../rollouts/stored-states.js';
import { rolloutNodesOf, rolloutView, unreadableRolloutView } from '../rollouts/view.js';
import type { NodeLabelsRecord } from '../store/index.js';
import { auditEntryView } from '../tokens/service.js';
import { alertView } from '../views/alert.js';
import { deploymentView, reportsByDeployment, stallsByDeployment } from '../views/deployment.js';
import { rolloutEventView } from '../views/rollout-event.js';

/** How often the shared poller compares the store with what it last sent. */
export const WATCH_POLL_MS = 1_500;
/** How soon after a change signal the watch reads the store (signals in a burst share the read). */
const CHANGE_TICK_DELAY_MS = 50;
/** How many of the newest rollout events and audit entries each tick compares. */
const RECENT_EVENTS = 200;
const RECENT_AUDIT = 100;

/** The kinds of change the stream carries; the event name says which list to apply it to. */
export type WatchEventName = 'hello' | 'nodes' | 'deployments' | 'rollouts' | 'alerts' | 'events' | 'audit';

/** One node as the last tick saw it: the columns that tell a change, and its view. */
interface WatchedNode {
  head: NodeLabelsRecord;
  status: NodeStatus;
  view: Node;
}

/** Everything one tick read, keyed so the next tick can tell what changed. */
export interface Snapshot {
  /** Node id → the node; its view object is the same as long as nothing in it changed. */
  nodes: Map<string, WatchedNode>;
  deployments: Map<string, { json: string; view: DeploymentView }>;
  rollouts: Map<string, { json: string; view: RolloutStatus }>;
  alertsJson: string;
  alerts: AlertView[];
  eventKeys: Set<string>;
  events: RolloutEventView[];
  auditHead: string;
  audit: AuditEntry[];
}

/** One change to send: an SSE event name and its JSON payload. */
interface WatchMessage {
  event: Exclude<WatchEventName, 'hello'>;
  data: unknown;
}

/**
 * Whether a node's view may differ from the one built last tick. Facts and detected labels
 * change only with a report, which moves lastSeen; status flips with time alone; operator
 * labels change without a report, and a renewal changes the certificate. Label objects are
 * compared by identity: the store shares them between reads while their text is unchanged
 * (a relabel to the same text reads as a change, which costs a rebuilt view, nothing else).
 */
function nodeChanged(old: WatchedNode | undefined, head: NodeLabelsRecord, status: NodeStatus): boolean {
  if (old === undefined) return true;
  const was = old.head;
  return (
    was.lastSeen !== head.lastSeen ||
    old.status !== status ||
    was.name !== head.name ||
    was.certSerial !== head.certSerial ||
    was.operatorLabels !== head.operatorLabels ||
    was.detectedLabels !== head.detectedLabels
  );
}

/**
 * Reads the store once and builds the comparable snapshot. Every tick reads each node's
 * labels and last-seen time, and whole records (facts included, a kilobyte or more each)
 * only of the nodes that changed since `prev`; the others keep their views. On a steady
 * fleet a twentieth of the nodes report within one tick, so copying every node's facts out
 * of the database each tick was most of its cost (bench/watch-tick.ts). Exported for that
 * bench, which times one tick at a fleet's size.
 */
export async function readSnapshot(ctx: ServerContext, prev?: Snapshot): Promise<Snapshot> {
  const now = ctx.clock();
  const store = ctx.store;
  const [heads, workloads, deployments, rollouts, alerts, events, audit, stalls] = await Promise.all([
    store.listNodeLabels(),
    store.listNodeWorkloads({}),
    store.listDeployments(),
    readRolloutStates(store),
    store.listAlerts({ state: 'firing' }),
    store.listRolloutEvents({ limit: RECENT_EVENTS }),
    store.listAudit(RECENT_AUDIT),
    store.listRolloutStalls(),
  ]);
  const stalled = stallsByDeployment(stalls);
  const statuses = heads.map((n) => nodeStatus(n, now, ctx.heartbeatIntervalMs));
  const changed = new Set<string>();
  heads.forEach((n, i) => {
    if (nodeChanged(prev?.nodes.get(n.id), n, statuses[i] as NodeStatus)) changed.add(n.id);
  });
  const records = new Map((await store.listNodesById([...changed])).map((n) => [n.id, n]));
  const nodes = new Map<string, WatchedNode>();
  const views: Node[] = [];
  heads.forEach((head, i) => {
    const record = records.get(head.id);
    const view = !changed.has(head.id) ? prev?.nodes.get(head.id)?.view : record && nodeView(record, now, ctx.heartbeatIntervalMs);
    // A changed node without a record was decommissioned between the two reads: left out, as the next tick would.
    if (view === undefined) return;
    views.push(view);
    nodes.set(head.id, { head, status: statuses[i] as NodeStatus, view });
  });
  const byDeployment = reportsByDeployment(workloads);
  const deploymentViews = new Map<string, { json: string; view: DeploymentView }>();
  const byId = new Map(heads.map((n) => [n.id, n]));
  for (const d of deployments) {
    const view = deploymentView(d, views, byDeployment.get(d.name) ?? new Map(), stalled.get(d.name));
    deploymentViews.set(d.name, { json: JSON.stringify(view), view });
  }
  const rolloutViews = new Map<string, { json: string; view: RolloutStatus }>();
  const deploymentsByName = new Map(deployments.map((d) => [d.name, d]));
  for (const [name, stored] of rollouts) {
    const d = deploymentsByName.get(name);
    if (d === undefined || d.spec.rollout === undefined) continue;
    // The targeted nodes as the controller sees them, from the rows this tick already
    // holds instead of two queries per deployment.
    const targeted = rolloutNodesOf(d, heads, byDeployment.get(d.name) ?? new Map<string, WorkloadStatus>(), now, ctx.heartbeatIntervalMs);
    // An unreadable state is shown with its Stalled condition, like the rollout route does.
    const view = stored.readable ? rolloutView(d, stored.state, targeted, stalled.get(d.name)) : unreadableRolloutView(d, stored.cause, stalled.get(d.name));
    rolloutViews.set(d.name, { json: JSON.stringify(view), view });
  }
  const alertViews = alerts.map((a) => alertView(a, byId.get(a.nodeId)));
  const eventViews = events.map(rolloutEventView);
  const auditViews = audit.map(auditEntryView);
  const head = audit[0];
  return {
    nodes,
    deployments: deploymentViews,
    rollouts: rolloutViews,
    alertsJson: JSON.stringify(alertViews),
    alerts: alertViews,
    eventKeys: new Set(eventViews.map((e) => `${e.deployment}#${e.seq}`)),
    events: eventViews,
    auditHead: head === undefined ? '' : `${head.at}|${head.actor}|${head.action}|${head.target}|${audit.length}`,
    audit: auditViews,
  };
}

/** What changed from `prev` to `next`, as stream messages (empty when nothing did). */
export function diffSnapshots(prev: Snapshot, next: Snapshot): WatchMessage[] {
  const out: WatchMessage[] = [];
  const keyed = <V>(a: Map<string, V>, b: Map<string, V>, same: (x: V, y: V) => boolean, view: (v: V) => unknown) => {
    const upserted: unknown[] = [];
    const deleted: string[] = [];
    for (const [k, v] of b) {
      const old = a.get(k);
      if (old === undefined || !same(old, v)) upserted.push(view(v));
    }
    for (const k of a.keys()) if (!b.has(k)) deleted.push(k);
    return upserted.length === 0 && deleted.length === 0 ? undefined : { upserted, deleted };
  };
  const nodes = keyed(
    prev.nodes,
    next.nodes,
    (x, y) => x.view === y.view,
    (v) => v.view,
  );
  if (nodes) out.push({ event: 'nodes', data: nodes });
  const deployments = keyed(
    prev.deployments,
    next.deployments,
    (x, y) => x.json === y.json,
    (v) => v.view,
  );
  if (deployments) out.push({ event: 'deployments', data: deployments });
  const rollouts = keyed(
    prev.rollouts,
    next.rollouts,
    (x, y) => x.json === y.json,
    (v) => v.view,
  );
  if (rollouts) out.push({ event: 'rollouts', data: rollouts });
  if (prev.alertsJson !== next.alertsJson) out.push({ event: 'alerts', data: { items: next.alerts } });
  const fresh = next.events.filter((e) => !prev.eventKeys.has(`${e.deployment}#${e.seq}`));
  if (fresh.length > 0) out.push({ event: 'events', data: { items: fresh } });
  if (prev.auditHead !== next.auditHead) out.push({ event: 'audit', data: { items: next.audit } });
  return out;
}

/** One connected dashboard. */
interface WatchSubscriber {
  send(message: WatchMessage): void;
}

/**
 * The shared poller: reads the store while anyone watches and fans the changes out. Ticks
 * never overlap. The next tick comes `WATCH_POLL_MS` after the last one ended, or ten times
 * as long as the last one took if that is more, so on a fleet big enough to make reading
 * slow the watch never takes more than about a tenth of the server's time. A failed read
 * is logged and retried next tick.
 */
export class FleetWatch {
  private readonly subscribers = new Set<WatchSubscriber>();
  private last: Snapshot | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Which run of ticks is current: stopping or restarting leaves an in-flight tick of an old run without a successor. */
  private run = 0;
  private running = false;
  /** A tick is reading the store now. */
  private ticking = false;
  /** A change signal came during a tick: the next tick follows at once. */
  private soon = false;
  /** The next tick is already brought forward. */
  private early = false;
  /**
   * A change signal (`desired`: deployments, rollouts, labels…, from this replica or relayed
   * from another by replicas/change-bus.ts) brings the next tick forward; the timer stays the
   * fallback and paces everything else (heartbeats, alerts).
   */
  private readonly onChange = (): void => {
    if (!this.running) return;
    if (this.ticking) {
      this.soon = true;
      return;
    }
    if (this.early) return;
    this.early = true;
    clearTimeout(this.timer);
    this.schedule(this.run, CHANGE_TICK_DELAY_MS);
  };

  constructor(private readonly ctx: ServerContext) {}

  /**
   * Adds a subscriber once the poller holds a baseline, so everything that changes after
   * the subscriber's own list is sent to it. Returns the function that removes it.
   */
  async subscribe(s: WatchSubscriber): Promise<() => void> {
    if (this.last === undefined) this.last = await readSnapshot(this.ctx);
    this.subscribers.add(s);
    if (!this.running) {
      this.running = true;
      this.ctx.events.on('desired', this.onChange);
      this.schedule(++this.run, WATCH_POLL_MS);
    }
    return () => {
      this.subscribers.delete(s);
      if (this.subscribers.size === 0) this.stop();
    };
  }

  /** Stops polling and drops the baseline (the next subscriber reads a fresh one). */
  stop(): void {
    this.running = false;
    this.ctx.events.off('desired', this.onChange);
    this.early = false;
    this.run++;
    clearTimeout(this.timer);
    this.timer = undefined;
    // Without subscribers the baseline goes stale; the next first subscriber reads a fresh one.
    this.last = undefined;
  }

  private schedule(run: number, ms: number): void {
    this.timer = setTimeout(() => void this.tick(run), ms);
  }

  private async tick(run: number): Promise<void> {
    const started = performance.now();
    this.ticking = true;
    this.soon = false;
    this.early = false;
    try {
      const prev = this.last;
      const next = await readSnapshot(this.ctx, prev);
      if (run !== this.run) return;
      this.last = next;
      if (prev !== undefined) for (const m of diffSnapshots(prev, next)) for (const s of this.subscribers) s.send(m);
    } catch (err) {
      this.ctx.log.warn(`watch: reading the store failed, trying again next tick: ${(err as Error).message}`);
    } finally {
      this.ticking = false;
    }
    const paced = Math.max(WATCH_POLL_MS, 10 * (performance.now() - started));
    // After a signal during the tick, the next one comes soon, yet the watch stays a small share of the server's time.
    const early = Math.max(CHANGE_TICK_DELAY_MS, 4 * (performance.now() - started));
    if (run === this.run) {
      this.early = this.soon && early < paced;
      this.schedule(run, this.early ? early : paced);
    }
  }
}
