import { createHash, X509Certificate } from 'node:crypto';

/**
 * A certificate pinned by fingerprint: the fleet CA a bootstrap token names, the `ca.crt`
 * an agent keeps. Text that holds more than the one certificate is refused, never "the first
 * one is checked": a PEM text with a second certificate after the pinned one would let that
 * second one into every TLS context built from the text (docs/SECURITY.md, "First boot:
 * pinning the fleet CA").
 */
export interface OneCertificate {
  /** The certificate's DER encoding, exactly as it was signed. */
  der: Buffer;
  /** PEM re-encoded from `der` (64-character lines, `\n`): never the text it came from. */
  pem: string;
  /** Lowercase hex SHA-256 of `der`. */
  fingerprint: string;
}

const BEGIN = /-----BEGIN ([^-\r\n]*)-----/g;
const ONE_CERTIFICATE = /^-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]*)-----END CERTIFICATE-----$/;

/**
 * Reads a PEM text that must hold exactly one certificate and nothing else (whitespace and
 * CRLF line ends around and inside the block are allowed). Throws an `Error` saying what is
 * wrong: no certificate, several PEM blocks, a block that is no certificate (a private key),
 * text outside the block, base64 or DER that does not encode exactly one certificate.
 * Callers turn it into their own error (`server_untrusted` for a server's answer).
 */
export function parseOneCertificate(text: string): OneCertificate {
  const trimmed = text.trim();
  const labels = [...trimmed.matchAll(BEGIN)].map((m) => m[1] as string);
  if (labels.length === 0) throw new Error(trimmed === '' ? 'it is empty' : 'it holds no PEM certificate');
  if (labels.length > 1) throw new Error(`it holds ${labels.length} PEM blocks (${labels.join(', ')}); exactly one certificate is allowed`);
  if (labels[0] !== 'CERTIFICATE') throw new Error(`it holds a ${labels[0]} block, not a certificate`);
  const m = ONE_CERTIFICATE.exec(trimmed);
  if (m === null) throw new Error('it holds text outside its certificate block');
  const base64 = (m[1] as string).replace(/\s+/g, '');
  if (base64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(base64)) throw new Error('its certificate block is not valid base64');
  const der = Buffer.from(base64, 'base64');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch (err) {
    throw new Error(`its certificate block is no X.509 certificate (${(err as Error).message})`);
  }
  // OpenSSL reads one certificate and ignores what follows it: bytes after it are refused.
  if (!cert.raw.equals(der)) throw new Error('its certificate block holds bytes after the certificate');
  return { der: cert.raw, pem: certificatePem(cert.raw), fingerprint: derFingerprint(cert.raw) };
}

/** Lowercase hex SHA-256 of a certificate's DER encoding: the fleet CA's identity. */
export function derFingerprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/** PEM armour of a certificate's DER, 64 characters a line (RFC 7468), ending in a newline. */
export function certificatePem(der: Uint8Array): string {
  const lines =
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/**
 * SHA-256 fingerprint of the one certificate in `pem` (see `parseOneCertificate`); throws
 * when the text holds anything else, so a second certificate can never hide behind a first.
 */
export function certificateFingerprint(pem: string): string {
  return parseOneCertificate(pem).fingerprint;
}
