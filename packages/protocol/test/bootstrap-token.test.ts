import { describe, expect, it } from 'vitest';
import { formatApiToken, formatBootstrapToken, parseApiToken, parseBootstrapToken } from '../src/bootstrap-token.js';
import { formatDuration, parseDuration } from '../src/duration.js';

const fp = 'ab'.repeat(32);
const secret = 'S'.repeat(43);

describe('bootstrap tokens', () => {
  it('carry the CA fingerprint and round-trip', () => {
    const token = formatBootstrapToken({ caFingerprint: fp, id: '0123456789ab', secret });
    expect(token.startsWith(`EF1${fp}::`)).toBe(true);
    expect(parseBootstrapToken(`  ${token}\n`)).toEqual({ caFingerprint: fp, id: '0123456789ab', secret });
  });
  it('carry the release key fingerprint when made with one (EF2), and round-trip', () => {
    const key = 'cd'.repeat(32);
    const token = formatBootstrapToken({ caFingerprint: fp, id: '0123456789ab', secret, releaseKeyFingerprint: key });
    expect(token).toBe(`EF2${fp}${key}::0123456789ab.${secret}`);
    expect(parseBootstrapToken(token)).toEqual({ caFingerprint: fp, releaseKeyFingerprint: key, id: '0123456789ab', secret });
    expect(() => parseBootstrapToken(`EF2${fp}::0123456789ab.${secret}`)).toThrow(/malformed/);
    expect(() => parseBootstrapToken(`EF1${fp}${key}::0123456789ab.${secret}`)).toThrow(/malformed/);
  });
  it.each(['', 'K10abc::user:pass', `EF1${fp}::0123456789ab`, `EF1${fp.slice(1)}::0123456789ab.${secret}`])('rejects %j with a hint', (t) => {
    expect(() => parseBootstrapToken(t)).toThrow(/malformed/);
  });
});

describe('API tokens', () => {
  it('round-trip and reject other strings', () => {
    expect(parseApiToken(formatApiToken({ id: 'abcdefabcdef', secret }))).toEqual({ id: 'abcdefabcdef', secret });
    expect(parseApiToken('Bearer x')).toBeUndefined();
  });
});

describe('durations', () => {
  it.each([
    ['90s', 90_000],
    ['10m', 600_000],
    ['24h', 86_400_000],
    ['7d', 604_800_000],
    ['1h30m', 5_400_000],
    ['250ms', 250],
    ['1.5s', 1500],
  ])('%s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
  it.each(['', '60', '10x', 'h', '1h 30m', '-1s'])('rejects %j', (text) => {
    expect(() => parseDuration(text, 'ttl')).toThrow(/invalid ttl/);
  });
  it('formats exactly', () => {
    expect(formatDuration(86_400_000)).toBe('1d');
    expect(formatDuration(5_400_000)).toBe('1h30m');
  });
});
