import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

/**
 * A throwaway PostgreSQL 15 cluster for the store tests: initdb into a temp dir, start on a
 * free loopback port, stop and delete at the end. As root, the server runs as the
 * `postgres` user (PostgreSQL refuses to run as root).
 */
export interface ThrowawayPostgres {
  url: string;
  /** The cluster's folder (data, log, socket): what {@link stopThrowawayPostgres} takes. */
  dir: string;
  stop(): void;
}

const BIN = process.env.EDGEFLEET_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export async function startThrowawayPostgres(): Promise<ThrowawayPostgres> {
  if (!existsSync(join(BIN, 'initdb'))) {
    throw new Error(
      `PostgreSQL server binaries not found in ${BIN}: install postgresql-15 (apt-get install postgresql-15) or set EDGEFLEET_TEST_POSTGRES to a database URL`,
    );
  }
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'edgefleet-pg-'));
  chmodSync(dir, 0o777);
  const data = join(dir, 'data');
  const port = await freePort();
  const run = (cmd: string, args: string[]): void => {
    const full = [join(BIN, cmd), ...args];
    const res = asRoot
      ? spawnSync('su', ['postgres', '-s', '/bin/sh', '-c', full.map((a) => `'${a}'`).join(' ')], { encoding: 'utf8', cwd: '/' })
      : spawnSync(full[0] as string, full.slice(1), { encoding: 'utf8' });
    if (res.status !== 0) throw new Error(`${cmd} failed (${res.status}): ${res.stderr || res.stdout}`);
  };
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  run('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-o', `-h 127.0.0.1 -p ${port} -k ${dir} -c fsync=off`, '-w', 'start']);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    dir,
    stop: () => stopThrowawayPostgres(dir),
  };
}

/**
 * Stops the cluster in `dir` (made by {@link startThrowawayPostgres}, maybe by another
 * process) at once and deletes its folder.
 */
export function stopThrowawayPostgres(dir: string): void {
  try {
    const args = ['-D', join(dir, 'data'), '-m', 'immediate', '-w', 'stop'];
    if (process.getuid?.() === 0) execFileSync('su', ['postgres', '-s', '/bin/sh', '-c', [join(BIN, 'pg_ctl'), ...args].join(' ')], { cwd: '/' });
    else execFileSync(join(BIN, 'pg_ctl'), args);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
