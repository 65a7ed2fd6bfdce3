/** The leader lease and its fence on both engines (expiry by the database's clock). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../../../test-support/pg-database.js';
import { LeaseFencedError, openStore, type Store } from '../../src/store/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('leases on SQLite (one server per file: it always takes the lease)', () => {
  let dir: string;
  let store: Store;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-lease-'));
    store = await openStore(`sqlite:${join(dir, 'fleet.db')}`, '');
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes the lease under a new term at each start, and fences the old term', async () => {
    expect(await store.leases.tryAcquireLease('leader', 'one', 10_000)).toEqual({ term: 1 });
    // A restart after kill -9 need not wait for the old lease to run out.
    expect(await store.leases.tryAcquireLease('leader', 'two', 10_000)).toEqual({ term: 2 });
    await store.transaction((tx) => tx.leases.assertLeaseTerm('leader', 2));
    await expect(store.transaction((tx) => tx.leases.assertLeaseTerm('leader', 1))).rejects.toBeInstanceOf(LeaseFencedError);
    await expect(store.leases.assertLeaseTerm('leader', 2)).rejects.toThrow('inside store.transaction');
  });
});

describe('leases on PostgreSQL', () => {
  let store: Store;
  let other: Store;
  beforeAll(async () => {
    const url = await createTestDatabase();
    store = await openStore(url, '');
    other = await openStore(url, '');
  });
  afterAll(async () => {
    await store?.close();
    await other?.close();
  });

  it('is held until it expires by the database clock, then taken under a newer term that fences the old one', async () => {
    expect(await store.leases.tryAcquireLease('leader', 'a', 1_000)).toEqual({ term: 1 });
    const refused = await other.leases.tryAcquireLease('leader', 'b', 1_000);
    expect(refused).toMatchObject({ term: undefined, current: { holder: 'a', term: 1 } });
    expect(await store.leases.renewLease('leader', 'a', 1, 1_000)).toBe(true);
    expect(await other.leases.renewLease('leader', 'b', 1, 1_000)).toBe(false);
    await sleep(1_300);
    expect(await other.leases.tryAcquireLease('leader', 'b', 60_000)).toEqual({ term: 2 });
    expect(await store.leases.renewLease('leader', 'a', 1, 1_000)).toBe(false);
    const fenced = store.transaction((tx) => tx.leases.assertLeaseTerm('leader', 1));
    await expect(fenced).rejects.toBeInstanceOf(LeaseFencedError);
    await expect(fenced).rejects.toThrow('term 2 (held by replica b) is current');
    await other.transaction((tx) => tx.leases.assertLeaseTerm('leader', 2));
    // A clean stop hands it over at once.
    await other.leases.releaseLease('leader', 'b', 2);
    expect(await store.leases.tryAcquireLease('leader', 'a', 60_000)).toEqual({ term: 3 });
  });

  it('makes a takeover wait for a fenced unit of work in flight, which commits under its term', async () => {
    await store.leases.releaseLease('leader', 'a', 3);
    const { term } = (await store.leases.tryAcquireLease('leader', 'a', 500)) as { term: number };
    await sleep(700); // expired: anyone may take it now
    let takeover: Promise<unknown> | undefined;
    let tookOver = false;
    await store.transaction(async (tx) => {
      await tx.leases.assertLeaseTerm('leader', term);
      takeover = other.leases.tryAcquireLease('leader', 'b', 60_000).then((r) => {
        tookOver = true;
        return r;
      });
      await sleep(500);
      // The row is held FOR SHARE by this unit: the takeover's update waits for it.
      expect(tookOver).toBe(false);
      await tx.setMeta('fenced-write', 'committed');
    });
    expect(await takeover).toEqual({ term: term + 1 });
    expect(await store.getMeta('fenced-write')).toBe('committed');
    await expect(store.transaction((tx) => tx.leases.assertLeaseTerm('leader', term))).rejects.toBeInstanceOf(LeaseFencedError);
  });
});
