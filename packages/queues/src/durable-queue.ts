/**
 * A bounded FIFO of opaque records that survives restarts: the agent's telemetry and log
 * buffers and the server's remote_write / Loki forwarding queues. Records are read
 * oldest-first with `peek` and removed with `ack` once delivered, so a crash between the two
 * re-delivers (at least once) rather than loses. When an append would exceed `maxBytes`, the
 * oldest records are dropped and counted — never silently.
 */
export interface DurableQueue {
  /** Adds a record at the tail. Durable after the next sync (at most `syncIntervalMs` later). */
  append(record: Uint8Array): void;
  /** Up to `maxRecords` of the oldest records (and at most `maxBytes` in total, but at least one). */
  peek(maxRecords: number, maxBytes?: number): QueuedRecord[];
  /** Removes every record up to and including `id` (ids come from `peek`). */
  ack(id: number): void;
  /** Forces appended records to disk now. */
  sync(): void;
  stats(): QueueStats;
  close(): void;
}

export interface QueuedRecord {
  /** Increasing id; survives restarts. */
  id: number;
  data: Uint8Array;
}

export interface QueueStats {
  /** Records waiting. */
  records: number;
  /** Bytes the waiting records take on disk (framing included). */
  bytes: number;
  maxBytes: number;
  /** Records dropped because the queue was full, since it was created (persisted). */
  droppedRecords: number;
  droppedBytes: number;
}
