import { describe, expect, it } from 'vitest';
import { newKeyAndCsr } from '../../../agent/src/identity/csr.js';
import { verifyCsr } from '../../src/pki/ca.js';

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
