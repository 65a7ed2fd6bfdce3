/**
 * What one watch stream may carry for its token: the shared poller (fleet-watch.ts) sends
 * the same changes to everyone, and this filter drops what the caller's list routes would
 * not show it. Viewers get no audit entries (the audit route is for operators); a token
 * limited to sites gets only its sites' nodes and alerts, the deployments in its scope and
 * their rollouts and events, and only the audit entries it made (auth/scope.ts).
 */
import type { AlertView, AuditEntry, DeploymentView, Node, RolloutEventView, RolloutStatus } from '@edgefleet/protocol';
import { roleAllows } from '../auth/roles.js';
import { deploymentInScope, isFleetWide, nodeInScope } from '../auth/scope.js';
import type { ServerContext } from '../context.js';
import type { TokenCaller } from '../http/auth.js';
import type { WatchEventName } from './fleet-watch.js';

/** One change of the stream, as the poller sends it. */
export interface ScopedMessage {
  event: Exclude<WatchEventName, 'hello'>;
  data: unknown;
}

interface Keyed<T> {
  upserted: T[];
  deleted: string[];
}

/** Filters a stream's messages by its token's role and sites; stateful (it remembers which keys it let through). */
export class WatchScopeFilter {
  private constructor(
    private readonly caller: Pick<TokenCaller, 'role' | 'sites' | 'tokenId'>,
    /** Node ids and deployment names this stream may see; unused for a fleet-wide token. */
    private readonly nodes: Set<string>,
    private readonly deployments: Set<string>,
  ) {}

  /** The filter of a stream opened now: reads which nodes and deployments are in scope at the start. */
  static async create(ctx: Pick<ServerContext, 'store'>, caller: Pick<TokenCaller, 'role' | 'sites' | 'tokenId'>): Promise<WatchScopeFilter> {
    if (isFleetWide(caller)) return new WatchScopeFilter(caller, new Set(), new Set());
    const [nodes, deployments] = await Promise.all([ctx.store.listNodes(), ctx.store.listDeployments()]);
    return new WatchScopeFilter(
      caller,
      new Set(nodes.filter((n) => nodeInScope(caller, n)).map((n) => n.id)),
      new Set(deployments.filter((d) => deploymentInScope(caller, d)).map((d) => d.name)),
    );
  }

  /** The message as this stream may see it, or undefined when nothing of it is for it. */
  filter(m: ScopedMessage): ScopedMessage | undefined {
    if (m.event === 'audit') return this.audit(m.data as { items: AuditEntry[] });
    if (isFleetWide(this.caller)) return m;
    switch (m.event) {
      case 'nodes':
        return this.keyed(
          'nodes',
          m.data as Keyed<Node>,
          this.nodes,
          (n) => n.id,
          (n) => nodeInScope(this.caller, n),
        );
      case 'deployments':
        return this.keyed(
          'deployments',
          m.data as Keyed<DeploymentView>,
          this.deployments,
          (d) => d.metadata.name,
          (d) => deploymentInScope(this.caller, d),
        );
      case 'rollouts': {
        const data = m.data as Keyed<RolloutStatus>;
        return nonEmpty('rollouts', {
          upserted: data.upserted.filter((r) => this.deployments.has(r.deployment)),
          deleted: data.deleted.filter((name) => this.deployments.has(name)),
        });
      }
      case 'alerts': {
        // Always sent (the whole firing list), so a stream sees its sites' alerts clear too.
        const items = (m.data as { items: AlertView[] }).items.filter((a) => this.nodes.has(a.nodeId));
        return { event: 'alerts', data: { items } };
      }
      case 'events': {
        const items = (m.data as { items: RolloutEventView[] }).items.filter((e) => this.deployments.has(e.deployment));
        return items.length === 0 ? undefined : { event: 'events', data: { items } };
      }
    }
  }

  private audit(data: { items: AuditEntry[] }): ScopedMessage | undefined {
    if (!roleAllows(this.caller.role, 'operator')) return undefined;
    if (isFleetWide(this.caller)) return { event: 'audit', data };
    const mine = `token:${this.caller.tokenId}`;
    return { event: 'audit', data: { items: data.items.filter((e) => e.actor === mine) } };
  }

  /**
   * Upserts in scope pass and are remembered; an upsert of a remembered key that left the
   * scope (a node relabelled to another site) becomes a delete; deletes pass only for keys
   * the stream knew, so it never learns other sites' ids.
   */
  private keyed<T>(
    event: 'nodes' | 'deployments',
    data: Keyed<T>,
    known: Set<string>,
    keyOf: (item: T) => string,
    inScope: (item: T) => boolean,
  ): ScopedMessage | undefined {
    const upserted: T[] = [];
    const deleted: string[] = [];
    for (const item of data.upserted) {
      const key = keyOf(item);
      if (inScope(item)) {
        known.add(key);
        upserted.push(item);
      } else if (known.delete(key)) {
        deleted.push(key);
      }
    }
    for (const key of data.deleted) if (known.delete(key)) deleted.push(key);
    return nonEmpty(event, { upserted, deleted });
  }
}

function nonEmpty(event: 'nodes' | 'deployments' | 'rollouts', data: Keyed<unknown>): ScopedMessage | undefined {
  return data.upserted.length === 0 && data.deleted.length === 0 ? undefined : { event, data };
}
