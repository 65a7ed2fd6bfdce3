import { createHash } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { AdvisoryLocks } from '../locks.js';
import type { Database } from '../schema.js';
import type { Store } from '../types.js';

/** A signed 64-bit advisory lock id from a name, the same on every replica. */
function advisoryLockId(key: string): string {
  return createHash('sha256').update(`edgefleet:${key}`).digest().readBigInt64BE(0).toString();
}

/** {@link AdvisoryLocks} over Kysely: PostgreSQL session advisory locks; none needed on SQLite. */
export class SqlAdvisoryLocks implements AdvisoryLocks {
  constructor(
    private readonly dialect: Store['dialect'],
    private readonly db: Kysely<Database>,
  ) {}

  async withAdvisoryLock<T>(key: string, mode: 'try' | 'wait', fn: () => Promise<T>): Promise<{ acquired: true; value: T } | { acquired: false }> {
    if (this.dialect === 'sqlite') return { acquired: true, value: await fn() };
    const id = advisoryLockId(key);
    // Session locks belong to a connection: hold one pooled connection for the whole job
    // (fn's own queries use other connections) and unlock on that same connection.
    return this.db.connection().execute(async (conn) => {
      if (mode === 'wait') {
        await sql`select pg_advisory_lock(${id}::bigint)`.execute(conn);
      } else {
        const r = await sql<{ locked: boolean }>`select pg_try_advisory_lock(${id}::bigint) as locked`.execute(conn);
        if (r.rows[0]?.locked !== true) return { acquired: false } as const;
      }
      try {
        return { acquired: true, value: await fn() } as const;
      } finally {
        // If the connection died, PostgreSQL has released the lock with the session.
        await sql`select pg_advisory_unlock(${id}::bigint)`.execute(conn).catch(() => {});
      }
    });
  }
}
