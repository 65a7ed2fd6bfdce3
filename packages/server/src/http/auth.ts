import type { TLSSocket } from 'node:tls';
import { EdgefleetError, parseApiToken, type Role } from '@edgefleet/protocol';
import type { FastifyRequest } from 'fastify';
import { roleAllows } from '../auth/roles.js';
import { secretMatches } from '../auth/secrets.js';
import { normaliseSerial } from '../pki/ca.js';
import type { NodeRecord, Store } from '../store/index.js';

/** Who is calling: an operator with an API token… */
export interface OperatorPrincipal {
  tokenId: string;
  role: Role;
}

declare module 'fastify' {
  interface FastifyRequest {
    operator?: OperatorPrincipal;
    agentNode?: NodeRecord;
    agentCertSerial?: string;
  }
}

/** Checks `Authorization: Bearer` and the role; sets `request.operator`. */
export async function authenticateOperator(store: Store, request: FastifyRequest, need: Role): Promise<OperatorPrincipal> {
  const header = request.headers.authorization;
  const unauthenticated = (message: string): EdgefleetError =>
    new EdgefleetError({
      code: 'unauthenticated',
      status: 401,
      message,
      hint: 'pass an API token with --token or EDGEFLEET_TOKEN (the first admin token is in the server data dir: admin.token)',
    });
  if (header === undefined || !header.startsWith('Bearer ')) throw unauthenticated('this route needs an API token');
  const parts = parseApiToken(header.slice('Bearer '.length));
  if (parts === undefined) throw unauthenticated('the API token is malformed');
  const record = await store.getApiToken(parts.id);
  if (record === undefined || !secretMatches(parts.secret, record.secretHash)) throw unauthenticated('the API token is unknown or was deleted');
  if (!roleAllows(record.role, need)) {
    throw new EdgefleetError({
      code: 'forbidden',
      status: 403,
      message: `this needs the ${need} role; your token has ${record.role}`,
      hint: `ask an admin for a token with: edgefleet apitoken create --role ${need}`,
    });
  }
  const principal = { tokenId: record.id, role: record.role };
  request.operator = principal;
  return principal;
}

/**
 * The client certificate serial of each open connection, read once: getPeerCertificate()
 * builds a whole certificate object with three digests per call (a twentieth of a
 * heartbeat's CPU on kept-alive agent connections). A connection keeps its certificate (TLS
 * 1.3 has no renegotiation; a TLS 1.2 one could only present another key the client holds),
 * and revocation and the node's existence are still checked on every request.
 */
const peerSerials = new WeakMap<TLSSocket, string>();

function peerSerialOf(socket: TLSSocket): string | undefined {
  const known = peerSerials.get(socket);
  if (known !== undefined) return known;
  const peer = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
  if (peer === undefined || peer === null || Object.keys(peer).length === 0) return undefined;
  const serial = normaliseSerial(peer.serialNumber);
  peerSerials.set(socket, serial);
  return serial;
}

/**
 * Agent routes trust nothing in the body: the node is whoever the client certificate
 * names, and only when the fleet CA signed it, it has not expired, it was issued by us
 * (we hold a record of it) and it is not revoked.
 */
export async function authenticateNode(store: Store, request: FastifyRequest): Promise<NodeRecord> {
  const socket = request.raw.socket as TLSSocket;
  const serial = peerSerialOf(socket);
  if (serial === undefined) {
    throw new EdgefleetError({
      code: 'client_certificate_required',
      status: 401,
      message: 'agent routes need a client certificate from the fleet CA',
      hint: 'enroll the node with a bootstrap token first (edgefleet agent --token …)',
    });
  }
  const revoked = (why: string): EdgefleetError =>
    new EdgefleetError({
      code: 'certificate_revoked',
      status: 403,
      message: why,
      hint: 'the node was decommissioned; enroll it again with a new bootstrap token to bring it back',
    });
  if (!socket.authorized) {
    const reason = String(socket.authorizationError ?? 'unknown');
    const expired = reason === 'CERT_HAS_EXPIRED';
    // An expired certificate of ours still names its node: if that node was decommissioned,
    // say so, since re-enrolling is the fix either way but "revoked" tells the operator why.
    if (expired) {
      const record = await store.getCertificate(serial);
      if (record !== undefined && (record.revokedAt !== null || (await store.getNode(record.nodeId)) === undefined))
        throw revoked('the client certificate has been revoked (and has expired since)');
    }
    throw new EdgefleetError({
      code: 'client_certificate_required',
      status: 401,
      message: expired ? 'the client certificate has expired' : `the client certificate is not trusted (${reason})`,
      hint: expired
        ? 'the node was offline past its certificate lifetime: re-enroll it with a new bootstrap token'
        : 'the certificate was not issued by this fleet; re-enroll the node with a token from this server',
    });
  }
  const cert = await store.getCertificate(serial);
  if (cert === undefined) throw revoked('the client certificate is not known to this fleet');
  if (cert.revokedAt !== null) throw revoked('the client certificate has been revoked');
  const node = await store.getNode(cert.nodeId);
  if (node === undefined) throw revoked('the node of this certificate no longer exists');
  request.agentNode = node;
  request.agentCertSerial = serial;
  return node;
}
