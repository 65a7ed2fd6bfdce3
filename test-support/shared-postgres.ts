import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import { startThrowawayPostgres, stopThrowawayPostgres } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A folder of the run where the test files agree on one PostgreSQL (see below). */
    postgresRunDir: string;
  }
}

/** How long a test file waits for the cluster another file is starting. */
const START_WAIT_MS = 120_000;

let shared: Promise<string> | undefined;

/**
 * The URL of the run's PostgreSQL, started on first use: a run without a test that needs
 * it starts none. `EDGEFLEET_TEST_POSTGRES` names one to use instead. Test files run in
 * several processes, so they agree through the run folder the integration project's global
 * setup provides: the first to create `lock` starts the cluster and writes `cluster` (its
 * folder, for the teardown) and then `url` (or `error`); the others wait for either.
 */
export function sharedPostgresUrl(): Promise<string> {
  const given = process.env.EDGEFLEET_TEST_POSTGRES;
  if (given !== undefined && given !== '') return Promise.resolve(given);
  shared ??= agreeOnCluster();
  return shared;
}

async function agreeOnCluster(): Promise<string> {
  const runDir = inject('postgresRunDir');
  if (runDir === undefined) {
    throw new Error('PostgreSQL is started for the integration tier only: name the file *.integration.test.ts or put it under test/integration/');
  }
  try {
    mkdirSync(join(runDir, 'lock'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return waitForCluster(runDir);
  }
  try {
    const pg = await startThrowawayPostgres();
    writeFileSync(join(runDir, 'cluster'), pg.dir);
    writeAtomically(join(runDir, 'url'), pg.url);
    return pg.url;
  } catch (err) {
    writeAtomically(join(runDir, 'error'), (err as Error).message);
    throw err;
  }
}

async function waitForCluster(runDir: string): Promise<string> {
  const until = Date.now() + START_WAIT_MS;
  for (;;) {
    const url = readIfThere(join(runDir, 'url'));
    if (url !== undefined) return url;
    const error = readIfThere(join(runDir, 'error'));
    if (error !== undefined) throw new Error(`the run's PostgreSQL did not start: ${error}`);
    if (Date.now() > until) throw new Error(`the run's PostgreSQL did not start within ${START_WAIT_MS / 1000} s (another test file was starting it)`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function readIfThere(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Written whole or not at all, so a waiting reader never sees half a URL. */
function writeAtomically(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

/** Global teardown: stops the cluster if some test file started one, and removes the run folder. */
export function stopSharedPostgres(runDir: string): void {
  try {
    const cluster = readIfThere(join(runDir, 'cluster'));
    if (cluster !== undefined) stopThrowawayPostgres(cluster);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
}
