import { describe, expect, it } from 'vitest';
import { parseAuthChallenges, tokenUrl } from '../../src/images/auth-challenge.js';

describe('parseAuthChallenges', () => {
  it.each([
    ['Basic realm="Registry Realm"', [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]],
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
      [{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' } }],
    ],
    // Spaces, unquoted tokens, capitalised names, an escaped quote and a comma inside quotes.
    [
      'Bearer  Realm=https://h/token , Service="a\\"b", scope="repository:x:pull,push"',
      [{ scheme: 'bearer', params: { realm: 'https://h/token', service: 'a"b', scope: 'repository:x:pull,push' } }],
    ],
    // Two challenges in one header.
    [
      'Basic realm="r", Bearer realm="https://t/token",service="s"',
      [
        { scheme: 'basic', params: { realm: 'r' } },
        { scheme: 'bearer', params: { realm: 'https://t/token', service: 's' } },
      ],
    ],
    ['Negotiate', [{ scheme: 'negotiate', params: {} }]],
    ['', []],
  ])('%j', (header, expected) => {
    expect(parseAuthChallenges(header)).toEqual(expected);
  });
});

describe('tokenUrl', () => {
  it('adds service and the challenge scope to the realm', () => {
    const url = tokenUrl({ scheme: 'bearer', params: { realm: 'https://auth.example/token?x=1', service: 'reg', scope: 'repository:team/a:pull' } }, 'team/a');
    expect(url.toString()).toBe('https://auth.example/token?x=1&service=reg&scope=repository%3Ateam%2Fa%3Apull');
  });
  it('asks for pull on the repository when the challenge names no scope', () => {
    const url = tokenUrl({ scheme: 'bearer', params: { realm: 'https://auth.example/token' } }, 'team/a');
    expect(url.searchParams.get('scope')).toBe('repository:team/a:pull');
    expect(url.searchParams.has('service')).toBe(false);
  });
  it.each([undefined, 'not a url', 'file:///etc/passwd'])('refuses realm %j', (realm) => {
    expect(() => tokenUrl({ scheme: 'bearer', params: realm === undefined ? {} : { realm } }, 'a')).toThrow(/realm/);
  });
});
