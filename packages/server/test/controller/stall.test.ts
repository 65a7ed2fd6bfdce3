import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { describeCause, RolloutStalledError, stallChange, stalledCondition } from '../../src/controller/stall.js';
import type { RolloutStallRecord } from '../../src/store/index.js';

const T0 = Date.parse('2026-03-01T08:00:00Z');
const stalled = (o: Partial<RolloutStallRecord> = {}): RolloutStallRecord => ({
  deployment: 'detector',
  reason: 'RolloutStateInvalid',
  message: 'bad state',
  revision: 3,
  since: T0,
  ...o,
});
const invalid = new RolloutStalledError('RolloutStateInvalid', 'bad state');

describe('stallChange: a write and a log line only when the condition changes', () => {
  it.each([
    { name: 'healthy and not stalled: nothing', previous: undefined, failure: null, revision: 3, want: { change: 'none' } },
    { name: 'healthy after a stall: cleared', previous: stalled(), failure: null, revision: 3, want: { change: 'cleared', previous: stalled() } },
    { name: 'stalls: since now', previous: undefined, failure: invalid, revision: 3, want: { change: 'stalled', stall: stalled({ since: T0 + 1 }) } },
    { name: 'the same failure again: nothing', previous: stalled(), failure: invalid, revision: 3, want: { change: 'none' } },
    {
      name: 'another message: written, since kept',
      previous: stalled(),
      failure: new RolloutStalledError('RolloutStateInvalid', 'worse state'),
      revision: 3,
      want: { change: 'stalled', stall: stalled({ message: 'worse state' }) },
    },
    {
      name: 'another reason: written, since kept',
      previous: stalled(),
      failure: new RolloutStalledError('PlanningFailed', 'bad state'),
      revision: 3,
      want: { change: 'stalled', stall: stalled({ reason: 'PlanningFailed' }) },
    },
    {
      name: 'a new revision, still failing: written',
      previous: stalled(),
      failure: invalid,
      revision: 4,
      want: { change: 'stalled', stall: stalled({ revision: 4 }) },
    },
  ])('$name', ({ previous, failure, revision, want }) => {
    expect(stallChange(previous, failure, 'detector', revision, T0 + 1)).toEqual(want);
  });
});

describe('stalledCondition: what the views show', () => {
  it('a stored stall is a Stalled condition with status True', () => {
    expect(stalledCondition(stalled())).toEqual({
      type: 'Stalled',
      status: 'True',
      reason: 'RolloutStateInvalid',
      message: 'bad state',
      lastTransitionTime: '2026-03-01T08:00:00.000Z',
      observedRevision: 3,
    });
    expect(stalledCondition(undefined)).toBeUndefined();
  });
});

describe('describeCause', () => {
  it('names the first zod issues by field and counts the rest', () => {
    const r = z.object({ a: z.string(), b: z.number(), c: z.array(z.string()), d: z.boolean(), e: z.null() }).safeParse({});
    expect(r.success).toBe(false);
    const text = describeCause(r.error);
    expect(text).toMatch(/^a: .*; b: .*; c: .*; and 2 more$/);
  });

  it('takes any other error by its message', () => {
    expect(describeCause(new SyntaxError('Unexpected end of JSON input'))).toBe('Unexpected end of JSON input');
    expect(describeCause('plain')).toBe('plain');
  });
});
