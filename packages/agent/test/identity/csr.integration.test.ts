import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newKeyAndCsr } from '../../src/identity/csr.js';

/**
 * openssl's view of a PEM request, stdout and stderr together: OpenSSL 3.0's `req -verify`
 * reports a bad self-signature on stderr but still exits 0.
 */
function openssl(args: string[], pem: string): string {
  const r = spawnSync('openssl', ['req', ...args], { input: pem, encoding: 'utf8' });
  if (r.error !== undefined) throw r.error;
  return `${r.stdout}${r.stderr}`;
}

describe('the node CSR', () => {
  it('is a PKCS#10 request that openssl verifies, for the placeholder subject', async () => {
    const { csrPem } = await newKeyAndCsr();
    expect(csrPem).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE REQUEST-----\n$/);
    const verified = openssl(['-verify', '-noout', '-subject'], csrPem);
    expect(verified).toContain('self-signature verify OK');
    expect(verified).toContain('subject=CN = edgefleet-node');
    const text = openssl(['-noout', '-text'], csrPem);
    expect(text).toContain('Signature Algorithm: ecdsa-with-SHA256');
    expect(text).toContain('NIST CURVE: P-256');
  });

  it('carries the public half of the ECDSA P-256 key the node keeps', async () => {
    const { keyPem, csrPem } = await newKeyAndCsr();
    const key = createPrivateKey(keyPem);
    expect(keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const requested = openssl(['-noout', '-pubkey'], csrPem);
    expect(createPublicKey(requested).export({ type: 'spki', format: 'pem' })).toBe(createPublicKey(key).export({ type: 'spki', format: 'pem' }));
  });

  it('makes a new key for every request', async () => {
    const [a, b] = await Promise.all([newKeyAndCsr(), newKeyAndCsr()]);
    expect(a.keyPem).not.toBe(b.keyPem);
    expect(a.csrPem).not.toBe(b.csrPem);
  });

  it('is refused by openssl once its subject is changed', async () => {
    const { csrPem } = await newKeyAndCsr();
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\n/g, ''), 'base64');
    const cn = der.indexOf('edgefleet-node');
    der[cn] = 'f'.charCodeAt(0); // the subject now reads "fdgefleet-node": still well formed, no longer signed
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    const verified = openssl(['-verify', '-noout', '-subject'], tampered);
    expect(verified).toContain('subject=CN = fdgefleet-node');
    expect(verified).not.toContain('verify OK');
  });
});
