import { EdgefleetError } from '@edgefleet/protocol';
import type { DurableQueue, QueuedRecord, QueueStats } from './durable-queue.js';
import { RECORD_FRAME_OVERHEAD } from './segment-queue.js';

/**
 * `DurableQueue` in memory, for the fleet simulator (many agents in one process, where a
 * directory per node would only measure the disk) and for tests. It keeps the disk queue's
 * semantics except durability: ids from 1, oldest-first `peek`, `ack` up to an id, and the
 * same bound — bytes counted with the disk queue's framing, so a simulated node drops exactly
 * when a real one would (give or take the disk queue's whole-segment drops), oldest first,
 * counted and reported through `onDrop`.
 */

/** Options of `MemoryQueue`. */
interface MemoryQueueOptions {
  /** Bound on the waiting records, counted as the disk queue counts them (payload + 8 bytes of framing). */
  maxBytes: number;
  /** Called whenever full-queue drops happened, with the records and bytes dropped by that call. */
  onDrop?: (records: number, bytes: number) => void;
}

/** A bounded FIFO of records in memory, dropping the oldest when full. */
export class MemoryQueue implements DurableQueue {
  private readonly maxBytes: number;
  private readonly onDrop: ((records: number, bytes: number) => void) | undefined;
  /** Waiting records are `records[head …]`; the array is compacted now and then, not on every ack. */
  private records: QueuedRecord[] = [];
  private head = 0;
  private nextId = 1;
  private bytes = 0;
  private droppedRecords = 0;
  private droppedBytes = 0;
  private closed = false;

  constructor(opts: MemoryQueueOptions) {
    if (!Number.isSafeInteger(opts.maxBytes) || opts.maxBytes <= 0) {
      throw new EdgefleetError({
        code: 'config',
        message: `a memory queue got maxBytes ${opts.maxBytes}; it must be a positive whole number of bytes`,
        hint: 'fix maxBytes in the configuration',
      });
    }
    this.maxBytes = opts.maxBytes;
    this.onDrop = opts.onDrop;
  }

  append(record: Uint8Array): void {
    this.assertOpen();
    const size = RECORD_FRAME_OVERHEAD + record.byteLength;
    if (size > this.maxBytes) {
      throw new EdgefleetError({
        code: 'payload_too_large',
        message: `a record of ${record.byteLength} bytes cannot go into the queue: with ${RECORD_FRAME_OVERHEAD} bytes of framing it is larger than the whole queue (maxBytes ${this.maxBytes})`,
        hint: 'split the record into smaller ones, or raise the queue size',
      });
    }
    let records = 0;
    let bytes = 0;
    while (this.bytes + size > this.maxBytes) {
      const oldest = this.records[this.head++] as QueuedRecord;
      const oldestSize = RECORD_FRAME_OVERHEAD + oldest.data.byteLength;
      this.bytes -= oldestSize;
      records++;
      bytes += oldestSize;
    }
    // A copy: the caller may reuse its buffer, and a disk queue would not see later changes either.
    this.records.push({ id: this.nextId++, data: record.slice() });
    this.bytes += size;
    this.compact();
    if (records > 0) {
      this.droppedRecords += records;
      this.droppedBytes += bytes;
      this.onDrop?.(records, bytes);
    }
  }

  peek(maxRecords: number, maxBytes = Number.POSITIVE_INFINITY): QueuedRecord[] {
    this.assertOpen();
    const out: QueuedRecord[] = [];
    let bytes = 0;
    for (let i = this.head; i < this.records.length && out.length < maxRecords; i++) {
      const record = this.records[i] as QueuedRecord;
      if (out.length > 0 && bytes + record.data.byteLength > maxBytes) break;
      bytes += record.data.byteLength;
      out.push(record);
    }
    return out;
  }

  ack(id: number): void {
    this.assertOpen();
    if (!Number.isSafeInteger(id)) throw new RangeError(`cannot ack record ${id}: record ids are whole numbers`);
    if (id >= this.nextId) throw new RangeError(`cannot ack record ${id}: the newest record in the queue is ${this.nextId - 1}`);
    while (this.head < this.records.length && (this.records[this.head] as QueuedRecord).id <= id) {
      this.bytes -= RECORD_FRAME_OVERHEAD + (this.records[this.head] as QueuedRecord).data.byteLength;
      this.head++;
    }
    this.compact();
  }

  /** Nothing to make durable in memory. */
  sync(): void {
    this.assertOpen();
  }

  stats(): QueueStats {
    return {
      records: this.records.length - this.head,
      bytes: this.bytes,
      maxBytes: this.maxBytes,
      droppedRecords: this.droppedRecords,
      droppedBytes: this.droppedBytes,
    };
  }

  close(): void {
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the memory queue is closed');
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.records.length) {
      this.records = this.records.slice(this.head);
      this.head = 0;
    }
  }
}
