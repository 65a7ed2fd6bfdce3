/**
 * The client's transport over `fetch`, for the browser (the dashboard) and any runtime that
 * has it. Timeouts are the runtime's; an abort signal ends the request.
 */
import type { Transport, TransportRequest, TransportResponse } from './client-core.js';

/** Where a fetch transport sends its requests. */
export interface FetchTransportOptions {
  /** Base URL prepended to every path; empty (the default) means the page's own origin. */
  base?: string;
  /** The `fetch` to use; the global one by default (tests pass their own). */
  fetch?: typeof fetch;
}

/** A `Transport` whose answers' bodies are web `ReadableStream`s. */
export function fetchTransport(opts: FetchTransportOptions = {}): Transport<Response['body']> {
  const base = opts.base ?? '';
  return {
    async send(request: TransportRequest): Promise<TransportResponse<Response['body']>> {
      const doFetch = opts.fetch ?? globalThis.fetch;
      const res = await doFetch(`${base}${request.path}`, {
        method: request.method,
        headers: request.headers,
        ...(request.body === undefined ? {} : { body: request.body as BodyInit }),
        ...(request.signal === undefined ? {} : { signal: request.signal }),
      });
      const headers: Record<string, string> = {};
      res.headers.forEach((value, key) => {
        headers[key] = value;
      });
      return {
        status: res.status,
        headers,
        text: () => res.text(),
        discard: async () => {
          await res.body?.cancel();
        },
        stream: () => res.body,
      };
    },
  };
}
