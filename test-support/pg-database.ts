import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { sharedPostgresUrl } from './shared-postgres.js';

/**
 * Creates a fresh database on the run's PostgreSQL (started on first use) and returns its
 * URL, so test files never share state. Integration tier only.
 */
export async function createTestDatabase(): Promise<string> {
  const baseUrl = await sharedPostgresUrl();
  const name = `edgefleet_test_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: baseUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
