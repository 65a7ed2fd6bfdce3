import type { LocalArtifactStore } from '../artifacts/index.js';
import type { NodeObserver } from '../probe/node-observer.js';
import type { AgentContext } from '../session/context.js';
import type { WakeableSleep } from '../wakeable-sleep.js';
import { plan } from './planner.js';
import { primaryRetryDelayMs } from './retry-delays.js';
import type { WorkloadSupervisor } from './supervisor.js';
import type { VerifiedWorkload } from './types.js';

/** What the reconcile loop needs beside the agent's context. */
interface ReconcileParts {
  readonly supervisor: WorkloadSupervisor;
  readonly artifacts: LocalArtifactStore;
  readonly observer: NodeObserver;
  /** The desired workloads, verified. */
  readonly desired: () => readonly VerifiedWorkload[];
  /** Its wait between passes; woken by anything the next plan should see. */
  readonly wait: WakeableSleep;
  /** Called when the workload statuses changed (report them now). */
  readonly onStatusChange: () => void;
}

/**
 * The reconcile loop: plans (workloads/planner.ts) and executes workload steps on every
 * change and at a steady interval, and keeps `state.workloads` as the planner reports them.
 */
export class ReconcileLoop {
  constructor(
    private readonly ctx: AgentContext,
    private readonly parts: ReconcileParts,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    const { opts, state, log } = this.ctx;
    const { supervisor, artifacts, observer, wait } = this.parts;
    const interval = opts.workloads?.reconcileIntervalMs ?? 1_000;
    const threshold = opts.workloads?.crashLoopThreshold ?? 3;
    const retry = opts.workloads?.primaryRetryDelayMs ?? ((n: number) => primaryRetryDelayMs(n, threshold));
    while (!signal.aborted) {
      try {
        const result = plan({
          now: this.ctx.clock(),
          desired: this.parts.desired(),
          known: supervisor.knownReleases(),
          local: supervisor.observe(),
          artifacts: new Set(artifacts.list()),
          downloadFailures: supervisor.downloadFailures,
          hasAccelerator: observer.hasAccelerator,
          primaryRetryDelayMs: retry,
          crashLoopThreshold: threshold,
          images: supervisor.images(),
          imageFailures: supervisor.imageFailures,
          containerEngine: supervisor.containerEngine,
          sitePorts: supervisor.sitePortHolders(),
          endpointFailures: supervisor.endpointFailures,
        });
        await supervisor.execute(result.steps);
        if (JSON.stringify(result.statuses) !== JSON.stringify(state.workloads)) {
          state.workloads = result.statuses;
          // Report workload changes now rather than at the next heartbeat.
          this.parts.onStatusChange();
        }
        // After acting, look again soon (a promoted instance, a started download) but never
        // spin: steps such as an in-flight download repeat until it ends.
        if (result.steps.length > 0) {
          await wait.wait(Math.min(interval, 100), signal);
          continue;
        }
      } catch (err) {
        log.error(`reconcile failed: ${(err as Error).message}`);
      }
      await wait.wait(interval, signal);
    }
  }
}
