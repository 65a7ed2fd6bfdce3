import type { Clock } from '../clock.js';
import type { ServerContext } from '../context.js';
import { passInFlight, syncSource } from './reconcile.js';
import type { RepositoryOpener } from './repository.js';
import { isDue } from './status.js';

/** Options of {@link SourcePoller}. */
interface SourcePollerOptions {
  /** Time for due checks and status times; default the server's clock. */
  clock?: Clock;
  /** How often the poller looks for due sources (default 1 s); each source keeps its own interval. */
  tickMs?: number;
  /** How repositories are opened; tests may substitute one. */
  openRepository?: RepositoryOpener;
}

/**
 * Polls every GitOps source at its interval. Each tick lists the sources and starts a pass
 * for every one that is due — due by the time of its last pass *as stored*, so replicas
 * sharing a PostgreSQL database agree on it. Only the elected leader runs the poller
 * (leader/elector.ts), its applies are fenced by the leader's lease term, and the advisory
 * lock in the pass stays as a second guard. A source whose pass is still running is skipped, never overlapped.
 */
export class SourcePoller {
  private readonly clock: Clock;
  private readonly tickMs: number;
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  /** Ticks that have not settled yet; stop() waits for them. */
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly ctx: ServerContext,
    private readonly opts: SourcePollerOptions = {},
  ) {
    this.clock = opts.clock ?? ctx.clock;
    this.tickMs = opts.tickMs ?? 1_000;
  }

  /** Starts ticking (the first tick comes after one tickMs). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  /** Stops ticking and waits for the passes that are running. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.running]);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      // Not awaited: one slow clone must not hold back the next tick's other sources.
      const tick = this.tick().catch((err: unknown) => this.ctx.log.error({ err }, 'source poller tick failed'));
      this.running.add(tick);
      void tick.finally(() => this.running.delete(tick));
      this.schedule();
    }, this.tickMs);
    this.timer.unref();
  }

  /** One round: starts a pass for every due source not already being polled; settles when they have. */
  async tick(): Promise<void> {
    const now = this.clock();
    const due = (await this.ctx.store.listSources()).filter((s) => isDue(s, now) && !passInFlight(this.ctx, s.name));
    await Promise.all(
      due.map((s) =>
        syncSource(this.ctx, s.name, {
          mode: 'due',
          clock: this.clock,
          ...(this.ctx.leader === undefined ? {} : { fence: this.ctx.leader.fence }),
          ...(this.opts.openRepository === undefined ? {} : { openRepository: this.opts.openRepository }),
        }).catch((err: unknown) => this.ctx.log.error({ err, source: s.name }, 'source pass failed')),
      ),
    );
  }
}
