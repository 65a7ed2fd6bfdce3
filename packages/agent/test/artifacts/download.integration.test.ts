import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgefleetError } from '@edgefleet/protocol';
import type { EdgefleetClient } from '@edgefleet/protocol/node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ArtifactSource, type DownloadOptions, downloadArtifact } from '../../src/artifacts/download.js';
import { LocalArtifactStore } from '../../src/artifacts/local-store.js';
import type { OpenPartialFile } from '../../src/artifacts/partial.js';
import { type ArtifactTestServer, httpArtifactSource, startArtifactServer } from './artifact-server.js';

const MiB = 1024 * 1024;

// The agent hands its API client to the downloader as is: keep the shapes in step.
const clientIsASource: EdgefleetClient['openArtifact'] extends ArtifactSource['open'] ? true : false = true;
void clientIsASource;

describe('downloadArtifact', () => {
  let server: ArtifactTestServer;
  let source: ArtifactSource;
  let dir: string;
  let store: LocalArtifactStore;
  let sleeps: number[];

  beforeAll(async () => {
    server = await startArtifactServer(randomBytes(3 * MiB));
    source = httpArtifactSource(server.base);
  });
  afterAll(() => server.close());
  beforeEach(() => {
    server.reset();
    sleeps = [];
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-artifacts-'));
    store = new LocalArtifactStore(join(dir, 'artifacts'));
    return () => rmSync(dir, { recursive: true, force: true });
  });

  /** Options with a sleep that records and returns at once, and a fixed jitter draw. */
  function options(extra: Partial<DownloadOptions> = {}): DownloadOptions {
    return {
      source,
      digest: server.digest,
      store,
      random: () => 0.5,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      ...extra,
    };
  }

  function hexOf(digest: string): string {
    return digest.slice('sha256:'.length);
  }

  function partialFiles(): string[] {
    const partialDir = join(store.root, 'partial');
    return existsSync(partialDir) ? readdirSync(partialDir) : [];
  }

  async function rejection(promise: Promise<unknown>): Promise<unknown> {
    return promise.then(
      () => expect.fail('expected the download to fail'),
      (err: unknown) => err,
    );
  }

  it('downloads, verifies and lands the blob in sha256/', async () => {
    const progress: Array<[number, number | undefined]> = [];
    const result = await downloadArtifact(options({ onProgress: (r, t) => progress.push([r, t]) }));
    expect(result).toEqual({ path: join(store.root, 'sha256', hexOf(server.digest)), bytes: 3 * MiB, resumedFrom: 0, attempts: 1 });
    expect(readFileSync(result.path).equals(server.blob)).toBe(true);
    expect(store.has(server.digest)).toBe(true);
    expect(store.list()).toEqual([server.digest]);
    expect(partialFiles()).toEqual([]);
    expect(server.requests).toEqual([{ url: `/v1/artifacts/${server.digest}`, range: undefined }]);
    expect(progress.at(-1)).toEqual([3 * MiB, 3 * MiB]);
    expect(progress.every(([, total]) => total === 3 * MiB)).toBe(true);
  });

  it('returns at once when the artifact is already in the store', async () => {
    await downloadArtifact(options());
    server.reset();
    const again = await downloadArtifact(options());
    expect(again).toMatchObject({ bytes: 3 * MiB, resumedFrom: 0, attempts: 0 });
    expect(server.requests).toEqual([]);
  });

  it('resumes a download cut midway from the partial, with a Range request', async () => {
    server.behaviour.cutAfter = MiB + 12_345;
    const result = await downloadArtifact(options());
    expect(result.attempts).toBe(2);
    expect(result.resumedFrom).toBeGreaterThan(0);
    expect(result.resumedFrom).toBeLessThanOrEqual(MiB + 12_345);
    expect(server.requests.map((r) => r.range)).toEqual([undefined, `bytes=${result.resumedFrom}-`]);
    expect(readFileSync(result.path).equals(server.blob)).toBe(true);
    expect(sleeps).toEqual([500]);
    expect(partialFiles()).toEqual([]);
  });

  it('retries a 500 and then succeeds', async () => {
    server.behaviour.failNext = 1;
    const result = await downloadArtifact(options());
    expect(result).toMatchObject({ attempts: 2, resumedFrom: 0, bytes: 3 * MiB });
    expect(server.requests).toHaveLength(2);
    expect(sleeps).toEqual([500]);
  });

  it('restarts cleanly when the server ignores Range and sends the whole blob', async () => {
    server.behaviour.cutAfter = MiB;
    server.behaviour.ignoreRange = true;
    const result = await downloadArtifact(options());
    const [first, second] = server.requests;
    expect(first?.range).toBeUndefined();
    expect(second?.range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(result).toMatchObject({ attempts: 2, resumedFrom: 0, bytes: 3 * MiB });
    expect(readFileSync(result.path).equals(server.blob)).toBe(true);
  });

  it('refuses tampered bytes: digest_mismatch, no blob and no partial left', async () => {
    server.behaviour.tamper = true;
    const err = await rejection(downloadArtifact(options()));
    expect(err).toBeInstanceOf(EdgefleetError);
    expect(err).toMatchObject({ code: 'digest_mismatch' });
    expect(store.has(server.digest)).toBe(false);
    expect(store.list()).toEqual([]);
    expect(store.partialSize(server.digest)).toBe(0);
    expect(partialFiles()).toEqual([]);
    expect(server.requests).toHaveLength(1);
  });

  it('refuses a resumed partial whose earlier bytes were tampered with', async () => {
    server.behaviour.tamper = true;
    server.behaviour.cutAfter = 2 * MiB;
    const err = await rejection(downloadArtifact(options({ maxAttempts: 1 })));
    expect(err).toMatchObject({ code: 'download_failed' });
    expect(store.partialSize(server.digest)).toBeGreaterThan(MiB);
    server.reset();
    const mismatch = await rejection(downloadArtifact(options()));
    expect(mismatch).toMatchObject({ code: 'digest_mismatch' });
    expect(server.requests[0]?.range).toMatch(/^bytes=\d+-$/);
    expect(partialFiles()).toEqual([]);
    expect(store.has(server.digest)).toBe(false);
  });

  it('gives up on an unknown artifact (404) at once, after one attempt', async () => {
    const unknown = `sha256:${'0'.repeat(64)}`;
    const err = await rejection(downloadArtifact(options({ digest: unknown })));
    expect(err).toMatchObject({ code: 'not_found', status: 404 });
    expect(server.requests).toHaveLength(1);
    expect(sleeps).toEqual([]);
    expect(partialFiles()).toEqual([]);
  });

  it('gives up after maxAttempts transient failures, keeping the partial', async () => {
    server.behaviour.cutAfter = MiB;
    server.behaviour.failNext = 0;
    const first = downloadArtifact(
      options({
        maxAttempts: 5,
        sleep: async (ms) => {
          sleeps.push(ms);
          server.behaviour.failNext = 1;
        },
      }),
    );
    const err = await rejection(first);
    expect(err).toMatchObject({ code: 'download_failed' });
    expect((err as EdgefleetError).message).toContain('5 times');
    // Full jitter at 0.5 of a ceiling that doubles from 1 s.
    expect(sleeps).toEqual([500, 1_000, 2_000, 4_000]);
    expect(server.requests).toHaveLength(5);
    // The connection was cut after at most 1 MiB; whatever arrived is kept for the next run.
    const kept = store.partialSize(server.digest);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(MiB);
    expect((err as EdgefleetError).hint).toContain(`${kept} bytes are kept`);
  });

  it('keeps the partial on abort, and a later call resumes from it', async () => {
    const controller = new AbortController();
    const err = await rejection(
      downloadArtifact(
        options({
          signal: controller.signal,
          onProgress: (received) => {
            if (received >= MiB) controller.abort();
          },
        }),
      ),
    );
    expect((err as Error).name).toBe('AbortError');
    const kept = store.partialSize(server.digest);
    expect(kept).toBeGreaterThanOrEqual(MiB);
    expect(kept).toBeLessThan(3 * MiB);
    expect(store.has(server.digest)).toBe(false);

    server.reset();
    const result = await downloadArtifact(options());
    expect(result).toMatchObject({ resumedFrom: kept, attempts: 1, bytes: 3 * MiB });
    expect(server.requests.map((r) => r.range)).toEqual([`bytes=${kept}-`]);
    expect(readFileSync(result.path).equals(server.blob)).toBe(true);
  });

  it('does not start when the signal is already aborted', async () => {
    const err = await rejection(downloadArtifact(options({ signal: AbortSignal.abort() })));
    expect((err as Error).name).toBe('AbortError');
    expect(server.requests).toEqual([]);
  });

  it('on a full disk deletes the partial and throws disk_full without retrying', async () => {
    // The seam: a file whose writes fail with ENOSPC once 1 MiB is on disk.
    const openWrite: OpenPartialFile = async (path) => {
      const handle = await open(path, 'a');
      let written = 0;
      return {
        write: async (chunk, offset, length) => {
          if (written + length > MiB) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
          written += length;
          return handle.write(chunk, offset, length);
        },
        truncate: (len) => handle.truncate(len),
        sync: () => handle.sync(),
        close: () => handle.close(),
      };
    };
    store = new LocalArtifactStore(join(dir, 'artifacts'), { openWrite });
    const err = await rejection(downloadArtifact(options()));
    expect(err).toMatchObject({ code: 'disk_full' });
    expect((err as EdgefleetError).hint).toContain(store.root);
    expect(store.partialSize(server.digest)).toBe(0);
    expect(partialFiles()).toEqual([]);
    expect(store.has(server.digest)).toBe(false);
    expect(server.requests).toHaveLength(1);
  });

  it('after a failed local write, re-reads the partial before resuming', async () => {
    // The first write past 1 MiB lands half its bytes and then fails (EIO): the file now
    // holds bytes the running hash never saw, so the next attempt must hash it afresh.
    let failed = false;
    let onDisk = 0;
    const openWrite: OpenPartialFile = async (path) => {
      const handle = await open(path, 'a');
      let written = 0;
      return {
        write: async (chunk, offset, length) => {
          if (!failed && written + length > MiB) {
            failed = true;
            await handle.write(chunk, offset, length >> 1);
            onDisk = written + (length >> 1);
            throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
          }
          written += length;
          return handle.write(chunk, offset, length);
        },
        truncate: (len) => handle.truncate(len),
        sync: () => handle.sync(),
        close: () => handle.close(),
      };
    };
    store = new LocalArtifactStore(join(dir, 'artifacts'), { openWrite });
    const result = await downloadArtifact(options());
    expect(failed).toBe(true);
    expect(result.attempts).toBe(2);
    // The half chunk counts: the resume starts after it, not after what the hash had seen.
    expect(result.resumedFrom).toBe(onDisk);
    expect(server.requests[1]?.range).toBe(`bytes=${result.resumedFrom}-`);
    expect(readFileSync(result.path).equals(server.blob)).toBe(true);
  });

  it('finishes a partial that already holds the whole artifact without asking the server', async () => {
    // A crash after the last write but before the rename.
    mkdirSync(join(store.root, 'partial'), { recursive: true });
    writeFileSync(join(store.root, 'partial', `${hexOf(server.digest)}.part`), server.blob);
    const result = await downloadArtifact(options());
    expect(result).toMatchObject({ bytes: 3 * MiB, resumedFrom: 3 * MiB, attempts: 0 });
    expect(server.requests).toEqual([]);
    expect(store.has(server.digest)).toBe(true);
  });

  it('starts over when the server cannot serve the partial’s range (416)', async () => {
    mkdirSync(join(store.root, 'partial'), { recursive: true });
    // Longer than the artifact: it can never be a prefix of it.
    writeFileSync(join(store.root, 'partial', `${hexOf(server.digest)}.part`), randomBytes(3 * MiB + 10));
    const result = await downloadArtifact(options());
    expect(server.requests.map((r) => r.range)).toEqual([`bytes=${3 * MiB + 10}-`, undefined]);
    expect(result).toMatchObject({ attempts: 2, resumedFrom: 0 });
    expect(readFileSync(result.path).equals(server.blob)).toBe(true);
  });

  it('refuses an invalid digest before any request or path', async () => {
    for (const digest of ['../etc', `sha256:${'A'.repeat(64)}`, `sha256:${'a'.repeat(63)}`]) {
      const err = await rejection(downloadArtifact(options({ digest })));
      expect(err).toMatchObject({ code: 'bad_request', field: 'digest' });
    }
    expect(server.requests).toEqual([]);
    expect(existsSync(store.root)).toBe(false);
  });
});
