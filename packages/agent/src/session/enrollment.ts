import { errors, parseBootstrapToken } from '@edgefleet/protocol';
import { EdgefleetClient, fetchPinnedCaCertificate, parseOneCertificate } from '@edgefleet/protocol/node';
import { enrollmentKeyAndCsr, forgetEnrollmentKey } from '../identity/enrollment-key.js';
import { loadIdentity, type NodeIdentity, saveIdentity } from '../identity/store.js';
import type { NodeObserver } from '../probe/node-observer.js';
import type { PinnedKeys } from '../sync/pinned-keys.js';
import type { AgentContext } from './context.js';
import { afterFailure } from './fatal.js';
import { enrollmentPins, saveTokenPin } from './release-key-pin.js';
import { AgentSession, type SessionOptions } from './session.js';

/** What enrollment needs beside the agent's context. */
interface EnrollmentContext extends AgentContext {
  readonly observer: NodeObserver;
  /** Where the release keys given at enrollment are pinned. */
  readonly pinned: PinnedKeys;
}

/**
 * Starts the node's session: loads its identity, or enrolls it with the bootstrap token
 * (waiting out an unreachable or overloaded server), then connects. Undefined when the
 * agent was stopped before it had an identity; rejects on an error no retry can fix.
 */
export async function openSession(
  ctx: EnrollmentContext,
  session: Pick<SessionOptions, 'metered' | 'supervisor'>,
  signal: AbortSignal,
): Promise<AgentSession | undefined> {
  const identity = loadIdentity(ctx.opts.dataDir) ?? (await enrollWithRetry(ctx, signal));
  if (identity === undefined) return undefined;
  ctx.state.nodeId = identity.nodeId;
  ctx.state.certNotAfter = identity.notAfter;
  await ctx.observer.observe();
  return new AgentSession({
    identity,
    server: ctx.opts.server,
    random: ctx.random,
    dataDir: ctx.opts.dataDir,
    network: ctx.opts.network,
    clock: ctx.clock,
    ...session,
  });
}

async function enrollWithRetry(ctx: EnrollmentContext, signal: AbortSignal): Promise<NodeIdentity | undefined> {
  for (let attempt = 0; !signal.aborted; attempt++) {
    try {
      return await enroll(ctx);
    } catch (err) {
      const next = afterFailure(err, attempt, ctx.random);
      if (next.action === 'stop') throw err;
      ctx.state.lastError = (err as Error).message;
      ctx.log.warn({ attempt }, `enrollment failed, will retry: ${(err as Error).message}`);
      await ctx.sleep(next.delayMs, signal);
    }
  }
  return undefined;
}

/** First start: pin the CA from the token, make a key, trade token + CSR for a certificate. */
async function enroll(ctx: EnrollmentContext): Promise<NodeIdentity> {
  const { opts } = ctx;
  if (opts.token === undefined || opts.token.trim() === '') {
    throw errors.config(
      `this node has not enrolled yet (no identity in ${opts.dataDir}) and no bootstrap token was given`,
      'pass --token or --token-file with a token from "edgefleet token create"',
    );
  }
  const parts = parseBootstrapToken(opts.token);
  // Several URLs (replicas) are tried in turn; one that presents another CA stops enrollment.
  const caPem = await fetchPinnedCaCertificate(opts.server, parts.caFingerprint, opts.network, ctx.random);
  // The same key on every attempt: a repeat of an enrollment whose answer was lost gets the same node.
  const { keyPem, csrPem } = await enrollmentKeyAndCsr(opts.dataDir);
  const { facts, labels } = await ctx.observer.observe();
  const client = new EdgefleetClient({ server: opts.server, ca: caPem, random: ctx.random, ...(opts.network === undefined ? {} : { network: opts.network }) });
  try {
    const res = await client.enroll({
      token: opts.token,
      csr: csrPem,
      facts,
      labels,
      ...(opts.name === undefined ? {} : { name: opts.name }),
    });
    checkEnrollmentCa(res.caCertificate, parts.caFingerprint);
    // Before anything is saved: an answer without the token's release key ends here.
    // The one rule for what a new node trusts (sync/verify-release.ts `initialPins`), with
    // the root the token names, if it names one (session/release-key-pin.ts).
    const pins = enrollmentPins(res.trustedKeys, { fleet: parts.caFingerprint, now: ctx.clock() }, parts.releaseKeyFingerprint);
    ctx.state.heartbeatIntervalMs = res.heartbeatIntervalSeconds * 1000;
    // The token is not kept: from here on the certificate is the node's credential.
    const identity = saveIdentity(opts.dataDir, {
      nodeId: res.nodeId,
      name: res.name,
      caFingerprint: parts.caFingerprint,
      caPem,
      keyPem,
      certPem: res.certificate,
    });
    forgetEnrollmentKey(opts.dataDir);
    if (parts.releaseKeyFingerprint !== undefined) saveTokenPin(opts.dataDir, parts.releaseKeyFingerprint);
    ctx.pinned.pin(pins);
    ctx.log.info({ nodeId: res.nodeId, name: res.name, releaseKeyPinning: parts.releaseKeyFingerprint === undefined ? 'first-use' : 'token' }, 'enrolled');
    return identity;
  } finally {
    await client.close();
  }
}

/**
 * The CA named in the enrollment answer must be the pinned one: exactly one certificate with
 * the token's fingerprint, compared by the hash of its DER, never as text. What is saved is
 * the certificate fetched and checked before the token was sent, not this answer.
 */
export function checkEnrollmentCa(answer: string, pinned: string): void {
  let fingerprint: string;
  try {
    fingerprint = parseOneCertificate(answer).fingerprint;
  } catch (err) {
    throw errors.serverUntrusted(`the enrollment answer's CA is not one certificate: ${(err as Error).message}`, 'check --server');
  }
  if (fingerprint !== pinned) {
    throw errors.serverUntrusted(`the server returned a CA with fingerprint sha256:${fingerprint}, not the pinned sha256:${pinned}`, 'check --server');
  }
}
