/**
 * The leader lease as a pure state machine: which step the elector takes next, and what a
 * step's outcome means for singleton work. No I/O and no clock of its own: the executor
 * (elector.ts) passes monotonic times (ms) in and runs the store calls the machine asks for.
 *
 * The lease itself lives in the database and expires by the database's clock, so replica
 * clocks never matter to who may take it. Locally a leader keeps a *deadline*: the time it
 * sent its last successful acquire or renew plus the lease length. The database set the
 * expiry at least that late (its `now()` was read after the request was sent), so a leader
 * that stops work at its deadline has stopped before anyone else can take the lease. The
 * fencing term (checked inside every singleton write) covers what a paused process cannot
 * see in time.
 */

/** Lease length and renewal period (ms). */
export interface LeaseTiming {
  /** How long a lease lasts after an acquire or renew (default 10 s). */
  leaseMs: number;
  /** How often a leader renews, and a follower tries to acquire (default 3 s). */
  renewMs: number;
}

export const DEFAULT_LEASE_TIMING: LeaseTiming = { leaseMs: 10_000, renewMs: 3_000 };

/** Where a replica stands. */
export type LeaseState =
  | {
      role: 'follower';
      /** The newest term this replica has seen (null before it read one). */
      term: number | null;
      /** When to try to acquire next (monotonic). */
      retryAt: number;
    }
  | {
      role: 'leader';
      term: number;
      /** Local monotonic time by which the lease must have been renewed, or work stops. */
      deadline: number;
      /** When the next renewal is due (monotonic). */
      renewAt: number;
    };

/** What the executor does next: a store call, or nothing until `at`. */
export type LeaseStep = { kind: 'acquire' } | { kind: 'renew'; term: number } | { kind: 'wait'; until: number };

/** An outcome the executor reports back, with the monotonic time the request was *sent*. */
export type LeaseEvent =
  | { kind: 'acquired'; term: number; sentAt: number }
  | { kind: 'not-acquired'; term: number | null; at: number }
  | { kind: 'renewed'; sentAt: number }
  /** The row names another holder or a newer term: someone else leads now. */
  | { kind: 'superseded'; term: number | null; at: number }
  /** The store call failed (connection lost, timeout): nothing is known. */
  | { kind: 'failed'; at: number }
  /** Checked at every step: the local deadline may have passed. */
  | { kind: 'tick'; now: number };

/** What changed for singleton work with a transition. */
export type LeaseEffect = { kind: 'start'; term: number } | { kind: 'stop'; term: number; reason: 'superseded' | 'expired' } | null;

export const INITIAL_LEASE_STATE: LeaseState = { role: 'follower', term: null, retryAt: Number.NEGATIVE_INFINITY };

/** A leader whose renewal failed tries again this often, well before its deadline. */
function leaderRetryMs(timing: LeaseTiming): number {
  return Math.max(1, Math.floor(timing.renewMs / 3));
}

/** The next step from `state` at monotonic time `now`. */
export function nextLeaseStep(state: LeaseState, now: number): LeaseStep {
  if (state.role === 'follower') return now >= state.retryAt ? { kind: 'acquire' } : { kind: 'wait', until: state.retryAt };
  if (now >= state.renewAt) return { kind: 'renew', term: state.term };
  return { kind: 'wait', until: Math.min(state.renewAt, state.deadline) };
}

/** The state after `event`, and whether singleton work must start or stop. */
export function applyLeaseEvent(state: LeaseState, event: LeaseEvent, timing: LeaseTiming): { state: LeaseState; effect: LeaseEffect } {
  switch (event.kind) {
    case 'acquired': {
      const leader: LeaseState = { role: 'leader', term: event.term, deadline: event.sentAt + timing.leaseMs, renewAt: event.sentAt + timing.renewMs };
      if (state.role === 'leader' && state.term === event.term) return { state: leader, effect: null };
      return { state: leader, effect: { kind: 'start', term: event.term } };
    }
    case 'not-acquired': {
      const follower: LeaseState = { role: 'follower', term: event.term, retryAt: event.at + timing.renewMs };
      if (state.role === 'leader') return { state: follower, effect: { kind: 'stop', term: state.term, reason: 'superseded' } };
      return { state: follower, effect: null };
    }
    case 'renewed':
      if (state.role !== 'leader') return { state, effect: null };
      return {
        state: { ...state, deadline: Math.max(state.deadline, event.sentAt + timing.leaseMs), renewAt: event.sentAt + timing.renewMs },
        effect: null,
      };
    case 'superseded': {
      const follower: LeaseState = { role: 'follower', term: event.term, retryAt: event.at + timing.renewMs };
      if (state.role !== 'leader') return { state: follower, effect: null };
      return { state: follower, effect: { kind: 'stop', term: state.term, reason: 'superseded' } };
    }
    case 'failed':
      // A leader keeps leading until its deadline (a tick ends it) and retries soon; a follower tries again later.
      if (state.role === 'leader') return { state: { ...state, renewAt: event.at + leaderRetryMs(timing) }, effect: null };
      return { state: { ...state, retryAt: event.at + timing.renewMs }, effect: null };
    case 'tick':
      if (state.role === 'leader' && event.now >= state.deadline) {
        // Expired locally: try to acquire again at once (a new term if it is still free).
        return { state: { role: 'follower', term: state.term, retryAt: event.now }, effect: { kind: 'stop', term: state.term, reason: 'expired' } };
      }
      return { state, effect: null };
  }
}
