import { afterEach, describe, expect, it, vi } from 'vitest';
import { Api } from '../src/api.js';
import type { WatchEvent } from '../src/types.js';
import { reconnectDelay, watchFleet } from '../src/watch.js';

const stream = (text: string) =>
  new Response(
    new ReadableStream({
      start(c) {
        // Split mid-event, as the network may.
        const bytes = new TextEncoder().encode(text);
        c.enqueue(bytes.slice(0, 20));
        c.enqueue(bytes.slice(20));
        c.close();
      },
    }),
    { status: 200, headers: { 'content-type': 'text/event-stream' } },
  );

describe('watch stream client', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('sends the token in a header, hands on events, reopens a stream that ends, and stops when the token is refused', async () => {
    const calls: Array<{ url: string; auth: string | null }> = [];
    const answers = [
      () =>
        stream(
          'event: hello\ndata: {"pollMs":1500,"heartbeatMs":15000,"role":"viewer"}\n\n: heartbeat\n\nevent: nodes\ndata: {"upserted":[],"deleted":["n1"]}\n\n',
        ),
      () =>
        new Response(JSON.stringify({ error: { code: 'unauthenticated', message: 'the API token is unknown or was deleted', hint: 'pass a token' } }), {
          status: 401,
        }),
    ];
    vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
      calls.push({ url, auth: new Headers(init.headers).get('authorization') });
      return (answers.shift() as () => Response)();
    });
    const events: WatchEvent[] = [];
    const disconnects: string[] = [];
    let refused: string | undefined;
    await watchFleet(
      new Api('efa_abc_secret'),
      {
        onEvent: (e) => events.push(e),
        onDisconnect: (e) => disconnects.push(e.message),
        onUnauthorized: (e) => {
          refused = e.message;
        },
      },
      new AbortController().signal,
    );
    expect(events.map((e) => e.kind)).toEqual(['hello', 'nodes']);
    expect(events[1]).toEqual({ kind: 'nodes', data: { upserted: [], deleted: ['n1'] } });
    expect(disconnects).toEqual(['cannot reach the server: the live update stream ended']);
    expect(refused).toBe('the API token is unknown or was deleted');
    expect(calls).toEqual([
      { url: '/v1/watch', auth: 'Bearer efa_abc_secret' },
      { url: '/v1/watch', auth: 'Bearer efa_abc_secret' },
    ]);
  });

  it('waits longer after each failed attempt, up to 15 s, with jitter', () => {
    // Full jitter: a uniform draw up to 1 s · 2^attempt, at most 15 s.
    expect(reconnectDelay(0, () => 0.5)).toBe(500);
    expect(reconnectDelay(3, () => 0.5)).toBe(4_000);
    expect(reconnectDelay(10, () => 0.5)).toBe(7_500);
    expect(reconnectDelay(10, () => 0)).toBe(0);
    expect(reconnectDelay(10, () => 1 - Number.EPSILON)).toBeLessThan(15_000);
  });
});
