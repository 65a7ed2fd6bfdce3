import BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, type Kysely } from 'kysely';
import type { Database } from '../schema.js';

/**
 * Runs a query that Kysely compiled once, with new parameter values, straight on the
 * driver. Every agent request reads its node's certificate and record, and every status
 * report its workload statuses: through Kysely's query builder and executor such a read
 * cost about 45 µs of the server's one thread, against 5 µs for the same prepared
 * statement run directly (bench/capacity.ts, issue 18). The SQL is still Kysely's: the
 * same text on both dialects, built from the typed schema.
 */
export interface DirectReads {
  /** A function that runs `query`'s SQL with `parameters` in place of the ones it was compiled with. */
  prepare<R>(query: CompiledQuery<R>): (parameters: readonly unknown[]) => Promise<R[]>;
  /** Releases what the reads hold (a connection). */
  close(): void;
}

/**
 * Direct reads on SQLite, over a read-only connection of their own. Not the writer's: its
 * one connection is held by whichever transaction is open, and a statement run on it in
 * between would read that transaction's uncommitted rows. In WAL mode a second connection
 * reads the last committed state and never waits for the writer.
 */
export function sqliteDirectReads(path: string): DirectReads {
  const database = new BetterSqlite3(path, { readonly: true, fileMustExist: true });
  database.pragma('busy_timeout = 5000');
  return {
    prepare<R>(query: CompiledQuery<R>) {
      let statement: BetterSqlite3.Statement | undefined;
      return async (parameters: readonly unknown[]) => {
        checkArity(query, parameters);
        // Prepared at first use, after migrations have made the tables.
        statement ??= database.prepare(query.sql);
        return statement.all(...parameters) as R[];
      };
    },
    close: () => database.close(),
  };
}

/**
 * Direct reads on PostgreSQL: the compiled text through Kysely's connection pool, without
 * building and compiling the query anew each time. Any pooled connection reads committed
 * rows only, so no connection of their own is needed.
 */
export function poolDirectReads(db: Kysely<Database>): DirectReads {
  return {
    prepare<R>(query: CompiledQuery<R>) {
      return async (parameters: readonly unknown[]) => {
        checkArity(query, parameters);
        return (await db.executeQuery<R>(CompiledQuery.raw(query.sql, [...parameters]))).rows;
      };
    },
    close: () => {},
  };
}

/**
 * A read by one value (a node's id, a fingerprint): run directly when `reads` is given (the
 * store over the pool), else built and run by Kysely (inside a transaction, or a store
 * opened without direct reads).
 */
export function readByValue<R>(
  reads: DirectReads | undefined,
  build: (value: string) => { compile(): CompiledQuery<R>; execute(): Promise<R[]> },
): (value: string) => Promise<R[]> {
  const direct = reads?.prepare(build('').compile());
  return direct === undefined ? (value) => build(value).execute() : (value) => direct([value]);
}

/** A call with another number of parameters than the query was compiled with is a bug here, not bad input. */
function checkArity(query: CompiledQuery, parameters: readonly unknown[]): void {
  if (parameters.length !== query.parameters.length)
    throw new Error(`a direct read takes ${query.parameters.length} parameters, given ${parameters.length}: ${query.sql}`);
}
