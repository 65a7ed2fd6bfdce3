import { canonicalJson, matchesSelector, RolloutStrategySchema } from '@edgefleet/protocol';
import type { ServerContext } from '../context.js';
import { selectorOf } from '../deployments/plan-apply.js';
import { effectiveLabels, nodeStatus } from '../nodes/view.js';
import {
  type NodeWorkloadStats,
  parseRolloutState,
  planRollout,
  type RolloutCommand,
  type RolloutNode,
  type RolloutPlan,
  type RolloutState,
  statsWindow,
} from '../rollouts/index.js';
import type { DeploymentRecord } from '../store/index.js';

/** Stats older than this are dropped: rollout gates never look further back than a step. */
export const STATS_RETENTION_MS = 24 * 3_600_000;

/**
 * The rollout controller: the executor around the pure rollout planner. Every pass, for
 * each deployment with `spec.rollout`, it gathers the planner's input from the store,
 * plans, and persists the new state with its events and the commands it consumed in one
 * transaction *before* acting — and acting is only telling agents that desired state
 * changed, because desired state is derived from the persisted state. A server killed at
 * any point therefore resumes without repeating or skipping a step or losing an event.
 * With several replicas on PostgreSQL, one holds an advisory lock and runs the passes.
 */
export class RolloutController {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastPrune = 0;

  constructor(
    private readonly ctx: ServerContext,
    private readonly intervalMs = 1_000,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.kick(), this.intervalMs);
    this.timer.unref();
    this.kick();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Runs a pass now unless one is under way. */
  kick(): void {
    if (this.running !== undefined) return;
    this.running = this.ctx.store
      .withAdvisoryLock('edgefleet:rollouts', 'try', () => this.pass())
      .then(
        () => undefined,
        (err: unknown) => this.ctx.log.error({ err }, 'rollout pass failed'),
      )
      .finally(() => {
        this.running = undefined;
      });
  }

  /** One pass over every deployment with a rollout strategy. */
  async pass(): Promise<void> {
    const now = this.ctx.clock();
    for (const d of await this.ctx.store.listDeployments()) {
      if (d.spec.rollout === undefined) continue;
      await this.reconcile(d, now);
    }
    if (now - this.lastPrune > 60_000) {
      this.lastPrune = now;
      await this.ctx.store.pruneWorkloadStats(now - STATS_RETENTION_MS);
    }
  }

  /** Plans and persists one deployment's rollout; returns the plan (for status and tests). */
  async reconcile(d: DeploymentRecord, now = this.ctx.clock()): Promise<RolloutPlan> {
    const stored = await this.ctx.store.getRollout(d.name);
    const state: RolloutState | null = stored === undefined ? null : parseRolloutState(stored);
    const commands = await this.ctx.store.listRolloutCommands(d.name);
    const window = statsWindow(state);
    const stats: NodeWorkloadStats[] = window === null ? [] : await this.ctx.store.listWorkloadStats(d.name, window.from);
    const plan = planRollout({
      deployment: d.name,
      strategy: RolloutStrategySchema.parse(d.spec.rollout),
      revision: d.revision,
      fromRevision: await this.previousRevision(d),
      nodes: await this.targetedNodes(d, now),
      state,
      stats,
      commands: commands.map((c) => c.command as RolloutCommand),
      now,
    });
    const events = plan.actions.flatMap((a) => (a.action === 'event' ? [{ seq: a.event.seq, at: a.event.at, event: a.event }] : []));
    const changed = state === null || canonicalJson(state) !== canonicalJson(plan.state);
    if (changed || events.length > 0 || commands.length > 0) {
      await this.ctx.store.saveRollout(
        d.name,
        plan.state,
        events,
        commands.map((c) => c.id),
        now,
      );
    }
    // Desired state is derived from the persisted rollout state; agents only need a nudge.
    if (plan.actions.some((a) => a.action === 'assign' || a.action === 'rollback' || a.action === 'finish')) this.ctx.events.emit('desired');
    return plan;
  }

  /** The revision the fleet ran before the current one (null for a first revision). */
  private async previousRevision(d: DeploymentRecord): Promise<number | null> {
    const earlier = (await this.ctx.store.listRevisions(d.name)).filter((r) => r.revision < d.revision);
    return earlier.at(-1)?.revision ?? null;
  }

  /** Every node the selector targets, with what it reports about this deployment. */
  async targetedNodes(d: DeploymentRecord, now: number): Promise<RolloutNode[]> {
    const selector = selectorOf(d.spec.selector);
    const reports = new Map((await this.ctx.store.listNodeWorkloads({ deployment: d.name })).map((w) => [w.nodeId, w.status]));
    return (await this.ctx.store.listNodes())
      .filter((n) => matchesSelector(selector, effectiveLabels(n)))
      .map((n) => {
        const w = reports.get(n.id);
        return {
          id: n.id,
          labels: effectiveLabels(n),
          online: nodeStatus(n, now, this.ctx.heartbeatIntervalMs) === 'online',
          lastSeen: n.lastSeen,
          workload: w === undefined ? null : { revision: w.revision, state: w.state, servingRevision: w.servingRevision ?? null },
        };
      });
  }
}
