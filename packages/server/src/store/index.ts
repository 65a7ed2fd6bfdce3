/** The control plane's persistent state: one interface over SQLite and PostgreSQL, with a repository per aggregate. */
export { LeaseFencedError } from './leases.js';
export { openStore } from './open.js';
export { isUniqueViolation, SqlStore } from './sql-store.js';
export type * from './types.js';
