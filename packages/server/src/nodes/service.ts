import {
  assertValidLabels,
  errors,
  matchesSelector,
  type Node,
  type NodeDetail,
  type NodeLabelPatchSchema,
  type NodeList,
  parseSelector,
  type RenewRequest,
  type RenewResponse,
} from '@edgefleet/protocol';
import type { z } from 'zod';
import { auditInTx } from '../audit/audited.js';
import { assertSiteLabelUntouched, deploymentInScope, FLEET_WIDE, isFleetWide, nodeInScope, nodeOutOfScope, type Scope } from '../auth/scope.js';
import type { ServerContext } from '../context.js';
import { type IssuedCertificate, issueNodeCertificate, verifyCsr } from '../pki/ca.js';
import type { CertificateRecord, NodeRecord, Store } from '../store/index.js';
import { effectiveLabels, nodeView } from './view.js';

/** Where services say what they did (a request's logger). */
export interface ServiceLog {
  info(details: object, message: string): void;
}

/** A parsed label patch: labels to set and keys to remove. */
type NodeLabelPatchInput = z.output<typeof NodeLabelPatchSchema>;

/** Finds a node by id or, failing that, by name; 404 naming the reference otherwise. */
export async function resolveNode(store: Store, ref: string): Promise<NodeRecord> {
  const node = (await store.getNode(ref)) ?? (await store.getNodeByName(ref));
  if (node === undefined) {
    throw errors.notFound(`node "${ref}" not found`, 'list nodes with "edgefleet nodes list"; NODE is a node id or name');
  }
  return node;
}

/** {@link resolveNode}, and a 404 as well for a node outside the caller's sites (auth/scope.ts). */
export async function resolveNodeInScope(store: Store, ref: string, scope: Scope): Promise<NodeRecord> {
  const node = await resolveNode(store, ref);
  if (!nodeInScope(scope, node)) throw nodeOutOfScope(ref);
  return node;
}

function viewOf(ctx: ServerContext, node: NodeRecord): Node {
  return nodeView(node, ctx.clock(), ctx.heartbeatIntervalMs);
}

/** Every node in the caller's scope whose effective labels match `selector` (all when omitted). */
export async function listNodeViews(ctx: ServerContext, selector: string | undefined, scope: Scope = FLEET_WIDE): Promise<NodeList> {
  const parsed = parseSelector(selector ?? '');
  const nodes = (await ctx.store.listNodes()).filter((n) => nodeInScope(scope, n) && matchesSelector(parsed, effectiveLabels(n)));
  return { items: nodes.map((n) => viewOf(ctx, n)) };
}

/** One node by id or name (404 outside the caller's sites), with the workload states it last reported. */
export async function getNodeView(ctx: ServerContext, ref: string, scope: Scope = FLEET_WIDE): Promise<NodeDetail> {
  const node = await resolveNodeInScope(ctx.store, ref, scope);
  let statuses = (await ctx.store.listNodeWorkloads({ nodeId: node.id })).map((w) => w.status);
  if (!isFleetWide(scope)) {
    // A site-scoped caller sees only deployments in its scope: a fleet-wide one running on its
    // node stays as invisible here as it is everywhere else (404 on its name).
    const visible = new Set((await ctx.store.listDeployments()).filter((d) => deploymentInScope(scope, d)).map((d) => d.name));
    statuses = statuses.filter((w) => visible.has(w.deployment));
  }
  const workloads = statuses.sort((a, b) => (a.deployment < b.deployment ? -1 : 1));
  return { ...viewOf(ctx, node), workloads };
}

/** Sets and removes operator labels with the audit entry in one unit; long polls re-check after commit. */
export async function labelNode(ctx: ServerContext, actor: string, ref: string, patch: NodeLabelPatchInput, scope: Scope = FLEET_WIDE): Promise<Node> {
  const labelled = await ctx.store.transaction(async (tx) => {
    const node = await resolveNodeInScope(tx, ref, scope);
    assertSiteLabelUntouched(scope, patch.set, patch.remove);
    assertValidLabels(patch.set);
    const next = { ...node.operatorLabels, ...patch.set };
    for (const key of patch.remove) delete next[key];
    await tx.setOperatorLabels(node.id, next);
    await auditInTx(ctx, tx, { at: ctx.clock(), actor, action: 'node.label', target: node.id, details: { set: patch.set, remove: patch.remove } });
    return { ...node, operatorLabels: next };
  });
  ctx.events.emit('desired');
  return viewOf(ctx, labelled);
}

/** Deletes a node and revokes its certificates, with the audit entry, in one unit. */
export async function decommissionNode(ctx: ServerContext, actor: string, ref: string, log: ServiceLog, scope: Scope = FLEET_WIDE): Promise<void> {
  const node = await ctx.store.transaction(async (tx) => {
    const found = await resolveNodeInScope(tx, ref, scope);
    const now = ctx.clock();
    await tx.decommissionNode(found.id, now);
    await auditInTx(ctx, tx, { at: now, actor, action: 'node.decommission', target: found.id, details: { name: found.name } });
    return found;
  });
  log.info({ nodeId: node.id }, 'node decommissioned, certificates revoked');
}

/**
 * The record of a certificate just issued to `nodeId`: unrevoked, and found by the SHA-256 of
 * its DER from its first request on (docs/SECURITY.md, "Node identity").
 */
export function issuedCertificateRecord(cert: IssuedCertificate, nodeId: string, issuedAt: number): CertificateRecord {
  return { serial: cert.serial, nodeId, issuedAt, notAfter: cert.notAfter.getTime(), revokedAt: null, fingerprint: cert.fingerprint };
}

/**
 * Issues a node a fresh certificate for the key in its CSR; the certificate record and the
 * audit entry commit together. `previousSerial` is the certificate the request came with.
 */
export async function renewNodeCertificate(
  ctx: ServerContext,
  node: NodeRecord,
  previousSerial: string | undefined,
  body: RenewRequest,
  log: ServiceLog,
): Promise<RenewResponse> {
  const publicKey = await verifyCsr(body.csr);
  const now = ctx.clock();
  const cert = await issueNodeCertificate(ctx.dataDir.ca, node.id, publicKey, new Date(now), ctx.nodeCertLifetimeMs);
  await ctx.store.transaction(async (tx) => {
    await tx.recordCertificate(issuedCertificateRecord(cert, node.id, now));
    await auditInTx(ctx, tx, {
      at: now,
      actor: `node:${node.id}`,
      action: 'node.renew',
      target: node.id,
      details: { certSerial: cert.serial, previous: previousSerial },
    });
  });
  log.info({ nodeId: node.id, serial: cert.serial }, 'certificate renewed');
  return { certificate: cert.pem, notAfter: cert.notAfter.toISOString() };
}
