/**
 * Times every request the agents of this process make, from the client's side, through the
 * HTTP clients' diagnostics channels (undici's, and `node:http`'s): from the request's
 * creation to its response headers, which includes waiting for a connection and the TLS
 * handshake — what the agent waits. Long polls (`wait=N` with N > 0) are left out: their
 * wait is the server keeping the answer back on purpose. For `npm run bench:fleet`.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';

/** Requests timed: when each ended (ms since the epoch), how long it took (ms), and how many failed without an answer. */
export interface RequestSamples {
  at: Float64Array;
  ms: Float64Array;
  /** Requests that ended with an error (no response headers). */
  failed: number;
  /** Responses with a status of 429 or 5xx. */
  refused: number;
}

const LONG_POLL = /[?&]wait=[1-9]/;

export class RequestTimer {
  private readonly started = new WeakMap<object, number>();
  private at: number[] = [];
  private ms: number[] = [];
  private failed = 0;
  private refused = 0;
  private readonly subscriptions: Array<[string, (message: unknown) => void]> = [];

  start(): void {
    const begin = (request: object, path: string | undefined): void => {
      if (path !== undefined && LONG_POLL.test(path)) return;
      this.started.set(request, performance.now());
    };
    const end = (request: object, status: number | undefined): void => {
      const t0 = this.started.get(request);
      if (t0 === undefined) return;
      this.started.delete(request);
      if (status === undefined) {
        this.failed++;
        return;
      }
      if (status === 429 || status >= 500) this.refused++;
      this.at.push(Date.now());
      this.ms.push(performance.now() - t0);
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
    return { at: Float64Array.from(this.at), ms: Float64Array.from(this.ms), failed: this.failed, refused: this.refused };
  }
}
