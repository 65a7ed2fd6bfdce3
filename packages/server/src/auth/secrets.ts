import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Token secrets are 32 random bytes (base64url, 43 characters). With that much entropy a
 * plain SHA-256 is the right hash: a slow password hash would only slow every request.
 */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** A 12-hex-character public id for a token or node. */
export function newId(): string {
  return randomBytes(6).toString('hex');
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Compares a presented secret with a stored hash in constant time. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
