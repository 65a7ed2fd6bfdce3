/** A complete artifact stored in the database (migration 0018). */
export interface ArtifactBlobRecord {
  digest: string;
  /** The upload whose chunks hold the bytes. */
  uploadId: string;
  size: number;
  /** Bytes in every chunk but the last, so byte N is in chunk floor(N / chunkBytes). */
  chunkBytes: number;
  createdAt: number;
}

/**
 * Artifacts as rows, for replicas that share no volume: an upload writes numbered chunks,
 * and becomes visible under its digest only once complete (artifacts/database-store.ts).
 */
export interface ArtifactChunkRepository {
  /** Records an upload in flight, so an abandoned one can be found and removed later. */
  beginArtifactUpload(uploadId: string, at: number): Promise<void>;
  /** Stores chunk `seq` (0, 1, …) of an upload and marks the upload alive at `at`. */
  putArtifactChunk(uploadId: string, seq: number, data: Uint8Array, at: number): Promise<void>;
  /**
   * Makes a complete upload the blob of `digest`, in one transaction. When the digest is
   * already stored (the same bytes pushed before, or at the same time through another
   * replica) the upload is discarded and the existing blob returned: one blob per digest.
   */
  commitArtifactUpload(blob: ArtifactBlobRecord): Promise<ArtifactBlobRecord>;
  /** Removes an upload and its chunks (a failed push). */
  discardArtifactUpload(uploadId: string): Promise<void>;
  /** Removes uploads with no chunk written since `before` (ms), and their chunks; returns how many. */
  removeStaleArtifactUploads(before: number): Promise<number>;
  getArtifactBlob(digest: string): Promise<ArtifactBlobRecord | undefined>;
  /** Every complete blob, sorted by digest. */
  listArtifactBlobs(): Promise<ArtifactBlobRecord[]>;
  /** Chunk `seq` of an upload, or undefined when there is none. */
  getArtifactChunk(uploadId: string, seq: number): Promise<Uint8Array | undefined>;
}
