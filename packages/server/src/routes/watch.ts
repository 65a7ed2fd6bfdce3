/**
 * The dashboard's live feed, `GET /v1/watch` (server-sent events over the shared poller in
 * watch/fleet-watch.ts), and two small reads the dashboard needs that the rest of the API
 * lacks: `GET /v1/whoami` (which buttons to show) and `GET /v1/telemetry/latest?name=` (one
 * metric's latest value for every node, telemetry/latest-values.ts).
 */
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import type { Api } from '../http/app.js';
import { authenticateOperator } from '../http/auth.js';
import { parseWith } from '../http/errors.js';
import type { Store } from '../store/index.js';
import { FleetLatestValues } from '../telemetry/latest-values.js';
import { FleetWatch, WATCH_POLL_MS, type WatchEventName } from '../watch/fleet-watch.js';

/** A comment line this often keeps proxies from closing an idle stream and finds dead clients. */
export const WATCH_HEARTBEAT_MS = 15_000;
/** A client that has not read this much of its stream is too slow: it is cut off and relists on reconnect. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/** One SSE frame: `event:` and a single `data:` line (JSON has no raw newlines). */
function frame(event: WatchEventName, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Whether the token behind a stream still exists (a deleted token ends its streams). */
async function tokenStillValid(store: Store, tokenId: string): Promise<boolean> {
  return (await store.getApiToken(tokenId)) !== undefined;
}

const LatestQuery = z.object({ name: z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'must be a Prometheus metric name') });

/** `GET /v1/watch`, `GET /v1/whoami`, `GET /v1/telemetry/latest`. */
export function watchRoutes(app: Api, ctx: ServerContext): void {
  const watch = new FleetWatch(ctx);
  const open = new Set<() => void>();
  const latest = new FleetLatestValues(ctx);

  app.get('/v1/whoami', async (request) => {
    const who = await authenticateOperator(ctx.store, request, 'viewer');
    return { role: who.role, tokenId: who.tokenId };
  });

  app.get('/v1/telemetry/latest', async (request) => {
    await authenticateOperator(ctx.store, request, 'viewer');
    return latest.read(parseWith(LatestQuery, request.query, 'query').name);
  });

  app.get('/v1/watch', async (request, reply) => {
    // The token comes in the Authorization header only (the dashboard reads the stream with
    // fetch), so it never lands in a URL, a history entry or an access log.
    const who = await authenticateOperator(ctx.store, request, 'viewer');
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
      tokenStillValid(ctx.store, who.tokenId).then(
        (valid) => (valid ? write(': heartbeat\n\n') : close()),
        () => write(': heartbeat\n\n'),
      );
    }, WATCH_HEARTBEAT_MS);
    const close = (): void => {
      if (closed) return;
      closed = true;
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
      unsubscribe = await watch.subscribe({ send: (m) => write(frame(m.event, m.data)) });
    } catch (err) {
      request.log.warn(`watch: cannot read the store: ${(err as Error).message}`);
      close();
      return;
    }
    if (closed) {
      unsubscribe();
      return;
    }
    // `retry` tells EventSource-style clients how long to wait before reconnecting.
    write(`retry: 2000\n${frame('hello', { pollMs: WATCH_POLL_MS, heartbeatMs: WATCH_HEARTBEAT_MS, role: who.role })}`);
  });

  // Open streams would keep `close()` waiting for their sockets: end them first.
  app.addHook('preClose', async () => {
    for (const close of [...open]) close();
    watch.stop();
  });
}
