/** The lease executor over a scripted store, on fake timers: work starts with the lease and stops on time. */
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LeaderElector, type SingletonWork } from '../../src/leader/elector.js';
import type { LeaseRepository, Store } from '../../src/store/index.js';

const TIMING = { leaseMs: 10_000, renewMs: 3_000 };

function fakeStore(leases: Partial<LeaseRepository>): Store {
  return { leases: { releaseLease: async () => {}, getLease: async () => undefined, ...leases } } as unknown as Store;
}

function work(): SingletonWork & { log: string[] } {
  const log: string[] = [];
  return {
    name: 'test work',
    log,
    start: () => log.push('start'),
    stop: async () => {
      log.push('stop');
    },
  };
}

describe('LeaderElector', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('starts the work with the lease and stops it at the deadline while a renewal hangs', async () => {
    const w = work();
    const elector = new LeaderElector(
      fakeStore({
        tryAcquireLease: async () => ({ term: 4 }),
        renewLease: () => new Promise<boolean>(() => {}), // the database stopped answering
      }),
      pino({ level: 'silent' }),
      [w],
      'r1',
      TIMING,
    );
    elector.start();
    await vi.advanceTimersByTimeAsync(1);
    expect(elector.isLeader).toBe(true);
    expect(elector.term).toBe(4);
    expect(w.log).toEqual(['start']);
    await vi.advanceTimersByTimeAsync(9_000);
    expect(w.log).toEqual(['start']);
    await vi.advanceTimersByTimeAsync(1_100);
    expect(w.log).toEqual(['start', 'stop']);
    expect(elector.isLeader).toBe(false);
  });

  it('stops the work at once when a renewal finds a newer term, and keeps trying as a follower', async () => {
    const w = work();
    let acquires = 0;
    const elector = new LeaderElector(
      fakeStore({
        tryAcquireLease: async () => {
          acquires++;
          return acquires === 1 ? { term: 1 } : { term: undefined, current: undefined };
        },
        renewLease: async () => false,
        getLease: async () => ({ name: 'leader', holder: 'r2', term: 2, expiresAt: 0, dbNow: 0 }),
      }),
      pino({ level: 'silent' }),
      [w],
      'r1',
      TIMING,
    );
    elector.start();
    await vi.advanceTimersByTimeAsync(3_100);
    expect(w.log).toEqual(['start', 'stop']);
    expect(elector.isLeader).toBe(false);
    expect(elector.term).toBe(2);
    await vi.advanceTimersByTimeAsync(6_100);
    expect(acquires).toBeGreaterThanOrEqual(2);
    await elector.stop();
  });
});
