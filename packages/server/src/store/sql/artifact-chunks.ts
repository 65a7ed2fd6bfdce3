import type { Kysely, Selectable } from 'kysely';
import type { ArtifactBlobRecord, ArtifactChunkRepository } from '../artifact-chunks.js';
import type { Database } from '../schema.js';
import { atomically } from './atomically.js';
import { num } from './columns.js';

function toRecord(r: Selectable<Database['artifact_blobs']>): ArtifactBlobRecord {
  return { digest: r.digest, uploadId: r.upload_id, size: num(r.size), chunkBytes: Number(r.chunk_bytes), createdAt: num(r.created_at) };
}

/** {@link ArtifactChunkRepository} over Kysely (`bytea` on PostgreSQL, `blob` on SQLite). */
export class SqlArtifactChunkRepository implements ArtifactChunkRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async beginArtifactUpload(uploadId: string, at: number): Promise<void> {
    await this.db.insertInto('artifact_uploads').values({ upload_id: uploadId, touched_at: at }).execute();
  }

  async putArtifactChunk(uploadId: string, seq: number, data: Uint8Array, at: number): Promise<void> {
    await this.db.insertInto('artifact_chunks').values({ upload_id: uploadId, seq, data }).execute();
    await this.db.updateTable('artifact_uploads').set({ touched_at: at }).where('upload_id', '=', uploadId).execute();
  }

  async commitArtifactUpload(blob: ArtifactBlobRecord): Promise<ArtifactBlobRecord> {
    try {
      return await atomically(this.db, async (tx) => {
        const existing = await tx.selectFrom('artifact_blobs').selectAll().where('digest', '=', blob.digest).executeTakeFirst();
        if (existing !== undefined) {
          await discard(tx, blob.uploadId);
          return toRecord(existing);
        }
        await tx
          .insertInto('artifact_blobs')
          .values({ digest: blob.digest, upload_id: blob.uploadId, size: blob.size, chunk_bytes: blob.chunkBytes, created_at: blob.createdAt })
          .execute();
        await tx.deleteFrom('artifact_uploads').where('upload_id', '=', blob.uploadId).execute();
        return blob;
      });
    } catch (err) {
      // Another replica committed the same digest between our read and our insert.
      if (!isDuplicate(err)) throw err;
      await this.discardArtifactUpload(blob.uploadId);
      const winner = await this.getArtifactBlob(blob.digest);
      if (winner === undefined) throw err;
      return winner;
    }
  }

  async discardArtifactUpload(uploadId: string): Promise<void> {
    await atomically(this.db, (tx) => discard(tx, uploadId));
  }

  async removeStaleArtifactUploads(before: number): Promise<number> {
    const stale = await this.db.selectFrom('artifact_uploads').select('upload_id').where('touched_at', '<', before).execute();
    for (const { upload_id } of stale) await this.discardArtifactUpload(upload_id);
    return stale.length;
  }

  async getArtifactBlob(digest: string): Promise<ArtifactBlobRecord | undefined> {
    const row = await this.db.selectFrom('artifact_blobs').selectAll().where('digest', '=', digest).executeTakeFirst();
    return row === undefined ? undefined : toRecord(row);
  }

  async listArtifactBlobs(): Promise<ArtifactBlobRecord[]> {
    return (await this.db.selectFrom('artifact_blobs').selectAll().orderBy('digest').execute()).map(toRecord);
  }

  async getArtifactChunk(uploadId: string, seq: number): Promise<Uint8Array | undefined> {
    const row = await this.db.selectFrom('artifact_chunks').select('data').where('upload_id', '=', uploadId).where('seq', '=', seq).executeTakeFirst();
    return row?.data;
  }
}

async function discard(tx: Kysely<Database>, uploadId: string): Promise<void> {
  await tx.deleteFrom('artifact_chunks').where('upload_id', '=', uploadId).execute();
  await tx.deleteFrom('artifact_uploads').where('upload_id', '=', uploadId).execute();
}

/** A UNIQUE or primary-key violation on either database (sql-store.ts has the general test; importing it here would be circular). */
function isDuplicate(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
