import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { EdgefleetError } from '@edgefleet/protocol';
import type { DurableQueue, QueuedRecord, QueueStats } from './durable-queue.js';

/**
 * The durable queue on disk: the agent's telemetry and log buffers while the uplink is down,
 * and the server's forwarding queues. It owns one directory:
 *
 *     00000000000000000001.seg   append-only segment, named after the id of its first record
 *     00000000000000004711.seg   …
 *     cursor                     {"v":1,"ackedId":…,"nextId":…,"droppedRecords":…,…} (atomic rename)
 *
 * A segment is a run of frames `[u32 LE length][u32 LE crc32][payload]`. The CRC covers the
 * length field and the payload, so a tail of zeros (what some filesystems leave after a power
 * cut) never passes for an empty record. A record's id is its segment's first id plus its
 * index, so ids survive restarts without being written anywhere; the cursor holds the last id
 * that is gone (acked or dropped) and the counters, so a restart neither re-delivers acked
 * records nor forgets drops.
 *
 * Durability: appends go to a kept-open fd with `writeSync` (in the page cache at once, so a
 * crash of the process loses nothing); the fd is fsynced at most every `syncIntervalMs` by an
 * unref'd timer, or by `sync()`, so a power cut loses at most the last unsynced interval. On
 * open the segments are scanned: a torn or corrupt frame (short read or CRC mismatch) ends its
 * segment there, the file is truncated to the good prefix and everything before it is kept;
 * what was lost is counted in `corruptRecords` / `corruptBytes` (never in a log line: the queue
 * has no logger). A damaged queue never stops the node from opening it.
 *
 * Bound: `maxBytes` caps the bytes of the waiting records (framing included). When an append
 * would pass it, the oldest records go first: whole oldest segments (one file delete each),
 * then, when only the segment being written remains, its oldest records one by one by moving
 * the cursor. Drops are counted in `droppedRecords` / `droppedBytes`, persisted in the cursor,
 * and reported through `onDrop`. Acked records of a partly acked segment still sit on disk
 * until the whole segment is acked, so the directory holds at most `maxBytes` plus one segment;
 * segments are capped at a quarter of `maxBytes` so that dropping one loses at most a quarter.
 *
 * One process owns a directory; two queues on the same directory would corrupt each other.
 */

/** Bytes of framing per record: u32 length + u32 CRC-32. */
export const RECORD_FRAME_OVERHEAD = 8;

const SEGMENT_NAME = /^(\d{20})\.seg$/;
const CURSOR_FILE = 'cursor';
const CURSOR_TMP = 'cursor.tmp';

/** Options of `SegmentQueue.open`. */
interface SegmentQueueOptions {
  /** Directory the queue owns; created if missing. */
  dir: string;
  /** Bound on the waiting records, framing included (callers use 64 MiB by default). */
  maxBytes: number;
  /** Size at which a segment is closed and a new one started (default 1 MiB, at most maxBytes / 4). */
  segmentBytes?: number;
  /** Longest time an appended record stays unsynced (default 1000 ms; 0 syncs every append). */
  syncIntervalMs?: number;
  /** Called whenever full-queue drops happened, with the records and bytes dropped by that call. */
  onDrop?: (records: number, bytes: number) => void;
}

/** `QueueStats` plus what only a disk queue knows. */
interface SegmentQueueStats extends QueueStats {
  /** Records lost to damage found on disk (torn tails after a power cut, bad CRCs), persisted. A torn tail counts as one. */
  corruptRecords: number;
  corruptBytes: number;
  /** Segment files holding waiting records. */
  segments: number;
}

interface Segment {
  firstId: number;
  file: string;
  /** Frame start offsets plus the end offset: record `firstId + i` spans `offsets[i]` … `offsets[i + 1]`. */
  offsets: number[];
}

interface CursorFile {
  v: 1;
  ackedId: number;
  nextId: number;
  droppedRecords: number;
  droppedBytes: number;
  corruptRecords: number;
  corruptBytes: number;
}

function count(seg: Segment): number {
  return seg.offsets.length - 1;
}

function endOffset(seg: Segment): number {
  return seg.offsets[seg.offsets.length - 1] as number;
}

function segmentName(firstId: number): string {
  return `${String(firstId).padStart(20, '0')}.seg`;
}

/** CRC-32 of a frame: the length field, then the payload. */
function frameCrc(buf: Buffer, frameStart: number, length: number): number {
  const payloadStart = frameStart + RECORD_FRAME_OVERHEAD;
  return crc32(buf.subarray(payloadStart, payloadStart + length), crc32(buf.subarray(frameStart, frameStart + 4)));
}

function positiveInteger(name: string, value: number, dir: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new EdgefleetError({
      code: 'config',
      message: `the queue in ${dir} got ${name} ${value}; it must be a positive whole number of ${name.endsWith('Ms') ? 'milliseconds' : 'bytes'}`,
      hint: `fix ${name} in the configuration`,
    });
  }
  return value;
}

/** A bounded FIFO of records in append-only segment files. See the module comment for the layout. */
export class SegmentQueue implements DurableQueue {
  readonly dir: string;
  private readonly maxBytes: number;
  private readonly segmentBytes: number;
  private readonly syncIntervalMs: number;
  private readonly onDrop: ((records: number, bytes: number) => void) | undefined;

  /** Oldest first. Invariant: every segment holds at least one waiting record. */
  private segments: Segment[] = [];
  /** The segment appends go to (always the last of `segments`), with its append-mode fd. */
  private tail: { seg: Segment; fd: number } | undefined;
  /** Every id ≤ ackedId is gone (acked or dropped). */
  private ackedId = 0;
  private nextId = 1;
  private liveRecords = 0;
  private liveBytes = 0;
  private droppedRecords = 0;
  private droppedBytes = 0;
  private corruptRecords = 0;
  private corruptBytes = 0;

  private dataDirty = false;
  private cursorDirty = false;
  private dirDirty = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(opts: SegmentQueueOptions) {
    this.dir = opts.dir;
    this.maxBytes = positiveInteger('maxBytes', opts.maxBytes, opts.dir);
    const segmentBytes = positiveInteger('segmentBytes', opts.segmentBytes ?? 1024 * 1024, opts.dir);
    this.segmentBytes = Math.max(RECORD_FRAME_OVERHEAD, Math.min(segmentBytes, Math.floor(this.maxBytes / 4)));
    const sync = opts.syncIntervalMs ?? 1000;
    this.syncIntervalMs = sync === 0 ? 0 : positiveInteger('syncIntervalMs', sync, opts.dir);
    this.onDrop = opts.onDrop;
  }

  /** Opens (or creates) the queue in `opts.dir`, recovering from whatever a crash or power cut left there. */
  static open(opts: SegmentQueueOptions): SegmentQueue {
    const queue = new SegmentQueue(opts);
    // Private to the process's user: queued telemetry may hold what a node's logs said.
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    queue.recover();
    return queue;
  }

  append(record: Uint8Array): void {
    this.assertOpen();
    const frameBytes = RECORD_FRAME_OVERHEAD + record.byteLength;
    if (frameBytes > this.maxBytes) {
      throw new EdgefleetError({
        code: 'payload_too_large',
        message: `a record of ${record.byteLength} bytes cannot go into the queue in ${this.dir}: with ${RECORD_FRAME_OVERHEAD} bytes of framing it is larger than the whole queue (maxBytes ${this.maxBytes})`,
        hint: 'split the record into smaller ones, or raise the queue size',
      });
    }
    if (this.tail !== undefined && endOffset(this.tail.seg) > 0 && endOffset(this.tail.seg) + frameBytes > this.segmentBytes) {
      this.closeTail();
    }
    this.makeRoom(frameBytes);
    const tail = this.tail ?? this.openTail();

    const frame = Buffer.allocUnsafe(frameBytes);
    frame.writeUInt32LE(record.byteLength, 0);
    frame.set(record, RECORD_FRAME_OVERHEAD);
    frame.writeUInt32LE(frameCrc(frame, 0, record.byteLength), 4);
    const start = endOffset(tail.seg);
    try {
      let written = 0;
      while (written < frameBytes) written += writeSync(tail.fd, frame, written, frameBytes - written);
    } catch (err) {
      this.abandonTail(start);
      throw new Error(`could not append to the queue segment ${tail.seg.file}: ${(err as Error).message}; free disk space or check the disk`, {
        cause: err,
      });
    }
    tail.seg.offsets.push(start + frameBytes);
    this.nextId++;
    this.liveRecords++;
    this.liveBytes += frameBytes;
    this.dataDirty = true;
    if (this.syncIntervalMs === 0) this.sync();
    else this.scheduleSync();
  }

  peek(maxRecords: number, maxBytes = Number.POSITIVE_INFINITY): QueuedRecord[] {
    this.assertOpen();
    const out: QueuedRecord[] = [];
    let payloadBytes = 0;
    let full = false;
    for (let s = 0; s < this.segments.length && !full && out.length < maxRecords; ) {
      const seg = this.segments[s] as Segment;
      const from = this.liveFrom(seg);
      let to = from;
      while (to < count(seg) && out.length + (to - from) < maxRecords) {
        const payload = (seg.offsets[to + 1] as number) - (seg.offsets[to] as number) - RECORD_FRAME_OVERHEAD;
        if (out.length + (to - from) > 0 && payloadBytes + payload > maxBytes) {
          full = true;
          break;
        }
        payloadBytes += payload;
        to++;
      }
      const read = this.readRecords(seg, from, to);
      out.push(...read.records);
      if (read.damagedAt !== undefined) {
        // The rest of this segment is gone; the segment may have been removed, so look again.
        this.damaged(seg, read.damagedAt);
        s = this.segments.indexOf(seg) + 1;
        if (s === 0) s = this.segments.findIndex((x) => x.firstId > seg.firstId);
        if (s === -1) break;
        full = false;
        continue;
      }
      s++;
    }
    return out;
  }

  ack(id: number): void {
    this.assertOpen();
    if (!Number.isSafeInteger(id)) throw new RangeError(`cannot ack record ${id}: record ids are whole numbers`);
    if (id <= this.ackedId) return;
    if (id >= this.nextId) {
      throw new RangeError(`cannot ack record ${id} in the queue in ${this.dir}: the newest record there is ${this.nextId - 1}`);
    }
    const gone: Segment[] = [];
    while (this.segments.length > 0) {
      const seg = this.segments[0] as Segment;
      const from = this.liveFrom(seg);
      const to = Math.min(count(seg), id + 1 - seg.firstId);
      if (to <= from) break;
      this.liveRecords -= to - from;
      this.liveBytes -= (seg.offsets[to] as number) - (seg.offsets[from] as number);
      if (to < count(seg)) break;
      gone.push(this.removeHead());
    }
    this.ackedId = id;
    this.writeCursor();
    this.deleteFiles(gone);
  }

  sync(): void {
    this.assertOpen();
    if (this.tail !== undefined && this.dataDirty) fsyncSync(this.tail.fd);
    this.dataDirty = false;
    if (this.cursorDirty) this.writeCursor();
    if (this.dirDirty) this.syncDir();
  }

  stats(): SegmentQueueStats {
    return {
      records: this.liveRecords,
      bytes: this.liveBytes,
      maxBytes: this.maxBytes,
      droppedRecords: this.droppedRecords,
      droppedBytes: this.droppedBytes,
      corruptRecords: this.corruptRecords,
      corruptBytes: this.corruptBytes,
      segments: this.segments.length,
    };
  }

  close(): void {
    if (this.closed) return;
    try {
      this.sync();
    } finally {
      if (this.tail !== undefined) closeSync(this.tail.fd);
      this.tail = undefined;
      this.closed = true;
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  // --- recovery -------------------------------------------------------------------------

  private recover(): void {
    rmSync(join(this.dir, CURSOR_TMP), { force: true });
    const cursor = this.readCursor();
    this.ackedId = cursor.ackedId;
    this.droppedRecords = cursor.droppedRecords;
    this.droppedBytes = cursor.droppedBytes;
    this.corruptRecords = cursor.corruptRecords;
    this.corruptBytes = cursor.corruptBytes;
    let nextId = Math.max(cursor.nextId, cursor.ackedId + 1);

    const names = readdirSync(this.dir)
      .filter((name) => SEGMENT_NAME.test(name))
      .sort();
    const truncations: { file: string; size: number }[] = [];
    const scanned: Segment[] = [];
    let lastClean = true;
    for (const [i, name] of names.entries()) {
      const firstId = Number(name.slice(0, 20));
      const file = join(this.dir, name);
      const data = readFileSync(file);
      const offsets = [0];
      let at = 0;
      let damaged = false;
      while (at < data.length) {
        const length = data.length - at >= RECORD_FRAME_OVERHEAD ? data.readUInt32LE(at) : -1;
        if (length < 0 || length > data.length - at - RECORD_FRAME_OVERHEAD || frameCrc(data, at, length) !== data.readUInt32LE(at + 4)) {
          damaged = true;
          break;
        }
        at += RECORD_FRAME_OVERHEAD + length;
        offsets.push(at);
      }
      const seg: Segment = { firstId, file, offsets };
      const end = firstId + count(seg);
      if (damaged) {
        // A later segment's name says how many records this one held; the last segment's
        // torn tail is (almost always) the one record being written when the power went.
        const next = names[i + 1];
        const lostUntil = next === undefined ? end + 1 : Math.max(end, Number(next.slice(0, 20)));
        const lost = Math.max(0, lostUntil - Math.max(end, this.ackedId + 1));
        if (lost > 0) {
          this.corruptRecords += lost;
          this.corruptBytes += data.length - at;
        }
        truncations.push({ file, size: at });
        nextId = Math.max(nextId, lostUntil);
      }
      lastClean = !damaged;
      nextId = Math.max(nextId, end);
      scanned.push(seg);
    }

    const gone: Segment[] = [];
    for (const seg of scanned) {
      const from = this.liveFrom(seg);
      if (from >= count(seg)) {
        gone.push(seg);
        continue;
      }
      this.segments.push(seg);
      this.liveRecords += count(seg) - from;
      this.liveBytes += endOffset(seg) - (seg.offsets[from] as number);
    }
    this.nextId = nextId;
    // Counters first, then the repairs: a crash in between counts a loss twice rather than never.
    if (truncations.length > 0 || gone.length > 0 || nextId !== cursor.nextId) this.writeCursor();
    for (const t of truncations) truncateSync(t.file, t.size);
    this.deleteFiles(gone);

    // Keep appending to the last segment when it is intact, has room and ends at nextId.
    const last = this.segments[this.segments.length - 1];
    if (last !== undefined && lastClean && last.firstId + count(last) === this.nextId && endOffset(last) < this.segmentBytes) {
      this.tail = { seg: last, fd: openSync(last.file, 'a', 0o600) };
    }
    // A smaller maxBytes than last time applies at once.
    this.makeRoom(0);
  }

  private readCursor(): CursorFile {
    const empty: CursorFile = { v: 1, ackedId: 0, nextId: 1, droppedRecords: 0, droppedBytes: 0, corruptRecords: 0, corruptBytes: 0 };
    let text: string;
    try {
      text = readFileSync(join(this.dir, CURSOR_FILE), 'utf8');
    } catch {
      return empty;
    }
    try {
      const parsed = JSON.parse(text) as Partial<CursorFile>;
      const n = (v: unknown): number => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0);
      return {
        v: 1,
        ackedId: n(parsed.ackedId),
        nextId: Math.max(1, n(parsed.nextId)),
        droppedRecords: n(parsed.droppedRecords),
        droppedBytes: n(parsed.droppedBytes),
        corruptRecords: n(parsed.corruptRecords),
        corruptBytes: n(parsed.corruptBytes),
      };
    } catch {
      // Written by rename, so only a disk that lies about fsync gets here: re-delivering
      // everything still on disk (at least once) beats refusing to start.
      return empty;
    }
  }

  // --- internals ------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new Error(`the queue in ${this.dir} is closed; open it again with SegmentQueue.open`);
  }

  /** Index of the first waiting record of `seg`. */
  private liveFrom(seg: Segment): number {
    return Math.min(count(seg), Math.max(0, this.ackedId + 1 - seg.firstId));
  }

  /** Drops the oldest records until `frameBytes` more fit under maxBytes. */
  private makeRoom(frameBytes: number): void {
    let records = 0;
    let bytes = 0;
    const gone: Segment[] = [];
    while (this.liveBytes + frameBytes > this.maxBytes && this.segments.length > 0) {
      const seg = this.segments[0] as Segment;
      const from = this.liveFrom(seg);
      if (this.segments.length > 1) {
        records += count(seg) - from;
        bytes += endOffset(seg) - (seg.offsets[from] as number);
        this.liveRecords -= count(seg) - from;
        this.liveBytes -= endOffset(seg) - (seg.offsets[from] as number);
        this.ackedId = seg.firstId + count(seg) - 1;
        gone.push(this.removeHead());
        continue;
      }
      // Only one segment is left (the one being written, or the last one at open): move the
      // cursor past its oldest record.
      const size = (seg.offsets[from + 1] as number) - (seg.offsets[from] as number);
      records++;
      bytes += size;
      this.liveRecords--;
      this.liveBytes -= size;
      this.ackedId = seg.firstId + from;
      if (from + 1 === count(seg)) gone.push(this.removeHead());
    }
    if (records === 0) return;
    this.droppedRecords += records;
    this.droppedBytes += bytes;
    if (gone.length > 0) {
      this.writeCursor();
      this.deleteFiles(gone);
    } else {
      this.cursorDirty = true;
      this.scheduleSync();
    }
    this.onDrop?.(records, bytes);
  }

  /** Removes the oldest segment from the index (closing it if it is the tail); the caller deletes the file. */
  private removeHead(): Segment {
    const seg = this.segments.shift() as Segment;
    if (this.tail?.seg === seg) {
      closeSync(this.tail.fd);
      this.tail = undefined;
      this.dataDirty = false;
    }
    return seg;
  }

  private openTail(): { seg: Segment; fd: number } {
    const seg: Segment = { firstId: this.nextId, file: join(this.dir, segmentName(this.nextId)), offsets: [0] };
    const fd = openSync(seg.file, 'a', 0o600);
    this.segments.push(seg);
    this.tail = { seg, fd };
    this.dirDirty = true;
    return this.tail;
  }

  /** Closes the full tail segment, synced, so closed segments are always complete on disk. */
  private closeTail(): void {
    if (this.tail === undefined) return;
    if (this.dataDirty) fsyncSync(this.tail.fd);
    closeSync(this.tail.fd);
    this.tail = undefined;
    this.dataDirty = false;
  }

  /** After a failed write: cut the partial frame off and start a new segment next time. */
  private abandonTail(goodSize: number): void {
    const tail = this.tail;
    if (tail === undefined) return;
    try {
      truncateSync(tail.seg.file, goodSize);
    } catch {
      // The scan at the next open finds and cuts the partial frame instead.
    }
    closeSync(tail.fd);
    this.tail = undefined;
    if (count(tail.seg) === 0) {
      this.segments.pop();
      rmSync(tail.seg.file, { force: true });
    }
  }

  /** Reads records `from` … `to - 1` of `seg`; stops at the first frame that fails its CRC. */
  private readRecords(seg: Segment, from: number, to: number): { records: QueuedRecord[]; damagedAt?: number } {
    if (to <= from) return { records: [] };
    const start = seg.offsets[from] as number;
    const length = (seg.offsets[to] as number) - start;
    const buf = Buffer.alloc(length);
    const fd = openSync(seg.file, 'r');
    let got = 0;
    try {
      while (got < length) {
        const n = readSync(fd, buf, got, length - got, start + got);
        if (n === 0) break;
        got += n;
      }
    } finally {
      closeSync(fd);
    }
    const records: QueuedRecord[] = [];
    for (let i = from; i < to; i++) {
      const at = (seg.offsets[i] as number) - start;
      const size = (seg.offsets[i + 1] as number) - start - at - RECORD_FRAME_OVERHEAD;
      if (at + RECORD_FRAME_OVERHEAD + size > got || buf.readUInt32LE(at) !== size || frameCrc(buf, at, size) !== buf.readUInt32LE(at + 4)) {
        return { records, damagedAt: i };
      }
      const payload = at + RECORD_FRAME_OVERHEAD;
      records.push({ id: seg.firstId + i, data: new Uint8Array(buf.buffer, buf.byteOffset + payload, size) });
    }
    return { records };
  }

  /** A record went bad after open (the disk changed under us): the segment ends before it, the rest is counted lost. */
  private damaged(seg: Segment, index: number): void {
    const lost = count(seg) - index;
    const lostBytes = endOffset(seg) - (seg.offsets[index] as number);
    this.corruptRecords += lost;
    this.corruptBytes += lostBytes;
    this.liveRecords -= lost;
    this.liveBytes -= lostBytes;
    seg.offsets.length = index + 1;
    // Appends go to a new segment so the lost ids are never reused.
    if (this.tail?.seg === seg) this.closeTail();
    const gone = this.liveFrom(seg) >= count(seg) ? [seg] : [];
    if (gone.length > 0) this.segments.splice(this.segments.indexOf(seg), 1);
    this.writeCursor();
    if (gone.length === 0) {
      try {
        truncateSync(seg.file, endOffset(seg));
      } catch {
        // Cut at the next open instead.
      }
    }
    this.deleteFiles(gone);
  }

  private writeCursor(): void {
    const cursor: CursorFile = {
      v: 1,
      ackedId: this.ackedId,
      nextId: this.nextId,
      droppedRecords: this.droppedRecords,
      droppedBytes: this.droppedBytes,
      corruptRecords: this.corruptRecords,
      corruptBytes: this.corruptBytes,
    };
    const tmp = join(this.dir, CURSOR_TMP);
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(cursor));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(this.dir, CURSOR_FILE));
    this.cursorDirty = false;
    this.dirDirty = true;
    if (!this.closed && this.syncIntervalMs > 0) this.scheduleSync();
  }

  private deleteFiles(segments: Segment[]): void {
    for (const seg of segments) rmSync(seg.file, { force: true });
    if (segments.length > 0) this.dirDirty = true;
  }

  /** Makes renames, creations and deletions in the directory durable. */
  private syncDir(): void {
    try {
      const fd = openSync(this.dir, 'r');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch {
      // Some filesystems refuse fsync on a directory; the data files are synced regardless.
    }
    this.dirDirty = false;
  }

  private scheduleSync(): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.closed) return;
      try {
        this.sync();
      } catch {
        // Still dirty: the next append schedules another try, and sync()/close() report the error.
      }
    }, this.syncIntervalMs);
    this.timer.unref();
  }
}
