import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../../../test-support/pg-database.js';
import { startServer } from '../../src/server.js';
import { futureMigration, latestKnownMigration, migrateAsNewer } from './migration-history.js';
import { rollingUpgradeScenarios, type ScenarioDatabase } from './rolling-upgrade-scenarios.js';

const postgres: ScenarioDatabase = {
  fresh: createTestDatabase,
  async withDb(db, work) {
    const k = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: db, max: 2 }) }) });
    try {
      return await work(k);
    } finally {
      await k.destroy();
    }
  },
};

describe('rolling upgrade on PostgreSQL: a database a newer replica migrated', () => {
  rollingUpgradeScenarios('postgres', postgres);

  it('an older replica starts, warns in its log that it runs in compatibility mode, and serves from the database', async () => {
    const latest = await latestKnownMigration('postgres');
    const db = await postgres.fresh();
    await postgres.withDb(db, (k) => migrateAsNewer(k, 'postgres', { '9001_future': futureMigration('9001_future', latest) }));
    const lines: Array<{ level: number; msg: string }> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const dataDir = mkdtempSync(join(tmpdir(), 'edgefleet-rolling-'));
    const server = await startServer({ dataDir, db, listen: '127.0.0.1:0', logger });
    try {
      const warning = lines.find((l) => l.msg.startsWith('compatibility mode'));
      expect(warning?.level).toBe(40); // pino's warn
      expect(warning?.msg).toContain(`a newer edgefleet already migrated this database (9001_future; this server knows up to ${latest})`);
      expect(warning?.msg).toContain('upgrade this replica');
      expect(await server.store.listNodes()).toEqual([]);
    } finally {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
