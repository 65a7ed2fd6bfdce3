import type * as Fs from 'node:fs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

// The real fs, with every fsync and rename logged by path, so the test can check what a
// power cut right after writeImageLayout would keep.
const log = vi.hoisted(() => ({ ops: [] as string[], fds: new Map<number, string>() }));
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof Fs>();
  return {
    ...real,
    openSync: (...args: Parameters<typeof real.openSync>) => {
      const fd = real.openSync(...args);
      log.fds.set(fd, String(args[0]));
      return fd;
    },
    fsyncSync: (fd: number) => {
      real.fsyncSync(fd);
      log.ops.push(`fsync ${log.fds.get(fd)}`);
    },
    renameSync: (from: Fs.PathLike, to: Fs.PathLike) => {
      real.renameSync(from, to);
      log.ops.push(`rename ${String(from)} ${String(to)}`);
    },
  };
});

// The unit tier shares modules between test files (isolate: false): load the layout writer
// and the durable-write helper afresh so they see the mock.
vi.resetModules();
const { writeImageLayout } = await import('../../src/images/layout.js');

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
  log.ops.length = 0;
  log.fds.clear();
});

describe('writeImageLayout durability', () => {
  it('syncs every file and folder of the new layout before renaming it into place, and the parent folder after', () => {
    dir = mkdtempSync(join(tmpdir(), 'layout-fsync-'));
    const blob = join(dir, 'blob-a');
    writeFileSync(blob, 'a');
    const target = join(dir, 'layout');
    const building = `${target}.building`;
    writeImageLayout(target, { mediaType: 'm', digest: `sha256:${'a'.repeat(64)}`, size: 1 }, [{ digest: `sha256:${'a'.repeat(64)}`, path: blob }]);

    const rename = log.ops.indexOf(`rename ${building} ${target}`);
    expect(rename).toBeGreaterThanOrEqual(0);
    const before = log.ops.slice(0, rename);
    for (const file of ['oci-layout', 'index.json']) {
      // The file's content (synced under its temp name, then renamed within `building`).
      expect(before).toContain(`fsync ${join(building, file)}.tmp-${process.pid}`);
      expect(before).toContain(`rename ${join(building, file)}.tmp-${process.pid} ${join(building, file)}`);
    }
    // The folders' entries: the two files, `blobs`, `sha256` and the blob's link.
    const lastFile = Math.max(
      ...['oci-layout', 'index.json'].map((f) => before.indexOf(`rename ${join(building, f)}.tmp-${process.pid} ${join(building, f)}`)),
    );
    expect(before.slice(lastFile)).toContain(`fsync ${building}`);
    expect(before).toContain(`fsync ${join(building, 'blobs')}`);
    expect(before).toContain(`fsync ${join(building, 'blobs', 'sha256')}`);
    // The rename itself.
    expect(log.ops.slice(rename + 1)).toContain(`fsync ${dir}`);
  });
});
