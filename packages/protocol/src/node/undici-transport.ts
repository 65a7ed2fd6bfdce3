/**
 * The client's transport in Node: undici over one pooled `Agent` whose TLS context, session
 * reuse and connection release are those of `client-connection.ts`.
 */
import type { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import type { Transport, TransportRequest, TransportResponse } from '../api/client-core.js';
import { connectionReleased, resumingConnector, type TlsCredentials, tlsOptions } from './client-connection.js';

/** How an undici transport connects. */
export interface UndiciTransportOptions extends TlsCredentials {
  /** Base URL, `https://host:port`, already normalised. */
  server: string;
  /** Default headers and body timeout per request; default 30 s. */
  timeoutMs?: number;
  /**
   * How long an idle connection stays open (default 5 s). Agents keep theirs longer than
   * their upload interval: a TLS handshake costs more bytes than a whole upload.
   */
  keepAliveTimeoutMs?: number;
  /**
   * TCP keep-alive probes on idle connections (default on, undici's 60 s). Metered nodes
   * turn them off: a probe and its ACK every minute would cost more than their uploads.
   */
  tcpKeepAlive?: boolean;
}

/** A `Transport` over undici, with `close()` for its pooled connections. */
export interface UndiciTransport extends Transport<Readable> {
  close(): Promise<void>;
}

/** Makes the Node transport; one per set of credentials (a renewed certificate gets a new one). */
export function undiciTransport(opts: UndiciTransportOptions): UndiciTransport {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const dispatcher = new Agent({
    connect: resumingConnector({
      ...tlsOptions(opts),
      ...(opts.tcpKeepAlive === false ? { keepAlive: false } : {}),
    }),
    // Short by default (the CLI, operators' scripts); agents give theirs (session.ts). A
    // renewed certificate comes with a new client, so a long one never outlives it.
    keepAliveTimeout: opts.keepAliveTimeoutMs ?? 5_000,
    // The server's Keep-Alive hint (20 minutes, meant for metered nodes) must not override
    // the client's own choice: lan agents would otherwise hold idle connections for minutes.
    keepAliveMaxTimeout: opts.keepAliveTimeoutMs ?? 5_000,
  });
  return {
    async send(req: TransportRequest): Promise<TransportResponse<Readable>> {
      const res = await request(`${opts.server}${req.path}`, {
        method: req.method as 'GET',
        headers: req.headers,
        ...(req.body === undefined ? {} : { body: req.body as string | Uint8Array | Readable }),
        dispatcher,
        headersTimeout: req.headersTimeoutMs ?? timeoutMs,
        bodyTimeout: req.bodyTimeoutMs ?? timeoutMs,
        ...(req.signal === undefined ? {} : { signal: req.signal }),
      });
      return {
        status: res.statusCode,
        headers: res.headers,
        // The connection goes back to the pool a moment after the body is read: wait for
        // it, so the caller's next request reuses it (see client-connection.ts).
        async text() {
          const text = await res.body.text();
          await connectionReleased();
          return text;
        },
        async discard() {
          await res.body.dump();
          await connectionReleased();
        },
        stream: () => res.body,
      };
    },
    close: () => dispatcher.close(),
  };
}
