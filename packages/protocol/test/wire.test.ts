import { describe, expect, it } from 'vitest';
import { errors } from '../src/errors.js';
import {
  EXPIRED_CLIENT_CERTIFICATE_FIELD,
  expiredRenewalMessage,
  isExpiredClientCertificate,
  RENEWAL_GRACE_MS,
  RenewExpiredRequestSchema,
} from '../src/wire.js';

describe('isExpiredClientCertificate', () => {
  it('decides by code and field, never by the message text', () => {
    const expired = errors.clientCertificateRequired('the client certificate has expired', 'renew it', { field: EXPIRED_CLIENT_CERTIFICATE_FIELD });
    expect(isExpiredClientCertificate(expired)).toBe(true);
    // "expired" in the message of another refusal, or of another code, is not the cue.
    expect(isExpiredClientCertificate(errors.clientCertificateRequired('the client certificate is not trusted (CRL has expired)', 'h'))).toBe(false);
    expect(isExpiredClientCertificate(errors.tokenExpired('the bootstrap token has expired', 'h'))).toBe(false);
    expect(isExpiredClientCertificate(errors.certificateExpired('the client certificate has expired', 'h', { field: EXPIRED_CLIENT_CERTIFICATE_FIELD }))).toBe(
      false,
    );
    expect(isExpiredClientCertificate(new Error('certificate has expired'))).toBe(false);
  });
});

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
