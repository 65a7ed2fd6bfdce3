import { describe, expect, it } from 'vitest';
import { normaliseRepoPath, sourceView, validateSourceRequest } from '../../src/gitops/spec.js';
import { initialSourceStatus } from '../../src/gitops/status.js';

describe('validating a source', () => {
  it('fills in the defaults and normalises the path', () => {
    expect(validateSourceRequest({ name: 'fleet-main', url: '/srv/git/fleet' })).toEqual({
      name: 'fleet-main',
      url: '/srv/git/fleet',
      branch: 'main',
      path: 'fleet',
      intervalMs: 30_000,
    });
    expect(
      validateSourceRequest({ name: 'lab', url: 'https://git.example.com/lab.git', branch: 'release/v2', path: './clusters/prod/', interval: '5m' }),
    ).toMatchObject({ branch: 'release/v2', path: 'clusters/prod', intervalMs: 300_000 });
    expect(normaliseRepoPath('/')).toBe('.');
    expect(normaliseRepoPath('')).toBe('.');
    expect(normaliseRepoPath('./a//b/')).toBe('a/b');
  });

  const refusals: Array<{ req: Parameters<typeof validateSourceRequest>[0]; field: string; message: RegExp }> = [
    { req: { name: 'Fleet_Main', url: '/srv/git/fleet' }, field: 'name', message: /invalid source name "Fleet_Main"/ },
    { req: { name: 'x', url: 'fleet' }, field: 'url', message: /neither an http\(s\) URL nor an absolute path/ },
    { req: { name: 'x', url: 'git@github.com:acme/fleet.git' }, field: 'url', message: /neither/ },
    { req: { name: 'x', url: '/srv/git/fleet', branch: '../main' }, field: 'branch', message: /invalid branch/ },
    { req: { name: 'x', url: '/srv/git/fleet', branch: 'main.lock' }, field: 'branch', message: /invalid branch/ },
    { req: { name: 'x', url: '/srv/git/fleet', path: 'fleet/../../etc' }, field: 'path', message: /invalid path/ },
    { req: { name: 'x', url: '/srv/git/fleet', interval: '30' }, field: 'interval', message: /invalid interval "30"/ },
    { req: { name: 'x', url: '/srv/git/fleet', interval: '1s' }, field: 'interval', message: /out of range/ },
  ];
  for (const r of refusals) {
    it(`refuses a bad ${r.field}: ${JSON.stringify(r.req)}`, () => {
      expect(() => validateSourceRequest(r.req)).toThrow(r.message);
      try {
        validateSourceRequest(r.req);
      } catch (err) {
        expect(err).toMatchObject({ status: 400, field: r.field });
      }
    });
  }

  it('hints at https for an ssh remote', () => {
    expect(() => validateSourceRequest({ name: 'x', url: 'git@github.com:acme/fleet.git' })).toThrow(
      expect.objectContaining({ hint: expect.stringContaining('http(s) only') }),
    );
  });
});

describe('the source view', () => {
  it('has the documented keys, a duration and no credentials', () => {
    const view = sourceView({
      name: 'lab',
      url: 'https://bot:s3cret@git.example.com/lab.git',
      branch: 'main',
      path: 'fleet',
      intervalMs: 90_000,
      createdAt: 0,
      ...initialSourceStatus(),
    });
    expect(Object.keys(view).sort()).toEqual(
      ['branch', 'conditions', 'interval', 'lastAppliedRevision', 'lastAttemptedRevision', 'lastSyncAt', 'name', 'path', 'url'].sort(),
    );
    expect(view).toMatchObject({ url: 'https://***@git.example.com/lab.git', interval: '1m30s', lastSyncAt: null });
  });
});
