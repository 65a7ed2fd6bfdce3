import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The key file, in the server's data dir; replicas sharing a database must share it. */
export const REGISTRY_SECRETS_KEY_FILE = 'registry-secrets.key';

/** Why a sealed secret could not be opened (or the key could not be read): a message for operators. */
export class RegistrySecretError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RegistrySecretError';
  }
}

const VERSION = 'v1';
const KEY_BYTES = 32;
const IV_BYTES = 12;

/**
 * Encrypts registry passwords at rest: AES-256-GCM under a random key kept in
 * `<dataDir>/registry-secrets.key` (base64, mode 0600, created on first use), or, for
 * replicas on PostgreSQL, sealed in the database under the cluster secret
 * (cluster/material.ts). Never in clear in the database, so a copy of the database (a
 * backup, a replica's disk) holds no password. A
 * sealed value is `v1:<iv>:<tag>:<ciphertext>` in base64; the GCM tag authenticates it,
 * together with the context it was sealed for (the registry's name and host), so a value
 * edited, or moved to another row or host in the database, does not open.
 */
export class RegistrySecretBox {
  private key: Buffer | undefined;
  /** True when the key came from the cluster material, not a file. */
  private readonly fromCluster: boolean;

  /**
   * `keyPath` names the key file; `key`, when given, is the key itself and no file is read
   * or created (replicas on PostgreSQL: the key is cluster material, and `keyPath` only
   * names where it came from in messages).
   */
  constructor(
    readonly keyPath: string,
    key?: Buffer,
  ) {
    if (key !== undefined && key.length !== KEY_BYTES) throw new RegistrySecretError(`the registry key from ${keyPath} is not ${KEY_BYTES} bytes`);
    this.key = key;
    this.fromCluster = key !== undefined;
  }

  /** The box of a server data dir. */
  static ofDataDir(dataDirPath: string): RegistrySecretBox {
    return new RegistrySecretBox(join(dataDirPath, REGISTRY_SECRETS_KEY_FILE));
  }

  /** Seals `plain` for `context`; creates the key file if there is none yet. */
  seal(plain: string, context: string): string {
    const key = this.loadKey(true);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return [VERSION, iv.toString('base64'), cipher.getAuthTag().toString('base64'), ciphertext.toString('base64')].join(':');
  }

  /** Opens a value {@link seal} made for the same `context`; throws {@link RegistrySecretError} saying why it can't. */
  open(sealed: string, context: string): string {
    const parts = sealed.split(':');
    if (parts.length !== 4 || parts[0] !== VERSION)
      throw new RegistrySecretError(`the stored password is not in the "${VERSION}:iv:tag:ciphertext" format (written by a newer edgefleet, or edited)`);
    const [, iv64, tag64, ct64] = parts as [string, string, string, string];
    const iv = Buffer.from(iv64, 'base64');
    const tag = Buffer.from(tag64, 'base64');
    if (iv.length !== IV_BYTES || tag.length !== 16) throw new RegistrySecretError('the stored password is malformed (its IV or tag has the wrong length)');
    const key = this.loadKey(false);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv);
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(Buffer.from(ct64, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      throw new RegistrySecretError(
        `the stored password does not decrypt with ${this.keyPath}: the key is not the one it was sealed with (${this.fromCluster ? 'the database was restored from another cluster' : 'replicas must share one key: give them the same --cluster-secret-file'}), or the stored value was altered; add the registry again with its password`,
      );
    }
  }

  private loadKey(create: boolean): Buffer {
    if (this.key !== undefined) return this.key;
    let text: string;
    try {
      text = readFileSync(this.keyPath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new RegistrySecretError(`cannot read ${this.keyPath}: ${(err as Error).message}`);
      if (!create)
        throw new RegistrySecretError(
          `${this.keyPath} is missing, so stored registry passwords cannot be decrypted: restore it from the data dir it was created in (replicas must share it), or add the registries again with their passwords`,
        );
      text = this.createKey();
    }
    const key = Buffer.from(text.trim(), 'base64');
    if (key.length !== KEY_BYTES || key.toString('base64') !== text.trim())
      throw new RegistrySecretError(`${this.keyPath} is not ${KEY_BYTES} bytes in base64: restore the original key file`);
    this.key = key;
    return key;
  }

  /**
   * Writes a new random key durably and without ever replacing one: written to a temp file
   * and fsynced, then linked into place (link fails when another process was first, and
   * its key is used instead), then the folder is fsynced.
   */
  private createKey(): string {
    const text = `${randomBytes(KEY_BYTES).toString('base64')}\n`;
    const tmp = `${this.keyPath}.tmp-${process.pid}`;
    writeFileSync(tmp, text, { mode: 0o600 });
    try {
      const fd = openSync(tmp, 'r+');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      try {
        linkSync(tmp, this.keyPath);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(this.keyPath, 'utf8');
        throw err;
      }
      const dir = openSync(dirname(this.keyPath), 'r');
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
      return text;
    } finally {
      unlinkSync(tmp);
    }
  }
}

/** What a registry's password is sealed for: a sealed value opens only for the same name and host. */
export function registrySecretContext(name: string, host: string): string {
  return `edgefleet registry password\n${name}\n${host}`;
}
