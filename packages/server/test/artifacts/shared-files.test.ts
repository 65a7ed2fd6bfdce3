/**
 * Downloads of one artifact share one descriptor (artifacts/shared-files.ts): a release to
 * thousands of nodes at once opened a file per download and ran the server out of them.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SharedFiles } from '../../src/artifacts/shared-files.js';
import { ArtifactStore } from '../../src/artifacts/store.js';

/** Descriptors this process holds now. */
const openDescriptors = (): number => readdirSync('/proc/self/fd').length;

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Resolves once `stream` has closed (its hold given back). */
const closed = (stream: Readable): Promise<void> => new Promise((resolve) => stream.once('close', () => resolve()));

describe('downloads of one artifact share one open file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-shared-files-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('500 downloads of one artifact in flight hold one descriptor, and none once they are done', async () => {
    const store = new ArtifactStore(dir);
    const data = randomBytes(256 * 1024);
    const { digest } = await store.put(Readable.from([data]));
    const before = openDescriptors();
    const opened = await Promise.all(Array.from({ length: 500 }, () => store.open(digest)));
    // One file per download, as before, held 500 here.
    expect(openDescriptors() - before).toBeLessThanOrEqual(1);
    const streams = opened.map((o) => o?.stream() as Readable);
    const bodies = await Promise.all(streams.map(readAll));
    await Promise.all(streams.map((s) => (s.closed ? Promise.resolve() : closed(s))));
    for (const body of bodies) expect(body.equals(data)).toBe(true);
    expect(openDescriptors()).toBe(before);
  });

  it('interleaved ranges read their own bytes: reads are positional, not from a shared offset', async () => {
    const path = join(dir, 'blob');
    const data = randomBytes(1024 * 1024);
    writeFileSync(path, data);
    const files = new SharedFiles();
    const ranges = Array.from({ length: 40 }, (_, i) => ({ start: i * 20_000, end: i * 20_000 + 150_000 }));
    const held = await Promise.all(ranges.map(() => files.acquire(path)));
    // Small reads so that the streams' reads interleave on the one descriptor.
    const bodies = await Promise.all(held.map((f, i) => readAll(f.stream(ranges[i]))));
    bodies.forEach((body, i) => {
      const r = ranges[i] as { start: number; end: number };
      expect(body.equals(data.subarray(r.start, r.end + 1))).toBe(true);
    });
  });

  it('a reader that joins while the last one gives the file back still reads it', async () => {
    const path = join(dir, 'blob');
    const data = randomBytes(64 * 1024);
    writeFileSync(path, data);
    const files = new SharedFiles();
    const first = await files.acquire(path);
    const joining = files.acquire(path); // asks before the release, gets the file after it
    first.release();
    const second = await joining;
    const stream = second.stream();
    const done = closed(stream);
    expect((await readAll(stream)).equals(data)).toBe(true);
    await done;
    expect(files.openCount).toBe(0);
  });

  it('a download cut off mid-way leaves the file to the others, and each hold is given back once', async () => {
    const path = join(dir, 'blob');
    const data = randomBytes(4 * 1024 * 1024);
    writeFileSync(path, data);
    const files = new SharedFiles();
    const before = openDescriptors();
    const a = await files.acquire(path);
    const b = await files.acquire(path);
    const c = await files.acquire(path);
    const stream = a.stream();
    stream.once('data', () => stream.destroy()); // the agent went away mid-download
    await closed(stream);
    // fs.createReadStream({ fd }) closed the shared descriptor when destroyed: this read failed (EBADF).
    const other = b.stream();
    const done = closed(other);
    expect((await readAll(other)).equals(data)).toBe(true);
    await done;
    c.release();
    c.release(); // a second release must not close the file under another reader
    expect(files.openCount).toBe(0);
    // The close itself is asynchronous: wait for it, however loaded the machine.
    for (let i = 0; i < 500 && openDescriptors() !== before; i++) await new Promise((r) => setTimeout(r, 20));
    expect(openDescriptors()).toBe(before);
  });

  it('a blob that is not there is ENOENT, and the next reader tries again', async () => {
    const files = new SharedFiles();
    const path = join(dir, 'later');
    await expect(files.acquire(path)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(files.openCount).toBe(0);
    writeFileSync(path, 'now here');
    const f = await files.acquire(path);
    expect((await readAll(f.stream())).toString()).toBe('now here');
  });
});
