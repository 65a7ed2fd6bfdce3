import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isArtifactDigest } from '../../src/artifacts/digest.js';
import { LocalArtifactStore } from '../../src/artifacts/local-store.js';

function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

describe('LocalArtifactStore', () => {
  let dir: string;
  let store: LocalArtifactStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-store-'));
    store = new LocalArtifactStore(join(dir, 'artifacts'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Puts bytes into the store the only way blobs arrive: through a verified partial. */
  async function put(bytes: Uint8Array): Promise<string> {
    const digest = digestOf(bytes);
    const partial = await store.openPartial(digest);
    await partial.write(bytes);
    await partial.commit();
    return digest;
  }

  it('commits a verified partial into sha256/ and finds it again', async () => {
    const bytes = randomBytes(1000);
    const digest = await put(bytes);
    const hex = digest.slice('sha256:'.length);
    expect(store.has(digest)).toBe(true);
    expect(store.pathOf(digest)).toBe(join(dir, 'artifacts', 'sha256', hex));
    expect(readFileSync(store.pathOf(digest)).equals(bytes)).toBe(true);
    expect(store.sizeOf(digest)).toBe(1000);
    expect(store.list()).toEqual([digest]);
    expect(readdirSync(join(dir, 'artifacts', 'partial'))).toEqual([]);
  });

  it('resumes a partial: the bytes already there count towards the hash', async () => {
    const bytes = randomBytes(5000);
    const digest = digestOf(bytes);
    const first = await store.openPartial(digest);
    await first.write(bytes.subarray(0, 2000));
    await first.close();
    expect(store.partialSize(digest)).toBe(2000);
    expect(store.listPartials()).toEqual([digest]);

    const second = await store.openPartial(digest);
    expect(second.size).toBe(2000);
    expect(second.isComplete()).toBe(false);
    await second.write(bytes.subarray(2000));
    expect(second.isComplete()).toBe(true);
    expect(readFileSync(await second.commit()).equals(bytes)).toBe(true);
    expect(store.partialSize(digest)).toBe(0);
  });

  it('never commits bytes that do not match the digest, and deletes them', async () => {
    const digest = digestOf(Buffer.from('the real model'));
    const partial = await store.openPartial(digest);
    await partial.write(Buffer.from('something else'));
    await expect(partial.commit()).rejects.toMatchObject({ code: 'digest_mismatch' });
    expect(store.has(digest)).toBe(false);
    expect(store.partialSize(digest)).toBe(0);
    expect(existsSync(join(dir, 'artifacts', 'sha256', digest.slice(7)))).toBe(false);
  });

  it('lets one download at a time write a partial', async () => {
    const digest = digestOf(Buffer.from('x'));
    const partial = await store.openPartial(digest);
    await expect(store.openPartial(digest)).rejects.toMatchObject({ code: 'conflict' });
    await partial.close();
    const again = await store.openPartial(digest);
    await again.close();
  });

  it('lets one of two downloads started in the same tick write a partial', async () => {
    const digest = digestOf(Buffer.from('y'));
    const [first, second] = await Promise.allSettled([store.openPartial(digest), store.openPartial(digest)]);
    expect(first.status).toBe('fulfilled');
    expect(second).toMatchObject({ status: 'rejected', reason: { code: 'conflict' } });
    if (first.status === 'fulfilled') await first.value.close();
    const again = await store.openPartial(digest);
    await again.close();
  });

  it('does not keep an empty partial', async () => {
    const digest = digestOf(Buffer.from('x'));
    await (await store.openPartial(digest)).close();
    expect(store.listPartials()).toEqual([]);
  });

  it('says not_found for an artifact it does not have', () => {
    const digest = `sha256:${'1'.repeat(64)}`;
    expect(store.has(digest)).toBe(false);
    expect(() => store.pathOf(digest)).toThrow(expect.objectContaining({ code: 'not_found' }));
    expect(store.partialSize(digest)).toBe(0);
    expect(store.list()).toEqual([]);
  });

  it('removes an artifact and its partial', async () => {
    const digest = await put(Buffer.from('model one'));
    expect(store.remove(digest)).toBe(true);
    expect(store.has(digest)).toBe(false);
    expect(store.remove(digest)).toBe(false);
  });

  it('gc keeps exactly the given set and reports what it removed', async () => {
    const a = await put(Buffer.from('current'));
    const b = await put(Buffer.from('previous'));
    const c = await put(Buffer.from('old'));
    const half = Buffer.from('an abandoned download');
    const d = digestOf(half);
    const partial = await store.openPartial(d);
    await partial.write(half.subarray(0, 5));
    await partial.close();
    // Not a digest: not ours to delete.
    writeFileSync(join(dir, 'artifacts', 'sha256', 'README'), 'hands off');

    expect(store.gc(new Set([a, b]))).toEqual([c, d].sort());
    expect(store.list()).toEqual([a, b].sort());
    expect(store.listPartials()).toEqual([]);
    expect(existsSync(join(dir, 'artifacts', 'sha256', 'README'))).toBe(true);
    expect(store.gc(new Set([a, b]))).toEqual([]);
  });

  it('gc leaves alone a partial that a download is writing', async () => {
    const bytes = Buffer.from('in flight');
    const digest = digestOf(bytes);
    const partial = await store.openPartial(digest);
    await partial.write(bytes.subarray(0, 3));
    expect(store.gc(new Set())).toEqual([]);
    await partial.write(bytes.subarray(3));
    await partial.commit();
    expect(store.gc(new Set())).toEqual([digest]);
  });

  it('treats a partial left in partial/ by an older run like any other', () => {
    const digest = `sha256:${'2'.repeat(64)}`;
    mkdirSync(join(dir, 'artifacts', 'partial'), { recursive: true });
    writeFileSync(join(dir, 'artifacts', 'partial', `${'2'.repeat(64)}.part`), 'abc');
    expect(store.partialSize(digest)).toBe(3);
    store.discardPartial(digest);
    expect(store.partialSize(digest)).toBe(0);
  });

  describe('refuses an invalid digest before any path is built', () => {
    const hex = 'a'.repeat(64);
    const invalid = [
      '../etc',
      '../../etc/passwd',
      `sha256:../${hex.slice(3)}`,
      `sha256:${hex.toUpperCase()}`,
      `sha256:${hex.slice(1)}`,
      `sha256:${hex}a`,
      `sha512:${hex}`,
      hex,
      `sha256:${hex}\n`,
      `sha256:${hex}/x`,
      '',
    ];

    it.each(invalid)('%j', async (digest) => {
      const expected = expect.objectContaining({ code: 'bad_request', field: 'digest' });
      expect(isArtifactDigest(digest)).toBe(false);
      expect(() => store.has(digest)).toThrow(expected);
      expect(() => store.pathOf(digest)).toThrow(expected);
      expect(() => store.partialSize(digest)).toThrow(expected);
      expect(() => store.remove(digest)).toThrow(expected);
      expect(() => store.discardPartial(digest)).toThrow(expected);
      expect(() => store.gc(new Set([digest]))).toThrow(expected);
      await expect(store.openPartial(digest)).rejects.toEqual(expected);
      expect(existsSync(join(dir, 'artifacts'))).toBe(false);
    });

    it('accepts the real thing', () => {
      expect(isArtifactDigest(`sha256:${hex}`)).toBe(true);
    });
  });
});
