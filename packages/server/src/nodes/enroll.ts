import { createHash } from 'node:crypto';
import { EdgefleetError, type EnrollRequest, type EnrollResponse, errors, parseBootstrapToken } from '@edgefleet/protocol';
import type * as x509 from '@peculiar/x509';
import { auditInTx } from '../audit/audited.js';
import { newId, secretMatches } from '../auth/secrets.js';
import type { ServerContext } from '../context.js';
import { toTrustedKey } from '../deployments/keys.js';
import { issueNodeCertificate, verifyCsr } from '../pki/ca.js';
import { type BootstrapTokenRecord, isUniqueViolation, type NodeRecord, type Store } from '../store/index.js';
import { issuedCertificateRecord, type ServiceLog } from './service.js';

function tokenError(code: 'token_invalid' | 'token_expired' | 'token_exhausted', message: string): EdgefleetError {
  const hint = {
    token_invalid: 'create a token on this server with "edgefleet token create" and give it to the agent',
    token_expired: 'the token is past its TTL: create a new one with "edgefleet token create --ttl 24h"',
    token_exhausted: 'every use of the token is taken: create a new one, with --uses N to enroll N nodes',
  }[code];
  return new EdgefleetError({ code, message, hint, field: 'token' });
}

/**
 * The operator label a new node gets when the board serial it reports is already held by
 * another node: its value is that node's id. Enrollment never hands over an identity for a
 * serial; an operator who knows it is the same hardware runs `edgefleet nodes reenroll`.
 */
export const SERIAL_CONFLICT_LABEL = 'edgefleet.io/serial-conflict';

/** Node names are DNS-label-like so they can be typed in the CLI and used as hostnames. */
function cleanNodeName(raw: string): string {
  const cleaned = raw
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '')
    .slice(0, 63);
  return cleaned === '' ? 'node' : cleaned;
}

/** A taken name with the node id's tail appended (still at most 63 characters). */
function suffixedName(name: string, id: string): string {
  return `${name.slice(0, 50)}-${id.slice(-6)}`;
}

/**
 * Enrolls a node: a bootstrap token and a CSR in, a client certificate out. The token is
 * checked and the CSR verified first, so a broken agent cannot burn a use. Then the token's
 * use, the node record (new, or for a `nodes reenroll` token the node it names, whose
 * previous certificates are revoked), its certificate and the audit entry are one unit of work: a conflict or any failure after the token check leaves
 * the token's uses as they were.
 */
export async function enrollNode(ctx: ServerContext, body: EnrollRequest, log: ServiceLog): Promise<EnrollResponse> {
  const parts = parseBootstrapToken(body.token);
  if (parts.caFingerprint !== ctx.dataDir.caFingerprint)
    throw tokenError('token_invalid', 'the bootstrap token was issued by another fleet (its CA fingerprint differs)');
  const token = await ctx.store.getBootstrapToken(parts.id);
  if (token === undefined || !secretMatches(parts.secret, token.secretHash)) throw tokenError('token_invalid', 'the bootstrap token is unknown');
  const now = ctx.clock();
  const publicKey = await verifyCsr(body.csr);
  const key = keyFingerprint(publicKey);
  // Before the token's uses and expiry: the use was taken by the attempt whose answer was lost.
  const repeated = await repeatEnrollment(ctx, token.id, key, publicKey, now, log);
  if (repeated !== undefined) return repeated;
  if (token.expiresAt <= now) throw tokenError('token_expired', `the bootstrap token ${token.id} expired at ${new Date(token.expiresAt).toISOString()}`);
  if (token.usesLeft <= 0) throw tokenError('token_exhausted', `the bootstrap token ${token.id} has no uses left`);
  await refuseAnotherBoard(ctx, token, body, log);

  const enrollOnce = (renameOnTakenName: boolean) =>
    ctx.store.transaction(async (tx) => {
      const taken = await tx.consumeBootstrapToken(token.id, now);
      if (!taken.ok) {
        throw taken.reason === 'expired'
          ? tokenError('token_expired', `the bootstrap token ${token.id} has expired`)
          : tokenError('token_exhausted', `the bootstrap token ${token.id} has no uses left`);
      }
      // Token presets are operator labels: the operator chose them when creating the token.
      const presets = { ...taken.token.labels, ...(taken.token.site === null ? {} : { 'geolocation.site': taken.token.site }) };
      const serial = body.facts.board.serial;
      const holder = serial === null ? undefined : await tx.getNodeByHardwareSerial(serial);
      const boundTo = taken.token.nodeId ?? null;
      let node: NodeRecord;
      let existing: NodeRecord | undefined;
      let conflictWith: string | undefined;
      if (boundTo !== null) {
        // A token from "nodes reenroll NODE": the operator vouched that this is that node.
        // It keeps its record and every label an operator set; presets only fill gaps.
        existing = await tx.getNode(boundTo);
        if (existing === undefined) {
          throw tokenError('token_invalid', `the bootstrap token ${token.id} re-enrolls node ${boundTo}, which no longer exists`);
        }
        // The board may have been replaced: take its serial unless another node holds it.
        const hardwareSerial = serial !== null && (holder === undefined || holder.id === existing.id) ? serial : existing.hardwareSerial;
        node = {
          ...existing,
          hardwareSerial,
          detectedLabels: body.labels,
          operatorLabels: { ...presets, ...existing.operatorLabels },
          facts: body.facts,
          lastSeen: now,
        };
      } else {
        // An ordinary token only ever makes a new node: what a node says about itself (its
        // board serial) never hands it another node's identity (issue 14, finding 3). A
        // serial some node already holds is kept off the new record and shown as a label
        // naming that node, for an operator to resolve.
        conflictWith = holder?.id;
        const id = `node-${newId()}`;
        const wanted = cleanNodeName(body.name ?? body.facts.hostname ?? `${body.facts.board.slug}-${(serial ?? id).slice(-6)}`);
        node = {
          id,
          name: renameOnTakenName || !(await nameFree(tx, wanted)) ? suffixedName(wanted, id) : wanted,
          hardwareSerial: conflictWith === undefined ? serial : null,
          detectedLabels: body.labels,
          operatorLabels: conflictWith === undefined ? presets : { ...presets, [SERIAL_CONFLICT_LABEL]: conflictWith },
          facts: body.facts,
          certSerial: '',
          certNotAfter: 0,
          lastSeen: now,
          createdAt: now,
        };
      }
      const cert = await issueNodeCertificate(ctx.dataDir.ca, node.id, publicKey, new Date(now), ctx.nodeCertLifetimeMs);
      node = { ...node, certSerial: cert.serial, certNotAfter: cert.notAfter.getTime() };
      // Re-enrolled: whatever certificates the node had before die now (a lost or copied key).
      const revoked = existing === undefined ? [] : await tx.revokeCertificates(existing.id, now, 'reenrolled');
      if (existing === undefined) await tx.createNode(node);
      else await tx.updateNode(node);
      await tx.setEnrollmentKey(node.id, token.id, key);
      await tx.recordCertificate(issuedCertificateRecord(cert, node.id, now));
      await tx.recordBootstrapTokenEnrollment(token.id, node.id, now);
      await auditInTx(ctx, tx, {
        at: now,
        actor: `bootstrap-token:${token.id}`,
        action: existing === undefined ? 'node.enroll' : 'node.reenroll',
        target: node.id,
        details: {
          name: node.name,
          certSerial: cert.serial,
          ...(existing === undefined ? {} : { revokedCertificates: revoked }),
          ...(conflictWith === undefined ? {} : { serialConflictWith: conflictWith }),
        },
      });
      return { node, cert, reenrolled: existing !== undefined, conflictWith };
    });

  let enrolled: Awaited<ReturnType<typeof enrollOnce>>;
  try {
    enrolled = await enrollWithRetry(enrollOnce);
  } catch (err) {
    // Two attempts with the same token and key at once (a retry while the first is still
    // being answered): the other one made the node; this one gets it too.
    if (!isUniqueViolation(err, 'enrolled_')) throw err;
    const again = await repeatEnrollment(ctx, token.id, key, publicKey, ctx.clock(), log);
    if (again === undefined) throw errors.contended('this key is enrolling at the same moment', 'retry the enrollment');
    return again;
  }
  const { node, cert, reenrolled, conflictWith } = enrolled;
  if (conflictWith !== undefined) {
    log.info({ nodeId: node.id, serialConflictWith: conflictWith }, 'a new node reported the board serial of an existing node; enrolled as a new node');
  }
  log.info({ nodeId: node.id, name: node.name, tokenId: token.id, reenrolled }, 'node enrolled');
  return await enrollmentAnswer(ctx, node, cert.pem);
}

async function enrollmentAnswer(ctx: ServerContext, node: Pick<NodeRecord, 'id' | 'name'>, certificate: string): Promise<EnrollResponse> {
  return {
    nodeId: node.id,
    name: node.name,
    certificate,
    caCertificate: ctx.dataDir.ca.certPem,
    heartbeatIntervalSeconds: ctx.heartbeatIntervalMs / 1000,
    trustedKeys: (await ctx.store.listReleaseKeys()).map(toTrustedKey),
  };
}

/** SHA-256 of a key's SubjectPublicKeyInfo DER, lowercase hex. */
function keyFingerprint(publicKey: x509.PublicKey): string {
  return createHash('sha256').update(Buffer.from(publicKey.rawData)).digest('hex');
}

/**
 * How long after its enrollment a node's agent may repeat it. An agent whose first answer
 * was lost (a timeout under load, a replica killed mid-request) retries with the same key
 * within its backoff, seconds to minutes later.
 */
export const ENROLLMENT_REPEAT_WINDOW_MS = 15 * 60_000;

/**
 * An enrollment repeated by the agent that made it: the same bootstrap token and the same
 * key, proven by the CSR's signature. The node it made is answered again with a new
 * certificate for that key, and no use of the token is taken, so a lost answer neither
 * makes a second node (an offline twin forever) nor burns a single-use token. Only while
 * the node's newest certificate is unused, unrevoked and at most 15 minutes old: the agent
 * never got it. Once a certificate is in use, the node is running and a repeat is refused —
 * it would hand out a second live credential for a working node.
 */
async function repeatEnrollment(
  ctx: ServerContext,
  tokenId: string,
  key: string,
  publicKey: x509.PublicKey,
  now: number,
  log: ServiceLog,
): Promise<EnrollResponse | undefined> {
  const node = await ctx.store.getNodeByEnrollmentKey(tokenId, key);
  if (node === undefined) return undefined;
  const newest = (await ctx.store.listCertificates(node.id))[0];
  const repeatable =
    newest !== undefined && newest.revokedAt === null && (newest.firstUsedAt ?? null) === null && now - newest.issuedAt <= ENROLLMENT_REPEAT_WINDOW_MS;
  if (!repeatable) {
    throw errors.conflict(
      `this key already enrolled node ${node.name} (${node.id}) with bootstrap token ${tokenId}, and that enrollment is complete`,
      'an agent makes a new key for every enrollment: start it with an empty data dir, or run "edgefleet nodes reenroll" for that node',
      { field: 'csr' },
    );
  }
  const cert = await ctx.store.transaction(async (tx) => {
    const issued = await issueNodeCertificate(ctx.dataDir.ca, node.id, publicKey, new Date(now), ctx.nodeCertLifetimeMs);
    await tx.recordCertificate(issuedCertificateRecord(issued, node.id, now));
    await auditInTx(ctx, tx, {
      at: now,
      actor: `bootstrap-token:${tokenId}`,
      action: 'node.enroll-repeated',
      target: node.id,
      details: { name: node.name, certSerial: issued.serial },
    });
    return issued;
  });
  log.info({ nodeId: node.id, name: node.name, tokenId }, 'enrollment repeated by its agent: the same node answered again');
  return await enrollmentAnswer(ctx, node, cert.pem);
}

/** What the enrolling node says about itself that differs from what its token is bound to, if anything. */
export function bindingMismatch(
  token: Pick<BootstrapTokenRecord, 'boundSerial' | 'boundHostname'>,
  facts: Pick<EnrollRequest['facts'], 'hostname'> & { board: Pick<EnrollRequest['facts']['board'], 'serial'> },
): { field: 'serial' | 'hostname'; expected: string; reported: string | null } | undefined {
  const serial = token.boundSerial ?? null;
  const reportedSerial = facts.board.serial?.toLowerCase() ?? null;
  if (serial !== null && reportedSerial !== serial) return { field: 'serial', expected: serial, reported: reportedSerial };
  const hostname = token.boundHostname ?? null;
  const reportedHost = facts.hostname?.toLowerCase() ?? null;
  // A fully qualified name of the bound host is the bound host.
  if (hostname !== null && reportedHost !== hostname && !(reportedHost ?? '').startsWith(`${hostname}.`)) {
    return { field: 'hostname', expected: hostname, reported: reportedHost };
  }
  return undefined;
}

/**
 * A token bound to one board (`edgefleet provision`) enrolls only a node whose facts name
 * that board: otherwise 403, audited, and the use is not taken, so the right board still
 * enrolls with it. Facts are the node's own word: this stops a token copied to another
 * board with another serial, not a board that lies (docs/SECURITY.md).
 */
async function refuseAnotherBoard(ctx: ServerContext, token: BootstrapTokenRecord, body: EnrollRequest, log: ServiceLog): Promise<void> {
  const mismatch = bindingMismatch(token, body.facts);
  if (mismatch === undefined) return;
  await ctx.store.transaction(async (tx) => {
    await auditInTx(ctx, tx, {
      at: ctx.clock(),
      actor: `bootstrap-token:${token.id}`,
      action: 'node.enroll-refused',
      target: token.id,
      details: { reason: `bound-${mismatch.field}`, expected: mismatch.expected, reported: mismatch.reported },
    });
  });
  log.info({ tokenId: token.id, field: mismatch.field, reported: mismatch.reported }, 'enrollment refused: the token is bound to another board');
  throw errors.forbidden(
    `the bootstrap token ${token.id} is bound to the board with ${mismatch.field} ${mismatch.expected}, and this node reports ${mismatch.reported ?? `no ${mismatch.field}`}`,
    `use this board's own token (edgefleet provision wrote one per board), or check the ${mismatch.field} in the device list (edgefleet provision status --batch ID)`,
    { field: 'token' },
  );
}

/**
 * Runs the enrollment unit, resolving the two races a unique index decides. Two nodes
 * enrolling at once with the same hostname both see the name free: the loser's unit rolls
 * back and runs again with its id appended to the name. The same board serial enrolling
 * twice at once is a conflict the agent retries (409, its token use not taken).
 */
async function enrollWithRetry<T>(enrollOnce: (renameOnTakenName: boolean) => Promise<T>): Promise<T> {
  try {
    try {
      return await enrollOnce(false);
    } catch (err) {
      if (!isUniqueViolation(err, 'name')) throw err;
      return await enrollOnce(true);
    }
  } catch (err) {
    throw serialConflict(err);
  }
}

function serialConflict(err: unknown): unknown {
  if (!isUniqueViolation(err, 'hardware_serial')) return err;
  return errors.contended('a node with this board serial is enrolling at the same moment', 'retry the enrollment');
}

async function nameFree(tx: Store, name: string): Promise<boolean> {
  return (await tx.getNodeByName(name)) === undefined;
}
