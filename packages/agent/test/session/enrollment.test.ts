import { describe, expect, it } from 'vitest';
import { CA_ONE, CA_TWO } from '../../../protocol/test/node/certificate-fixtures.js';
import { checkEnrollmentCa } from '../../src/session/enrollment.js';

/** SHA-256 of CA_ONE's DER (see the protocol's fingerprint test). */
const CA_ONE_FINGERPRINT = 'a65c3b4b0c351f0135b5b351ef4c325a793ac6d1419d8fe8a854ce12730a0325';

describe("checkEnrollmentCa: the enrollment answer's CA against the token's pin", () => {
  it('accepts the pinned CA whatever its text looks like (compared by fingerprint, not text)', () => {
    expect(() => checkEnrollmentCa(CA_ONE, CA_ONE_FINGERPRINT)).not.toThrow();
    expect(() => checkEnrollmentCa(`\r\n${CA_ONE.replace(/\n/g, '\r\n')}`, CA_ONE_FINGERPRINT)).not.toThrow();
  });

  it.each([
    ['the pinned CA followed by another', `${CA_ONE}${CA_TWO}`, /2 PEM blocks/],
    ['another CA', CA_TWO, /not the pinned sha256:a65c3b4b/],
    ['no certificate', 'hello', /no PEM certificate/],
  ])('refuses %s with server_untrusted', (_case, answer, why) => {
    let thrown: unknown;
    try {
      checkEnrollmentCa(answer, CA_ONE_FINGERPRINT);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({ code: 'server_untrusted', message: expect.stringMatching(why) });
  });
});
