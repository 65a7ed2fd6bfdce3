/**
 * Keeps the dashboard connected to `GET /v1/watch`: reads the event stream with `fetch`
 * (the token goes in the Authorization header, never in the URL), parses it, and hands each
 * event on. A dropped or silent stream is reopened with a growing, jittered delay; each new
 * stream starts with `hello`, after which the caller lists again (list + watch), so nothing
 * missed while disconnected stays missing.
 */
import { backoffDelay, EdgefleetError, parseWatchEvent, sleep } from '@edgefleet/protocol';
import type { Api } from './api.js';
import { unreachable } from './api.js';
import { SseParser } from './sse.js';
import type { WatchEvent } from './types.js';

/** The server comments every 15 s; a stream silent for this long is taken as dead. */
const SILENCE_MS = 40_000;

export interface WatchHandlers {
  onEvent(event: WatchEvent): void;
  /** The stream broke; it reopens after `retryMs`. */
  onDisconnect(error: EdgefleetError, retryMs: number): void;
  /** The token was refused (401): the stream is not reopened. */
  onUnauthorized(error: EdgefleetError): void;
}

/**
 * Delay before reconnect attempt `attempt` (0-based): the fleet's backoff rule (full jitter)
 * with a ceiling of 1 s doubling to 15 s, so a server restart does not bring every open
 * dashboard back in the same second.
 */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  return backoffDelay(attempt, { baseMs: 1_000, capMs: 15_000, random });
}

/** Runs until `signal` aborts or the token is refused. */
export async function watchFleet(api: Api, handlers: WatchHandlers, signal: AbortSignal): Promise<void> {
  let attempt = 0;
  while (!signal.aborted) {
    const stream = new AbortController();
    const stop = () => stream.abort();
    signal.addEventListener('abort', stop, { once: true });
    let problem: EdgefleetError | undefined;
    let retryMs: number | undefined;
    let silenceTimer: ReturnType<typeof setTimeout> | undefined;
    let silent = false;
    const armSilence = () => {
      clearTimeout(silenceTimer);
      silenceTimer = setTimeout(() => {
        silent = true;
        stop();
      }, SILENCE_MS);
    };
    try {
      let res: Awaited<ReturnType<Api['watch']>>;
      try {
        res = await api.watch(stream.signal);
      } catch (err) {
        if (err instanceof EdgefleetError && err.status === 401) {
          handlers.onUnauthorized(err);
          return;
        }
        throw err;
      }
      if (res.body === null) throw unreachable(new Error('the live update stream has no body'));
      armSilence();
      const parser = new SseParser();
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        armSilence();
        const out = parser.push(value);
        if (out.retryMs !== undefined) retryMs = out.retryMs;
        for (const m of out.messages) {
          const event = watchEvent(m.event, m.data);
          if (event === undefined) continue;
          if (event.kind === 'hello') attempt = 0;
          handlers.onEvent(event);
        }
      }
      problem = unreachable(new Error('the live update stream ended'));
    } catch (err) {
      if (signal.aborted) return;
      if (silent) problem = unreachable(new Error(`no word from the server for ${SILENCE_MS / 1000} s`));
      else problem = err instanceof EdgefleetError ? err : unreachable(err);
    } finally {
      clearTimeout(silenceTimer);
      signal.removeEventListener('abort', stop);
    }
    const delay = Math.max(retryMs ?? 0, reconnectDelay(attempt++));
    handlers.onDisconnect(problem, delay);
    await sleep(delay, signal);
  }
}

/** One stream message as a typed event (see `parseWatchEvent`); undefined for an unknown event name. */
export function watchEvent(name: string, data: string): WatchEvent | undefined {
  return parseWatchEvent(name, JSON.parse(data));
}
