/** The leader lease machine, as a table: state × event → state and effect, on an injected (monotonic) clock. */
import { describe, expect, it } from 'vitest';
import { applyLeaseEvent, INITIAL_LEASE_STATE, type LeaseEffect, type LeaseEvent, type LeaseState, nextLeaseStep } from '../../src/leader/lease.js';

const T = { leaseMs: 10_000, renewMs: 3_000 };
const follower = (term: number | null, retryAt = 0): LeaseState => ({ role: 'follower', term, retryAt });
const leader = (term: number, deadline: number, renewAt: number): LeaseState => ({ role: 'leader', term, deadline, renewAt });

describe('the lease machine', () => {
  const transitions: Array<[string, LeaseState, LeaseEvent, LeaseState, LeaseEffect]> = [
    [
      'a follower acquires: leads until sent + lease, renews at sent + renew',
      INITIAL_LEASE_STATE,
      { kind: 'acquired', term: 1, sentAt: 100 },
      leader(1, 10_100, 3_100),
      { kind: 'start', term: 1 },
    ],
    ['a follower that finds the lease held waits a renewal period', follower(null), { kind: 'not-acquired', term: 4, at: 500 }, follower(4, 3_500), null],
    [
      'a renewal extends the deadline from when it was sent, not when it returned',
      leader(1, 10_000, 3_000),
      { kind: 'renewed', sentAt: 3_000 },
      leader(1, 13_000, 6_000),
      null,
    ],
    [
      'a renewal answered after a later one never shortens the deadline',
      leader(1, 13_000, 6_000),
      { kind: 'renewed', sentAt: 2_000 },
      leader(1, 13_000, 5_000),
      null,
    ],
    [
      'a refused renewal (newer term) stops the work at once',
      leader(1, 10_000, 3_000),
      { kind: 'superseded', term: 2, at: 3_100 },
      follower(2, 6_100),
      { kind: 'stop', term: 1, reason: 'superseded' },
    ],
    [
      'a failed renewal keeps leading, retrying sooner than a renewal period',
      leader(1, 10_000, 3_000),
      { kind: 'failed', at: 3_050 },
      leader(1, 10_000, 4_050),
      null,
    ],
    ['a tick before the deadline changes nothing', leader(1, 10_000, 3_000), { kind: 'tick', now: 9_999 }, leader(1, 10_000, 3_000), null],
    [
      'a tick at the deadline stops the work: expired',
      leader(1, 10_000, 3_000),
      { kind: 'tick', now: 10_000 },
      follower(1, 10_000),
      { kind: 'stop', term: 1, reason: 'expired' },
    ],
    ['a failed acquire waits a renewal period', follower(3, 0), { kind: 'failed', at: 700 }, follower(3, 3_700), null],
    ['a renewal reaching a follower is ignored', follower(2, 0), { kind: 'renewed', sentAt: 50 }, follower(2, 0), null],
    ['a superseded follower just records the term', follower(2, 0), { kind: 'superseded', term: 5, at: 10 }, follower(5, 3_010), null],
    ['a follower ticking does nothing', follower(2, 0), { kind: 'tick', now: 99_999 }, follower(2, 0), null],
    [
      'not acquiring while leading (never asked, but safe) stops the work',
      leader(1, 10_000, 3_000),
      { kind: 'not-acquired', term: 2, at: 1 },
      follower(2, 3_001),
      { kind: 'stop', term: 1, reason: 'superseded' },
    ],
  ];
  it.each(transitions)('%s', (_name, state, event, after, effect) => {
    expect(applyLeaseEvent(state, event, T)).toEqual({ state: after, effect });
  });

  const steps: Array<[string, LeaseState, number, ReturnType<typeof nextLeaseStep>]> = [
    ['a new replica tries to acquire at once', INITIAL_LEASE_STATE, 0, { kind: 'acquire' }],
    ['a follower waits until its retry time', follower(1, 3_000), 1_000, { kind: 'wait', until: 3_000 }],
    ['then tries again', follower(1, 3_000), 3_000, { kind: 'acquire' }],
    ['a leader waits for its renewal time', leader(4, 10_000, 3_000), 1_000, { kind: 'wait', until: 3_000 }],
    ['then renews under its own term', leader(4, 10_000, 3_000), 3_000, { kind: 'renew', term: 4 }],
  ];
  it.each(steps)('%s', (_name, state, now, step) => {
    expect(nextLeaseStep(state, now)).toEqual(step);
  });

  it('a leader whose renewals all fail stops within the lease of its last success', () => {
    let state: LeaseState = applyLeaseEvent(INITIAL_LEASE_STATE, { kind: 'acquired', term: 7, sentAt: 0 }, T).state;
    const effects: LeaseEffect[] = [];
    for (let now = 0; now <= 20_000; now += 100) {
      const tick = applyLeaseEvent(state, { kind: 'tick', now }, T);
      state = tick.state;
      if (tick.effect !== null) effects.push(tick.effect);
      const step = nextLeaseStep(state, now);
      if (step.kind === 'renew') state = applyLeaseEvent(state, { kind: 'failed', at: now }, T).state;
      if (state.role === 'follower') break;
    }
    expect(effects).toEqual([{ kind: 'stop', term: 7, reason: 'expired' }]);
    expect(state).toMatchObject({ role: 'follower', retryAt: 10_000 });
  });

  it('a leader renewing on time never stops', () => {
    let state: LeaseState = applyLeaseEvent(INITIAL_LEASE_STATE, { kind: 'acquired', term: 1, sentAt: 0 }, T).state;
    for (let now = 0; now <= 60_000; now += 100) {
      const tick = applyLeaseEvent(state, { kind: 'tick', now }, T);
      expect(tick.effect).toBeNull();
      state = tick.state;
      if (nextLeaseStep(state, now).kind === 'renew') state = applyLeaseEvent(state, { kind: 'renewed', sentAt: now }, T).state;
    }
    expect(state.role).toBe('leader');
  });
});
