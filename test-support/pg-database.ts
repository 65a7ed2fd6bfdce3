import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** Creates a fresh database on the test cluster and returns its URL, so test files never share state. */
export async function createTestDatabase(baseUrl: string): Promise<string> {
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
