/**
 * The agent's local `/metrics` endpoint: plain node:http, one route, so a site's own
 * Prometheus can scrape the node. It listens on loopback by default because the numbers
 * describe the node's workloads and hardware to anyone who can reach the port; listening
 * elsewhere is a deliberate choice (`allowRemote: true`), typically behind the site's own
 * firewall.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { EXPOSITION_CONTENT_TYPE, renderExposition } from './exposition.js';
import type { MetricsRegistry } from './registry.js';

/** Default listen address of the local endpoint (the port OpenTelemetry's Prometheus exporter uses). */
export const DEFAULT_METRICS_LISTEN = '127.0.0.1:9464';

export interface MetricsEndpointOptions {
  /** `host:port` (`[::1]:9464` for IPv6); port 0 picks a free one. Default {@link DEFAULT_METRICS_LISTEN}. */
  listen?: string;
  registry: MetricsRegistry;
  /** Runs before each scrape, e.g. to sample the node's readings so they are fresh. */
  beforeScrape?: () => Promise<void>;
  /** Allow a non-loopback listen address. */
  allowRemote?: boolean;
}

export interface MetricsEndpoint {
  /** Where to scrape, e.g. `http://127.0.0.1:9464/metrics`. */
  url: string;
  close(): Promise<void>;
}

/**
 * The endpoint's address could not be bound (taken by another program, or not on this
 * machine): a local conflict that may clear, unlike a malformed or non-loopback address.
 */
export class MetricsBindError extends Error {
  constructor(
    readonly listen: string,
    /** The socket error code, `EADDRINUSE`, `EADDRNOTAVAIL`, `EACCES`. */
    readonly code: string | undefined,
    detail: string,
  ) {
    super(`cannot serve metrics on ${listen}: ${detail}`);
    this.name = 'MetricsBindError';
  }
}

/**
 * Starts serving `GET /metrics`. Other paths get 404, other methods on `/metrics` 405.
 *
 * @throws Error when `listen` is malformed or names a non-loopback address without
 * `allowRemote`; {@link MetricsBindError} when it cannot be bound (port in use).
 */
export async function startMetricsEndpoint(opts: MetricsEndpointOptions): Promise<MetricsEndpoint> {
  const listen = opts.listen ?? DEFAULT_METRICS_LISTEN;
  const { host, port } = parseListen(listen);
  if (!isLoopback(host) && opts.allowRemote !== true)
    throw new Error(
      `metrics listen address ${listen} is not a loopback address: /metrics would be reachable from the network. ` +
        'Use 127.0.0.1 or [::1], or allow it explicitly (allowRemote: true) if the site firewall protects the port.',
    );

  const server = createServer((req, res) => {
    void handle(req, res, opts);
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new MetricsBindError(listen, err.code, err.code === 'EADDRINUSE' ? 'the port is already in use; pick another port' : err.message));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address();
  const boundPort = typeof address === 'object' && address !== null ? address.port : port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${boundPort}/metrics`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // A scraper may hold a keep-alive connection open; don't wait for it to time out.
        server.closeAllConnections();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, opts: MetricsEndpointOptions): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (path !== '/metrics') {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: metrics are served at /metrics\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('only GET is supported on /metrics\n');
    return;
  }
  try {
    await opts.beforeScrape?.();
  } catch (err) {
    // Serving the previous readings as if fresh would hide the failure; a 500 makes the scrape
    // fail visibly (`up == 0`) with the reason in the body.
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`refreshing metrics failed: ${(err as Error).message}\n`);
    return;
  }
  const body = renderExposition(opts.registry);
  res.writeHead(200, { 'content-type': EXPOSITION_CONTENT_TYPE, 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** Splits `host:port` / `[v6]:port`; the host may be a name (`localhost`). */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(listen.trim());
  const port = m?.[3] === undefined ? Number.NaN : Number(m[3]);
  const host = m?.[1] ?? m?.[2];
  if (host === undefined || !(port >= 0 && port <= 65535))
    throw new Error(`metrics listen address "${listen}" must be host:port, e.g. 127.0.0.1:9464 or [::1]:9464 (port 0 picks a free port)`);
  return { host, port };
}

/** 127.0.0.0/8, ::1 (also as an IPv4-mapped address) and `localhost`. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1' || h.startsWith('::ffff:127.');
  return false;
}
