import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import type * as FsPromises from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// The disk fills up after `diskSpace` bytes of writes; everything else is the real fs.
const disk = vi.hoisted(() => ({ space: Number.POSITIVE_INFINITY }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof FsPromises>();
  return {
    ...real,
    open: async (...args: Parameters<typeof real.open>) => {
      const handle = await real.open(...args);
      const write = handle.write.bind(handle) as (buffer: Uint8Array, offset: number, length: number) => Promise<{ bytesWritten: number }>;
      (handle as { write: unknown }).write = async (buffer: Uint8Array, offset: number, length: number) => {
        if (length > disk.space) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        disk.space -= length;
        return write(buffer, offset, length);
      };
      return handle;
    },
  };
});

// The unit tier shares modules between test files (isolate: false): load the store afresh
// so it sees the mock, even when another file loaded it first.
vi.resetModules();
const { ArtifactStore } = await import('../../src/artifacts/store.js');

describe('ArtifactStore on a full disk', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-artifacts-full-'));
  });
  afterEach(() => {
    disk.space = Number.POSITIVE_INFINITY;
    rmSync(dir, { recursive: true, force: true });
  });

  it('removes the temp file and answers 507 insufficient_storage with a hint', async () => {
    const store = new ArtifactStore(dir);
    disk.space = 10_000;
    async function* upload(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 10; i++) yield Buffer.alloc(4096, i);
    }
    const err = await store.put(upload()).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 507, code: 'insufficient_storage' });
    expect((err as { hint: string }).hint).toContain('free space');
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    expect(readdirSync(join(dir, 'sha256'))).toEqual([]);

    // Once space is freed, the same push succeeds.
    disk.space = Number.POSITIVE_INFINITY;
    expect((await store.put(upload())).size).toBe(40_960);
  });
});
