import type { TestProject } from 'vitest/node';
import { startThrowawayPostgres, type ThrowawayPostgres } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
  }
}

let pg: ThrowawayPostgres | undefined;

/**
 * Starts one PostgreSQL for the whole run, unless EDGEFLEET_TEST_POSTGRES names one. A
 * PostgreSQL that cannot be started fails the run: the store suite is never skipped.
 */
export async function setup(project: TestProject): Promise<void> {
  const given = process.env.EDGEFLEET_TEST_POSTGRES;
  if (given !== undefined && given !== '') {
    project.provide('postgresUrl', given);
    return;
  }
  pg = await startThrowawayPostgres();
  project.provide('postgresUrl', pg.url);
}

export async function teardown(): Promise<void> {
  pg?.stop();
}
