import { describe, expect, it } from 'vitest';
import { ChunkCache } from '../../src/artifacts/chunk-cache.js';

const bytes = (n: number, fill = 1): Uint8Array => new Uint8Array(n).fill(fill);

/** A load that counts its calls and answers when told. */
function deferredLoad(): { load: () => Promise<Uint8Array | undefined>; calls: () => number; answer: (v: Uint8Array | undefined | Error) => void } {
  let calls = 0;
  let settle: ((v: Uint8Array | undefined | Error) => void) | undefined;
  return {
    load: () => {
      calls++;
      return new Promise((resolve, reject) => {
        settle = (v) => (v instanceof Error ? reject(v) : resolve(v));
      });
    },
    calls: () => calls,
    answer: (v) => settle?.(v),
  };
}

describe('ChunkCache', () => {
  it('reads a chunk once and serves it from memory after', async () => {
    const cache = new ChunkCache(1000);
    let calls = 0;
    const load = async (): Promise<Uint8Array> => {
      calls++;
      return bytes(100);
    };
    const first = await cache.get('a/0', load);
    expect(await cache.get('a/0', load)).toBe(first);
    expect(calls).toBe(1);
    expect(cache.stats).toEqual({ hits: 1, misses: 1, joined: 0 });
  });

  it('lets concurrent readers of a chunk share one query', async () => {
    const cache = new ChunkCache(1000);
    const d = deferredLoad();
    const readers = Array.from({ length: 50 }, () => cache.get('a/0', d.load));
    const data = bytes(10);
    d.answer(data);
    for (const r of await Promise.all(readers)) expect(r).toBe(data);
    expect(d.calls()).toBe(1);
    expect(cache.stats.joined).toBe(49);
  });

  it('keeps at most maxBytes, dropping the least recently used first', async () => {
    const cache = new ChunkCache(1000);
    for (const key of ['a', 'b', 'c']) await cache.get(key, async () => bytes(240));
    await cache.get('a', async () => bytes(240)); // a is now the most recently used
    await cache.get('d', async () => bytes(240));
    await cache.get('e', async () => bytes(240)); // over 1000: b goes
    expect(cache.bytes).toBe(960);
    let reread = 0;
    const count = async (): Promise<Uint8Array> => {
      reread++;
      return bytes(240);
    };
    await cache.get('a', count);
    expect(reread).toBe(0);
    await cache.get('b', count);
    expect(reread).toBe(1);
    expect(cache.bytes).toBeLessThanOrEqual(1000);
  });

  it('does not keep a chunk larger than a quarter of its budget, a missing chunk, or a failed read', async () => {
    const cache = new ChunkCache(1000);
    await cache.get('big', async () => bytes(251));
    expect(cache.bytes).toBe(0);

    let calls = 0;
    const missing = async (): Promise<undefined> => {
      calls++;
      return undefined;
    };
    expect(await cache.get('gone', missing)).toBeUndefined();
    expect(await cache.get('gone', missing)).toBeUndefined();
    expect(calls).toBe(2);

    const d = deferredLoad();
    const failing = cache.get('flaky', d.load);
    const joined = cache.get('flaky', d.load);
    d.answer(new Error('connection terminated'));
    await expect(failing).rejects.toThrow(/connection terminated/);
    await expect(joined).rejects.toThrow(/connection terminated/);
    expect(await cache.get('flaky', async () => bytes(5, 7))).toEqual(bytes(5, 7));
  });
});
