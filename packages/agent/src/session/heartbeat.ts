import { backoffDelay, type StatusRequest } from '@edgefleet/protocol';
import { sha256Hex } from '@edgefleet/protocol/node';
import type { NodeObserver } from '../probe/node-observer.js';
import type { NodeTelemetry } from '../telemetry/node-telemetry.js';
import { jitteredInterval, renewalDueAt } from '../timing.js';
import type { WakeableSleep } from '../wakeable-sleep.js';
import type { WorkloadStatsCollector } from '../workloads/stats.js';
import type { AgentContext } from './context.js';
import { isFatal, retryAfterMs } from './fatal.js';
import type { AgentSession } from './session.js';

/** What the heartbeat needs beside the agent's context. */
export interface HeartbeatParts {
  readonly session: AgentSession;
  readonly telemetry: NodeTelemetry;
  readonly observer: NodeObserver;
  readonly stats: WorkloadStatsCollector;
  /** Its wait between beats; woken when workload statuses change. */
  readonly wait: WakeableSleep;
}

/**
 * The node's heartbeat: renew the certificate when due, report status, wait the (jittered)
 * interval, for as long as the agent runs. An unreachable server is waited out with capped,
 * jittered backoff; only errors no retry can fix end it (it rejects with them).
 */
export class Heartbeat {
  /** What the server's last refusal asked us to wait (429/503 `Retry-After`). */
  private retryAfterMs = 0;
  /** Digests of what the server last accepted in a folded heartbeat (sent again only on change). */
  private sentDigests: { facts?: string; labels?: string; workloads?: string } = {};

  constructor(
    private readonly ctx: AgentContext,
    private readonly parts: HeartbeatParts,
  ) {}

  /** Beats until `signal` aborts; rejects only on a fatal error. */
  async run(signal: AbortSignal): Promise<void> {
    const { state, random } = this.ctx;
    while (!signal.aborted) {
      const ok = await this.beat();
      const backoff = Math.max(backoffDelay(state.consecutiveFailures, { random }), this.retryAfterMs * (1 + random()));
      await this.parts.wait.wait(ok ? this.nextDelay() : backoff, signal);
    }
  }

  /**
   * The heartbeat a metered node folds into its upload: facts, labels and workload statuses
   * only when they changed since the server last accepted them, and no workload stats — the
   * server reads those out of the batch's own series (server/telemetry/stats.ts).
   */
  async foldedStatus(): Promise<{ status: StatusRequest; delivered(): void; failed(): void }> {
    const { state } = this.ctx;
    const { facts, labels } = await this.parts.observer.observe();
    const sent = {
      facts: sha256Hex(JSON.stringify(facts)),
      labels: sha256Hex(JSON.stringify(labels)),
      workloads: sha256Hex(JSON.stringify(state.workloads)),
    };
    // The gates' numbers travel in the series; what the collector holds is not needed.
    this.parts.stats.drain();
    const status: StatusRequest = {
      ...(sent.facts === this.sentDigests.facts ? {} : { facts }),
      ...(sent.labels === this.sentDigests.labels ? {} : { labels }),
      ...(sent.workloads === this.sentDigests.workloads ? {} : { workloads: state.workloads }),
    };
    return {
      status,
      delivered: () => {
        this.sentDigests = sent;
        this.delivered();
      },
      failed: () => {},
    };
  }

  /** The jittered heartbeat interval, shortened to wake up for a renewal that falls due first. */
  private nextDelay(): number {
    const { identity } = this.parts.session;
    const { settings } = this.parts.telemetry;
    const untilRenewal = renewalDueAt(identity.notBefore, identity.notAfter) - this.ctx.clock();
    const interval = settings.foldHeartbeats ? settings.uploadIntervalMs : this.ctx.state.heartbeatIntervalMs;
    return Math.min(jitteredInterval(interval, this.ctx.random), Math.max(untilRenewal, 1_000));
  }

  /** One pass: renew when due, then report status. Returns false after a transient failure. */
  private async beat(): Promise<boolean> {
    const { session, telemetry, observer, stats } = this.parts;
    const { state, log } = this.ctx;
    try {
      if (this.ctx.clock() >= renewalDueAt(session.identity.notBefore, session.identity.notAfter)) await this.renew();
      // Metered: the heartbeat rides with the telemetry upload (see foldedStatus).
      if (telemetry.settings.foldHeartbeats) return true;
      const { facts, labels } = await observer.observe();
      const drained = stats.drain();
      let res: Awaited<ReturnType<AgentSession['client']['reportStatus']>>;
      try {
        res = await session.client.reportStatus({ facts, labels, workloads: state.workloads, stats: drained });
      } catch (err) {
        // Not delivered: the numbers go out with the next report.
        stats.restore(drained);
        throw err;
      }
      state.heartbeatIntervalMs = res.heartbeatIntervalSeconds * 1000;
      if (res.telemetry !== undefined) {
        telemetry.applySettings(res.telemetry);
        session.followProfile();
      }
      this.delivered();
      return true;
    } catch (err) {
      if (isFatal(err)) {
        log.error({ code: err.code, hint: err.hint }, err.message);
        throw err;
      }
      state.consecutiveFailures++;
      state.lastError = (err as Error).message;
      this.retryAfterMs = retryAfterMs(err);
      log.warn({ failures: state.consecutiveFailures }, `heartbeat failed: ${(err as Error).message}`);
      return false;
    }
  }

  private delivered(): void {
    const { state } = this.ctx;
    state.lastHeartbeatAt = this.ctx.clock();
    state.consecutiveFailures = 0;
    state.lastError = undefined;
  }

  private async renew(): Promise<void> {
    const res = await this.parts.session.renew();
    this.ctx.state.certNotAfter = this.parts.session.identity.notAfter;
    this.ctx.state.lastRenewalAt = this.ctx.clock();
    this.ctx.log.info({ notAfter: res.notAfter }, 'certificate renewed');
  }
}
