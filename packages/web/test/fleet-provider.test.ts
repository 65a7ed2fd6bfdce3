import { errors } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import type { Api } from '../src/api.js';
import { RELIST_MAX_DELAY_MS, relistFleet } from '../src/fleet-provider.js';
import type { FleetLists } from '../src/reducers.js';

/** An Api whose node list fails with each of `failures` in turn, then answers. */
function flakyApi(failures: unknown[]): { api: Api; calls: () => number } {
  let calls = 0;
  const api = {
    nodes: async () => {
      calls++;
      const failure = failures.shift();
      if (failure !== undefined) throw failure;
      return [];
    },
    deployments: async () => [],
    alerts: async () => [],
    events: async () => [],
    audit: async () => [],
    rollout: async () => undefined,
  } as unknown as Api;
  return { api, calls: () => calls };
}

const unavailable = () => errors.unavailable('the server is restarting', 'wait a moment');

describe('relistFleet', () => {
  it('retries a failed listing after full-jitter backoff delays, capped at 10 s, then reports the lists', async () => {
    const { api, calls } = flakyApi([unavailable(), new TypeError('fetch failed'), unavailable(), unavailable(), unavailable(), unavailable()]);
    const waited: number[] = [];
    const listed: FleetLists[] = [];
    await relistFleet(api, 'viewer', {
      signal: new AbortController().signal,
      isCurrent: () => true,
      onListed: (l) => listed.push(l),
      onUnauthorized: () => expect.unreachable('no 401 here'),
      sleep: async (ms) => {
        waited.push(ms);
      },
      random: () => 0.999,
    });
    expect(calls()).toBe(7);
    // The fleet's backoff rule: a draw below min(cap, 1 s · 2^attempt), here near the top of each range.
    expect(waited).toEqual([999, 1998, 3996, 7992, 9990, 9990]);
    expect(Math.max(...waited)).toBeLessThan(RELIST_MAX_DELAY_MS);
    expect(listed).toHaveLength(1);
  });

  it('draws each delay with jitter, so dashboards that lost the server together do not come back in lockstep', async () => {
    const { api } = flakyApi([unavailable()]);
    const waited: number[] = [];
    await relistFleet(api, 'viewer', {
      signal: new AbortController().signal,
      isCurrent: () => true,
      onListed: () => {},
      onUnauthorized: () => {},
      sleep: async (ms) => {
        waited.push(ms);
      },
      random: () => 0.25,
    });
    expect(waited).toEqual([250]);
  });

  it('stops at a 401 and reports it, without retrying', async () => {
    const refused = errors.unauthenticated('the token is not valid', 'sign in again');
    const { api, calls } = flakyApi([refused, unavailable()]);
    const reported: unknown[] = [];
    await relistFleet(api, 'viewer', {
      signal: new AbortController().signal,
      isCurrent: () => true,
      onListed: () => expect.unreachable('a refused listing lists nothing'),
      onUnauthorized: (e) => reported.push(e),
      sleep: async () => expect.unreachable('no retry after a 401'),
    });
    expect(calls()).toBe(1);
    expect(reported).toEqual([refused]);
  });

  it('stops when the provider unmounts during a wait, and when a newer listing replaced it', async () => {
    const ctl = new AbortController();
    const first = flakyApi([unavailable(), unavailable(), unavailable()]);
    await relistFleet(first.api, 'viewer', {
      signal: ctl.signal,
      isCurrent: () => true,
      onListed: () => expect.unreachable('unmounted'),
      onUnauthorized: () => {},
      sleep: async () => ctl.abort(),
    });
    expect(first.calls()).toBe(1);

    let current = true;
    const second = flakyApi([unavailable()]);
    await relistFleet(second.api, 'viewer', {
      signal: new AbortController().signal,
      isCurrent: () => current,
      onListed: () => expect.unreachable('replaced by a newer listing'),
      onUnauthorized: () => {},
      sleep: async () => {
        current = false;
      },
    });
    expect(second.calls()).toBe(1);
  });
});
