import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLUSTER_ROWS, ClusterKey, ClusterMaterialError, loadOrInitClusterMaterial } from '../../src/cluster/material.js';
import { createCertificateAuthority } from '../../src/pki/ca.js';
import type { Database } from '../../src/store/schema.js';
import { SqlStore } from '../../src/store/sql-store.js';

const SECRET = Buffer.from('a'.repeat(40));
const OTHER = Buffer.from('b'.repeat(40));

describe('ClusterKey', () => {
  const kdf = ClusterKey.newKdf();
  const key = ClusterKey.derive(SECRET, kdf);

  it('opens what it sealed for the same row', () => {
    expect(key.open('ca.key', key.seal('ca.key', 'PEM')).toString()).toBe('PEM');
  });

  it('refuses a value moved to another row: the row name is authenticated', () => {
    const sealed = key.seal('registry-secrets.key', randomBytes(32));
    expect(() => key.open('ca.key', sealed)).toThrow(ClusterMaterialError);
  });

  it('refuses a value sealed under another secret, or another cluster salt', () => {
    const sealed = key.seal('ca.key', 'PEM');
    expect(() => ClusterKey.derive(OTHER, kdf).open('ca.key', sealed)).toThrow(ClusterMaterialError);
    expect(() => ClusterKey.derive(SECRET, ClusterKey.newKdf()).open('ca.key', sealed)).toThrow(ClusterMaterialError);
  });

  it('refuses an altered value', () => {
    const [v, iv, tag, ct] = key.seal('check', 'some text').split(':') as [string, string, string, string];
    const flipped = Buffer.from(ct, 'base64');
    flipped[0] = (flipped[0] as number) ^ 1;
    expect(() => key.open('check', [v, iv, tag, flipped.toString('base64')].join(':'))).toThrow(ClusterMaterialError);
    expect(() => key.open('check', 'not sealed')).toThrow(ClusterMaterialError);
  });

  it('refuses a KDF row it does not know', () => {
    expect(() => ClusterKey.derive(SECRET, 'argon9:xyz')).toThrow(/not "scrypt-v1:<salt>"/);
  });
});

describe('loadOrInitClusterMaterial (SQLite stands in for the store; PostgreSQL in test/integration/cluster.test.ts)', () => {
  let store: SqlStore;
  let dir: string;
  beforeEach(async () => {
    store = new SqlStore('sqlite', new Kysely<Database>({ dialect: new SqliteDialect({ database: new BetterSqlite3(':memory:') }) }));
    await store.migrate();
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-material-'));
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const load = (secret: Buffer, importFrom?: string) =>
    loadOrInitClusterMaterial(store, {
      secret,
      secretFile: '/etc/edgefleet/cluster-secret',
      now: Date.now(),
      ...(importFrom === undefined ? {} : { importFrom }),
    });

  it('initializes once; a second start with the same secret loads the same CA and key', async () => {
    const first = await load(SECRET);
    expect(first.created).toBe(true);
    expect(new X509Certificate(first.ca.certPem).checkPrivateKey(createPrivateKey(first.ca.keyPem))).toBe(true);
    const second = await load(SECRET);
    expect(second.created).toBe(false);
    expect(second.ca).toEqual(first.ca);
    expect(second.registryKey.equals(first.registryKey)).toBe(true);
    const rows = await store.clusterMaterial.listClusterMaterial();
    expect([...rows.keys()].sort()).toEqual(Object.values(CLUSTER_ROWS).sort());
    for (const [name, value] of rows) {
      expect(value, name).not.toContain('PRIVATE KEY');
      expect(value, name).not.toContain(first.registryKey.toString('base64'));
    }
  });

  it('refuses a wrong secret, saying how to fix it, and writes nothing', async () => {
    await load(SECRET);
    const before = await store.clusterMaterial.listClusterMaterial();
    await expect(load(OTHER)).rejects.toMatchObject({
      code: 'startup_failed',
      message: expect.stringMatching(/cluster secret in \/etc\/edgefleet\/cluster-secret is not the one this PostgreSQL database was initialized with/),
      hint: expect.stringMatching(/same --cluster-secret-file/),
    });
    expect(await store.clusterMaterial.listClusterMaterial()).toEqual(before);
  });

  it('refuses a row whose ciphertext was copied from another row, naming it', async () => {
    await load(SECRET);
    const rows = await store.clusterMaterial.listClusterMaterial();
    const db = (store as unknown as { db: Kysely<Database> }).db;
    await db
      .updateTable('cluster_material')
      .set({ value: rows.get(CLUSTER_ROWS.registryKey) as string })
      .where('name', '=', CLUSTER_ROWS.caKey)
      .execute();
    await expect(load(SECRET)).rejects.toMatchObject({ code: 'startup_failed', message: expect.stringMatching(/"ca.key" .* copied from another row/) });
  });

  it("takes the data dir's CA and registry key when it initializes, so enrolled nodes stay trusted", async () => {
    const ca = await createCertificateAuthority(new Date());
    const registryKey = randomBytes(32);
    writeFileSync(join(dir, 'ca.key'), ca.keyPem);
    writeFileSync(join(dir, 'ca.crt'), ca.certPem);
    writeFileSync(join(dir, 'registry-secrets.key'), `${registryKey.toString('base64')}\n`);
    const m = await load(SECRET, dir);
    expect(m).toMatchObject({ created: true, imported: ['ca.key', 'ca.crt', 'registry-secrets.key'], ca });
    expect(m.registryKey.equals(registryKey)).toBe(true);
  });
});
