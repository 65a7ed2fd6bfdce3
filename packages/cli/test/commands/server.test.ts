import { describe, expect, it } from 'vitest';
import { parseConnectionCap, parseLeaseDuration } from '../../src/commands/server.js';

describe('edgefleet server --unauthenticated-per-address', () => {
  it('takes a whole number of connections', () => {
    expect(parseConnectionCap('64')).toBe(64);
    expect(parseConnectionCap('1')).toBe(1);
  });

  it.each(['0', '-3', '2.5', 'many', ''])('refuses %j with what to write instead', (text) => {
    expect(() => parseConnectionCap(text)).toThrow(expect.objectContaining({ code: 'config', hint: expect.stringContaining('whole number') }));
  });
});

describe('edgefleet server --lease-duration', () => {
  it('renews every 3/10 of the lease', () => {
    expect(parseLeaseDuration('10s')).toEqual({ leaseMs: 10_000, renewMs: 3_000 });
    expect(parseLeaseDuration('6s')).toEqual({ leaseMs: 6_000, renewMs: 1_800 });
    expect(parseLeaseDuration('2s')).toEqual({ leaseMs: 2_000, renewMs: 600 });
  });

  it.each(['1s', '1500ms', '0s', 'soon', ''])('refuses %j, saying the least it takes', (text) => {
    expect(() => parseLeaseDuration(text)).toThrow(
      expect.objectContaining({ code: 'config', message: expect.stringContaining('at least 2s'), hint: expect.stringContaining('10s') }),
    );
  });
});
