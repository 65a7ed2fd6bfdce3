import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { stopSharedPostgres } from './shared-postgres.js';

let runDir: string | undefined;

/**
 * Global setup of the integration project. It starts nothing: PostgreSQL starts when the
 * first test file asks for it (test-support/shared-postgres.ts) in the folder provided
 * here, and stops at the end of the run. A PostgreSQL that cannot be started fails the
 * tests that need it: the store suite is never skipped.
 */
export function setup(project: TestProject): void {
  runDir = mkdtempSync(join(tmpdir(), 'edgefleet-test-run-'));
  project.provide('postgresRunDir', runDir);
}

export function teardown(): void {
  if (runDir !== undefined) stopSharedPostgres(runDir);
}
