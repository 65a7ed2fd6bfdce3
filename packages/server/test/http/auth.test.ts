import { webcrypto, X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { EdgefleetError, EXPIRED_CLIENT_CERTIFICATE_FIELD, isExpiredClientCertificate } from '@edgefleet/protocol';
import type { FastifyRequest } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { type AuthDeps, authenticateNode, presentsClientCertificate } from '../../src/http/auth.js';
import { type CertificateAuthority, createCertificateAuthority, issueNodeCertificate } from '../../src/pki/ca.js';
import { x509 } from '../../src/pki/x509.js';
import type { CertificateRecord, NodeRecord, RevocationReason, Store } from '../../src/store/index.js';

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const NOW = new Date('2026-06-01T00:00:00Z');

/** Certificates and nodes in memory: the part of the store node authentication reads. */
function memoryStore(certs: CertificateRecord[], nodes: NodeRecord[]): Store {
  const store = {
    getCertificate: async (serial: string) => certs.find((c) => c.serial === serial),
    getCertificateByFingerprint: async (fingerprint: string) => certs.find((c) => c.fingerprint === fingerprint),
    fillCertificateFingerprint: async (serial: string, fingerprint: string) => {
      const cert = certs.find((c) => c.serial === serial && c.fingerprint === null);
      if (cert !== undefined) cert.fingerprint = fingerprint;
      return cert !== undefined;
    },
    getNode: async (id: string) => nodes.find((n) => n.id === id),
    markCertificateUsed: async (serial: string, at: number) => {
      const cert = certs.find((c) => c.serial === serial && (c.firstUsedAt ?? null) === null && c.revokedAt === null);
      if (cert !== undefined) cert.firstUsedAt = at;
      return cert !== undefined;
    },
    revokeCertificates: async (nodeId: string, at: number, reason: RevocationReason, which: { except?: string; only?: string } = {}) => {
      const hit = certs.filter(
        (c) => c.nodeId === nodeId && c.revokedAt === null && c.serial !== which.except && (which.only === undefined || c.serial === which.only),
      );
      for (const c of hit) Object.assign(c, { revokedAt: at, revokedReason: reason });
      return hit.map((c) => c.serial);
    },
  } as Partial<Store> as Store;
  store.transaction = async (work) => work(store);
  return store;
}

function nodeRecord(id: string): NodeRecord {
  return {
    id,
    name: id,
    hardwareSerial: null,
    detectedLabels: {},
    operatorLabels: {},
    facts: {},
    certSerial: '',
    certNotAfter: 0,
    lastSeen: null,
    createdAt: 0,
  };
}

/** A request on a connection whose TLS layer says `authorized` and presents `current()` now. */
function requestOn(current: () => string | undefined, authorized = true, authorizationError = 'DEPTH_ZERO_SELF_SIGNED_CERT'): FastifyRequest {
  const socket = {
    authorized,
    authorizationError: authorized ? null : authorizationError,
    getPeerX509Certificate: () => {
      const pem = current();
      return pem === undefined ? undefined : new X509Certificate(pem);
    },
  } as unknown as TLSSocket;
  return { raw: { socket } } as unknown as FastifyRequest;
}

async function newPublicKey(): Promise<x509.PublicKey> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  return new x509.PublicKey(await webcrypto.subtle.exportKey('spki', keys.publicKey));
}

/** A self-signed certificate that copies `victim`'s serial and subject: what an attacker can make. */
async function forgedCopyOf(victimPem: string): Promise<string> {
  const victim = new X509Certificate(victimPem);
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: victim.serialNumber.toLowerCase(),
    name: victim.subject.split('\n').join(', '),
    notBefore: new Date(NOW.getTime() - 60_000),
    notAfter: new Date(NOW.getTime() + 86_400_000),
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  });
  return cert.toString('pem');
}

async function refusal(promise: Promise<unknown>): Promise<{ status: number; code: string } | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    if (!(err instanceof EdgefleetError)) throw err;
    return { status: err.status, code: err.code };
  }
}

describe('node authentication by certificate fingerprint (issue 14, finding 2)', () => {
  let ca: CertificateAuthority;
  let a: { pem: string; record: CertificateRecord };
  let b: { pem: string; record: CertificateRecord };
  let legacy: { pem: string; record: CertificateRecord };
  let deps: AuthDeps;

  beforeAll(async () => {
    ca = await createCertificateAuthority(NOW);
    const issue = async (nodeId: string, recordFingerprint: boolean) => {
      const cert = await issueNodeCertificate(ca, nodeId, await newPublicKey(), NOW, 86_400_000);
      const record: CertificateRecord = {
        serial: cert.serial,
        nodeId,
        issuedAt: NOW.getTime(),
        notAfter: cert.notAfter.getTime(),
        revokedAt: null,
        fingerprint: recordFingerprint ? cert.fingerprint : null,
      };
      return { pem: cert.pem, record };
    };
    a = await issue('node-a', true);
    b = await issue('node-b', true);
    // Issued before the server recorded fingerprints (migration 0008).
    legacy = await issue('node-old', false);
    deps = {
      store: memoryStore([a.record, b.record, legacy.record], [nodeRecord('node-a'), nodeRecord('node-b'), nodeRecord('node-old')]),
      ca,
    };
  });

  it('records at issue the SHA-256 of the certificate’s DER', () => {
    expect(a.record.fingerprint).toBe(new X509Certificate(a.pem).fingerprint256.replaceAll(':', '').toLowerCase());
  });

  it('names the node whose certificate the connection presents', async () => {
    expect(
      (
        await authenticateNode(
          deps,
          requestOn(() => a.pem),
        )
      ).node.id,
    ).toBe('node-a');
    expect(presentsClientCertificate(requestOn(() => a.pem))).toBe(true);
    expect(presentsClientCertificate(requestOn(() => undefined))).toBe(false);
  });

  it('never takes a copied serial for the node, even where the TLS layer says authorized', async () => {
    // `authorized` stayed true after a renegotiation to another certificate: the serial alone named node B.
    const forged = await forgedCopyOf(b.pem);
    expect(
      await refusal(
        authenticateNode(
          deps,
          requestOn(() => forged),
        ),
      ),
    ).toEqual({ status: 401, code: 'client_certificate_required' });
  });

  it('marks the refusal of an expired certificate with a typed field, the agent’s cue to renew by proof of its key', async () => {
    const expired = await authenticateNode(
      deps,
      requestOn(() => a.pem, false, 'CERT_HAS_EXPIRED'),
    ).catch((e: unknown) => e);
    expect(expired).toMatchObject({ code: 'client_certificate_required', field: EXPIRED_CLIENT_CERTIFICATE_FIELD });
    expect(isExpiredClientCertificate(expired)).toBe(true);
    const untrusted = await authenticateNode(
      deps,
      requestOn(() => a.pem, false, 'DEPTH_ZERO_SELF_SIGNED_CERT'),
    ).catch((e: unknown) => e);
    expect(untrusted).toMatchObject({ code: 'client_certificate_required', field: undefined });
    expect(isExpiredClientCertificate(untrusted)).toBe(false);
  });

  it('reads the certificate on every request, not once per connection', async () => {
    let current = a.pem;
    const request = requestOn(() => current);
    expect((await authenticateNode(deps, request)).node.id).toBe('node-a');
    current = await forgedCopyOf(b.pem);
    expect(await refusal(authenticateNode(deps, request))).toEqual({ status: 401, code: 'client_certificate_required' });
    current = b.pem;
    expect((await authenticateNode(deps, request)).node.id).toBe('node-b');
  });

  it('fills in the fingerprint of an older certificate only from the fleet CA’s signature', async () => {
    const forged = await forgedCopyOf(legacy.pem);
    expect(
      await refusal(
        authenticateNode(
          deps,
          requestOn(() => forged),
        ),
      ),
    ).toEqual({ status: 401, code: 'client_certificate_required' });
    expect(legacy.record.fingerprint).toBeNull();
    expect(
      (
        await authenticateNode(
          deps,
          requestOn(() => legacy.pem),
        )
      ).node.id,
    ).toBe('node-old');
    expect(legacy.record.fingerprint).toBe(new X509Certificate(legacy.pem).fingerprint256.replaceAll(':', '').toLowerCase());
    // Once recorded, a copy of its serial is refused without a signature check.
    expect(
      await refusal(
        authenticateNode(
          deps,
          requestOn(() => forged),
        ),
      ),
    ).toEqual({ status: 401, code: 'client_certificate_required' });
  });

  it('refuses a certificate the TLS layer did not verify', async () => {
    expect(
      await refusal(
        authenticateNode(
          deps,
          requestOn(() => a.pem, false),
        ),
      ),
    ).toEqual({ status: 401, code: 'client_certificate_required' });
  });
});

describe('the first use of a certificate supersedes the node’s others (issue 14, finding 9)', () => {
  let ca: CertificateAuthority;
  const issue = async (nodeId: string): Promise<{ pem: string; record: CertificateRecord }> => {
    const cert = await issueNodeCertificate(ca, nodeId, await newPublicKey(), NOW, 86_400_000);
    return {
      pem: cert.pem,
      record: { serial: cert.serial, nodeId, issuedAt: NOW.getTime(), notAfter: cert.notAfter.getTime(), revokedAt: null, fingerprint: cert.fingerprint },
    };
  };
  beforeAll(async () => {
    ca = await createCertificateAuthority(NOW);
  });

  it('revokes the older certificate when the renewed one is first used, and only then', async () => {
    const old = await issue('node-a');
    const renewed = await issue('node-a');
    const other = await issue('node-b');
    const deps: AuthDeps = {
      store: memoryStore([old.record, renewed.record, other.record], [nodeRecord('node-a'), nodeRecord('node-b')]),
      ca,
      clock: () => 1234,
    };
    // The old certificate was in use: its renewal request was made with it.
    old.record.firstUsedAt = 1;
    // Issued is not used: the old certificate works until the new one is presented.
    expect(
      (
        await authenticateNode(
          deps,
          requestOn(() => old.pem),
        )
      ).node.id,
    ).toBe('node-a');
    expect(
      (
        await authenticateNode(
          deps,
          requestOn(() => old.pem),
        )
      ).node.id,
    ).toBe('node-a');
    expect(
      (
        await authenticateNode(
          deps,
          requestOn(() => renewed.pem),
        )
      ).node.id,
    ).toBe('node-a');
    expect(renewed.record.firstUsedAt).toBe(1234);
    expect(old.record).toMatchObject({ revokedAt: 1234, revokedReason: 'superseded' });
    expect(
      await refusal(
        authenticateNode(
          deps,
          requestOn(() => old.pem),
        ),
      ),
    ).toEqual({ status: 403, code: 'certificate_superseded' });
    // Another node's certificate is untouched; later uses of the new one change nothing.
    expect(other.record.revokedAt).toBeNull();
    expect(
      (
        await authenticateNode(
          deps,
          requestOn(() => renewed.pem),
        )
      ).node.id,
    ).toBe('node-a');
  });

  it('revokes a newer certificate a thief renewed into when the node’s own is used first', async () => {
    const stolen = await issue('node-a');
    const nodes = await issue('node-a');
    const thiefs = await issue('node-a');
    const deps: AuthDeps = { store: memoryStore([stolen.record, nodes.record, thiefs.record], [nodeRecord('node-a')]), ca };
    stolen.record.firstUsedAt = 1;
    expect(
      (
        await authenticateNode(
          deps,
          requestOn(() => nodes.pem),
        )
      ).node.id,
    ).toBe('node-a');
    expect(
      await refusal(
        authenticateNode(
          deps,
          requestOn(() => thiefs.pem),
        ),
      ),
    ).toEqual({ status: 403, code: 'certificate_superseded' });
    expect(
      await refusal(
        authenticateNode(
          deps,
          requestOn(() => stolen.pem),
        ),
      ),
    ).toEqual({ status: 403, code: 'certificate_superseded' });
  });

  it('refuses a certificate another one’s first use revoked between its lookup and its own first use', async () => {
    const cert = await issue('node-a');
    const store = memoryStore([cert.record], [nodeRecord('node-a')]);
    // The lookup saw it unrevoked; by the time its first use is recorded, it is revoked.
    const stale = { ...cert.record };
    store.getCertificateByFingerprint = async () => stale;
    Object.assign(cert.record, { revokedAt: 7, revokedReason: 'superseded' });
    expect(
      await refusal(
        authenticateNode(
          { store, ca },
          requestOn(() => cert.pem),
        ),
      ),
    ).toEqual({ status: 403, code: 'certificate_superseded' });
    expect(cert.record.firstUsedAt ?? null).toBeNull();
  });

  it('says revoked, not superseded, for an operator’s or a decommission’s revocation', async () => {
    const cert = await issue('node-a');
    const deps: AuthDeps = { store: memoryStore([cert.record], [nodeRecord('node-a')]), ca };
    Object.assign(cert.record, { revokedAt: 5, revokedReason: 'operator' });
    expect(
      await refusal(
        authenticateNode(
          deps,
          requestOn(() => cert.pem),
        ),
      ),
    ).toEqual({ status: 403, code: 'certificate_revoked' });
  });
});
