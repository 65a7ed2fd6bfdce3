import { webcrypto, X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { EdgefleetError } from '@edgefleet/protocol';
import type { FastifyRequest } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { type AuthDeps, authenticateNode, presentsClientCertificate } from '../../src/http/auth.js';
import { type CertificateAuthority, createCertificateAuthority, issueNodeCertificate } from '../../src/pki/ca.js';
import { x509 } from '../../src/pki/x509.js';
import type { CertificateRecord, NodeRecord, Store } from '../../src/store/index.js';

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const NOW = new Date('2026-06-01T00:00:00Z');

/** Certificates and nodes in memory: the part of the store node authentication reads. */
function memoryStore(certs: CertificateRecord[], nodes: NodeRecord[]): Store {
  return {
    getCertificate: async (serial: string) => certs.find((c) => c.serial === serial),
    getCertificateByFingerprint: async (fingerprint: string) => certs.find((c) => c.fingerprint === fingerprint),
    fillCertificateFingerprint: async (serial: string, fingerprint: string) => {
      const cert = certs.find((c) => c.serial === serial && c.fingerprint === null);
      if (cert !== undefined) cert.fingerprint = fingerprint;
      return cert !== undefined;
    },
    getNode: async (id: string) => nodes.find((n) => n.id === id),
  } as unknown as Store;
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
function requestOn(current: () => string | undefined, authorized = true): FastifyRequest {
  const socket = {
    authorized,
    authorizationError: authorized ? null : 'DEPTH_ZERO_SELF_SIGNED_CERT',
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
