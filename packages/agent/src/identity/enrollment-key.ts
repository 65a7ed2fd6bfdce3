import { createPrivateKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurable } from '@edgefleet/protocol/node';
import { csrForKey, newKeyAndCsr } from './csr.js';

/**
 * The key an enrollment is made with, kept in the data dir (enrollment.key, 0600) until the
 * identity is saved. A retried enrollment — the server's answer lost to a timeout, a replica
 * that died mid-request, the agent restarted — sends the same key again, and the server
 * answers with the node it already made for that token and key instead of a second node
 * (server nodes/enroll.ts, "repeated" enrollments).
 */
const FILE = 'enrollment.key';

/** The pending enrollment's key and a CSR for it: the kept one, or a new one kept from now on. */
export async function enrollmentKeyAndCsr(dataDir: string): Promise<{ keyPem: string; csrPem: string }> {
  const path = join(dataDir, FILE);
  if (existsSync(path)) {
    try {
      const key = createPrivateKey(readFileSync(path, 'utf8'));
      const details = key.asymmetricKeyDetails;
      if (key.asymmetricKeyType === 'ec' && details?.namedCurve === 'prime256v1') return csrForKey(key);
    } catch {
      // A torn or foreign file: a new key replaces it (the server then makes a new node).
    }
  }
  const made = await newKeyAndCsr();
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  writeFileDurable(path, made.keyPem, 0o600);
  return made;
}

/** Drops the pending key once the identity that holds it is saved. */
export function forgetEnrollmentKey(dataDir: string): void {
  rmSync(join(dataDir, FILE), { force: true });
}
