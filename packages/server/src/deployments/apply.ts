import { type DeploymentManifest, type EdgefleetError, errors, type Release, releaseArtifacts } from '@edgefleet/protocol';
import { auditInTx } from '../audit/audited.js';
import { deploymentInScope, FLEET_WIDE, type Scope } from '../auth/scope.js';
import type { ServerContext } from '../context.js';
import type { Fence } from '../leader/elector.js';
import type { AuditEvent, DeploymentRecord, Store } from '../store/index.js';
import { keyNotLive, trustedKeyMap } from './keys.js';
import { type ApplyResult, planApply, prunedDeployments } from './plan-apply.js';

/** Serialises applies per server context, so two concurrent applies cannot both take revision N+1. */
const queues = new WeakMap<ServerContext, Promise<unknown>>();

/**
 * Runs `job` after every apply queued before it in this process. A job that opens a
 * transaction must open it inside the queue, never wait for the queue inside one: on SQLite
 * the transaction holds the one connection the queued applies wait for.
 */
export function inApplyQueue<T>(ctx: ServerContext, job: () => Promise<T>): Promise<T> {
  const previous = queues.get(ctx) ?? Promise.resolve();
  const run = previous.then(job, job);
  queues.set(
    ctx,
    run.catch(() => {}),
  );
  return run;
}

/** What an apply removed: deployments a source owned that are no longer in its manifests. */
interface ApplyOutcome {
  results: ApplyResult[];
  pruned: string[];
}

/** How an apply is attributed and whether it prunes. */
interface ApplyOptions {
  source: string | null;
  commit: string | null;
  actor: string;
  prune: boolean;
  /** The leader's fence, for singleton work (GitOps polling): checked first in the unit of work, so the apply commits only while the leader's term is current. */
  fence?: Fence;
  /** The caller's sites: a deployment outside them is never replaced (auth/scope.ts); fleet-wide when omitted. */
  scope?: Scope;
}

/**
 * Applies a set of manifests as one unit: plan (pure, all-or-nothing), then write the
 * changes with their audit entries in one transaction, then tell long-polling agents. With
 * `prune`, deployments owned by the same source and missing from the set are deleted
 * (inventory-based pruning, as Flux does).
 */
export function applyManifests(ctx: ServerContext, manifests: readonly DeploymentManifest[], opts: ApplyOptions): Promise<ApplyOutcome> {
  return inApplyQueue(ctx, async () => {
    const outcome = await ctx.store.transaction((tx) => applyInUnit(ctx, tx, manifests, opts));
    if (changedAnything(outcome)) ctx.events.emit('desired');
    return outcome;
  });
}

/** True when an apply wrote something (agents must be told). */
export function changedAnything(outcome: ApplyOutcome): boolean {
  return outcome.pruned.length > 0 || outcome.results.some((r) => r.result !== 'unchanged');
}

/**
 * The apply inside the caller's unit of work `tx` (reads and writes through it only); the
 * caller runs it in the apply queue and tells agents after commit.
 */
export async function applyInUnit(ctx: ServerContext, tx: Store, manifests: readonly DeploymentManifest[], opts: ApplyOptions): Promise<ApplyOutcome> {
  if (opts.fence !== undefined) await opts.fence(tx);
  const now = ctx.clock();
  const all = await tx.listDeployments();
  const current = new Map<string, DeploymentRecord>(all.map((d) => [d.name, d]));
  if (opts.scope !== undefined) {
    for (const m of manifests) {
      const existing = current.get(m.metadata.name);
      // Replacing a deployment with a narrower selector would take it away from other sites.
      if (existing !== undefined && !deploymentInScope(opts.scope, existing)) throw deploymentOutOfScope(m.metadata.name);
    }
  }
  const latestRelease = new Map<string, Release>((await tx.listCurrentRevisions()).map((r) => [r.deployment, r.release]));
  const digests = new Set(manifests.flatMap((m) => releaseArtifacts(m.spec.release)));
  const present = new Set<string>();
  for (const digest of digests) if (await ctx.artifacts.has(digest)) present.add(digest);
  const keys = await tx.listReleaseKeys();
  // Each applied deployment's signed history, for the downgrade check (a few rows per deployment).
  const signedRevisions = new Map<string, { signedAt: string; value: string }[]>();
  for (const m of manifests) {
    if (!current.has(m.metadata.name)) continue;
    const ran = (await tx.listRevisions(m.metadata.name)).flatMap((r) => {
      const sig = r.release.signature;
      return sig?.signedAt === undefined ? [] : [{ signedAt: sig.signedAt, value: sig.value }];
    });
    signedRevisions.set(m.metadata.name, ran);
  }
  const { writes, results } = planApply(manifests, {
    current,
    latestRelease,
    artifactPresent: (d) => present.has(d),
    trustedKeys: trustedKeyMap(keys),
    keyNotLive: (keyId) => {
      const k = keys.find((r) => r.keyId === keyId);
      const message = k === undefined ? undefined : keyNotLive(k, now);
      return message === undefined ? undefined : { revoked: k?.revocation != null, message };
    },
    fleet: ctx.dataDir.caFingerprint,
    signedRevisions,
    requireSigned: ctx.requireSigned,
    fleetLabelKeys: new Set((await tx.listNodes()).flatMap((n) => [...Object.keys(n.detectedLabels), ...Object.keys(n.operatorLabels)])),
    now,
    source: opts.source,
    commit: opts.commit,
  });
  const pruned = opts.prune ? prunedDeployments(all, manifests, opts.source) : [];
  if (writes.length === 0 && pruned.length === 0) return { results, pruned };
  await tx.writeDeployments(writes, pruned);
  const entry = (action: string, target: string, details: Record<string, unknown>): AuditEvent => ({ at: now, actor: opts.actor, action, target, details });
  await auditInTx(ctx, tx, [
    ...results
      .filter((x) => x.result !== 'unchanged')
      .map((r) =>
        entry(`deployment.${r.result === 'created' ? 'create' : 'update'}`, r.name, { revision: r.revision, generation: r.generation, commit: opts.commit }),
      ),
    ...pruned.map((name) => entry('deployment.prune', name, { commit: opts.commit })),
  ]);
  return { results, pruned };
}

/**
 * Deletes one deployment an operator applied, with its audit entry; nodes stop its workload
 * at their next sync. A missing deployment is a 404; one a GitOps source owns is a 409 (its
 * source prunes it). Checked and deleted in one unit of work.
 */
export async function deleteDeployment(ctx: ServerContext, name: string, actor: string, scope: Scope = FLEET_WIDE): Promise<void> {
  await inApplyQueue(ctx, () =>
    ctx.store.transaction(async (tx) => {
      const d = await tx.getDeployment(name);
      if (d === undefined || !deploymentInScope(scope, d)) throw deploymentNotFound(name);
      if (d.source !== null) {
        throw errors.conflict(`deployment "${name}" is managed by GitOps source ${d.source}`, 'remove its manifest from the repository; the source prunes it');
      }
      await tx.writeDeployments([], [name]);
      await auditInTx(ctx, tx, { at: ctx.clock(), actor, action: 'deployment.delete', target: name, details: {} });
    }),
  );
  ctx.events.emit('desired');
}

/** The 403 of an apply that would replace a deployment outside the caller's sites. */
function deploymentOutOfScope(name: string): EdgefleetError {
  return errors.forbidden(
    `deployment "${name}" already exists and can select nodes outside your sites: a token limited to sites cannot replace it`,
    'choose another metadata.name, or ask an operator whose token covers the whole fleet',
    { field: 'metadata.name' },
  );
}

/** The 404 of a deployment name that does not exist. */
export function deploymentNotFound(name: string): EdgefleetError {
  return errors.notFound(`deployment "${name}" not found`, 'list deployments with "edgefleet deployments list"');
}
