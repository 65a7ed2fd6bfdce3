/**
 * Who is calling: each route's caller kinds (the route table's `caller`) become one
 * `onRequest` hook (`authenticationFor`, attached by the registrar in routes.ts) that sets
 * the typed `request.caller` or answers 401/403. API tokens carry a role (viewer, operator,
 * admin); nodes present a client certificate from the fleet CA; `public` routes take anyone.
 */
import type { TLSSocket } from 'node:tls';
import { type CallerKind, CallerKindSchema, EdgefleetError, EXPIRED_CLIENT_CERTIFICATE_FIELD, parseApiToken, type Role } from '@edgefleet/protocol';
import type { FastifyRequest } from 'fastify';
import { roleAllows } from '../auth/roles.js';
import { secretMatches } from '../auth/secrets.js';
import { type CertificateAuthority, certificateFingerprint, normaliseSerial, signedByCa } from '../pki/ca.js';
import type { CertificateRecord, NodeRecord, Store } from '../store/index.js';

/** A caller with an API token: its id, role (viewer, operator or admin) and scope. */
export interface TokenCaller {
  kind: 'token';
  tokenId: string;
  role: Role;
  /**
   * The sites (geolocation.site values) the token is limited to, null for the whole fleet.
   * Services filter and refuse by it (auth/scope.ts); the route's role check is not enough.
   */
  sites: readonly string[] | null;
}

/** A node, named by its client certificate from the fleet CA. */
export interface NodeCaller {
  kind: 'node';
  node: NodeRecord;
  certSerial: string;
  /** When (performance.now()) the node record was read: a desired-state poll waits for changes after it. */
  readAt: number;
}

/** Anyone: the route's table entry says `public`. */
export interface PublicCaller {
  kind: 'public';
}

/** Who is calling a route, as its authentication hook found out. */
export type Caller = TokenCaller | NodeCaller | PublicCaller;

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Set by the route's authentication hook (http/routes.ts), `null` until then: a handler
     * that finds it `null` answers 500 rather than run unauthenticated.
     */
    caller: Caller | null;
  }
}

/** The audit actor of a token caller: `token:<id>`. */
export function actorOf(caller: TokenCaller): string {
  return `token:${caller.tokenId}`;
}

function unauthenticated(message: string): EdgefleetError {
  return new EdgefleetError({
    code: 'unauthenticated',
    message,
    hint: 'pass an API token with --token or EDGEFLEET_TOKEN (the first admin token is in the server data dir: admin.token)',
  });
}

/** A token's last use is written at most this often: one UPDATE a minute per token, not one per request. */
export const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * Checks `Authorization: Bearer`, that the token has not expired and that its role is at
 * least `need`; records its last use (at most once a minute, without waiting for it).
 */
export async function authenticateToken(store: Store, request: FastifyRequest, need: Role, now: number = Date.now()): Promise<TokenCaller> {
  const header = request.headers.authorization;
  if (header === undefined || !header.startsWith('Bearer ')) throw unauthenticated('this route needs an API token');
  const parts = parseApiToken(header.slice('Bearer '.length));
  if (parts === undefined) throw unauthenticated('the API token is malformed');
  const record = await store.getApiToken(parts.id);
  if (record === undefined || !secretMatches(parts.secret, record.secretHash)) throw unauthenticated('the API token is unknown or was deleted');
  if (record.expiresAt !== null && record.expiresAt <= now) {
    throw new EdgefleetError({
      code: 'token_expired',
      message: `the API token ${record.id} expired at ${new Date(record.expiresAt).toISOString()}`,
      hint: `ask an admin for a new one (edgefleet apitoken create --role ${record.role} --ttl 90d) and delete this one (edgefleet apitoken delete ${record.id})`,
    });
  }
  if (record.lastUsedAt === null || record.lastUsedAt < now - LAST_USED_RESOLUTION_MS) {
    // Best effort and off the request's path: a failed write must not fail the request.
    store.touchApiToken(record.id, now, now - LAST_USED_RESOLUTION_MS).catch((err: unknown) => {
      request.log.warn({ tokenId: record.id, err }, 'could not record the API token last use');
    });
  }
  if (!roleAllows(record.role, need)) {
    throw new EdgefleetError({
      code: 'forbidden',
      message: `this needs the ${need} role; your token has ${record.role}`,
      hint: `ask an admin for a token with: edgefleet apitoken create --role ${need}`,
    });
  }
  return { kind: 'token', tokenId: record.id, role: record.role, sites: record.sites };
}

/** What authenticating callers needs: the store, and the fleet CA for certificates issued before fingerprints were recorded. */
export interface AuthDeps {
  /** Where tokens, certificates and nodes are looked up. */
  store: Store;
  /** The fleet CA certificate (PEM). */
  ca: Pick<CertificateAuthority, 'certPem'>;
  /** The server's clock: token expiry and a certificate's first use (Date.now when omitted). */
  clock?: () => number;
}

/** A client certificate as presented: the DER, its SHA-256 and its serial. */
export interface PeerCertificate {
  der: Buffer;
  fingerprint: string;
  serial: string;
}

/**
 * Reads the connection's client certificate on every request, never from a per-socket
 * cache: an identity cached for a socket outlives the certificate it was read from if the
 * connection ever changes certificate (a TLS 1.2 renegotiation did, issue 14). The server
 * refuses renegotiation (app.ts), and this costs one SHA-256 over a few hundred bytes.
 */
function peerCertificateOf(socket: TLSSocket): PeerCertificate | undefined {
  if (typeof socket.getPeerX509Certificate !== 'function') return undefined;
  const peer = socket.getPeerX509Certificate();
  if (peer === undefined) return undefined;
  const der = peer.raw;
  return { der, fingerprint: certificateFingerprint(der), serial: normaliseSerial(peer.serialNumber) };
}

/**
 * The certificate record of exactly these bytes: found by the SHA-256 of the DER, never by
 * the serial alone (anyone can put a serial of ours in a certificate of their own). A
 * certificate issued before fingerprints were recorded has none yet: its record is found
 * by serial, and only when the fleet CA signed the presented bytes is their fingerprint
 * recorded (the CA signs one certificate per serial) and the record used.
 */
export async function certificateRecordOf(deps: AuthDeps, peer: PeerCertificate): Promise<CertificateRecord | undefined> {
  const recorded = await deps.store.getCertificateByFingerprint(peer.fingerprint);
  if (recorded !== undefined) return recorded;
  const legacy = await deps.store.getCertificate(peer.serial);
  if (legacy === undefined || legacy.fingerprint !== null || !signedByCa(deps.ca, peer.der)) return undefined;
  if (!(await deps.store.fillCertificateFingerprint(legacy.serial, peer.fingerprint))) {
    // Another request filled it in first: believe only what is recorded now.
    return deps.store.getCertificateByFingerprint(peer.fingerprint);
  }
  return { ...legacy, fingerprint: peer.fingerprint };
}

/**
 * Agent routes trust nothing in the body: the node is whoever the client certificate
 * names, and only when the fleet CA signed it, it has not expired, it is the very
 * certificate we issued (its fingerprint is on record) and it is not revoked.
 */
export async function authenticateNode(deps: AuthDeps, request: FastifyRequest): Promise<NodeCaller> {
  const readAt = performance.now();
  const socket = request.raw.socket as TLSSocket;
  const peer = peerCertificateOf(socket);
  if (peer === undefined) {
    throw new EdgefleetError({
      code: 'client_certificate_required',
      message: 'agent routes need a client certificate from the fleet CA',
      hint: 'enroll the node with a bootstrap token first (edgefleet agent --token …)',
    });
  }
  if (!socket.authorized) {
    const reason = String(socket.authorizationError ?? 'unknown');
    const expired = reason === 'CERT_HAS_EXPIRED';
    // An expired certificate of ours still names its node: if that node was decommissioned,
    // say so, since re-enrolling is the fix either way but "revoked" tells the operator why.
    if (expired) {
      const record = await certificateRecordOf(deps, peer);
      if (record !== undefined && record.revokedAt !== null) throw refusedRevoked(record);
      if (record !== undefined && (await deps.store.getNode(record.nodeId)) === undefined)
        throw revoked('the client certificate has been revoked (and has expired since)');
    }
    throw new EdgefleetError({
      code: 'client_certificate_required',
      message: expired ? 'the client certificate has expired' : `the client certificate is not trusted (${reason})`,
      hint: expired
        ? 'renew it with proof of the node key (the agent does so by itself, POST /v1/renew-expired, within 30 days of expiry); after that run "edgefleet nodes reenroll NODE"'
        : 'the certificate was not issued by this fleet; re-enroll the node with a token from this server',
      ...(expired ? { field: EXPIRED_CLIENT_CERTIFICATE_FIELD } : {}),
    });
  }
  const cert = await certificateRecordOf(deps, peer);
  // Unknown is not revoked: `certificate_revoked` is the one answer that makes a node stop
  // its workloads, so it is kept for an operator's decision (a revoked certificate, a
  // deleted node). A certificate we have no record of (a database restored from an older
  // backup, a forged copy) is refused without claiming a decommission.
  if (cert === undefined) {
    throw new EdgefleetError({
      code: 'client_certificate_required',
      message: 'the client certificate is not known to this fleet',
      hint: 'the server has no record of this certificate (was its database restored from an older backup?): give the node its identity back with "edgefleet nodes reenroll NODE", or enroll it anew with a bootstrap token',
    });
  }
  if (cert.revokedAt !== null) throw refusedRevoked(cert);
  const node = await deps.store.getNode(cert.nodeId);
  if (node === undefined) throw revoked('the node of this certificate no longer exists');
  if (cert.firstUsedAt === null || cert.firstUsedAt === undefined) {
    // Checked again inside: another certificate's first use may have revoked this one since.
    if (!(await supersedeOthers(deps, cert))) throw refusedRevoked({ revokedReason: 'superseded' });
  }
  return { kind: 'node', node, certSerial: cert.serial, readAt };
}

/** The refusal of a revoked certificate: "superseded" when a newer one of its node took over, else revoked. */
export function refusedRevoked(cert: Pick<CertificateRecord, 'revokedReason'>): EdgefleetError {
  if (cert.revokedReason !== 'superseded') {
    return revoked(cert.revokedReason === 'operator' ? 'the client certificate was revoked by an operator' : 'the client certificate has been revoked');
  }
  return new EdgefleetError({
    code: 'certificate_superseded',
    message: 'the client certificate was replaced by a newer certificate of this node, which has been used since',
    hint: 'use the node’s current certificate; if this node never renewed, its key was copied: run "edgefleet nodes reenroll NODE" and enroll it again',
  });
}

/**
 * The first use of a certificate revokes every other certificate of its node (issue 14,
 * finding 9): after a renewal, the old certificate lives until the new one proves the node
 * has it, and a copy of an old key (stolen) dies then. Other certificates, not only older
 * ones: a thief who renewed from a stolen certificate holds a newer one, and it dies too
 * if the node's own certificate is used first. Mark and revoke are one unit; only the
 * request that records the first use revokes. False when this certificate was itself
 * revoked by a concurrent first use of another one.
 */
async function supersedeOthers(deps: AuthDeps, cert: CertificateRecord): Promise<boolean> {
  const now = (deps.clock ?? Date.now)();
  return deps.store.transaction(async (tx) => {
    if (await tx.markCertificateUsed(cert.serial, now)) {
      await tx.revokeCertificates(cert.nodeId, now, 'superseded', { except: cert.serial });
      return true;
    }
    // Not marked: used since by a concurrent request (fine), or revoked since (refused).
    const current = await tx.getCertificate(cert.serial);
    return current !== undefined && current.revokedAt === null;
  });
}

function revoked(why: string): EdgefleetError {
  return new EdgefleetError({
    code: 'certificate_revoked',
    message: why,
    hint: 'the node was decommissioned or its certificate revoked: run "edgefleet nodes reenroll NODE" and enroll it with that token to bring it back',
  });
}

/** Whether the request's connection presented a client certificate (trusted or not). */
export function presentsClientCertificate(request: FastifyRequest): boolean {
  const socket = request.raw.socket as TLSSocket;
  return typeof socket.getPeerX509Certificate === 'function' && socket.getPeerX509Certificate() !== undefined;
}

const ROLE_RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/**
 * How a route with these caller kinds authenticates its requests: an `onRequest` hook that
 * sets `request.caller` or throws 401/403. Unknown kinds are refused here, when the route
 * is registered, so no route starts without an authentication it can run.
 *
 * With both a token role and `node` (artifact downloads), a request with an Authorization
 * header is a token caller's even when it also presents a certificate, so a bad token is
 * never silently ignored.
 */
export function authenticationFor(deps: AuthDeps, kinds: readonly CallerKind[]): (request: FastifyRequest) => Promise<void> {
  if (kinds.length === 0) throw new Error('a route must name at least one caller kind');
  for (const kind of kinds) {
    if (!CallerKindSchema.options.includes(kind)) throw new Error(`unknown caller kind "${String(kind)}": it has no authentication`);
  }
  if (kinds.includes('public')) {
    return async (request) => {
      request.caller = { kind: 'public' };
    };
  }
  const roles = kinds.filter((k): k is Role => k !== 'node' && k !== 'public');
  // Several roles: the least one is enough (a higher role includes it).
  const need = roles.sort((a, b) => ROLE_RANK[a] - ROLE_RANK[b])[0];
  const node = kinds.includes('node');
  return async (request) => {
    if (need !== undefined && (request.headers.authorization !== undefined || !node)) {
      request.caller = await authenticateToken(deps.store, request, need, deps.clock?.() ?? Date.now());
    } else if (node && (need === undefined || presentsClientCertificate(request))) {
      request.caller = await authenticateNode(deps, request);
    } else {
      throw new EdgefleetError({
        code: 'unauthenticated',
        message: 'this route needs an API token or a node client certificate',
        hint: 'operators: pass an API token with --token or EDGEFLEET_TOKEN; nodes: enroll with a bootstrap token first',
      });
    }
  };
}
