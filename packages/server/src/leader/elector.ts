import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { LeaseFencedError, type Store } from '../store/index.js';
import { applyLeaseEvent, DEFAULT_LEASE_TIMING, INITIAL_LEASE_STATE, type LeaseEvent, type LeaseState, type LeaseTiming, nextLeaseStep } from './lease.js';

/** The one lease server replicas elect their leader with. */
export const LEADER_LEASE = 'leader';

/** Work only the leader does (rollout controller, GitOps polling, retention): started on gaining the lease, stopped on losing it. */
export interface SingletonWork {
  readonly name: string;
  start(): void;
  /** Stops the work and settles once nothing of it runs any more. */
  stop(): Promise<void>;
}

/** What singleton writes call inside their unit of work: throws unless this replica still leads under the term its work started with. */
export type Fence = (tx: Store) => Promise<void>;

/** A unique, readable name for this replica: host, pid and a random suffix. */
export function newReplicaId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/**
 * The executor of the lease machine (lease.ts) over the store: acquires and renews the
 * leader lease on a timer, starts the singleton work when it gains the lease and stops it
 * when it loses it (a renewal refused, or its local deadline passed without a renewal), and
 * provides the fence singleton writes check inside their transaction. Times are monotonic
 * (performance.now()); expiry itself is judged by the database's clock.
 */
export class LeaderElector {
  private state: LeaseState = INITIAL_LEASE_STATE;
  /** The term the singleton work runs under; undefined while it does not run. */
  private workTerm: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Fires at a leader's deadline even while a store call hangs (a pool waiting for a connection never fails on its own). */
  private deadlineTimer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private stopped = true;
  private suspended = false;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly work: readonly SingletonWork[],
    readonly replica: string = newReplicaId(),
    readonly timing: LeaseTiming = DEFAULT_LEASE_TIMING,
  ) {
    if (!(timing.renewMs > 0 && timing.leaseMs > timing.renewMs)) {
      throw new Error(`lease timing: renewal every ${timing.renewMs} ms must be shorter than the lease of ${timing.leaseMs} ms`);
    }
  }

  /** True while this replica runs the singleton work. */
  get isLeader(): boolean {
    return this.workTerm !== undefined;
  }

  /** The term this replica leads under (undefined when it does not), or the newest term it saw. */
  get term(): number | undefined {
    return this.workTerm ?? this.state.term ?? undefined;
  }

  /** Starts electing: the first attempt runs now. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops the work, releases the lease (another replica takes it at once) and stops electing. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.deadlineTimer);
    await this.loop;
    const term = this.workTerm;
    if (term !== undefined) {
      await this.stopWork(term, 'released');
      await this.store.leases
        .releaseLease(LEADER_LEASE, this.replica, term)
        .catch((err: unknown) => this.log.warn({ err }, 'releasing the leader lease failed; it expires on its own'));
    }
  }

  /**
   * Test seam: the replica stops renewing and checking its deadline, as a paused or
   * partitioned process does, while its work keeps its term (until `resume`).
   */
  suspend(): void {
    this.suspended = true;
    clearTimeout(this.timer);
    clearTimeout(this.deadlineTimer);
  }

  resume(): void {
    this.suspended = false;
    if (!this.stopped) this.schedule(0);
  }

  /** The fence of the work running now (see {@link Fence}). */
  readonly fence: Fence = async (tx) => {
    const term = this.workTerm;
    if (term === undefined) throw new LeaseFencedError(LEADER_LEASE, this.state.term ?? 0, undefined);
    await tx.leases.assertLeaseTerm(LEADER_LEASE, term);
  };

  private schedule(ms: number): void {
    if (this.stopped || this.suspended) return;
    this.timer = setTimeout(() => {
      this.loop = this.step().finally(() => {
        this.loop = undefined;
      });
    }, ms);
    this.timer.unref();
  }

  /** One step of the machine: check the deadline, then acquire, renew or wait. */
  private async step(): Promise<void> {
    await this.apply({ kind: 'tick', now: performance.now() });
    const step = nextLeaseStep(this.state, performance.now());
    if (step.kind === 'wait') {
      this.schedule(Math.max(0, step.until - performance.now()));
      return;
    }
    const sentAt = performance.now();
    let event: LeaseEvent;
    try {
      if (step.kind === 'acquire') {
        const r = await this.store.leases.tryAcquireLease(LEADER_LEASE, this.replica, this.timing.leaseMs);
        event =
          r.term !== undefined ? { kind: 'acquired', term: r.term, sentAt } : { kind: 'not-acquired', term: r.current?.term ?? null, at: performance.now() };
      } else {
        const renewed = await this.store.leases.renewLease(LEADER_LEASE, this.replica, step.term, this.timing.leaseMs);
        if (renewed) event = { kind: 'renewed', sentAt };
        else event = { kind: 'superseded', term: (await this.store.leases.getLease(LEADER_LEASE).catch(() => undefined))?.term ?? null, at: performance.now() };
      }
    } catch (err) {
      if (this.state.role === 'leader')
        this.log.warn({ err, term: this.state.term }, 'renewing the leader lease failed; still leading until the lease runs out');
      event = { kind: 'failed', at: performance.now() };
    }
    if (this.stopped) {
      // A lease taken while stopping is given back by stop().
      if (event.kind === 'acquired') this.workTerm = undefined;
      this.state = applyLeaseEvent(this.state, event, this.timing).state;
      if (event.kind === 'acquired') await this.store.leases.releaseLease(LEADER_LEASE, this.replica, event.term).catch(() => {});
      return;
    }
    await this.apply(event);
    // A deadline that passed while the call was under way ends the work now.
    await this.apply({ kind: 'tick', now: performance.now() });
    this.schedule(0);
  }

  private async apply(event: LeaseEvent): Promise<void> {
    const { state, effect } = applyLeaseEvent(this.state, event, this.timing);
    this.state = state;
    this.armDeadline();
    if (effect?.kind === 'start') {
      this.workTerm = effect.term;
      this.log.info(
        { replica: this.replica, term: effect.term },
        `this replica is the leader now (lease term ${effect.term}): running the rollout controller, GitOps polling and retention`,
      );
      for (const w of this.work) w.start();
    } else if (effect?.kind === 'stop') {
      await this.stopWork(effect.term, effect.reason);
    }
  }

  /** While leading, a timer at the deadline applies a tick: the work stops on time whatever the store does. */
  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    const state = this.state;
    if (state.role !== 'leader' || this.stopped || this.suspended) return;
    this.deadlineTimer = setTimeout(
      () => {
        void this.apply({ kind: 'tick', now: performance.now() }).catch((err: unknown) =>
          this.log.error({ err }, 'stopping singleton work at the lease deadline failed'),
        );
      },
      Math.max(0, state.deadline - performance.now()),
    );
    this.deadlineTimer.unref();
  }

  private async stopWork(term: number, reason: 'superseded' | 'expired' | 'released'): Promise<void> {
    // Fence first: writes in flight fail from now on, before the work has wound down.
    this.workTerm = undefined;
    const why =
      reason === 'superseded'
        ? 'another replica holds the lease now'
        : reason === 'expired'
          ? 'the lease could not be renewed in time'
          : 'this replica is stopping';
    this.log.warn({ replica: this.replica, term, reason }, `this replica lost the leader lease (term ${term}): ${why}; singleton work stopped`);
    for (const w of this.work) await w.stop().catch((err: unknown) => this.log.error({ err, work: w.name }, 'stopping singleton work failed'));
  }
}
