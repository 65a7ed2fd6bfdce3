import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { HttpClient } from 'isomorphic-git';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CloneTooLargeError, localPathProblem, sizeLimitedHttp } from '../../src/gitops/limits.js';

describe('GitOps local paths stay under the root', () => {
  let root: string;
  let outside: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'edgefleet-root-'));
    outside = mkdtempSync(join(tmpdir(), 'edgefleet-outside-'));
    mkdirSync(join(root, 'repos', 'fleet'), { recursive: true });
  });
  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it('accepts the root and what is inside it, existing or not yet', async () => {
    for (const url of [root, join(root, 'repos', 'fleet'), join(root, 'repos', 'later'), pathToFileURL(join(root, 'repos', 'fleet')).href]) {
      expect(await localPathProblem(root, url), url).toBeUndefined();
    }
  });

  it('refuses /etc, climbing out with .., a sibling with the same prefix, and a symlink that leads out', async () => {
    symlinkSync(outside, join(root, 'repos', 'link'));
    for (const url of [
      '/etc',
      'file:///etc',
      join(root, '..', '..'),
      join(root, 'repos', '..', '..', 'etc'),
      `${root}-evil`,
      join(root, 'repos', 'link'),
      join(root, 'repos', 'link', 'sub'),
    ]) {
      expect(await localPathProblem(root, url), url).toContain('outside the GitOps root');
    }
  });
});

describe('remote clones are size-limited', () => {
  /** A fake git HTTP client answering every request with `chunks`. */
  const serving = (chunks: number[]): HttpClient => ({
    async request() {
      async function* body(): AsyncGenerator<Uint8Array> {
        for (const n of chunks) yield new Uint8Array(n);
      }
      return { url: 'https://git.example/x', method: 'GET', statusCode: 200, statusMessage: 'OK', headers: {}, body: body() };
    },
  });
  const drain = async (client: HttpClient): Promise<number> => {
    const res = await client.request({ url: 'https://git.example/x' });
    let n = 0;
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) n += chunk.byteLength;
    return n;
  };

  it('passes a response under the limit untouched', async () => {
    expect(await drain(sizeLimitedHttp(serving([400, 400]), 1000))).toBe(800);
  });

  it('stops the body as soon as the operation received more than the limit, across requests', async () => {
    const client = sizeLimitedHttp(serving([400, 400]), 1000);
    await drain(client);
    const err = await drain(client).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CloneTooLargeError);
    expect((err as Error).message).toContain('--gitops-max-clone-mib');
  });
});
