import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { startCheckpointer } from '../../src/store/checkpointer.js';

describe('the WAL checkpointer (a worker thread, off the request path)', () => {
  let dir = '';
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('copies the log into the database on its cadence while the writer never checkpoints', async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-checkpointer-'));
    const path = join(dir, 'fleet.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
    // Far more than the 1,000 pages at which SQLite would have checkpointed in a commit.
    for (let i = 0; i < 3000; i++) insert.run('x'.repeat(2000));
    const before = statSync(path).size;
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(4096 * 1000);

    const checkpointer = startCheckpointer(path, { intervalMs: 20 });
    try {
      for (
        let i = 0;
        i < 500 && !(checkpointer.last !== undefined && checkpointer.last.log > 0 && checkpointer.last.checkpointed === checkpointer.last.log);
        i++
      ) {
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(checkpointer.last).toMatchObject({ busy: 0 });
      expect(checkpointer.last?.checkpointed).toBe(checkpointer.last?.log);
      expect(statSync(path).size).toBeGreaterThan(before + 3000 * 2000);
      // The writer goes on meanwhile, and the log starts over once it was all copied.
      insert.run('after');
      expect(db.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 3001 });
    } finally {
      await checkpointer.stop();
      db.close();
    }
  });

  it('leaves a log smaller than its threshold alone (each cycle costs the writer an fsync of the new log header)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-checkpointer-'));
    const path = join(dir, 'fleet.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    db.prepare('INSERT INTO t (v) VALUES (?)').run('small');
    const checkpointer = startCheckpointer(path, { intervalMs: 10, walBytes: 64 * 1024 * 1024 });
    try {
      await new Promise((r) => setTimeout(r, 200));
      expect(checkpointer.last).toBeUndefined();
      expect(statSync(`${path}-wal`).size).toBeGreaterThan(0);
    } finally {
      await checkpointer.stop();
      db.close();
    }
  });

  it('stops, and a stopped checkpointer lets the database close and open again', async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-checkpointer-'));
    const path = join(dir, 'fleet.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)');
    const checkpointer = startCheckpointer(path, { intervalMs: 10 });
    await checkpointer.stop();
    db.close();
    const again = new Database(path);
    expect(again.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 0 });
    again.close();
  });
});
