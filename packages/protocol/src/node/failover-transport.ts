/**
 * A transport over several URLs of one control plane (replicas, issue 18): each request is
 * sent to the URL the {@link ServerChoice} puts first and, when that one cannot answer (no
 * connection, a broken handshake, a timeout, 502/503/504), to the next, each at most once.
 * Every URL has its own pooled connections with the same credentials: the replicas share one
 * CA, so the node's certificate is valid on all of them and nothing is enrolled again.
 *
 * One name that resolves to several addresses is one URL here: Node's connect tries each of
 * its addresses in turn when one refuses or times out (`autoSelectFamily`, on by default in
 * Node 20), but an address that connects and answers 503 is not skipped; give replicas
 * their own URLs for that.
 *
 * A safe request (GET, HEAD) whose pooled connection was closed under it is sent once more to
 * the same URL before anything else (a replica behind a load balancer died; a new
 * connection reaches a live one).
 *
 * What is never done: trying another URL after a certificate rejection (the error reaches the
 * caller, the URL rests), or sending a streamed body twice (a stream cannot be replayed; the
 * failure is recorded so the next request goes elsewhere).
 */
import type { Readable } from 'node:stream';
import type { TransportRequest, TransportResponse } from '../api/client-core.js';
import { failoverReason, repeatOnFreshConnection, ServerChoice } from '../api/server-choice.js';
import { type UndiciTransport, type UndiciTransportOptions, undiciTransport } from './undici-transport.js';

/** How a failover transport connects: the undici options without `server`, and the URLs. */
export interface FailoverTransportOptions extends Omit<UndiciTransportOptions, 'server'> {
  /** Base URLs, normalised, at least one. */
  servers: readonly string[];
  /** Uniform [0, 1): the first choice and the rests' jitter (Math.random when omitted). */
  random?: () => number;
  /** The clock of the rests (Date.now when omitted). */
  now?: () => number;
}

/** Whether a request's body can be sent again (text and bytes can; a stream cannot). */
function replayable(body: unknown): boolean {
  return body === undefined || typeof body === 'string' || body instanceof Uint8Array;
}

/**
 * Sends `req`, and a safe request whose connection broke under it once more (a fresh
 * connection: the broken one has left the pool). See {@link repeatOnFreshConnection}.
 */
async function sendWithFreshRetry(transport: UndiciTransport, req: TransportRequest): Promise<TransportResponse<Readable>> {
  try {
    return await transport.send(req);
  } catch (error) {
    if (req.signal?.aborted === true || !repeatOnFreshConnection(req.method, error)) throw error;
    return await transport.send(req);
  }
}

/** Makes the transport; with one URL it behaves as that URL's undici transport. */
export function failoverTransport(opts: FailoverTransportOptions): UndiciTransport & { readonly choice: ServerChoice } {
  const { servers, random = Math.random, now = Date.now, ...connection } = opts;
  const choice = new ServerChoice(servers, { random });
  const transports = new Map<number, UndiciTransport>();
  const transportOf = (i: number): UndiciTransport => {
    let t = transports.get(i);
    if (t === undefined) {
      t = undiciTransport({ ...connection, server: servers[i] as string });
      transports.set(i, t);
    }
    return t;
  };
  return {
    choice,
    async send(req: TransportRequest): Promise<TransportResponse<Readable>> {
      const order = replayable(req.body) ? choice.order(now()) : choice.order(now()).slice(0, 1);
      for (const [k, i] of order.entries()) {
        const last = k === order.length - 1 || req.signal?.aborted === true;
        let res: TransportResponse<Readable>;
        try {
          res = await sendWithFreshRetry(transportOf(i), req);
        } catch (error) {
          const reason = failoverReason({ error });
          // A certificate rejection is not "unreachable": the URL rests, the caller sees it.
          if (req.signal?.aborted !== true) choice.failed(i, now());
          if (reason === undefined || last) throw error;
          continue;
        }
        if (failoverReason({ status: res.status }) !== undefined) {
          choice.failed(i, now());
          // The last URL's answer is the caller's (its Retry-After is honoured there).
          if (last) return res;
          await res.discard().catch(() => {});
          continue;
        }
        choice.succeeded(i);
        return res;
      }
      throw new Error('unreachable: a server choice always has a URL'); // order() is never empty
    },
    async close() {
      await Promise.allSettled([...transports.values()].map((t) => t.close()));
    },
  };
}
