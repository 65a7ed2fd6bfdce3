/** Fleet-wide locks, so of several server replicas only one does a given job at a time. */
export interface AdvisoryLocks {
  /**
   * Runs `fn` while holding a fleet-wide lock named `key`, so of several server replicas
   * only one does a given job at a time. On PostgreSQL it is a session advisory lock
   * (`pg_try_advisory_lock`, or `pg_advisory_lock` with mode 'wait') held on one pooled
   * connection for the duration; it is released when `fn` settles or that connection
   * dies. On SQLite it is a no-op that always runs `fn`: one SQLite file has one server,
   * and serialising within that process is the caller's job. With mode 'try' a lock held
   * elsewhere returns `{ acquired: false }` without running `fn`. Take it on the store,
   * not inside a transaction: a session lock needs a connection of its own.
   */
  withAdvisoryLock<T>(key: string, mode: 'try' | 'wait', fn: () => Promise<T>): Promise<{ acquired: true; value: T } | { acquired: false }>;
}
