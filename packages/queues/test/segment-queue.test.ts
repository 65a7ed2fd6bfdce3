import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { DurableQueue } from '../src/durable-queue.js';
import { MemoryQueue } from '../src/memory-queue.js';
import { RECORD_FRAME_OVERHEAD, SegmentQueue } from '../src/segment-queue.js';

const dirs: string[] = [];
const open: DurableQueue[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgefleet-queue-'));
  dirs.push(dir);
  return dir;
}

afterEach(() => {
  for (const q of open.splice(0)) {
    try {
      q.close();
    } catch {
      // already closed by the test
    }
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

function openSegments(dir: string, opts: { maxBytes?: number; segmentBytes?: number; onDrop?: (r: number, b: number) => void } = {}): SegmentQueue {
  const q = SegmentQueue.open({ dir, maxBytes: opts.maxBytes ?? 1024 * 1024, segmentBytes: opts.segmentBytes, syncIntervalMs: 60_000, onDrop: opts.onDrop });
  open.push(q);
  return q;
}

function segmentFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.seg'))
    .sort();
}

/** Every waiting record, oldest first. */
function drain(q: DurableQueue): { id: number; text: string }[] {
  return q.peek(Number.MAX_SAFE_INTEGER).map((r) => ({ id: r.id, text: dec(r.data) }));
}

/** A copy of the queue directory, as a crash would leave it (nothing closed or synced by the queue). */
function copyDir(from: string): string {
  const to = tempDir();
  mkdirSync(to, { recursive: true });
  for (const f of readdirSync(from)) copyFileSync(join(from, f), join(to, f));
  return to;
}

type Factory = (opts: { maxBytes: number; onDrop?: (records: number, bytes: number) => void }) => DurableQueue;

const factories: [string, Factory][] = [
  ['SegmentQueue', (opts) => openSegments(tempDir(), { ...opts, segmentBytes: 256 })],
  [
    'MemoryQueue',
    (opts) => {
      const q = new MemoryQueue(opts);
      open.push(q);
      return q;
    },
  ],
];

describe.each(factories)('%s (shared cases)', (_name, make) => {
  it('hands records back oldest first with increasing ids from 1', () => {
    const q = make({ maxBytes: 1024 * 1024 });
    for (let i = 0; i < 50; i++) q.append(enc(`record ${i}`));
    const all = drain(q);
    expect(all.map((r) => r.text)).toEqual(Array.from({ length: 50 }, (_, i) => `record ${i}`));
    expect(all.map((r) => r.id)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(q.stats()).toMatchObject({ records: 50, droppedRecords: 0 });
  });

  it('peek respects maxRecords and maxBytes but always returns at least one record', () => {
    const q = make({ maxBytes: 1024 * 1024 });
    for (let i = 0; i < 10; i++) q.append(enc('x'.repeat(10)));
    expect(q.peek(3)).toHaveLength(3);
    expect(q.peek(100, 35)).toHaveLength(3);
    expect(q.peek(100, 1)).toHaveLength(1);
    expect(q.peek(0)).toHaveLength(0);
    // peek does not consume
    expect(q.peek(100)).toHaveLength(10);
  });

  it('ack removes every record up to the id; stale acks are harmless, acks from the future are refused', () => {
    const q = make({ maxBytes: 1024 * 1024 });
    for (let i = 1; i <= 20; i++) q.append(enc(`r${i}`));
    q.ack(7);
    expect(drain(q)[0]).toEqual({ id: 8, text: 'r8' });
    q.ack(3);
    expect(q.stats().records).toBe(13);
    expect(q.stats().bytes).toBe(13 * RECORD_FRAME_OVERHEAD + enc('r8r9').length + 11 * 3);
    expect(() => q.ack(21)).toThrow(/newest record .* is 20/);
    q.ack(20);
    expect(q.stats()).toMatchObject({ records: 0, bytes: 0 });
    expect(q.peek(10)).toEqual([]);
    q.append(enc('after'));
    expect(drain(q)).toEqual([{ id: 21, text: 'after' }]);
  });

  it('when full, drops the oldest records, keeps the newest in order and counts every drop', () => {
    let onDropRecords = 0;
    let onDropBytes = 0;
    const maxBytes = 2000;
    const q = make({
      maxBytes,
      onDrop: (r, b) => {
        onDropRecords += r;
        onDropBytes += b;
      },
    });
    const n = 500;
    for (let i = 0; i < n; i++) q.append(enc(`line ${String(i).padStart(4, '0')}`));
    const stats = q.stats();
    const all = drain(q);
    expect(stats.bytes).toBeLessThanOrEqual(maxBytes);
    expect(stats.records).toBe(all.length);
    expect(stats.droppedRecords + stats.records).toBe(n);
    expect(stats.droppedBytes).toBe(stats.droppedRecords * (RECORD_FRAME_OVERHEAD + 9));
    expect(onDropRecords).toBe(stats.droppedRecords);
    expect(onDropBytes).toBe(stats.droppedBytes);
    // What is left is the newest run, unbroken.
    expect(all.map((r) => r.id)).toEqual(Array.from({ length: all.length }, (_, i) => n - all.length + 1 + i));
    expect(all.at(-1)?.text).toBe('line 0499');
    // At least three quarters of the room is still used (whole-segment drops lose at most a quarter).
    expect(stats.bytes).toBeGreaterThan(maxBytes * 0.7);
  });

  it('refuses a record larger than the whole queue with a clear error and keeps what it had', () => {
    const q = make({ maxBytes: 1000 });
    q.append(enc('kept'));
    expect(() => q.append(new Uint8Array(993))).toThrow(/993 bytes .* larger than the whole queue \(maxBytes 1000\)/);
    q.append(new Uint8Array(992 - 12));
    expect(drain(q)[0]?.text).toBe('kept');
    expect(q.stats().droppedRecords).toBe(0);
  });

  it('refuses use after close', () => {
    const q = make({ maxBytes: 1000 });
    q.close();
    expect(() => q.append(enc('late'))).toThrow(/closed/);
  });
});

describe('SegmentQueue on disk', () => {
  it('keeps FIFO order across many segment files and reads across all of them in one peek', () => {
    const dir = tempDir();
    const q = openSegments(dir, { segmentBytes: 100 });
    for (let i = 0; i < 200; i++) q.append(enc(`record ${i}`));
    expect(segmentFiles(dir).length).toBeGreaterThan(20);
    expect(segmentFiles(dir)[0]).toBe('00000000000000000001.seg');
    const all = drain(q);
    expect(all.map((r) => r.text)).toEqual(Array.from({ length: 200 }, (_, i) => `record ${i}`));
    expect(q.stats().segments).toBe(segmentFiles(dir).length);
    // Peeks that start in the middle of a segment, one of them cut by bytes across a segment boundary.
    q.ack(16);
    expect(q.peek(100, 30).map((r) => dec(r.data))).toEqual(['record 16', 'record 17', 'record 18']);
    q.ack(17);
    expect(q.peek(3).map((r) => r.id)).toEqual([18, 19, 20]);
  });

  it('keeps ids, records and the acked position across a reopen, and never reuses an id', () => {
    const dir = tempDir();
    let q = openSegments(dir, { segmentBytes: 64 });
    for (let i = 1; i <= 10; i++) q.append(enc(`r${i}`));
    q.ack(4);
    q.close();
    q = openSegments(dir, { segmentBytes: 64 });
    expect(drain(q).map((r) => r.id)).toEqual([5, 6, 7, 8, 9, 10]);
    q.append(enc('r11'));
    q.ack(11);
    q.close();
    expect(segmentFiles(dir)).toEqual([]);
    // Everything was acked and every segment deleted: the cursor still knows where ids were.
    q = openSegments(dir, { segmentBytes: 64 });
    q.append(enc('r12'));
    expect(drain(q)).toEqual([{ id: 12, text: 'r12' }]);
  });

  it('deletes a segment file once every record in it is acked', () => {
    const dir = tempDir();
    const q = openSegments(dir, { segmentBytes: 100 });
    for (let i = 0; i < 30; i++) q.append(enc(`record ${String(i).padStart(2, '0')}`)); // 17-byte frames, 5 per segment
    expect(segmentFiles(dir)).toHaveLength(6);
    q.ack(7); // segment 1 (ids 1–5) fully acked, segment 2 partly
    expect(segmentFiles(dir)).toHaveLength(5);
    expect(segmentFiles(dir)[0]).toBe('00000000000000000006.seg');
    q.ack(30);
    expect(segmentFiles(dir)).toEqual([]);
  });

  it('survives a power cut at every byte of the last record: earlier records kept, the torn one counted, appends continue', () => {
    const dir = tempDir();
    const q = openSegments(dir, { segmentBytes: 4096 });
    for (let i = 1; i <= 6; i++) q.append(enc(`record number ${i}`));
    // The process is "killed" here: no sync, no close. What is on disk is what a crash leaves.
    const segment = segmentFiles(dir)[0] as string;
    const size = statSync(join(dir, segment)).size;
    const lastFrame = RECORD_FRAME_OVERHEAD + enc('record number 6').length;
    const earlier = Array.from({ length: 5 }, (_, i) => `record number ${i + 1}`);

    for (let cut = size - lastFrame; cut < size; cut++) {
      const crashed = copyDir(dir);
      truncateSync(join(crashed, segment), cut);
      const torn = cut > size - lastFrame;
      let r = openSegments(crashed);
      expect(drain(r).map((x) => x.text)).toEqual(earlier);
      expect(r.stats()).toMatchObject({ records: 5, corruptRecords: torn ? 1 : 0 });
      r.append(enc('after the crash'));
      const after = drain(r).at(-1);
      expect(after?.text).toBe('after the crash');
      // The torn record's id (6) is never handed out again.
      expect(after?.id).toBe(torn ? 7 : 6);
      r.close();
      r = openSegments(crashed);
      expect(drain(r).map((x) => x.text)).toEqual([...earlier, 'after the crash']);
      expect(r.stats().corruptRecords).toBe(torn ? 1 : 0);
      r.close();
    }
  });

  it('treats a zero-filled tail (what some filesystems leave after a power cut) as torn, not as records', () => {
    const dir = tempDir();
    let q = openSegments(dir);
    q.append(enc('a'));
    q.append(enc('b'));
    q.close();
    const segment = join(dir, segmentFiles(dir)[0] as string);
    writeFileSync(segment, Buffer.concat([readFileSync(segment), Buffer.alloc(64)]));
    q = openSegments(dir);
    expect(drain(q).map((r) => r.text)).toEqual(['a', 'b']);
    expect(q.stats().records).toBe(2);
  });

  it('a corrupt record in an older segment ends that segment: records before it and later segments are kept, the loss counted', () => {
    const dir = tempDir();
    let q = openSegments(dir, { segmentBytes: 100 });
    for (let i = 0; i < 15; i++) q.append(enc(`record ${String(i).padStart(2, '0')}`)); // 17-byte frames, 5 per segment
    q.close();
    const [first] = segmentFiles(dir);
    const file = join(dir, first as string);
    const bytes = readFileSync(file);
    bytes[2 * 17 + RECORD_FRAME_OVERHEAD + 3]! ^= 0xff; // a payload byte of the third record
    writeFileSync(file, bytes);

    q = openSegments(dir, { segmentBytes: 100 });
    const texts = drain(q).map((r) => r.text);
    expect(texts).toEqual(['record 00', 'record 01', ...Array.from({ length: 10 }, (_, i) => `record ${String(i + 5).padStart(2, '0')}`)]);
    expect(q.stats()).toMatchObject({ records: 12, corruptRecords: 3, corruptBytes: 3 * 17, droppedRecords: 0 });
    q.append(enc('record 15'));
    expect(drain(q).at(-1)).toEqual({ id: 16, text: 'record 15' });
    q.close();
    // Counted once: the damaged segment was cut at the bad record, so a second open finds nothing new.
    q = openSegments(dir, { segmentBytes: 100 });
    expect(q.stats()).toMatchObject({ records: 13, corruptRecords: 3 });
  });

  it('a record damaged after open is skipped by peek and counted, not handed out', () => {
    const dir = tempDir();
    const q = openSegments(dir, { segmentBytes: 100 });
    for (let i = 0; i < 10; i++) q.append(enc(`record ${String(i).padStart(2, '0')}`));
    const file = join(dir, segmentFiles(dir)[0] as string);
    const bytes = readFileSync(file);
    bytes[17 + RECORD_FRAME_OVERHEAD]! ^= 0x01; // second record's first payload byte
    writeFileSync(file, bytes);
    const texts = drain(q).map((r) => r.text);
    expect(texts).toEqual(['record 00', 'record 05', 'record 06', 'record 07', 'record 08', 'record 09']);
    expect(q.stats()).toMatchObject({ records: 6, corruptRecords: 4 });
  });

  it('opens a queue whose cursor file is garbage, re-delivering what is on disk rather than refusing to start', () => {
    const dir = tempDir();
    let q = openSegments(dir);
    q.append(enc('a'));
    q.append(enc('b'));
    q.ack(1);
    q.close();
    writeFileSync(join(dir, 'cursor'), '{"v":1,"acke');
    q = openSegments(dir);
    expect(drain(q).map((r) => r.text)).toEqual(['a', 'b']);
  });

  it('drops whole oldest segments when full, bounds the files on disk, and keeps the counters across a reopen', () => {
    const dir = tempDir();
    const drops: number[] = [];
    let q = openSegments(dir, { maxBytes: 4000, segmentBytes: 1000, onDrop: (r) => drops.push(r) });
    for (let i = 0; i < 1000; i++) q.append(enc(`sample ${String(i).padStart(4, '0')} `.padEnd(42, '.'))); // 50-byte frames
    const stats = q.stats();
    expect(stats.droppedRecords + stats.records).toBe(1000);
    expect(stats.droppedBytes).toBe(stats.droppedRecords * 50);
    expect(drops.every((r) => r === 20)).toBe(true); // one whole segment each time
    expect(segmentFiles(dir).length).toBeLessThanOrEqual(4);
    const newest = drain(q);
    q.close();

    q = openSegments(dir, { maxBytes: 4000, segmentBytes: 1000 });
    expect(q.stats()).toMatchObject({ droppedRecords: stats.droppedRecords, droppedBytes: stats.droppedBytes, records: stats.records });
    expect(drain(q)).toEqual(newest);
  });

  it('applies a smaller maxBytes at open, dropping the oldest (down to single records of the last segment)', () => {
    const dir = tempDir();
    let q = openSegments(dir, { maxBytes: 100_000, segmentBytes: 1000 });
    for (let i = 0; i < 30; i++) q.append(enc(`sample ${String(i).padStart(4, '0')} `.padEnd(42, '.'))); // 50-byte frames, 20 per segment
    q.close();
    q = openSegments(dir, { maxBytes: 420, segmentBytes: 1000 });
    const all = drain(q);
    expect(all.map((r) => r.id)).toEqual([23, 24, 25, 26, 27, 28, 29, 30]);
    expect(q.stats()).toMatchObject({ records: 8, bytes: 400, droppedRecords: 22, droppedBytes: 1100 });
    q.close();
    q = openSegments(dir, { maxBytes: 420, segmentBytes: 1000 });
    expect(q.stats()).toMatchObject({ records: 8, droppedRecords: 22 });
  });

  it('names a bad size in its configuration error', () => {
    expect(() => SegmentQueue.open({ dir: tempDir(), maxBytes: 0 })).toThrow(/maxBytes 0; it must be a positive whole number of bytes/);
  });
});

describe('MemoryQueue', () => {
  it('stays in order through thousands of appends and acks (its array is compacted along the way)', () => {
    const q = new MemoryQueue({ maxBytes: 1024 * 1024 });
    let expected = 1;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 100; i++) q.append(enc('x'));
      const batch = q.peek(70);
      expect(batch[0]?.id).toBe(expected);
      expect(batch.map((r) => r.id)).toEqual(Array.from({ length: 70 }, (_, i) => expected + i));
      q.ack(batch.at(-1)?.id as number);
      expected += 70;
    }
    expect(q.stats().records).toBe(50 * 30);
  });
});
