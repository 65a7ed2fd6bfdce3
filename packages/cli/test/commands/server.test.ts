import { describe, expect, it } from 'vitest';
import { parseConnectionCap } from '../../src/commands/server.js';

describe('edgefleet server --unauthenticated-per-address', () => {
  it('takes a whole number of connections', () => {
    expect(parseConnectionCap('64')).toBe(64);
    expect(parseConnectionCap('1')).toBe(1);
  });

  it.each(['0', '-3', '2.5', 'many', ''])('refuses %j with what to write instead', (text) => {
    expect(() => parseConnectionCap(text)).toThrow(expect.objectContaining({ code: 'config', hint: expect.stringContaining('whole number') }));
  });
});
