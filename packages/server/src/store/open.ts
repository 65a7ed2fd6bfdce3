import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { EdgefleetError } from '@edgefleet/protocol';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { type Checkpointer, startCheckpointer } from './checkpointer.js';
import type { Database } from './schema.js';
import { poolDirectReads, sqliteDirectReads } from './sql/direct-reads.js';
import { SqlStore } from './sql-store.js';
import type { Store } from './types.js';

/**
 * Opens the store named by `--db`: `sqlite:PATH` (one server; WAL mode so readers never
 * wait for the writer) or a `postgres://` URL (any number of server replicas). Migrations
 * are applied before it is returned.
 */
export async function openStore(db: string, defaultSqlitePath: string): Promise<Store> {
  const url = db === '' ? `sqlite:${defaultSqlitePath}` : db;
  let store: SqlStore;
  let sqlitePath: string | undefined;
  if (url.startsWith('sqlite:')) {
    const path = resolve(url.slice('sqlite:'.length) || defaultSqlitePath);
    mkdirSync(dirname(path), { recursive: true });
    let database: BetterSqlite3.Database;
    try {
      database = new BetterSqlite3(path);
    } catch (err) {
      throw new EdgefleetError({
        code: 'startup_failed',
        message: `cannot open SQLite database ${path}: ${(err as Error).message}`,
        hint: 'check the path and its permissions',
        cause: err,
      });
    }
    database.pragma('journal_mode = WAL');
    database.pragma('busy_timeout = 5000');
    database.pragma('foreign_keys = ON');
    // Checkpoints run in a worker once the log holds 4 MiB (checkpointer.ts), never inside a
    // request's commit; after one, the WAL file is cut back to this size.
    database.pragma('wal_autocheckpoint = 0');
    database.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
    sqlitePath = path;
    reusePreparedStatements(database);
    store = new SqlStore('sqlite', new Kysely<Database>({ dialect: new SqliteDialect({ database }) }), sqliteDirectReads(path));
  } else if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    // An idle client losing its connection must not crash the server; the next query reconnects.
    pool.on('error', () => {});
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    store = new SqlStore('postgres', db, poolDirectReads(db));
  } else {
    throw new EdgefleetError({
      code: 'config',
      message: `unsupported --db "${db.replace(/\/\/[^@]*@/, '//***@')}"`,
      hint: 'use sqlite:PATH or a postgres://USER@HOST:PORT/DB URL',
      field: 'db',
    });
  }
  try {
    await store.migrate();
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
  if (sqlitePath !== undefined) {
    const checkpointer: Checkpointer = startCheckpointer(sqlitePath);
    const close = store.close.bind(store);
    store.close = async () => {
      await checkpointer.stop();
      await close();
    };
  }
  return store;
}

/** Prepared statements kept per SQL text; a bound, since IN-lists make some texts one-offs. */
const STATEMENT_CACHE_SIZE = 500;

/**
 * Kysely's SQLite driver prepares every query anew, and compiling the SQL was a tenth of the
 * server's CPU per agent heartbeat (bench/capacity.ts). The same text always compiles to the
 * same statement, so keep them. Safe because Kysely runs one query at a time on the single
 * connection and never leaves a statement mid-iteration.
 */
function reusePreparedStatements(database: BetterSqlite3.Database): void {
  const prepare = database.prepare.bind(database);
  const cache = new Map<string, BetterSqlite3.Statement>();
  database.prepare = ((source: string) => {
    let statement = cache.get(source);
    if (statement === undefined) {
      statement = prepare(source);
      if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      cache.set(source, statement);
    }
    return statement;
  }) as typeof database.prepare;
}
