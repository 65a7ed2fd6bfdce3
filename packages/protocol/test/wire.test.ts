import { describe, expect, it } from 'vitest';
import { expiredRenewalMessage, RENEWAL_GRACE_MS, RenewExpiredRequestSchema } from '../src/wire.js';

describe('expiredRenewalMessage', () => {
  const base = {
    caFingerprint: 'AB'.repeat(32),
    certificateFingerprint: 'cd'.repeat(32),
    csr: '-----BEGIN CERTIFICATE REQUEST-----\nMII\n-----END CERTIFICATE REQUEST-----\n',
  };

  it('names the fleet, the certificate and the whole CSR, fingerprints in lower case', () => {
    expect(expiredRenewalMessage(base)).toBe(`edgefleet renew-expired v1\nca:${'ab'.repeat(32)}\ncertificate:${'cd'.repeat(32)}\ncsr:\n${base.csr}`);
  });

  it('differs for another fleet, another certificate or another CSR, so a signature cannot move', () => {
    const message = expiredRenewalMessage(base);
    expect(expiredRenewalMessage({ ...base, caFingerprint: 'ef'.repeat(32) })).not.toBe(message);
    expect(expiredRenewalMessage({ ...base, certificateFingerprint: '01'.repeat(32) })).not.toBe(message);
    expect(expiredRenewalMessage({ ...base, csr: `${base.csr} ` })).not.toBe(message);
  });
});

describe('RenewExpiredRequestSchema', () => {
  it('needs the certificate, the CSR and a bounded signature', () => {
    expect(RenewExpiredRequestSchema.safeParse({ certificate: 'c', csr: 'r', signature: 's' }).success).toBe(true);
    expect(RenewExpiredRequestSchema.safeParse({ certificate: 'c', csr: 'r' }).success).toBe(false);
    expect(RenewExpiredRequestSchema.safeParse({ certificate: 'c', csr: 'r', signature: 'x'.repeat(257) }).success).toBe(false);
  });

  it('allows 30 days of grace', () => {
    expect(RENEWAL_GRACE_MS).toBe(30 * 86_400_000);
  });
});
