/**
 * Property tests (issue 14, fuzzing campaign) of CSR handling, which reads PEM text from
 * unauthenticated enroll bodies: any text, and any damage to a real request, gives the
 * request's key or the documented `invalid_csr` (400) with a reason and a hint, never
 * another error; a request for the wrong curve is refused by name.
 */
import { webcrypto } from 'node:crypto';
import { EdgefleetError } from '@edgefleet/protocol';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { verifyCsr } from '../../src/pki/ca.js';
import { x509 } from '../../src/pki/x509.js';

async function csrFor(namedCurve: 'P-256' | 'P-384'): Promise<string> {
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=node', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } });
  return csr.toString('pem');
}

async function verifyOrError(pem: string): Promise<'ok' | EdgefleetError> {
  try {
    await verifyCsr(pem);
    return 'ok';
  } catch (err) {
    expect(err).toBeInstanceOf(EdgefleetError);
    const e = err as EdgefleetError;
    expect(e.code).toBe('invalid_csr');
    expect(e.status).toBe(400);
    expect(e.field).toBe('csr');
    expect(e.message).toMatch(/^the certificate signing request is invalid: \S/);
    return e;
  }
}

/** The DER of a PEM block. */
const derOf = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
const pemOf = (der: Uint8Array) => `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(der).toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;

describe('verifyCsr (property tests)', () => {
  let good: string;
  let p384: string;
  beforeAll(async () => {
    good = await csrFor('P-256');
    p384 = await csrFor('P-384');
  });

  it('accepts a real P-256 request and refuses P-384 by name', async () => {
    expect(await verifyOrError(good)).toBe('ok');
    const refused = await verifyOrError(p384);
    expect(refused).toBeInstanceOf(EdgefleetError);
    expect((refused as EdgefleetError).message).toMatch(/P-384, not ECDSA P-256/);
  });

  it('gives a key or invalid_csr for any text', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.uint8Array({ maxLength: 300 }).map(pemOf),
          fc.string({ maxLength: 200 }).map((s) => `-----BEGIN CERTIFICATE REQUEST-----\n${s}\n-----END CERTIFICATE REQUEST-----`),
        ),
        async (text) => {
          await verifyOrError(text);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('gives a key or invalid_csr for a real request with bytes changed, cut or added', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }),
        fc.constantFrom('flip', 'cut', 'append'),
        async (edits, how) => {
          const der = derOf(good);
          let out: Buffer = der;
          if (how === 'cut') out = der.subarray(0, (edits[0]?.[0] ?? 0) % der.length);
          else if (how === 'append') out = Buffer.concat([der, Buffer.from(edits.map(([, b]) => b))]);
          else for (const [at, b] of edits) der[at % der.length] = b;
          await verifyOrError(pemOf(out));
        },
      ),
      { numRuns: 500 },
    );
  });
});
