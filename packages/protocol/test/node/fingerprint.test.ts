import { describe, expect, it } from 'vitest';
import { certificateFingerprint, certificatePem, derFingerprint, parseOneCertificate } from '../../src/node/fingerprint.js';
import { CA_ONE, CA_TWO, KEY } from './certificate-fixtures.js';

/** `openssl x509 -in ca-one.pem -outform der | sha256sum`, computed outside the code under test. */
const CA_ONE_FINGERPRINT = 'a65c3b4b0c351f0135b5b351ef4c325a793ac6d1419d8fe8a854ce12730a0325';

const derOf = (pem: string): Buffer => Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');

describe('parseOneCertificate', () => {
  it.each([
    ['one certificate', CA_ONE],
    ['one certificate with CRLF line ends', CA_ONE.replace(/\n/g, '\r\n')],
    ['one certificate with blank lines and spaces around it', `\n\n  ${CA_ONE}  \n\n`],
    ['one certificate with indented base64 lines', CA_ONE.replace(/\n(?=[A-Za-z0-9+/])/g, '\n   ')],
    ['one certificate on a single base64 line', `-----BEGIN CERTIFICATE-----\n${derOf(CA_ONE).toString('base64')}\n-----END CERTIFICATE-----`],
  ])('accepts %s, with the fingerprint of its DER, re-encoded', (_case, text) => {
    const ca = parseOneCertificate(text);
    expect(ca.fingerprint).toBe(CA_ONE_FINGERPRINT);
    expect(ca.der.equals(derOf(CA_ONE))).toBe(true);
    // The PEM returned is made from the DER, not the text given: same for every variant.
    expect(ca.pem).toBe(CA_ONE);
  });

  it.each([
    ['two certificates (the pinned one first)', `${CA_ONE}${CA_TWO}`, /2 PEM blocks.*exactly one certificate/],
    ['two certificates (the pinned one second)', `${CA_TWO}${CA_ONE}`, /2 PEM blocks/],
    ['a certificate and a private key', `${CA_ONE}${KEY}`, /2 PEM blocks \(CERTIFICATE, PRIVATE KEY\)/],
    ['a private key block alone', KEY, /a PRIVATE KEY block, not a certificate/],
    ['a certificate followed by garbage', `${CA_ONE}garbage`, /text outside its certificate block/],
    ['garbage before a certificate', `hello\n${CA_ONE}`, /text outside its certificate block/],
    ['a certificate with a comment line after it', `${CA_ONE}# issued by someone\n`, /text outside/],
    ['an empty text', '', /empty/],
    ['whitespace only', ' \r\n\t', /empty/],
    ['text without PEM', 'not a certificate', /no PEM certificate/],
    ['a block that is never closed', CA_ONE.replace('-----END CERTIFICATE-----\n', ''), /text outside/],
    ['base64 with a character outside the alphabet', CA_ONE.replace('MIIB', 'MI*B'), /text outside|base64/],
    ['base64 with padding in the middle', CA_ONE.replace('MIIB', 'MI=B'), /not valid base64/],
    ['a block whose bytes are no certificate', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', /no X\.509 certificate/],
    ['a certificate with bytes after its DER', certificatePem(Buffer.concat([derOf(CA_ONE), Buffer.from([0x30, 0x00])])), /bytes after the certificate/],
  ])('refuses %s', (_case, text, why) => {
    expect(() => parseOneCertificate(text)).toThrow(why);
  });
});

describe('derFingerprint and certificatePem', () => {
  it('hashes the DER bytes (lowercase hex SHA-256)', () => {
    expect(derFingerprint(derOf(CA_ONE))).toBe(CA_ONE_FINGERPRINT);
  });

  it('armours DER in 64-character lines that read back to the same bytes', () => {
    const der = derOf(CA_TWO);
    const pem = certificatePem(der);
    expect(pem).toBe(CA_TWO);
    expect(pem.split('\n').every((line) => line.length <= 64)).toBe(true);
    expect(parseOneCertificate(pem).der.equals(der)).toBe(true);
  });
});

describe('certificateFingerprint', () => {
  it('is the fingerprint of the one certificate, and refuses a second one behind it', () => {
    expect(certificateFingerprint(CA_ONE)).toBe(CA_ONE_FINGERPRINT);
    expect(() => certificateFingerprint(`${CA_ONE}${CA_TWO}`)).toThrow(/exactly one certificate/);
  });
});
