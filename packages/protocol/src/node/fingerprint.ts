import { createHash, X509Certificate } from 'node:crypto';

/** Lowercase hex SHA-256 of a certificate's DER encoding: the fleet CA's identity. */
export function certificateFingerprint(pem: string): string {
  const der = new X509Certificate(pem).raw;
  return createHash('sha256').update(der).digest('hex');
}
