import { createHash, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { type EdgefleetError, errors } from '@edgefleet/protocol';
import { x509 } from './x509.js';

/**
 * The fleet CA: an ECDSA P-256 key that signs the server's TLS certificate and every
 * node's client certificate. Node keys never come here: nodes send a CSR and get back a
 * certificate whose common name is their node id, which is the only identity the agent
 * API believes.
 */
const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

/** A CA certificate with its private key, in PEM. */
export interface CertificateAuthority {
  certPem: string;
  keyPem: string;
}

/** A certificate the CA issued. */
export interface IssuedCertificate {
  pem: string;
  serial: string;
  /** SHA-256 of the DER, lowercase hex: how the agent API recognises this certificate. */
  fingerprint: string;
  notBefore: Date;
  notAfter: Date;
}

/** A random positive 128-bit serial number, hex. */
function newSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] as number) & 0x7f;
  return bytes.toString('hex');
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function importKeyPem(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decode(pem)[0];
  if (der === undefined) throw new Error('no PEM block in the CA key');
  return webcrypto.subtle.importKey('pkcs8', der, EC, false, ['sign']);
}

/** Creates a new self-signed fleet CA, valid for ten years. */
export async function createCertificateAuthority(now: Date): Promise<CertificateAuthority> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: newSerial(),
    name: `CN=edgefleet fleet CA ${newSerial().slice(0, 8)}`,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + 3650 * DAY_MS),
    keys,
    signingAlgorithm: SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
}

/** Issues the server's TLS certificate for the given DNS names and IP addresses. */
export async function issueServerCertificate(
  ca: CertificateAuthority,
  names: { dns: string[]; ips: string[] },
  now: Date,
): Promise<{ certPem: string; keyPem: string; notAfter: Date }> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const caCert = new x509.X509Certificate(ca.certPem);
  const notAfter = new Date(now.getTime() + 397 * DAY_MS);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: newSerial(),
    subject: 'CN=edgefleet server',
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter,
    publicKey: keys.publicKey,
    signingKey: await importKeyPem(ca.keyPem),
    signingAlgorithm: SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...names.dns.map((value) => ({ type: 'dns' as const, value })),
        ...names.ips.map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey), notAfter };
}

/**
 * Checks a PEM PKCS#10 request: it parses, its self-signature verifies (so the sender holds
 * the key), and the key is ECDSA P-256. Returns the request's public key.
 */
export async function verifyCsr(pem: string): Promise<x509.PublicKey> {
  const invalid = (problem: string): EdgefleetError =>
    errors.invalidCsr(`the certificate signing request is invalid: ${problem}`, 'send a PEM "CERTIFICATE REQUEST" for an ECDSA P-256 key, signed by that key', {
      field: 'csr',
    });
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch {
    throw invalid('it is not a PEM PKCS#10 request');
  }
  let ok = false;
  try {
    ok = await csr.verify();
  } catch {
    ok = false;
  }
  if (!ok) throw invalid('its signature does not verify');
  const alg = csr.publicKey.algorithm as { name?: string; namedCurve?: string };
  if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-256') throw invalid(`its key is ${alg.name ?? 'unknown'} ${alg.namedCurve ?? ''}, not ECDSA P-256`.trim());
  return csr.publicKey;
}

/** Issues a node's client certificate: CN is the node id, usable only for TLS client auth. */
export async function issueNodeCertificate(
  ca: CertificateAuthority,
  nodeId: string,
  publicKey: x509.PublicKey,
  now: Date,
  lifetimeMs: number,
): Promise<IssuedCertificate> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const serial = newSerial();
  const notBefore = new Date(now.getTime() - 60_000);
  const notAfter = new Date(now.getTime() + lifetimeMs);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: `CN=${nodeId}, O=edgefleet node`,
    issuer: caCert.subject,
    notBefore,
    notAfter,
    publicKey: await publicKey.export(EC, ['verify']),
    signingKey: await importKeyPem(ca.keyPem),
    signingAlgorithm: SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { pem: cert.toString('pem'), serial: normaliseSerial(serial), fingerprint: certificateFingerprint(Buffer.from(cert.rawData)), notBefore, notAfter };
}

/**
 * The SHA-256 of a certificate's DER, lowercase hex. Unlike a serial, which anyone can copy
 * into a certificate of their own, it names exactly the bytes the fleet CA signed.
 */
export function certificateFingerprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/** The last CA certificate parsed, by its PEM: parsing one takes ~0.27 ms here, and every node connection asks. */
let lastCa: { pem: string; cert: X509Certificate } | undefined;
function parsedCa(pem: string): X509Certificate {
  if (lastCa?.pem !== pem) lastCa = { pem, cert: new X509Certificate(pem) };
  return lastCa.cert;
}

/**
 * Whether the fleet CA signed this certificate (DER, or as parsed). For certificates issued before their
 * fingerprints were recorded: the CA's signature over a serial we issued is what vouches
 * for them once, when their fingerprint is filled in. Validity dates are the TLS layer's.
 */
export function signedByCa(ca: Pick<CertificateAuthority, 'certPem'>, presented: Uint8Array | X509Certificate): boolean {
  try {
    // A TLS socket's peer certificate comes parsed (getPeerX509Certificate); parsing its DER again took ~0.27 ms.
    const cert = presented instanceof X509Certificate ? presented : new X509Certificate(presented);
    const issuer = parsedCa(ca.certPem);
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** Node's TLS layer prints serials in uppercase hex; we store lowercase without leading zeros. */
export function normaliseSerial(serial: string): string {
  return serial.toLowerCase().replace(/^0+(?=.)/, '');
}
