import { webcrypto } from 'node:crypto';

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/** A fresh node key and a CSR for it. The key never leaves the node. */
export interface KeyAndCsr {
  keyPem: string;
  csrPem: string;
}

/**
 * Makes a new ECDSA P-256 key pair and a PKCS#10 request signed by it. The subject is a
 * placeholder: the server names the certificate after the node id it assigns.
 */
export async function newKeyAndCsr(): Promise<KeyAndCsr> {
  // Loaded on first use: a node makes a CSR at enrollment and once a renewal, and the
  // library (with its reflect-metadata and DI container) is megabytes of an idle agent's RSS.
  const { x509 } = await import('./x509.js');
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=edgefleet-node',
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'), csrPem: csr.toString('pem') };
}
