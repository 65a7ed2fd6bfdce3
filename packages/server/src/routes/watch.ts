/** The dashboard's live feed, `GET /v1/watch`: server-sent events over the shared poller in watch/fleet-watch.ts. */
import { errors } from '@edgefleet/protocol';
import type { ServerContext } from '../context.js';
import type { Api } from '../http/app.js';
import type { RouteHandlers } from '../http/routes.js';
import { apiTokenStillValid } from '../tokens/service.js';
import { FleetWatch, WATCH_POLL_MS, type WatchEventName } from '../watch/fleet-watch.js';
import { WatchScopeFilter } from '../watch/scope-filter.js';

/** A comment line this often keeps proxies from closing an idle stream and finds dead clients. */
export const WATCH_HEARTBEAT_MS = 15_000;
/** A client that has not read this much of its stream is too slow: it is cut off and relists on reconnect. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/**
 * Streams one API token may hold open at once: a few dashboards in tabs and on a wall
 * screen; a leaked or buggy client cannot hold sockets and buffers without bound.
 */
export const DEFAULT_WATCH_STREAMS_PER_TOKEN = 16;

/** One SSE frame: `event:` and a single `data:` line (JSON has no raw newlines). */
function frame(event: WatchEventName, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** `GET /v1/watch`; open streams end when the server closes. */
export function watchHandlers(app: Api, ctx: ServerContext): Pick<RouteHandlers, 'watch'> {
  const watch = new FleetWatch(ctx);
  const open = new Set<() => void>();
  const perToken = new Map<string, number>();
  const limit = ctx.watchStreamsPerToken ?? DEFAULT_WATCH_STREAMS_PER_TOKEN;

  // Open streams would keep `close()` waiting for their sockets: end them first.
  app.addHook('preClose', async () => {
    for (const close of [...open]) close();
    watch.stop();
  });

  // The token comes in the Authorization header only (the dashboard reads the stream with
  // fetch), so it never lands in a URL, a history entry or an access log.
  const stream: RouteHandlers['watch'] = async ({ caller: who, request, reply }) => {
    const held = perToken.get(who.tokenId) ?? 0;
    if (held >= limit) {
      request.log.warn({ tokenId: who.tokenId, streams: held }, 'watch: refused a stream over the per-token bound');
      throw errors.quotaExceeded(
        `this API token already holds ${held} live streams (GET /v1/watch), the most one token may hold`,
        'close dashboards you do not use (each tab holds one stream), or give each screen its own token',
      );
    }
    perToken.set(who.tokenId, held + 1);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
      // The socket goes with the stream: a kept-alive socket would hold the server's shutdown open.
      connection: 'close',
    });
    let closed = false;
    let unsubscribe: (() => void) | undefined;
    const heartbeat = setInterval(() => {
      apiTokenStillValid(ctx.store, who.tokenId, ctx.clock()).then(
        (valid) => (valid ? write(': heartbeat\n\n') : close()),
        () => write(': heartbeat\n\n'),
      );
    }, WATCH_HEARTBEAT_MS);
    const close = (): void => {
      if (closed) return;
      closed = true;
      const left = (perToken.get(who.tokenId) ?? 1) - 1;
      if (left > 0) perToken.set(who.tokenId, left);
      else perToken.delete(who.tokenId);
      clearInterval(heartbeat);
      unsubscribe?.();
      open.delete(close);
      res.end();
    };
    const write = (text: string): void => {
      if (closed) return;
      if (res.writableLength > MAX_BUFFERED_BYTES) {
        request.log.info('watch: client reads too slowly, closing its stream (it relists on reconnect)');
        close();
        return;
      }
      res.write(text);
    };
    open.add(close);
    request.raw.on('close', close);
    res.on('error', close);
    try {
      // Each stream sees what its token's list routes would show it (role, sites).
      const scope = await WatchScopeFilter.create(ctx, who);
      unsubscribe = await watch.subscribe({
        send: (m) => {
          const visible = scope.filter(m);
          if (visible !== undefined) write(frame(visible.event, visible.data));
        },
      });
    } catch (err) {
      request.log.warn(`watch: cannot read the store: ${(err as Error).message}`);
      close();
      return reply;
    }
    if (closed) {
      unsubscribe();
      return reply;
    }
    // `retry` tells EventSource-style clients how long to wait before reconnecting.
    write(`retry: 2000\n${frame('hello', { pollMs: WATCH_POLL_MS, heartbeatMs: WATCH_HEARTBEAT_MS, role: who.role })}`);
    return reply;
  };

  return { watch: stream };
}
