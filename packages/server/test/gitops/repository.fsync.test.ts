import { mkdtempSync, rmSync } from 'node:fs';
import type * as FsPromises from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as Git from 'isomorphic-git';
import { afterEach, describe, expect, it, vi } from 'vitest';

// The real fs, with every fsync and rename logged by path; a clone that builds a one-commit
// repository locally instead of fetching (the unit tier has no network).
const log = vi.hoisted(() => ({ ops: [] as string[] }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof FsPromises>();
  return {
    ...real,
    open: async (...args: Parameters<typeof real.open>) => {
      const handle = await real.open(...args);
      const sync = handle.sync.bind(handle);
      (handle as { sync: unknown }).sync = async () => {
        await sync();
        log.ops.push(`fsync ${String(args[0])}`);
      };
      return handle;
    },
    rename: async (from: string, to: string) => {
      await real.rename(from, to);
      log.ops.push(`rename ${from} ${to}`);
    },
  };
});
vi.mock('isomorphic-git', async (importOriginal) => {
  const real = await importOriginal<typeof Git>();
  const fs = await import('node:fs');
  const author = { name: 'test', email: 'test@example.com', timestamp: 1_700_000_000, timezoneOffset: 0 };
  return {
    ...real,
    clone: async ({ dir, ref }: { dir: string; ref: string }) => {
      await real.init({ fs, dir, defaultBranch: ref });
      fs.writeFileSync(join(dir, 'app.yaml'), 'kind: Deployment\n');
      await real.add({ fs, dir, filepath: 'app.yaml' });
      const oid = await real.commit({ fs, dir, message: 'fleet', author });
      await real.writeRef({ fs, dir, ref: `refs/remotes/origin/${ref}`, value: oid });
    },
  };
});

// The unit tier shares modules between test files (isolate: false): load the repository
// afresh so it sees the mocks.
vi.resetModules();
const { RemoteRepository } = await import('../../src/gitops/repository.js');

let root: string | undefined;
afterEach(() => {
  if (root) rmSync(root, { recursive: true, force: true });
  root = undefined;
  log.ops.length = 0;
});

describe('RemoteRepository first clone durability', () => {
  it('syncs the clone before renaming it into place, and the parent folder after', async () => {
    root = mkdtempSync(join(tmpdir(), 'edgefleet-clone-'));
    const dir = join(root, 'sources', 'fleet');
    const tmp = `${dir}.tmp-${process.pid}`;
    expect(await new RemoteRepository('https://git.example.com/fleet.git', dir).resolveHead('main')).toMatch(/^[0-9a-f]{40}$/);

    const rename = log.ops.indexOf(`rename ${tmp} ${dir}`);
    expect(rename).toBeGreaterThanOrEqual(0);
    const before = log.ops.slice(0, rename);
    for (const path of [
      join(tmp, '.git', 'HEAD'),
      join(tmp, '.git', 'refs', 'remotes', 'origin', 'main'),
      join(tmp, '.git', 'objects'),
      join(tmp, '.git'),
      tmp,
    ]) {
      expect(before).toContain(`fsync ${path}`);
    }
    expect(log.ops.slice(rename + 1)).toContain(`fsync ${join(root, 'sources')}`);
  });
});
