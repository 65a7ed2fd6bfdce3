import { canonicalJson, RolloutStrategySchema } from '@edgefleet/protocol';
import type { ServerContext } from '../context.js';
import { parseRolloutState, planRollout, type RolloutCommand, type RolloutNode, type RolloutPlan, type RolloutState } from '../rollouts/index.js';
import { rolloutNodesOf } from '../rollouts/view.js';
import { type DeploymentRecord, LeaseFencedError, type RolloutStallRecord, type Store } from '../store/index.js';
import { KeptSamples } from './kept-samples.js';
import { describeCause, RolloutStalledError, stallChange } from './stall.js';

/** What the controller needs of the server: the store, the clock, a logger, the desired-state nudge. */
type RolloutControllerContext = Pick<ServerContext, 'store' | 'clock' | 'log' | 'heartbeatIntervalMs' | 'events' | 'leader'>;

/** Stats older than this are dropped: rollout gates never look further back than a step. */
const STATS_RETENTION_MS = 24 * 3_600_000;

/**
 * The rollout controller: the executor around the pure rollout planner. Every pass, for
 * each deployment with `spec.rollout`, it gathers the planner's input from the store,
 * plans, and persists the new state with its events and the commands it consumed in one
 * transaction *before* acting — and acting is only telling agents that desired state
 * changed, because desired state is derived from the persisted state. A server killed at
 * any point therefore resumes without repeating or skipping a step or losing an event.
 * With several replicas on PostgreSQL, only the elected leader runs it (leader/elector.ts
 * starts and stops it), and every write it makes is fenced: it commits only while the
 * leader's lease term is still current, so an old leader paused mid-pass can never apply a
 * step or journal an event a newer leader has already applied (`LeaseFencedError`).
 * The window's stats samples and the gates' aggregates are kept between passes
 * (`kept-samples.ts`): a pass reads only the nodes that reported since the last one.
 *
 * Deployments are reconciled independently: one whose stored state cannot be read or whose
 * plan fails gets a `Stalled` condition (`stall.ts`) and the pass goes on with the others;
 * a store error on one is logged (once per cause) and retried at the next pass.
 */
export class RolloutController {
  private timer: NodeJS.Timeout | undefined;
  /** Between start() and stop(): only then do kicks (operator commands) run a pass. */
  private active = false;
  private running: Promise<void> | undefined;
  private lastPrune = 0;
  /** The last store error logged per deployment, so a failing store is logged once per cause, not every second. */
  private readonly transient = new Map<string, string>();
  /** Each active rollout's stats samples and gate aggregates, kept between passes (`kept-samples.ts`). */
  readonly samples: KeptSamples;

  constructor(
    private readonly ctx: RolloutControllerContext,
    private readonly intervalMs = 1_000,
  ) {
    this.samples = new KeptSamples(ctx.store);
  }

  start(): void {
    if (this.active) return;
    this.active = true;
    this.timer = setInterval(() => this.kick(), this.intervalMs);
    this.timer.unref();
    this.kick();
  }

  /** True between start() and stop(): on a replica, only while it leads. */
  get started(): boolean {
    return this.active;
  }

  /** Stops the passes and settles once the one under way has. start() may run it again. */
  async stop(): Promise<void> {
    this.active = false;
    clearInterval(this.timer);
    await this.running;
    this.samples.forgetAll();
  }

  /** Runs a pass now unless one is under way or the controller is stopped (a replica that does not lead). */
  kick(): void {
    if (!this.active || this.running !== undefined) return;
    // No advisory lock: the lease decides who runs passes and the fence guards every write. (A
    // lock would let an old leader, fenced out but still passing, starve the new leader's passes.)
    this.running = this.pass()
      .then(
        () => undefined,
        (err: unknown) =>
          err instanceof LeaseFencedError ? this.ctx.log.warn(`rollout pass stopped: ${err.message}`) : this.ctx.log.error({ err }, 'rollout pass failed'),
      )
      .finally(() => {
        this.running = undefined;
      });
  }

  /** One pass over every deployment with a rollout strategy, each on its own (see the class). */
  async pass(): Promise<void> {
    const now = this.ctx.clock();
    const stalls = new Map((await this.ctx.store.listRolloutStalls()).map((s) => [s.deployment, s]));
    const staged = new Set<string>();
    for (const d of await this.ctx.store.listDeployments()) {
      if (d.spec.rollout === undefined) continue;
      staged.add(d.name);
      await this.reconcileOnItsOwn(d, now, stalls.get(d.name));
      stalls.delete(d.name);
    }
    for (const name of this.samples.deployments()) if (!staged.has(name)) this.samples.forget(name);
    // Deployments deleted, or without a rollout strategy now: nothing is stalled any more.
    for (const stall of stalls.values()) await this.recordStall(stall.deployment, stall.revision, stall, null, now);
    if (now - this.lastPrune > 60_000) {
      this.lastPrune = now;
      await this.fenced((tx) => tx.pruneWorkloadStats(now - STATS_RETENTION_MS));
      this.samples.noteRetention(now - STATS_RETENTION_MS);
    }
  }

  /** Reconciles one deployment; whatever fails there is recorded or logged, never thrown. */
  private async reconcileOnItsOwn(d: DeploymentRecord, now: number, stall: RolloutStallRecord | undefined): Promise<void> {
    let failure: RolloutStalledError | null = null;
    try {
      await this.reconcile(d, now);
      this.transient.delete(d.name);
    } catch (err) {
      // Fenced out: this replica does not lead any more; the pass ends here, nothing more is written.
      if (err instanceof LeaseFencedError) throw err;
      if (!(err instanceof RolloutStalledError)) {
        // A store error: nothing is known to be wrong with the deployment; retried next pass.
        const cause = describeCause(err);
        if (this.transient.get(d.name) !== cause) this.ctx.log.error({ err, deployment: d.name }, 'rollout pass failed for this deployment; retrying');
        this.transient.set(d.name, cause);
        return;
      }
      failure = err;
    }
    try {
      await this.recordStall(d.name, d.revision, stall, failure, now);
    } catch (err) {
      this.ctx.log.error({ err, deployment: d.name }, 'cannot record the rollout condition; retrying');
    }
  }

  /** Writes and logs the deployment's Stalled condition when it changes (`stallChange`). */
  private async recordStall(
    deployment: string,
    revision: number,
    previous: RolloutStallRecord | undefined,
    failure: RolloutStalledError | null,
    now: number,
  ): Promise<void> {
    const c = stallChange(previous, failure, deployment, revision, now);
    if (c.change === 'stalled') {
      await this.fenced((tx) => tx.saveRolloutStall(c.stall));
      this.ctx.log.error({ deployment, reason: c.stall.reason, err: failure?.cause }, `rollout stalled: ${c.stall.message}`);
    } else if (c.change === 'cleared') {
      await this.fenced((tx) => tx.clearRolloutStall(deployment));
      this.ctx.log.info({ deployment, reason: c.previous.reason }, 'rollout no longer stalled');
    }
  }

  /**
   * Plans and persists one deployment's rollout; returns the plan (for status and tests).
   * Throws a `RolloutStalledError` when the deployment's own data stops it (see `stall.ts`).
   */
  async reconcile(d: DeploymentRecord, now = this.ctx.clock()): Promise<RolloutPlan> {
    const state = await this.storedState(d.name);
    const commands = await this.ctx.store.listRolloutCommands(d.name);
    const fromRevision = await this.previousRevision(d);
    const nodes = await this.targetedNodes(d, now);
    // The window's samples, read only where nodes reported since the last pass.
    const samples = await this.samples.forPass(d.name, state, nodes, now);
    if (samples !== null) for (const n of nodes) n.stats = samples.byNode.get(n.id);
    let plan: RolloutPlan;
    try {
      plan = planRollout({
        deployment: d.name,
        strategy: RolloutStrategySchema.parse(d.spec.rollout),
        revision: d.revision,
        fromRevision,
        nodes,
        state,
        ...(samples === null ? {} : { aggregates: samples.aggregates }),
        commands: commands.map((c) => c.command as RolloutCommand),
        now,
      });
    } catch (err) {
      throw new RolloutStalledError(
        'PlanningFailed',
        `planning the rollout of revision ${d.revision} failed: ${describeCause(err)}; retried every pass (a new revision that plans clears it)`,
        { cause: err },
      );
    }
    const events = plan.actions.flatMap((a) => (a.action === 'event' ? [{ seq: a.event.seq, at: a.event.at, event: a.event }] : []));
    const changed = state === null || canonicalJson(state) !== canonicalJson(plan.state);
    if (changed || events.length > 0 || commands.length > 0) {
      await this.fenced((tx) =>
        tx.saveRollout(
          d.name,
          plan.state,
          events,
          commands.map((c) => c.id),
          now,
        ),
      );
    }
    // Desired state is derived from the persisted rollout state; agents only need a nudge.
    if (plan.actions.some((a) => a.action === 'assign' || a.action === 'rollback' || a.action === 'finish')) this.ctx.events.emit('desired');
    return plan;
  }

  /**
   * Runs a write in one unit of work with the leader's fence (when the server elects one):
   * it commits only if this replica's lease term is still current, else throws
   * `LeaseFencedError` and nothing is written.
   */
  private async fenced<T>(write: (tx: Store) => Promise<T>): Promise<T> {
    const leader = this.ctx.leader;
    if (leader === undefined) return write(this.ctx.store);
    return this.ctx.store.transaction(async (tx) => {
      await leader.fence(tx);
      return write(tx);
    });
  }

  /** The stored rollout state (null before the first rollout); a `RolloutStalledError` when it cannot be read. */
  private async storedState(deployment: string): Promise<RolloutState | null> {
    let stored: unknown;
    try {
      stored = await this.ctx.store.getRollout(deployment);
    } catch (err) {
      // The store parses the row's JSON; any other error is the store's own (transient).
      if (!(err instanceof SyntaxError)) throw err;
      throw invalidState(err);
    }
    if (stored === undefined) return null;
    try {
      return parseRolloutState(stored);
    } catch (err) {
      throw invalidState(err);
    }
  }

  /** The revision the fleet ran before the current one (null for a first revision). */
  private async previousRevision(d: DeploymentRecord): Promise<number | null> {
    const earlier = (await this.ctx.store.listRevisions(d.name)).filter((r) => r.revision < d.revision);
    return earlier.at(-1)?.revision ?? null;
  }

  /** Every node the selector targets, with what it reports about this deployment. */
  async targetedNodes(d: DeploymentRecord, now: number): Promise<RolloutNode[]> {
    const reports = new Map((await this.ctx.store.listNodeWorkloads({ deployment: d.name })).map((w) => [w.nodeId, w.status]));
    return rolloutNodesOf(d, await this.ctx.store.listNodeLabels(), reports, now, this.ctx.heartbeatIntervalMs);
  }
}

function invalidState(cause: unknown): RolloutStalledError {
  return new RolloutStalledError(
    'RolloutStateInvalid',
    `the stored rollout state cannot be read (${describeCause(cause)}); it is kept as it is and this rollout waits until the stored state reads again`,
    { cause },
  );
}
