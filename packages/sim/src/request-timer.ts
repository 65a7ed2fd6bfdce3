/**
 * Times every request the agents of this process make, from the client's side, through the
 * HTTP clients' diagnostics channels (undici's, and `node:http`'s): from the request's
 * creation to its response headers, which includes waiting for a connection and the TLS
 * handshake — what the agent waits. Long polls (`wait=N` with N > 0) are left out: their
 * wait is the server keeping the answer back on purpose. For `npm run bench:fleet`.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';

/** What a timed request was for, by its path: an index into `kind` of the samples. */
export const REQUEST_KINDS = ['heartbeat', 'desired', 'telemetry', 'logs', 'artifact', 'other'] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

/** The kind of an agent request, from its path (query and all). */
export function requestKindOf(path: string | undefined): RequestKind {
  const route = (path ?? '').split('?')[0] ?? '';
  if (route === '/v1/agent/status') return 'heartbeat';
  if (route === '/v1/agent/desired') return 'desired';
  if (route.startsWith('/v1/agent/telemetry')) return 'telemetry';
  if (route.startsWith('/v1/agent/logs')) return 'logs';
  if (route.startsWith('/v1/artifacts/')) return 'artifact';
  return 'other';
}

/** Requests timed: when each ended (ms since the epoch), how long it took (ms), and how many failed without an answer. */
export interface RequestSamples {
  at: Float64Array;
  ms: Float64Array;
  /** Each request's kind, an index into REQUEST_KINDS (so a slow tail can be told apart). */
  kind: Uint8Array;
  /** Requests that ended with an error (no response headers). */
  failed: number;
  /** Responses with a status of 429 or 5xx. */
  refused: number;
}

const LONG_POLL = /[?&]wait=[1-9]/;

export class RequestTimer {
  private readonly started = new WeakMap<object, { t0: number; kind: number }>();
  private at: number[] = [];
  private ms: number[] = [];
  private kind: number[] = [];
  private failed = 0;
  private refused = 0;
  private readonly subscriptions: Array<[string, (message: unknown) => void]> = [];

  start(): void {
    const begin = (request: object, path: string | undefined): void => {
      if (path !== undefined && LONG_POLL.test(path)) return;
      this.started.set(request, { t0: performance.now(), kind: REQUEST_KINDS.indexOf(requestKindOf(path)) });
    };
    const end = (request: object, status: number | undefined): void => {
      const started = this.started.get(request);
      if (started === undefined) return;
      this.started.delete(request);
      if (status === undefined) {
        this.failed++;
        return;
      }
      if (status === 429 || status >= 500) this.refused++;
      this.at.push(Date.now());
      this.ms.push(performance.now() - started.t0);
      this.kind.push(started.kind);
    };
    this.on('undici:request:create', (m) => {
      const { request } = m as { request: { path?: string } };
      begin(request, request.path);
    });
    this.on('undici:request:headers', (m) => {
      const { request, response } = m as { request: object; response: { statusCode: number } };
      end(request, response.statusCode);
    });
    this.on('undici:request:error', (m) => end((m as { request: object }).request, undefined));
    this.on('http.client.request.start', (m) => {
      const { request } = m as { request: { path?: string } };
      begin(request, request.path);
    });
    this.on('http.client.response.finish', (m) => {
      const { request, response } = m as { request: object; response: { statusCode?: number } };
      end(request, response.statusCode ?? 0);
    });
  }

  private on(channel: string, fn: (message: unknown) => void): void {
    subscribe(channel, fn);
    this.subscriptions.push([channel, fn]);
  }

  stop(): void {
    for (const [channel, fn] of this.subscriptions.splice(0)) unsubscribe(channel, fn);
  }

  samples(): RequestSamples {
    return { at: Float64Array.from(this.at), ms: Float64Array.from(this.ms), kind: Uint8Array.from(this.kind), failed: this.failed, refused: this.refused };
  }
}
