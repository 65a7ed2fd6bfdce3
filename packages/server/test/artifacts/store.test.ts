import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArtifactStore, STALE_TEMP_MS } from '../../src/artifacts/store.js';

const sha = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Yields `data` in chunks of `size` bytes, pausing between them like a network would. */
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

describe('ArtifactStore', () => {
  let dir: string;
  let store: ArtifactStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-artifacts-'));
    store = new ArtifactStore(dir);
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores content under the sha256 of its bytes and reads it back', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const entry = await store.put(chunked(data, 64 * 1024));
    expect(entry.digest).toBe(sha(data));
    expect(entry.size).toBe(data.length);
    expect(readFileSync(join(dir, 'sha256', entry.digest.slice('sha256:'.length))).equals(data)).toBe(true);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);

    expect(await store.has(entry.digest)).toBe(true);
    expect(await store.size(entry.digest)).toBe(data.length);
    const opened = await store.open(entry.digest);
    expect((await readAll(opened!.stream())).equals(data)).toBe(true);
    const again = await store.open(entry.digest);
    expect(await readAll(again!.stream({ start: 10, end: 19 }))).toEqual(data.subarray(10, 20));
  });

  it('stores an empty artifact (the digest of nothing)', async () => {
    const entry = await store.put(Readable.from([]));
    expect(entry).toMatchObject({ digest: 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', size: 0 });
  });

  it('keeps one blob when the same content is uploaded concurrently', async () => {
    const data = randomBytes(512 * 1024);
    const entries = await Promise.all(Array.from({ length: 8 }, (_, i) => store.put(chunked(data, 4096 + i * 1000))));
    expect(new Set(entries.map((e) => e.digest))).toEqual(new Set([sha(data)]));
    expect(readdirSync(join(dir, 'sha256'))).toHaveLength(1);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    expect(readFileSync(join(dir, 'sha256', readdirSync(join(dir, 'sha256'))[0]!)).equals(data)).toBe(true);
  });

  it('keeps the first copy and its creation time when content is pushed again', async () => {
    const data = Buffer.from('model weights');
    const first = await store.put(Readable.from([data]));
    await new Promise((r) => setTimeout(r, 20));
    const second = await store.put(Readable.from([data]));
    expect(second).toEqual(first);
  });

  it('lists blobs sorted by digest, ignoring anything that is not one', async () => {
    const a = await store.put(Readable.from([Buffer.from('a')]));
    const b = await store.put(Readable.from([Buffer.from('b')]));
    writeFileSync(join(dir, 'sha256', 'README'), 'not a blob');
    writeFileSync(join(dir, 'sha256', 'A'.repeat(64)), 'uppercase is not a digest');
    const list = await store.list();
    expect(list.map((e) => e.digest)).toEqual([a.digest, b.digest].sort());
    expect(list.every((e) => e.size === 1 && e.createdAt instanceof Date)).toBe(true);
  });

  it('leaves no temp file behind when the upload is interrupted, and says so', async () => {
    async function* broken(): AsyncGenerator<Buffer> {
      yield randomBytes(100_000);
      throw new Error('aborted');
    }
    await expect(store.put(broken())).rejects.toMatchObject({
      status: 400,
      code: 'bad_request',
      message: expect.stringContaining('interrupted after 100000 bytes'),
    });
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    expect(readdirSync(join(dir, 'sha256'))).toEqual([]);
  });

  it('refuses an upload past its size limit without keeping any of it', async () => {
    await expect(store.put(chunked(randomBytes(10_000), 1000), { maxBytes: 4096 })).rejects.toMatchObject({ status: 413, code: 'payload_too_large' });
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    expect(readdirSync(join(dir, 'sha256'))).toEqual([]);
    expect((await store.put(chunked(randomBytes(4096), 1000), { maxBytes: 4096 })).size).toBe(4096);
  });

  it('removes temp files of crashed uploads older than an hour when it starts', () => {
    const now = Date.now();
    const old = join(dir, 'tmp', 'crashed-upload');
    const recent = join(dir, 'tmp', 'upload-in-flight');
    writeFileSync(old, 'half a model');
    writeFileSync(recent, 'another process is writing this');
    const past = (now - STALE_TEMP_MS - 60_000) / 1000;
    utimesSync(old, past, past);
    new ArtifactStore(dir, { now });
    expect(existsSync(old)).toBe(false);
    expect(existsSync(recent)).toBe(true);
    // An hour later, the other one is stale too.
    expect(store.removeStaleTemp(now + STALE_TEMP_MS + 60_000)).toBe(1);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });

  it('never builds a path from anything but 64 lowercase hex digits', async () => {
    // A file outside the store that a traversal would reach.
    writeFileSync(join(dir, 'secret'), 'do not serve');
    symlinkSync(join(dir, 'secret'), join(dir, 'sha256', 'link'));
    const hostile = [
      'sha256:../secret',
      'sha256:../../etc/passwd',
      `sha256:${'a'.repeat(63)}/`,
      `sha256:${'a'.repeat(64)}/../../secret`,
      `sha256:${'A'.repeat(64)}`,
      `sha256:${'a'.repeat(65)}`,
      `sha512:${'a'.repeat(64)}`,
      'a'.repeat(64),
      'sha256:link',
      `sha256:${'a'.repeat(64)}\0`,
      '',
    ];
    for (const digest of hostile) {
      for (const call of [() => store.has(digest), () => store.size(digest), () => store.stat(digest), () => store.open(digest)]) {
        await expect(call()).rejects.toMatchObject({ status: 400, code: 'bad_request', field: 'digest' });
      }
    }
    expect(await store.has(`sha256:${'0'.repeat(64)}`)).toBe(false);
    expect(await store.size(`sha256:${'0'.repeat(64)}`)).toBeUndefined();
    expect(await store.open(`sha256:${'0'.repeat(64)}`)).toBeUndefined();
  });
});
