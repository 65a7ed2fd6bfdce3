import { backoffDelay, MAX_BACKOFF_MS } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { jitteredInterval, renewalDueAt } from '../src/timing.js';

describe('agent timing', () => {
  it('renews at two thirds of the certificate lifetime', () => {
    const day = 86_400_000;
    expect(renewalDueAt(0, 7 * day)).toBe(Math.floor((14 * day) / 3));
    expect(renewalDueAt(1_000, 4_000)).toBe(3_000);
  });

  // The agent retries by protocol's backoffDelay with its defaults: these are the agent's numbers.
  it('backs off exponentially with full jitter, capped at five minutes', () => {
    expect(backoffDelay(0, { random: () => 0.999 })).toBe(999);
    expect(backoffDelay(3, { random: () => 0.5 })).toBe(4_000);
    expect(backoffDelay(20, { random: () => 0.999999 })).toBeLessThanOrEqual(MAX_BACKOFF_MS);
    expect(backoffDelay(20, { random: () => 0.999999 })).toBeGreaterThan(MAX_BACKOFF_MS - 1_000);
    expect(backoffDelay(1000, { random: () => 1 - Number.EPSILON })).toBeLessThan(MAX_BACKOFF_MS);
    expect(backoffDelay(5, { random: () => 0 })).toBe(0);
  });

  it('jitters heartbeats by ±10 %', () => {
    expect(jitteredInterval(60_000, () => 0)).toBe(54_000);
    expect(jitteredInterval(60_000, () => 1)).toBe(66_000);
  });
});
