import { createHash } from 'node:crypto';

/** Lowercase hex SHA-256 of a string's UTF-8 bytes (or of bytes). */
export function sha256Hex(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}
