/**
 * A node's certificates after enrollment: renewal of an expired certificate by proof of its
 * key, an operator's one-use token that enrolls a node again, and an operator's revocation
 * of one certificate (issue 14, findings 3, 4 and 9; docs/SECURITY.md).
 */
import { verify, X509Certificate } from 'node:crypto';
import {
  type BootstrapTokenCreated,
  EdgefleetError,
  errors,
  expiredRenewalMessage,
  formatBootstrapToken,
  type NodeCertificateList,
  RENEWAL_GRACE_MS,
  type ReenrollRequest,
  type RenewExpiredRequest,
  type RenewResponse,
} from '@edgefleet/protocol';
import { auditInTx } from '../audit/audited.js';
import { FLEET_WIDE, type Scope } from '../auth/scope.js';
import { hashSecret, newId, newSecret } from '../auth/secrets.js';
import type { ServerContext } from '../context.js';
import { certificateRecordOf, refusedRevoked } from '../http/auth.js';
import { certificateFingerprint, issueNodeCertificate, normaliseSerial, verifyCsr } from '../pki/ca.js';
import type { BootstrapTokenRecord } from '../store/index.js';
import { issuedCertificateRecord, resolveNodeInScope, type ServiceLog } from './service.js';

const DAY_MS = 86_400_000;
/** How long a `nodes reenroll` token lives when the operator names no TTL. */
const DEFAULT_REENROLL_TTL_S = 86_400;
/** The longest a bootstrap token may live (as for `token create`). */
const MAX_REENROLL_TTL_S = 30 * 86_400;

function reenrollHint(nodeId: string): string {
  return `run "edgefleet nodes reenroll ${nodeId}" and start the agent with the token it prints (--token), after clearing its data dir`;
}

/**
 * Renews a certificate that TLS no longer accepts because it expired: the caller proves it
 * holds the certificate's key by signing {@link expiredRenewalMessage} (fleet, certificate,
 * CSR). Only a certificate the fleet CA issued, that is on record, unrevoked, whose node
 * exists, and that expired at most {@link RENEWAL_GRACE_MS} ago renews; past that, only an
 * operator's `nodes reenroll` brings the node back. The old certificate is revoked when the
 * new one is first used (http/auth.ts), like any renewal.
 */
export async function renewExpiredCertificate(ctx: ServerContext, body: RenewExpiredRequest, log: ServiceLog): Promise<RenewResponse> {
  let presented: X509Certificate;
  try {
    presented = new X509Certificate(body.certificate);
  } catch {
    throw errors.badRequest('certificate is not a PEM X.509 certificate', "send the node's expired certificate as it was issued", { field: 'certificate' });
  }
  const der = presented.raw;
  const record = await certificateRecordOf(
    { store: ctx.store, ca: ctx.dataDir.ca },
    { der, fingerprint: certificateFingerprint(der), serial: normaliseSerial(presented.serialNumber) },
  );
  if (record === undefined) {
    throw errors.certificateRevoked('the certificate is not one this fleet issued', 'enroll the node with a bootstrap token from this server');
  }
  if (record.revokedAt !== null) throw refusedRevoked(record);
  const node = await ctx.store.getNode(record.nodeId);
  if (node === undefined) throw errors.certificateRevoked('the node of this certificate no longer exists', 'enroll it with a new bootstrap token');

  const message = expiredRenewalMessage({ caFingerprint: ctx.dataDir.caFingerprint, certificateFingerprint: certificateFingerprint(der), csr: body.csr });
  let proven = false;
  try {
    proven = verify('sha256', Buffer.from(message), presented.publicKey, Buffer.from(body.signature, 'base64'));
  } catch {
    proven = false;
  }
  if (!proven) {
    throw new EdgefleetError({
      code: 'unauthenticated',
      message: "the signature does not prove possession of the certificate's key",
      hint: 'sign the renew-expired message (fleet CA fingerprint, certificate fingerprint, CSR) with the key of the expired certificate',
      field: 'signature',
    });
  }
  const now = ctx.clock();
  if (now > record.notAfter + RENEWAL_GRACE_MS) {
    const days = Math.floor((now - record.notAfter) / DAY_MS);
    throw errors.certificateExpired(
      `the certificate of node ${node.name} (${node.id}) expired ${days} days ago, past the ${RENEWAL_GRACE_MS / DAY_MS}-day renewal grace`,
      reenrollHint(node.id),
    );
  }
  const publicKey = await verifyCsr(body.csr);
  const cert = await issueNodeCertificate(ctx.dataDir.ca, node.id, publicKey, new Date(now), ctx.nodeCertLifetimeMs);
  await ctx.store.transaction(async (tx) => {
    await tx.recordCertificate(issuedCertificateRecord(cert, node.id, now));
    await auditInTx(ctx, tx, {
      at: now,
      actor: `node:${node.id}`,
      action: 'node.renew',
      target: node.id,
      details: { certSerial: cert.serial, previous: record.serial, expiredAt: new Date(record.notAfter).toISOString(), proof: 'key-signature' },
    });
  });
  log.info({ nodeId: node.id, serial: cert.serial, previous: record.serial }, 'expired certificate renewed by proof of key');
  return { certificate: cert.pem, notAfter: cert.notAfter.toISOString() };
}

/**
 * Creates a one-use bootstrap token bound to a node (`edgefleet nodes reenroll NODE`): the
 * same hardware, having lost its key or past its renewal grace, enrolls again as that node
 * (id, name, labels, desired state), and its previous certificates are revoked then. The
 * token secret is in the answer only; the creation is audited.
 */
export async function createReenrollToken(
  ctx: ServerContext,
  actor: string,
  ref: string,
  body: ReenrollRequest,
  scope: Scope = FLEET_WIDE,
): Promise<BootstrapTokenCreated> {
  const ttl = body.ttlSeconds ?? DEFAULT_REENROLL_TTL_S;
  if (ttl > MAX_REENROLL_TTL_S) throw errors.badRequest(`token TTL ${ttl}s is longer than 30 days`, 'use --ttl 30d or less', { field: 'ttlSeconds' });
  const now = ctx.clock();
  const id = newId();
  const secret = newSecret();
  const record = await ctx.store.transaction(async (tx) => {
    const node = await resolveNodeInScope(tx, ref, scope);
    const token: BootstrapTokenRecord = {
      id,
      secretHash: hashSecret(secret),
      site: null,
      labels: {},
      uses: 1,
      usesLeft: 1,
      expiresAt: now + ttl * 1000,
      createdAt: now,
      createdBy: actor,
      nodeId: node.id,
    };
    await tx.createBootstrapToken(token);
    await auditInTx(ctx, tx, { at: now, actor, action: 'node.reenroll-token', target: node.id, details: { tokenId: id, ttlSeconds: ttl } });
    return token;
  });
  return {
    id,
    site: record.site,
    labels: record.labels,
    uses: record.uses,
    usesLeft: record.usesLeft,
    expiresAt: new Date(record.expiresAt).toISOString(),
    createdAt: new Date(record.createdAt).toISOString(),
    token: formatBootstrapToken({ caFingerprint: ctx.dataDir.caFingerprint, id, secret }),
  };
}

/**
 * Revokes one certificate of a node (`edgefleet nodes revoke-cert NODE SERIAL`), audited:
 * requests with it are refused from then on. The serial is as `nodes get` or the audit log
 * shows it (hex; case, colons and leading zeros do not matter).
 */
export async function revokeNodeCertificate(
  ctx: ServerContext,
  actor: string,
  ref: string,
  serial: string,
  log: ServiceLog,
  scope: Scope = FLEET_WIDE,
): Promise<void> {
  const wanted = normaliseSerial(serial.replace(/:/g, ''));
  if (!/^[0-9a-f]+$/.test(wanted)) {
    throw errors.badRequest(`"${serial}" is not a certificate serial (hex digits)`, 'copy the serial from "edgefleet nodes get NODE" or the audit log', {
      field: 'serial',
    });
  }
  const nodeId = await ctx.store.transaction(async (tx) => {
    const node = await resolveNodeInScope(tx, ref, scope);
    const cert = await tx.getCertificate(wanted);
    if (cert === undefined || cert.nodeId !== node.id) {
      throw errors.notFound(`node ${node.name} has no certificate with serial ${wanted}`, 'copy the serial from "edgefleet nodes get NODE" or the audit log');
    }
    if (cert.revokedAt !== null) {
      throw errors.conflict(`certificate ${wanted} of node ${node.name} is already revoked (${new Date(cert.revokedAt).toISOString()})`, 'nothing to do');
    }
    const now = ctx.clock();
    await tx.revokeCertificates(node.id, now, 'operator', { only: wanted });
    await auditInTx(ctx, tx, { at: now, actor, action: 'node.certificate.revoke', target: node.id, details: { serial: wanted } });
    return node.id;
  });
  log.info({ nodeId, serial: wanted }, 'certificate revoked by an operator');
}

/** Every certificate issued to a node (by id or name), newest first, for `nodes certs` and `nodes revoke-cert`. */
export async function listNodeCertificates(ctx: ServerContext, ref: string, scope: Scope = FLEET_WIDE): Promise<NodeCertificateList> {
  const node = await resolveNodeInScope(ctx.store, ref, scope);
  const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());
  return {
    items: (await ctx.store.listCertificates(node.id)).map((c) => ({
      serial: c.serial,
      issuedAt: new Date(c.issuedAt).toISOString(),
      notAfter: new Date(c.notAfter).toISOString(),
      firstUsedAt: iso(c.firstUsedAt),
      revokedAt: iso(c.revokedAt),
      revokedReason: c.revokedReason ?? null,
    })),
  };
}
