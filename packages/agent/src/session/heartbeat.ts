import { EdgefleetError, type StatusRequest } from '@edgefleet/protocol';
import { sha256Hex, uploadAnswerDigest } from '@edgefleet/protocol/node';
import type { NodeObserver } from '../probe/node-observer.js';
import type { NodeTelemetry } from '../telemetry/node-telemetry.js';
import { jitteredInterval, renewalDueAt } from '../timing.js';
import type { WakeableSleep } from '../wakeable-sleep.js';
import type { WorkloadStatsCollector } from '../workloads/stats.js';
import type { AgentContext } from './context.js';
import { afterFailure } from './fatal.js';
import type { AgentSession } from './session.js';

/** What the heartbeat needs beside the agent's context. */
interface HeartbeatParts {
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
  /** Digests of what the server last accepted in a folded heartbeat (sent again only on change). */
  private sentDigests: Partial<SentDigests> = {};
  /** When the last report with everything in it was accepted (lan heartbeats). */
  private fullReportAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly ctx: AgentContext,
    private readonly parts: HeartbeatParts,
  ) {}

  /** Beats until `signal` aborts; rejects only on a fatal error. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const retryInMs = await this.beat();
      await this.parts.wait.wait(retryInMs ?? this.nextDelay(), signal);
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
    const sent = digestsOf(facts, labels, state.workloads);
    // The gates' numbers travel in the series; what the collector holds is not needed.
    this.parts.stats.drain();
    const status: StatusRequest = changedSince(this.sentDigests, sent, { facts, labels, workloads: state.workloads });
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

  /** One pass: renew when due, then report status. After a failure that passes on retry, returns when to retry. */
  private async beat(): Promise<number | undefined> {
    const { session, telemetry, observer, stats } = this.parts;
    const { state, log } = this.ctx;
    try {
      if (this.ctx.clock() >= renewalDueAt(session.identity.notBefore, session.identity.notAfter)) await this.renew();
      // Metered: the heartbeat rides with the telemetry upload (see foldedStatus).
      if (telemetry.settings.foldHeartbeats) return undefined;
      const { facts, labels } = await observer.observe();
      const drained = stats.drain();
      // Facts, labels and workloads only when they changed since the server last accepted
      // them, as metered uploads do (issue 18: the same 2 KB every minute were a third of a
      // lan node's bytes); all of them at least once an hour, so a server that lost them (a
      // restored backup) has them again within the hour.
      const now = this.ctx.clock();
      if (now - this.fullReportAt >= FULL_REPORT_EVERY_MS) this.sentDigests = {};
      const sent = digestsOf(facts, labels, state.workloads);
      let res: Awaited<ReturnType<AgentSession['client']['reportStatusHolding']>>;
      // What the node holds of the last answers: the server answers 204 while it is current.
      const known = uploadAnswerDigest({ telemetry: telemetry.settings, heartbeatIntervalSeconds: state.heartbeatIntervalMs / 1000 });
      try {
        res = await session.client.reportStatusHolding(
          { ...changedSince(this.sentDigests, sent, { facts, labels, workloads: state.workloads }), stats: drained },
          known,
        );
      } catch (err) {
        // Not delivered: the numbers go out with the next report.
        stats.restore(drained);
        throw err;
      }
      if (this.sentDigests.facts === undefined) this.fullReportAt = now;
      this.sentDigests = sent;
      if (res !== undefined) state.heartbeatIntervalMs = res.heartbeatIntervalSeconds * 1000;
      if (res?.telemetry !== undefined) {
        telemetry.applySettings(res.telemetry);
        session.followProfile();
      }
      this.delivered();
      return undefined;
    } catch (err) {
      // The exponent counts this failure too, as it always has: the first retry draws from 2 s.
      const next = afterFailure(err, state.consecutiveFailures + 1, this.ctx.random, { enrolled: true });
      if (next.action === 'stop') {
        const { code, hint } = err as EdgefleetError;
        log.error({ code, hint }, (err as Error).message);
        throw err;
      }
      if (next.countsAsFailure) state.consecutiveFailures++;
      state.lastError = (err as Error).message;
      // A refusal the node cannot heal itself (its certificate unknown or expired) carries
      // the server's hint: the workloads keep serving, and the log says what to do.
      const { code, hint } = err instanceof EdgefleetError ? err : { code: undefined, hint: undefined };
      log.warn({ failures: state.consecutiveFailures, code, hint }, `heartbeat failed: ${(err as Error).message}`);
      return next.delayMs;
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

/** How often a lan heartbeat carries facts, labels and workloads even when unchanged. */
export const FULL_REPORT_EVERY_MS = 60 * 60_000;

/** Digests of what a heartbeat may omit when unchanged. */
export interface SentDigests {
  facts: string;
  labels: string;
  workloads: string;
}

export function digestsOf(facts: unknown, labels: unknown, workloads: unknown): SentDigests {
  return { facts: sha256Hex(JSON.stringify(facts)), labels: sha256Hex(JSON.stringify(labels)), workloads: sha256Hex(JSON.stringify(workloads)) };
}

/** The parts of a status whose digest differs from the one the server last accepted. */
export function changedSince(
  accepted: Partial<SentDigests>,
  now: SentDigests,
  parts: Required<Pick<StatusRequest, 'facts' | 'labels' | 'workloads'>>,
): Pick<StatusRequest, 'facts' | 'labels' | 'workloads'> {
  return {
    ...(now.facts === accepted.facts ? {} : { facts: parts.facts }),
    ...(now.labels === accepted.labels ? {} : { labels: parts.labels }),
    ...(now.workloads === accepted.workloads ? {} : { workloads: parts.workloads }),
  };
}
