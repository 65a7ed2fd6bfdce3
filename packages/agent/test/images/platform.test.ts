import { describe, expect, it } from 'vitest';
import { hostPlatform, parsePlatform, platformMatches, selectPlatform } from '../../src/images/platform.js';

describe('platformMatches', () => {
  const cases: [string, { os: string; architecture: string; variant?: string }, boolean][] = [
    ['linux/amd64', { os: 'linux', architecture: 'amd64' }, true],
    ['linux/amd64', { os: 'linux', architecture: 'arm64' }, false],
    ['linux/amd64', { os: 'windows', architecture: 'amd64' }, false],
    ['linux/amd64', { os: 'linux', architecture: 'amd64', variant: 'v3' }, false],
    // arm64 implies v8 on both sides.
    ['linux/arm64', { os: 'linux', architecture: 'arm64', variant: 'v8' }, true],
    ['linux/arm64', { os: 'linux', architecture: 'arm64' }, true],
    ['linux/arm64/v8', { os: 'linux', architecture: 'arm64' }, true],
    ['linux/arm64', { os: 'linux', architecture: 'arm64', variant: '' }, true],
    ['linux/arm64', { os: 'linux', architecture: 'arm64', variant: 'v9' }, false],
    ['linux/arm/v7', { os: 'linux', architecture: 'arm', variant: 'v7' }, true],
    ['linux/arm/v7', { os: 'linux', architecture: 'arm', variant: 'v6' }, false],
    ['linux/arm/v7', { os: 'linux', architecture: 'arm' }, false],
    // Attestation manifests of buildx carry unknown/unknown.
    ['linux/amd64', { os: 'unknown', architecture: 'unknown' }, false],
  ];
  it.each(cases)('%s vs %j → %s', (wanted, entry, expected) => {
    expect(platformMatches(entry, parsePlatform(wanted))).toBe(expected);
  });

  it('never matches an entry without a platform', () => {
    expect(platformMatches(undefined, parsePlatform('linux/amd64'))).toBe(false);
  });
});

describe('selectPlatform', () => {
  const index = [
    { digest: 'a', platform: { os: 'linux', architecture: 'amd64' } },
    { digest: 'attestation', platform: { os: 'unknown', architecture: 'unknown' } },
    { digest: 'b', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    { digest: 'c', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    { digest: 'none' },
  ];
  it('picks the first matching entry in index order', () => {
    expect(selectPlatform(index, 'linux/arm64')?.digest).toBe('b');
    expect(selectPlatform(index, 'linux/amd64')?.digest).toBe('a');
  });
  it('returns undefined when no entry matches', () => {
    expect(selectPlatform(index, 'linux/riscv64')).toBeUndefined();
  });
});

describe('parsePlatform', () => {
  it.each(['linux', 'linux/', '/amd64', 'linux/amd64/v8/x', 'Linux/AMD64', 'linux/amd 64'])('refuses %j with the expected shape', (bad) => {
    expect(() => parsePlatform(bad)).toThrow('os/architecture[/variant]');
  });
});

describe('hostPlatform', () => {
  it.each([
    ['x64', 'linux/amd64'],
    ['arm64', 'linux/arm64'],
    ['arm', 'linux/arm/v7'],
    ['riscv64', 'linux/riscv64'],
  ])('%s → %s', (arch, platform) => {
    expect(hostPlatform(arch, 'linux')).toBe(platform);
  });
});
