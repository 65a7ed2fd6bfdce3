import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REGISTRY_SECRETS_KEY_FILE, RegistrySecretBox, RegistrySecretError, registrySecretContext } from '../../src/registries/secret-box.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'edgefleet-secret-box-'));
  dirs.push(d);
  return d;
}

const CONTEXT = registrySecretContext('harbor', 'harbor.example:5000');

/** Flips one bit of the base64 field `index` (1 iv, 2 tag, 3 ciphertext) of a sealed value. */
function flip(sealed: string, index: number): string {
  const parts = sealed.split(':');
  const bytes = Buffer.from(parts[index] as string, 'base64');
  bytes[0] = (bytes[0] as number) ^ 1;
  parts[index] = bytes.toString('base64');
  return parts.join(':');
}

function openError(box: RegistrySecretBox, sealed: string, context = CONTEXT): string {
  try {
    box.open(sealed, context);
  } catch (err) {
    expect(err).toBeInstanceOf(RegistrySecretError);
    return (err as Error).message;
  }
  throw new Error('the sealed value opened');
}

describe('RegistrySecretBox', () => {
  it('seals to v1:iv:tag:ciphertext without the password in it, and opens it again (also in a new box over the same key file)', () => {
    const dir = dataDir();
    const box = RegistrySecretBox.ofDataDir(dir);
    const sealed = box.seal('s3cret pull password', CONTEXT);
    expect(sealed).toMatch(/^v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    expect(sealed).not.toContain('s3cret');
    expect(Buffer.from(sealed.split(':')[3] as string, 'base64').toString()).not.toContain('s3cret');
    // A fresh IV each time: sealing twice gives two values.
    expect(box.seal('s3cret pull password', CONTEXT)).not.toBe(sealed);
    expect(box.open(sealed, CONTEXT)).toBe('s3cret pull password');
    expect(RegistrySecretBox.ofDataDir(dir).open(sealed, CONTEXT)).toBe('s3cret pull password');
  });

  it('creates the key file on first use, 32 random bytes in base64, mode 0600', () => {
    const dir = dataDir();
    const path = join(dir, REGISTRY_SECRETS_KEY_FILE);
    RegistrySecretBox.ofDataDir(dir).seal('x', CONTEXT);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(Buffer.from(readFileSync(path, 'utf8').trim(), 'base64')).toHaveLength(32);
    // A second box never replaces an existing key.
    const before = readFileSync(path, 'utf8');
    RegistrySecretBox.ofDataDir(dir).seal('y', CONTEXT);
    expect(readFileSync(path, 'utf8')).toBe(before);
  });

  it('refuses a tampered IV, tag or ciphertext', () => {
    const box = RegistrySecretBox.ofDataDir(dataDir());
    const sealed = box.seal('s3cret', CONTEXT);
    for (const index of [1, 2, 3]) expect(openError(box, flip(sealed, index))).toMatch(/does not decrypt .*altered/);
    expect(openError(box, sealed.replace(/^v1:/, 'v9:'))).toMatch(/not in the "v1:iv:tag:ciphertext" format/);
    expect(openError(box, 's3cret')).toMatch(/format/);
    expect(openError(box, `v1:${Buffer.alloc(3).toString('base64')}:AAAA:AAAA`)).toMatch(/malformed/);
  });

  it('refuses a value moved to another registry name or host (a database edit that points the password elsewhere)', () => {
    const box = RegistrySecretBox.ofDataDir(dataDir());
    const sealed = box.seal('s3cret', CONTEXT);
    expect(openError(box, sealed, registrySecretContext('harbor', 'attacker.example:5000'))).toMatch(/does not decrypt/);
    expect(openError(box, sealed, registrySecretContext('other', 'harbor.example:5000'))).toMatch(/does not decrypt/);
  });

  it('says which key file is wrong or missing, and never opens with another key', () => {
    const first = dataDir();
    const sealed = RegistrySecretBox.ofDataDir(first).seal('s3cret', CONTEXT);
    // Another replica's data dir with its own key: the case "replicas must share the key file".
    const other = dataDir();
    RegistrySecretBox.ofDataDir(other).seal('unrelated', CONTEXT);
    const wrong = openError(RegistrySecretBox.ofDataDir(other), sealed);
    expect(wrong).toContain(join(other, REGISTRY_SECRETS_KEY_FILE));
    expect(wrong).toMatch(/replicas must share one key: give them the same --cluster-secret-file/);
    expect(wrong).not.toContain('s3cret');
    // Opening never creates a key: a missing one is reported, not replaced.
    unlinkSync(join(first, REGISTRY_SECRETS_KEY_FILE));
    expect(openError(RegistrySecretBox.ofDataDir(first), sealed)).toMatch(/registry-secrets.key is missing/);
    expect(() => statSync(join(first, REGISTRY_SECRETS_KEY_FILE))).toThrow();
    // A damaged key file.
    writeFileSync(join(first, REGISTRY_SECRETS_KEY_FILE), 'c2hvcnQ=\n', { mode: 0o600 });
    expect(openError(RegistrySecretBox.ofDataDir(first), sealed)).toMatch(/is not 32 bytes in base64/);
  });
});

describe('RegistrySecretBox with the cluster key (replicas on PostgreSQL)', () => {
  it('seals and opens with the key it is given and never reads or writes a key file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgefleet-secret-box-cluster-'));
    try {
      const keyPath = join(dir, REGISTRY_SECRETS_KEY_FILE);
      const key = randomBytes(32);
      const box = new RegistrySecretBox(keyPath, key);
      const sealed = box.seal('s3cret', registrySecretContext('harbor', 'harbor.example'));
      expect(new RegistrySecretBox('elsewhere', Buffer.from(key)).open(sealed, registrySecretContext('harbor', 'harbor.example'))).toBe('s3cret');
      expect(existsSync(keyPath)).toBe(false);
      expect(() => new RegistrySecretBox('elsewhere', randomBytes(32)).open(sealed, registrySecretContext('harbor', 'harbor.example'))).toThrow(
        /restored from another cluster/,
      );
      expect(() => new RegistrySecretBox(keyPath, randomBytes(16))).toThrow(/not 32 bytes/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
