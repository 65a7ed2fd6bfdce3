import { createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { enrollmentKeyAndCsr, forgetEnrollmentKey } from '../../src/identity/enrollment-key.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgefleet-enroll-key-'));
  dirs.push(dir);
  return dir;
}

const publicKeyOf = (keyPem: string) => createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'pem' });

describe('the key an enrollment is made with', () => {
  it('is the same on every attempt, also after a restart, until the identity is saved', async () => {
    const dir = tempDir();
    const first = await enrollmentKeyAndCsr(dir);
    const again = await enrollmentKeyAndCsr(dir);
    // The server answers a repeat with the node it made only for the same key.
    expect(publicKeyOf(again.keyPem)).toBe(publicKeyOf(first.keyPem));
    expect(statSync(join(dir, 'enrollment.key')).mode & 0o777).toBe(0o600);
    forgetEnrollmentKey(dir);
    expect(existsSync(join(dir, 'enrollment.key'))).toBe(false);
    const next = await enrollmentKeyAndCsr(dir);
    expect(publicKeyOf(next.keyPem)).not.toBe(publicKeyOf(first.keyPem));
  });

  it('is replaced when the kept file is torn or not a P-256 key', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'enrollment.key'), '-----BEGIN PRIVATE KEY-----\ntorn');
    const made = await enrollmentKeyAndCsr(dir);
    expect(made.csrPem).toContain('CERTIFICATE REQUEST');
    expect(publicKeyOf((await enrollmentKeyAndCsr(dir)).keyPem)).toBe(publicKeyOf(made.keyPem));
  });
});
