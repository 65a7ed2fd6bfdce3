import { afterEach, describe, expect, it } from 'vitest';
import { AnswerPacer, PACER_DEFAULTS, type PacerOptions, tokensFor } from '../../src/deployments/answer-pacer.js';

const OPTS: PacerOptions = { tickMs: 100, burst: 4, idleBelow: 0.5, busyBelow: 0.8, maxWaitMs: 1_000 };

describe('tokensFor: how many answers a tick lets go, by how busy the event loop was', () => {
  it.each([
    [0, 20],
    [0.49, 20],
    [0.5, 4],
    [0.79, 4],
    [0.8, 1],
    [1, 1],
  ])('utilization %s → %s', (u, tokens) => {
    expect(tokensFor(u, PACER_DEFAULTS)).toBe(tokens);
  });
  it('never adds none, however small the burst', () => {
    expect(tokensFor(0.6, { ...PACER_DEFAULTS, burst: 1 })).toBe(1);
  });
});

/** A pacer whose utilization and clock the test sets; ticks are called by hand. */
function pacer(
  opts = OPTS,
  share: () => number = () => 1,
): {
  p: AnswerPacer;
  setLoad: (u: number) => void;
  advance: (ms: number) => void;
  admitted: () => number;
  admit: (signal?: AbortSignal, pollLeftMs?: number) => void;
} {
  let load = 0;
  let now = 0;
  const p = new AnswerPacer(
    opts,
    () => load,
    () => now,
    share,
  );
  let admitted = 0;
  return {
    p,
    setLoad: (u) => {
      load = u;
    },
    advance: (ms) => {
      now += ms;
    },
    admitted: () => admitted,
    admit: (signal, pollLeftMs) => {
      void p.admit(signal, pollLeftMs).then(() => admitted++);
    },
  };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('AnswerPacer', () => {
  const made: AnswerPacer[] = [];
  afterEach(() => {
    for (const p of made.splice(0)) p.stop();
  });

  it('answers a lone change at once, and a herd beyond the burst only as ticks add tokens', async () => {
    const t = pacer();
    made.push(t.p);
    for (let i = 0; i < 10; i++) t.admit();
    await settle();
    expect(t.admitted()).toBe(4);
    expect(t.p.waiting).toBe(6);
    t.advance(100);
    t.p.tick(); // an idle loop: a full burst
    await settle();
    expect(t.admitted()).toBe(8);
    t.advance(100);
    t.p.tick();
    await settle();
    expect(t.admitted()).toBe(10);
    expect(t.p.stats).toEqual({ waited: 6, longestWaitMs: 200 });
  });

  it('lets one answer go per tick while the event loop is saturated', async () => {
    const t = pacer();
    made.push(t.p);
    for (let i = 0; i < 10; i++) t.admit();
    await settle();
    t.setLoad(0.95);
    for (let tick = 1; tick <= 3; tick++) {
      t.advance(100);
      t.p.tick();
      await settle();
      expect(t.admitted()).toBe(4 + tick);
    }
  });

  it("paces a replica at its share of the fleet's pace: three replicas together release as one server", async () => {
    let replicas = 3;
    const t = pacer({ ...OPTS, burst: 6, maxWaitMs: 60_000 }, () => 1 / replicas);
    made.push(t.p);
    for (let i = 0; i < 30; i++) t.admit();
    await settle();
    expect(t.admitted()).toBe(6); // the bucket a replica starts with
    const afterTicks = async (ticks: number): Promise<number> => {
      const before = t.admitted();
      for (let i = 0; i < ticks; i++) {
        t.advance(100);
        t.p.tick();
        await settle();
      }
      return t.admitted() - before;
    };
    expect(await afterTicks(3)).toBe(6); // idle: 6 a tick for the fleet, 2 for this replica
    t.setLoad(0.95);
    expect(await afterTicks(6)).toBe(2); // saturated: 1 a tick for the fleet, a third here
    replicas = 1; // the others are gone: the whole pace again
    t.setLoad(0);
    expect(await afterTicks(2)).toBe(12);
  });

  it('lets an answer go once it has waited maxWaitMs, tokens or not', async () => {
    const t = pacer();
    made.push(t.p);
    for (let i = 0; i < 8; i++) t.admit();
    await settle();
    t.setLoad(1);
    t.advance(999);
    t.p.tick(); // one token: one answer
    await settle();
    expect(t.admitted()).toBe(5);
    t.advance(1);
    t.p.tick(); // one token, and the other three are overdue
    await settle();
    expect(t.admitted()).toBe(8);
    expect(t.p.waiting).toBe(0);
  });

  it('holds an answer the tokens cannot let go until its poll would have ended, so a herd goes out spread, not at maxWaitMs', async () => {
    const t = pacer();
    made.push(t.p);
    // Four go with the bucket; ten more came while their polls had 1, 2, … 10 s to go.
    for (let i = 0; i < 4; i++) t.admit();
    for (let left = 1_000; left <= 10_000; left += 1_000) t.admit(undefined, left);
    await settle();
    expect(t.admitted()).toBe(4);
    t.setLoad(1); // saturated from here: one token a tick
    const perTick: number[] = [];
    while (t.p.waiting > 0) {
      const before = t.admitted();
      t.advance(1_000);
      t.p.tick();
      await settle();
      perTick.push(t.admitted() - before);
    }
    // 1 s: the poll that ended then, and the token's; after that the token's one a tick. With
    // maxWaitMs for all, the ten would have gone together at 1 s.
    expect(perTick).toEqual([2, 1, 1, 1, 1, 1, 1, 1, 1]);
  });

  it('lets an overdue answer go even when earlier ones in the queue still wait', async () => {
    const t = pacer();
    made.push(t.p);
    for (let i = 0; i < 4; i++) t.admit();
    t.admit(undefined, 60_000); // a long poll just begun: may wait a minute
    t.admit(undefined, 0); // came with an old version: waits maxWaitMs at most
    await settle();
    t.setLoad(1);
    t.advance(1_000);
    t.p.tick(); // one token: the queue's head; the second is overdue anyway
    await settle();
    expect(t.admitted()).toBe(6);
  });

  it('drops an answer whose agent went away from the queue', async () => {
    const t = pacer();
    made.push(t.p);
    for (let i = 0; i < 4; i++) t.admit();
    const gone = new AbortController();
    t.admit(gone.signal);
    t.admit();
    await settle();
    expect(t.p.waiting).toBe(2);
    gone.abort();
    await settle();
    expect(t.p.waiting).toBe(1);
    expect(t.admitted()).toBe(5); // the aborted poll's admit resolves; its route sees the abort
  });

  it('lets every waiting answer go when the server closes', async () => {
    const t = pacer();
    made.push(t.p);
    for (let i = 0; i < 9; i++) t.admit();
    t.p.stop();
    await settle();
    expect(t.admitted()).toBe(9);
  });
});
