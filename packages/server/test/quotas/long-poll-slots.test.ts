import { describe, expect, it } from 'vitest';
import { LongPollSlots, REPLACED } from '../../src/quotas/long-poll-slots.js';

describe('LongPollSlots', () => {
  it('holds one poll per node: a new one ends the older with REPLACED; other nodes are unaffected', () => {
    const slots = new LongPollSlots();
    const a1 = slots.claim('a');
    const b1 = slots.claim('b');
    const a2 = slots.claim('a');
    expect(a1.signal.aborted).toBe(true);
    expect(a1.signal.reason).toBe(REPLACED);
    expect(a2.signal.aborted).toBe(false);
    expect(b1.signal.aborted).toBe(false);
    expect(slots.size).toBe(2);
    // The replaced poll releasing late frees nothing of the newer one.
    a1.release();
    expect(slots.size).toBe(2);
    a2.release();
    b1.release();
    expect(slots.size).toBe(0);
  });

  it('with a higher bound, ends only the oldest beyond it', () => {
    const slots = new LongPollSlots(2);
    const [p1, p2, p3] = [slots.claim('a'), slots.claim('a'), slots.claim('a')];
    expect([p1.signal.aborted, p2.signal.aborted, p3.signal.aborted]).toEqual([true, false, false]);
    p2.release();
    const p4 = slots.claim('a');
    expect([p3.signal.aborted, p4.signal.aborted]).toEqual([false, false]);
  });
});
