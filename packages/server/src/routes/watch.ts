/**
 * The dashboard's live feed, `GET /v1/watch`, and two small reads the dashboard needs that
 * the rest of the API lacks: `GET /v1/whoami` (which buttons to show) and
 * `GET /v1/telemetry/latest?name=` (one metric's latest value for every node, for the
 * temperature column of a 10,000-row table without 10,000 requests).
 *
 * The watch stream is server-sent events. Change detection polls the store, not in-process
 * events, so a dashboard connected to one replica sees what every replica over the same
 * PostgreSQL writes. One `FleetWatch` per server process polls on behalf of all its
 * connected dashboards, and only while at least one is connected: each tick reads nodes,
 * workloads, deployments, rollouts, firing alerts and the newest events and audit entries,
 * compares them with the previous tick, and sends only what changed, in the same shapes
 * the list routes return. A client lists first after `hello` and then applies the changes
 * (list + watch); a change made between its list and the next tick arrives again, which the
 * client's reducers treat as a no-op.
 */
import type { AlertView, Node, WorkloadStatus } from '@edgefleet/protocol';
import { matchesSelector, RolloutStrategySchema } from '@edgefleet/protocol';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import { selectorOf } from '../deployments/plan-apply.js';
import { deploymentStatus } from '../deployments/status.js';
import type { Api } from '../http/app.js';
import { authenticateOperator } from '../http/auth.js';
import { parseWith } from '../http/errors.js';
import { effectiveLabels, nodeStatus, nodeView } from '../nodes/view.js';
import { parseRolloutState, type RolloutNode, type RolloutStatus, rolloutStatus } from '../rollouts/index.js';
import type { DeploymentRecord, LatestSample, NodeAlertRecord, NodeRecord, Store } from '../store/index.js';

/** How often the shared poller compares the store with what it last sent. */
export const WATCH_POLL_MS = 1_500;
/** A comment line this often keeps proxies from closing an idle stream and finds dead clients. */
export const WATCH_HEARTBEAT_MS = 15_000;
/** A client that has not read this much of its stream is too slow: it is cut off and relists on reconnect. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** How many of the newest rollout events and audit entries each tick compares. */
const RECENT_EVENTS = 200;
const RECENT_AUDIT = 100;
/** How long one bulk metric read is reused: every open nodes page asks for it. */
const LATEST_CACHE_MS = 10_000;

/** The kinds of change the stream carries; the event name says which list to apply it to. */
export type WatchEventName = 'hello' | 'nodes' | 'deployments' | 'rollouts' | 'alerts' | 'events' | 'audit';

/** A rollout journal entry as `GET /v1/events` returns it. */
type EventView = Record<string, unknown> & { deployment: string; seq: number; time: string };
/** An audit entry as `GET /v1/audit` returns it. */
type AuditView = { at: string; actor: string; action: string; target: string; details: Record<string, unknown> };

/** Everything one tick read, keyed so the next tick can tell what changed. */
interface Snapshot {
  /** Node id → a signature that changes when its view does (every report moves `lastSeen`). */
  nodes: Map<string, { signature: string; view: Node }>;
  deployments: Map<string, { json: string; view: unknown }>;
  rollouts: Map<string, { json: string; view: RolloutStatus }>;
  alertsJson: string;
  alerts: AlertView[];
  eventKeys: Set<string>;
  events: EventView[];
  auditHead: string;
  audit: AuditView[];
}

/** One change to send: an SSE event name and its JSON payload. */
interface WatchMessage {
  event: Exclude<WatchEventName, 'hello'>;
  data: unknown;
}

/** The deployment view of `GET /v1/deployments/{name}`. */
function deploymentView(d: DeploymentRecord, nodes: readonly Node[], reports: ReadonlyMap<string, WorkloadStatus>) {
  return {
    apiVersion: 'edgefleet.dev/v1',
    kind: 'Deployment',
    metadata: {
      name: d.name,
      generation: d.generation,
      source: d.source,
      createdAt: new Date(d.createdAt).toISOString(),
      updatedAt: new Date(d.updatedAt).toISOString(),
    },
    spec: d.spec,
    status: deploymentStatus(d, selectorOf(d.spec.selector), nodes, reports),
  };
}

/** The alert view of `GET /v1/alerts`. */
function alertView(a: NodeAlertRecord, node: NodeRecord | undefined): AlertView {
  return {
    node: node?.name ?? a.nodeId,
    nodeId: a.nodeId,
    site: node === undefined ? null : (effectiveLabels(node)['geolocation.site'] ?? null),
    name: a.name,
    state: a.state,
    severity: a.severity,
    since: new Date(a.since).toISOString(),
    message: a.message,
    labels: a.labels,
    reportedAt: new Date(a.reportedAt).toISOString(),
  };
}

/**
 * Reads the store once and builds the comparable snapshot. Node views of nodes whose
 * signature did not change since `prev` are reused: on a big fleet most nodes did not
 * report within one tick, and building a view costs more than checking.
 */
async function readSnapshot(ctx: ServerContext, prev?: Snapshot): Promise<Snapshot> {
  const now = ctx.clock();
  const store = ctx.store;
  const [records, workloads, deployments, rollouts, alerts, events, audit] = await Promise.all([
    store.listNodes(),
    store.listNodeWorkloads({}),
    store.listDeployments(),
    store.listRollouts(),
    store.listAlerts({ state: 'firing' }),
    store.listRolloutEvents({ limit: RECENT_EVENTS }),
    store.listAudit(RECENT_AUDIT),
  ]);
  const nodes = new Map<string, { signature: string; view: Node }>();
  const views: Node[] = [];
  for (const n of records) {
    // Facts and detected labels only change with a report, which moves lastSeen; status
    // flips with time alone, and operator labels change without a report.
    const signature = `${n.name}|${n.lastSeen}|${nodeStatus(n, now, ctx.heartbeatIntervalMs)}|${n.certSerial}|${JSON.stringify(n.operatorLabels)}`;
    const old = prev?.nodes.get(n.id);
    const view = old !== undefined && old.signature === signature ? old.view : nodeView(n, now, ctx.heartbeatIntervalMs);
    views.push(view);
    nodes.set(n.id, { signature, view });
  }
  const byDeployment = new Map<string, Map<string, WorkloadStatus>>();
  for (const w of workloads) {
    const m = byDeployment.get(w.status.deployment) ?? new Map<string, WorkloadStatus>();
    m.set(w.nodeId, w.status);
    byDeployment.set(w.status.deployment, m);
  }
  const deploymentViews = new Map<string, { json: string; view: unknown }>();
  const byId = new Map(records.map((n) => [n.id, n]));
  for (const d of deployments) {
    const view = deploymentView(d, views, byDeployment.get(d.name) ?? new Map());
    deploymentViews.set(d.name, { json: JSON.stringify(view), view });
  }
  const rolloutViews = new Map<string, { json: string; view: RolloutStatus }>();
  const deploymentsByName = new Map(deployments.map((d) => [d.name, d]));
  for (const r of rollouts) {
    const d = deploymentsByName.get(r.deployment);
    if (d === undefined || d.spec.rollout === undefined) continue;
    const selector = selectorOf(d.spec.selector);
    const reports = byDeployment.get(d.name) ?? new Map<string, WorkloadStatus>();
    // The targeted nodes as the controller sees them (RolloutController.targetedNodes),
    // from the rows this tick already holds instead of two queries per deployment.
    const targeted: RolloutNode[] = records
      .filter((n) => matchesSelector(selector, effectiveLabels(n)))
      .map((n) => {
        const w = reports.get(n.id);
        return {
          id: n.id,
          labels: effectiveLabels(n),
          online: nodeStatus(n, now, ctx.heartbeatIntervalMs) === 'online',
          lastSeen: n.lastSeen,
          workload: w === undefined ? null : { revision: w.revision, state: w.state, servingRevision: w.servingRevision ?? null },
        };
      });
    try {
      const view = rolloutStatus(parseRolloutState(r.state), RolloutStrategySchema.parse(d.spec.rollout).steps.length, targeted);
      rolloutViews.set(d.name, { json: JSON.stringify(view), view });
    } catch (err) {
      ctx.log.warn(`watch: rollout state of ${d.name} is unreadable: ${(err as Error).message}`);
    }
  }
  const alertViews = alerts.map((a) => alertView(a, byId.get(a.nodeId)));
  const eventViews: EventView[] = events.map((e) => ({
    deployment: e.deployment,
    seq: e.seq,
    time: new Date(e.at).toISOString(),
    ...(e.event as Record<string, unknown>),
  }));
  const auditViews: AuditView[] = audit.map((e) => ({ ...e, at: new Date(e.at).toISOString() }));
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
function diffSnapshots(prev: Snapshot, next: Snapshot): WatchMessage[] {
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
    (x, y) => x.signature === y.signature,
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
interface Subscriber {
  send(message: WatchMessage): void;
}

/**
 * The shared poller: reads the store while anyone watches and fans the changes out. Ticks
 * never overlap. The next tick comes `WATCH_POLL_MS` after the last one ended, or ten times
 * as long as the last one took if that is more, so on a fleet big enough to make reading
 * slow the watch never takes more than about a tenth of the server's time. A failed read
 * is logged and retried next tick.
 */
class FleetWatch {
  private readonly subscribers = new Set<Subscriber>();
  private last: Snapshot | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Which run of ticks is current: stopping or restarting leaves an in-flight tick of an old run without a successor. */
  private run = 0;
  private running = false;

  constructor(private readonly ctx: ServerContext) {}

  /**
   * Adds a subscriber once the poller holds a baseline, so everything that changes after
   * the subscriber's own list is sent to it. Returns the function that removes it.
   */
  async subscribe(s: Subscriber): Promise<() => void> {
    if (this.last === undefined) this.last = await readSnapshot(this.ctx);
    this.subscribers.add(s);
    if (!this.running) {
      this.running = true;
      this.schedule(++this.run, WATCH_POLL_MS);
    }
    return () => {
      this.subscribers.delete(s);
      if (this.subscribers.size === 0) this.stop();
    };
  }

  stop(): void {
    this.running = false;
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
    try {
      const prev = this.last;
      const next = await readSnapshot(this.ctx, prev);
      if (run !== this.run) return;
      this.last = next;
      if (prev !== undefined) for (const m of diffSnapshots(prev, next)) for (const s of this.subscribers) s.send(m);
    } catch (err) {
      this.ctx.log.warn(`watch: reading the store failed, trying again next tick: ${(err as Error).message}`);
    }
    if (run === this.run) this.schedule(run, Math.max(WATCH_POLL_MS, 10 * (performance.now() - started)));
  }
}

/** One SSE frame: `event:` and a single `data:` line (JSON has no raw newlines). */
function frame(event: WatchEventName, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Whether the token behind a stream still exists (a deleted token ends its streams). */
async function tokenStillValid(store: Store, tokenId: string): Promise<boolean> {
  return (await store.getApiToken(tokenId)) !== undefined;
}

/** Latest values of one metric across the fleet, cached briefly. */
function latestValues(ctx: ServerContext) {
  const cache = new Map<string, { at: number; items: Promise<Array<{ nodeId: string; value: number; t: number }>> }>();
  return (name: string) => {
    const now = Date.now();
    const hit = cache.get(name);
    if (hit !== undefined && now - hit.at < LATEST_CACHE_MS) return hit.items;
    const items = (async () => {
      const nodes = await ctx.store.listNodes();
      const out: Array<{ nodeId: string; value: number; t: number }> = [];
      // Bounded concurrency: a pg pool has a handful of connections; SQLite runs them in turn anyway.
      for (let i = 0; i < nodes.length; i += 32) {
        const batch = nodes.slice(i, i + 32);
        const rows = await Promise.all(batch.map((n) => ctx.store.getNodeTelemetry(n.id)));
        rows.forEach((row, j) => {
          if (row === undefined) return;
          // The node-level series: the one with the fewest labels (every series carries the
          // stamped node and site; per-deployment or per-interface ones carry more).
          let s: LatestSample | undefined;
          for (const x of row.latest) if (x.name === name && (s === undefined || Object.keys(x.labels).length < Object.keys(s.labels).length)) s = x;
          if (s !== undefined) out.push({ nodeId: (batch[j] as NodeRecord).id, value: s.value, t: s.t });
        });
      }
      return out;
    })();
    cache.set(name, { at: now, items });
    items.catch(() => cache.delete(name));
    return items;
  };
}

const LatestQuery = z.object({ name: z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'must be a Prometheus metric name') });

/** `GET /v1/watch`, `GET /v1/whoami`, `GET /v1/telemetry/latest`. */
export function watchRoutes(app: Api, ctx: ServerContext): void {
  const watch = new FleetWatch(ctx);
  const open = new Set<() => void>();
  const latest = latestValues(ctx);

  app.get('/v1/whoami', async (request) => {
    const who = await authenticateOperator(ctx.store, request, 'viewer');
    return { role: who.role, tokenId: who.tokenId };
  });

  app.get('/v1/telemetry/latest', async (request) => {
    await authenticateOperator(ctx.store, request, 'viewer');
    const { name } = parseWith(LatestQuery, request.query, 'query');
    return { name, items: await latest(name) };
  });

  app.get('/v1/watch', async (request, reply) => {
    // The token comes in the Authorization header only (the dashboard reads the stream with
    // fetch), so it never lands in a URL, a history entry or an access log.
    const who = await authenticateOperator(ctx.store, request, 'viewer');
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
      // The socket goes with the stream: a kept-alive socket would hold the server's shutdown open.
      connection: 'close',
    });
    let closed = false;
    let unsubscribe: (() => void) | undefined;
    const heartbeat = setInterval(() => {
      tokenStillValid(ctx.store, who.tokenId).then(
        (valid) => (valid ? write(': heartbeat\n\n') : close()),
        () => write(': heartbeat\n\n'),
      );
    }, WATCH_HEARTBEAT_MS);
    const close = (): void => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      unsubscribe?.();
      open.delete(close);
      res.end();
    };
    const write = (text: string): void => {
      if (closed) return;
      if (res.writableLength > MAX_BUFFERED_BYTES) {
        request.log.info('watch: client reads too slowly, closing its stream (it relists on reconnect)');
        close();
        return;
      }
      res.write(text);
    };
    open.add(close);
    request.raw.on('close', close);
    res.on('error', close);
    try {
      unsubscribe = await watch.subscribe({ send: (m) => write(frame(m.event, m.data)) });
    } catch (err) {
      request.log.warn(`watch: cannot read the store: ${(err as Error).message}`);
      close();
      return;
    }
    if (closed) {
      unsubscribe();
      return;
    }
    // `retry` tells EventSource-style clients how long to wait before reconnecting.
    write(`retry: 2000\n${frame('hello', { pollMs: WATCH_POLL_MS, heartbeatMs: WATCH_HEARTBEAT_MS, role: who.role })}`);
  });

  // Open streams would keep `close()` waiting for their sockets: end them first.
  app.addHook('preClose', async () => {
    for (const close of [...open]) close();
    watch.stop();
  });
}
