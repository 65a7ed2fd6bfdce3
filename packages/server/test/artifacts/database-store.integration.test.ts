import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../../../test-support/pg-database.js';
import { DatabaseArtifactStore } from '../../src/artifacts/database-store.js';
import { openStore, type Store } from '../../src/store/index.js';

const sha = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function* chunked(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) {
    yield data.subarray(i, i + size);
    await new Promise((r) => setImmediate(r));
  }
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** The chunked artifact store on real PostgreSQL (`bytea`), as two replicas use it: two pools on one database. */
describe('DatabaseArtifactStore on PostgreSQL', () => {
  let one: Store;
  let two: Store;
  beforeAll(async () => {
    const db = await createTestDatabase();
    one = await openStore(db, '/nonexistent/unused.db');
    two = await openStore(db, '/nonexistent/unused.db');
  }, 60_000);
  afterAll(async () => {
    await one?.close();
    await two?.close();
  });

  it('reads through one replica, from any offset, what the other stored', async () => {
    const a = new DatabaseArtifactStore(one.artifactChunks, () => 1_000, 4096);
    const b = new DatabaseArtifactStore(two.artifactChunks, () => 2_000, 4096);
    const data = randomBytes(4096 * 5 + 17);
    const entry = await a.put(chunked(data, 1500));
    expect(entry).toMatchObject({ digest: sha(data), size: data.length });
    expect(await b.stat(entry.digest)).toEqual(entry);
    for (const start of [0, 1, 4095, 4096, 4097, 20_000, data.length - 1]) {
      const opened = await b.open(entry.digest);
      expect((await readAll(opened?.stream({ start, end: data.length - 1 }) as Readable)).equals(data.subarray(start)), `from ${start}`).toBe(true);
    }
  });

  it('keeps one blob when the same bytes are pushed through two replicas at once', async () => {
    const a = new DatabaseArtifactStore(one.artifactChunks, () => 3_000, 4096);
    const b = new DatabaseArtifactStore(two.artifactChunks, () => 3_000, 4096);
    const data = randomBytes(4096 * 8 + 5);
    const [x, y] = await Promise.all([a.put(chunked(data, 4000)), b.put(chunked(data, 3000))]);
    expect(x).toEqual(y);
    const blobs = (await one.artifactChunks.listArtifactBlobs()).filter((r) => r.digest === sha(data));
    expect(blobs).toHaveLength(1);
    // The losing upload's chunks are gone: only the winner's nine remain.
    const pool = one as unknown as { db: import('kysely').Kysely<import('../../src/store/schema.js').Database> };
    const chunks = await pool.db
      .selectFrom('artifact_chunks')
      .select('upload_id')
      .where('upload_id', 'in', [blobs[0]?.uploadId as string, 'none'])
      .execute();
    expect(chunks).toHaveLength(9);
    const orphans = await pool.db
      .selectFrom('artifact_chunks')
      .select('upload_id')
      .where('upload_id', 'not in', pool.db.selectFrom('artifact_blobs').select('upload_id'))
      .execute();
    expect(orphans).toEqual([]);
    expect(await pool.db.selectFrom('artifact_uploads').selectAll().execute()).toEqual([]);
  });
});
