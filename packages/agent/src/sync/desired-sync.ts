import { backoffDelay, type DesiredState, type RegistryAccess } from '@edgefleet/protocol';
import type { AgentContext } from '../session/context.js';
import type { AgentSession } from '../session/session.js';
import type { NodeTelemetry } from '../telemetry/node-telemetry.js';
import type { WakeableSleep } from '../wakeable-sleep.js';
import type { VerifiedWorkload } from '../workloads/types.js';
import { saveDesired } from './desired-store.js';
import type { PinnedKeys } from './pinned-keys.js';
import type { ReleaseHistory } from './release-history.js';
import { verifyReleases } from './verify-release.js';

/** What the desired-state sync needs beside the agent's context. */
interface DesiredSyncParts {
  readonly session: AgentSession;
  readonly pinned: PinnedKeys;
  /** The signed releases this node accepted: the downgrade floor and the allowed rollbacks. */
  readonly history: ReleaseHistory;
  readonly telemetry: NodeTelemetry;
  /** Its wait on a metered node; woken when an upload's answer names a new desired version. */
  readonly wait: WakeableSleep;
  /** Called when a new desired state was accepted (the planner should look). */
  readonly onAccepted: () => void;
}

/**
 * Keeps the node's desired state: long-polls the server for it, verifies its releases
 * (sync/verify-release.ts), keeps it on disk and hands the verified workloads to the planner.
 */
/**
 * How long one desired-state long poll waits on the server (it allows 300 s). Each poll that
 * ends unchanged costs a request and a 304 on the wire, about 0.5 KB with TLS: at 30 s that
 * was 47 MB a month of a lan node's uplink (issue 18), at 120 s it is 12 MB. A change still
 * arrives at once; load balancers in front of replicas must allow idle requests this long.
 */
export const DESIRED_WAIT_SECONDS = 120;

export class DesiredStateSync {
  /** The desired workloads with their verdicts, for the planner. */
  verified: readonly VerifiedWorkload[] = [];
  /** Registries of the accepted desired state, with pull credentials: kept in memory only, never logged. */
  registries: readonly RegistryAccess[] = [];

  constructor(
    private readonly ctx: AgentContext,
    private readonly parts: DesiredSyncParts,
  ) {}

  /** Long-polls the server's desired state until `signal` aborts; backs off while it is unreachable. */
  async run(signal: AbortSignal): Promise<void> {
    const { state, log } = this.ctx;
    const { telemetry, session } = this.parts;
    let failures = 0;
    const wait = this.ctx.opts.workloads?.desiredWaitSeconds ?? DESIRED_WAIT_SECONDS;
    while (!signal.aborted) {
      // Metered nodes do not hold a long poll open (each poll costs bytes): their uploads'
      // answers carry the desired version, and a change wakes this loop for one fetch.
      const metered = telemetry.settings.foldHeartbeats;
      if (metered && failures === 0 && state.desiredVersion !== undefined) {
        await this.parts.wait.wait(telemetry.settings.uploadIntervalMs * 4, signal);
        if (signal.aborted) return;
      }
      try {
        const next = await session.client.desired(state.desiredVersion, metered ? 0 : wait, signal);
        failures = 0;
        if (next !== undefined) this.accept(next, true);
      } catch (err) {
        if (signal.aborted) return;
        failures++;
        log.warn({ failures }, `desired state not fetched: ${(err as Error).message}`);
        await this.ctx.sleep(backoffDelay(failures, { random: this.ctx.random }), signal);
      }
    }
  }

  /** Checks keys and signatures of a desired state, keeps it on disk (when `persist`), and wakes the planner. */
  accept(desired: DesiredState, persist: boolean): void {
    const { log, state } = this.ctx;
    const { pinned, session } = this.parts;
    // The policy (first use, endorsement, signatures required once a key is pinned) is pure:
    // sync/verify-release.ts. Here its decisions are carried out.
    const verification = verifyReleases(desired, pinned.map(), this.parts.history, {
      fleet: session.identity.caFingerprint,
      now: this.ctx.clock(),
    });
    if (verification.pin.length > 0) pinned.pin(verification.pin);
    if (verification.revoke.length > 0) {
      pinned.revoke(verification.revoke);
      log.warn({ revoked: verification.revoke.map((r) => r.keyId) }, 'release keys revoked: their releases are refused from now on');
    }
    const refused = verification.refusedKeys.map((k) => k.keyId);
    if (refused.length > 0) log.warn({ refused: verification.refusedKeys }, 'ignoring release keys no pinned key endorsed');
    const accepted: { deployment: string; signedAt: string; value: string; keyId: string }[] = [];
    this.verified = desired.workloads.map((w, i) => {
      const verdict = verification.releases[i];
      // One verdict per workload by construction; a missing one fails closed.
      const problem = verdict === undefined ? 'the release was not verified' : verdict.accepted ? undefined : verdict.message;
      if (problem === undefined) {
        session.supervisor.learn(w.deployment, w.revision, w.release);
        const sig = w.release.signature;
        if (sig?.signedAt !== undefined) accepted.push({ deployment: w.deployment, signedAt: sig.signedAt, value: sig.value, keyId: sig.keyId });
      } else log.error({ deployment: w.deployment, revision: w.revision }, `refusing release: ${problem}`);
      return { deployment: w.deployment, revision: w.revision, release: w.release, verificationProblem: problem, endpoint: w.endpoint };
    });
    // Recorded before the planner sees them: after a power cut the floor is where it was.
    this.parts.history.record(accepted);
    this.registries = desired.registries;
    state.desiredVersion = desired.version;
    if (persist) saveDesired(this.ctx.opts.dataDir, desired);
    this.parts.onAccepted();
  }
}
