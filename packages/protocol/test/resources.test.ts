import { describe, expect, it } from 'vitest';
import { parseCpu, parseMemory } from '../src/resources.js';

describe('resource limits', () => {
  it.each([
    ['500m', 500],
    ['1.5', 1500],
    [2, 2000],
  ] as const)('CPU %s is %i millicores', (v, milli) => expect(parseCpu(v)).toBe(milli));
  it.each(['', 'two', '-1', '0', '1.5c'])('refuses CPU %j', (v) => expect(() => parseCpu(v)).toThrow(/CPU/));
  it.each([
    ['256Mi', 256 * 1024 * 1024],
    ['1Gi', 1024 ** 3],
    ['500M', 500e6],
    [8_000_000, 8_000_000],
  ] as const)('memory %s is %i bytes', (v, bytes) => expect(parseMemory(v)).toBe(bytes));
  it.each(['1Ti', 'lots', '1k'])('refuses memory %j', (v) => expect(() => parseMemory(v)).toThrow(/memory/));
});
