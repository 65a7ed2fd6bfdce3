import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newKeyAndCsr } from '../../../agent/src/identity/csr.js';
import { createCertificateAuthority, issueNodeCertificate, signedByCa, verifyCsr } from '../../src/pki/ca.js';

// The agent writes its PKCS#10 request by hand with node:crypto; the server reads it with
// @peculiar/x509. This holds the two sides together without a fleet.
describe('the CSR an agent sends at enrollment and renewal', () => {
  it('is accepted by the server as an ECDSA P-256 request signed by its key', async () => {
    const { csrPem } = await newKeyAndCsr();
    const publicKey = await verifyCsr(csrPem);
    expect(publicKey.algorithm).toMatchObject({ name: 'ECDSA', namedCurve: 'P-256' });
  });

  it('is refused with invalid_csr once its subject is changed after signing', async () => {
    const { csrPem } = await newKeyAndCsr();
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\n/g, ''), 'base64');
    der[der.indexOf('edgefleet-node')] = 'f'.charCodeAt(0);
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await expect(verifyCsr(tampered)).rejects.toMatchObject({ code: 'invalid_csr', status: 400 });
  });
});

describe('signedByCa: whether the fleet CA signed a presented certificate', () => {
  it('answers for DER and for a parsed certificate alike, and never confuses two CAs', async () => {
    const now = new Date();
    const [ours, theirs] = await Promise.all([createCertificateAuthority(now), createCertificateAuthority(now)]);
    const issue = async (ca: typeof ours) => {
      const { csrPem } = await newKeyAndCsr();
      const { pem } = await issueNodeCertificate(ca, 'node-1', await verifyCsr(csrPem), now, 3_600_000);
      return new X509Certificate(pem);
    };
    const [mine, foreign] = await Promise.all([issue(ours), issue(theirs)]);
    // Alternating CAs: the parsed CA certificate kept between calls must be the one asked about.
    for (const [ca, cert, expected] of [
      [ours, mine, true],
      [theirs, mine, false],
      [ours, foreign, false],
      [theirs, foreign, true],
    ] as const) {
      expect(signedByCa(ca, cert)).toBe(expected);
      expect(signedByCa(ca, cert.raw)).toBe(expected);
    }
    expect(signedByCa(ours, Buffer.from('not a certificate'))).toBe(false);
  });
});
