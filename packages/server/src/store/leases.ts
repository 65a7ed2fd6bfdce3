/** The leader lease row: who holds it, under which fencing term, until when (database time). */
export interface LeaseRecord {
  name: string;
  holder: string;
  term: number;
  /** Expiry, ms since the epoch by the database's clock. */
  expiresAt: number;
  /** The database's clock when this was read (ms since the epoch), to compare `expiresAt` with. */
  dbNow: number;
}

/** Thrown inside a fenced unit of work when the term it was given is no longer the lease's. */
export class LeaseFencedError extends Error {
  constructor(
    readonly lease: string,
    readonly term: number,
    readonly current: { term: number; holder: string } | undefined,
  ) {
    super(
      current === undefined
        ? `the write was refused: it needs the "${lease}" lease at term ${term}, and no such lease exists; only the elected leader applies this work`
        : `the write was refused: it was made under the "${lease}" lease at term ${term}, but term ${current.term} (held by replica ${current.holder}) is current; a newer leader does this work now, nothing was applied`,
    );
    this.name = 'LeaseFencedError';
  }
}

/**
 * Named leases with a fencing term (the leader lease of server replicas). Expiry is judged
 * by the database's clock (`now()` on PostgreSQL), never a replica's. On SQLite one server
 * owns the file, so it takes the lease whenever it asks (a new term each time).
 */
export interface LeaseRepository {
  /**
   * Takes the lease for `holder` for `leaseMs` when it is free (expired, never taken, or
   * already `holder`'s), under a new term (the old term + 1); the new term, or undefined
   * when someone else holds it (then `current` says who).
   */
  tryAcquireLease(name: string, holder: string, leaseMs: number): Promise<{ term: number } | { term: undefined; current: LeaseRecord | undefined }>;
  /** Extends `holder`'s lease at `term` by `leaseMs` from the database's now; false when the row names another holder or term. */
  renewLease(name: string, holder: string, term: number, leaseMs: number): Promise<boolean>;
  /** Ends `holder`'s lease at `term` now (a clean stop), so another replica takes it at once. */
  releaseLease(name: string, holder: string, term: number): Promise<void>;
  getLease(name: string): Promise<LeaseRecord | undefined>;
  /**
   * The fence: inside a unit of work (`store.transaction`), throws {@link LeaseFencedError}
   * unless `term` is the lease's current term. On PostgreSQL it reads the row FOR SHARE, so a
   * takeover (which updates the row) waits for this unit to commit, and a unit that starts
   * after a takeover sees the new term: the write commits only while its term is current.
   */
  assertLeaseTerm(name: string, term: number): Promise<void>;
}
