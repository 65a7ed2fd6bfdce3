import { describe, expect, it } from 'vitest';
import { humanSize } from '../../src/commands/artifacts.js';

describe('humanSize', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [1536, '1.5 KiB'],
    [3 * 1024 * 1024, '3.0 MiB'],
    [42 * 1024 * 1024, '42 MiB'],
    [8 * 1024 ** 3, '8.0 GiB'],
  ])('%d bytes is %s', (bytes, text) => {
    expect(humanSize(bytes)).toBe(text);
  });
});
