import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { describe } from 'vitest';
import { createTestDatabase } from '../../../../test-support/pg-database.js';
import { rollingUpgradeScenarios } from './rolling-upgrade-scenarios.js';

describe('rolling upgrade on PostgreSQL: a database a newer replica migrated', () => {
  rollingUpgradeScenarios('postgres', {
    fresh: createTestDatabase,
    async withDb(db, work) {
      const k = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: db, max: 2 }) }) });
      try {
        return await work(k);
      } finally {
        await k.destroy();
      }
    },
  });
});
