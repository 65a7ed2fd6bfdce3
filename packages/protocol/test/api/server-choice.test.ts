import { describe, expect, it } from 'vitest';
import {
  type AttemptOutcome,
  failoverReason,
  repeatOnFreshConnection,
  SERVER_REST_BASE_MS,
  SERVER_REST_CAP_MS,
  ServerChoice,
} from '../../src/api/server-choice.js';

const URLS = ['https://a:8443', 'https://b:8443', 'https://c:8443'];

/** An error shaped as Node or undici throws it. */
function err(code: string, message = `failed: ${code}`, cause?: unknown): Error {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { code });
}

describe('failoverReason', () => {
  const cases: Array<[string, AttemptOutcome, string | undefined]> = [
    ['200 is an answer', { status: 200 }, undefined],
    ['404 is the server speaking', { status: 404 }, undefined],
    ['500 is the server speaking', { status: 500 }, undefined],
    ['429 is the server asking to wait', { status: 429 }, undefined],
    ['502 from a proxy', { status: 502 }, 'HTTP 502'],
    ['503 from an overloaded or stopping replica', { status: 503 }, 'HTTP 503'],
    ['504 from a proxy', { status: 504 }, 'HTTP 504'],
    ['refused connection', { error: err('ECONNREFUSED') }, 'ECONNREFUSED'],
    ['reset connection', { error: err('ECONNRESET') }, 'ECONNRESET'],
    ['no route', { error: err('EHOSTUNREACH') }, 'EHOSTUNREACH'],
    ['name not found', { error: err('ENOTFOUND') }, 'ENOTFOUND'],
    ['connect timeout', { error: err('UND_ERR_CONNECT_TIMEOUT') }, 'UND_ERR_CONNECT_TIMEOUT'],
    ['headers timeout', { error: err('UND_ERR_HEADERS_TIMEOUT') }, 'UND_ERR_HEADERS_TIMEOUT'],
    ['socket closed by the other side', { error: err('UND_ERR_SOCKET', 'other side closed') }, 'UND_ERR_SOCKET'],
    ['refusal wrapped by undici', { error: err('', 'fetch failed', err('ECONNREFUSED')) }, 'ECONNREFUSED'],
    ['handshake broken without judging the certificate', { error: err('ERR_SSL_WRONG_VERSION_NUMBER') }, 'ERR_SSL_WRONG_VERSION_NUMBER'],
    ['closed mid-handshake', { error: err('ECONNRESET', 'Client network socket disconnected before secure TLS connection was established') }, 'ECONNRESET'],
    // The pin is never traded for availability:
    ['certificate from another CA', { error: err('UNABLE_TO_VERIFY_LEAF_SIGNATURE') }, undefined],
    ['self-signed certificate', { error: err('DEPTH_ZERO_SELF_SIGNED_CERT') }, undefined],
    ['self-signed CA in chain', { error: err('SELF_SIGNED_CERT_IN_CHAIN') }, undefined],
    ['certificate for another name', { error: err('ERR_TLS_CERT_ALTNAME_INVALID') }, undefined],
    ['expired server certificate', { error: err('CERT_HAS_EXPIRED') }, undefined],
    ['certificate rejection wrapped', { error: err('UND_ERR_SOCKET', 'x', err('UNABLE_TO_VERIFY_LEAF_SIGNATURE')) }, undefined],
    ['the caller cancelled', { error: Object.assign(new Error('aborted'), { name: 'AbortError', code: 'UND_ERR_ABORTED' }) }, undefined],
    ['an unknown error', { error: new Error('something else') }, undefined],
    ['not an error at all', { error: 'boom' }, undefined],
  ];
  it.each(cases)('%s', (_what, outcome, expected) => {
    expect(failoverReason(outcome)).toBe(expected);
  });
});

describe('repeatOnFreshConnection', () => {
  const cases: Array<[string, string, unknown, boolean]> = [
    ['a GET closed under it by a load balancer', 'GET', err('UND_ERR_SOCKET', 'other side closed'), true],
    ['a GET on a reset connection', 'get', err('ECONNRESET'), true],
    ['a HEAD on a pipe that broke', 'HEAD', err('EPIPE'), true],
    ['a GET hung up on, wrapped', 'GET', err('', 'fetch failed', err('', 'socket hang up')), true],
    // A change may have been carried out before the connection broke:
    ['a POST closed under it', 'POST', err('UND_ERR_SOCKET', 'other side closed'), false],
    ['a PUT on a reset connection', 'PUT', err('ECONNRESET'), false],
    ['a DELETE on a reset connection', 'DELETE', err('ECONNRESET'), false],
    // Not a connection that was open and broke: a new one would fare no better at once.
    ['a GET refused', 'GET', err('ECONNREFUSED'), false],
    ['a GET that timed out', 'GET', err('UND_ERR_HEADERS_TIMEOUT'), false],
    ['a GET to an unknown name', 'GET', err('ENOTFOUND'), false],
    ['a GET whose certificate was rejected', 'GET', err('UND_ERR_SOCKET', 'x', err('UNABLE_TO_VERIFY_LEAF_SIGNATURE')), false],
    ['a GET the caller cancelled', 'GET', Object.assign(new Error('aborted'), { name: 'AbortError', code: 'UND_ERR_ABORTED' }), false],
  ];
  it.each(cases)('%s', (_what, method, error, expected) => {
    expect(repeatOnFreshConnection(method, error)).toBe(expected);
  });
});

describe('ServerChoice', () => {
  it.each([
    [0, 0],
    [0.34, 1],
    [0.5, 1],
    [0.67, 2],
    [0.999_999, 2],
  ])('draws the first URL from the random draw (%s → %s), so a fleet spreads', (draw, first) => {
    const choice = new ServerChoice(URLS, { random: () => draw });
    expect(choice.preferred).toBe(first);
    expect(choice.order(0)[0]).toBe(first);
  });

  it('spreads a fleet evenly over the URLs', () => {
    let seed = 1;
    const random = (): number => {
      seed = (seed * 48_271) % 2_147_483_647;
      return seed / 2_147_483_647;
    };
    const firsts = [0, 0, 0];
    for (let node = 0; node < 3_000; node++) {
      const i = new ServerChoice(URLS, { random }).preferred;
      firsts[i] = (firsts[i] ?? 0) + 1;
    }
    for (const n of firsts) expect(n).toBeGreaterThan(800);
  });

  type Step = { ok: number } | { fail: number; at: number } | { order: number[]; at: number };
  const tables: Array<[string, Step[]]> = [
    ['asks each URL once, round the list from the preferred one', [{ order: [0, 1, 2], at: 0 }]],
    [
      'a failed URL rests: the next is asked first, the failed one last',
      [
        { fail: 0, at: 0 },
        { order: [1, 2, 0], at: 1 },
      ],
    ],
    ['remembers the URL that worked', [{ fail: 0, at: 0 }, { ok: 1 }, { order: [1, 2, 0], at: 1 }]],
    ['a rested URL is not asked first again while another works', [{ fail: 0, at: 0 }, { ok: 1 }, { order: [1, 2, 0], at: 10 * SERVER_REST_CAP_MS }]],
    [
      'the preferred URL comes back first once rested',
      [
        { fail: 0, at: 0 },
        { order: [0, 1, 2], at: SERVER_REST_BASE_MS },
      ],
    ],
    [
      'every URL resting: all are still asked, soonest rested first',
      [
        { fail: 0, at: 0 },
        { fail: 0, at: 1 }, // 0 rests longer now (second failure)
        { fail: 1, at: 2 },
        { fail: 2, at: 3 },
        { order: [1, 2, 0], at: 4 },
      ],
    ],
    ['success forgets the failures', [{ fail: 1, at: 0 }, { fail: 1, at: 0 }, { ok: 1 }, { order: [1, 2, 0], at: 0 }]],
  ];
  it.each(tables)('%s', (_what, steps) => {
    // random 0 → URL 0 first; rests at their minimum (half the ceiling).
    const choice = new ServerChoice(URLS, { random: () => 0 });
    for (const step of steps) {
      if ('ok' in step) choice.succeeded(step.ok);
      else if ('fail' in step) choice.failed(step.fail, step.at);
      else expect(choice.order(step.at)).toEqual(step.order);
    }
  });

  it('rests a failing URL with the fleet backoff: doubling, half jittered, capped at a minute', () => {
    for (const [draw, failures, min, max] of [
      [0, 1, SERVER_REST_BASE_MS / 2, SERVER_REST_BASE_MS / 2],
      [0.999, 1, SERVER_REST_BASE_MS / 2, SERVER_REST_BASE_MS],
      [0, 3, 2 * SERVER_REST_BASE_MS, 2 * SERVER_REST_BASE_MS],
      [0.999, 30, SERVER_REST_CAP_MS / 2, SERVER_REST_CAP_MS],
    ] as const) {
      const choice = new ServerChoice(URLS, { random: () => draw });
      for (let k = 0; k < failures; k++) choice.failed(1, 1_000);
      const rest = choice.restingUntil(1) - 1_000;
      expect(rest).toBeGreaterThanOrEqual(min);
      expect(rest).toBeLessThanOrEqual(max);
    }
  });

  it('refuses an empty list', () => {
    expect(() => new ServerChoice([], { random: () => 0 })).toThrow(/at least one URL/);
  });

  it('one URL is always asked, resting or not', () => {
    const choice = new ServerChoice(['https://a:8443'], { random: () => 0.9 });
    choice.failed(0, 0);
    expect(choice.order(1)).toEqual([0]);
  });
});
