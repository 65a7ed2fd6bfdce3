import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { isRemoteUrl, openRepository, RemoteRepository, redactUrl, SourceReadError } from '../../src/gitops/repository.js';
import { TestRepo } from './git-repo.js';

const repos: TestRepo[] = [];
async function repo(opts: { bare?: boolean; branch?: string } = {}): Promise<TestRepo> {
  const r = await TestRepo.create(opts);
  repos.push(r);
  return r;
}
afterEach(() => {
  for (const r of repos.splice(0)) r.remove();
});

async function readError(p: Promise<unknown>): Promise<SourceReadError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SourceReadError) return err;
    throw err;
  }
  throw new Error('expected a SourceReadError');
}

describe('reading a local repository with isomorphic-git', () => {
  for (const bare of [false, true]) {
    it(`reads manifests under a path at a commit, recursively and sorted (${bare ? 'bare' : 'working'} repository)`, async () => {
      const r = await repo({ bare });
      const first = await r.commit({
        'fleet/b.yaml': 'b: 1\n',
        'fleet/a/z.yml': 'z: 1\n',
        'fleet/a/y.json': '{"y":1}\n',
        'fleet/README.md': 'not a manifest\n',
        'fleet/.hidden.yaml': 'skipped: true\n',
        'fleet/.github/ci.yaml': 'skipped: true\n',
        'other/c.yaml': 'c: 1\n',
      });
      const source = openRepository(r.url, '/nonexistent-cache');
      expect(await source.resolveHead('main')).toBe(first);
      expect(await source.readManifestFiles(first, 'fleet')).toEqual([
        { file: 'fleet/a/y.json', text: '{"y":1}\n' },
        { file: 'fleet/a/z.yml', text: 'z: 1\n' },
        { file: 'fleet/b.yaml', text: 'b: 1\n' },
      ]);
      expect((await source.readManifestFiles(first, '.')).map((f) => f.file)).toEqual(['fleet/a/y.json', 'fleet/a/z.yml', 'fleet/b.yaml', 'other/c.yaml']);
      expect(await source.readManifestFiles(first, 'fleet/b.yaml')).toEqual([{ file: 'fleet/b.yaml', text: 'b: 1\n' }]);

      // Reads what a commit held, not what the work folder holds now.
      const second = await r.commit({ 'fleet/b.yaml': 'b: 2\n', 'fleet/a/z.yml': null });
      expect(await source.resolveHead('main')).toBe(second);
      expect((await source.readManifestFiles(first, 'fleet')).map((f) => f.text)).toEqual(['{"y":1}\n', 'z: 1\n', 'b: 1\n']);
      expect((await source.readManifestFiles(second, 'fleet')).map((f) => f.text)).toEqual(['{"y":1}\n', 'b: 2\n']);
    });
  }

  it('follows the named branch and accepts a file:// URL', async () => {
    const r = await repo({ branch: 'production' });
    const oid = await r.commit({ 'fleet/a.yaml': 'a: 1\n' });
    const source = openRepository(pathToFileURL(r.url).href, '/nonexistent-cache');
    expect(await source.resolveHead('production')).toBe(oid);
    const missing = await readError(source.resolveHead('main'));
    expect(missing.reason).toBe('SourceUnavailable');
    expect(missing.message).toContain('branch main not found');
  });

  it('says PathNotFound for a path missing at the commit, SourceUnavailable for a folder that is no repository', async () => {
    const r = await repo();
    const oid = await r.commit({ 'deploy/a.yaml': 'a: 1\n' });
    const source = openRepository(r.url, '/nonexistent-cache');
    const noPath = await readError(source.readManifestFiles(oid, 'fleet'));
    expect(noPath.reason).toBe('PathNotFound');
    expect(noPath.message).toBe(`path fleet/ does not exist at commit ${oid}`);

    const empty = mkdtempSync(join(tmpdir(), 'edgefleet-notgit-'));
    try {
      const notRepo = await readError(openRepository(empty, '/nonexistent-cache').resolveHead('main'));
      expect(notRepo.reason).toBe('SourceUnavailable');
      expect(notRepo.message).toContain('is not a git repository');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
    const gone = await readError(openRepository('/no/such/repo', '/nonexistent-cache').resolveHead('main'));
    expect(gone.message).toBe('cannot read /no/such/repo: no such folder on the server');
  });

  it('refuses a manifest file over 1 MiB as an invalid manifest', async () => {
    const r = await repo();
    const oid = await r.commit({ 'fleet/huge.yaml': `# ${'x'.repeat(1024 * 1024)}\n` });
    const err = await readError(openRepository(r.url, '/x').readManifestFiles(oid, 'fleet'));
    expect(err.reason).toBe('InvalidManifest');
    expect(err.message).toContain('fleet/huge.yaml: the file is larger than 1 MiB');
  });

  it('clones http(s) URLs into the cache folder and never shows their credentials', () => {
    // No network here: only the choice of reader and the redaction are checked.
    expect(isRemoteUrl('https://git.example.com/fleet.git')).toBe(true);
    expect(isRemoteUrl('/srv/git/fleet.git')).toBe(false);
    expect(openRepository('https://git.example.com/fleet.git', '/data/sources/x')).toBeInstanceOf(RemoteRepository);
    expect(redactUrl('cannot fetch https://bot:s3cret@git.example.com/fleet.git: HTTP 401')).toBe(
      'cannot fetch https://***@git.example.com/fleet.git: HTTP 401',
    );
  });
});
