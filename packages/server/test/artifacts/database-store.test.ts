import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DatabaseArtifactStore, importArtifactDirectory } from '../../src/artifacts/database-store.js';
import { ArtifactStore, STALE_TEMP_MS } from '../../src/artifacts/store.js';
import type { Database } from '../../src/store/schema.js';
import { SqlStore } from '../../src/store/sql-store.js';

const sha = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function* chunked(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** The same store code runs on PostgreSQL (test/integration/cluster.test.ts); SQLite keeps this tier free of services. */
describe('DatabaseArtifactStore', () => {
  let store: SqlStore;
  let now: number;
  let artifacts: DatabaseArtifactStore;
  const CHUNK = 1000;
  beforeEach(async () => {
    store = new SqlStore('sqlite', new Kysely<Database>({ dialect: new SqliteDialect({ database: new BetterSqlite3(':memory:') }) }));
    await store.migrate();
    now = 1_700_000_000_000;
    artifacts = new DatabaseArtifactStore(store.artifactChunks, () => now, CHUNK);
  });
  afterEach(() => store.close());

  it.each([0, 1, 999, 1000, 1001, 4321])('stores %i bytes in chunks and reads every range back', async (n) => {
    const data = randomBytes(n);
    const entry = await artifacts.put(chunked(data, 333));
    expect(entry).toMatchObject({ digest: sha(data), size: n, createdAt: new Date(now) });
    const opened = await artifacts.open(entry.digest);
    expect(await readAll(opened?.stream() as Readable)).toEqual(data);
    for (const [start, end] of [
      [0, n - 1],
      [1, n - 2],
      [999, 1000],
      [1000, n - 1],
      [n - 1, n - 1],
    ] as const) {
      if (start < 0 || end < start || end >= n) continue;
      const o = await artifacts.open(entry.digest);
      expect(await readAll(o?.stream({ start, end }) as Readable), `${start}-${end}`).toEqual(data.subarray(start, end + 1));
    }
  });

  it('keeps every chunk but the last exactly chunk-sized, whatever the upload pieces', async () => {
    const data = randomBytes(3500);
    const { digest } = await artifacts.put(chunked(data, 777));
    const blob = await store.artifactChunks.getArtifactBlob(digest);
    const sizes = [0, 1, 2, 3].map(async (seq) => (await store.artifactChunks.getArtifactChunk(blob?.uploadId as string, seq))?.byteLength);
    expect(await Promise.all(sizes)).toEqual([1000, 1000, 1000, 500]);
  });

  it('stores the same content once and keeps its first creation time', async () => {
    const data = randomBytes(2500);
    const first = await artifacts.put(chunked(data, 100));
    now += 60_000;
    const again = await artifacts.put(chunked(data, 900));
    expect(again).toEqual(first);
    expect(await artifacts.list()).toEqual([first]);
  });

  it('refuses past maxBytes and on an interrupted upload, leaving no chunk behind', async () => {
    await expect(artifacts.put(chunked(randomBytes(5000), 500), { maxBytes: 4000 })).rejects.toMatchObject({ code: 'payload_too_large' });
    async function* broken(): AsyncGenerator<Buffer> {
      yield randomBytes(2500);
      throw new Error('socket hang up');
    }
    await expect(artifacts.put(broken())).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/interrupted after 2500 bytes/) });
    const db = (store as unknown as { db: Kysely<Database> }).db;
    expect(await db.selectFrom('artifact_chunks').select('seq').execute()).toEqual([]);
    expect(await db.selectFrom('artifact_uploads').select('upload_id').execute()).toEqual([]);
    expect(await artifacts.list()).toEqual([]);
  });

  it('removes uploads abandoned for an hour, not younger ones', async () => {
    await store.artifactChunks.beginArtifactUpload('old', now - STALE_TEMP_MS - 1);
    await store.artifactChunks.putArtifactChunk('old', 0, randomBytes(10), now - STALE_TEMP_MS - 1);
    await store.artifactChunks.beginArtifactUpload('young', now - 1000);
    expect(await artifacts.removeStaleUploads()).toBe(1);
    expect(await store.artifactChunks.getArtifactChunk('old', 0)).toBeUndefined();
  });

  it("reads a model's chunks from the database once for many concurrent downloads", async () => {
    const data = randomBytes(4321);
    const { digest } = await artifacts.put(chunked(data, 1000));
    const reads: number[] = [];
    const counted = Object.create(store.artifactChunks) as typeof store.artifactChunks;
    counted.getArtifactChunk = (uploadId, seq) => {
      reads.push(seq);
      return store.artifactChunks.getArtifactChunk(uploadId, seq);
    };
    const replica = new DatabaseArtifactStore(counted, () => now, CHUNK);
    const downloads = await Promise.all(Array.from({ length: 20 }, async () => readAll((await replica.open(digest))?.stream() as Readable)));
    for (const d of downloads) expect(d).toEqual(data);
    const again = await replica.open(digest);
    expect(await readAll(again?.stream({ start: 2500, end: 4320 }) as Readable)).toEqual(data.subarray(2500));
    expect(reads.sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it('answers undefined for an absent digest and 400 for a malformed one', async () => {
    expect(await artifacts.open(`sha256:${'0'.repeat(64)}`)).toBeUndefined();
    expect(await artifacts.has(`sha256:${'0'.repeat(64)}`)).toBe(false);
    await expect(artifacts.stat('sha256:../../etc/passwd')).rejects.toMatchObject({ code: 'bad_request' });
  });

  it('copies in what a server kept in DATA/artifacts/, once, and leaves the folder as it was', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'edgefleet-import-'));
    try {
      const log = pino({ level: 'silent' });
      expect(await importArtifactDirectory(dataDir, artifacts, log)).toBe(0);
      expect(existsSync(join(dataDir, 'artifacts'))).toBe(false); // nothing made where there was nothing
      const dir = new ArtifactStore(join(dataDir, 'artifacts'));
      const blobs = [randomBytes(2500), randomBytes(10)];
      for (const b of blobs) await dir.put(Readable.from([b]));
      expect(await importArtifactDirectory(dataDir, artifacts, log)).toBe(2);
      expect(await importArtifactDirectory(dataDir, artifacts, log)).toBe(0);
      for (const b of blobs) expect(await readAll((await artifacts.open(sha(b)))?.stream() as Readable)).toEqual(b);
      expect((await dir.list()).map((e) => e.digest).sort()).toEqual(blobs.map(sha).sort());
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
