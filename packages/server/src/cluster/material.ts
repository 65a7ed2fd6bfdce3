import { createCipheriv, createDecipheriv, createPrivateKey, randomBytes, scryptSync, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type EdgefleetError, errors } from '@edgefleet/protocol';
import { type CertificateAuthority, createCertificateAuthority } from '../pki/ca.js';
import { REGISTRY_SECRETS_KEY_FILE } from '../registries/secret-box.js';
import type { Store } from '../store/index.js';

/**
 * The names of the rows of `cluster_material`. Every row but `kdf` is sealed; `check`
 * holds a known text, so a wrong secret is told apart from damaged rows.
 */
export const CLUSTER_ROWS = {
  kdf: 'kdf',
  check: 'check',
  caKey: 'ca.key',
  caCert: 'ca.crt',
  registryKey: REGISTRY_SECRETS_KEY_FILE,
} as const;

const SEALED_VERSION = 'v1';
const KDF_VERSION = 'scrypt-v1';
const CHECK_TEXT = 'edgefleet cluster secret check v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** scrypt cost: ~32 MiB and a fraction of a second, once per start; slows guessing a weak secret. */
const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

/** Why a sealed row does not open: a wrong key, or a value altered or moved from another row. */
export class ClusterMaterialError extends Error {
  constructor(readonly row: string) {
    super(`cluster material "${row}" does not decrypt`);
    this.name = 'ClusterMaterialError';
  }
}

/**
 * AES-256-GCM under a key derived from the cluster secret. The row's name is the
 * associated data, so a value copied into another row (say the registry key's into
 * `ca.key`) fails its tag instead of being read as the wrong thing. Sealed values are
 * `v1:<iv>:<tag>:<ciphertext>` in base64.
 */
export class ClusterKey {
  private constructor(private readonly key: Buffer) {}

  /** Derives the key from the secret and the cluster's KDF row (`scrypt-v1:<salt>`). */
  static derive(secret: Buffer, kdf: string): ClusterKey {
    const [version, salt64] = kdf.split(':');
    const salt = Buffer.from(salt64 ?? '', 'base64');
    if (version !== KDF_VERSION || salt.length < 16) {
      throw errors.startupFailed(
        `the cluster's key-derivation row reads "${kdf.slice(0, 40)}", not "${KDF_VERSION}:<salt>" (written by a newer edgefleet, or edited)`,
        'run the edgefleet version that initialized this database, or restore the database from a backup',
      );
    }
    return new ClusterKey(scryptSync(secret, salt, 32, SCRYPT));
  }

  /** A new KDF row: a random salt. Public: it only makes each cluster's key derivation its own. */
  static newKdf(): string {
    return `${KDF_VERSION}:${randomBytes(16).toString('base64')}`;
  }

  seal(row: string, plain: Buffer | string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(associatedData(row));
    const ct = Buffer.concat([cipher.update(typeof plain === 'string' ? Buffer.from(plain, 'utf8') : plain), cipher.final()]);
    return [SEALED_VERSION, iv.toString('base64'), cipher.getAuthTag().toString('base64'), ct.toString('base64')].join(':');
  }

  /** Opens what {@link seal} made for the same row; throws {@link ClusterMaterialError} otherwise. */
  open(row: string, sealed: string): Buffer {
    const parts = sealed.split(':');
    if (parts.length !== 4 || parts[0] !== SEALED_VERSION) throw new ClusterMaterialError(row);
    const [, iv64, tag64, ct64] = parts as [string, string, string, string];
    const iv = Buffer.from(iv64, 'base64');
    const tag = Buffer.from(tag64, 'base64');
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new ClusterMaterialError(row);
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, iv);
      decipher.setAAD(associatedData(row));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(Buffer.from(ct64, 'base64')), decipher.final()]);
    } catch {
      throw new ClusterMaterialError(row);
    }
  }
}

function associatedData(row: string): Buffer {
  return Buffer.from(`edgefleet cluster material\n${row}`, 'utf8');
}

/** What replicas share through the database. */
export interface ClusterMaterial {
  ca: CertificateAuthority;
  /** The key sealing registry passwords (registries/secret-box.ts). */
  registryKey: Buffer;
  /** True when this replica initialized the cluster; `imported` says from what. */
  created: boolean;
  imported: string[];
}

/** Options of {@link loadOrInitClusterMaterial}. */
export interface ClusterMaterialOptions {
  /** The secret, from {@link readClusterSecret}. */
  secret: Buffer;
  /** Where it came from, for error messages. */
  secretFile: string;
  /**
   * A data dir whose `ca.key`/`ca.crt` and `registry-secrets.key` become the cluster's when
   * it is initialized, so a server that ran on PostgreSQL before keeps its CA (enrolled
   * nodes stay trusted) and its stored registry passwords.
   */
  importFrom?: string;
  now: number;
}

/**
 * Loads the cluster's CA and keys from the database, initializing them on the first start.
 * Replicas starting at once on an empty database serialise on an advisory lock, and the
 * rows are inserted in one insert-if-absent statement and re-read, so all of them end with
 * the one CA that was written first. Nothing is written when the secret is wrong.
 */
export async function loadOrInitClusterMaterial(store: Store, opts: ClusterMaterialOptions): Promise<ClusterMaterial> {
  // scrypt is deliberately slow (and blocks the event loop): derive once per salt.
  const derived = new Map<string, ClusterKey>();
  const keyFor = (kdf: string): ClusterKey => {
    let key = derived.get(kdf);
    if (key === undefined) {
      key = ClusterKey.derive(opts.secret, kdf);
      derived.set(kdf, key);
    }
    return key;
  };
  const result = await store.withAdvisoryLock('cluster-material', 'wait', async () => {
    let rows = await store.clusterMaterial.listClusterMaterial();
    let created = false;
    const imported: string[] = [];
    if (!rows.has(CLUSTER_ROWS.check)) {
      const kdf = rows.get(CLUSTER_ROWS.kdf) ?? ClusterKey.newKdf();
      const key = keyFor(kdf);
      const fromDir = opts.importFrom === undefined ? {} : readDataDirMaterial(opts.importFrom);
      if (fromDir.ca !== undefined) imported.push('ca.key', 'ca.crt');
      if (fromDir.registryKey !== undefined) imported.push(REGISTRY_SECRETS_KEY_FILE);
      const ca = fromDir.ca ?? (await createCertificateAuthority(new Date(opts.now)));
      const check = key.seal(CLUSTER_ROWS.check, CHECK_TEXT);
      await store.clusterMaterial.insertClusterMaterialIfAbsent(
        {
          [CLUSTER_ROWS.kdf]: kdf,
          [CLUSTER_ROWS.check]: check,
          [CLUSTER_ROWS.caKey]: key.seal(CLUSTER_ROWS.caKey, ca.keyPem),
          [CLUSTER_ROWS.caCert]: key.seal(CLUSTER_ROWS.caCert, ca.certPem),
          [CLUSTER_ROWS.registryKey]: key.seal(CLUSTER_ROWS.registryKey, fromDir.registryKey ?? randomBytes(32)),
        },
        opts.now,
      );
      rows = await store.clusterMaterial.listClusterMaterial();
      created = rows.get(CLUSTER_ROWS.check) === check;
    }
    return { rows, created, imported: created ? imported : [] };
  });
  if (!result.acquired) throw new Error('unreachable: a waiting advisory lock is always acquired');
  const { rows, created, imported } = result.value;
  return { ...openClusterMaterial(rows, keyFor, opts.secretFile), created, imported };
}

/** Opens the rows with the secret, or explains exactly what is wrong. */
function openClusterMaterial(
  rows: Map<string, string>,
  keyFor: (kdf: string) => ClusterKey,
  secretFile: string,
): Omit<ClusterMaterial, 'created' | 'imported'> {
  const row = (name: string): string => {
    const value = rows.get(name);
    if (value === undefined) throw damaged(name, 'is missing');
    return value;
  };
  const key = keyFor(row(CLUSTER_ROWS.kdf));
  try {
    key.open(CLUSTER_ROWS.check, row(CLUSTER_ROWS.check));
  } catch (err) {
    if (!(err instanceof ClusterMaterialError)) throw err;
    throw errors.startupFailed(
      `the cluster secret in ${secretFile} is not the one this PostgreSQL database was initialized with (the cluster's check value does not decrypt with it); this replica refuses to start and wrote nothing`,
      'give this replica a copy of the same --cluster-secret-file the other replicas use (the first replica to start on this database chose it); a new secret cannot open the existing CA',
      { field: 'cluster-secret-file' },
    );
  }
  const open = (name: string): Buffer => {
    try {
      return key.open(name, row(name));
    } catch (err) {
      if (err instanceof ClusterMaterialError) throw damaged(name, 'does not decrypt although the secret is right: it was altered, or copied from another row');
      throw err;
    }
  };
  const ca = { keyPem: open(CLUSTER_ROWS.caKey).toString('utf8'), certPem: open(CLUSTER_ROWS.caCert).toString('utf8') };
  if (!caKeyMatches(ca)) throw damaged(CLUSTER_ROWS.caKey, 'does not hold the private key of the CA certificate in "ca.crt"');
  const registryKey = open(CLUSTER_ROWS.registryKey);
  if (registryKey.length !== 32) throw damaged(CLUSTER_ROWS.registryKey, 'is not a 32-byte key');
  return { ca, registryKey };
}

function damaged(row: string, what: string): EdgefleetError {
  return errors.startupFailed(
    `the cluster material row "${row}" in table cluster_material ${what}`,
    'restore the database from a backup taken before the change; the CA cannot be rebuilt without invalidating every node certificate',
  );
}

function caKeyMatches(ca: CertificateAuthority): boolean {
  try {
    return new X509Certificate(ca.certPem).checkPrivateKey(createPrivateKey(ca.keyPem));
  } catch {
    return false;
  }
}

/** The key material a data dir holds from a server that ran before with a data dir of its own. */
function readDataDirMaterial(dir: string): { ca?: CertificateAuthority; registryKey?: Buffer } {
  const out: { ca?: CertificateAuthority; registryKey?: Buffer } = {};
  const caKey = join(dir, 'ca.key');
  const caCrt = join(dir, 'ca.crt');
  if (existsSync(caKey) && existsSync(caCrt)) out.ca = { keyPem: readFileSync(caKey, 'utf8'), certPem: readFileSync(caCrt, 'utf8') };
  const reg = join(dir, REGISTRY_SECRETS_KEY_FILE);
  if (existsSync(reg)) {
    const text = readFileSync(reg, 'utf8').trim();
    const key = Buffer.from(text, 'base64');
    if (key.length === 32) out.registryKey = key;
  }
  return out;
}
