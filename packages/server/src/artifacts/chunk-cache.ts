/**
 * The artifact chunks this replica read from the database lately, shared by all its
 * downloads, least recently used first out.
 *
 * Why: a release sends one model to many nodes within minutes, and without a cache every
 * download read every chunk from PostgreSQL again, each 1 MiB chunk sent as 2 MiB of hex
 * text and decoded back in this process. `npm run bench:downloads` (docs/BENCHMARKS.md,
 * "Artifact downloads from PostgreSQL"): 100 downloads of an 8 MiB model by 20 clients ran
 * at 104–115 MiB/s with 9.5–10 ms of server CPU per MiB, where the same downloads from a
 * data dir on SQLite ran at 518 MiB/s and 1.8 ms.
 *
 * Why it is safe: a chunk never changes. It is written before its upload is committed, a
 * reader finds it only through the committed blob record, and upload ids are random and
 * never reused, so a cached chunk is the stored chunk for as long as the process lives.
 *
 * Concurrent readers of a chunk that is not held share one query: a release's first
 * downloads all start together and would otherwise all miss.
 */
export class ChunkCache {
  /** Held chunks by key, least recently used first (a Map keeps insertion order). */
  private readonly held = new Map<string, Uint8Array>();
  /** Queries in flight, so concurrent readers of one chunk share one. */
  private readonly loading = new Map<string, Promise<Uint8Array | undefined>>();
  private heldBytes = 0;
  /** Reads served from memory, from the database, and by joining another reader's query. */
  readonly stats = { hits: 0, misses: 0, joined: 0 };

  /** `maxBytes`: the most chunk bytes held; a chunk larger than a quarter of it is not kept. */
  constructor(private readonly maxBytes: number) {}

  /** Chunk bytes held now. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** The chunk under `key`: held, or read by `load` (a missing chunk is not remembered). */
  get(key: string, load: () => Promise<Uint8Array | undefined>): Promise<Uint8Array | undefined> {
    const held = this.held.get(key);
    if (held !== undefined) {
      this.stats.hits++;
      // Most recently used goes last.
      this.held.delete(key);
      this.held.set(key, held);
      return Promise.resolve(held);
    }
    const inFlight = this.loading.get(key);
    if (inFlight !== undefined) {
      this.stats.joined++;
      return inFlight;
    }
    this.stats.misses++;
    const query = load().then(
      (data) => {
        this.loading.delete(key);
        if (data !== undefined) this.keep(key, data);
        return data;
      },
      (err: unknown) => {
        this.loading.delete(key);
        throw err;
      },
    );
    this.loading.set(key, query);
    return query;
  }

  private keep(key: string, data: Uint8Array): void {
    if (data.byteLength > this.maxBytes / 4) return;
    this.held.set(key, data);
    this.heldBytes += data.byteLength;
    for (const [oldest, bytes] of this.held) {
      if (this.heldBytes <= this.maxBytes) break;
      this.held.delete(oldest);
      this.heldBytes -= bytes.byteLength;
    }
  }
}
