import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { afterAll, describe } from 'vitest';
import { rollingUpgradeScenarios } from './rolling-upgrade-scenarios.js';

const dir = mkdtempSync(join(tmpdir(), 'edgefleet-rolling-'));
let n = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('rolling upgrade on SQLite: a database a newer edgefleet migrated', () => {
  rollingUpgradeScenarios('sqlite', {
    fresh: async () => `sqlite:${join(dir, `fleet-${++n}.db`)}`,
    async withDb(db, work) {
      const k = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new BetterSqlite3(db.slice('sqlite:'.length)) }) });
      try {
        return await work(k);
      } finally {
        await k.destroy();
      }
    },
  });
});
