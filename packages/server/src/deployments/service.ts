import {
  type ApplyRequest,
  type DeploymentView,
  errors,
  type KeyRevocation,
  type RevisionView,
  type RevokeKeyResponse,
  type TrustedKey,
  type TrustKeyRequest,
  type WorkloadStatus,
} from '@edgefleet/protocol';
import { parsePublicKey, publicKeyId, validateManifest } from '@edgefleet/protocol/node';
import { auditInTx } from '../audit/audited.js';
import { assertManifestInScope, deploymentInScope, FLEET_WIDE, type Scope } from '../auth/scope.js';
import type { ServerContext } from '../context.js';
import { nodeView } from '../nodes/view.js';
import type { ReleaseKeyRecord } from '../store/index.js';
import { deploymentView, reportsByDeployment, stallsByDeployment } from '../views/deployment.js';
import { applyManifests, deploymentNotFound } from './apply.js';
import { endorsementProblem, revocationProblem, toTrustedKey } from './keys.js';
import type { ApplyResult } from './plan-apply.js';

/**
 * Validates and applies an operator's manifests as one unit (deployments/apply.ts). A
 * caller limited to sites may apply only deployments whose selector pins the site to some
 * of its sites (auth/scope.ts), and none that replaces a deployment outside its scope.
 */
export async function applyRequest(ctx: ServerContext, actor: string, body: ApplyRequest, scope: Scope = FLEET_WIDE): Promise<{ results: ApplyResult[] }> {
  const manifests = body.manifests.map((m, i) => validateManifest(m, body.origins?.[i] ?? `manifests[${i}]`, 1));
  manifests.forEach((m, i) => {
    assertManifestInScope(scope, m, body.origins?.[i] ?? `manifests[${i}]`);
  });
  const outcome = await applyManifests(ctx, manifests, { source: null, commit: null, actor, prune: false, scope });
  return { results: outcome.results };
}

/**
 * Every deployment's view. Nodes and workload reports are read once for the whole list,
 * not once per deployment.
 */
export async function listDeploymentViews(ctx: ServerContext, scope: Scope = FLEET_WIDE): Promise<{ items: DeploymentView[] }> {
  const [deployments, records, workloads, stalls] = await Promise.all([
    ctx.store.listDeployments(),
    ctx.store.listNodes(),
    ctx.store.listNodeWorkloads({}),
    ctx.store.listRolloutStalls(),
  ]);
  const now = ctx.clock();
  const nodes = records.map((n) => nodeView(n, now, ctx.heartbeatIntervalMs));
  const reports = reportsByDeployment(workloads);
  const stalled = stallsByDeployment(stalls);
  return {
    items: deployments.filter((d) => deploymentInScope(scope, d)).map((d) => deploymentView(d, nodes, reports.get(d.name) ?? new Map(), stalled.get(d.name))),
  };
}

/** One deployment's view; 404 when there is none. */
export async function getDeploymentView(ctx: ServerContext, name: string, scope: Scope = FLEET_WIDE): Promise<DeploymentView> {
  const d = await ctx.store.getDeployment(name);
  if (d === undefined || !deploymentInScope(scope, d)) throw deploymentNotFound(name);
  const now = ctx.clock();
  const nodes = (await ctx.store.listNodes()).map((n) => nodeView(n, now, ctx.heartbeatIntervalMs));
  const reports = new Map<string, WorkloadStatus>((await ctx.store.listNodeWorkloads({ deployment: d.name })).map((w) => [w.nodeId, w.status]));
  return deploymentView(d, nodes, reports, await ctx.store.getRolloutStall(d.name));
}

/** A deployment's revisions, oldest first; 404 when the deployment does not exist. */
export async function listRevisionViews(ctx: ServerContext, name: string, scope: Scope = FLEET_WIDE): Promise<{ items: RevisionView[] }> {
  const d = await ctx.store.getDeployment(name);
  if (d === undefined || !deploymentInScope(scope, d)) throw deploymentNotFound(name);
  const revisions = await ctx.store.listRevisions(name);
  return {
    items: revisions.map((r) => ({
      revision: r.revision,
      releaseDigest: r.releaseDigest,
      commit: r.commit,
      createdAt: new Date(r.createdAt).toISOString(),
      release: r.release,
    })),
  };
}

/** The release keys nodes trust. */
export async function listTrustedKeys(ctx: ServerContext): Promise<{ items: TrustedKey[] }> {
  return { items: (await ctx.store.listReleaseKeys()).map(toTrustedKey) };
}

/**
 * Trusts a release key (idempotent: a known key is returned with `created: false`). Every
 * key carries a signed expiry: the first endorses itself, a later one is endorsed by a live
 * trusted key (403 otherwise). The check, the key and its audit entry are one unit of work.
 */
export async function trustReleaseKey(ctx: ServerContext, actor: string, body: TrustKeyRequest): Promise<{ key: TrustedKey; created: boolean }> {
  const key = parsePublicKey(body.publicKey);
  const keyId = publicKeyId(key);
  const outcome = await ctx.store.transaction(async (tx) => {
    const existing = await tx.listReleaseKeys();
    const known = existing.find((k) => k.keyId === keyId);
    if (known !== undefined) return { key: toTrustedKey(known), created: false };
    const problem = endorsementProblem(key, body, existing, ctx.dataDir.caFingerprint, ctx.clock());
    if (problem !== undefined) {
      throw errors.forbidden(
        problem,
        existing.length === 0
          ? "sign the first key's expiry with itself: edgefleet keys trust NAME.pub --endorse-with NAME.key [--expires 365d]"
          : 'endorse the new key with a live trusted private key: edgefleet keys trust NEW.pub --endorse-with OLD.key [--expires 365d]',
        { field: 'signature' },
      );
    }
    const record: ReleaseKeyRecord = {
      keyId,
      publicKey: key.export({ format: 'pem', type: 'spki' }).toString(),
      // A root stores no endorser: agents tell roots by signedBy null; its signature is its own.
      signedBy: existing.length === 0 ? null : (body.signedBy ?? null),
      signature: body.signature ?? null,
      expiresAt: body.expiresAt ?? null,
      revocation: null,
      createdAt: ctx.clock(),
    };
    await tx.addReleaseKey(record);
    await auditInTx(ctx, tx, {
      at: record.createdAt,
      actor,
      action: 'release-key.trust',
      target: keyId,
      details: { signedBy: record.signedBy, expiresAt: record.expiresAt },
    });
    return { key: toTrustedKey(record), created: true };
  });
  if (outcome.created) ctx.events.emit('desired');
  return outcome;
}

/**
 * Revokes a release key with a revocation another live trusted key signed (403 otherwise; 404
 * for an unknown key). Nodes get it with their desired state and refuse the key's releases
 * from then on. Idempotent: a key already revoked is answered with its stored revocation.
 */
export async function revokeReleaseKey(ctx: ServerContext, actor: string, keyId: string, revocation: KeyRevocation): Promise<RevokeKeyResponse> {
  const outcome = await ctx.store.transaction(async (tx) => {
    const existing = await tx.listReleaseKeys();
    const target = existing.find((k) => k.keyId === keyId);
    if (target === undefined) throw errors.notFound(`release key ${keyId} is not trusted`, 'list the keys with "edgefleet keys list"');
    const stillSigned = (await tx.listCurrentRevisions()).filter((r) => r.release.signature?.keyId === keyId).map((r) => r.deployment);
    if (target.revocation !== null) return { key: toTrustedKey(target), stillSigned, revoked: false };
    const problem = revocationProblem(target, revocation, existing, ctx.dataDir.caFingerprint, ctx.clock());
    if (problem !== undefined) {
      throw errors.forbidden(problem, 'sign the revocation with another live trusted key: edgefleet keys revoke KEY --with OTHER.key', { field: 'signature' });
    }
    await tx.revokeReleaseKey(keyId, revocation);
    await auditInTx(ctx, tx, { at: ctx.clock(), actor, action: 'release-key.revoke', target: keyId, details: { signedBy: revocation.signedBy, stillSigned } });
    return { key: toTrustedKey({ ...target, revocation }), stillSigned, revoked: true };
  });
  if (outcome.revoked) ctx.events.emit('desired');
  return { key: outcome.key, stillSigned: outcome.stillSigned };
}
